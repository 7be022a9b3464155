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

from allocart.design.base import check_int, kernel_outputs
from allocart.design.boin import (
    BOIN,
    boin_selection,
    boin_step,
    enrol_cohort,
    kernel_boundaries,
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
def _bf_kernel(
    dlt: np.ndarray,
    resp: np.ndarray,
    arrivals: np.ndarray,
    window: float,
    start: int,
    n_cohorts: int,
    cs: int,
    n_earlystop: int,
    b_e: np.ndarray,
    b_d: np.ndarray,
    b_elim: np.ndarray,
    stop_b: np.ndarray,
    extrasafe: bool,
    target: float,
    cap: int,
    need_resp: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    n_trials, n_pat, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    dur = np.zeros(n_trials)
    elimi = np.zeros(k, dtype=np.bool_)
    closed = np.zeros(k, dtype=np.bool_)
    cleared = np.zeros(k, dtype=np.bool_)
    pdose = np.zeros(n_pat, dtype=np.int64)
    pstart = np.zeros(n_pat)
    for t in range(n_trials):
        elimi[:] = False
        closed[:] = False
        cleared[:] = False
        d = start
        p = 0
        status = 0
        gate = 0.0
        for c in range(n_cohorts):
            p, last_start = enrol_cohort(dlt, arrivals, t, p, d, cs, gate, pdose, pstart, N, Y)
            cohort_end = last_start + window
            # Patients arriving during the window are backfilled while a dose is open.
            while p < n_pat and arrivals[t, p] < cohort_end:
                b = -1
                for j in range(d - 1, -1, -1):
                    if cleared[j] and not closed[j] and not elimi[j] and N[t, j] < cap:
                        if need_resp:
                            r = 0
                            for i in range(p):
                                if pdose[i] == j and pstart[i] + window <= arrivals[t, p]:
                                    r += resp[t, i, j]
                            if r == 0:
                                continue
                        b = j
                        break
                if b < 0:
                    break
                pdose[p] = b
                pstart[p] = arrivals[t, p]
                N[t, b] += 1
                Y[t, b] += dlt[t, p, b]
                p += 1
            gate = cohort_end
            if c == n_cohorts - 1:
                break
            # Pooled complete data at the decision time.
            ceiling = k
            for j in range(k):
                n_c = 0
                y_c = 0
                for i in range(p):
                    if pdose[i] == j and pstart[i] + window <= cohort_end + 1e-12:
                        n_c += 1
                        y_c += dlt[t, i, j]
                if j == d:
                    n_d, y_d = n_c, y_c
                elif j < d and n_c > 0 and y_c >= b_d[n_c] and not closed[j]:
                    for m in range(j, k):
                        closed[m] = True
                    if b_elim[n_c] >= 0 and y_c >= b_elim[n_c]:
                        for m in range(j, k):
                            elimi[m] = True
                    ceiling = min(ceiling, j - 1)
            if n_d == 0:
                continue
            d_old = d
            d, status = boin_step(
                y_d, n_d, d, k, elimi, b_e, b_d, b_elim, stop_b, extrasafe, n_earlystop
            )
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
        dur[t] = trial_end(gate, pstart, p, window)
        sel[t] = boin_selection(status, N[t], Y[t], target, b_elim, stop_b, extrasafe)
    return sel, N, Y, dur


def _simulate_block(
    self: BFBOIN, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, Any]:
    if accrual is None:
        raise DesignError("BF-BOIN needs `accrual_per_month` and `dlt_window_months`.")
    return _bf_kernel(
        po.dlt,
        po.response,
        arrivals,
        float(accrual.dlt_window_months),
        self.start_dose,
        self.n_cohorts,
        self.cohort_size,
        self.n_earlystop,
        *kernel_boundaries(self, self.max_patients(po.dlt.shape[2])),
        self.extrasafe,
        self.target,
        self.backfill_cap,
        self.backfill_requires_response,
    )


BFBOIN.simulate_block = _simulate_block  # type: ignore[attr-defined]
