"""Record types: the data a trial site collects, as the clinical scorers read them.

One :class:`PatientRecords` holds everything known about one patient: visits, laboratory
results with units and reference ranges, vital signs, SLEDAI descriptors with attribution,
global assessments, BILAG domain grades, medications, oxygen support, neurological
assessments, HLH work-up, GvHD staging data, adverse events, infections, hospitalisations and
death.

The same records are produced by three kinds of source, so the schema avoids anything
source-specific:

* a site's electronic case report form, exported as JSON;
* CDISC SDTM readers (LB -> :class:`LabResult`, VS -> :class:`VitalSign`,
  AE -> :class:`AdverseEvent`, CM -> :class:`Medication`, PR -> :class:`OxygenSupport`,
  RS/QS -> :class:`SledaiFinding`, :class:`PgaAssessment`, :class:`BilagAssessment`,
  :class:`NeuroAssessment`);
* a virtual-patient simulator, which emits times as days after infusion.

Times
-----
Every time is either an ISO 8601 date (``"2024-03-05"``), an ISO 8601 date-time
(``"2024-03-05T14:30"``; time zones are converted to UTC), or a number of days after the
CAR-T infusion (day 0 = infusion day, the CAR-T convention; SDTM ``--DY`` has no day 0 and must
not be copied here). Calendar times are turned into days with :attr:`PatientRecords.infusion`;
numbers and calendar times may be mixed only when ``infusion`` is given. When ``infusion`` is
missing and every time is a calendar time, days count from the earliest time in the record;
the standards that need day 0 (ICAHT, DLT) then refuse to score.

Attribution
-----------
Nearly every standard excludes findings explained by another cause (infection, drugs,
lymphodepletion, CRS fever). Scorers cannot infer this from numbers, so findings carry an
``attribution``. ``"unspecified"`` means the site did not say; each standard has an option that
decides how unspecified findings count, and reports which ones it counted.

All models are frozen pydantic v2 models that forbid unknown fields, so a misspelt field is an
error rather than silently ignored data.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from allocart.clinical import units

__all__ = [
    "Attribution",
    "Time",
    "Visit",
    "LabResult",
    "VitalSign",
    "SledaiFinding",
    "SLEDAI_DESCRIPTORS",
    "PgaAssessment",
    "BilagAssessment",
    "BILAG_DOMAINS",
    "FlareFinding",
    "Medication",
    "OxygenSupport",
    "IceItems",
    "NeuroAssessment",
    "HlhAssessment",
    "GvhdAssessment",
    "AdverseEvent",
    "Relatedness",
    "Infection",
    "Hospitalisation",
    "Death",
    "PatientRecords",
]


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
    if isinstance(a, float) != isinstance(b, float):
        raise ValueError(
            f"`{start_name}` and `{end_name}` must both be calendar times or both days after infusion"
        )
    if b < a:
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


#: SLEDAI-2K descriptors with their weights, in the order of the published table.
SLEDAI_DESCRIPTORS: dict[str, int] = {
    "seizure": 8,
    "psychosis": 8,
    "organic_brain_syndrome": 8,
    "visual_disturbance": 8,
    "cranial_nerve_disorder": 8,
    "lupus_headache": 8,
    "cva": 8,
    "vasculitis": 8,
    "arthritis": 4,
    "myositis": 4,
    "urinary_casts": 4,
    "haematuria": 4,
    "proteinuria": 4,
    "pyuria": 4,
    "rash": 2,
    "alopecia": 2,
    "mucosal_ulcers": 2,
    "pleurisy": 2,
    "pericarditis": 2,
    "low_complement": 2,
    "increased_dna_binding": 2,
    "fever": 1,
    "thrombocytopenia": 1,
    "leukopenia": 1,
}

SledaiDescriptor = Literal[
    "seizure",
    "psychosis",
    "organic_brain_syndrome",
    "visual_disturbance",
    "cranial_nerve_disorder",
    "lupus_headache",
    "cva",
    "vasculitis",
    "arthritis",
    "myositis",
    "urinary_casts",
    "haematuria",
    "proteinuria",
    "pyuria",
    "rash",
    "alopecia",
    "mucosal_ulcers",
    "pleurisy",
    "pericarditis",
    "low_complement",
    "increased_dna_binding",
    "fever",
    "thrombocytopenia",
    "leukopenia",
]


class SledaiFinding(_Span):
    """A clinician-recorded SLEDAI descriptor (SDTM RS item), present over ``start``..``end``.

    Laboratory descriptors (complement, anti-dsDNA, blood counts, urine sediment, proteinuria)
    and fever are also derived from :class:`LabResult` and :class:`VitalSign` records; a finding
    recorded here counts in addition.
    """

    descriptor: SledaiDescriptor
    start: Time = Field(..., description="Onset or observation time.")
    end: Time | None = Field(None, description="Resolution time; None = observed only at `start`.")
    present: bool = True
    attribution: Attribution = Field("unspecified", description="'sle' if attributed to lupus.")
    joints: int | None = Field(
        None, ge=0, le=100, description="Arthritis: number of joints with inflammation."
    )
    new_or_recurrent: bool | None = Field(
        None, description="New, recurrent or increased (SELENA-SLEDAI rules for proteinuria)."
    )

    @model_validator(mode="after")
    def _check(self) -> SledaiFinding:
        if self.descriptor == "arthritis" and self.present and self.joints is None:
            raise ValueError("an arthritis finding needs `joints` (the number of inflamed joints)")
        return self


class PgaAssessment(_Record):
    """Physician (evaluator) global assessment of SLE activity.

    ``scale='0-3'`` is the SELENA-SLEDAI PGA (recorded to one decimal). ``'0-100mm'`` values are
    converted to 0-3 only when the scorer's ``pga_mm_anchors_match`` option is set.
    """

    time: Time
    value: float
    scale: Literal["0-3", "0-100mm"] = "0-3"

    @model_validator(mode="after")
    def _check(self) -> PgaAssessment:
        top = 3.0 if self.scale == "0-3" else 100.0
        if not (math.isfinite(self.value) and 0.0 <= self.value <= top):
            raise ValueError(
                f"PGA `value` must lie in 0-{top:g} for scale {self.scale!r}; got {self.value!r}"
            )
        return self


BilagDomain = Literal[
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
]

#: BILAG-2004 domains, as listed in ``BilagDomain``.
BILAG_DOMAINS: tuple[str, ...] = get_args(BilagDomain)


class BilagAssessment(_Record):
    """BILAG-2004 domain grades (A severe ... E never involved), taken as input: deriving them
    from the ~97 items is a licensed algorithm outside this package."""

    time: Time
    domains: dict[BilagDomain, Literal["A", "B", "C", "D", "E"]]

    @model_validator(mode="after")
    def _check(self) -> BilagAssessment:
        missing = [d for d in BILAG_DOMAINS if d not in self.domains]
        if missing:
            raise ValueError(
                f"BILAG `domains` is missing {', '.join(missing)}; give all nine domains"
            )
        return self


FlareManifestation = Literal[
    # mild/moderate
    "discoid_rash",
    "photosensitive_rash",
    "lupus_profundus",
    "cutaneous_vasculitis",
    "bullous_lupus",
    "nasopharyngeal_ulcers",
    "pleuritis",
    "pericarditis",
    "arthritis",
    "sle_fever",
    # severe (count when they require more treatment or hospitalisation)
    "cns_sle",
    "vasculitis",
    "nephritis",
    "myositis",
    "thrombocytopenia",
    "haemolytic_anaemia",
]


class FlareFinding(_Record):
    """A new or worse SLE manifestation, as the SELENA flare index lists them.

    ``thrombocytopenia`` needs ``platelets_10e9_l`` (< 60 qualifies); ``haemolytic_anaemia`` needs
    ``hb_g_dl`` (< 7 qualifies) or ``hb_fall_g_dl`` (> 3 qualifies).
    """

    time: Time
    manifestation: FlareManifestation
    attribution: Attribution = "unspecified"
    platelets_10e9_l: float | None = Field(None, ge=0)
    hb_g_dl: float | None = Field(None, ge=0, le=30)
    hb_fall_g_dl: float | None = Field(None, ge=0, le=30)


MedicationCategory = Literal[
    "glucocorticoid",
    "antimalarial",
    "immunosuppressant",
    "biologic",
    "nsaid",
    "investigational",
    "car_t",
    "lymphodepletion",
    "tocilizumab",
    "anakinra",
    "vasopressor",
    "antipyretic",
    "g_csf",
    "ivig",
    "anti_infective",
    "other",
]

DoseUnit = Literal[
    "mg", "g", "ug", "mg/kg", "mg/m2", "ug/kg/min", "ug/min", "units/min", "IU", "cells", "mL"
]


class Medication(_Span):
    """A medication course (SDTM CM/EX row), active from ``start`` through ``end``.

    ``end=None`` means ongoing. Glucocorticoid daily doses are converted to prednisone
    equivalents by agent ``name`` (see :mod:`allocart.clinical.medications`).
    """

    name: str = Field(
        ..., min_length=1, description="Agent, e.g. 'prednisolone', 'norepinephrine'."
    )
    category: MedicationCategory
    start: Time
    end: Time | None = None
    dose: float | None = Field(None, ge=0, description="Dose per administration.")
    dose_unit: DoseUnit | None = None
    frequency: Literal[
        "once", "daily", "bid", "tid", "qid", "every_other_day", "weekly", "continuous"
    ] = Field("daily", description="Administrations per period; default daily.")
    indication: Literal["sle", "toxicity", "prophylaxis", "other", "unspecified"] = "unspecified"
    rescue: bool = Field(
        False, description="Prohibited or rescue medication per protocol (treatment failure)."
    )

    @model_validator(mode="after")
    def _check(self) -> Medication:
        if self.dose is not None and self.dose_unit is None:
            raise ValueError(f"`dose_unit` is required with `dose` ({self.dose}) for {self.name!r}")
        return self


OxygenDevice = Literal[
    "room_air",
    "blow_by",
    "nasal_cannula",
    "high_flow_nasal_cannula",
    "face_mask",
    "venturi_mask",
    "non_rebreather",
    "cpap",
    "bipap",
    "mechanical_ventilation",
]


class OxygenSupport(_Span):
    """Oxygen delivery or ventilatory support (SDTM PR row) over ``start``..``end``."""

    device: OxygenDevice
    start: Time
    end: Time | None = None
    flow_l_min: float | None = Field(None, ge=0, le=80, description="Flow rate in L/min.")
    attribution: Attribution = Field("unspecified", description="E.g. 'infection' for pneumonia.")

    @model_validator(mode="after")
    def _check(self) -> OxygenSupport:
        if self.device == "nasal_cannula" and self.flow_l_min is None:
            raise ValueError("a nasal cannula record needs `flow_l_min` (low flow is <= 6 L/min)")
        return self


class IceItems(_Record):
    """Items of the Immune effector Cell-associated Encephalopathy (ICE) score (total 10)."""

    orientation: int = Field(..., ge=0, le=4, description="Year, month, city, hospital.")
    naming: int = Field(..., ge=0, le=3, description="Names three objects.")
    command: int = Field(..., ge=0, le=1, description="Follows a simple command.")
    writing: int = Field(..., ge=0, le=1, description="Writes a standard sentence.")
    attention: int = Field(..., ge=0, le=1, description="Counts back from 100 by 10.")

    @property
    def total(self) -> int:
        """ICE score 0-10."""
        return self.orientation + self.naming + self.command + self.writing + self.attention


class NeuroAssessment(_Record):
    """A neurological assessment for ICANS grading (ASTCT 2019).

    Give ``ice_score`` (or ``ice_items``) for patients of the ICE age, ``capd_score`` for
    younger children; set ``unable_to_perform`` when the patient cannot do the test.
    """

    time: Time
    ice_score: int | None = Field(None, ge=0, le=10)
    ice_items: IceItems | None = None
    capd_score: int | None = Field(
        None, ge=0, le=32, description="Cornell Assessment of Pediatric Delirium."
    )
    unable_to_perform: bool = Field(
        False, description="Cannot perform ICE/CAPD because unarousable."
    )
    global_aphasia: bool = Field(
        False, description="Awake but globally aphasic (ICE 0 -> grade 3)."
    )
    consciousness: Literal[
        "alert", "awakens_spontaneously", "awakens_to_voice", "awakens_to_tactile", "unarousable"
    ] = "alert"
    consciousness_attribution: Attribution = Field(
        "unspecified",
        description="E.g. 'drug' for sedation: then consciousness does not grade ICANS.",
    )
    seizure: Literal[
        "none", "rapidly_resolving", "nonconvulsive_eeg_resolving", "prolonged", "repetitive"
    ] = "none"
    motor: Literal["none", "deep_focal_weakness"] = "none"
    cerebral_oedema: Literal[
        "none",
        "focal",
        "diffuse",
        "posturing",
        "cranial_nerve_vi_palsy",
        "papilloedema",
        "cushing_triad",
    ] = "none"
    attribution: Attribution = Field(
        "unspecified",
        description="Cause of the findings; another cause (e.g. 'sle') means not ICANS.",
    )

    @model_validator(mode="after")
    def _check(self) -> NeuroAssessment:
        if (
            self.ice_items is not None
            and self.ice_score is not None
            and self.ice_items.total != self.ice_score
        ):
            raise ValueError(
                f"`ice_score` ({self.ice_score}) differs from the sum of `ice_items` ({self.ice_items.total})"
            )
        return self

    @property
    def ice(self) -> int | None:
        """ICE score from ``ice_score`` or the items."""
        if self.ice_score is not None:
            return self.ice_score
        return None if self.ice_items is None else self.ice_items.total


class HlhAssessment(_Record):
    """Clinical HLH work-up for HScore / HLH-2004 (laboratory values come from ``labs``,
    temperatures from ``vitals``). ``None`` means not assessed."""

    time: Time
    known_immunosuppression: bool | None = None
    hepatomegaly: bool | None = None
    splenomegaly: bool | None = None
    haemophagocytosis: bool | None = Field(
        None, description="Haemophagocytosis on marrow (or tissue) biopsy."
    )
    nk_activity_low: bool | None = None
    molecular_diagnosis: bool = Field(False, description="Molecular diagnosis consistent with HLH.")


class GvhdAssessment(_Record):
    """Organ data for MAGIC acute GvHD staging. Bilirubin comes from ``labs`` (BILI).

    ``stool_ml_per_day`` is the 3-day average stool output recommended by MAGIC.
    """

    time: Time
    skin_bsa_percent: float = Field(
        0.0, ge=0, le=100, description="Active GvHD erythema, % body surface area."
    )
    skin_bullae_desquamation: bool = Field(False, description="Bullae with desquamation > 5% BSA.")
    upper_gi_persistent: bool = Field(False, description="Persistent nausea, vomiting or anorexia.")
    stool_ml_per_day: float | None = Field(None, ge=0, le=20000)
    stool_episodes_per_day: float | None = Field(None, ge=0, le=100)
    stool_mixed_with_urine: bool = Field(
        False, description="Stool output measured mixed with urine."
    )
    severe_abdominal_pain: bool = Field(
        False, description="Opioid-requiring, affecting performance status."
    )
    ileus: bool = False
    grossly_bloody_stool: bool = False
    attribution: Attribution = "unspecified"


AeCategory = Literal[
    "crs",
    "icans",
    "iec_hs",
    "gvhd",
    "neutropenia",
    "thrombocytopenia",
    "anaemia",
    "leukopenia",
    "lymphopenia",
    "febrile_neutropenia",
    "b_cell_aplasia",
    "hypogammaglobulinaemia",
    "infection",
    "fever",
    "infusion_reaction",
    "licats",
    "sle_flare",
    "lab_abnormality",
    "other",
]


#: Relatedness of an event to the study treatment (SDTM AEREL); ``"unspecified"`` = not recorded.
Relatedness = Literal["not_related", "unlikely", "possible", "probable", "definite", "unspecified"]


class AdverseEvent(_Span):
    """An adverse event (SDTM AE row) at one grade over ``start``..``end``.

    A grade change is recorded as a new record (the common SDTM practice), so the time a
    patient spends at each grade is known. ``scale`` names the grading system (ASTCT 2019 for
    CRS/ICANS, ASTCT 2023 for IEC-HS, MAGIC for GvHD, CTCAE v5.0 otherwise).
    """

    term: str = Field(..., min_length=1, description="Reported or MedDRA preferred term (AEDECOD).")
    category: AeCategory
    grade: int = Field(..., ge=1, le=5)
    scale: Literal["ctcae-5.0", "astct-2019", "astct-2023", "magic", "other"]
    start: Time
    end: Time | None = Field(None, description="Resolution (or grade change) time; None = ongoing.")
    relatedness: Relatedness = "unspecified"
    serious: bool = False
    expected_ld_toxicity: bool = Field(False, description="Expected toxicity of lymphodepletion.")
    clinically_significant: bool = True
    attribution: Attribution = "unspecified"


class Infection(_Span):
    """An infection over ``start``..``end``, graded from its clinical attributes.

    Unlike an :class:`AdverseEvent`, an infection carries no typed grade: the CTCAE v5.0 grade of
    the "Infections and infestations" terms follows from the intervention it needed and its
    consequences (:func:`allocart.clinical.ctcae.infection_grade`): grade 5 ``fatal``, grade 4
    ``life_threatening``, grade 3 ``antimicrobial='iv'`` or ``invasive_intervention``, grade 2
    ``antimicrobial='oral'``, grade 1 otherwise (local or no treatment). The record describes the
    worst point of the infection; ``end=None`` means ongoing.
    """

    term: str = Field(
        ..., min_length=1, description="Infection term, e.g. 'pneumonia', 'CMV reactivation'."
    )
    start: Time
    end: Time | None = Field(None, description="Resolution time; None = ongoing.")
    antimicrobial: Literal["none", "local", "oral", "iv"] = Field(
        "none",
        description="Antibiotic, antifungal or antiviral treatment indicated: none, local (topical), oral, or iv.",
    )
    invasive_intervention: bool = Field(
        False, description="Invasive intervention indicated (e.g. drainage, surgery)."
    )
    life_threatening: bool = Field(
        False,
        description="Life-threatening consequences; urgent intervention indicated (e.g. septic shock, ICU).",
    )
    fatal: bool = Field(False, description="The infection caused death.")
    relatedness: Relatedness = "unspecified"
    attribution: Attribution = "infection"
    serious: bool = False


class Hospitalisation(_Span):
    """A hospital admission; ``reason='sle'`` for admissions for lupus activity."""

    start: Time
    end: Time | None = None
    reason: Attribution = "unspecified"


class Death(_Record):
    """Death and its principal cause (e.g. 'crs', 'icans', 'infection')."""

    time: Time
    cause: Attribution = "unspecified"


class PatientRecords(_Record):
    """Everything collected about one patient.

    Examples
    --------
    >>> p = PatientRecords(patient_id="P1", labs=[{"test": "PLAT", "value": 60000, "unit": "/uL", "time": 3}])
    >>> p.labs[0].std_value
    60.0
    >>> p.day_of(p.labs[0].time)
    3.0
    """

    patient_id: str = Field(..., min_length=1)
    infusion: CalendarTime | None = Field(
        None, description="CAR-T infusion (day 0): ISO date or date-time string, not a number."
    )
    age_years: float | None = Field(None, ge=0, le=130)
    weight_kg: float | None = Field(None, gt=0, le=400)
    developmental_delay: bool = False
    baseline_ice: int | None = Field(None, ge=0, le=10, description="Pre-infusion ICE score.")
    last_follow_up: Time | None = None
    death: Death | None = None
    visits: tuple[Visit, ...] = ()
    labs: tuple[LabResult, ...] = ()
    vitals: tuple[VitalSign, ...] = ()
    sledai_findings: tuple[SledaiFinding, ...] = ()
    pga: tuple[PgaAssessment, ...] = ()
    bilag: tuple[BilagAssessment, ...] = ()
    flare_findings: tuple[FlareFinding, ...] = ()
    medications: tuple[Medication, ...] = ()
    oxygen: tuple[OxygenSupport, ...] = ()
    neuro: tuple[NeuroAssessment, ...] = ()
    hlh: tuple[HlhAssessment, ...] = ()
    gvhd: tuple[GvhdAssessment, ...] = ()
    adverse_events: tuple[AdverseEvent, ...] = ()
    infections: tuple[Infection, ...] = ()
    hospitalisations: tuple[Hospitalisation, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> PatientRecords:
        kinds = {isinstance(t, float) for _, t in self._all_times()}
        if kinds == {True, False} and self.infusion is None:
            raise ValueError(
                "times mix calendar dates and days after infusion; give `infusion` (the date of day 0) "
                "or use one kind of time throughout"
            )
        seen: dict[Any, int] = {}
        for i, visit in enumerate(self.visits):
            key = self.day_of(visit.time)
            if key in seen:
                raise ValueError(
                    f"visits[{i}] has the same time ({visit.time}) as visits[{seen[key]}]"
                )
            seen[key] = i
        if sum(v.baseline for v in self.visits) > 1:
            raise ValueError("more than one visit has `baseline` = true; mark exactly one")
        return self

    def _all_times(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for name in (
            "visits",
            "labs",
            "vitals",
            "pga",
            "bilag",
            "flare_findings",
            "neuro",
            "hlh",
            "gvhd",
        ):
            out += [(name, r.time) for r in getattr(self, name)]
        for name in (
            "sledai_findings",
            "medications",
            "oxygen",
            "adverse_events",
            "infections",
            "hospitalisations",
        ):
            for r in getattr(self, name):
                out.append((name, r.start))
                if r.end is not None:
                    out.append((name, r.end))
        if self.death is not None:
            out.append(("death", self.death.time))
        if self.last_follow_up is not None:
            out.append(("last_follow_up", self.last_follow_up))
        return out

    @cached_property
    def _origin(self) -> datetime | None:
        # Day 0 is the whole infusion day, so the origin is midnight of that day even when the
        # infusion time of day is known.
        if self.infusion is not None:
            first = _sort_key(self.infusion)
            return datetime(first.year, first.month, first.day)  # type: ignore[union-attr]
        calendar = [_sort_key(t) for _, t in self._all_times() if not isinstance(t, float)]
        if not calendar:
            return None
        first = min(calendar)
        return datetime(first.year, first.month, first.day)  # type: ignore[union-attr]

    @property
    def has_day_zero(self) -> bool:
        """Whether days are counted from the infusion (numeric times, or ``infusion`` given)."""
        if self.infusion is not None:
            return True
        return all(isinstance(t, float) for _, t in self._all_times())

    def day_of(self, time: date | datetime | float) -> float:
        """Days after infusion (day 0 = infusion day) of a record time."""
        if isinstance(time, float):
            return time
        origin = self._origin
        delta = _sort_key(time) - origin  # type: ignore[operator]
        return delta.total_seconds() / 86400.0  # type: ignore[union-attr]

    def calendar_day(self, time: date | datetime | float) -> int:
        """Whole day number of a record time (day 0 = infusion day)."""
        return math.floor(self.day_of(time))
