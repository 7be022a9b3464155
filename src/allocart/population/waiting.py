"""The wait between enrolment and infusion: untreated disease, flares and who is not infused.

Each virtual patient is enrolled ``wait_days`` before the infusion (day 0), drawn from the
product's logistics (:func:`allocart.model.logistics.draw_logistics`). From enrolment to the
first lymphodepleting dose the disease is untreated: the model's latent SLE activity ``I``
stays at its pre-treatment steady state except for flares, which arrive as a Poisson process
(``waiting.flare_rate_per_month``) and each add ``waiting.flare_activity_increase`` to ``I``
(an event on the state, so the flare then runs its course in the model: it decays at ``k_I``
and, through the inflammation gain ``w_I``, drives autoreactive B-cell activation and
anti-dsDNA). A longer wait holds more flares (the flare days of a person are the same whatever
the wait), so a patient arrives at lymphodepletion with more activity.

Bridging therapy is not a state of the model. The rule applied instead
[assumption, EBMT 2024 Table 5 allows glucocorticoid bridging between leukapheresis and
lymphodepletion]: a flare that keeps ``I`` at or below ``waiting.withdraw_activity`` is
controlled by bridging and the patient proceeds to infusion with the activity the model gives;
a patient whose ``I`` rises above it before lymphodepletion has a severe flare, leaves the
study and is not infused (``not_infused_reason = "flare"``). A patient whose every manufacture
fails is not infused either (``"manufacturing_failure"``); the earlier of the two counts.

A patient not infused is still simulated as if infused (the pools hold potential outcomes);
the ``infused`` flag tells the trial to use none of it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from allocart.model.equations import MODEL
from allocart.model.logistics import Logistics, LogisticsDraws, draw_logistics
from allocart.model.scenario import PatientBatch, Scenario

__all__ = ["WaitPlan", "plan_waits", "WaitOutcome", "wait_outcome"]


@dataclasses.dataclass(frozen=True)
class WaitPlan:
    """The pre-infusion phase of a cohort's patients.

    Attributes
    ----------
    draws : LogisticsDraws
        Per-patient waits, manufacturing outcomes and flare days.
    logistics : Logistics
    lymphodepletion_day : float
        First lymphodepleting dose, days from infusion (<= 0).
    scenario_start : float
        Start of the scenario's simulation without a wait (two days before lymphodepletion).
    """

    draws: LogisticsDraws
    logistics: Logistics
    lymphodepletion_day: float
    scenario_start: float

    @property
    def n(self) -> int:
        return int(self.draws.wait_days.shape[0])

    @property
    def untreated_days(self) -> NDArray[np.float64]:
        """Days from enrolment to the first lymphodepleting dose (0 when enrolled after it)."""
        return np.maximum(self.draws.wait_days + self.lymphodepletion_day, 0.0)

    @property
    def flare_mask(self) -> NDArray[np.bool_]:
        """Flares that happen while the patient waits untreated, shape (n, MAX_FLARES)."""
        return self.draws.flare_days < self.untreated_days[:, None]

    @property
    def flares(self) -> NDArray[np.int64]:
        """Number of flares of each patient while waiting."""
        return self.flare_mask.sum(axis=1).astype(np.int64)

    @property
    def has_events(self) -> bool:
        """Whether the wait changes the simulation at all (someone flares)."""
        return bool(self.flare_mask.any()) and self.logistics.waiting.flare_activity_increase > 0

    @property
    def start(self) -> float:
        """Simulation start: the earliest enrolment (or the scenario's own start)."""
        return float(min(self.scenario_start, -float(np.max(self.draws.wait_days, initial=0.0))))

    def output_days(self) -> NDArray[np.float64]:
        """Whole days before the infusion at which the waiting phase is read out."""
        last = min(self.lymphodepletion_day, -1.0)
        first = math.ceil(self.start)
        return np.arange(first, math.floor(last) + 1, dtype=float)

    def apply(self, batch: PatientBatch) -> PatientBatch:
        """``batch`` started at :attr:`start` with each flare added to ``I`` as an event."""
        mask = self.flare_mask
        k = int(mask.sum(axis=1).max(initial=0))
        if k == 0 or not self.has_events:
            return dataclasses.replace(batch, t0=min(batch.t0, self.start))
        n, m = batch.event_time.shape
        et = np.full((n, m + k), np.inf)
        es = np.zeros((n, m + k), dtype=np.int64)
        eo = np.zeros((n, m + k), dtype=np.int64)
        ev = np.zeros((n, m + k))
        i_state = MODEL.state_index("I")
        dI = self.logistics.waiting.flare_activity_increase
        for i in range(n):
            times = self.draws.flare_days[i, mask[i]] - self.draws.wait_days[i]
            j = times.size
            # Flares come before the first lymphodepleting dose, so before every other event.
            et[i, :j], es[i, :j], ev[i, :j] = times, i_state, dI
            # Rows with fewer flares are padded with "add 0" at the first dose (where the
            # solver stops anyway), not with inf, which would sit between finite times.
            et[i, j:k], es[i, j:k], ev[i, j:k] = batch.event_time[i, 0], i_state, 0.0
            j = k
            et[i, j : j + m], es[i, j : j + m] = batch.event_time[i], batch.event_state[i]
            eo[i, j : j + m], ev[i, j : j + m] = batch.event_op[i], batch.event_value[i]
        return dataclasses.replace(
            batch,
            t0=min(batch.t0, self.start),
            event_time=et,
            event_state=es,
            event_op=eo,
            event_value=ev,
        )


def plan_waits(scenario: Scenario, logistics: Logistics, n: int, seed: int) -> WaitPlan:
    """Draw the waits of ``n`` patients of ``scenario`` (the cohort's seed; own streams)."""
    return WaitPlan(
        draws=draw_logistics(logistics, n, seed),
        logistics=logistics,
        lymphodepletion_day=float(min(scenario.regimen.first_day, 0.0)),
        scenario_start=float(scenario.t_start),
    )


@dataclasses.dataclass(frozen=True)
class WaitOutcome:
    """Per-patient result of the wait (the pool columns of time to treatment).

    Attributes
    ----------
    enrol_to_infusion_days : ndarray of float
        Days from enrolment to infusion; for a patient not infused, to leaving the study.
    infused : ndarray of bool
    not_infused_reason : list of str or None
        ``"manufacturing_failure"``, ``"flare"`` or None.
    flares_waiting : ndarray of int
        Flares while waiting untreated.
    sle_activity_lymphodepletion : ndarray of float
        Latent activity ``I`` (1 = enrolment) at the first lymphodepleting dose.
    sle_activity_max_waiting : ndarray of float
        Highest daily ``I`` from enrolment to the first lymphodepleting dose.
    manufacturing_attempts : ndarray of int
        Manufactures started (0 for an off-the-shelf product).
    """

    enrol_to_infusion_days: NDArray[np.float64]
    infused: NDArray[np.bool_]
    not_infused_reason: list[str | None]
    flares_waiting: NDArray[np.int64]
    sle_activity_lymphodepletion: NDArray[np.float64]
    sle_activity_max_waiting: NDArray[np.float64]
    manufacturing_attempts: NDArray[np.int64]

    def columns(self) -> dict[str, object]:
        """The outcome as columns of a patient table."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def wait_outcome(
    plan: WaitPlan,
    pre_time: NDArray[np.float64],
    pre_activity: NDArray[np.float64] | None,
    baseline_activity: NDArray[np.float64],
) -> WaitOutcome:
    """Who is infused, after how long, and with what activity at lymphodepletion.

    Parameters
    ----------
    plan : WaitPlan
    pre_time : ndarray, shape (n_pre,)
        Days before infusion of the waiting-phase read-outs (may be empty).
    pre_activity : ndarray, shape (n, n_pre), or None
        Latent activity on ``pre_time``; None when the wait added no event, so every patient
        stays at ``baseline_activity`` until lymphodepletion.
    baseline_activity : ndarray, shape (n,)
        Activity at enrolment (the pre-treatment steady state).
    """
    d = plan.draws
    n = plan.n
    wait = d.wait_days
    ld = plan.lymphodepletion_day
    if pre_activity is None or pre_time.size == 0:
        at_ld = np.asarray(baseline_activity, dtype=float).copy()
        peak = at_ld.copy()
        flare_exit = np.full(n, np.inf)
    else:
        window = (pre_time[None, :] >= -wait[:, None] - 1e-9) & (pre_time[None, :] <= ld + 1e-9)
        act = np.where(window, pre_activity, np.nan)
        idx = int(np.argmin(np.abs(pre_time - ld)))
        at_ld = np.where(np.isfinite(pre_activity[:, idx]), pre_activity[:, idx], np.nan)
        peak = np.fmax(np.nanmax(np.where(window, act, -np.inf), axis=1), baseline_activity)
        over = window & (pre_activity > plan.logistics.waiting.withdraw_activity)
        first = np.where(over.any(axis=1), pre_time[over.argmax(axis=1)], np.inf)
        flare_exit = first + wait  # days after enrolment
    manuf_exit = np.where(d.manufacturing_failed, wait, np.inf)
    reasons: list[str | None] = []
    days = wait.astype(float).copy()
    for i in range(n):
        if np.isinf(flare_exit[i]) and np.isinf(manuf_exit[i]):
            reasons.append(None)
        elif flare_exit[i] <= manuf_exit[i]:
            reasons.append("flare")
            days[i] = flare_exit[i]
        else:
            reasons.append("manufacturing_failure")
            days[i] = manuf_exit[i]
    return WaitOutcome(
        enrol_to_infusion_days=days,
        infused=np.array([r is None for r in reasons], dtype=bool),
        not_infused_reason=reasons,
        flares_waiting=plan.flares,
        sle_activity_lymphodepletion=np.asarray(at_ld, dtype=float),
        sle_activity_max_waiting=np.asarray(peak, dtype=float),
        manufacturing_attempts=d.attempts,
    )
