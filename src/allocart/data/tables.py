"""Reading raw tables (CSV, SAS XPORT) as text, and checked conversions of their cells.

Every cell is read as text first so that a bad value is reported with its file, row and
column instead of silently turning the whole column into strings or NaN. Row numbers are
file line numbers (the header is row 1, the first data row is row 2), which is also what a
spreadsheet shows; for SAS XPORT files the first record is row 2 for the same reason.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from allocart.data.problems import Problem
from allocart.errors import DataError

__all__ = ["FIRST_DATA_ROW", "MISSING", "column_list", "number", "read_text_table"]

#: Row number of the first data row (the header is row 1).
FIRST_DATA_ROW = 2

#: Cell texts that mean "missing" (NONMEM writes ".").
MISSING = frozenset({"", ".", "NA", "NaN", "nan", "NULL"})


def read_text_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` or SAS XPORT ``.xpt`` table with every cell as stripped text.

    Column names are upper-cased. XPORT text is decoded as UTF-8, falling back to
    Windows-1252 (SAS on Windows writes it; the CDISC pilot does).

    Raises
    ------
    DataError
        If the file does not exist, is not a table, or has an unknown suffix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        elif suffix == ".xpt":
            with warnings.catch_warnings():
                # a file cut short: refused, not read as far as it goes with a warning on stderr
                warnings.filterwarnings("error", message="xport file may be corrupted")
                try:
                    frame = pd.read_sas(path, format="xport", encoding="utf-8")
                except UnicodeDecodeError:
                    frame = pd.read_sas(path, format="xport", encoding="cp1252")
            frame = frame.map(_xpt_text)
        else:
            raise DataError(
                f"{path}: unknown table format {suffix!r}; use .csv or .xpt (SAS XPORT)"
            )
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - the parsers of a damaged file raise KeyError, TypeError, StopIteration...
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(
            f"{path}: cannot read it as {'a CSV' if suffix == '.csv' else 'a SAS XPORT'} table: {why}"
        ) from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    return frame.map(lambda v: v.strip() if isinstance(v, str) else v).astype(object)


_PLAIN_COLUMN = re.compile(r"[A-Z0-9_]+\Z")


def column_list(columns: Iterable[object]) -> str:
    """Column names for a message: ``ID, TIME, 'WT (kg)'`` (an odd name quoted, so it shows)."""
    return (
        ", ".join(str(c) if _PLAIN_COLUMN.match(str(c)) else repr(str(c)) for c in columns)
        or "none"
    )


def _xpt_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        # IBM floating point has no exact zero in some writers: pandas returns 16**-65,
        # the smallest IBM magnitude, for a stored 0 (seen in the CDISC pilot's EXDOSE).
        if abs(value) < 1e-70:
            return "0"
        return (
            repr(value)
            if not value.is_integer()
            else str(int(value))
            if abs(value) < 1e15
            else repr(value)
        )
    if isinstance(value, bytes):
        return value.decode("cp1252", errors="replace")
    return str(value)


def number(
    text: str, file: str, row: int, column: str, problems: list[Problem], *, required: bool = True
) -> float:
    """Parse a numeric cell; append a :class:`Problem` and return NaN when it is not a number.

    A missing cell (see :data:`MISSING`) gives NaN, and a problem only when ``required``.
    """
    s = "" if text is None else str(text).strip()
    if s in MISSING:
        if required:
            problems.append(Problem(file, row, column, "missing value; a number is required here"))
        return math.nan
    try:
        value = float(s)
    except ValueError:
        problems.append(Problem(file, row, column, f"{s!r} is not a number"))
        return math.nan
    if not math.isfinite(value):
        problems.append(Problem(file, row, column, f"{s!r} is not a finite number"))
        return math.nan
    return value
