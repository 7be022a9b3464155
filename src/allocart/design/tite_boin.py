"""Time-to-event BOIN (TITE-BOIN) for late-onset DLTs.

Patients whose DLT window is still open contribute partial information through the effective
sample size of Lin & Yuan (2020), obtained by approximating the likelihood of a pending patient
followed for ``t`` of a window ``W`` under a uniform time to DLT:

.. math::

   \\mathrm{ESS}_j = n_j^{c} + \\sum_{i \\text{ pending}} t_i / W, \\qquad
   \\hat p_j = y_j / \\mathrm{ESS}_j,

where :math:`n_j^{c}` counts the patients with complete data (a DLT, or a full window without
one). :math:`\\hat p_j` is compared with the BOIN boundaries :math:`\\lambda_e, \\lambda_d`.
Accrual is suspended while more than half the patients at the current dose are pending. Safety
elimination uses ``y`` DLTs out of ``floor(ESS)`` (conservative, and equal to BOIN with complete
data). With no pending patient the design reduces exactly to BOIN.

References
----------
Yuan Y., Lin R., Li D., Nie L. and Warren K.E. (2018). Time-to-event Bayesian optimal interval
design to accelerate phase I trials. *Clin Cancer Res* 24:4921-4930.
doi:10.1158/1078-0432.CCR-18-0246

Lin R. and Yuan Y. (2020). Time-to-event model-assisted designs for dose-finding trials with
delayed toxicity. *Biostatistics* 21:807-824. doi:10.1093/biostatistics/kxz007
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import Action, DoseData, Recommendation, check_probability
from allocart.design.boin import (
    BOIN,
    BOINRules,
    _recommend_boin,
    boin_move,
    boin_rules,
    boin_safety,
    boin_selection,
    boin_stays,
)
from allocart.design.enrolment import (
    Enrolment,
    calendar_outputs,
    enrol_cohort,
    next_arrival,
    open_trial,
    plain_accrual,
    trial_end,
)

__all__ = ["TITEBOIN"]


@dataclasses.dataclass(frozen=True)
class TITEBOIN(BOIN):
    """TITE-BOIN design: BOIN with pending patients counted through their follow-up.

    Parameters
    ----------
    max_pending_fraction : float
        Suspend accrual while more than this fraction of the patients at the current dose have
        pending DLT data (default 0.5, Yuan et al. 2018).
    **BOIN parameters
        As :class:`~allocart.design.boin.BOIN`.
    """

    max_pending_fraction: float = 0.5

    name = "tite-boin"
    needs_accrual = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_fields(check_probability, ("max_pending_fraction",))

    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        """Advice from complete and pending data (``data.pending``, ``data.followup``)."""
        d = self._check_current(data, current_dose)
        treated = np.asarray(data.treated, dtype=float)
        pending = np.asarray(data.pending, dtype=float)
        ess = treated - pending + np.asarray(data.followup)
        if treated[d] > 0 and pending[d] / treated[d] > self.max_pending_fraction:
            return Recommendation(
                Action.SUSPEND,
                d,
                (),
                f"{int(pending[d])} of {int(treated[d])} patients at the current dose are pending "
                f"(more than {self.max_pending_fraction:.0%}): suspend accrual until more data are in.",
            )
        # Elimination on floor(ESS) keeps the decision conservative while follow-up is partial.
        ess_elim = np.floor(ess + 1e-9)
        rec = _recommend_boin(self, ess, np.asarray(data.dlts), d, data.n_doses)
        if not np.array_equal(ess_elim, ess):
            rec_floor = _recommend_boin(self, ess_elim, np.asarray(data.dlts), d, data.n_doses)
            if (
                rec_floor.eliminated
                and not rec.eliminated
                or rec_floor.action in (Action.ELIMINATE, Action.STOP)
            ):
                return rec_floor if rec_floor.action in (Action.ELIMINATE, Action.STOP) else rec
        return rec


@numba.njit(cache=True)
def tite_kernel(
    dlt: np.ndarray,
    dlt_time: np.ndarray,
    cal: Enrolment,
    window: float,
    rules: BOINRules,
    lam_e: float,
    lam_d: float,
    max_pend: float,
) -> tuple[Any, ...]:  # pragma: no cover - jitted
    """TITE-BOIN trials on the calendar ``cal``; returns the arrays of :func:`calendar_outputs`."""
    n_trials, _, k = dlt.shape
    sel, N, Y, dur, rec = calendar_outputs(dlt, cal)
    pdose, pstart = rec[0], rec[1]
    elimi = np.zeros(k, dtype=np.bool_)
    seen = np.zeros(k, dtype=np.bool_)
    for t in range(n_trials):
        elimi[:] = False
        i, p, now = open_trial(seen)
        d = rules.plan.start
        status = 0
        for c in range(rules.plan.n_cohorts):
            i, p, now = enrol_cohort(
                dlt, cal, rec, t, i, p, now, d, rules.plan.cs, seen, window, N, Y
            )
            if c == rules.plan.n_cohorts - 1:
                break
            tau = max(next_arrival(cal, t, i), now)
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
            # Elimination and early stopping on integer counts; movement on the ESS-based rate.
            if boin_safety(y_c, n_floor, d, k, elimi, rules):
                status = 1
                break
            rate = y_c / ess if ess > 0 else 0.0
            up = rate <= lam_e + 1e-9
            down = rate >= lam_d - 1e-9
            if elimi[d]:
                # BOIN caps the de-escalation boundary at the elimination boundary.
                up = False
                down = True
            if N[t, d] >= rules.plan.n_earlystop and boin_stays(up, down, d, k, elimi):
                status = 2
                break
            # A rate on both boundaries (possible only when lambda_e and lambda_d nearly meet)
            # moves as an escalation.
            d = boin_move(up, down and not up, d, k, elimi)
        dur[t] = trial_end(now + window, pstart[t], p, window)
        sel[t] = boin_selection(status, N[t], Y[t], rules)
    return (sel, N, Y, dur) + rec


def simulate_tite(
    design: TITEBOIN,
    dlt: NDArray[np.bool_],
    dlt_time: NDArray[np.float64],
    cal: Enrolment,
    window: float,
) -> tuple[Any, ...]:
    """TITE-BOIN trials of ``design`` on the calendar ``cal`` (see :func:`tite_kernel`).

    ``dlt`` and ``dlt_time`` (months after the infusion) have shape (m, n_patients, n_doses);
    ``window`` is the DLT window, months.
    """
    return tite_kernel(
        dlt,
        dlt_time,
        cal,
        float(window),
        boin_rules(design, design.max_patients(0)),
        design.lambda_e,
        design.lambda_d,
        design.max_pending_fraction,
    )


def _simulate_block(
    self: TITEBOIN, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, Any]:
    cal, window = plain_accrual(arrivals, accrual, "TITE-BOIN")
    return simulate_tite(self, po.dlt, po.dlt_time, cal, window)[:4]


TITEBOIN.simulate_block = _simulate_block  # type: ignore[attr-defined]
