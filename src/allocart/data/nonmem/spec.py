"""How a NONMEM dataset codes its rows: time unit, observation types, dose compartments, units."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from allocart.data.observables import OBSERVABLES
from allocart.data.problems import Problem
from allocart.data.schema import DOSE_KINDS, DOSE_UNITS
from allocart.errors import DataError

__all__ = ["MAX_ADDL", "TIME_FACTORS", "NonmemSpec", "code_text", "exp_cell"]

#: Days per unit of ``TIME`` (and ``II``).
TIME_FACTORS = {"day": 1.0, "hour": 1.0 / 24.0, "week": 7.0}

#: Most additional doses one row may give (``ADDL``): far above any CAR-T or lymphodepletion
#: schedule, and a bound on the rows a typing slip (ADDL = 1e9) expands to.
MAX_ADDL = 1000


def _default_codes() -> dict[str, str]:
    return {str(i + 1): name for i, name in enumerate(OBSERVABLES)}


@dataclass(frozen=True)
class NonmemSpec:
    """How a NONMEM dataset codes its rows (the defaults are what :func:`write_nonmem` writes).

    Attributes
    ----------
    time_unit : {"day", "hour", "week"}
        Unit of ``TIME`` (and ``II``).
    obs_column : str
        Column giving the observation type (``DVID``, or ``CMT`` for datasets that code
        read-outs by compartment).
    observable_codes : mapping of str to str
        Observation-type code (as text, e.g. ``"3"``) -> read-out name. Default: 1..12 in
        the order of :data:`allocart.data.OBSERVABLES`.
    dose_cmt : mapping of str to str
        Dose compartment code -> dose kind (``car_t``, ``fludarabine``, ``cyclophosphamide``).
    dose_units : mapping of str to str
        Unit of AMT per dose kind when there is no ``AMTU`` column.
    log_dv : bool
        ``DV`` (and ``LLOQ``) hold natural logarithms.
    sex_female_code : str or None
        Value of a numeric ``SEX`` column that means female (e.g. ``"1"`` or ``"2"``).
    """

    time_unit: str = "day"
    obs_column: str = "DVID"
    observable_codes: Mapping[str, str] = field(default_factory=_default_codes)
    dose_cmt: Mapping[str, str] = field(
        default_factory=lambda: {"1": "car_t", "2": "fludarabine", "3": "cyclophosphamide"}
    )
    dose_units: Mapping[str, str] = field(
        default_factory=lambda: {
            "car_t": "cells",
            "fludarabine": "mg/m2",
            "cyclophosphamide": "mg/m2",
        }
    )
    log_dv: bool = False
    sex_female_code: str | None = None

    def __post_init__(self) -> None:
        if self.time_unit not in TIME_FACTORS:
            raise DataError(
                f"time_unit: {self.time_unit!r} is not one of {', '.join(TIME_FACTORS)}",
                argument="time_unit",
            )
        for code, name in self.observable_codes.items():
            if name not in OBSERVABLES:
                raise DataError(
                    f"observation code {code!r} maps to {name!r}, not a read-out; use one of {', '.join(OBSERVABLES)}"
                )
        for code, kind in self.dose_cmt.items():
            if kind not in DOSE_KINDS:
                raise DataError(
                    f"dose compartment {code!r} maps to {kind!r}; use one of {', '.join(DOSE_KINDS)}"
                )
        for kind, unit in self.dose_units.items():
            if kind not in DOSE_UNITS or unit not in DOSE_UNITS[kind]:
                raise DataError(
                    f"dose unit of {kind!r}: {unit!r} is not one of {DOSE_UNITS.get(kind, ())}"
                )
        object.__setattr__(self, "obs_column", self.obs_column.upper())

    def observable_of(self, code: str) -> str | None:
        code = code_text(code)
        if code in self.observable_codes:
            return self.observable_codes[code]
        return code if code in OBSERVABLES else None

    def code_of(self, observable: str) -> str:
        for code, name in self.observable_codes.items():
            if name == observable:
                return code
        return observable

    def cmt_of(self, kind: str) -> str:
        for code, k in self.dose_cmt.items():
            if k == kind:
                return code
        return kind


def code_text(text: str) -> str:
    """A code cell as text, ``"3.0"`` and ``"3"`` alike (``"3"``)."""
    s = str(text).strip()
    try:  # "3.0" and "3" are the same code
        f = float(s)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return s


def exp_cell(value: float, file: str, row: int, column: str, probs: list[Problem]) -> float:
    """``exp(value)`` of a log-scale cell (``--log-dv``); NaN and a problem when it overflows."""
    try:
        return math.exp(value)
    except OverflowError:
        probs.append(
            Problem(
                file,
                row,
                column,
                f"{value:g} is too large for a natural logarithm: exp({value:g}) exceeds the "
                f"largest number; is {column} on the log scale (--log-dv)?",
            )
        )
        return math.nan
