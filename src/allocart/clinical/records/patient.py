"""One patient's records: the container the clinical scorers read, and its time axis."""

from __future__ import annotations

import math
from datetime import date, datetime
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from allocart.clinical.records._base import CalendarTime, Time, _Record, _sort_key
from allocart.clinical.records.measurements import LabResult, Visit, VitalSign
from allocart.clinical.records.sle import (
    BilagAssessment,
    FlareFinding,
    PgaAssessment,
    SledaiFinding,
)
from allocart.clinical.records.toxicity import (
    AdverseEvent,
    Death,
    GvhdAssessment,
    HlhAssessment,
    Hospitalisation,
    Infection,
    NeuroAssessment,
)
from allocart.clinical.records.treatment import Medication, OxygenSupport

__all__ = ["PatientRecords"]


class PatientRecords(_Record):
    """Everything collected about one patient.

    Examples
    --------
    >>> p = PatientRecords(patient_id="P1", labs=[{"test": "PLAT", "value": 60000, "unit": "/uL", "time": 3}])
    >>> p.labs[0].std_value
    60.0
    >>> p.day_of(p.labs[0].time)
    3.0
    """

    patient_id: str = Field(..., min_length=1)
    infusion: CalendarTime | None = Field(
        None, description="CAR-T infusion (day 0): ISO date or date-time string, not a number."
    )
    age_years: float | None = Field(None, ge=0, le=130)
    weight_kg: float | None = Field(None, gt=0, le=400)
    developmental_delay: bool = False
    baseline_ice: int | None = Field(None, ge=0, le=10, description="Pre-infusion ICE score.")
    last_follow_up: Time | None = None
    death: Death | None = None
    visits: tuple[Visit, ...] = ()
    labs: tuple[LabResult, ...] = ()
    vitals: tuple[VitalSign, ...] = ()
    sledai_findings: tuple[SledaiFinding, ...] = ()
    pga: tuple[PgaAssessment, ...] = ()
    bilag: tuple[BilagAssessment, ...] = ()
    flare_findings: tuple[FlareFinding, ...] = ()
    medications: tuple[Medication, ...] = ()
    oxygen: tuple[OxygenSupport, ...] = ()
    neuro: tuple[NeuroAssessment, ...] = ()
    hlh: tuple[HlhAssessment, ...] = ()
    gvhd: tuple[GvhdAssessment, ...] = ()
    adverse_events: tuple[AdverseEvent, ...] = ()
    infections: tuple[Infection, ...] = ()
    hospitalisations: tuple[Hospitalisation, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> PatientRecords:
        kinds = {isinstance(t, float) for _, t in self._all_times()}
        if kinds == {True, False} and self.infusion is None:
            raise ValueError(
                "times mix calendar dates and days after infusion; give `infusion` (the date of day 0) "
                "or use one kind of time throughout"
            )
        seen: dict[Any, int] = {}
        for i, visit in enumerate(self.visits):
            key = self.day_of(visit.time)
            if key in seen:
                raise ValueError(
                    f"visits[{i}] has the same time ({visit.time}) as visits[{seen[key]}]"
                )
            seen[key] = i
        if sum(v.baseline for v in self.visits) > 1:
            raise ValueError("more than one visit has `baseline` = true; mark exactly one")
        return self

    def _all_times(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for name in (
            "visits",
            "labs",
            "vitals",
            "pga",
            "bilag",
            "flare_findings",
            "neuro",
            "hlh",
            "gvhd",
        ):
            out += [(name, r.time) for r in getattr(self, name)]
        for name in (
            "sledai_findings",
            "medications",
            "oxygen",
            "adverse_events",
            "infections",
            "hospitalisations",
        ):
            for r in getattr(self, name):
                out.append((name, r.start))
                if r.end is not None:
                    out.append((name, r.end))
        if self.death is not None:
            out.append(("death", self.death.time))
        if self.last_follow_up is not None:
            out.append(("last_follow_up", self.last_follow_up))
        return out

    @cached_property
    def _origin(self) -> datetime | None:
        # Day 0 is the whole infusion day, so the origin is midnight of that day even when the
        # infusion time of day is known.
        if self.infusion is not None:
            first = _sort_key(self.infusion)
            return datetime(first.year, first.month, first.day)  # type: ignore[union-attr]
        calendar = [_sort_key(t) for _, t in self._all_times() if not isinstance(t, float)]
        if not calendar:
            return None
        first = min(calendar)
        return datetime(first.year, first.month, first.day)  # type: ignore[union-attr]

    @property
    def has_day_zero(self) -> bool:
        """Whether days are counted from the infusion (numeric times, or ``infusion`` given)."""
        if self.infusion is not None:
            return True
        return all(isinstance(t, float) for _, t in self._all_times())

    def day_of(self, time: date | datetime | float) -> float:
        """Days after infusion (day 0 = infusion day) of a record time."""
        if isinstance(time, float):
            return time
        origin = self._origin
        delta = _sort_key(time) - origin  # type: ignore[operator]
        return delta.total_seconds() / 86400.0  # type: ignore[union-attr]

    def calendar_day(self, time: date | datetime | float) -> int:
        """Whole day number of a record time (day 0 = infusion day)."""
        return math.floor(self.day_of(time))
