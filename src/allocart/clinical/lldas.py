"""Lupus Low Disease Activity State (LLDAS; Franklyn et al. 2016).

LLDAS at a visit requires all five criteria:

1. SLEDAI-2K <= 4 with no activity in major organ systems (SLEDAI items 1-8 CNS and
   vasculitis, 11-14 renal, 18-19 serositis, 22 fever) and no haemolytic anaemia or
   gastrointestinal activity;
2. no new features of lupus activity since the previous assessment (Oon operationalisation: no
   SLEDAI item scored now that was not scored at the previous visit, and no BILAG domain active
   now that was inactive then);
3. SELENA-SLEDAI PGA <= 1 (0-3);
4. prednisolone (or equivalent) <= 7.5 mg/day;
5. standard maintenance doses of immunosuppressants and approved biologics, no investigational
   drug.

References
----------
Franklyn K, et al. Ann Rheum Dis 2016;75:1615-21. Oon S, et al. Ann Rheum Dis 2019;78:629-33.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allocart.clinical.maintenance import maintenance_on
from allocart.clinical.medications import active_on, daily_dose_mg, prednisone_equivalent_mg_per_day
from allocart.clinical.pga import PgaOptions, pga_at
from allocart.clinical.records import SLEDAI_DESCRIPTORS, PatientRecords
from allocart.clinical.results import Context, ScoreResult, decimal1
from allocart.clinical.sledai import SledaiOptions, compute_sledai, sorted_visits, variant_label

__all__ = ["LldasOptions", "MAJOR_ORGAN_ITEMS", "score_lldas"]

#: SLEDAI-2K items that mean major-organ activity for criterion 1: items 1-8 (CNS and
#: vasculitis), 11-14 (renal), 18-19 (serositis) and 22 (fever).
MAJOR_ORGAN_ITEMS = tuple(
    tuple(SLEDAI_DESCRIPTORS)[item - 1] for item in (*range(1, 9), *range(11, 15), 18, 19, 22)
)


class LldasOptions(SledaiOptions, PgaOptions):
    """Options of LLDAS."""

    sledai_max: int = Field(4, ge=0, description="Criterion 1: SLEDAI-2K at most this.")
    pga_max: float = Field(1.0, ge=0, le=3, description="Criterion 3: PGA at most this.")
    prednisolone_max_mg: float = Field(
        7.5, ge=0, description="Criterion 4: prednisolone-equivalent mg/day at most this."
    )
    exclude_toxicity_steroids: bool = Field(
        False, description="Leave glucocorticoids given for CAR-T toxicity out of criterion 4."
    )
    first_visit: Literal["not_evaluable", "no_new_features"] = Field(
        "not_evaluable",
        description="Criterion 2 at the first visit, which has no previous assessment.",
    )
    missing_haemolysis_gi: Literal["assume_absent", "not_evaluable"] = Field(
        "assume_absent",
        description="When a visit records neither haemolytic anaemia nor GI activity (and no BILAG says so).",
    )
    daily_caps_mg: dict[str, float] = Field(
        default_factory=lambda: {
            "hydroxychloroquine": 400.0,
            "azathioprine": 200.0,
            "mycophenolate mofetil": 3000.0,
            "mycophenolic acid": 2160.0,
            "leflunomide": 20.0,
        },
        description="Criterion 5: maximum standard maintenance dose per day (Arthritis Res Ther 2016 cohort).",
    )
    weekly_caps_mg: dict[str, float] = Field(
        default_factory=lambda: {"methotrexate": 30.0},
        description="Criterion 5: weekly caps (methotrexate is weekly).",
    )
    car_t_breaks_criterion_5: bool = Field(
        False,
        description="Whether a past investigational CAR-T infusion violates criterion 5 (single dose; default no).",
    )


def _criterion5(
    patient: PatientRecords, day: int, opts: LldasOptions
) -> tuple[bool, list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    for i, name, _cat in maintenance_on(patient, day):
        med = patient.medications[i]
        if name in opts.daily_caps_mg or name in opts.weekly_caps_mg:
            if med.dose is None:
                notes.append(f"medications[{i}] ({med.name}) has no dose; cap not checked")
                continue
            per_day = daily_dose_mg(patient, med, f"medications[{i}]")
            if name in opts.weekly_caps_mg and round(per_day * 7, 6) > opts.weekly_caps_mg[name]:
                problems.append(
                    f"{med.name} {per_day * 7:g} mg/week above {opts.weekly_caps_mg[name]:g}"
                )
            if name in opts.daily_caps_mg and round(per_day, 6) > opts.daily_caps_mg[name]:
                problems.append(f"{med.name} {per_day:g} mg/day above {opts.daily_caps_mg[name]:g}")
        else:
            notes.append(f"{med.name}: no dose cap configured, taken as standard maintenance")
    for i, med in enumerate(patient.medications):
        if med.category == "investigational" and active_on(patient, med, day):
            problems.append(f"investigational drug medications[{i}] ({med.name})")
        if (
            med.category == "car_t"
            and opts.car_t_breaks_criterion_5
            and patient.calendar_day(med.start) <= day
        ):
            problems.append(f"CAR-T infusion medications[{i}] ({med.name})")
    return not problems, problems, notes


def score_lldas(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """LLDAS at every visit."""
    opts: Any = ctx.options
    visits = sorted_visits(patient, ctx.standard)
    variant = f"LLDAS (Franklyn 2016) with {variant_label('sledai2k', opts)}"
    out = []
    previous_items: set[str] | None = None
    previous_bilag = None
    for visit in visits:
        d = patient.calendar_day(visit.time)
        s = compute_sledai(patient, d, "sledai2k", opts)
        bilag = [b for b in patient.bilag if patient.calendar_day(b.time) == d]
        bilag_now = bilag[-1] if bilag else None
        pga = pga_at(patient, d, opts)
        flags = list(s.flags)
        missing = []
        if pga is None:
            missing.append("PGA")

        major = sorted(set(s.items) & set(MAJOR_ORGAN_ITEMS))
        haem = visit.haemolytic_anaemia
        gi = visit.gi_activity
        if bilag_now is not None and gi is None:
            gi = bilag_now.domains["gastrointestinal"] in ("A", "B", "C")
        if haem is None or gi is None:
            if opts.missing_haemolysis_gi == "not_evaluable":
                missing.append("haemolytic anaemia / GI activity")
            else:
                flags.append("haemolytic anaemia or GI activity not recorded; taken as absent")
        c1 = s.total <= opts.sledai_max and not major and not haem and not gi

        if previous_items is None:
            if opts.first_visit == "not_evaluable":
                missing.append("previous visit (for new features)")
            new_items: list[str] = []
            new_bilag: list[str] = []
        else:
            new_items = sorted(set(s.items) - previous_items)
            new_bilag = []
            if bilag_now is not None and previous_bilag is not None:
                new_bilag = sorted(
                    dom
                    for dom, g in bilag_now.domains.items()
                    if g in ("A", "B", "C") and previous_bilag.domains[dom] in ("D", "E")
                )
        c2 = not new_items and not new_bilag
        previous_items, previous_bilag = set(s.items), bilag_now or previous_bilag

        pred, agents = prednisone_equivalent_mg_per_day(
            patient, d, exclude_toxicity=opts.exclude_toxicity_steroids
        )
        c4 = pred <= opts.prednisolone_max_mg
        c5, problems, notes = _criterion5(patient, d, opts)
        flags += notes
        if missing:
            out.append(
                ctx.not_evaluable(
                    patient,
                    item="visit",
                    time=visit.time,
                    reason=", ".join(missing) + " missing",
                    variant=variant,
                    flags=flags,
                )
            )
            continue
        # An assessment without a PGA was reported as not evaluable above.
        assert pga is not None
        c3 = pga <= decimal1(opts.pga_max)
        criteria = {
            "sledai_low_no_major_organ": c1,
            "no_new_features": c2,
            "pga": c3,
            "glucocorticoid": c4,
            "maintenance_therapy": c5,
        }
        ok = all(criteria.values())
        out.append(
            ctx.result(
                patient,
                item="visit",
                time=visit.time,
                value=ok,
                label="LLDAS" if ok else "not in LLDAS",
                components={
                    "visit_id": visit.visit_id,
                    "criteria": criteria,
                    "sledai": s.total,
                    "sledai_items": s.items,
                    "major_organ_items": major,
                    "new_items": new_items,
                    "new_bilag_domains": new_bilag,
                    "pga": float(pga),
                    "prednisolone_mg_per_day": pred,
                    "glucocorticoids": agents,
                    "maintenance_problems": problems,
                },
                flags=flags,
                variant=variant,
            )
        )
    return out
