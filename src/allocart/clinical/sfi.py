"""SELENA-SLEDAI Flare Index (SFI, classic), comparing each visit with the previous one.

Severe flare if any of: SELENA-SLEDAI increased to a new total > 12; a new or worse severe
manifestation (CNS-SLE, vasculitis, nephritis, myositis, platelets < 60 x 10^9/L, haemolytic
anaemia with Hb < 7 g/dL or a fall > 3 g/dL) *requiring* a doubling of prednisone, prednisone
> 0.5 mg/kg/day or hospitalisation; prednisone increased to > 0.5 mg/kg/day; hospitalisation for
SLE activity; a new cyclophosphamide, azathioprine, methotrexate or mycophenolate for SLE; PGA
increased to > 2.5.

Mild/moderate flare if any of: SELENA-SLEDAI increase >= 3; a new or worse mild manifestation
(discoid, photosensitive, profundus, cutaneous-vasculitis or bullous rash, nasopharyngeal
ulcers, pleuritis, pericarditis, arthritis, SLE fever); prednisone increased but not to > 0.5
mg/kg/day; NSAID or hydroxychloroquine added for SLE; PGA increase >= 1.0 (new PGA <= 2.5).
A severe criterion overrides mild/moderate.

References
----------
Petri M, et al. N Engl J Med 2005;353:2550-8; Buyon JP, et al. Ann Intern Med 2005;142:953-62.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from allocart.clinical.maintenance import canonical_drug
from allocart.clinical.medications import prednisone_equivalent_mg_per_day
from allocart.clinical.pga import PgaOptions, pga_at
from allocart.clinical.records import PatientRecords
from allocart.clinical.records.sle import MILD_MANIFESTATIONS, SEVERE_MANIFESTATIONS
from allocart.clinical.results import Context, ScoreResult
from allocart.clinical.sledai import SledaiOptions, compute_sledai, sorted_visits, variant_label
from allocart.errors import ScoringError

__all__ = ["SfiOptions", "score_sfi", "MILD_MANIFESTATIONS", "SEVERE_MANIFESTATIONS"]

_SEVERE_DRUGS = (
    "cyclophosphamide",
    "azathioprine",
    "methotrexate",
    "mycophenolate mofetil",
    "mycophenolic acid",
)


class SfiOptions(SledaiOptions, PgaOptions):
    """Options of the SELENA flare index."""

    variant: Literal["classic"] = Field(
        "classic", description="Index version (the revised SFI-R is not implemented)."
    )
    sledai_variant: Literal["selena-sledai", "hybrid-sledai", "sledai2k"] = Field(
        "selena-sledai", description="SLEDAI variant of the score criteria."
    )
    doubling_standalone: bool = Field(
        False,
        description="Treat a prednisone doubling alone as severe (default: only as a qualifier of severe manifestations).",
    )
    haemoglobin_fall_g_dl: float = Field(
        3.0, gt=0, description="Haemolytic anaemia: a fall in Hb above this (g/dL) qualifies."
    )


def _weight(patient: PatientRecords, day: int) -> float | None:
    if patient.weight_kg is not None:
        return patient.weight_kg
    weights = [
        v for v in patient.vitals if v.code == "WEIGHT" and patient.calendar_day(v.time) <= day
    ]
    return max(weights, key=lambda v: patient.day_of(v.time)).std_value if weights else None


def _severe_manifestation_qualifies(f: Any, opts: SfiOptions) -> bool:
    if f.manifestation == "thrombocytopenia":
        return f.platelets_10e9_l is not None and f.platelets_10e9_l < 60
    if f.manifestation == "haemolytic_anaemia":
        return (f.hb_g_dl is not None and f.hb_g_dl < 7) or (
            f.hb_fall_g_dl is not None and f.hb_fall_g_dl > opts.haemoglobin_fall_g_dl
        )
    return True


def score_sfi(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """SFI category at every visit after the first."""
    opts: Any = ctx.options
    visits = sorted_visits(patient, ctx.standard)
    variant = f"SELENA flare index ({opts.variant}) with {variant_label(opts.sledai_variant, opts)}"
    out = []
    for prev, cur in zip(visits, visits[1:]):
        d0, d1 = patient.calendar_day(prev.time), patient.calendar_day(cur.time)
        s0 = compute_sledai(patient, d0, opts.sledai_variant, opts)
        s1 = compute_sledai(patient, d1, opts.sledai_variant, opts)
        p0, p1 = pga_at(patient, d0, opts), pga_at(patient, d1, opts)
        pred0, _ = prednisone_equivalent_mg_per_day(patient, d0)
        pred1, _ = prednisone_equivalent_mg_per_day(patient, d1)
        flags = s0.flags + s1.flags
        severe: list[str] = []
        mild: list[str] = []
        delta = s1.total - s0.total

        increased = pred1 > pred0
        doubled = pred0 > 0 and pred1 >= 2 * pred0 or (pred0 == 0 and pred1 > 0)
        over_half = False
        if increased:
            weight = _weight(patient, d1)
            if weight is None:
                raise ScoringError(
                    f"patient {patient.patient_id!r}: prednisone rose to {pred1:g} mg/day at visit {cur.visit_id or cur.time}; "
                    "the SFI mg/kg rule needs `weight_kg` (or a WEIGHT vital sign)"
                )
            over_half = pred1 / weight > 0.5
        in_interval = lambda t, d0=d0, d1=d1: d0 < patient.calendar_day(t) <= d1  # noqa: E731
        hospitalised = [
            f"hospitalisations[{i}]"
            for i, h in enumerate(patient.hospitalisations)
            if in_interval(h.start) and h.reason in ("sle",)
        ]

        if delta > 0 and s1.total > 12:
            severe.append(f"SELENA-SLEDAI increased to {s1.total} (> 12)")
        elif delta >= 3:
            mild.append(f"SELENA-SLEDAI increased by {delta}")
        for i, f in enumerate(patient.flare_findings):
            if not in_interval(f.time) or f.attribution not in ("sle", "unspecified"):
                continue
            if f.attribution == "unspecified":
                if opts.unattributed == "exclude":
                    continue
                flags.append(f"flare_findings[{i}] counted with unspecified attribution")
            if f.manifestation in MILD_MANIFESTATIONS:
                mild.append(f"new/worse {f.manifestation}")
            elif _severe_manifestation_qualifies(f, opts):
                if doubled or over_half or hospitalised:
                    severe.append(
                        f"new/worse {f.manifestation} requiring more treatment or hospitalisation"
                    )
                else:
                    mild.append(
                        f"new/worse {f.manifestation} (no doubling, > 0.5 mg/kg or hospitalisation)"
                    )
        if increased and over_half:
            severe.append(f"prednisone increased to {pred1:g} mg/day (> 0.5 mg/kg/day)")
        elif increased:
            mild.append(f"prednisone increased {pred0:g} -> {pred1:g} mg/day")
        if doubled and increased and opts.doubling_standalone:
            severe.append("prednisone doubled (stand-alone reading)")
        if hospitalised:
            severe.append(f"hospitalisation for SLE activity ({', '.join(hospitalised)})")
        for i, med in enumerate(patient.medications):
            if not in_interval(med.start) or med.indication != "sle":
                continue
            name = canonical_drug(med.name)
            if name in _SEVERE_DRUGS:
                severe.append(f"new {med.name} for SLE (medications[{i}])")
            elif med.category == "nsaid" or name == "hydroxychloroquine":
                mild.append(f"{med.name} added for SLE (medications[{i}])")
        if p0 is not None and p1 is not None:
            if p1 > Decimal("2.5") and p1 > p0:
                severe.append(f"PGA increased to {p1} (> 2.5)")
            elif p1 - p0 >= Decimal("1.0"):
                mild.append(f"PGA increased by {p1 - p0}")
        else:
            flags.append("PGA missing at one of the two visits; PGA criteria not assessed")

        category = "severe" if severe else ("mild/moderate" if mild else "none")
        out.append(
            ctx.result(
                patient,
                item="visit",
                time=cur.time,
                value=category,
                label={
                    "severe": "severe flare",
                    "mild/moderate": "mild/moderate flare",
                    "none": "no flare",
                }[category],
                components={
                    "visit_id": cur.visit_id,
                    "previous_visit_id": prev.visit_id,
                    "sledai_previous": s0.total,
                    "sledai_current": s1.total,
                    "pga_previous": None if p0 is None else float(p0),
                    "pga_current": None if p1 is None else float(p1),
                    "prednisone_previous_mg": pred0,
                    "prednisone_current_mg": pred1,
                    "severe_criteria": severe,
                    "mild_moderate_criteria": mild,
                },
                flags=flags,
                variant=variant,
            )
        )
    return out
