"""Replicate trials: who is enrolled when, at which dose, and which dose is selected.

A chunk of replicate trials ``first .. stop - 1`` is a pure function of the protocol, the pools'
outcomes and the seed, so chunks can be computed in any order, on any machine, and resumed: the
same chunk always gives the same arrays.

For each trial of each arm:

* candidates arrive (``accrual``), are screened, enrolled, infused after the product's time from
  enrolment to infusion, and may leave (``calendar``); the design sees the evaluable patients only
  (:mod:`allocart.trial.schedule`);
* the dose of each cohort is the design's decision, taken by the design library's own compiled
  rules: for 3+3, BOIN, BOIN12 and CRM the path does not depend on time and is recovered from the
  library's kernels (:mod:`allocart.trial.paths`), then placed on the calendar; TITE-BOIN and
  BF-BOIN decide in calendar time and run with the calendar inside (:mod:`allocart.trial.timed`);
* the decision on a cohort is taken once its last patient has been followed for the minimum
  follow-up (the DLT window by default or, when the design doses by response (BOIN12), until the
  month of that response's assessment).

:func:`simulate_scenario` runs the same loop on fixed per-dose DLT and response probabilities
instead of the pools, so that the runner can be compared with the design library's operating
characteristics.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allocart.design import AbstractDesign, OutcomeSource, ScenarioOutcomes
from allocart.design.base import TRIAL_BLOCK, PotentialOutcomes, potential_outcomes
from allocart.model.logistics import OffTheShelfSupply
from allocart.trial.paths import cohort_path
from allocart.trial.protocol import DAYS_PER_MONTH, Protocol
from allocart.trial.schedule import (
    DROPOUT_BEFORE,
    DROPOUT_FOLLOWUP,
    NOT_INFUSED,
    SCREEN_FAILURE,
    Candidates,
    draw_candidates,
    product_stock,
    schedule_cohorts,
)
from allocart.trial.timed import TIMED_DESIGNS, simulate_timed

__all__ = [
    "ChunkResult",
    "ArmTrials",
    "COUNT_NAMES",
    "simulate_chunk",
    "simulate_arm",
    "simulate_scenario",
    "chunk_ranges",
    "decision_lag_months",
    "cohort_start_times",
]

#: Per-trial counts of the calendar (last axis of :attr:`ChunkResult.counts`).
COUNT_NAMES = (
    "n_enrolled",
    "n_infused",
    "n_evaluable",
    "n_screen_failures",
    "n_dropout_before_infusion",
    "n_not_infused",
    "n_dropout_followup",
)

#: Product infusion per person of an arm's pools: (infused, days from enrolment to infusion).
Product = tuple[NDArray[np.bool_], NDArray[np.float64]]


def decision_lag_months(protocol: Protocol) -> float:
    """Months from a cohort's last infusion to the decision on the next cohort.

    ``calendar.min_followup_days``, by default the DLT window; for a design dosing by response
    (BOIN12), at least until the month of that response's assessment (``efficacy_endpoint``
    ``<name>_m<month>``).
    """
    days = protocol.calendar.min_followup_days or protocol.dlt.window_days
    lag = days / DAYS_PER_MONTH
    col = protocol.response_column
    if col:
        month = int(col.rsplit("_m", 1)[1])
        lag = max(lag, round(month * DAYS_PER_MONTH) / DAYS_PER_MONTH)
    return lag


def chunk_ranges(n_trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """Chunks ``[first, stop)`` of at most ``chunk_size`` trials, never crossing a block of
    :data:`~allocart.design.base.TRIAL_BLOCK` trials (the unit of the common random numbers)."""
    out = []
    first = 0
    size = min(chunk_size, TRIAL_BLOCK)
    while first < n_trials:
        block_end = (first // TRIAL_BLOCK + 1) * TRIAL_BLOCK
        stop = min(first + size, n_trials, block_end)
        out.append((first, stop))
        first = stop
    return out


def cohort_start_times(
    arrival: NDArray[np.float64], cohort_size: int, lag: float
) -> NDArray[np.float64]:
    """Start of treatment (months) of every patient position under the simplest calendar.

    Patient ``j`` of cohort ``c`` starts at ``max(arrival_j, decision on cohort c - 1)``; the
    decision on a cohort comes ``lag`` months after its last patient started. (What
    :func:`~allocart.trial.schedule.schedule_cohorts` gives without delays, dropouts, sentinel or
    stagger.)
    """
    n_trials, n_pat = arrival.shape
    start = np.empty_like(arrival)
    gate = np.zeros(n_trials)
    for c0 in range(0, n_pat, cohort_size):
        sl = slice(c0, min(c0 + cohort_size, n_pat))
        start[:, sl] = np.maximum(arrival[:, sl], gate[:, None])
        gate = start[:, sl].max(axis=1) + lag
    return start


@dataclasses.dataclass(frozen=True)
class ArmTrials:
    """Trials of one arm.

    Attributes
    ----------
    selected : ndarray of int, shape (m,)
        Selected dose level (0-based), -1 for none.
    dose : ndarray of int8, shape (m, n_patients)
        Dose level of each evaluable patient, -1 for positions never treated.
    start, arrival : ndarray of float, shape (m, n_patients)
        Infusion and arrival of each evaluable patient, months after the trial opened.
    person : ndarray of int, shape (m, n_patients)
        Person of the pools of each evaluable patient.
    duration : ndarray of float, shape (m,)
        Months from the trial's opening to the decision on its last cohort.
    followup_end : ndarray of float, shape (m,)
        Months to the end of the last infused patient's follow-up.
    patient_months : ndarray of float, shape (m,)
        Months of follow-up of the infused patients, summed.
    counts : ndarray of int, shape (m, len(COUNT_NAMES))
    """

    selected: NDArray[np.int64]
    dose: NDArray[np.int8]
    start: NDArray[np.float64]
    arrival: NDArray[np.float64]
    person: NDArray[np.int64]
    duration: NDArray[np.float64]
    followup_end: NDArray[np.float64]
    patient_months: NDArray[np.float64]
    counts: NDArray[np.int64]


def _gather_outcomes(po: PotentialOutcomes, cand: Candidates) -> PotentialOutcomes:
    return PotentialOutcomes(
        dlt=cand.gather(po.dlt),
        response=cand.gather(po.response),
        dlt_time=cand.gather(po.dlt_time),
    )


def simulate_arm(
    design: AbstractDesign,
    source: OutcomeSource,
    protocol: Protocol,
    first: int,
    stop: int,
    n_patients: int,
    product: Product | None = None,
    stock: OffTheShelfSupply | None = None,
) -> ArmTrials:
    """Trials ``first .. stop - 1`` of one arm under ``design`` and the protocol's calendar.

    Parameters
    ----------
    design : AbstractDesign
    source : OutcomeSource
        Per-person outcomes (:class:`~allocart.trial.pools.PoolOutcomes`) or fixed per-dose
        probabilities (:class:`~allocart.design.ScenarioOutcomes`).
    protocol : Protocol
        Calendar, accrual, DLT window, follow-up, seed.
    first, stop : int
        Trial range within one block of ``TRIAL_BLOCK``.
    n_patients : int
        Most patients a trial treats (columns of the outputs).
    product : (infused, enrol_to_infusion_days), optional
        Per person of the pools; default every person infused on the day of enrolment.
    stock : OffTheShelfSupply, optional
        The product's lot inventory (:func:`~allocart.trial.schedule.product_stock`); default
        no limit.
    """
    window = protocol.dlt_window_months
    lag = decision_lag_months(protocol)
    cal = protocol.calendar
    sentinel, stagger = cal.sentinel_days / DAYS_PER_MONTH, cal.stagger_days / DAYS_PER_MONTH
    person_of = getattr(source, "person", None)
    cand = draw_candidates(
        protocol.simulation.seed,
        first,
        stop,
        n_patients,
        protocol.accrual,
        cal,
        product if person_of is not None else None,
        person_of,
        stock,
    )
    po = _gather_outcomes(potential_outcomes(source, cand.uniforms, window), cand)
    k = int(source.n_doses)
    if isinstance(design, TIMED_DESIGNS):
        sel, _, _, duration, dose, start, who, c_enrol, c_inf, c_dose = simulate_timed(
            design,
            po.dlt,
            po.response,
            po.dlt_time,
            cand,
            window=window,
            lag=lag,
            sentinel=sentinel,
            stagger=stagger,
        )
    else:
        sel, dose = cohort_path(design, po)
        start, c_enrol, c_inf, c_dose, who = schedule_cohorts(
            dose, design.cohort_size, k, cand.arrival, cand.fate, cand.delay, cand.when,
            lag, window, sentinel, stagger,
        )  # fmt: skip
        on = dose >= 0
        duration = np.where(
            on.any(axis=1), np.nanmax(np.where(on, start, -np.inf), axis=1) + lag, 0.0
        )
    on = dose >= 0
    if not np.array_equal(who[on], cand.position[on]):  # pragma: no cover - internal invariant
        raise RuntimeError("the calendar gave a slot to another candidate than the design's")
    follow = max(protocol.followup_months * DAYS_PER_MONTH, protocol.dlt.window_days)
    follow_m = round(follow) / DAYS_PER_MONTH
    infused = ~np.isnan(c_inf)
    fu = np.where(cand.fate == DROPOUT_FOLLOWUP, cand.when * window, follow_m)
    fu = np.where(infused, fu, 0.0)
    enrolled = c_dose >= 0
    last_seen = np.where(
        enrolled.any(axis=1), enrolled.shape[1] - np.argmax(enrolled[:, ::-1], axis=1), 0
    )
    seen = np.arange(enrolled.shape[1])[None, :] < last_seen[:, None]
    counts = np.stack(
        [
            enrolled.sum(axis=1),
            infused.sum(axis=1),
            on.sum(axis=1),
            (seen & (cand.fate == SCREEN_FAILURE)).sum(axis=1),
            (enrolled & (cand.fate == DROPOUT_BEFORE)).sum(axis=1),
            (enrolled & (cand.fate == NOT_INFUSED)).sum(axis=1),
            (enrolled & (cand.fate == DROPOUT_FOLLOWUP)).sum(axis=1),
        ],
        axis=1,
    ).astype(np.int64)
    person = (
        cand.gather(person_of(cand.uniforms))
        if person_of is not None
        else np.zeros(cand.position.shape, dtype=np.int64)
    )
    return ArmTrials(
        selected=np.asarray(sel, dtype=np.int64),
        dose=np.asarray(dose, dtype=np.int8),
        start=np.where(on, start, np.nan),
        arrival=cand.gather(cand.arrival),
        person=person.astype(np.int64),
        duration=np.asarray(duration, dtype=float),
        followup_end=np.where(infused, c_inf + fu, -np.inf).max(axis=1, initial=0.0),
        patient_months=fu.sum(axis=1),
        counts=counts,
    )


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    """Replicate trials ``first .. stop - 1`` of every arm.

    Attributes
    ----------
    person, arrival, start : ndarray, shape (m, n_patients)
        Of the first arm (the protocol's own): person among the eligible people of each patient,
        arrival and infusion, months after the trial opened. The arms share them unless the
        products differ in who is infused and when: see ``person_arm`` ...
    selected : ndarray of int, shape (n_arms, m)
        Selected dose level (0-based), -1 when the trial selected none.
    dose : ndarray of int, shape (n_arms, m, n_patients)
        Dose level (0-based) of each patient position, -1 for positions never treated.
    person_arm, arrival_arm, start_arm : ndarray, shape (n_arms, m, n_patients)
        The same per arm.
    duration, followup_end, patient_months : ndarray of float, shape (n_arms, m)
        See :class:`ArmTrials`.
    counts : ndarray of int, shape (n_arms, m, len(COUNT_NAMES))
    """

    first: int
    stop: int
    person: NDArray[np.int64]
    arrival: NDArray[np.float64]
    start: NDArray[np.float64]
    selected: NDArray[np.int64]
    dose: NDArray[np.int8]
    person_arm: NDArray[np.int64]
    arrival_arm: NDArray[np.float64]
    start_arm: NDArray[np.float64]
    duration: NDArray[np.float64]
    followup_end: NDArray[np.float64]
    patient_months: NDArray[np.float64]
    counts: NDArray[np.int64]

    def to_bytes(self) -> bytes:
        """NumPy ``.npz`` serialisation (for checkpoints)."""
        buf = io.BytesIO()
        arrays: dict[str, Any] = {
            f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)
        }
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ChunkResult:
        with np.load(io.BytesIO(data)) as z:
            kw: dict[str, Any] = {f.name: z[f.name] for f in dataclasses.fields(cls)}
        kw["first"], kw["stop"] = int(kw["first"]), int(kw["stop"])
        return cls(**kw)


def simulate_chunk(
    protocol: Protocol,
    sources: Sequence[OutcomeSource],
    first: int,
    stop: int,
    products: Sequence[Product | None] | None = None,
) -> ChunkResult:
    """Simulate replicate trials ``first .. stop - 1`` of every arm.

    Parameters
    ----------
    protocol : Protocol
    sources : list of OutcomeSource
        One per arm (:func:`allocart.trial.pools.pool_outcomes`).
    first, stop : int
        Trial range, within one block of :data:`~allocart.design.base.TRIAL_BLOCK`.
    products : list, optional
        Per arm, the product's infusion per person (:func:`product_infusion`); default every
        patient infused on the day of enrolment.
    """
    design = protocol.make_design()
    n_pat = max(design.max_patients(int(s.n_doses)) for s in sources)
    prods = list(products) if products is not None else [None] * len(sources)
    # Lot inventories per arm: only pools of virtual people (not fixed probabilities) carry the
    # calendar's infusions, so the stock applies to those.
    names = [protocol.product, *(c.product for c in protocol.comparators)]
    stocks = [
        product_stock(names[i] if i < len(names) else protocol.product)
        if getattr(src, "person", None) is not None
        else None
        for i, src in enumerate(sources)
    ]
    arms = [
        simulate_arm(design, src, protocol, first, stop, n_pat, prod, stock)
        for src, prod, stock in zip(sources, prods, stocks, strict=True)
    ]

    def stack(name: str) -> NDArray:
        return np.stack([getattr(a, name) for a in arms])

    return ChunkResult(
        first=first,
        stop=stop,
        person=arms[0].person,
        arrival=arms[0].arrival,
        start=arms[0].start,
        selected=stack("selected"),
        dose=stack("dose"),
        person_arm=stack("person"),
        arrival_arm=stack("arrival"),
        start_arm=stack("start"),
        duration=stack("duration"),
        followup_end=stack("followup_end"),
        patient_months=stack("patient_months"),
        counts=stack("counts"),
    )


def product_infusion(pool: Any, eligible: NDArray[np.int64]) -> Product | None:
    """Per eligible person of one pool: whether they are infused and days from enrolment to it.

    Reads the pool's ``infused`` and ``enrol_to_infusion_days`` columns; ``None`` (every
    patient infused on the day of enrolment) when the pool has neither.
    """
    cols = set(pool.columns)
    if not {"infused", "enrol_to_infusion_days"} & cols:
        return None
    rows = pool.iloc[eligible]
    n = len(rows)
    infused = (
        rows["infused"].fillna(False).to_numpy(dtype=bool)
        if "infused" in cols
        else np.ones(n, dtype=bool)
    )
    delay = (
        rows["enrol_to_infusion_days"].astype(float).fillna(0.0).to_numpy()
        if "enrol_to_infusion_days" in cols
        else np.zeros(n)
    )
    return infused, np.clip(delay, 0.0, None)


def simulate_scenario(
    protocol: Protocol,
    p_tox: Sequence[float],
    p_eff: Sequence[float] = (),
    *,
    n_trials: int | None = None,
) -> ArmTrials:
    """The runner's replicate loop on fixed per-dose probabilities instead of the pools.

    Parameters
    ----------
    protocol : Protocol
        Design, calendar and seed (its products and pools are not used).
    p_tox, p_eff : sequence of float
        True DLT and response probability per dose level (response: zeros if omitted).
    n_trials : int, optional
        Default the protocol's ``simulation.replicates``.

    Returns
    -------
    ArmTrials
        Every trial, in order (compare with :func:`allocart.design.simulate_oc` run with the
        protocol's seed).
    """
    source = ScenarioOutcomes(p_tox=tuple(p_tox), p_eff=tuple(p_eff))
    n = protocol.simulation.replicates if n_trials is None else int(n_trials)
    design = protocol.make_design()
    n_pat = design.max_patients(source.n_doses)
    parts = [
        simulate_arm(design, source, protocol, a, b, n_pat)
        for a, b in chunk_ranges(n, protocol.simulation.chunk_size)
    ]
    return ArmTrials(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(ArmTrials)
        }
    )
