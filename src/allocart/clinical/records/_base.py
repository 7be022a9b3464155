"""Shared pieces of the clinical record types: times, attribution and the frozen base models.

Times are ISO 8601 dates, ISO 8601 date-times (converted to UTC) or days after the CAR-T
infusion (day 0 = infusion day); see :mod:`allocart.clinical.records` for the conventions.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

__all__ = ["Attribution", "CalendarTime", "Time"]


def _parse_time(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(
            "a time must be an ISO 8601 date or date-time, or days after infusion; got a boolean"
        )
    if isinstance(value, (int, float)):
        try:
            days = float(value)
        except OverflowError:  # an integer beyond the largest float
            days = math.inf
        if not math.isfinite(days):
            shown = (
                repr(value)
                if len(repr(value)) <= 30
                else f"{str(value)[:12]}... ({len(str(value))} digits)"
            )
            raise ValueError(f"a time in days must be finite; got {shown}")
        return days
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:  # 9999-12-31T23:00-14:00 is past the last date in UTC
                raise ValueError(
                    f"{value.isoformat()!r} lies outside the calendar (years 1-9999) in UTC"
                ) from None
        return value
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _parse_iso(
            value,
            "a time: use an ISO 8601 date (2024-03-05), date-time (2024-03-05T14:30) "
            "or a number of days after infusion",
        )
    raise ValueError(f"cannot read {value!r} as a time")


def _parse_iso(value: str, expected: str) -> date | datetime:
    """An ISO 8601 date (10 characters) or date-time string; ``expected`` ends the error."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return _parse_time(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"cannot read {value!r} as {expected}") from None


#: A time: ISO date, ISO date-time, or days after infusion (day 0 = infusion day).
Time = Annotated[date | datetime | float, BeforeValidator(_parse_time)]


def _parse_date(value: Any) -> Any:
    """A calendar date field: an ISO 8601 string (or a date), never a number.

    A number would otherwise be read as seconds since 1970 (20240105 -> 1970-08-23).
    """
    if isinstance(value, (bool, int, float)):
        kind = "boolean" if isinstance(value, bool) else "number"
        raise ValueError(
            'must be an ISO 8601 date or date-time string such as "2024-01-05", '
            f"got the {kind} {value!r}"
        )
    if isinstance(value, str):
        return _parse_iso(
            value, "a date: use an ISO 8601 date (2024-01-05) or date-time (2024-01-05T14:30)"
        )
    return _parse_time(value) if isinstance(value, datetime) else value


#: A calendar date or date-time (ISO 8601 string); numbers are refused.
CalendarTime = Annotated[date | datetime, BeforeValidator(_parse_date)]

#: Cause a finding is attributed to. ``"sle"`` = the disease; ``"unspecified"`` = not recorded.
Attribution = Literal[
    "sle",
    "crs",
    "icans",
    "iec_hs",
    "licats",
    "gvhd",
    "car_t",
    "infection",
    "drug",
    "lymphodepletion",
    "damage",
    "other",
    "unspecified",
]


def _sort_key(value: date | datetime | float) -> datetime | float:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def _check_order(start: Any, end: Any, start_name: str, end_name: str) -> None:
    if end is None:
        return
    a, b = _sort_key(start), _sort_key(end)
    if isinstance(a, float) and isinstance(b, float):
        backwards = b < a
    elif isinstance(a, datetime) and isinstance(b, datetime):
        backwards = b < a
    else:
        raise ValueError(
            f"`{start_name}` and `{end_name}` must both be calendar times or both days after infusion"
        )
    if backwards:
        raise ValueError(
            f"`{end_name}` ({end}) is before `{start_name}` ({start}); dates are out of order"
        )


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class _Span(_Record):
    """A record over ``start``..``end``: ``end`` may not come before ``start``.

    Each subclass declares its own ``start`` and ``end`` fields (their place among the fields and
    their descriptions differ); this check runs before any check of the subclass.
    """

    if TYPE_CHECKING:
        start: Any
        end: Any

    @model_validator(mode="after")
    def _check_span(self) -> Self:
        _check_order(self.start, self.end, "start", "end")
        return self
