"""Visits, laboratory results and vital signs: the measured data of a patient's record.

Laboratory values and vital signs are converted on load to one internal unit per analyte
(:mod:`allocart.clinical.units`).
"""

from __future__ import annotations

import math
from functools import cached_property

from pydantic import Field, model_validator

from allocart.clinical import units
from allocart.clinical.records._base import Attribution, Time, _Record

__all__ = ["LabResult", "VitalSign", "Visit"]


class Visit(_Record):
    """A study visit, the time point at which visit-based standards (SLEDAI, SRI, LLDAS,
    DORIS...) are scored.

    ``haemolytic_anaemia`` and ``gi_activity`` are needed by LLDAS (they are not SLEDAI-2K
    items); ``None`` means not recorded.
    """

    time: Time
    visit_id: str | None = Field(None, description="Visit label, e.g. 'WEEK 52' (SDTM VISIT).")
    baseline: bool = Field(False, description="Baseline visit for change-from-baseline standards.")
    haemolytic_anaemia: bool | None = Field(
        None, description="Active haemolytic anaemia due to SLE."
    )
    gi_activity: bool | None = Field(None, description="Active gastrointestinal lupus.")


class LabResult(_Record):
    """One laboratory result (SDTM LB row).

    The value and the reference limits are in ``unit`` and are converted on load to the
    analyte's internal unit (:data:`allocart.clinical.units.ANALYTES`); an unknown test or unit is
    an error. ``ref_low``/``ref_high`` are the *testing laboratory's* limits (LBSTNRLO/LBSTNRHI),
    needed wherever a standard compares with the lower or upper limit of normal.
    """

    test: str = Field(
        ..., description="Test code (SDTM LBTESTCD), e.g. NEUT, PLAT, C3, DSDNAAB, PROT."
    )
    value: float = Field(..., description="Numeric result in `unit` (LBORRES/LBSTRESN).")
    unit: str = Field(..., description="Unit of `value` and of the reference limits.")
    time: Time
    specimen: str | None = Field(None, description="'urine' for urine tests; blood otherwise.")
    ref_low: float | None = Field(None, description="Lower limit of normal, in `unit`.")
    ref_high: float | None = Field(None, description="Upper limit of normal, in `unit`.")
    method: str | None = Field(None, description="Assay, e.g. 'Farr', 'ELISA', 'CLIFT'.")
    transfused: bool = Field(False, description="Value obtained within the transfusion window.")
    attribution: Attribution = "unspecified"

    @model_validator(mode="after")
    def _check(self) -> LabResult:
        if not math.isfinite(self.value):
            raise ValueError(f"`value` must be a finite number; got {self.value!r}")
        if self.value < 0:
            raise ValueError(
                f"`value` of {self.test} cannot be negative; got {self.value!r} {self.unit}"
            )
        for name in ("ref_low", "ref_high"):
            limit = getattr(self, name)
            if limit is not None and (not math.isfinite(limit) or limit < 0):
                raise ValueError(f"`{name}` must be a non-negative number; got {limit!r}")
        if self.ref_low is not None and self.ref_high is not None and self.ref_low > self.ref_high:
            raise ValueError(f"`ref_low` ({self.ref_low}) is above `ref_high` ({self.ref_high})")
        units.convert(self.test, self.specimen, self.value, self.unit)
        return self

    @cached_property
    def analyte(self) -> units.Analyte:
        """The analyte this result measures."""
        return units.ANALYTES[units.analyte_key(self.test, self.specimen)]

    @cached_property
    def std_value(self) -> float:
        """Value in the analyte's internal unit."""
        return units.convert(self.test, self.specimen, self.value, self.unit)

    @cached_property
    def std_ref_low(self) -> float | None:
        """Lower limit of normal in the internal unit."""
        return (
            None
            if self.ref_low is None
            else units.convert(self.test, self.specimen, self.ref_low, self.unit)
        )

    @cached_property
    def std_ref_high(self) -> float | None:
        """Upper limit of normal in the internal unit."""
        return (
            None
            if self.ref_high is None
            else units.convert(self.test, self.specimen, self.ref_high, self.unit)
        )

    @property
    def code(self) -> str:
        """Upper-case test code."""
        return self.analyte.code

    def is_urine(self) -> bool:
        """Whether the analyte is a urine test."""
        return self.analyte.specimen == "urine"


_VITAL_RANGES = {
    "TEMP": (25.0, 45.0),
    "SYSBP": (0.0, 300.0),
    "DIABP": (0.0, 250.0),
    "MAP": (0.0, 250.0),
    "HR": (0.0, 300.0),
    "RESP": (0.0, 100.0),
    "OXYSAT": (0.0, 100.0),
    "WEIGHT": (0.2, 400.0),
    "HEIGHT": (20.0, 260.0),
}


class VitalSign(_Record):
    """One vital-sign measurement (SDTM VS row): TEMP, SYSBP, DIABP, MAP, HR, RESP, OXYSAT,
    WEIGHT or HEIGHT. Temperature in degC or degF; blood pressure in mmHg."""

    test: str = Field(
        ..., description="VSTESTCD: TEMP, SYSBP, DIABP, MAP, HR, RESP, OXYSAT, WEIGHT, HEIGHT."
    )
    value: float
    unit: str
    time: Time
    location: str | None = Field(
        None, description="Route of temperature measurement (oral, axillary...)."
    )
    attribution: Attribution = Field(
        "unspecified", description="Cause, e.g. 'infection' for an infectious fever."
    )

    @model_validator(mode="after")
    def _check(self) -> VitalSign:
        if not math.isfinite(self.value):
            raise ValueError(f"`value` must be a finite number; got {self.value!r}")
        std = units.convert_vital(self.test, self.value, self.unit)
        low, high = _VITAL_RANGES[self.test.strip().upper()]
        if not low <= std <= high:
            unit = units.VITALS[self.test.strip().upper()][0]
            raise ValueError(
                f"{self.test} of {self.value} {self.unit} is impossible (must lie between {low} and {high} {unit})"
            )
        return self

    @cached_property
    def code(self) -> str:
        """Upper-case vital-sign code."""
        return self.test.strip().upper()

    @cached_property
    def std_value(self) -> float:
        """Value in the internal unit (degC, mmHg, %, kg, cm)."""
        return units.convert_vital(self.test, self.value, self.unit)
