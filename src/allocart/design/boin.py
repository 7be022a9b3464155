"""Bayesian optimal interval (BOIN) design.

The rules and defaults follow the reference R package ``BOIN`` (functions ``get.boundary``,
``get.oc`` and ``select.mtd``):

* escalate when the observed DLT rate at the current dose is ``<= lambda_e``, de-escalate when it
  is ``>= lambda_d``, otherwise stay, with

  .. math::

     \\lambda_e = \\frac{\\log\\frac{1-\\phi_1}{1-\\phi}}{\\log\\frac{\\phi(1-\\phi_1)}{\\phi_1(1-\\phi)}},
     \\qquad
     \\lambda_d = \\frac{\\log\\frac{1-\\phi}{1-\\phi_2}}{\\log\\frac{\\phi_2(1-\\phi)}{\\phi(1-\\phi_2)}},

  and defaults :math:`\\phi_1 = 0.6\\phi`, :math:`\\phi_2 = 1.4\\phi`;
* in counts: escalate if ``y <= floor(lambda_e * n)``, de-escalate if ``y >= ceil(lambda_d * n)``
  (capped at the elimination boundary);
* eliminate the current dose and all higher ones when
  :math:`\\Pr(p > \\phi \\mid y, n) > 0.95` under a Beta(1, 1) prior, once ``n >= 3``; the trial
  stops without selection if the lowest dose is eliminated;
* stop when ``n_earlystop`` patients have been treated at the current dose and the decision is to
  stay (including "escalate" at the highest admissible dose and "de-escalate" at the lowest);
* select the MTD by isotonic regression (:func:`allocart.design.isotonic.select_mtd`).

References
----------
Liu S. and Yuan Y. (2015). Bayesian optimal interval designs for phase I clinical trials.
*JRSS-C* 64:507-523. doi:10.1111/rssc.12089

Yuan Y., Hess K.R., Hilsenbeck S.G. and Gilbert M.R. (2016). Bayesian optimal interval design: a
simple and well-performing design for phase I oncology trials. *Clin Cancer Res* 22:4291-4301.
doi:10.1158/1078-0432.CCR-16-0592
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numba
import numpy as np
from numpy.typing import NDArray
from scipy import stats

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import (
    AbstractDesign,
    Action,
    CohortPlan,
    DoseData,
    Recommendation,
    check_int,
    check_probability,
    cohort_plan,
    kernel_outputs,
    treat_cohort,
)
from allocart.design.isotonic import _select_mtd, select_mtd
from allocart.errors import DesignError

__all__ = ["BOIN", "boin_lambdas", "elimination_boundary"]

#: Tolerance in the comparisons ``y <= lambda_e * n``: keeps a rate sitting exactly on a boundary
#: (possible only through rounding) on the side the closed-form rule puts it.
_EPS = 1e-9


def boin_lambdas(target: float, p_saf: float, p_tox: float) -> tuple[float, float]:
    """Escalation and de-escalation boundaries ``(lambda_e, lambda_d)`` of Liu & Yuan (2015)."""
    le = math.log((1 - p_saf) / (1 - target)) / math.log(
        target * (1 - p_saf) / (p_saf * (1 - target))
    )
    ld = math.log((1 - target) / (1 - p_tox)) / math.log(
        p_tox * (1 - target) / (target * (1 - p_tox))
    )
    return le, ld


def elimination_boundary(
    target: float, n_max: int, cutoff: float = 0.95, min_n: int = 3
) -> NDArray[np.int64]:
    """Smallest DLT count that eliminates a dose, for each number treated ``0..n_max``.

    A dose with ``y`` DLTs out of ``n`` is eliminated when
    :math:`\\Pr(p > \\text{target} \\mid y, n) > \\text{cutoff}` under a Beta(1, 1) prior, i.e.
    ``1 - F_Beta(target; y + 1, n - y + 1) > cutoff``. Entries are -1 where no count eliminates
    (and for ``n < min_n``).
    """
    out = np.full(n_max + 1, -1, dtype=np.int64)
    for n in range(max(min_n, 1), n_max + 1):
        y = np.arange(1, n + 1)
        hit = np.nonzero(stats.beta.sf(target, y + 1, n - y + 1) > cutoff)[0]
        if hit.size:
            out[n] = int(y[hit[0]])
    return out


@dataclasses.dataclass(frozen=True)
class BOIN(AbstractDesign):
    """BOIN design for the maximum tolerated dose.

    Parameters
    ----------
    target : float
        Target DLT probability :math:`\\phi`, in (0, 1).
    cohort_size : int
        Patients per cohort (default 3).
    n_cohorts : int
        Maximum number of cohorts (default 10).
    n_earlystop : int
        Stop when this many patients were treated at the current dose and the decision is to stay
        (default 100, which in practice disables the rule, as in the R package).
    p_saf, p_tox : float, optional
        :math:`\\phi_1` and :math:`\\phi_2`; default ``0.6 * target`` and ``1.4 * target``.
    cutoff_eli : float
        Posterior probability above which a dose is eliminated (default 0.95).
    extrasafe : bool
        Stop the trial when :math:`\\Pr(p_1 > \\phi) > \\text{cutoff\\_eli} - \\text{offset}` at the
        lowest dose (default ``False``).
    offset : float
        See ``extrasafe`` (default 0.05).
    start_dose : int
        0-based starting dose (default 0).

    Raises
    ------
    DesignError
        For a target outside (0, 1), ``p_saf``/``p_tox`` on the wrong side of the target,
        non-positive cohort size or number of cohorts, or a cutoff outside (0, 1).

    Examples
    --------
    >>> d = BOIN(target=0.25)
    >>> [round(x, 3) for x in (d.lambda_e, d.lambda_d)]
    [0.197, 0.298]
    """

    target: float
    cohort_size: int = 3
    n_cohorts: int = 10
    n_earlystop: int = 100
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    start_dose: int = 0

    name = "boin"

    def __post_init__(self) -> None:
        t = check_probability("target", self.target, open_interval=True)
        object.__setattr__(self, "target", t)
        ps = (
            0.6 * t
            if self.p_saf is None
            else check_probability("p_saf", self.p_saf, open_interval=True)
        )
        pt = (
            1.4 * t
            if self.p_tox is None
            else check_probability("p_tox", self.p_tox, open_interval=True)
        )
        if pt >= 1.0:
            raise DesignError(
                f"`p_tox` (default 1.4 * target) must be below 1, got {pt!r}; lower `target`."
            )
        if not ps < t:
            raise DesignError(f"`p_saf` must be below `target` ({t}), got {ps!r}.")
        if not pt > t:
            raise DesignError(f"`p_tox` must be above `target` ({t}), got {pt!r}.")
        object.__setattr__(self, "p_saf", ps)
        object.__setattr__(self, "p_tox", pt)
        self._check_fields(check_int, ("cohort_size", "n_cohorts", "n_earlystop"), minimum=1)
        self._check_fields(check_int, ("start_dose",), minimum=0)
        self._check_fields(check_probability, ("cutoff_eli",), open_interval=True)
        off = check_probability("offset", self.offset)
        if off >= 0.5:
            raise DesignError(f"`offset` must be below 0.5, got {off!r}.")
        object.__setattr__(self, "offset", off)

    # ------------------------------------------------------------------ boundaries
    @property
    def lambda_e(self) -> float:
        """Escalation boundary on the observed DLT rate."""
        return boin_lambdas(self.target, self.p_saf, self.p_tox)[0]  # type: ignore[arg-type]

    @property
    def lambda_d(self) -> float:
        """De-escalation boundary on the observed DLT rate."""
        return boin_lambdas(self.target, self.p_saf, self.p_tox)[1]  # type: ignore[arg-type]

    def max_patients(self, n_doses: int) -> int:
        return self.n_cohorts * self.cohort_size

    def boundaries(self, n_max: int | None = None) -> dict[str, NDArray[np.int64]]:
        """Count boundaries for ``n = 0..n_max`` patients treated at a dose.

        Returns
        -------
        dict
            ``escalate`` (escalate if DLTs <= value), ``deescalate`` (de-escalate if DLTs >=
            value), ``eliminate`` (eliminate if DLTs >= value; -1 for none) and, with
            ``extrasafe``, ``stop`` (stop the trial if DLTs at the lowest dose >= value).
        """
        n_max = self.max_patients(0) if n_max is None else n_max
        n = np.arange(n_max + 1)
        be = np.floor(self.lambda_e * n + _EPS).astype(np.int64)
        bd = np.ceil(self.lambda_d * n - _EPS).astype(np.int64)
        elim = elimination_boundary(self.target, n_max, self.cutoff_eli)
        bd = np.where((elim >= 0) & (bd > elim), elim, bd)
        out = {"n": n, "escalate": be, "deescalate": bd, "eliminate": elim}
        if self.extrasafe:
            out["stop"] = elimination_boundary(self.target, n_max, self.cutoff_eli - self.offset)
        return out

    # ------------------------------------------------------------------ advice
    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        """Next-dose advice from the data observed so far.

        Pending patients are ignored here (they count as not yet evaluable); use
        :class:`~allocart.design.tite_boin.TITEBOIN` to make use of their partial follow-up.
        """
        d = self._check_current(data, current_dose)
        n = np.asarray(data.treated) - np.asarray(data.pending)
        y = np.asarray(data.dlts)
        return _recommend_boin(self, n.astype(float), y, d, data.n_doses)

    def select(self, data: DoseData) -> int | None:
        """MTD selected at the end of the trial (0-based), or ``None``."""
        n = np.asarray(data.treated) - np.asarray(data.pending)
        b = self.boundaries(max(int(n.max()), 3))
        if (
            self.extrasafe
            and n[0] >= 3
            and b["stop"][n[0]] >= 0
            and data.dlts[0] >= b["stop"][n[0]]
        ):
            return None
        return select_mtd(self.target, n, np.asarray(data.dlts), b["eliminate"])


def _recommend_boin(
    design: BOIN, n: NDArray[np.float64], y: NDArray[np.int64], d: int, k: int
) -> Recommendation:
    """BOIN decision at dose ``d`` with (possibly fractional, effective) sample sizes ``n``."""
    eliminated: list[int] = []
    for j in range(k):
        if n[j] >= 3 - _EPS and design_posterior_exceeds(
            design.target, y[j], n[j], design.cutoff_eli
        ):
            eliminated = list(range(j, k))
            break
    le, ld = design.lambda_e, design.lambda_d
    if n[d] <= 0:
        return Recommendation(
            Action.STAY, d, tuple(eliminated), "No evaluable patient at the current dose yet."
        )
    rate = y[d] / n[d]
    if d in eliminated:
        if d == 0:
            return Recommendation(
                Action.STOP,
                None,
                tuple(eliminated),
                f"The lowest dose is overly toxic (Pr(p > {design.target}) > {design.cutoff_eli}); stop, no dose selected.",
            )
        return Recommendation(
            Action.ELIMINATE,
            d - 1,
            tuple(eliminated),
            f"Pr(p > {design.target} | data) > {design.cutoff_eli}: eliminate dose {d + 1} and above; de-escalate.",
        )
    if (
        design.extrasafe
        and d == 0
        and n[0] >= 3 - _EPS
        and design_posterior_exceeds(design.target, y[0], n[0], design.cutoff_eli - design.offset)
    ):
        return Recommendation(
            Action.STOP, None, tuple(eliminated), "Extra-safe rule met at the lowest dose; stop."
        )
    blocked_up = d == k - 1 or (d + 1) in eliminated
    if rate <= le + _EPS:
        action, nxt = (Action.STAY, d) if blocked_up else (Action.ESCALATE, d + 1)
        why = f"Observed rate {y[d]}/{n[d]:g} <= lambda_e = {le:.3f}"
    elif rate >= ld - _EPS:
        action, nxt = (Action.STAY, d) if d == 0 else (Action.DEESCALATE, d - 1)
        why = f"Observed rate {y[d]}/{n[d]:g} >= lambda_d = {ld:.3f}"
    else:
        action, nxt = Action.STAY, d
        why = f"Observed rate {y[d]}/{n[d]:g} lies between lambda_e = {le:.3f} and lambda_d = {ld:.3f}"
    if action is Action.STAY and n[d] >= design.n_earlystop:
        return Recommendation(
            Action.STOP,
            d,
            tuple(eliminated),
            f"{why}; {n[d]:g} patients treated at the current dose reach n_earlystop = {design.n_earlystop}: stop and select the MTD.",
        )
    return Recommendation(action, nxt, tuple(eliminated), why + ".")


def design_posterior_exceeds(target: float, y: float, n: float, cutoff: float) -> bool:
    """Whether :math:`\\Pr(p > \\text{target} \\mid y, n) > \\text{cutoff}` under a Beta(1,1) prior."""
    return bool(stats.beta.sf(target, y + 1.0, n - y + 1.0) > cutoff)


# ---------------------------------------------------------------------------- simulation kernel
# The kernels of BOIN, BF-BOIN and TITE-BOIN share the pieces below, so the three designs apply
# one set of safety, movement, early-stopping and selection rules.
class BOINRules(NamedTuple):
    """A BOIN design's settings as the simulation kernels take them.

    Attributes
    ----------
    plan : CohortPlan
        Starting dose, cohorts, patients per cohort and the early-stopping sample size.
    b_e, b_d, b_elim, stop_b : ndarray of int64, shape (n_max + 1,)
        Escalation, de-escalation, elimination and extra-safe stopping DLT counts for ``0..n_max``
        patients (-1 where no count applies; ``stop_b`` is all -1 without ``extrasafe``).
    extrasafe : bool
        Whether the extra-safe rule applies at the lowest dose.
    target : float
        Target DLT probability.
    """

    plan: CohortPlan
    b_e: NDArray[np.int64]
    b_d: NDArray[np.int64]
    b_elim: NDArray[np.int64]
    stop_b: NDArray[np.int64]
    extrasafe: bool
    target: float


def boin_rules(design: BOIN, n_max: int) -> BOINRules:
    """The kernels' settings of ``design``, with count boundaries for ``0..n_max`` patients."""
    b = design.boundaries(n_max)
    stop_b = b.get("stop", np.full(b["n"].size, -1, dtype=np.int64))
    return BOINRules(
        cohort_plan(design),
        b["escalate"],
        b["deescalate"],
        b["eliminate"],
        stop_b,
        bool(design.extrasafe),
        float(design.target),
    )


