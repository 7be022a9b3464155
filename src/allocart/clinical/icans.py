"""Immune effector cell-associated neurotoxicity syndrome, ASTCT consensus grading (Lee 2019).

Patients aged 12 years or more (option ``capd_below_age``) are graded with the ICE score:

============================ ========= ============ ============================ ==========================
Domain                       Grade 1   Grade 2      Grade 3                      Grade 4
============================ ========= ============ ============================ ==========================
ICE score                    7-9       3-6          0-2                          0, unarousable
Depressed consciousness      awakens   awakens to   awakens only to tactile      unarousable, stupor, coma
                             spontan.  voice        stimulus
Seizure                      -         -            rapidly resolving clinical,  prolonged (> 5 min) or
                                                    or EEG seizure resolving     repetitive without return
                                                    with intervention            to baseline
Motor findings               -         -            -                            deep focal motor weakness
Raised ICP / cerebral oedema -         -            focal/local oedema           diffuse oedema, posturing,
                                                                                 CN VI palsy, papilloedema,
                                                                                 Cushing's triad
============================ ========= ============ ============================ ==========================

Younger children (and patients with developmental delay) are graded with the Cornell Assessment
of Pediatric Delirium (CAPD): grade 1 CAPD 1-8 awakening spontaneously, grade 2 CAPD 1-8
awakening to voice, grade 3 CAPD >= 9, grade 4 unable to perform CAPD; the other domains as
above. The grade is the most severe domain not attributable to another cause; consciousness
depressed by sedating drugs does not count; tremor and myoclonus do not change the grade.

References
----------
Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625-38. doi:10.1016/j.bbmt.2018.12.758
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allocart.clinical.records import NeuroAssessment, PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult, grade_label
from allocart.errors import ScoringError

__all__ = ["IcansOptions", "score_icans", "ice_grade", "capd_grade"]

_CONSCIOUSNESS = {
    "alert": 0,
    "awakens_spontaneously": 1,
    "awakens_to_voice": 2,
    "awakens_to_tactile": 3,
    "unarousable": 4,
}
_SEIZURE = {
    "none": 0,
    "rapidly_resolving": 3,
    "nonconvulsive_eeg_resolving": 3,
    "prolonged": 4,
    "repetitive": 4,
}
_OEDEMA = {
    "none": 0,
    "focal": 3,
    "diffuse": 4,
    "posturing": 4,
    "cranial_nerve_vi_palsy": 4,
    "papilloedema": 4,
    "cushing_triad": 4,
}
_COUNTED = ("icans", "car_t")


class IcansOptions(Options):
    """Options of ASTCT ICANS grading."""

    capd_below_age: float = Field(
        12.0,
        gt=0,
        description="Use CAPD below this age (ASTCT: < 12 years; NCIt wording '12 and under' = 13).",
    )
    unattributed: Literal["count", "exclude"] = Field(
        "count", description="Whether assessments with attribution 'unspecified' count as ICANS."
    )
    ice_relative_to_baseline: bool = Field(
        False,
        description="Grade ICE deficits relative to the patient's baseline_ice (not part of ASTCT).",
    )


def ice_grade(ice: int, *, unarousable: bool = False) -> int:
    """ICE-domain grade: 10 -> 0, 7-9 -> 1, 3-6 -> 2, 0-2 -> 3, 0 because unarousable -> 4."""
    if unarousable:
        return 4
    if ice >= 10:
        return 0
    if ice >= 7:
        return 1
    if ice >= 3:
        return 2
    return 3


def capd_grade(capd: int, consciousness: str) -> int:
    """CAPD-domain grade (ASTCT, children): 0 -> 0, 1-8 -> 1 or 2 by arousal, >= 9 -> 3."""
    if capd == 0:
        return 0
    if capd >= 9:
        return 3
    return 2 if consciousness in ("awakens_to_voice",) else 1


def _age(patient: PatientRecords) -> float | None:
    return patient.age_years


def score_icans(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """ICANS grade per neurological assessment and the worst grade of the patient."""
    opts: Any = ctx.options
    age = _age(patient)
    use_capd = patient.developmental_delay or (age is not None and age < opts.capd_below_age)
    out = []
    worst = 0
    baseline_flags = []
    if patient.baseline_ice is not None and patient.baseline_ice < 10:
        baseline_flags.append(
            f"baseline ICE {patient.baseline_ice} < 10: deficits may pre-date CAR-T (not addressed by ASTCT)"
        )
    records = sorted(enumerate(patient.neuro), key=lambda p: patient.day_of(p[1].time))
    for i, a in records:
        flags = list(baseline_flags)
        comp = _grade(patient, i, a, use_capd, age, opts, flags)
        grade = comp["grade"]
        if a.attribution not in _COUNTED and not (
            a.attribution == "unspecified" and opts.unattributed == "count"
        ):
            flags.append(f"findings attributed to {a.attribution}: not ICANS")
            grade = 0
        worst = max(worst, grade)
        out.append(
            ctx.result(
                patient,
                item="assessment",
                time=a.time,
                value=grade,
                label=grade_label(grade, "ICANS"),
                components=comp,
                flags=flags,
                variant="ASTCT 2019 ICANS (CAPD)" if use_capd else "ASTCT 2019 ICANS (ICE)",
            )
        )
    return out + ctx.worst_rows(
        patient, worst, cause="icans", syndrome="ICANS", flags=baseline_flags
    )


def _grade(
    patient: PatientRecords,
    i: int,
    a: NeuroAssessment,
    use_capd: bool,
    age: float | None,
    opts: Any,
    flags: list[str],
) -> dict[str, Any]:
    where = f"patient {patient.patient_id!r}, neuro[{i}]"
    consciousness = _CONSCIOUSNESS[a.consciousness]
    if a.consciousness != "alert" and a.consciousness_attribution not in (
        "icans",
        "car_t",
        "unspecified",
    ):
        flags.append(
            f"depressed consciousness attributed to {a.consciousness_attribution}: not graded"
        )
        consciousness = 0
    unarousable = a.unable_to_perform or a.consciousness == "unarousable"
    if use_capd:
        if a.capd_score is None and not a.unable_to_perform:
            raise ScoringError(
                f"{where}: the patient is graded with CAPD (age {age}, developmental delay {patient.developmental_delay}) "
                "but `capd_score` is missing; give it or set `unable_to_perform`"
            )
        test_grade = 4 if a.unable_to_perform else capd_grade(a.capd_score or 0, a.consciousness)
        test = {"capd": a.capd_score}
    else:
        ice = a.ice
        if ice is None and not a.unable_to_perform:
            raise ScoringError(
                f"{where}: `ice_score` (or `ice_items`) is missing; give it or set `unable_to_perform`"
            )
        if a.unable_to_perform and not unarousable_ok(a):
            flags.append("unable to perform ICE while not unarousable")
        if ice is not None and opts.ice_relative_to_baseline and patient.baseline_ice is not None:
            ice = min(10, ice + (10 - patient.baseline_ice))
        test_grade = ice_grade(ice or 0, unarousable=unarousable and (ice in (0, None)))
        if ice == 0 and not unarousable:
            test_grade = 3
        test = {"ice": a.ice, "ice_used": ice}
    domains = {
        "test": test_grade,
        "consciousness": consciousness,
        "seizure": _SEIZURE[a.seizure],
        "motor": 4 if a.motor == "deep_focal_weakness" else 0,
        "cerebral_oedema": _OEDEMA[a.cerebral_oedema],
    }
    return {**test, "domains": domains, "grade": max(domains.values())}


def unarousable_ok(a: NeuroAssessment) -> bool:
    """Whether an 'unable to perform' assessment is explained by arousal."""
    return a.consciousness in ("unarousable", "awakens_to_tactile")
