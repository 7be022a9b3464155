"""The tables of a :class:`~allocart.data.Dataset`: their columns, dose kinds and units, limits,
and the canonical form every table is put in (column order and types, rows sorted).

``subjects``
    One row per subject: ``id`` (str), ``product`` and ``ld`` (str or None: CAR-T product
    and lymphodepletion regimen names), ``weight_kg``, ``height_cm``, ``bsa_m2``,
    ``age_years`` (float, NaN where unknown), ``female`` (nullable boolean) and
    ``infusion_date`` (ISO 8601 date or date-time of the CAR-T infusion, or None).
``doses``
    ``id``, ``time`` (days after the CAR-T infusion; lymphodepletion is negative), ``kind``
    (one of :data:`DOSE_KINDS`), ``amount`` (float) and ``unit`` (one of :data:`DOSE_UNITS`).
``observations``
    ``id``, ``time`` (days after the infusion), ``observable`` (a model read-out name of
    :data:`~allocart.data.OBSERVABLES`), ``value`` (in the read-out's unit; for a censored
    row the LLOQ), ``lloq`` (NaN if none) and ``censored`` (True when below the LLOQ).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from allocart.data.observables import OBSERVABLES

__all__ = [
    "DOSE_COLUMNS",
    "DOSE_KINDS",
    "DOSE_UNITS",
    "MAX_DAYS",
    "OBSERVATION_COLUMNS",
    "SUBJECT_COLUMNS",
    "SUBJECT_LIMITS",
    "TIME_ATOL_DAYS",
    "VALUE_RTOL",
    "canonical_doses",
    "canonical_observations",
    "canonical_subjects",
    "nan_none",
]

#: What a dose row may give: the CAR-T cells and the lymphodepleting drugs of the model.
DOSE_KINDS = ("car_t", "fludarabine", "cyclophosphamide")
#: Units of dose amounts: CAR-T in cells or cells/kg, lymphodepletion in mg/m2.
DOSE_UNITS = {
    "car_t": ("cells", "cells/kg"),
    "fludarabine": ("mg/m2",),
    "cyclophosphamide": ("mg/m2",),
}

#: Farthest a dose or observation may lie from the CAR-T infusion (100 years, in days): a time
#: beyond is a unit slip (seconds or minutes read as days) or a typing error.
MAX_DAYS = 36525.0

#: Tolerances of :meth:`Dataset.__eq__`: times to one second (SDTM date-times carry seconds),
#: values to 1e-9 relative (text round trips of floats are exact; this only absorbs unit
#: conversions by exact decimal factors).
TIME_ATOL_DAYS = 1.0 / 86400.0
VALUE_RTOL = 1e-9

#: Possible covariate values (min, max) of ``subjects``: weight (kg), height (cm), body surface
#: area (m2) and age (years); beyond them a value is a unit slip or a typing error.
SUBJECT_LIMITS = {
    "weight_kg": (0.2, 400.0),
    "height_cm": (20.0, 260.0),
    "bsa_m2": (0.05, 4.0),
    "age_years": (0.0, 130.0),
}


def nan_none(value: Any) -> Any:
    """None for a missing value (None, ``pd.NA``, NaN), else the value."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _with_columns(
    frame: pd.DataFrame | None, columns: Sequence[str], fill: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` (an empty table if None) with every one of ``columns``.

    A missing column is added holding ``fill[col]`` (None unless given).
    """
    frame = pd.DataFrame(columns=list(columns)) if frame is None else frame.copy()
    for col in columns:
        if col not in frame.columns:
            frame[col] = (fill or {}).get(col)
    return frame


def _text(column: pd.Series) -> pd.Series:
    """A column of str, None where missing."""
    return column.map(lambda v: None if nan_none(v) is None else str(v)).astype(object)


def _float(column: pd.Series) -> pd.Series:
    """A column of float, NaN where missing or not a number."""
    return pd.to_numeric(column, errors="coerce").astype(float)


def _nullable_bool(column: pd.Series) -> pd.Series:
    """A column of nullable booleans, ``pd.NA`` where missing or not a truth value."""
    return column.map(_to_bool).astype("boolean")


def _flag(column: pd.Series) -> pd.Series:
    """A column of bool, False unless the value reads as true."""
    return column.map(lambda v: bool(_to_bool(v) is True)).astype(bool)


#: Each table's columns, in order, with the conversion that gives them their canonical type.
_SUBJECT_TYPES = {
    "id": _text,
    "product": _text,
    "ld": _text,
    "weight_kg": _float,
    "height_cm": _float,
    "bsa_m2": _float,
    "age_years": _float,
    "female": _nullable_bool,
    "infusion_date": _text,
}
_DOSE_TYPES = {"id": _text, "time": _float, "kind": _text, "amount": _float, "unit": _text}
_OBSERVATION_TYPES = {
    "id": _text,
    "time": _float,
    "observable": _text,
    "value": _float,
    "lloq": _float,
    "censored": _flag,
}
SUBJECT_COLUMNS = tuple(_SUBJECT_TYPES)
DOSE_COLUMNS = tuple(_DOSE_TYPES)
OBSERVATION_COLUMNS = tuple(_OBSERVATION_TYPES)


def _canonical(
    frame: pd.DataFrame | None,
    types: Mapping[str, Callable[[pd.Series], pd.Series]],
    fill: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """``frame`` (an empty table if None) with exactly the columns of ``types``, converted."""
    frame = _with_columns(frame, tuple(types), fill)
    return pd.DataFrame({col: convert(frame[col]) for col, convert in types.items()})


def canonical_subjects(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The ``subjects`` table in canonical form (an empty one for None)."""
    return _canonical(frame, _SUBJECT_TYPES).reset_index(drop=True)


def _to_bool(value: Any) -> Any:
    value = nan_none(value)
    if value is None:
        return pd.NA
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "f", "female"):
        return True
    if text in ("false", "0", "no", "n", "m", "male"):
        return False
    return pd.NA


def canonical_doses(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The ``doses`` table in canonical form (an empty one for None)."""
    out = _canonical(frame, _DOSE_TYPES)
    return out.sort_values(["id", "time", "kind"], kind="stable").reset_index(drop=True)


def canonical_observations(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The ``observations`` table in canonical form (an empty one for None)."""
    out = _canonical(frame, _OBSERVATION_TYPES, fill={"censored": False})
    order = {name: i for i, name in enumerate(OBSERVABLES)}
    out["_o"] = out["observable"].map(lambda v: order.get(v, len(order)))
    out = out.sort_values(["id", "time", "_o", "observable"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)
