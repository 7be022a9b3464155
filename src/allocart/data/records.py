"""Clinical records of a dataset's subjects, in canonical order.

:func:`records_from_observations` mirrors a dataset's LB read-outs, weight and height as
clinical records (what an SDTM reader of the same data would see); :func:`make_patient_records`
sorts each list so that records built from different sources of the same data compare equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from allocart.clinical import units
from allocart.clinical.records import LabResult, PatientRecords, VitalSign
from allocart.data.observables import OBSERVABLES
from allocart.data.schema import canonical_observations, canonical_subjects
from allocart.data.times import parse_iso, record_day

__all__ = ["make_patient_records", "records_from_observations"]


def records_from_observations(
    observations: pd.DataFrame, subjects: pd.DataFrame
) -> dict[str, PatientRecords]:
    """Clinical records mirroring a dataset's LB read-outs, body weight and height.

    Each quantified (not censored) LB-domain observation becomes a
    :class:`~allocart.clinical.records.LabResult` in the analyte's internal unit, and a known
    weight or height a ``WEIGHT`` or ``HEIGHT`` :class:`~allocart.clinical.records.VitalSign`
    at day 0, so that the
    clinical scorers see what an SDTM reader of the same data would see. Record times are
    days after the infusion (records convention, see :mod:`allocart.clinical.records`), with
    ``infusion`` from ``subjects.infusion_date``. Every subject gets a record.
    """
    obs = canonical_observations(observations)
    subj = canonical_subjects(subjects)
    out: dict[str, PatientRecords] = {}
    for info in subj.itertuples(index=False):
        sid = info.id
        origin = None if info.infusion_date is None else parse_iso(info.infusion_date)
        rows = obs[(obs["id"] == sid) & ~obs["censored"]]
        labs = []
        for r in rows.itertuples(index=False):
            spec = OBSERVABLES.get(r.observable)
            if spec is None or spec.domain != "LB":
                continue
            analyte = units.ANALYTES[units.analyte_key(spec.code, None)]
            labs.append(
                LabResult(
                    test=spec.code,
                    value=float(r.value) / spec.lab_factor,
                    unit=analyte.unit,
                    time=record_day(origin, r.time),
                )
            )
        vitals = [
            VitalSign(test=test, value=float(value), unit=unit, time=record_day(origin, 0.0))
            for test, value, unit in (
                ("WEIGHT", info.weight_kg, "kg"),
                ("HEIGHT", info.height_cm, "cm"),
            )
            if not math.isnan(value)
        ]
        out[sid] = make_patient_records(
            sid, origin, info.age_years, info.weight_kg, labs=labs, vitals=vitals
        )
    return out


def _time_key(t: Any) -> Any:
    if isinstance(t, datetime):
        return (1, t.isoformat())
    if isinstance(t, date):
        return (1, datetime(t.year, t.month, t.day).isoformat())
    return (0, float(t))


def make_patient_records(
    sid: str,
    origin: datetime | None,
    age_years: float | None,
    weight_kg: float | None,
    **lists: Sequence[Any],
) -> PatientRecords:
    """A :class:`PatientRecords` with its lists in canonical order (time, then code or term),
    so that records built from different sources of the same data compare equal."""

    def nan_none(v: float | None) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    keyed = {}
    for name, items in lists.items():

        def key(r: Any) -> Any:
            t = getattr(r, "time", None)
            if t is None:
                t = r.start
            label = (
                getattr(r, "test", None)
                or getattr(r, "descriptor", None)
                or getattr(r, "term", None)
                or ""
            )
            return (_time_key(t), label)

        keyed[name] = tuple(sorted(items, key=key))
    infusion = None
    if origin is not None:
        infusion = origin.date() if origin.time() == datetime.min.time() else origin
    return PatientRecords(
        patient_id=sid,
        infusion=infusion,
        age_years=nan_none(age_years),
        weight_kg=nan_none(weight_kg),
        **keyed,
    )
