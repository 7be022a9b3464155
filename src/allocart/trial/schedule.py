"""The trial calendar: candidates, enrolment, infusion and the decision times.

Candidates arrive at the sites one after another (:class:`~allocart.trial.calendar.Accrual`).
Each candidate ``i`` of trial ``t`` is a person of the pools (the design library's common random
numbers, column ``i``) and has one fate, drawn before the trial from uniforms of its own:

* ``SCREEN_FAILURE``: never enrolled;
* ``NOT_INFUSED``: enrolled, but the product says so (the pools' ``infused`` column: a failed
  manufacturing run, a flare while waiting...); leaves ``enrol_to_infusion_days`` after
  enrolment (for them, the time to leaving the study) and is replaced;
* ``DROPOUT_BEFORE``: enrolled, leaves before the infusion; replaced;
* ``DROPOUT_FOLLOWUP``: infused, leaves the DLT window without a DLT; not evaluable, replaced;
* ``EVALUABLE``: infused and followed: the design sees this patient.

The design sees only evaluable patients, in order: its patient ``j`` is the ``j``-th evaluable
candidate. With every probability 0 and every product infused, candidate ``j`` is patient ``j``,
and the trials are those of the design library's own simulation.

Slots. A cohort's patients are taken one slot at a time
(:func:`~allocart.design.enrolment.fill_slot`, compiled with the designs' kernels): the next candidate is
enrolled at the later of their arrival and the slot's opening, infused ``enrol_to_infusion`` later
(0 for a product in stock) but not before the earliest infusion the calendar allows (stagger,
sentinel). A candidate who leaves frees the slot at the time they leave (uniformly within the wait
for the infusion, or within the DLT window), and the next candidate takes it. The decision on a
cohort comes ``lag`` months (the minimum follow-up) after its last evaluable infusion, and the
next cohort's slots open then.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import TRIAL_BLOCK, PatientUniforms, draw_patient_uniforms
from allocart.design.enrolment import (
    DROPOUT_BEFORE,
    DROPOUT_FOLLOWUP,
    EVALUABLE,
    NOT_INFUSED,
    SCREEN_FAILURE,
    Enrolment,
    enrolment_records,
    fill_cohort,
    open_trial,
)
from allocart.design.oc import arrival_times
from allocart.model.logistics import OffTheShelfSupply, inventory_delays
from allocart.model.products import load_product
from allocart.trial.calendar import Accrual, Calendar
from allocart.trial.protocol import DAYS_PER_MONTH

__all__ = [
    "Candidates",
    "draw_candidates",
    "schedule_cohorts",
]

#: Stream numbers of the calendar's own uniforms (the design library uses 0-3).
_STREAMS = {"screen": 100, "before": 101, "followup": 102, "when": 103}


def arrivals_from(u_arrival: NDArray[np.float64], accrual: Accrual) -> NDArray[np.float64]:
    """Arrival times (months) of the candidates, shape kept.

    Poisson: cumulative exponential gaps of mean ``1 / per_month`` from the uniforms
    (:func:`allocart.design.oc.arrival_times`); fixed: candidate ``i`` arrives at
    ``(i + 1) / per_month``.
    """
    if accrual.process == "fixed":
        n = u_arrival.shape[1]
        return np.broadcast_to(np.arange(1, n + 1) / accrual.per_month, u_arrival.shape).astype(
            float
        )
    return arrival_times(u_arrival, accrual.per_month)


def _own_uniforms(seed: int, first: int, stop: int, n: int, stream: int) -> NDArray[np.float64]:
    """Uniforms of the calendar, keyed like the design library's (seed, block, stream, column)."""
    block = first // TRIAL_BLOCK
    lo = first - block * TRIAL_BLOCK
    out = np.empty((stop - first, n))
    for j in range(n):
        out[:, j] = np.random.default_rng([seed, block, stream, j]).random(TRIAL_BLOCK)[
            lo : lo + stop - first
        ]
    return out


