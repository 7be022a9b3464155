"""CTCAE v5.0 grades of cytopenias, febrile neutropenia and infections, and hypogammaglobulinaemia.

==================================== =========== ============ ============ =========
Term                                 Grade 1     Grade 2      Grade 3      Grade 4
==================================== =========== ============ ============ =========
Neutrophil count decreased (/mm3)    <LLN-1500   <1500-1000   <1000-500    <500
Lymphocyte count decreased (/mm3)    <LLN-800    <800-500     <500-200     <200
Platelet count decreased (/mm3)      <LLN-75000  <75000-50000 <50000-25000 <25000
White blood cell decreased (/mm3)    <LLN-3000   <3000-2000   <2000-1000   <1000
CD4 lymphocytes decreased (/mm3)     <LLN-500    <500-200     <200-50      <50
Anaemia (Hb, g/dL)                   <LLN-10.0   <10.0-8.0    <8.0         clinical
Febrile neutropenia                  -           -            ANC <1000 with one T > 38.3 degC or >= 38 degC for > 1 h
==================================== =========== ============ ============ =========

Infections (:class:`~allocart.clinical.records.Infection` records) are graded with the generic
grades shared by the terms of the CTCAE v5.0 system organ class "Infections and infestations":

===== ===========================================================================================
Grade Infection
===== ===========================================================================================
1     localised; local (topical) or no intervention indicated
2     oral intervention indicated (antibiotic, antifungal, antiviral)
3     IV antibiotic, antifungal or antiviral intervention indicated; invasive intervention indicated
4     life-threatening consequences; urgent intervention indicated
5     death
===== ===========================================================================================

A value equal to a lower bound belongs to the milder grade (ANC 1000/mm3 is grade 2). Grade 1
needs the value below the testing laboratory's lower limit of normal. Grades use absolute
values; the worst post-baseline grade and the shift from the baseline grade are reported
(SLE patients are often lymphopenic or leukopenic before treatment). Grade 4 anaemia is a
clinical judgement and is not derived from Hb.

CTCAE v5.0 has no hypogammaglobulinaemia thresholds; it is reported here as a configurable
laboratory threshold event (default IgG < 4 g/L, Hill et al. 2019) with the infections around it.

References
----------
National Cancer Institute. Common Terminology Criteria for Adverse Events v5.0 (27 Nov 2017).
Hill JA, et al. Blood Rev 2019;38:100596.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from allocart.clinical.records import Infection, LabResult, PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult
from allocart.errors import ScoringError

__all__ = ["CtcaeOptions", "TERMS", "ctcae_grade", "infection_grade", "score_ctcae"]

#: term -> (test code, grade 2, grade 3, grade 4 lower bounds in the internal unit, unit)
TERMS: dict[str, tuple[str, float, float, float | None, str]] = {
    "neutrophil_count_decreased": ("NEUT", 1.5, 1.0, 0.5, "10^9/L"),
    "lymphocyte_count_decreased": ("LYM", 0.8, 0.5, 0.2, "10^9/L"),
    "platelet_count_decreased": ("PLAT", 75.0, 50.0, 25.0, "10^9/L"),
    "white_blood_cell_decreased": ("WBC", 3.0, 2.0, 1.0, "10^9/L"),
    "cd4_lymphocytes_decreased": ("CD4", 0.5, 0.2, 0.05, "10^9/L"),
    "anemia": ("HGB", 10.0, 8.0, None, "g/dL"),
}
TermName = Literal[
    "neutrophil_count_decreased",
    "lymphocyte_count_decreased",
    "platelet_count_decreased",
    "white_blood_cell_decreased",
    "cd4_lymphocytes_decreased",
    "anemia",
]


class CtcaeOptions(Options):
    """Options of CTCAE laboratory grading."""

    version: Literal["5.0"] = Field("5.0", description="CTCAE version (v6.0 is not implemented).")
    terms: tuple[TermName, ...] = Field(get_args(TermName), description="Terms to grade.")
    missing_lln: Literal["not_evaluable", "error"] = Field(
        "not_evaluable",
        description="A value at or above the grade-2 bound without ref_low cannot be told apart from grade 0/1.",
    )
    baseline_before_day: int = Field(
        0, description="Values before this day are baseline; later ones post-baseline."
    )
    febrile_neutropenia: bool = Field(
        True, description="Derive febrile neutropenia from ANC and temperatures of the same day."
    )
    fn_single_c: float = Field(
        38.3, description="Febrile neutropenia: a single temperature above this."
    )
    fn_sustained_c: float = Field(
        38.0, description="... or temperatures at or above this for more than fn_sustained_hours."
    )
    fn_sustained_hours: float = Field(1.0, gt=0)
    igg_threshold_g_l: float = Field(
        4.0, gt=0, description="Hypogammaglobulinaemia: IgG below this (g/L)."
    )
    igg_inclusive: bool = Field(False, description="Count IgG equal to the threshold as low.")
    infection_window_days: int = Field(
        90, ge=0, description="Infections this many days before a low IgG are reported with it."
    )
    infections: bool = Field(
        True,
        description="Grade every infection record from its attributes (CTCAE v5.0 'Infections and infestations', "
        "generic grades) and report the worst post-baseline grade; independent of `terms`.",
    )


def ctcae_grade(term: str, value: float, lln: float | None) -> int | None:
    """CTCAE v5.0 grade of a laboratory value in the internal unit; None if grade 0/1 is undecidable.

    Examples
    --------
    >>> [ctcae_grade("neutrophil_count_decreased", v, 1.8) for v in (1.2, 1.0, 0.999, 0.499, 1.7, 2.0)]
    [2, 2, 3, 4, 1, 0]
    """
    _, g2, g3, g4, _ = TERMS[term]
    if g4 is not None and value < g4:
        return 4
    if value < g3:
        return 3
    if value < g2:
        return 2
    if lln is None:
        return None
    return 1 if value < lln else 0


def infection_grade(inf: Infection) -> int:
    """CTCAE v5.0 grade of an infection from the intervention it needed and its consequences.

    The terms of the system organ class "Infections and infestations" share one set of grades:
    grade 5 death; grade 4 life-threatening consequences, urgent intervention indicated; grade 3
    IV antibiotic, antifungal or antiviral intervention indicated, or invasive intervention
    indicated; grade 2 oral intervention indicated; grade 1 otherwise (localised, local or no
    intervention). The most severe criterion met decides.

    Parameters
    ----------
    inf : Infection
        The infection; its ``fatal``, ``life_threatening``, ``invasive_intervention`` and
        ``antimicrobial`` attributes decide the grade.

    Returns
    -------
    int
        Grade 1 to 5.

    References
    ----------
    National Cancer Institute. Common Terminology Criteria for Adverse Events v5.0 (27 Nov 2017),
    "Infections and infestations".

    Examples
    --------
    >>> from allocart.clinical.records import Infection
    >>> [infection_grade(Infection(term="pneumonia", start=9, **kw)) for kw in (
    ...     {}, {"antimicrobial": "local"}, {"antimicrobial": "oral"}, {"antimicrobial": "iv"},
    ...     {"invasive_intervention": True}, {"life_threatening": True}, {"fatal": True})]
    [1, 1, 2, 3, 3, 4, 5]
    """
    if inf.fatal:
        return 5
    if inf.life_threatening:
        return 4
    if inf.antimicrobial == "iv" or inf.invasive_intervention:
        return 3
    if inf.antimicrobial == "oral":
        return 2
    return 1


def _infection_reasons(inf: Infection, grade: int) -> list[str]:
    """The attributes that decide ``grade`` (the criteria of that grade the infection meets)."""
    if grade == 5:
        return ["fatal"]
    if grade == 4:
        return ["life_threatening"]
    if grade == 3:
        return (["antimicrobial=iv"] if inf.antimicrobial == "iv" else []) + (
            ["invasive_intervention"] if inf.invasive_intervention else []
        )
    return [f"antimicrobial={inf.antimicrobial}"]


def _labs_for(patient: PatientRecords, code: str) -> list[tuple[int, LabResult]]:
    return sorted(
        ((i, lab) for i, lab in enumerate(patient.labs) if lab.code == code and not lab.is_urine()),
        key=lambda p: patient.day_of(p[1].time),
    )


def score_ctcae(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Grade every laboratory value of the selected terms, summarise per term, derive FN and low IgG,
    and grade every infection record (rows ``"infection"`` and ``"infection (worst post-baseline)"``)."""
    opts: Any = ctx.options
    out: list[ScoreResult] = []
    for term in opts.terms:
        code = TERMS[term][0]
        base_grade = None
        worst = None
        for i, lab in _labs_for(patient, code):
            grade = ctcae_grade(term, lab.std_value, lab.std_ref_low)
            flags = []
            if term == "lymphocyte_count_decreased":
                flags.append("lymphopenia is expected after lymphodepletion")
            if grade is None:
                if opts.missing_lln == "error":
                    raise ScoringError(
                        f"patient {patient.patient_id!r}, labs[{i}]: {code} = {lab.value:g} {lab.unit} has no `ref_low`; "
                        "CTCAE grade 1 needs the laboratory's lower limit of normal"
                    )
                out.append(
                    ctx.not_evaluable(
                        patient,
                        item=term,
                        time=lab.time,
                        reason=f"labs[{i}] has no ref_low (grade 0 or 1)",
                    )
                )
                continue
            if term == "anemia" and grade == 3:
                flags.append(
                    "grade 4 anaemia is a clinical judgement (life-threatening), not derived from Hb"
                )
            out.append(
                ctx.result(
                    patient,
                    item=term,
                    time=lab.time,
                    value=grade,
                    label=f"grade {grade}",
                    components={
                        "value": lab.std_value,
                        "unit": TERMS[term][4],
                        "lln": lab.std_ref_low,
                        "record": f"labs[{i}]",
                    },
                    flags=flags,
                )
            )
            if patient.calendar_day(lab.time) < opts.baseline_before_day:
                base_grade = grade
            else:
                worst = grade if worst is None else max(worst, grade)
        if worst is not None or base_grade is not None:
            out.append(
                ctx.result(
                    patient,
                    item=f"{term} (worst post-baseline)",
                    value=worst,
                    label="no post-baseline value"
                    if worst is None
                    else f"grade {worst} (baseline {base_grade})",
                    evaluable=worst is not None,
                    components={
                        "baseline_grade": base_grade,
                        "worst_grade": worst,
                        "shift": f"{base_grade}->{worst}",
                    },
                )
            )
    if opts.febrile_neutropenia:
        out += _febrile_neutropenia(patient, ctx, opts)
    out += _hypogammaglobulinaemia(patient, ctx, opts)
    if opts.infections:
        out += _infections(patient, ctx, opts)
    return out


