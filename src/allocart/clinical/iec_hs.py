"""IEC-HS (immune effector cell-associated HLH-like syndrome) and the computable HLH criteria.

The ASTCT IEC-HS criteria and grading (Hines 2023) could not be verified in full, so the
*reported* IEC-HS grade (an adverse event with category ``iec_hs``, scale ``astct-2023``) is
taken as given, and two published, computable HLH criteria are derived from the records:

HScore (Fardet 2014), points: known immunosuppression 18; temperature < 38.4 degC 0,
38.4-39.4 33, > 39.4 49; organomegaly liver or spleen 23, both 38; cytopenias (Hb <= 9.2 g/dL,
platelets <= 110 x 10^9/L, WBC <= 5 x 10^9/L) 2 lineages 24, 3 lineages 34; ferritin < 2000 0,
2000-6000 35, > 6000 ng/mL 50; triglycerides < 1.5 mmol/L 0, 1.5-4 44, > 4 64; fibrinogen
<= 2.5 g/L 30; AST >= 30 U/L 19; haemophagocytosis on marrow 35. A score >= 169 is the usual cut-off.
Missing items score 0 and are listed.

HLH-2004 (Henter 2007), fulfilled with 5 of 8: fever >= 38.5 degC; splenomegaly; cytopenia in
>= 2 lineages (Hb < 9 g/dL, platelets < 100 x 10^9/L, ANC < 1.0 x 10^9/L); triglycerides >= 3.0
mmol/L (265 mg/dL) and/or fibrinogen <= 1.5 g/L; haemophagocytosis; low or absent NK activity;
ferritin >= 500 ug/L; soluble CD25 >= 2400 U/mL (or a molecular diagnosis).

Laboratory values and temperatures are the worst within ``lab_window_days`` before (and on the
day of) each HLH assessment.

References
----------
Hines MR, et al. Transplant Cell Ther 2023;29:438.e1-16.
Fardet L, et al. Arthritis Rheumatol 2014;66:2613-20. Henter JI, et al. Pediatr Blood Cancer 2007;48:124-31.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from allocart.clinical.records import HlhAssessment, LabResult, PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult, grade_label
from allocart.clinical.units import threshold_in_unit

__all__ = ["HlhOptions", "score_hscore", "score_hlh2004", "score_iec_hs", "hscore", "hlh2004"]


class HlhOptions(Options):
    """Options of HScore, HLH-2004 and IEC-HS."""

    lab_window_days: int = Field(
        3,
        ge=0,
        le=30,
        description="Use the worst value within this many days before each assessment.",
    )
    hscore_cutoff: int = Field(
        169, ge=0, description="HScore at or above this is reported as probable HLH."
    )


def _window_labs(
    patient: PatientRecords, a: HlhAssessment, code: str, days: int
) -> list[LabResult]:
    d = patient.calendar_day(a.time)
    return [
        lab
        for lab in patient.labs
        if lab.code == code
        and not lab.is_urine()
        and d - days <= patient.calendar_day(lab.time) <= d
    ]


def _worst(labs: list[LabResult], high: bool) -> LabResult | None:
    if not labs:
        return None
    return (max if high else min)(labs, key=lambda lab: lab.std_value)


def _cmp(lab: LabResult, thresholds: dict[str, float], op: str) -> bool:
    threshold, own = threshold_in_unit(thresholds, lab.unit, lab.analyte.unit)
    value = lab.value if own else lab.std_value
    return {
        "<": value < threshold,
        "<=": value <= threshold,
        ">": value > threshold,
        ">=": value >= threshold,
    }[op]


def _inputs(patient: PatientRecords, a: HlhAssessment, opts: HlhOptions) -> dict[str, Any]:
    w = opts.lab_window_days
    d = patient.calendar_day(a.time)
    temps = [
        v.std_value
        for v in patient.vitals
        if v.code == "TEMP" and d - w <= patient.calendar_day(v.time) <= d
    ]
    return {
        "temperature": max(temps) if temps else None,
        "ferritin": _worst(_window_labs(patient, a, "FERRITIN", w), True),
        "trig": _worst(_window_labs(patient, a, "TRIG", w), True),
        "fib": _worst(_window_labs(patient, a, "FIBRINO", w), False),
        "ast": _worst(_window_labs(patient, a, "AST", w), True),
        "hgb": _worst(_window_labs(patient, a, "HGB", w), False),
        "plat": _worst(_window_labs(patient, a, "PLAT", w), False),
        "wbc": _worst(_window_labs(patient, a, "WBC", w), False),
        "neut": _worst(_window_labs(patient, a, "NEUT", w), False),
        "scd25": _worst(_window_labs(patient, a, "SIL2R", w), True),
    }


def hscore(
    patient: PatientRecords, a: HlhAssessment, opts: HlhOptions
) -> tuple[int, dict[str, int], list[str]]:
    """HScore points of one assessment: (total, points per item, items not assessed)."""
    x = _inputs(patient, a, opts)
    pts: dict[str, int] = {}
    missing: list[str] = []

    def need(name: str, value: Any) -> bool:
        if value is None:
            missing.append(name)
            pts[name] = 0
            return False
        return True

    if need("known_immunosuppression", a.known_immunosuppression):
        pts["known_immunosuppression"] = 18 if a.known_immunosuppression else 0
    if need("temperature", x["temperature"]):
        t = x["temperature"]
        pts["temperature"] = 0 if t < 38.4 else 33 if t <= 39.4 else 49
    if need("organomegaly", None if a.hepatomegaly is None and a.splenomegaly is None else True):
        n = int(bool(a.hepatomegaly)) + int(bool(a.splenomegaly))
        pts["organomegaly"] = (0, 23, 38)[n]
    lineages = [
        x["hgb"] is not None and x["hgb"].std_value <= 9.2,
        x["plat"] is not None and x["plat"].std_value <= 110,
        x["wbc"] is not None and x["wbc"].std_value <= 5.0,
    ]
    if need("cytopenias", None if all(x[k] is None for k in ("hgb", "plat", "wbc")) else True):
        pts["cytopenias"] = {0: 0, 1: 0, 2: 24, 3: 34}[sum(lineages)]
    if need("ferritin", x["ferritin"]):
        f = x["ferritin"].std_value
        pts["ferritin"] = 0 if f < 2000 else 35 if f <= 6000 else 50
    if need("triglycerides", x["trig"]):
        tg = x["trig"]
        pts["triglycerides"] = (
            64
            if _cmp(tg, {"mmol/L": 4.0, "mg/dL": 354.0}, ">")
            else 44
            if _cmp(tg, {"mmol/L": 1.5, "mg/dL": 132.7}, ">=")
            else 0
        )
    if need("fibrinogen", x["fib"]):
        pts["fibrinogen"] = 30 if _cmp(x["fib"], {"g/L": 2.5, "mg/dL": 250.0}, "<=") else 0
    if need("ast", x["ast"]):
        pts["ast"] = 19 if x["ast"].std_value >= 30 else 0
    if need("haemophagocytosis", a.haemophagocytosis):
        pts["haemophagocytosis"] = 35 if a.haemophagocytosis else 0
    return sum(pts.values()), pts, missing


def hlh2004(
    patient: PatientRecords, a: HlhAssessment, opts: HlhOptions
) -> tuple[int, dict[str, bool | None]]:
    """HLH-2004 criteria of one assessment: (number met, each criterion; None = not assessed)."""
    x = _inputs(patient, a, opts)
    infant = patient.age_years is not None and patient.age_years < 4 / 52
    hb_cut = 10.0 if infant else 9.0
    lineages = [
        x["hgb"] is not None and x["hgb"].std_value < hb_cut,
        x["plat"] is not None and x["plat"].std_value < 100,
        x["neut"] is not None and x["neut"].std_value < 1.0,
    ]
    tg = None if x["trig"] is None else _cmp(x["trig"], {"mmol/L": 3.0, "mg/dL": 265.0}, ">=")
    fib = None if x["fib"] is None else _cmp(x["fib"], {"g/L": 1.5, "mg/dL": 150.0}, "<=")
    criteria: dict[str, bool | None] = {
        "fever": None if x["temperature"] is None else x["temperature"] >= 38.5,
        "splenomegaly": a.splenomegaly,
        "cytopenias": None
        if all(x[k] is None for k in ("hgb", "plat", "neut"))
        else sum(lineages) >= 2,
        "hypertriglyceridaemia_or_hypofibrinogenaemia": None
        if tg is None and fib is None
        else bool(tg or fib),
        "haemophagocytosis": a.haemophagocytosis,
        "low_nk_activity": a.nk_activity_low,
        "ferritin": None if x["ferritin"] is None else x["ferritin"].std_value >= 500,
        "soluble_cd25": None if x["scd25"] is None else x["scd25"].std_value >= 2400,
    }
    return sum(bool(v) for v in criteria.values()), criteria


def _assessments(patient: PatientRecords) -> list[tuple[int, HlhAssessment]]:
    return sorted(enumerate(patient.hlh), key=lambda p: patient.day_of(p[1].time))


def score_hscore(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """HScore of every HLH assessment."""
    opts: Any = ctx.options
    out = []
    for _i, a in _assessments(patient):
        total, pts, missing = hscore(patient, a, opts)
        probable = total >= opts.hscore_cutoff
        out.append(
            ctx.result(
                patient,
                item="assessment",
                time=a.time,
                value=total,
                label=f"{total} ({'>=' if probable else '<'} {opts.hscore_cutoff})",
                components={"points": pts, "not_assessed": missing, "probable_hlh": probable},
                flags=[f"not assessed (0 points): {', '.join(missing)}"] if missing else [],
            )
        )
    return out


def score_hlh2004(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """HLH-2004 criteria of every HLH assessment."""
    opts: Any = ctx.options
    out = []
    for _i, a in _assessments(patient):
        met, criteria = hlh2004(patient, a, opts)
        fulfilled = a.molecular_diagnosis or met >= 5
        not_assessed = [k for k, v in criteria.items() if v is None]
        out.append(
            ctx.result(
                patient,
                item="assessment",
                time=a.time,
                value=fulfilled,
                label=f"{'fulfilled' if fulfilled else 'not fulfilled'} ({met} of 8)",
                components={
                    "criteria_met": met,
                    "criteria": criteria,
                    "molecular_diagnosis": a.molecular_diagnosis,
                },
                flags=[f"not assessed: {', '.join(not_assessed)}"] if not_assessed else [],
            )
        )
    return out


def score_iec_hs(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Worst reported IEC-HS grade, with HScore and HLH-2004 of each assessment as support."""
    opts: Any = ctx.options
    reported = [(i, ae) for i, ae in enumerate(patient.adverse_events) if ae.category == "iec_hs"]
    worst = max((ae.grade for _, ae in reported), default=0)
    support = []
    for _i, a in _assessments(patient):
        total, _, _ = hscore(patient, a, opts)
        met, _ = hlh2004(patient, a, opts)
        support.append(
            {"day": patient.calendar_day(a.time), "hscore": total, "hlh2004_criteria_met": met}
        )
    flags = [
        "IEC-HS grade as reported (ASTCT 2023 tables not re-derived); HScore/HLH-2004 given as support"
    ]
    if not reported and any(
        s["hscore"] >= opts.hscore_cutoff or s["hlh2004_criteria_met"] >= 5 for s in support
    ):
        flags.append("HLH criteria met but no IEC-HS event reported: review")
    return [
        ctx.result(
            patient,
            item="worst",
            value=worst,
            label=grade_label(worst, "IEC-HS"),
            components={
                "events": [
                    f"adverse_events[{i}] ({ae.term}, grade {ae.grade})" for i, ae in reported
                ],
                "hlh_assessments": support,
            },
            flags=flags,
        )
    ]