@dataclasses.dataclass(frozen=True)
class Candidates:
    """The candidates of trials ``first .. stop - 1`` of one arm.

    Attributes
    ----------
    uniforms : PatientUniforms
        The design library's common random numbers, one column per candidate.
    arrival, fate, delay, when, position : ndarray
        Arrival (months), fate code, enrolment to infusion (months), dropout uniform, and the
        candidate of each of the design's patients: the fields of the same names of
        :class:`~allocart.design.enrolment.Enrolment` (:meth:`enrolment`).
    """

    uniforms: PatientUniforms
    arrival: NDArray[np.float64]
    fate: NDArray[np.int8]
    delay: NDArray[np.float64]
    when: NDArray[np.float64]
    position: NDArray[np.int64]

    def enrolment(self, lag: float, sentinel: float, stagger: float) -> Enrolment:
        """The candidates with the calendar's decision lag, sentinel wait and stagger (months),
        as the compiled enrolment takes them."""
        return Enrolment(
            self.arrival,
            self.fate,
            self.delay,
            self.when,
            self.position,
            float(lag),
            float(sentinel),
            float(stagger),
        )

    def gather(self, values: NDArray) -> NDArray:
        """``values`` of the candidates, shape (m, n_candidates, ...), at the design's patients."""
        rows = np.arange(self.position.shape[0])[:, None]
        return values[rows, self.position]


def draw_candidates(
    seed: int,
    first: int,
    stop: int,
    n_patients: int,
    accrual: Accrual,
    calendar: Calendar,
    product: tuple[NDArray[np.bool_], NDArray[np.float64]] | None = None,
    person: object = None,
    stock: OffTheShelfSupply | None = None,
) -> Candidates:
    """Draw enough candidates that every trial has ``n_patients`` evaluable ones.

    Parameters
    ----------
    seed, first, stop : int
        Seed and trial range (within one block of ``TRIAL_BLOCK``).
    n_patients : int
        Patients the design may treat.
    accrual, calendar
        The protocol's rules.
    product : (infused, delay_days), optional
        Per person of the pools: whether they are infused and the days from enrolment to
        infusion; default every person, on the day of enrolment.
    person : callable, optional
        Maps the uniforms to the persons of the pools (``PoolOutcomes.person``); needed with
        ``product``.
    stock : OffTheShelfSupply, optional
        The lot inventory of an off-the-shelf product: each candidate who is infused takes a
        dose, first come first served, and one arriving while none is left waits for the next
        lot (:func:`allocart.model.logistics.inventory_delays`). The wait is counted from the
        candidate's arrival, so a candidate who also waits for a slot may wait a little longer
        than the stock alone requires (conservative). Default: no stock limit.
    """
    q = calendar.evaluable_probability
    if product is not None:
        q *= max(float(np.mean(product[0])), 0.05)
    n = n_patients if q >= 1.0 else int(math.ceil(n_patients / q * 1.5)) + 10
    while True:
        cand = _draw(seed, first, stop, n, n_patients, accrual, calendar, product, person, stock)
        if cand is not None:
            return cand
        n *= 2


def _draw(
    seed: int,
    first: int,
    stop: int,
    n: int,
    n_patients: int,
    accrual: Accrual,
    calendar: Calendar,
    product: tuple[NDArray[np.bool_], NDArray[np.float64]] | None,
    person: object,
    stock: OffTheShelfSupply | None = None,
) -> Candidates | None:
    block = first // TRIAL_BLOCK * TRIAL_BLOCK
    u = draw_patient_uniforms(seed, block, stop - block, n)
    sl = slice(first - block, stop - block)
    u = PatientUniforms(tox=u.tox[sl], eff=u.eff[sl], onset=u.onset[sl], arrival=u.arrival[sl])
    m = stop - first
    fate = np.zeros((m, n), dtype=np.int8)
    delay = np.zeros((m, n))
    if product is not None:
        who = person(u)  # type: ignore[operator]
        delay = product[1][who] / DAYS_PER_MONTH
        fate[~product[0][who]] = NOT_INFUSED
    own = {
        k: _own_uniforms(seed, first, stop, n, s) if p > 0 else None
        for k, s, p in (
            ("screen", _STREAMS["screen"], calendar.screen_failure),
            ("before", _STREAMS["before"], calendar.dropout_before_infusion),
            ("followup", _STREAMS["followup"], calendar.dropout_followup),
            (
                "when",
                _STREAMS["when"],
                calendar.dropout_before_infusion + calendar.dropout_followup,
            ),
        )
    }
    when = own["when"] if own["when"] is not None else np.zeros((m, n))
    if own["before"] is not None:
        fate[(fate == EVALUABLE) & (own["before"] < calendar.dropout_before_infusion)] = (
            DROPOUT_BEFORE
        )
    if own["followup"] is not None:
        fate[(fate == EVALUABLE) & (own["followup"] < calendar.dropout_followup)] = DROPOUT_FOLLOWUP
    if own["screen"] is not None:
        fate[own["screen"] < calendar.screen_failure] = SCREEN_FAILURE
    ok = fate == EVALUABLE
    if (ok.sum(axis=1) < n_patients).any():
        return None
    # Stable order of the evaluable candidates: the j-th True of each row.
    position = np.argsort(~ok, axis=1, kind="stable")[:, :n_patients].astype(np.int64)
    arrival = arrivals_from(u.arrival, accrual)
    if stock is not None:
        delay = delay + _stock_wait(arrival, fate, stock)
    return Candidates(
        uniforms=u,
        arrival=arrival,
        fate=fate,
        delay=delay,
        when=when,
        position=position,
    )