def _infections(patient: PatientRecords, ctx: Context, opts: Any) -> list[ScoreResult]:
    """One row per infection record (in time order) and the worst post-baseline grade."""
    out = []
    worst = 0
    counted = []
    baseline = []
    for i, inf in sorted(
        enumerate(patient.infections), key=lambda p: (patient.day_of(p[1].start), p[0])
    ):
        grade = infection_grade(inf)
        out.append(
            ctx.result(
                patient,
                item="infection",
                time=inf.start,
                value=grade,
                label=f"grade {grade} ({inf.term})",
                components={
                    "term": inf.term,
                    "antimicrobial": inf.antimicrobial,
                    "invasive_intervention": inf.invasive_intervention,
                    "life_threatening": inf.life_threatening,
                    "fatal": inf.fatal,
                    "decided_by": _infection_reasons(inf, grade),
                    "record": f"infections[{i}]",
                },
            )
        )
        if patient.calendar_day(inf.start) < opts.baseline_before_day:
            baseline.append(f"infections[{i}]")
        else:
            counted.append(f"infections[{i}]")
            worst = max(worst, grade)
    out.append(
        ctx.result(
            patient,
            item="infection (worst post-baseline)",
            value=worst,
            label="no post-baseline infection" if not counted else f"grade {worst}",
            components={"worst_grade": worst, "records": counted, "baseline_records": baseline},
        )
    )
    return out