@numba.njit(cache=True)
def extrasafe_stop(y_1: int, n_1: int, stop_b: np.ndarray) -> bool:  # pragma: no cover - jitted
    """Whether the extra-safe rule stops the trial with ``y_1`` DLTs out of ``n_1`` at the lowest dose."""
    return n_1 >= 3 and stop_b[n_1] >= 0 and y_1 >= stop_b[n_1]


@numba.njit(cache=True)
def boin_safety(
    y_d: int, n_d: int, d: int, k: int, elimi: np.ndarray, rules: BOINRules
) -> bool:  # pragma: no cover - jitted
    """Elimination and extra-safe rules at dose ``d`` with ``y_d`` DLTs out of ``n_d``.

    Marks ``d`` and every higher dose in ``elimi`` when the elimination boundary is met; returns
    whether the trial stops without selection (the lowest dose eliminated, or the extra-safe rule).
    """
    if rules.b_elim[n_d] >= 0 and y_d >= rules.b_elim[n_d]:
        for j in range(d, k):
            elimi[j] = True
        if d == 0:
            return True
    return rules.extrasafe and d == 0 and extrasafe_stop(y_d, n_d, rules.stop_b)


@numba.njit(cache=True)
def boin_stays(
    up: bool, down: bool, d: int, k: int, elimi: np.ndarray
) -> bool:  # pragma: no cover - jitted
    """Whether the decision at dose ``d`` is to stay (the ``n_earlystop`` rule's condition).

    ``up`` and ``down`` say whether the data meet the escalation and the de-escalation boundary;
    "escalate" at the highest admissible dose and "de-escalate" at the lowest count as staying.
    """
    blocked_up = d == k - 1 or elimi[d + 1]
    return (not up and not down) or (d == 0 and down) or (blocked_up and up)