def _stock_wait(
    arrival: NDArray[np.float64], fate: NDArray[np.int8], stock: OffTheShelfSupply
) -> NDArray[np.float64]:
    """Months each candidate waits for a dose of the stock (0 for those who take none)."""
    takes = (fate == EVALUABLE) | (fate == DROPOUT_FOLLOWUP)
    days = np.where(takes, arrival * DAYS_PER_MONTH, np.nan)
    wait = np.stack([inventory_delays(row, stock) for row in days])
    return np.nan_to_num(wait, nan=0.0) / DAYS_PER_MONTH


@functools.lru_cache(maxsize=32)  # read once per process, not once per chunk of trials
def product_stock(product: str) -> OffTheShelfSupply | None:
    """The lot inventory of a product (a built-in name or a YAML path); None when made per patient."""
    logistics = load_product(product).logistics
    supply = logistics.supply if logistics is not None else None
    return supply if isinstance(supply, OffTheShelfSupply) else None


# --------------------------------------------------------------------------- compiled calendar
def schedule_cohorts(
    dose: NDArray[np.int8],
    cs: int,
    k: int,
    arrival: NDArray[np.float64],
    fate: NDArray[np.int8],
    delay: NDArray[np.float64],
    when: NDArray[np.float64],
    lag: float,
    window: float,
    sentinel: float,
    stagger: float,
) -> tuple[NDArray[np.float64], ...]:
    """Calendar of trials whose dose path does not depend on time (3+3, BOIN, BOIN12, CRM).

    ``dose`` (shape (m, n_patients), -1 after the trial stopped) is the design's path over its
    evaluable patients; ``cs`` patients per cohort, ``k`` doses; the candidates' ``arrival``,
    ``fate``, ``delay`` and ``when`` as in :class:`Candidates`; ``lag``, ``window``, ``sentinel``
    and ``stagger`` in months. Returns each patient's infusion (months), each candidate's
    enrolment, infusion (NaN when not) and dose (-1 when not enrolled), and the candidate of each
    patient.
    """
    position = np.zeros((0, 0), dtype=np.int64)  # not read: the path gives each cohort's dose
    cal = Enrolment(
        arrival, fate, delay, when, position, float(lag), float(sentinel), float(stagger)
    )
    rec = _schedule(dose, cs, k, cal, float(window))
    return rec[1], rec[3], rec[4], rec[5], rec[2]


@numba.njit(cache=True)
def _schedule(
    dose: np.ndarray, cs: int, k: int, cal: Enrolment, window: float
) -> tuple[np.ndarray, ...]:  # pragma: no cover - jitted
    m, n_pat = dose.shape
    rec = enrolment_records(m, n_pat, cal.arrival.shape[1])
    seen = np.zeros(k, dtype=np.bool_)
    for t in range(m):
        i, _, opens = open_trial(seen)
        for p in range(0, n_pat, cs):
            d = dose[t, p]
            if d < 0:
                break
            i, last = fill_cohort(cal, rec, t, i, p, opens, d, cs, not seen[d], window)
            seen[d] = True
            opens = last + cal.lag
    return rec
