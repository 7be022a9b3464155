"""Reading SDTM cells: ``--DTC`` dates (complete, partial or missing), upper-cased text,
results below a limit (``<0.1``), SLEDAI-2K descriptors, lymphodepletion regimens, and
problems of the clinical records' checks worded with the SDTM column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from allocart.clinical.records import SLEDAI_DESCRIPTORS
from allocart.data.problems import Problem
from allocart.data.sdtm.codes import SLEDAI_ALIASES
from allocart.data.tables import MISSING
from allocart.data.times import parse_iso

__all__ = [
    "censor_problem",
    "censor_text",
    "date_problem",
    "infer_ld",
    "parse_dtc",
    "pydantic_problem",
    "sledai_descriptor",
    "upper_cell",
]


def parse_dtc(text: str) -> datetime | None | Literal["partial"]:
    """Parse an SDTM ``--DTC``: a datetime, None when empty, or ``"partial"`` for a partial date.

    Raises
    ------
    ValueError
        If the text is not an ISO 8601 date or date-time at all.
    """
    s = (text or "").strip()
    if s in MISSING:
        return None
    if re.fullmatch(r"\d{4}(-\d{2})?", s) or re.fullmatch(r"\d{4}-[\d-]*", s) and "--" in s:
        return "partial"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", s):
        s += ":00"  # hours only
    return parse_iso(s)


def date_problem(text: Any, exc: ValueError) -> str:
    """Why ``text`` of a ``--DTC`` column is refused (``exc`` from :func:`parse_dtc`)."""
    if "calendar" in str(exc):  # an ISO date-time whose time zone leaves the calendar
        return str(exc)
    return f"{text!r} is not an ISO 8601 date or date-time"


def upper_cell(r: dict[str, str], col: str) -> str:
    return str(r.get(col, "") or "").strip().upper()


def pydantic_problem(
    exc: ValidationError, file: str, row: int, columns: Mapping[str, str]
) -> Problem:
    err = exc.errors()[0]
    loc = str(err["loc"][0]) if err["loc"] else ""
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across fields: the message names the field in backticks
        named = re.findall(r"`(\w+)`", msg)
        loc = next((n for n in named if n in columns), "value")
    return Problem(file, row, columns.get(loc), msg)


def infer_ld(kinds: set[str]) -> str | None:
    if {"fludarabine", "cyclophosphamide"} <= kinds:
        return "flu-cy"
    if kinds == {"cyclophosphamide"}:
        return "cy-only"
    return None


def sledai_descriptor(code: str, test: str) -> str | None:
    for text in (code, test):
        key = re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")
        key = SLEDAI_ALIASES.get(key, key)
        if key in SLEDAI_DESCRIPTORS:
            return key
    return None


def censor_text(text: str) -> float | None:
    """The LLOQ of a result written as below it (``<0.1``); None for another result, NaN
    when the limit after ``<`` is not a finite number (``<.``, ``<1e400``)."""
    m = re.fullmatch(r"\s*(?:<|BLQ\s*<?|<\s*LLOQ\s*)\s*([0-9.eE+-]+)\s*", text or "")
    if not m:
        return None
    try:
        value = float(m.group(1))
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def censor_problem(text: str) -> str:
    return f"{text!r} is below a limit that is not a finite number; write the LLOQ, e.g. '<0.1'"
