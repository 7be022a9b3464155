"""Time helpers shared by the safety scorers (intervals in days after infusion)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from allocart.clinical.records import PatientRecords
from allocart.errors import ScoringError

__all__ = ["require_day_zero", "interval", "overlaps_day", "covers", "duration_hours"]


def require_day_zero(patient: PatientRecords, what: str) -> None:
    """Refuse to score ``patient`` when its times cannot be counted from the CAR-T infusion.

    Parameters
    ----------
    patient : PatientRecords
    what : str
        What counts days from the infusion, as the message names it (e.g. ``"ICAHT"``).

    Raises
    ------
    ScoringError
        When neither ``infusion`` nor times as days after infusion are given.
    """
    if not patient.has_day_zero:
        raise ScoringError(
            f"patient {patient.patient_id!r}: {what} counts days from the CAR-T infusion; give `infusion` "
            "(the date of day 0) or times as days after infusion"
        )


def _end_of(patient: PatientRecords, t: Any) -> float:
    # A date without a time of day covers the whole day, so its interval ends at the next midnight.
    if isinstance(t, date) and not isinstance(t, datetime):
        return patient.day_of(t) + 1.0
    return patient.day_of(t)


def interval(
    patient: PatientRecords, start: Any, end: Any, *, open_end: float = math.inf
) -> tuple[float, float]:
    """``[start, end]`` in days after infusion; an open end is ``open_end`` (ongoing)."""
    lo = patient.day_of(start)
    hi = open_end if end is None else _end_of(patient, end)
    return lo, max(lo, hi)


def overlaps_day(patient: PatientRecords, start: Any, end: Any, day: int) -> bool:
    """Whether the course ``start``..``end`` (end inclusive, None = ongoing) touches calendar ``day``."""
    first = patient.calendar_day(start)
    last = math.inf if end is None else patient.calendar_day(end)
    return first <= day <= last


def covers(patient: PatientRecords, start: Any, end: Any, t: float) -> bool:
    """Whether the interval ``start``..``end`` contains time ``t`` (days)."""
    lo, hi = interval(patient, start, end)
    if end is None:
        return lo <= t
    return lo <= t <= hi


def duration_hours(patient: PatientRecords, start: Any, end: Any) -> float:
    """Duration in hours; date-only times give whole days (end - start), ongoing gives inf."""
    if end is None:
        return math.inf
    return (patient.day_of(end) - patient.day_of(start)) * 24.0
