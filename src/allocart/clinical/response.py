"""Response indices: SLE Responder Index (SRI-4 ... SRI-8) and BICLA.

SRI-k responder at a visit versus baseline (Furie 2009) when all of:

1. SLEDAI reduced by at least ``k`` points;
2. no new BILAG-2004 A domain and at most one new B domain;
3. PGA increase below 0.3 (0-3 scale, compared as exact decimals);
4. no treatment failure (rescue or new immunosuppressant/biologic for SLE after baseline).

A *new A* is a domain graded A now that was not A at baseline; a *new B* is a domain graded B
now that was C, D or E at baseline (A -> B is an improvement).

BICLA responder (Wallace 2014) when all of: every baseline A improves to B/C/D and every
baseline B to C/D; no new A and at most one new B; SLEDAI-2K not above baseline; no PGA
worsening, i.e. worsening < 10 % (``pga_rule='absolute'``: increase < 0.3, 10 % of the 0-3
scale, the TULIP operationalisation, default; ``'relative'``: increase < 10 % of the baseline
value, strictly, so exactly 10 % fails; no increase always passes); no treatment failure.

References
----------
Furie RA, et al. Arthritis Rheum 2009;61:1143-51. Furie R, et al. Lupus Sci Med 2014;1:e000031.
Wallace DJ, et al. Ann Rheum Dis 2014;73:183-90.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from allocart.clinical.pga import PgaOptions, pga_at
from allocart.clinical.records import BilagAssessment, PatientRecords, Visit
from allocart.clinical.results import Context, ScoreResult, decimal1
from allocart.clinical.sledai import (
    SledaiOptions,
    SledaiScore,
    compute_sledai,
    sorted_visits,
    variant_label,
)
from allocart.errors import ScoringError

__all__ = [
    "ResponseOptions",
    "SriOptions",
    "BiclaOptions",
    "score_sri",
    "score_bicla",
    "baseline_visit",
]


class ResponseOptions(SledaiOptions, PgaOptions):
    """Options shared by SRI and BICLA."""

    sledai_variant: Literal["sledai2k", "selena-sledai", "hybrid-sledai"] = Field(
        "sledai2k",
        description="SLEDAI variant for the change from baseline (never mixed within one comparison).",
    )
    baseline_visit: str | None = Field(
        None,
        description="visit_id of the baseline; None = the visit marked baseline, else the first visit.",
    )
    bilag_window_days: int = Field(
        0, ge=0, le=30, description="A BILAG this many days before a visit still counts."
    )
    failure_categories: tuple[str, ...] = Field(
        ("immunosuppressant", "biologic"),
        description="Medication categories whose start after baseline for SLE is a treatment failure "
        "(courses marked `rescue` always are).",
    )


class SriOptions(ResponseOptions):
    """Options of SRI-k."""

    pga_max_increase: float = Field(
        0.3, gt=0, description="PGA worsening: increase must be below this."
    )


class BiclaOptions(ResponseOptions):
    """Options of BICLA."""

    pga_rule: Literal["absolute", "relative"] = Field(
        "absolute",
        description="BICLA 'no worsening of PGA' (< 10 % worsening; Wallace 2014). absolute: increase < "
        "pga_max_increase (TULIP); relative: increase < pga_max_relative_increase x baseline (strict; exactly 10 % "
        "fails; no increase passes).",
    )
    pga_max_increase: float = Field(
        0.3, gt=0, description="Absolute rule: increase must be below this (10 % of 0-3)."
    )
    pga_max_relative_increase: float = Field(
        0.10,
        gt=0,
        description="Relative rule: the increase must be below this fraction of the baseline PGA (Wallace 2014: < 10 %).",
    )


def baseline_visit(patient: PatientRecords, visits: list[Visit], wanted: str | None) -> Visit:
    """The baseline visit: by id, else the one marked baseline, else the first."""

    if wanted is not None:
        for v in visits:
            if v.visit_id == wanted:
                return v
        raise ScoringError(
            f"patient {patient.patient_id!r}: no visit has visit_id {wanted!r} (option baseline_visit); "
            f"visit ids are {[v.visit_id for v in visits]}"
        )
    marked = [v for v in visits if v.baseline]
    return marked[0] if marked else visits[0]


def _bilag_at(patient: PatientRecords, day: int, window: int) -> BilagAssessment | None:
    found = [b for b in patient.bilag if day - window <= patient.calendar_day(b.time) <= day]
    return max(found, key=lambda b: patient.day_of(b.time)) if found else None


def _new_domains(base: BilagAssessment, now: BilagAssessment) -> tuple[list[str], list[str]]:
    new_a = [d for d, g in now.domains.items() if g == "A" and base.domains[d] != "A"]
    new_b = [d for d, g in now.domains.items() if g == "B" and base.domains[d] in ("C", "D", "E")]
    return sorted(new_a), sorted(new_b)


def _failures(
    patient: PatientRecords, base_day: int, day: int, categories: tuple[str, ...]
) -> list[str]:
    out = []
    for i, med in enumerate(patient.medications):
        start = patient.calendar_day(med.start)
        if not base_day < start <= day:
            continue
        if med.rescue or (med.category in categories and med.indication == "sle"):
            out.append(f"medications[{i}] ({med.name}, day {start})")
    return out


def _missing(pga0: Decimal | None, pga1: Decimal | None, b0: Any, b1: Any) -> list[str]:
    missing = []
    if pga0 is None:
        missing.append("PGA at baseline")
    if pga1 is None:
        missing.append("PGA at the visit")
    if b0 is None:
        missing.append("BILAG at baseline")
    if b1 is None:
        missing.append("BILAG at the visit")
    return missing


@dataclass(frozen=True)
class _Comparison:
    """A visit after baseline with what SRI and BICLA compare with the baseline.

    ``sledai0``, ``pga0`` and ``bilag0`` are at baseline (calendar day ``day0``); ``sledai1``,
    ``pga1`` and ``bilag1`` at the visit (calendar day ``day1``).
    """

    base: Visit
    visit: Visit
    day0: int
    day1: int
    sledai0: SledaiScore
    sledai1: SledaiScore
    pga0: Decimal
    pga1: Decimal
    bilag0: BilagAssessment
    bilag1: BilagAssessment


def _comparisons(
    patient: PatientRecords, ctx: Context, variant: str, out: list[ScoreResult]
) -> Iterator[_Comparison]:
    """Every visit after baseline compared with the baseline, in visit order.

    A visit without a PGA or a BILAG (at baseline or at the visit) cannot be compared: it is
    appended to ``out`` as not evaluable, in its place among the visits, and skipped.
    """
    opts: Any = ctx.options
    visits = sorted_visits(patient, ctx.standard)
    base = baseline_visit(patient, visits, opts.baseline_visit)
    later = [v for v in visits if patient.day_of(v.time) > patient.day_of(base.time)]
    d0 = patient.calendar_day(base.time)
    s0 = compute_sledai(patient, d0, opts.sledai_variant, opts)
    pga0 = pga_at(patient, d0, opts)
    b0 = _bilag_at(patient, d0, opts.bilag_window_days)
    for visit in later:
        d = patient.calendar_day(visit.time)
        s1 = compute_sledai(patient, d, opts.sledai_variant, opts)
        pga1 = pga_at(patient, d, opts)
        b1 = _bilag_at(patient, d, opts.bilag_window_days)
        if pga0 is None or pga1 is None or b0 is None or b1 is None:
            reason = ", ".join(_missing(pga0, pga1, b0, b1)) + " missing"
            out.append(
                ctx.not_evaluable(
                    patient, item="visit", time=visit.time, reason=reason, variant=variant
                )
            )
            continue
        yield _Comparison(base, visit, d0, d, s0, s1, pga0, pga1, b0, b1)


def _responder_row(
    ctx: Context,
    patient: PatientRecords,
    c: _Comparison,
    criteria: dict[str, bool],
    components: dict[str, Any],
    failures: list[str],
    variant: str,
) -> ScoreResult:
    """The row of one compared visit: a responder when every criterion holds.

    ``components`` are the index's own, between the visits compared with the criteria and
    the PGA change with the treatment failures that every index reports.
    """
    return ctx.verdict(
        patient,
        time=c.visit.time,
        criteria=criteria,
        labels=("responder", "non-responder"),
        components={
            "visit_id": c.visit.visit_id,
            "baseline_visit_id": c.base.visit_id,
            "criteria": criteria,
            **components,
            "pga_baseline": float(c.pga0),
            "pga_visit": float(c.pga1),
            "pga_change": float(c.pga1 - c.pga0),
            "treatment_failures": failures,
        },
        flags=c.sledai0.flags + c.sledai1.flags,
        variant=variant,
    )


def score_sri(patient: PatientRecords, ctx: Context, k: int) -> list[ScoreResult]:
    """SRI-``k`` at every visit after baseline."""
    opts: Any = ctx.options
    variant = f"SRI-{k} on {variant_label(opts.sledai_variant, opts)}"
    out: list[ScoreResult] = []
    for c in _comparisons(patient, ctx, variant, out):
        new_a, new_b = _new_domains(c.bilag0, c.bilag1)
        failures = _failures(patient, c.day0, c.day1, opts.failure_categories)
        reduction = c.sledai0.total - c.sledai1.total
        pga_change = c.pga1 - c.pga0
        criteria = {
            "sledai_reduction": reduction >= k,
            "no_bilag_worsening": not new_a and len(new_b) <= 1,
            "no_pga_worsening": pga_change < decimal1(opts.pga_max_increase),
            "no_treatment_failure": not failures,
        }
        components = {
            "sledai_baseline": c.sledai0.total,
            "sledai_visit": c.sledai1.total,
            "sledai_reduction": reduction,
            "new_bilag_a": new_a,
            "new_bilag_b": new_b,
        }
        out.append(_responder_row(ctx, patient, c, criteria, components, failures, variant))
    return out


def score_bicla(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """BICLA at every visit after baseline."""
    opts: Any = ctx.options
    variant = f"BICLA (PGA rule {opts.pga_rule}) with {variant_label(opts.sledai_variant, opts)}"
    out: list[ScoreResult] = []
    for c in _comparisons(patient, ctx, variant, out):
        b0, b1 = c.bilag0, c.bilag1
        not_improved = [
            dom
            for dom, g in b0.domains.items()
            if (g == "A" and b1.domains[dom] == "A") or (g == "B" and b1.domains[dom] in ("A", "B"))
        ]
        new_a, new_b = _new_domains(b0, b1)
        failures = _failures(patient, c.day0, c.day1, opts.failure_categories)
        pga_change = c.pga1 - c.pga0
        if opts.pga_rule == "absolute":
            pga_ok = pga_change < decimal1(opts.pga_max_increase)
        else:
            # Wallace 2014: worsening < 10 %, strictly; an unchanged or improved PGA never worsens.
            pga_ok = pga_change <= 0 or pga_change < c.pga0 * Decimal(
                repr(opts.pga_max_relative_increase)
            )
        criteria = {
            "all_active_domains_improved": not not_improved,
            "no_bilag_worsening": not new_a and len(new_b) <= 1,
            "no_sledai_worsening": c.sledai1.total <= c.sledai0.total,
            "no_pga_worsening": pga_ok,
            "no_treatment_failure": not failures,
        }
        components = {
            "domains_not_improved": sorted(not_improved),
            "new_bilag_a": new_a,
            "new_bilag_b": new_b,
            "sledai_baseline": c.sledai0.total,
            "sledai_visit": c.sledai1.total,
        }
        out.append(_responder_row(ctx, patient, c, criteria, components, failures, variant))
    return out
