"""Physician Global Assessment (SELENA-SLEDAI PGA, 0-3 scale, one decimal).

Anchors: 0 none, 1 mild, 2 moderate, 3 severe disease activity. Values recorded on a 0-100 mm
line are converted with ``value / 100 * 3`` only when the caller confirms that the anchors match
(option ``pga_mm_anchors_match``); the original scale is kept in the result.

References
----------
Petri M, et al. N Engl J Med 2005;353:2550-8 (SELENA-SLEDAI PGA).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from allocart.clinical.records import PatientRecords, PgaAssessment
from allocart.clinical.results import Context, Options, ScoreResult, decimal1
from allocart.errors import ScoringError

__all__ = ["PgaOptions", "pga_value", "pga_at", "score_pga"]


class PgaOptions(Options):
    """Options for reading PGA values."""

    pga_mm_anchors_match: bool = Field(
        False, description="Convert 0-100 mm PGA values to 0-3 (only valid if the anchors match)."
    )
    pga_window_days: int = Field(
        0, ge=0, le=30, description="A PGA this many days before a visit still counts for it."
    )


def pga_value(
    patient: PatientRecords, index: int, record: PgaAssessment, opts: PgaOptions
) -> Decimal:
    """PGA on the 0-3 scale as an exact one-decimal number.

    Raises
    ------
    ScoringError
        For a 0-100 mm value when ``pga_mm_anchors_match`` is false.
    """
    if record.scale == "0-3":
        return decimal1(record.value)
    if not opts.pga_mm_anchors_match:
        raise ScoringError(
            f"patient {patient.patient_id!r}, pga[{index}]: value {record.value:g} is on the 0-100 mm scale; "
            "set the option pga_mm_anchors_match=true to convert it to 0-3 (value/100*3) if the anchors match"
        )
    return decimal1(record.value / 100.0 * 3.0)


def pga_at(patient: PatientRecords, day: int, opts: PgaOptions) -> Decimal | None:
    """The PGA closest before (or on) calendar day ``day`` within ``pga_window_days``; None if absent."""
    best: tuple[float, int, PgaAssessment] | None = None
    for i, rec in enumerate(patient.pga):
        d = patient.calendar_day(rec.time)
        if day - opts.pga_window_days <= d <= day:
            key = patient.day_of(rec.time)
            if best is None or key >= best[0]:
                best = (key, i, rec)
    return None if best is None else pga_value(patient, best[1], best[2], opts)


def score_pga(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Every PGA record of a patient, on the 0-3 scale."""
    opts: PgaOptions = ctx.options  # type: ignore[assignment]
    out = []
    for i, rec in sorted(enumerate(patient.pga), key=lambda pair: patient.day_of(pair[1].time)):
        value = pga_value(patient, i, rec, opts)
        out.append(
            ctx.result(
                patient,
                item="assessment",
                time=rec.time,
                value=float(value),
                label=f"{value} / 3",
                components={"original_value": rec.value, "original_scale": rec.scale},
            )
        )
    return out
