"""TITE-BOIN and BF-BOIN on the trial calendar.

Both designs decide in calendar time: TITE-BOIN with the partial follow-up of patients still in
their DLT window, BF-BOIN by treating arriving patients at cleared doses while a cohort is in its
window. Their decisions therefore depend on when patients are infused, and the calendar rules of
the protocol (infusion delays, sentinel dosing, stagger, dropouts, :mod:`allocart.trial.schedule`)
must be applied *inside* the trial. The kernels here are the design library's kernels
(``_tite_kernel`` in :mod:`allocart.design.tite_boin`, ``_bf_kernel`` in
:mod:`allocart.design.bfboin`) with two changes only: patients are enrolled through
:func:`~allocart.trial.schedule.fill_cohort` / :func:`~allocart.trial.schedule.fill_slot`, and each
patient's dose and infusion are recorded. Every rule (safety, movement, early stopping, selection,
pending and backfill rules) is the library's own compiled function. With the default calendar
the kernels return the library's selections and counts exactly (tested).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from allocart.design import BFBOIN, TITEBOIN
from allocart.design.base import kernel_outputs
from allocart.design.boin import (
    boin_move,
    boin_safety,
    boin_selection,
    boin_stays,
    boin_step,
    kernel_boundaries,
    trial_end,
)
from allocart.trial.schedule import Candidates, fill_cohort, fill_slot

__all__ = ["simulate_timed", "TIMED_DESIGNS"]

#: Designs whose decisions depend on the calendar.
TIMED_DESIGNS = (TITEBOIN, BFBOIN)


@numba.njit(cache=True)
def _outputs(m: int, n_pat: int, n_cand: int) -> tuple[Any, ...]:  # pragma: no cover - jitted
    pdose = np.full((m, n_pat), -1, dtype=np.int8)
    pstart = np.full((m, n_pat), np.nan)
    cand = np.full((m, n_pat), -1, dtype=np.int64)
    c_enrol = np.full((m, n_cand), np.nan)
    c_inf = np.full((m, n_cand), np.nan)
    c_dose = np.full((m, n_cand), -1, dtype=np.int64)
    return pdose, pstart, cand, c_enrol, c_inf, c_dose


@numba.njit(cache=True)
def _next_arrival(arrival: np.ndarray, fate: np.ndarray, i: int) -> float:  # pragma: no cover
    """Arrival of the next candidate who passes screening (inf if none is left)."""
    while i < arrival.size:
        if fate[i] != 1:
            return arrival[i]
        i += 1
    return np.inf


@numba.njit(cache=True)
def _tite_calendar(
    dlt: np.ndarray,
    dlt_time: np.ndarray,
    arrival: np.ndarray,
    fate: np.ndarray,
    delay: np.ndarray,
    when: np.ndarray,
    window: float,
    sentinel: float,
    stagger: float,
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
    lam_e: float,
    lam_d: float,
    max_pend: float,
) -> tuple[Any, ...]:  # pragma: no cover - jitted
    n_trials, n_pat, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    dur = np.zeros(n_trials)
    pdose, pstart, cand, c_enrol, c_inf, c_dose = _outputs(n_trials, n_pat, arrival.shape[1])
    elimi = np.zeros(k, dtype=np.bool_)
    seen = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        elimi[:] = False
        seen[:] = False
        d = start
        p = 0
        i = 0
        status = 0
        now = 0.0
        for c in range(n_cohorts):
            i, now = fill_cohort(
                arrival[t], fate[t], delay[t], when[t], i, now, d, cs, not seen[d],
                sentinel, stagger, window, c_enrol[t], c_inf[t], c_dose[t], pstart[t], cand[t], p,
            )  # fmt: skip
            seen[d] = True
            for _ in range(cs):
                pdose[t, p] = d
                N[t, d] += 1
                Y[t, d] += dlt[t, p, d]
                p += 1
            if c == n_cohorts - 1:
                break
            tau = max(_next_arrival(arrival[t], fate[t], i), now)
            while True:
                n_c = 0
                y_c = 0
                fu = 0.0
                n_pend = 0
                next_event = np.inf
                for j in range(p):
                    if pdose[t, j] != d:
                        continue
                    dl = dlt[t, j, d]
                    ev = pstart[t, j] + (dlt_time[t, j, d] if dl else window)
                    if ev <= tau:
                        n_c += 1
                        y_c += dl
                    else:
                        n_pend += 1
                        fu += (tau - pstart[t, j]) / window
                        next_event = min(next_event, ev)
                if n_pend > max_pend * (n_c + n_pend):
                    tau = next_event
                    continue
                break
            now = tau
            ess = n_c + fu
            n_floor = int(math.floor(ess + 1e-9))
            if boin_safety(y_c, n_floor, d, k, elimi, b_elim, stop_b, extrasafe):
                status = 1
                break
            rate = y_c / ess if ess > 0 else 0.0
            up = rate <= lam_e + 1e-9
            down = rate >= lam_d - 1e-9
            if elimi[d]:
                up = False
                down = True
            if N[t, d] >= n_earlystop and boin_stays(up, down, d, k, elimi):
                status = 2
                break
            d = boin_move(up, down and not up, d, k, elimi)
        dur[t] = trial_end(now + window, pstart[t], p, window)
        sel[t] = boin_selection(status, N[t], Y[t], target, b_elim, stop_b, extrasafe)
    return sel, N, Y, dur, pdose, pstart, cand, c_enrol, c_inf, c_dose


@numba.njit(cache=True)
def _bf_calendar(
    dlt: np.ndarray,
    resp: np.ndarray,
    arrival: np.ndarray,
    fate: np.ndarray,
    delay: np.ndarray,
    when: np.ndarray,
    position: np.ndarray,
    window: float,
    lag: float,
    sentinel: float,
    stagger: float,
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
) -> tuple[Any, ...]:  # pragma: no cover - jitted
    n_trials, n_pat, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    dur = np.zeros(n_trials)
    pdose, pstart, cand, c_enrol, c_inf, c_dose = _outputs(n_trials, n_pat, arrival.shape[1])
    elimi = np.zeros(k, dtype=np.bool_)
    closed = np.zeros(k, dtype=np.bool_)
    cleared = np.zeros(k, dtype=np.bool_)
    seen = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        elimi[:] = False
        closed[:] = False
        cleared[:] = False
        seen[:] = False
        d = start
        p = 0
        i = 0
        status = 0
        gate = 0.0
        for c in range(n_cohorts):
            i, last = fill_cohort(
                arrival[t], fate[t], delay[t], when[t], i, gate, d, cs, not seen[d],
                sentinel, stagger, window, c_enrol[t], c_inf[t], c_dose[t], pstart[t], cand[t], p,
            )  # fmt: skip
            seen[d] = True
            for _ in range(cs):
                pdose[t, p] = d
                N[t, d] += 1
                Y[t, d] += dlt[t, p, d]
                p += 1
            cohort_end = last + lag
            # Patients arriving during the window are backfilled while a dose is open.
            while p < n_pat and arrival[t, position[t, p]] < cohort_end:
                now = arrival[t, position[t, p]]
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
                i, inf, who = fill_slot(
                    arrival[t], fate[t], delay[t], when[t], i, 0.0, 0.0, 0.0, b, window,
                    c_enrol[t], c_inf[t], c_dose[t],
                )  # fmt: skip
                pdose[t, p] = b
                pstart[t, p] = inf
                cand[t, p] = who
                N[t, b] += 1
                Y[t, b] += dlt[t, p, b]
                p += 1
            gate = cohort_end
            if c == n_cohorts - 1:
                break
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
        dur[t] = trial_end(gate, pstart[t], p, window)
        sel[t] = boin_selection(status, N[t], Y[t], target, b_elim, stop_b, extrasafe)
    return sel, N, Y, dur, pdose, pstart, cand, c_enrol, c_inf, c_dose


def simulate_timed(
    design: TITEBOIN | BFBOIN,
    dlt: np.ndarray,
    response: np.ndarray,
    dlt_time: np.ndarray,
    cand: Candidates,
    *,
    window: float,
    lag: float,
    sentinel: float,
    stagger: float,
) -> tuple[Any, ...]:
    """Run TITE-BOIN or BF-BOIN on the calendar.

    Parameters
    ----------
    design : TITEBOIN or BFBOIN
    dlt, response, dlt_time : ndarray, shape (m, n_patients, n_doses)
        Potential outcomes of the design's (evaluable) patients; DLT times in months after the
        infusion.
    cand : Candidates
    window, lag, sentinel, stagger : float
        DLT window, minimum follow-up before a decision (BF-BOIN), sentinel wait and stagger,
        months.

    Returns
    -------
    tuple
        ``(selected, N, Y, duration, dose, start, candidate, c_enrol, c_infusion, c_dose)``.
    """
    common = (
        design.start_dose,
        design.n_cohorts,
        design.cohort_size,
        design.n_earlystop,
    )
    if isinstance(design, TITEBOIN):
        return _tite_calendar(
            dlt, dlt_time, cand.arrival, cand.fate, cand.delay, cand.when,
            window, sentinel, stagger, *common,
            *kernel_boundaries(design, design.max_patients(0)),
            design.extrasafe, design.target, design.lambda_e, design.lambda_d,
            design.max_pending_fraction,
        )  # fmt: skip
    return _bf_calendar(
        dlt, response, cand.arrival, cand.fate, cand.delay, cand.when, cand.position,
        window, lag, sentinel, stagger, *common,
        *kernel_boundaries(design, design.max_patients(dlt.shape[2])),
        design.extrasafe, design.target, design.backfill_cap, design.backfill_requires_response,
    )  # fmt: skip
