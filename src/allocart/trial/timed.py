"""TITE-BOIN and BF-BOIN on the trial calendar.

Both designs decide in calendar time: TITE-BOIN with the partial follow-up of patients still in
their DLT window, BF-BOIN by treating arriving patients at cleared doses while a cohort is in its
window. Their decisions therefore depend on when patients are infused, and the calendar rules of
the protocol (infusion delays, sentinel dosing, stagger, dropouts, :mod:`allocart.trial.schedule`)
must be applied *inside* the trial. The design library's kernels take the calendar as an argument
(:class:`~allocart.design.enrolment.Enrolment`): here it is the protocol's candidates and rules
instead of the library's plain accrual, and the kernels' records give each patient's dose and
infusion. With the default calendar the trials are the library's, trial for trial (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from allocart.design import BFBOIN, TITEBOIN
from allocart.design.bfboin import simulate_bf
from allocart.design.tite_boin import simulate_tite
from allocart.trial.schedule import Candidates

__all__ = ["simulate_timed", "TIMED_DESIGNS"]

#: Designs whose decisions depend on the calendar.
TIMED_DESIGNS = (TITEBOIN, BFBOIN)


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
    cal = cand.enrolment(lag, sentinel, stagger)
    if isinstance(design, TITEBOIN):
        return simulate_tite(design, dlt, dlt_time, cal, window)
    return simulate_bf(design, dlt, response, cal, window)
