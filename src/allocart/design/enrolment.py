"""Enrolment in calendar time: candidates, slots and cohorts, as the simulation kernels take them.

The designs that decide in calendar time (TITE-BOIN, BF-BOIN) depend on when their patients
start. Their kernels enrol patients through the functions below, from an :class:`Enrolment`: the
candidates who arrive one after another, each with one fate, and the calendar's rules (decision
lag, sentinel wait, stagger). Each candidate ``i`` of trial ``t`` has one fate code:

* ``EVALUABLE``: infused and followed: the design sees this patient;
* ``SCREEN_FAILURE``: never enrolled;
* ``DROPOUT_BEFORE``: enrolled, leaves before the infusion (uniformly within the wait);
* ``NOT_INFUSED``: enrolled, not infused by the product; leaves ``delay`` after enrolment;
* ``DROPOUT_FOLLOWUP``: infused, leaves the DLT window without a DLT; not evaluable.

The design's patient ``j`` is the ``j``-th evaluable candidate. :func:`plain_accrual` is the
design library's own calendar (every candidate evaluable and treated on arrival, decisions one
DLT window after a cohort's last patient); the virtual-trial runner builds the protocol's.

Slots. A cohort's patients are taken one slot at a time (:func:`fill_slot`): the next candidate is
enrolled at the later of their arrival and the slot's opening, infused ``delay`` later but not
before the earliest infusion the calendar allows (stagger, sentinel). A candidate who leaves frees
the slot at the time they leave and the next candidate takes it. Times are in months.

References
----------
Yuan Y., Lin R., Li D., Nie L. and Warren K.E. (2018). Time-to-event Bayesian optimal interval
design to accelerate phase I trials. *Clin Cancer Res* 24:4921-4930 (accrual in calendar time).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import kernel_outputs
from allocart.design.oc import Accrual
from allocart.errors import DesignError

__all__ = [
    "EVALUABLE",
    "SCREEN_FAILURE",
    "DROPOUT_BEFORE",
    "NOT_INFUSED",
    "DROPOUT_FOLLOWUP",
    "FATES",
    "Enrolment",
    "plain_accrual",
    "calendar_outputs",
    "enrolment_records",
    "open_trial",
    "fill_slot",
    "fill_cohort",
    "enrol_cohort",
    "next_arrival",
    "treat_patient",
    "trial_end",
]

EVALUABLE, SCREEN_FAILURE, DROPOUT_BEFORE, NOT_INFUSED, DROPOUT_FOLLOWUP = 0, 1, 2, 3, 4

#: Names of the fates, by code.
FATES = (
    "evaluable",
    "screen_failure",
    "dropout_before_infusion",
    "not_infused",
    "dropout_followup",
)


class Enrolment(NamedTuple):
    """The candidates of a block of trials and the calendar's rules, as the kernels take them.

    Attributes
    ----------
    arrival : ndarray of float, shape (m, n_candidates)
        Arrival, months after the trial opened (non-decreasing along a row).
    fate : ndarray of int8, shape (m, n_candidates)
        One of the fate codes (``EVALUABLE`` ...).
    delay : ndarray of float, shape (m, n_candidates)
        Enrolment to infusion, months.
    when : ndarray of float, shape (m, n_candidates)
        Uniform placing a dropout within the wait or the DLT window.
    position : ndarray of int64, shape (m, n_patients)
        Candidate of the design's patient ``j`` (the ``j``-th evaluable candidate).
    lag : float
        Minimum follow-up of a cohort's last patient before the decision on it, months.
    sentinel, stagger : float
        Wait after the first patient at a new dose, and between consecutive infusions, months.
    """

    arrival: NDArray[np.float64]
    fate: NDArray[np.int8]
    delay: NDArray[np.float64]
    when: NDArray[np.float64]
    position: NDArray[np.int64]
    lag: float
    sentinel: float
    stagger: float


def plain_accrual(
    arrivals: NDArray[np.float64] | None, accrual: Accrual | None, design: str
) -> tuple[Enrolment, float]:
    """The design library's calendar and DLT window (months) for the calendar design ``design``.

    Patient ``j`` is candidate ``j``, arriving at ``arrivals[:, j]`` (months) and treated on
    arrival: every candidate is evaluable and infused on enrolment, without sentinel or stagger,
    and a decision comes one DLT window of ``accrual`` after a cohort's last patient started.

    Raises
    ------
    DesignError
        Without ``accrual`` (or ``arrivals``), naming ``design``.
    """
    if accrual is None or arrivals is None:
        raise DesignError(f"{design} needs `accrual_per_month` and `dlt_window_months`.")
    window = float(accrual.dlt_window_months)
    arrival = np.ascontiguousarray(arrivals, dtype=np.float64)
    m, n = arrival.shape
    zeros = np.zeros((m, n))
    position = np.ascontiguousarray(np.broadcast_to(np.arange(n, dtype=np.int64), (m, n)))
    cal = Enrolment(
        arrival, np.zeros((m, n), dtype=np.int8), zeros, zeros, position, window, 0.0, 0.0
    )
    return cal, window


# The small helpers below are inlined where they are called (numba's inline="always"): fewer
# functions to compile on a kernel's first call.
@numba.njit(cache=True, inline="always")
def calendar_outputs(dlt: np.ndarray, cal: Enrolment) -> tuple[Any, ...]:  # pragma: no cover
    """The arrays a calendar kernel returns, before its trials are run.

    ``(selected, N, Y)`` of :func:`~allocart.design.base.kernel_outputs`, each trial's duration
    (months, zeros) and the records of :func:`enrolment_records`, for the ``dlt`` outcomes (shape
    (m, n_patients, n_doses)) of the candidates of ``cal``.
    """
    n_trials, n_pat, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    return sel, N, Y, np.zeros(n_trials), enrolment_records(n_trials, n_pat, cal.arrival.shape[1])


@numba.njit(cache=True, inline="always")
def open_trial(seen: np.ndarray) -> tuple[int, int, float]:  # pragma: no cover - jitted
    """Open a trial: no dose given yet (``seen`` cleared); returns the first candidate, the first
    patient and the time (0 months).

    The counters come back typed int64 rather than as the literal 0, so that the enrolment
    functions compile for one signature only.
    """
    seen[:] = False
    return np.int64(0), np.int64(0), 0.0  # type: ignore[return-value]  # int64 counters


@numba.njit(cache=True)
def enrolment_records(m: int, n_pat: int, n_cand: int) -> tuple[Any, ...]:  # pragma: no cover
    """Empty records of ``m`` trials: per patient their dose (-1: not treated), infusion (NaN) and
    candidate (-1); per candidate their enrolment (NaN), infusion (NaN) and dose (-1)."""
    pdose = np.full((m, n_pat), -1, dtype=np.int8)
    pstart = np.full((m, n_pat), np.nan)
    cand = np.full((m, n_pat), -1, dtype=np.int64)
    c_enrol = np.full((m, n_cand), np.nan)
    c_inf = np.full((m, n_cand), np.nan)
    c_dose = np.full((m, n_cand), -1, dtype=np.int64)
    return pdose, pstart, cand, c_enrol, c_inf, c_dose


@numba.njit(cache=True, inline="always")
def next_arrival(cal: Enrolment, t: int, i: int) -> float:  # pragma: no cover - jitted
    """Arrival of the next candidate of trial ``t`` from ``i`` on who passes screening (inf if none)."""
    while i < cal.arrival.shape[1]:
        if cal.fate[t, i] != SCREEN_FAILURE:
            return cal.arrival[t, i]
        i += 1
    return np.inf


@numba.njit(cache=True, inline="always")
def fill_slot(
    cal: Enrolment,
    rec: tuple[Any, ...],
    t: int,
    i: int,
    p: int,
    opens: float,
    earliest_infusion: float,
    gap: float,
    dose: int,
    window: float,
) -> tuple[int, float]:  # pragma: no cover - jitted
    """Fill the slot of patient ``p`` of trial ``t``, from candidate ``i`` on.

    The slot opens at ``opens``; an infusion comes no earlier than ``earliest_infusion``, and
    after an infused candidate who leaves, no earlier than their infusion plus ``gap``. Screening
    failures are skipped; every candidate enrolled is recorded in ``rec`` (enrolment, infusion,
    NaN if never infused, and ``dose``), and so are the infusion and the candidate of the evaluable
    one who takes the slot (candidate -1 and infusion inf if none is left). Returns the next
    candidate and the infusion.
    """
    # The arrays are read through ``cal`` and ``rec`` where they are used, not bound to local
    # names: a local name would hold a reference counted across the loop, at every call.
    inf = np.inf
    who = -1
    while i < cal.arrival.shape[1]:
        f = cal.fate[t, i]
        if f == SCREEN_FAILURE:
            i += 1
            continue
        e = max(cal.arrival[t, i], opens)
        inf = max(e + cal.delay[t, i], earliest_infusion)
        rec[3][t, i] = e
        rec[5][t, i] = dose
        if f == DROPOUT_BEFORE:  # leaves uniformly in the wait: the slot opens then
            opens = max(opens, e + cal.when[t, i] * (inf - e))
            i += 1
            continue
        if f == NOT_INFUSED:  # leaves ``delay`` after enrolment
            opens = max(opens, e + cal.delay[t, i])
            i += 1
            continue
        rec[4][t, i] = inf
        if f == DROPOUT_FOLLOWUP:  # infused, leaves the DLT window: not evaluable
            opens = max(opens, inf + cal.when[t, i] * window)
            earliest_infusion = max(earliest_infusion, inf + gap)
            i += 1
            continue
        who = i
        i += 1
        break
    if who < 0:
        inf = np.inf
    rec[1][t, p] = inf
    rec[2][t, p] = who
    return i, inf


@numba.njit(cache=True, inline="always")
def fill_cohort(
    cal: Enrolment,
    rec: tuple[Any, ...],
    t: int,
    i: int,
    p: int,
    opens: float,
    dose: int,
    cs: int,
    first_at_dose: bool,
    window: float,
) -> tuple[int, float]:  # pragma: no cover - jitted
    """Fill the ``cs`` slots of a cohort at ``dose`` (patients ``p ..`` of trial ``t``).

    Consecutive infusions are ``cal.stagger`` apart; at a dose given to nobody before
    (``first_at_dose``) the second patient waits ``max(cal.sentinel, cal.stagger)`` after the
    first. Returns the next candidate and the last infusion.
    """
    earliest = opens
    last = opens
    for s in range(cs):
        gap = cal.stagger
        if first_at_dose and s == 0:
            gap = max(cal.sentinel, cal.stagger)
        i, inf = fill_slot(cal, rec, t, i, p + s, opens, earliest, gap, dose, window)
        earliest = inf + gap
        last = inf
    return i, last


@numba.njit(cache=True, inline="always")
def treat_patient(
    dlt: np.ndarray, rec: tuple[Any, ...], t: int, p: int, d: int, N: np.ndarray, Y: np.ndarray
) -> int:  # pragma: no cover - jitted
    """Record patient ``p`` of trial ``t`` at dose ``d`` with their outcome; returns ``p + 1``."""
    rec[0][t, p] = d
    N[t, d] += 1
    Y[t, d] += dlt[t, p, d]
    return p + 1


@numba.njit(cache=True, inline="always")
def enrol_cohort(
    dlt: np.ndarray,
    cal: Enrolment,
    rec: tuple[Any, ...],
    t: int,
    i: int,
    p: int,
    opens: float,
    d: int,
    cs: int,
    seen: np.ndarray,
    window: float,
    N: np.ndarray,
    Y: np.ndarray,
) -> tuple[int, int, float]:  # pragma: no cover - jitted
    """Enrol and treat a cohort of ``cs`` patients at dose ``d`` whose slots open at ``opens``.

    ``seen`` marks the doses given before (the sentinel rule); ``N`` and ``Y`` count patients and
    DLTs. Returns the next candidate, the next patient and the last infusion.
    """
    i, last = fill_cohort(cal, rec, t, i, p, opens, d, cs, not seen[d], window)
    seen[d] = True
    for _ in range(cs):
        p = treat_patient(dlt, rec, t, p, d, N, Y)
    return i, p, last


@numba.njit(cache=True, inline="always")
def trial_end(
    end: float, pstart: np.ndarray, p: int, window: float
) -> float:  # pragma: no cover - jitted
    """Calendar end of a trial: ``end``, or the close of a later DLT window of patients ``0 .. p - 1``."""
    for i in range(p):
        end = max(end, pstart[i] + window)
    return end
