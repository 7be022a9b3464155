"""Acute graft-versus-host disease: MAGIC organ staging and overall grade (Harris 2016).

===== ============================ ================ =============== ============================ ==============================
Stage Skin (active erythema)       Liver bilirubin  Upper GI        Lower GI, adult (> 50 kg)    Lower GI, child
===== ============================ ================ =============== ============================ ==============================
0     no active rash               < 2 mg/dL        none/intermit.  < 500 mL/day, < 3 episodes   < 10 mL/kg/day, < 4 episodes
1     < 25 % BSA                   2-3 mg/dL        persistent      500-999 mL or 3-4 episodes   10-19.9 mL/kg or 4-6 episodes
2     25-50 % BSA                  3.1-6 mg/dL      -               1000-1500 mL or 5-7 episodes 20-30 mL/kg or 7-10 episodes
3     > 50 % BSA                   6.1-15 mg/dL     -               > 1500 mL or > 7 episodes    > 30 mL/kg or > 10 episodes
4     > 50 % with bullae and       > 15 mg/dL       -               severe pain +/- ileus, or grossly bloody stool
      desquamation > 5 % BSA
===== ============================ ================ =============== ============================ ==============================

Overall grade: IV skin, liver or lower GI stage 4; III liver 2-3 or lower GI 2-3; II skin 3,
liver 1, upper GI 1 or lower GI 1; I skin 1-2 only; 0 none. Bilirubin is staged without
modification for other causes; stool mixed with urine counts as half the volume.

References
----------
Harris AC, et al. Biol Blood Marrow Transplant 2016;22:4-10. doi:10.1016/j.bbmt.2015.09.001
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allocart.clinical.records import GvhdAssessment, PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult
from allocart.clinical.units import threshold_in_unit

__all__ = ["GvhdOptions", "stage_organs", "overall_grade", "score_gvhd", "ROMAN"]

ROMAN = ("0", "I", "II", "III", "IV")

#: MAGIC lower-GI stages 0-3 by stool volume (adult mL/day, child mL/kg/day) and by episodes
#: per day (table above): for stages 0, 1 and 2 in turn, the limit of the stage and whether a
#: value equal to it belongs to the stage; above the last limit, stage 3.
_LOWER_GI_LIMITS: dict[tuple[str, str], tuple[tuple[float, bool], ...]] = {
    ("adult", "volume"): ((500.0, False), (1000.0, False), (1500.0, True)),
    ("adult", "episodes"): ((3.0, False), (4.0, True), (7.0, True)),
    ("child", "volume"): ((10.0, False), (20.0, False), (30.0, True)),
    ("child", "episodes"): ((4.0, False), (6.0, True), (10.0, True)),
}


class GvhdOptions(Options):
    """Options of MAGIC acute GvHD staging."""

    lower_gi_scale: Literal["auto", "adult", "child"] = Field(
        default="auto",
        description="auto: adult thresholds above 50 kg body weight, child (mL/kg) otherwise.",
    )
    bilirubin_window_days: int = Field(
        default=0,
        ge=0,
        le=7,
        description="Use the highest bilirubin this many days before the assessment.",
    )


def _liver_stage(lab: Any) -> int:
    # Stage bounds stated in both units so a value in umol/L is compared as collected.
    for stage, bounds in (
        (4, {"mg/dL": 15.0, "umol/L": 256.5}),
        (3, {"mg/dL": 6.0, "umol/L": 102.6}),
        (2, {"mg/dL": 3.0, "umol/L": 51.3}),
    ):
        limit, own = threshold_in_unit(bounds, lab.unit, "mg/dL")
        if (lab.value if own else lab.std_value) > limit:
            return stage
    limit, own = threshold_in_unit({"mg/dL": 2.0, "umol/L": 34.2}, lab.unit, "mg/dL")
    return 1 if (lab.value if own else lab.std_value) >= limit else 0


def _lower_gi_stage(value: float | None, limits: tuple[tuple[float, bool], ...]) -> int:
    """Lower-GI stage 0-3 of a stool volume or episode count by one row of the MAGIC limits."""
    if value is None:
        return 0
    for stage, (limit, inclusive) in enumerate(limits):
        if value < limit or (inclusive and value == limit):
            return stage
    return len(limits)


def stage_organs(patient: PatientRecords, a: GvhdAssessment, opts: GvhdOptions) -> dict[str, Any]:
    """Organ stages of one assessment (skin, liver, upper GI, lower GI) with the data used."""
    bsa = a.skin_bsa_percent
    if bsa == 0:
        skin = 0
    elif bsa < 25:
        skin = 1
    elif bsa <= 50:
        skin = 2
    else:
        skin = 4 if a.skin_bullae_desquamation else 3
    d = patient.calendar_day(a.time)
    bili = [
        lab
        for lab in patient.labs
        if lab.code == "BILI"
        and d - opts.bilirubin_window_days <= patient.calendar_day(lab.time) <= d
    ]
    bili_lab = max(bili, key=lambda lab: lab.std_value) if bili else None
    liver = 0 if bili_lab is None else _liver_stage(bili_lab)
    upper = 1 if a.upper_gi_persistent else 0
    scale = opts.lower_gi_scale
    if scale == "auto":
        scale = "child" if patient.weight_kg is not None and patient.weight_kg <= 50 else "adult"
    volume = a.stool_ml_per_day
    if volume is not None and a.stool_mixed_with_urine:
        volume = volume / 2.0
    episodes = a.stool_episodes_per_day
    amount = volume  # adult: mL/day
    if scale == "child":  # mL/kg/day
        amount = None if volume is None or patient.weight_kg is None else volume / patient.weight_kg
    if a.severe_abdominal_pain or a.ileus or a.grossly_bloody_stool:
        lower = 4
    else:
        lower = max(
            _lower_gi_stage(amount, _LOWER_GI_LIMITS[scale, "volume"]),
            _lower_gi_stage(episodes, _LOWER_GI_LIMITS[scale, "episodes"]),
        )
    return {
        "skin": skin,
        "liver": liver,
        "upper_gi": upper,
        "lower_gi": lower,
        "bilirubin_mg_dl": None if bili_lab is None else bili_lab.std_value,
        "stool_ml_per_day_used": volume,
        "lower_gi_scale": scale,
    }


def overall_grade(stages: dict[str, int]) -> int:
    """MAGIC overall grade 0-4 (I-IV) from organ stages."""
    skin, liver, upper, lower = (
        stages["skin"],
        stages["liver"],
        stages["upper_gi"],
        stages["lower_gi"],
    )
    if skin == 4 or liver == 4 or lower == 4:
        return 4
    if liver in (2, 3) or lower in (2, 3):
        return 3
    if skin == 3 or liver == 1 or upper == 1 or lower == 1:
        return 2
    return 1 if skin in (1, 2) else 0


def score_gvhd(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """MAGIC stages and grade per assessment, and the worst grade of the patient."""
    opts: Any = ctx.options
    out = []
    worst = 0
    for _i, a in sorted(enumerate(patient.gvhd), key=lambda p: patient.day_of(p[1].time)):
        stages = stage_organs(patient, a, opts)
        grade = overall_grade(stages)
        flags = (
            []
            if a.attribution in ("gvhd", "unspecified")
            else [f"findings attributed to {a.attribution}; staged anyway (MAGIC)"]
        )
        worst = max(worst, grade)
        out.append(
            ctx.result(
                patient,
                item="assessment",
                time=a.time,
                value=grade,
                label=f"grade {ROMAN[grade]}",
                components=stages,
                flags=flags,
            )
        )
    out.append(ctx.result(patient, item="worst", value=worst, label=f"grade {ROMAN[worst]}"))
    return out
