"""Result rows returned by every scorer, and the base class of scorer options."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from allocart.clinical.records import PatientRecords, Time

__all__ = ["Options", "ScoreResult", "Context", "decimal1", "died_of", "grade_label"]


class Options(BaseModel):
    """Base of every standard's options: frozen, and unknown option names are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoreResult(BaseModel):
    """One scored item for one patient.

    Attributes
    ----------
    standard : str
        Registry name of the standard (``"sledai2k"``, ``"crs"``...).
    variant : str
        Instrument variant and version actually used (e.g. ``"SLEDAI-2K, 30-day window"``).
    patient_id : str
        Patient identifier.
    item : str
        What this row grades: ``"visit"``, ``"assessment"``, ``"worst"``, ``"early"``...
    time : date, datetime, float or None
        Time of the assessment as given in the records (``None`` for patient-level rows).
    day : float or None
        Days after infusion (or after the first record when no infusion is known).
    value : int, float, bool, str or None
        The score, grade or classification; ``None`` when not evaluable.
    label : str
        Human-readable value (``"grade 2"``, ``"responder"``, ``"not evaluable: ..."``).
    evaluable : bool
        ``False`` when required data were missing at this time point.
    components : dict
        Everything the value was computed from (items scored, thresholds, counts).
    flags : tuple of str
        Points for clinical review (unattributed findings counted, conventions applied).
    options : dict
        Every option in force, defaults included.
    source : str
        Literature reference of the standard.
    """

    model_config = ConfigDict(frozen=True)

    standard: str
    variant: str
    patient_id: str
    item: str
    time: Time | None = None
    day: float | None = None
    value: int | float | bool | str | None = None
    label: str = ""
    evaluable: bool = True
    components: dict[str, Any] = Field(default_factory=dict)
    flags: tuple[str, ...] = ()
    options: dict[str, Any] = Field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Context:
    """What every result row of one scoring call shares: standard, variant, options, source."""

    standard: str
    variant: str
    source: str
    options: Options

    def result(
        self,
        patient: PatientRecords,
        *,
        item: str,
        value: Any,
        label: str,
        time: Any = None,
        evaluable: bool = True,
        components: dict[str, Any] | None = None,
        flags: list[str] | tuple[str, ...] = (),
        variant: str | None = None,
    ) -> ScoreResult:
        """Build a :class:`ScoreResult` for ``patient``."""
        return ScoreResult(
            standard=self.standard,
            variant=variant or self.variant,
            patient_id=patient.patient_id,
            item=item,
            time=time,
            day=None if time is None else round(patient.day_of(time), 6),
            value=value,
            label=label,
            evaluable=evaluable,
            components=components or {},
            flags=tuple(dict.fromkeys(flags)),
            options=self.options.model_dump(mode="json"),
            source=self.source,
        )

    def verdict(
        self,
        patient: PatientRecords,
        *,
        time: Any,
        criteria: dict[str, bool],
        labels: tuple[str, str],
        components: dict[str, Any],
        flags: list[str] | tuple[str, ...],
        variant: str,
    ) -> ScoreResult:
        """A ``"visit"`` row met when every one of ``criteria`` holds.

        ``labels`` are the label when met and when not (``("responder", "non-responder")``).
        """
        met = all(criteria.values())
        return self.result(
            patient,
            item="visit",
            time=time,
            value=met,
            label=labels[0] if met else labels[1],
            components=components,
            flags=flags,
            variant=variant,
        )

    def worst_rows(
        self,
        patient: PatientRecords,
        worst: int,
        *,
        cause: str,
        syndrome: str,
        components: dict[str, Any] | None = None,
        flags: list[str] | tuple[str, ...] = (),
    ) -> list[ScoreResult]:
        """The closing rows of an ASTCT-graded syndrome: death from it, then the worst grade.

        A death from ``cause`` is grade 5 (Lee 2019) and adds a ``"death"`` row at its time;
        the ``"worst"`` row carries the worst grade, ``components`` and ``flags``.
        """
        rows = []
        death = patient.death if died_of(patient, cause) else None
        if death is not None:
            worst = 5
            rows.append(
                self.result(
                    patient,
                    item="death",
                    time=death.time,
                    value=5,
                    label=f"grade 5 (death due to {syndrome})",
                )
            )
        rows.append(
            self.result(
                patient,
                item="worst",
                value=worst,
                label=grade_label(worst, syndrome),
                components=components,
                flags=flags,
            )
        )
        return rows

    def not_evaluable(
        self, patient: PatientRecords, *, item: str, time: Any, reason: str, **kw: Any
    ) -> ScoreResult:
        """A row for a time point that lacks required data."""
        return self.result(
            patient,
            item=item,
            time=time,
            value=None,
            label=f"not evaluable: {reason}",
            evaluable=False,
            **kw,
        )


def died_of(patient: PatientRecords, cause: str) -> bool:
    """Whether the patient's recorded death is attributed to ``cause`` (``"crs"``, ``"icans"``)."""
    return patient.death is not None and patient.death.cause == cause


def grade_label(grade: int, syndrome: str, phase: str = "") -> str:
    """Label of a grade: ``"no CRS"`` for grade 0, else ``"grade 2"``.

    With ``phase`` (e.g. ``"early"``), ``"no early ICAHT"`` and ``"early grade 2"``.
    """
    if grade == 0:
        return " ".join(w for w in ("no", phase, syndrome) if w)
    return f"{phase} grade {grade}" if phase else f"grade {grade}"


def decimal1(value: float) -> Decimal:
    """Round to the one decimal a PGA is collected with, as an exact decimal.

    Comparing decimals rather than floats makes ``1.3 - 1.0`` exactly ``0.3``.
    """
    return Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
