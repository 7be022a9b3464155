"""The 3+3 rule-based design.

Cohorts of three at the current dose. With 0/3 DLTs escalate; with 1/3 treat three more at the
same dose and escalate if at most 1/6; with at least 2/3 or 2/6 the dose exceeds the MTD and the
trial de-escalates. In the default variant a dose can be declared the MTD only after six patients
were treated at it with at most one DLT: on de-escalation to a dose with only three patients, it is
expanded to six first, and the top dose is expanded to six before being declared the MTD. If the
lowest dose exceeds the MTD, no dose is recommended.

The step function :func:`step_3plus3` is shared by the exact enumeration
(:mod:`allocart.design.exact`), the next-dose advice and the simulator, so the three cannot drift
apart.

References
----------
Storer B.E. (1989). Design and analysis of phase I clinical trials. *Biometrics* 45:925-937.
doi:10.2307/2531693

Lin Y. and Shih W.J. (2001). Statistical properties of the traditional algorithm-based designs for
phase I cancer clinical trials. *Biostatistics* 2:203-215. doi:10.1093/biostatistics/2.2.203
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numba
import numpy as np

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import (
    AbstractDesign,
    Action,
    DoseData,
    Recommendation,
    check_probability,
    kernel_outputs,
    treat_cohort,
)
from allocart.errors import DesignError

__all__ = ["ThreePlusThree", "step_3plus3"]

#: Return codes of :func:`step_3plus3`.
CONTINUE, MTD_FOUND, NO_DOSE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class ThreePlusThree(AbstractDesign):
    """The 3+3 design.

    Parameters
    ----------
    expand_mtd : bool
        Require six patients at a dose before declaring it the MTD (default ``True``): on
        de-escalation to a dose with three patients, and at the top dose, treat three more first.
        With ``False`` the highest dose cleared by 0/3 or <=1/6 below the first overly toxic dose is
        the MTD, and the top dose is the MTD after 0/3.
    target : float
        Used only to report overdosing (doses with a true DLT probability above it); the 3+3 rules
        do not depend on it. Default 1/3.

    Notes
    -----
    The cohort size is three by definition and the trial size is bounded by six per dose, so the
    design takes no cohort-size or number-of-cohorts option.
    """

    expand_mtd: bool = True
    target: float = 1.0 / 3.0

    name = "3+3"
    cohort_size = 3

    def __post_init__(self) -> None:
        if not isinstance(self.expand_mtd, bool):
            raise DesignError(f"`expand_mtd` must be true or false, got {self.expand_mtd!r}.")
        self._check_fields(check_probability, ("target",), open_interval=True)

    def max_patients(self, n_doses: int) -> int:
        return 6 * n_doses

    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        """Advice from the completed cohorts (pending patients are not allowed)."""
        d = self._check_current(data, current_dose)
        if any(data.pending):
            raise DesignError("The 3+3 decides on complete cohorts; `pending` must be all zero.")
        n = np.asarray(data.treated, dtype=np.int64)
        y = np.asarray(data.dlts, dtype=np.int64)
        for j, nj in enumerate(n):
            if nj not in (0, 3, 6):
                raise DesignError(
                    f"The 3+3 treats cohorts of 3: `treated` at dose {j + 1} is {nj}, expected 0, 3 or 6."
                )
        toxic = (y >= 2) & (n > 0)
        toxic[d] = False
        # Once a dose is overly toxic every higher dose is closed.
        closed = np.zeros(n.size, dtype=np.bool_)
        hits = np.nonzero(toxic)[0]
        if hits.size:
            closed[hits[0] :] = True
        nxt, status = step_3plus3(int(y[d]), int(n[d]), d, n.size, n, closed, self.expand_mtd)
        elim = tuple(int(j) for j in np.nonzero(closed)[0])
        if status == NO_DOSE:
            return Recommendation(
                Action.STOP, None, elim, "The lowest dose exceeds the MTD: no dose is recommended."
            )
        if status == MTD_FOUND:
            return Recommendation(Action.STOP, nxt, elim, f"Dose {nxt + 1} is declared the MTD.")
        if nxt > d:
            return Recommendation(Action.ESCALATE, nxt, elim, f"{y[d]}/{n[d]} DLTs: escalate.")
        if nxt < d:
            return Recommendation(
                Action.DEESCALATE,
                nxt,
                elim,
                f"Dose {d + 1} exceeds the MTD; expand dose {nxt + 1} to 6.",
            )
        return Recommendation(
            Action.STAY, nxt, elim, f"{y[d]}/{n[d]} DLTs: treat 3 more at this dose."
        )


@numba.njit(cache=True)
def step_3plus3(
    y_d: int, n_d: int, d: int, k: int, n: np.ndarray, closed: np.ndarray, expand: bool
) -> tuple[int, int]:  # pragma: no cover - jitted; covered through exact and simulated results
    """One 3+3 decision after a cohort at dose ``d``.

    ``closed[j]`` marks doses known to exceed the MTD and is updated in place. Returns
    ``(dose, status)``: with status CONTINUE the next cohort goes to ``dose``; with MTD_FOUND
    ``dose`` is the MTD; with NO_DOSE nothing is recommended.
    """
    if y_d >= 2:
        for j in range(d, k):
            closed[j] = True
        # Walk down: the first dose below is expanded to 6 unless it already has 6.
        if d == 0:
            return -1, 2
        b = d - 1
        if n[b] >= 6 or not expand:
            return b, 1
        return b, 0
    if n_d == 3 and y_d == 1:
        return d, 0
    # The dose is cleared (0/3, or <=1/6).
    above_closed = d == k - 1 or closed[d + 1]
    if not above_closed:
        return d + 1, 0
    if n_d >= 6 or not expand:
        return d, 1
    return d, 0


@numba.njit(cache=True)
def simulate_3plus3_kernel(
    dlt: np.ndarray, expand: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """3+3 trials: selected dose, patients and DLTs per dose, and each patient's dose (-1: none)."""
    n_trials, n_pat, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    dose = np.full((n_trials, n_pat), -1, dtype=np.int8)
    closed = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        closed[:] = False
        d = 0
        p = 0
        while True:
            dose[t, p : p + 3] = d
            p = treat_cohort(dlt, t, p, d, 3, N, Y)
            nxt, status = step_3plus3(Y[t, d], N[t, d], d, k, N[t], closed, expand)
            if status == 1:
                sel[t] = nxt
                break
            if status == 2:
                sel[t] = -1
                break
            d = nxt
    return sel, N, Y, dose


def _simulate_block(
    self: ThreePlusThree, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, None]:
    sel, N, Y, _ = simulate_3plus3_kernel(po.dlt, self.expand_mtd)
    return sel, N, Y, None


ThreePlusThree.simulate_block = _simulate_block  # type: ignore[attr-defined]
