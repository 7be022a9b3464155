"""Backfill BOIN (BF-BOIN).

While the current escalation cohort is in its DLT window, newly arriving patients are
"backfilled" to lower doses already cleared by escalation, up to ``backfill_cap`` patients per
dose, instead of waiting. Dose-escalation decisions use the pooled complete data at the current
dose (escalation and backfill patients). When the pooled data at a backfill dose reach the BOIN
de-escalation boundary, backfilling closes at that dose and above and the next cohort is treated
no higher than one level below it. The trial ends with the last escalation cohort (backfill
patients do not count towards ``n_cohorts``), and the MTD is selected from the pooled data with
the BOIN rule. Backfill patients go to the highest open dose. With ``backfill_cap = 0`` the design
is BOIN.

References
----------
Zhao Y., Yuan Y., Korn E.L. and Freidlin B. (2024). Backfilling patients in phase I
dose-escalation trials using Bayesian optimal interval design (BOIN). *Clin Cancer Res*
30:673-679. doi:10.1158/1078-0432.CCR-23-2585
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import check_int
from allocart.design.boin import BOIN, BOINRules, boin_rules, boin_selection, boin_step
from allocart.design.enrolment import (
    Enrolment,
    calendar_outputs,
    enrol_cohort,
    fill_slot,
    open_trial,
    plain_accrual,
    treat_patient,
    trial_end,
)
from allocart.errors import DesignError

__all__ = ["BFBOIN"]


@dataclasses.dataclass(frozen=True)
class BFBOIN(BOIN):
    """BOIN with backfilling of cleared lower doses.

    Parameters
    ----------
    backfill_cap : int
        Maximum number of patients (escalation plus backfill) at a dose for backfilling to
        continue there (default 12, as ``n.cap`` in the BF-BOIN software).
    backfill_requires_response : bool
        Open a cleared dose for backfilling only after at least one response was observed there
        (default ``False``).
    **BOIN parameters
        As :class:`~allocart.design.boin.BOIN`.
    """

    backfill_cap: int = 12
    backfill_requires_response: bool = False

    name = "bf-boin"
    needs_accrual = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_fields(check_int, ("backfill_cap",), minimum=0)
        if not isinstance(self.backfill_requires_response, bool):
            raise DesignError(
                f"`backfill_requires_response` must be true or false, got {self.backfill_requires_response!r}."
            )

    def max_patients(self, n_doses: int) -> int:
        return self.n_cohorts * self.cohort_size + n_doses * self.backfill_cap


@numba.njit(cache=True)
def bf_kernel(
    dlt: np.ndarray,
    resp: np.ndarray,
    cal: Enrolment,
    window: float,
    rules: BOINRules,
    cap: int,
    need_resp: bool,
) -> tuple[Any, ...]:  # pragma: no cover - jitted
    """BF-BOIN trials on the calendar ``cal``; returns the arrays of :func:`calendar_outputs`."""
    n_trials, n_pat, k = dlt.shape
    sel, N, Y, dur, rec = calendar_outputs(dlt, cal)
    pdose, pstart = rec[0], rec[1]
    elimi = np.zeros(k, dtype=np.bool_)
    closed = np.zeros(k, dtype=np.bool_)
    cleared = np.zeros(k, dtype=np.bool_)
    seen = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        elimi[:] = False
        closed[:] = False
        cleared[:] = False
        i, p, gate = open_trial(seen)
        d = rules.plan.start
        status = 0
        for c in range(rules.plan.n_cohorts):
            i, p, last = enrol_cohort(
                dlt, cal, rec, t, i, p, gate, d, rules.plan.cs, seen, window, N, Y
            )
            cohort_end = last + cal.lag
            # Patients arriving during the window are backfilled while a dose is open.
            while p < n_pat and cal.arrival[t, cal.position[t, p]] < cohort_end:
                now = cal.arrival[t, cal.position[t, p]]
                b = -1
                for j in range(d - 1, -1, -1):
                    if cleared[j] and not closed[j] and not elimi[j] and N[t, j] < cap:
                        if need_resp:
                            r = 0
                            for q in range(p):
                                if pdose[t, q] == j and pstart[t, q] + window <= now:
                                    r += resp[t, q, j]
                            if r == 0:
                                continue
                        b = j
                        break
                if b < 0:
                    break
                i, _ = fill_slot(cal, rec, t, i, p, 0.0, 0.0, 0.0, b, window)
                p = treat_patient(dlt, rec, t, p, b, N, Y)
            gate = cohort_end
            if c == rules.plan.n_cohorts - 1:
                break
            # Pooled complete data at the decision time.
            ceiling = k
            n_d = 0
            y_d = 0
            for j in range(k):
                n_c = 0
                y_c = 0
                for q in range(p):
                    if pdose[t, q] == j and pstart[t, q] + window <= cohort_end + 1e-12:
                        n_c += 1
                        y_c += dlt[t, q, j]
                if j == d:
                    n_d, y_d = n_c, y_c
                elif j < d and n_c > 0 and y_c >= rules.b_d[n_c] and not closed[j]:
                    for m in range(j, k):
                        closed[m] = True
                    if rules.b_elim[n_c] >= 0 and y_c >= rules.b_elim[n_c]:
                        for m in range(j, k):
                            elimi[m] = True
                    ceiling = min(ceiling, j - 1)
            if n_d == 0:
                continue
            d_old = d
            d, status = boin_step(y_d, n_d, d, k, elimi, rules)
            if status != 0:
                break
            if d > d_old:
                cleared[d_old] = True
            if ceiling < k:
                if ceiling < 0:
                    if elimi[0]:
                        status = 1
                        break
                    ceiling = 0
                d = min(d, ceiling)
        dur[t] = trial_end(gate, pstart[t], p, window)
        sel[t] = boin_selection(status, N[t], Y[t], rules)
    return (sel, N, Y, dur) + rec


def simulate_bf(
    design: BFBOIN,
    dlt: NDArray[np.bool_],
    resp: NDArray[np.bool_],
    cal: Enrolment,
    window: float,
) -> tuple[Any, ...]:
    """BF-BOIN trials of ``design`` on the calendar ``cal`` (see :func:`bf_kernel`).

    ``dlt`` and ``resp`` have shape (m, n_patients, n_doses); ``window`` is the DLT window, months.
    """
    return bf_kernel(
        dlt,
        resp,
        cal,
        float(window),
        boin_rules(design, design.max_patients(dlt.shape[2])),
        design.backfill_cap,
        design.backfill_requires_response,
    )


def _simulate_block(
    self: BFBOIN, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, Any]:
    cal, window = plain_accrual(arrivals, accrual, "BF-BOIN")
    return simulate_bf(self, po.dlt, po.response, cal, window)[:4]


BFBOIN.simulate_block = _simulate_block  # type: ignore[attr-defined]
