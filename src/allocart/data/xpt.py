"""Writing one table as a SAS XPORT version 5 file (``.xpt``), the format of CDISC submissions.

The file is written by ``pyreadstat`` (ReadStat's writer). Version 5 limits what a table may
hold (SAS Version 5 transport format, SAS Institute TS-140): a table name of at most 8
characters, variable names of at most 8 characters (letters, digits, underscore; not starting
with a digit), labels of at most 40 characters and text values of at most 200 bytes. A table
that breaks one is refused with the table, the variable and, for a value, its row. Numbers are
stored as IBM double precision; every IEEE double converts to it without loss of its 53-bit
significand (IBM keeps 53 to 56 bits), so values read back exactly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd
import pyreadstat

from allocart.errors import DataError

__all__ = ["MAX_LABEL", "MAX_NAME", "MAX_TEXT_BYTES", "write_xpt"]

#: Longest table or variable name of SAS XPORT v5 (characters).
MAX_NAME = 8
#: Longest table or variable label (characters).
MAX_LABEL = 40
#: Longest text value (bytes).
MAX_TEXT_BYTES = 200

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,7}\Z")


def write_xpt(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    name: str,
    label: str = "",
    labels: Mapping[str, str] | None = None,
    numeric: Collection[str] = (),
    formats: Mapping[str, str] | None = None,
) -> Path:
    """Write ``frame`` as a SAS XPORT v5 table ``name`` at ``path``.

    Parameters
    ----------
    frame : DataFrame
        The table; columns in ``numeric`` are written as numbers (empty cells as missing),
        the others as text (missing as empty).
    path : path
        The ``.xpt`` file to write.
    name : str
        Table (member) name, e.g. ``"DM"``; at most 8 characters.
    label : str
        Table label, e.g. ``"Demographics"``; at most 40 characters.
    labels : mapping, optional
        Variable name -> label (at most 40 characters each).
    numeric : collection of str
        Names of the numeric variables.
    formats : mapping, optional
        Variable name -> SAS display format (``"DATE9"`` for a SAS date).

    Returns
    -------
    Path

    Raises
    ------
    DataError
        If a name, label or text value breaks a limit of the format, or a numeric column
        holds a cell that is not a number.
    """
    path = Path(path)
    if not _NAME.match(name):
        raise DataError(f"name: {name!r} is not a SAS XPORT v5 table name (1-8 letters/digits)")
    if len(label) > MAX_LABEL:
        raise DataError(f"label: {label!r} is longer than {MAX_LABEL} characters")
    labels = dict(labels or {})
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        col_name = str(col)
        if not _NAME.match(col_name):
            raise DataError(
                f"{name}: column {col_name!r} is not a SAS XPORT v5 variable name "
                "(1-8 letters, digits or _, not starting with a digit)"
            )
        text = labels.get(col_name, "")
        if len(text) > MAX_LABEL:
            raise DataError(f"labels[{col_name!r}]: {text!r} is longer than {MAX_LABEL} characters")
        if col_name in numeric:
            values = frame[col].map(lambda v: None if v is None or v == "" else v)
            converted = pd.to_numeric(values, errors="coerce").astype(float)
            bad = converted.isna() & values.notna() & ~values.map(_is_nan)
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0])
                raise DataError(
                    f"{name}: row {row + 1}, column {col_name}: {values.iloc[row]!r} is not a number"
                )
            out[col_name] = converted
        else:
            texts = frame[col].map(lambda v: "" if v is None or _is_nan(v) else str(v))
            too_long = texts.map(lambda s: len(s.encode("utf-8")) > MAX_TEXT_BYTES)
            if too_long.any():
                row = int(too_long.to_numpy().nonzero()[0][0])
                raise DataError(
                    f"{name}: row {row + 1}, column {col_name}: the text is longer than "
                    f"{MAX_TEXT_BYTES} bytes, the SAS XPORT v5 limit; shorten it"
                )
            out[col_name] = texts.astype(object)
    out = out.reset_index(drop=True)
    column_labels = [labels.get(str(c)) or None for c in out.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_xport(
        out,
        str(path),
        file_label=label,
        column_labels=column_labels,
        table_name=name,
        file_format_version=5,
        variable_format=dict(formats) if formats else None,
    )
    return path


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value
