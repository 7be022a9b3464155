"""SLEDAI-2K, clinical SLEDAI, SELENA-SLEDAI and hybrid SELENA-SLEDAI.

A descriptor scores its weight once if it is present, and attributed to SLE, at the visit or at
any time in the preceding ``window_days`` days (10 in Gladman 2002; 30 in Touma 2010). The
variants differ as follows:

=================  ===============================  =====================  ==============
variant            proteinuria                      arthritis              serology
=================  ===============================  =====================  ==============
SLEDAI-2K          > 0.5 g/24 h, persistent counts  >= 2 joints            scored
clinical SLEDAI    as SLEDAI-2K                     >= 2 joints            not scored
SELENA-SLEDAI      new or increased by > 0.5 g/24 h > 2 joints             scored
hybrid SELENA      as SLEDAI-2K                     > 2 joints             scored
=================  ===============================  =====================  ==============

Laboratory descriptors are also derived from ``labs`` (C3/C4/CH50 below the testing
laboratory's lower limit, anti-dsDNA above its upper limit, platelets < 100 x 10^9/L, WBC
< 3.0 x 10^9/L, urine RBC or WBC > 5/hpf, urine protein > 0.5 g/24 h or, if accepted, UPCR above
a cut-off) and fever from ``vitals`` (> 38.0 degC). Every threshold is strict, so boundary
values (5/hpf, 0.5 g/24 h, 38.0 degC, 100 and 3.0 x 10^9/L) score 0.

References
----------
Gladman DD, Ibanez D, Urowitz MB. J Rheumatol 2002;29:288-91.
Touma Z, et al. Lupus 2010;19:49-51 (30-day window).
Petri M, et al. N Engl J Med 2005;353:2550-8 (SELENA-SLEDAI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from allocart.clinical.records import SLEDAI_DESCRIPTORS, PatientRecords, Visit
from allocart.clinical.results import Context, Options, ScoreResult
from allocart.errors import ScoringError

__all__ = [
    "SledaiOptions",
    "SledaiScore",
    "SledaiVariant",
    "compute_sledai",
    "score_sledai",
    "sorted_visits",
    "SEROLOGY",
    "VARIANT_NAMES",
]

SledaiVariant = Literal["sledai2k", "clinical-sledai", "selena-sledai", "hybrid-sledai"]

#: Serological descriptors, left out of clinical SLEDAI.
SEROLOGY = ("low_complement", "increased_dna_binding")

VARIANT_NAMES = {
    "sledai2k": "SLEDAI-2K",
    "clinical-sledai": "clinical SLEDAI-2K (serology excluded)",
    "selena-sledai": "SELENA-SLEDAI",
    "hybrid-sledai": "hybrid SELENA-SLEDAI (SLEDAI-2K proteinuria)",
}

_DEFAULT_JOINTS = {"sledai2k": 2, "clinical-sledai": 2, "selena-sledai": 3, "hybrid-sledai": 3}


class SledaiOptions(Options):
    """Options of the SLEDAI family (shared by every standard built on it)."""

    window_days: int = Field(
        10, ge=1, le=365, description="Look-back window: 10 (Gladman 2002) or 30 (Touma 2010)."
    )
    unattributed: Literal["count", "exclude"] = Field(
        "count",
        description="How findings with attribution 'unspecified' count; counted ones are flagged.",
    )
    arthritis_min_joints: int | None = Field(
        None,
        ge=1,
        description="Joints needed for arthritis; None = variant default (2K: 2, SELENA: 3).",
    )
    accept_upcr: bool = Field(
        True, description="Score proteinuria from a spot UPCR as well as 24-h urine."
    )
    upcr_cutoff_mg_per_g: float = Field(
        500.0,
        gt=0,
        description="UPCR above this (mg/g) scores; 500 mg/g = 56.6 mg/mmol (1 mg/mmol = 8.84 mg/g).",
    )
    selena_unknown_newness: Literal["count", "exclude"] = Field(
        "count",
        description="SELENA-SLEDAI proteinuria with no earlier value to compare with: count as new, or not.",
    )


@dataclass
class SledaiScore:
    """A SLEDAI total with the descriptors scored and the records behind them."""

    total: int
    items: dict[str, int]
    evidence: dict[str, list[str]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)


def sorted_visits(patient: PatientRecords, standard: str) -> list[Visit]:
    """The patient's visits in time order; a patient without visits is an error."""
    if not patient.visits:
        raise ScoringError(
            f"patient {patient.patient_id!r}: no `visits`; {standard} is scored at visits, so add at least one visit"
        )
    return sorted(patient.visits, key=lambda v: patient.day_of(v.time))


def _counts(attribution: str, opts: SledaiOptions) -> bool | None:
    """True = SLE, None = unspecified and counted, False = excluded."""
    if attribution == "sle":
        return True
    if attribution == "unspecified" and opts.unattributed == "count":
        return None
    return False


