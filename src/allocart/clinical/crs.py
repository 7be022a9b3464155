"""Cytokine release syndrome, ASTCT consensus grading (Lee et al. 2019).

===== ============== ==================================== ================================================
Grade Fever          Hypotension                          Hypoxia (and/or)
===== ============== ==================================== ================================================
1     >= 38.0 degC   none                                 none
2     >= 38.0 degC   not requiring vasopressors           low-flow nasal cannula <= 6 L/min or blow-by
3     >= 38.0 degC   one vasopressor (+/- vasopressin)    high-flow cannula > 6 L/min, face mask,
                                                          non-rebreather, Venturi mask
4     >= 38.0 degC   multiple vasopressors (not           positive pressure (CPAP, BiPAP, ventilation)
                     vasopressin)
5     death due to CRS
===== ============== ==================================== ================================================

Fever not attributable to another cause is required at onset. Once the patient has CRS and has
received tocilizumab, corticosteroids (for toxicity) or antipyretics, fever is no longer
required and hypotension/hypoxia drive the grade. The grade is the worse of the hypotension and
hypoxia categories; organ toxicities do not change it. Hypotension is not defined numerically by
ASTCT; the adult convention SBP < 90 mmHg or MAP < 65 mmHg is an option. The episode grade is
the maximum over the grading units (calendar days by default).

References
----------
Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625-38. doi:10.1016/j.bbmt.2018.12.758
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allocart.clinical.records import PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult, died_of, grade_label
from allocart.clinical.timing import covers, overlaps_day

__all__ = ["CrsOptions", "score_crs"]

_HYPOXIA = {
    "room_air": 0,
    "blow_by": 2,
    "high_flow_nasal_cannula": 3,
    "face_mask": 3,
    "venturi_mask": 3,
    "non_rebreather": 3,
    "cpap": 4,
    "bipap": 4,
    "mechanical_ventilation": 4,
}
_COUNTED = ("crs", "car_t")


class CrsOptions(Options):
    """Options of ASTCT CRS grading."""

    resolution: Literal["day", "timepoint"] = Field(
        "day",
        description="Grade per calendar day (worst findings of the day) or per recorded time point.",
    )
    fever_c: float = Field(38.0, description="Fever threshold, degC (>=).")
    sbp_below: float = Field(
        90.0, description="Hypotension: systolic BP below this (mmHg); adult convention."
    )
    map_below: float = Field(
        65.0, description="Hypotension: mean arterial pressure below this (mmHg)."
    )
    low_flow_max_l_min: float = Field(
        6.0, gt=0, description="Nasal cannula up to this flow is low flow (grade 2)."
    )
    low_flow_face_mask_grade: Literal[2, 3] = Field(
        3,
        description="Grade of a simple face mask at low flow (the table says face mask = grade 3).",
    )
    fever_not_required_after: tuple[
        Literal["tocilizumab", "glucocorticoid", "antipyretic", "anakinra"], ...
    ] = Field(
        ("tocilizumab", "glucocorticoid", "antipyretic", "anakinra"),
        description="Treatments after which fever is no longer required (glucocorticoids given for toxicity).",
    )
    prophylactic_treatment_counts: bool = Field(
        False,
        description="Whether such treatment given before CRS onset (prophylaxis) also waives fever.",
    )
    unattributed: Literal["count", "exclude"] = Field(
        "count", description="Whether findings with attribution 'unspecified' count towards CRS."
    )


def _counts(attribution: str, opts: CrsOptions) -> bool:
    return attribution in _COUNTED or (
        attribution == "unspecified" and opts.unattributed == "count"
    )


def _units(patient: PatientRecords, opts: CrsOptions) -> list[float]:
    times: set[float] = set()
    for v in patient.vitals:
        if v.code in ("TEMP", "SYSBP", "MAP"):
            times.add(patient.day_of(v.time))
    for o in patient.oxygen:
        times.add(patient.day_of(o.start))
    for m in patient.medications:
        if m.category == "vasopressor":
            times.add(patient.day_of(m.start))
    times = {t for t in times if t >= 0}
    if opts.resolution == "day":
        return sorted({float(int(t // 1)) for t in times})
    return sorted(times)


def _in_unit(patient: PatientRecords, t: Any, unit: float, opts: CrsOptions) -> bool:
    if opts.resolution == "day":
        return patient.calendar_day(t) == int(unit)
    return patient.day_of(t) == unit


def _active(patient: PatientRecords, start: Any, end: Any, unit: float, opts: CrsOptions) -> bool:
    if opts.resolution == "day":
        return overlaps_day(patient, start, end, int(unit))
    return covers(patient, start, end, unit)


def _treatment_kind(med: Any) -> str | None:
    if med.category == "tocilizumab":
        return "tocilizumab"
    if med.category == "anakinra":
        return "anakinra"
    if med.category == "antipyretic":
        return "antipyretic"
    if med.category == "glucocorticoid" and med.indication == "toxicity":
        return "glucocorticoid"
    return None


def _grade_unit(patient: PatientRecords, unit: float, opts: CrsOptions) -> dict[str, Any]:
    temps = [
        v for v in patient.vitals if v.code == "TEMP" and _in_unit(patient, v.time, unit, opts)
    ]
    fever = [
        v.std_value for v in temps if v.std_value >= opts.fever_c and _counts(v.attribution, opts)
    ]
    low_bp = [
        f"{v.code} {v.std_value:g}"
        for v in patient.vitals
        if _in_unit(patient, v.time, unit, opts)
        and _counts(v.attribution, opts)
        and (
            (v.code == "SYSBP" and v.std_value < opts.sbp_below)
            or (v.code == "MAP" and v.std_value < opts.map_below)
        )
    ]
    pressors = sorted(
        {
            m.name.strip().lower()
            for m in patient.medications
            if m.category == "vasopressor" and _active(patient, m.start, m.end, unit, opts)
        }
    )
    non_vasopressin = [p for p in pressors if p != "vasopressin"]
    n_pressors = len(non_vasopressin) or (1 if pressors else 0)
    hypotension = 4 if n_pressors >= 2 else 3 if n_pressors == 1 else 2 if low_bp else 0
    hypoxia = 0
    devices = []
    for o in patient.oxygen:
        if not _active(patient, o.start, o.end, unit, opts) or not _counts(o.attribution, opts):
            continue
        if o.device == "nasal_cannula":
            g = 2 if (o.flow_l_min or 0.0) <= opts.low_flow_max_l_min else 3
        elif (
            o.device == "face_mask"
            and o.flow_l_min is not None
            and o.flow_l_min <= opts.low_flow_max_l_min
        ):
            g = opts.low_flow_face_mask_grade
        else:
            g = _HYPOXIA[o.device]
        devices.append(f"{o.device}" + ("" if o.flow_l_min is None else f" {o.flow_l_min:g} L/min"))
        hypoxia = max(hypoxia, g)
    return {
        "max_temperature_c": max((v.std_value for v in temps), default=None),
        "fever": bool(fever),
        "hypotension": low_bp,
        "vasopressors": pressors,
        "oxygen": devices,
        "hypotension_grade": hypotension,
        "hypoxia_grade": hypoxia,
    }


def score_crs(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """CRS grade per grading unit and the worst grade of the patient."""
    opts: Any = ctx.options
    out = []
    onset: float | None = None
    worst = 0
    flags_all: list[str] = []
    for unit in _units(patient, opts):
        u = _grade_unit(patient, unit, opts)
        flags: list[str] = []
        treated = []
        for i, m in enumerate(patient.medications):
            kind = _treatment_kind(m)
            if kind is None or kind not in opts.fever_not_required_after:
                continue
            t = patient.day_of(m.start)
            given_by = t < unit + 1 if opts.resolution == "day" else t <= unit
            after_onset = onset is not None and (t >= onset or opts.prophylactic_treatment_counts)
            if given_by and after_onset:
                treated.append(f"{m.name} (medications[{i}])")
        if u["fever"] and onset is None:
            onset = unit
        if u["fever"]:
            grade = max(1, u["hypotension_grade"], u["hypoxia_grade"])
        elif onset is not None and treated:
            grade = max(u["hypotension_grade"], u["hypoxia_grade"])
            flags.append(
                "fever not required: CRS already present and treated (" + ", ".join(treated) + ")"
            )
        else:
            grade = 0
            if u["hypotension_grade"] or u["hypoxia_grade"]:
                flags.append(
                    "hypotension or hypoxia without fever: not CRS at onset; evaluate other causes"
                )
        worst = max(worst, grade)
        flags_all += flags
        out.append(
            ctx.result(
                patient,
                item=f"day {int(unit)}" if opts.resolution == "day" else "assessment",
                time=unit,
                value=grade,
                label=grade_label(grade, "CRS"),
                components=u,
                flags=flags,
            )
        )
    return out + ctx.worst_rows(
        patient,
        worst,
        cause="crs",
        syndrome="CRS",
        components={"onset_day": onset, "units_graded": len(out) + died_of(patient, "crs")},
        flags=flags_all,
    )
