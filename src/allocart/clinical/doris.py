"""Remission in SLE: DORIS 2021, DORIS-framework complete remission, and drug-free remission.

DORIS 2021 remission (van Vollenhoven 2021) at a visit requires: clinical SLEDAI = 0 (serology
ignored); PGA < 0.5 (0-3); prednisolone (or equivalent) <= 5 mg/day; antimalarials,
immunosuppressives and biologics only at stable maintenance doses. Duration is not part of the
definition.

DORIS-framework complete remission (2017 framework, as tabulated in Rheumatology 2020): clinical
SLEDAI = 0, no serological activity (anti-dsDNA <= ULN, C3/C4 >= LLN), PGA <= 0.5, no
glucocorticoids, antimalarials allowed, no immunosuppressives or biologics.

Drug-free remission as the CAR-T series use it (Mackensen 2022): DORIS 2021 remission with all
glucocorticoids and immunosuppressive or biological therapy stopped (the CAR-T infusion itself
is allowed); antimalarials and a serology requirement are options.

References
----------
van Vollenhoven RF, et al. Lupus Sci Med 2021;8:e000538. doi:10.1136/lupus-2021-000538
Mackensen A, et al. Nat Med 2022;28:2124-32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from allocart.clinical.maintenance import changed_within, maintenance_on
from allocart.clinical.medications import prednisone_equivalent_mg_per_day
from allocart.clinical.pga import PgaOptions, pga_at
from allocart.clinical.records import PatientRecords
from allocart.clinical.results import Context, ScoreResult, decimal1
from allocart.clinical.sledai import (
    SEROLOGY,
    SledaiOptions,
    compute_sledai,
    sorted_visits,
    variant_label,
)

__all__ = [
    "DorisOptions",
    "CompleteRemissionOptions",
    "DrugFreeOptions",
    "score_doris",
    "score_doris_complete",
    "score_drug_free",
]

_SEROLOGY_TESTS = ("C3", "C4", "CH50", "DSDNAAB")


class DorisOptions(SledaiOptions, PgaOptions):
    """Options of DORIS 2021 remission."""

    pga_max: float = Field(0.5, ge=0, le=3, description="PGA threshold (DORIS 2021: below 0.5).")
    pga_inclusive: bool = Field(
        False, description="Accept PGA equal to pga_max (2017 framework reading: <= 0.5)."
    )
    prednisolone_max_mg: float = Field(
        5.0, ge=0, description="Prednisolone-equivalent mg/day threshold."
    )
    prednisolone_inclusive: bool = Field(
        True,
        description="Accept exactly prednisolone_max_mg (abstract: '5 mg/day or less'; Table 2: '<5').",
    )
    exclude_toxicity_steroids: bool = Field(
        False, description="Leave glucocorticoids given for CAR-T toxicity out."
    )
    stable_days: int | None = Field(
        None,
        ge=1,
        description="Maintenance is 'stable' if no new agent or dose increase in this many days; None = not checked.",
    )


class CompleteRemissionOptions(DorisOptions):
    """Options of DORIS-framework complete remission (PGA <= 0.5 by default)."""

    pga_inclusive: bool = Field(True, description="2017 framework: PGA <= 0.5.")


class DrugFreeOptions(DorisOptions):
    """Options of drug-free remission."""

    antimalarials_allowed: bool = Field(
        False, description="Whether hydroxychloroquine may continue."
    )
    require_serology_negative: bool = Field(
        False, description="Also require no serological activity."
    )


def _serology(
    patient: PatientRecords, day: int, opts: SledaiOptions
) -> tuple[bool | None, dict[str, int]]:
    """(no serological activity?, serology items scored); None if no serology measured in the window."""
    s = compute_sledai(patient, day, "sledai2k", opts)
    measured = any(
        lab.code in _SEROLOGY_TESTS
        and day - opts.window_days <= patient.calendar_day(lab.time) <= day
        for lab in patient.labs
    )
    active = {k: v for k, v in s.items.items() if k in SEROLOGY}
    if active:
        return False, active
    return (True if measured else None), active


def _core(patient: PatientRecords, ctx: Context, visit: Any, opts: Any) -> dict[str, Any]:
    d = patient.calendar_day(visit.time)
    c = compute_sledai(patient, d, "clinical-sledai", opts)
    full = compute_sledai(patient, d, "sledai2k", opts)
    pga = pga_at(patient, d, opts)
    pred, agents = prednisone_equivalent_mg_per_day(
        patient, d, exclude_toxicity=opts.exclude_toxicity_steroids
    )
    limit = opts.prednisolone_max_mg
    gc_ok = pred <= limit if opts.prednisolone_inclusive else pred < limit
    pga_ok = None
    if pga is not None:
        pga_ok = (
            pga <= decimal1(opts.pga_max) if opts.pga_inclusive else pga < decimal1(opts.pga_max)
        )
    unstable = [] if opts.stable_days is None else changed_within(patient, d, opts.stable_days)
    return {
        "day": d,
        "csledai": c.total,
        "csledai_items": c.items,
        "sledai2k": full.total,
        "pga": pga,
        "pga_ok": pga_ok,
        "prednisolone_mg_per_day": pred,
        "glucocorticoids": agents,
        "gc_ok": gc_ok,
        "unstable": unstable,
        "flags": c.flags
        + (
            []
            if opts.stable_days is not None
            else ["maintenance stability not checked (stable_days unset)"]
        ),
        "maintenance": maintenance_on(patient, d),
    }


_NO_SEROLOGY = "no complement or anti-dsDNA result in the window"


#: What a DORIS-family definition makes of one visit's :func:`_core` values: its criteria
#: and the components it adds to the row.
Judge = Callable[[dict[str, Any]], tuple[dict[str, bool], dict[str, Any]]]


def _score_visits(
    patient: PatientRecords,
    ctx: Context,
    variant: str,
    judge: Judge,
    labels: tuple[str, str],
    *,
    serology: bool = False,
) -> list[ScoreResult]:
    """One row per visit, in visit order: met when every criterion of ``judge`` holds.

    With ``serology``, the values ``judge`` receives also hold ``"serology"``: (no serological
    activity?, serology items scored) of :func:`_serology`. A visit without a PGA (or, with
    ``serology``, without a complement or anti-dsDNA result in the window) cannot be judged
    and gets a not-evaluable row. ``labels`` are the labels when met and when not.
    """
    opts: Any = ctx.options
    out: list[ScoreResult] = []
    for visit in sorted_visits(patient, ctx.standard):
        core = _core(patient, ctx, visit, opts)
        reason = "PGA missing" if core["pga"] is None else None
        if reason is None and serology:
            core["serology"] = _serology(patient, core["day"], opts)
            if core["serology"][0] is None:
                reason = _NO_SEROLOGY
        if reason is not None:
            out.append(
                ctx.not_evaluable(
                    patient, item="visit", time=visit.time, reason=reason, variant=variant
                )
            )
            continue
        criteria, extra = judge(core)
        components = {
            "visit_id": visit.visit_id,
            "criteria": criteria,
            "clinical_sledai": core["csledai"],
            "clinical_sledai_items": core["csledai_items"],
            "sledai2k": core["sledai2k"],
            "pga": float(core["pga"]),
            "prednisolone_mg_per_day": core["prednisolone_mg_per_day"],
            "glucocorticoids": core["glucocorticoids"],
            "maintenance": [f"{name} ({cat})" for _, name, cat in core["maintenance"]],
            "unstable_maintenance": core["unstable"],
            **extra,
        }
        out.append(
            ctx.verdict(
                patient,
                time=visit.time,
                criteria=criteria,
                labels=labels,
                components=components,
                flags=core["flags"],
                variant=variant,
            )
        )
    return out


def score_doris(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """DORIS 2021 remission at every visit."""
    opts: Any = ctx.options
    gc = f"prednisolone {'<=' if opts.prednisolone_inclusive else '<'} {opts.prednisolone_max_mg:g} mg/day"
    pga = f"PGA {'<=' if opts.pga_inclusive else '<'} {opts.pga_max:g}"
    variant = f"DORIS 2021 ({pga}, {gc}) with {variant_label('clinical-sledai', opts)}"

    def judge(core: dict[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
        criteria = {
            "clinical_sledai_zero": core["csledai"] == 0,
            "pga": core["pga_ok"],
            "glucocorticoid": core["gc_ok"],
            "stable_maintenance": not core["unstable"],
        }
        return criteria, {}

    return _score_visits(patient, ctx, variant, judge, ("remission", "not in remission"))


def score_doris_complete(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """DORIS-framework complete remission at every visit."""
    opts: Any = ctx.options
    variant = (
        f"DORIS framework complete remission (2017) with {variant_label('clinical-sledai', opts)}"
    )

    def judge(core: dict[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
        serology_ok, active = core["serology"]
        non_antimalarial = [name for _, name, cat in core["maintenance"] if cat != "antimalarial"]
        criteria = {
            "clinical_sledai_zero": core["csledai"] == 0,
            "no_serological_activity": serology_ok,
            "pga": core["pga_ok"],
            "no_glucocorticoids": core["prednisolone_mg_per_day"] == 0,
            "no_immunosuppressives_or_biologics": not non_antimalarial,
        }
        return criteria, {"active_serology": active}

    return _score_visits(
        patient,
        ctx,
        variant,
        judge,
        ("complete remission", "not in complete remission"),
        serology=True,
    )


def score_drug_free(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Drug-free DORIS remission at every visit."""
    opts: Any = ctx.options
    variant = (
        f"drug-free DORIS 2021 remission (antimalarials {'allowed' if opts.antimalarials_allowed else 'not allowed'}"
        f"{', serology negative' if opts.require_serology_negative else ''})"
    )

    def judge(core: dict[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
        drugs = [
            name
            for _, name, cat in core["maintenance"]
            if not (cat == "antimalarial" and opts.antimalarials_allowed)
        ]
        criteria = {
            "clinical_sledai_zero": core["csledai"] == 0,
            "pga": core["pga_ok"],
            "no_glucocorticoids": core["prednisolone_mg_per_day"] == 0,
            "no_maintenance_drugs": not drugs,
        }
        extra: dict[str, Any] = {"drugs_on": drugs}
        if opts.require_serology_negative:
            criteria["no_serological_activity"], extra["active_serology"] = core["serology"]
        return criteria, extra

    return _score_visits(
        patient,
        ctx,
        variant,
        judge,
        ("drug-free remission", "not in drug-free remission"),
        serology=opts.require_serology_negative,
    )