def compute_sledai(
    patient: PatientRecords, visit_day: int, variant: SledaiVariant, opts: SledaiOptions
) -> SledaiScore:
    """Score one visit.

    Parameters
    ----------
    patient : PatientRecords
        The patient.
    visit_day : int
        Calendar day of the visit.
    variant : {"sledai2k", "clinical-sledai", "selena-sledai", "hybrid-sledai"}
        Instrument variant.
    opts : SledaiOptions
        Window and counting options.

    Returns
    -------
    SledaiScore

    Raises
    ------
    ScoringError
        When a complement or anti-dsDNA result lacks the laboratory limit it must be compared with.
    """
    pid = patient.patient_id
    lo, hi = visit_day - opts.window_days, visit_day
    min_joints = opts.arthritis_min_joints or _DEFAULT_JOINTS[variant]
    selena_proteinuria = variant == "selena-sledai"
    evidence: dict[str, list[str]] = {}
    flags: list[str] = []

    def add(descriptor: str, ref: str, attributed: bool | None) -> None:
        evidence.setdefault(descriptor, []).append(ref)
        if attributed is None:
            flags.append(f"{descriptor} counted from {ref} with unspecified attribution")

    for i, f in enumerate(patient.sledai_findings):
        if not f.present:
            continue
        start = patient.calendar_day(f.start)
        end = start if f.end is None else patient.calendar_day(f.end)
        if end < lo or start > hi:
            continue
        attributed = _counts(f.attribution, opts)
        if attributed is False:
            continue
        if f.descriptor == "arthritis" and (f.joints or 0) < min_joints:
            continue
        if f.descriptor == "proteinuria" and selena_proteinuria:
            if f.new_or_recurrent is False or (
                f.new_or_recurrent is None and opts.selena_unknown_newness == "exclude"
            ):
                continue
            if f.new_or_recurrent is None:
                flags.append(
                    f"proteinuria in sledai_findings[{i}] counted as new (newness not recorded)"
                )
        add(f.descriptor, f"sledai_findings[{i}]", attributed)

    for i, lab in enumerate(patient.labs):
        day = patient.calendar_day(lab.time)
        if not lo <= day <= hi:
            continue
        attributed = _counts(lab.attribution, opts)
        if attributed is False:
            continue
        code, urine, value = lab.code, lab.is_urine(), lab.std_value
        ref = f"labs[{i}] ({code} {lab.value:g} {lab.unit})"
        if code in ("C3", "C4", "CH50"):
            if lab.std_ref_low is None:
                raise ScoringError(
                    f"patient {pid!r}, labs[{i}]: {code} = {lab.value:g} {lab.unit} has no `ref_low`; "
                    "SLEDAI compares complement with the testing laboratory's lower limit, so add it"
                )
            if value < lab.std_ref_low:
                add("low_complement", ref, attributed)
        elif code == "DSDNAAB":
            if lab.std_ref_high is None:
                raise ScoringError(
                    f"patient {pid!r}, labs[{i}]: DSDNAAB = {lab.value:g} {lab.unit} has no `ref_high`; "
                    "SLEDAI compares anti-dsDNA with the testing laboratory's upper limit, so add it"
                )
            if value > lab.std_ref_high:
                add("increased_dna_binding", ref, attributed)
        elif code == "PLAT" and value < 100.0:
            add("thrombocytopenia", ref, attributed)
        elif code == "WBC" and not urine and value < 3.0:
            add("leukopenia", ref, attributed)
        elif code == "RBC" and urine and value > 5.0:
            add("haematuria", ref, attributed)
        elif code == "WBC" and urine and value > 5.0:
            add("pyuria", ref, attributed)
        elif code in ("PROT", "PROTCRT"):
            if code == "PROTCRT" and not opts.accept_upcr:
                continue
            cutoff = 0.5 if code == "PROT" else opts.upcr_cutoff_mg_per_g
            if value <= cutoff:
                continue
            if selena_proteinuria:
                earlier = [
                    other
                    for other in patient.labs
                    if other.code == code and patient.calendar_day(other.time) < lo
                ]
                if earlier:
                    prior = max(earlier, key=lambda o: patient.day_of(o.time)).std_value
                    if not (prior <= cutoff or value - prior > cutoff):
                        continue
                elif opts.selena_unknown_newness == "exclude":
                    continue
                else:
                    flags.append(f"proteinuria from {ref} counted as new (no earlier value)")
            add("proteinuria", ref, attributed)

    for i, vital in enumerate(patient.vitals):
        if vital.code != "TEMP" or not lo <= patient.calendar_day(vital.time) <= hi:
            continue
        attributed = _counts(vital.attribution, opts)
        if attributed is not False and vital.std_value > 38.0:
            add("fever", f"vitals[{i}] (TEMP {vital.value:g} {vital.unit})", attributed)

    if variant == "clinical-sledai":
        for name in SEROLOGY:
            evidence.pop(name, None)
        flags = [f for f in flags if not f.startswith(SEROLOGY)]
    items = {name: w for name, w in SLEDAI_DESCRIPTORS.items() if name in evidence}
    return SledaiScore(sum(items.values()), items, evidence, flags, (lo, hi))


def activity_band(total: int) -> str:
    """Conventional activity band (not part of the index): none, low 1-4, moderate 5-10, high > 10."""
    if total == 0:
        return "none"
    if total <= 4:
        return "low"
    return "moderate" if total <= 10 else "high"


def variant_label(variant: str, opts: SledaiOptions) -> str:
    """Instrument name with its window, as stored with every score."""
    return f"{VARIANT_NAMES[variant]}, {opts.window_days}-day window"


def score_sledai(
    patient: PatientRecords, ctx: Context, variant: SledaiVariant
) -> list[ScoreResult]:
    """Score every visit of one patient with a SLEDAI variant."""
    opts: Any = ctx.options
    out = []
    for visit in sorted_visits(patient, ctx.standard):
        s = compute_sledai(patient, patient.calendar_day(visit.time), variant, opts)
        out.append(
            ctx.result(
                patient,
                item="visit",
                time=visit.time,
                value=s.total,
                label=f"{s.total} ({activity_band(s.total)})",
                components={
                    "visit_id": visit.visit_id,
                    "items": s.items,
                    "evidence": s.evidence,
                    "window_days_from_to": [s.window[0], s.window[1]],
                    "activity_band": activity_band(s.total),
                },
                flags=s.flags,
                variant=variant_label(variant, opts),
            )
        )
    return out