@numba.njit(cache=True)
def boin_move(
    up: bool, down: bool, d: int, k: int, elimi: np.ndarray
) -> int:  # pragma: no cover - jitted
    """Next dose from the boundary comparisons ``up`` and ``down`` at dose ``d``."""
    if up and d != k - 1:
        if not elimi[d + 1]:
            return d + 1
        return d
    if down and d != 0:
        return d - 1
    return d


@numba.njit(cache=True)
def boin_step(
    y_d: int, n_d: int, d: int, k: int, elimi: np.ndarray, rules: BOINRules
) -> tuple[int, int]:  # pragma: no cover - jitted
    """One BOIN decision. Returns ``(next_dose, status)``; status 0 go on, 1 stop without
    selection, 2 stop and select."""
    if boin_safety(y_d, n_d, d, k, elimi, rules):
        return d, 1
    up = y_d <= rules.b_e[n_d]
    down = y_d >= rules.b_d[n_d]
    if n_d >= rules.plan.n_earlystop and boin_stays(up, down, d, k, elimi):
        return d, 2
    return boin_move(up, down, d, k, elimi), 0


@numba.njit(cache=True)
def boin_selection(
    status: int, n: np.ndarray, y: np.ndarray, rules: BOINRules
) -> int:  # pragma: no cover - jitted
    """Dose selected at the end of a simulated trial (-1 for none) from its counts ``n``, ``y``."""
    if status == 1 or (rules.extrasafe and extrasafe_stop(y[0], n[0], rules.stop_b)):
        return -1
    return _select_mtd(rules.target, n, y, rules.b_elim)


@numba.njit(cache=True)
def simulate_boin_kernel(
    dlt: np.ndarray, rules: BOINRules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    n_trials, _, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    elimi = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        elimi[:] = False
        d = rules.plan.start
        p = 0
        status = 0
        for c in range(rules.plan.n_cohorts):
            p = treat_cohort(dlt, t, p, d, rules.plan.cs, N, Y)
            if c == rules.plan.n_cohorts - 1:
                break
            d, status = boin_step(Y[t, d], N[t, d], d, k, elimi, rules)
            if status != 0:
                break
        sel[t] = boin_selection(status, N[t], Y[t], rules)
    return sel, N, Y


def _boin_simulate_block(
    self: BOIN, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, None]:
    sel, N, Y = simulate_boin_kernel(po.dlt, boin_rules(self, self.max_patients(0)))
    return sel, N, Y, None


BOIN.simulate_block = _boin_simulate_block  # type: ignore[attr-defined]