def _febrile_neutropenia(patient: PatientRecords, ctx: Context, opts: Any) -> list[ScoreResult]:
    out = []
    for _i, lab in _labs_for(patient, "NEUT"):
        if lab.std_value >= 1.0:
            continue
        day = patient.calendar_day(lab.time)
        temps = sorted(
            (patient.day_of(v.time), v.std_value)
            for v in patient.vitals
            if v.code == "TEMP" and patient.calendar_day(v.time) == day
        )
        single = [t for _, t in temps if t > opts.fn_single_c]
        febrile = [t for t, v in temps if v >= opts.fn_sustained_c]
        sustained = False
        run: list[float] = []
        for t, v in temps:
            run = run + [t] if v >= opts.fn_sustained_c else []
            if len(run) >= 2 and (run[-1] - run[0]) * 24 > opts.fn_sustained_hours:
                sustained = True
        if single or sustained:
            out.append(
                ctx.result(
                    patient,
                    item="febrile_neutropenia",
                    time=lab.time,
                    value=3,
                    label="grade 3",
                    components={
                        "anc_10e9_l": lab.std_value,
                        "max_temperature_c": max(v for _, v in temps),
                        "single_above": bool(single),
                        "sustained": sustained,
                        "febrile_readings": len(febrile),
                    },
                    flags=["grade 4 (life-threatening) is a clinical judgement"],
                )
            )
    return out


def _hypogammaglobulinaemia(patient: PatientRecords, ctx: Context, opts: Any) -> list[ScoreResult]:
    out = []
    limit = opts.igg_threshold_g_l
    for i, lab in _labs_for(patient, "IGG"):
        low = lab.std_value <= limit if opts.igg_inclusive else lab.std_value < limit
        day = patient.calendar_day(lab.time)
        infections = [
            f"adverse_events[{j}] ({ae.term})"
            for j, ae in enumerate(patient.adverse_events)
            if ae.category == "infection"
            and day - opts.infection_window_days <= patient.calendar_day(ae.start) <= day
        ] + [
            f"infections[{j}] ({inf.term})"
            for j, inf in enumerate(patient.infections)
            if day - opts.infection_window_days <= patient.calendar_day(inf.start) <= day
        ]
        out.append(
            ctx.result(
                patient,
                item="hypogammaglobulinaemia",
                time=lab.time,
                value=low,
                label=f"IgG {lab.std_value:g} g/L {'below' if low else 'not below'} {limit:g} g/L",
                components={
                    "igg_g_l": lab.std_value,
                    "threshold_g_l": limit,
                    "infections": infections,
                    "record": f"labs[{i}]",
                },
                flags=[
                    "no CTCAE grade exists for hypogammaglobulinaemia; reported as a threshold event"
                ],
            )
        )
    return out
