"""Calendar times of patient data: ISO 8601 dates and date-times, and days from the infusion.

Day 0 of a dataset is the CAR-T infusion (its time of day when the source gives it, midnight
otherwise); the clinical records count days from the whole infusion day (see
:mod:`allocart.clinical.records`). SDTM ``--DTC`` values carry seconds at most, so shifts are
rounded to the second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = ["format_iso", "parse_iso", "record_day", "shift_days"]


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time (SDTM ``--DTC``) to a naive datetime.

    Raises
    ------
    ValueError
        If ``text`` is not a complete date (partial SDTM dates such as ``2014-03`` have no day).
    """
    s = str(text).strip()
    if len(s) == 10:
        d = date.fromisoformat(s)
        return datetime(d.year, d.month, d.day)
    value = datetime.fromisoformat(s)
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00-14:00 is past the last date in UTC
            raise ValueError(f"{s!r} lies outside the calendar (years 1-9999) in UTC") from None
    return value


def format_iso(value: datetime) -> str:
    """ISO 8601 date when at midnight, else date-time to the second."""
    if value.hour == value.minute == value.second == 0 and value.microsecond == 0:
        return value.date().isoformat()
    return value.replace(microsecond=0).isoformat()


def shift_days(origin: datetime, days: float) -> datetime:
    """``origin`` plus ``days``, rounded to the second (the precision SDTM date-times carry)."""
    return origin + timedelta(seconds=round(days * 86400.0))


def record_day(origin: datetime | None, days_after_infusion: float) -> float:
    """Record time (day 0 = the whole infusion day) of an instant ``days_after_infusion``."""
    if origin is None:
        return float(days_after_infusion)
    instant = shift_days(origin, days_after_infusion)
    return (instant - datetime(origin.year, origin.month, origin.day)).total_seconds() / 86400.0
