"""ADaM inputs from a patient :class:`~allocart.data.Dataset`: its subjects, the adverse events
of its clinical records, and its CAR-T kinetic observations (the PC-domain read-outs)."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

from allocart.data.adam.inputs import EVENT_COLUMNS, SAMPLE_COLUMNS, AdamInput
from allocart.data.dataset import Dataset
from allocart.data.observables import OBSERVABLES
from allocart.data.times import parse_iso

__all__ = ["DEFAULT_INFUSION", "adam_input_from_dataset"]

#: Infusion date of subjects whose dataset gives none (as the SDTM writer uses).
DEFAULT_INFUSION = "2025-01-01"


def _format_amount(amount: float, unit: str) -> str:
    return f"{amount:.3g} {unit}"


def _record_day(t: float | date | datetime, infusion: datetime) -> float:
    """Days after the infusion day of a record time (days, or a calendar date or date-time)."""
    if isinstance(t, datetime):
        return (t - datetime(infusion.year, infusion.month, infusion.day)).total_seconds() / 86400
    if isinstance(t, date):
        return float((t - infusion.date()).days)
    return float(t)


def adam_input_from_dataset(
    ds: Dataset, study_id: str = "ALLOCART", *, default_infusion: str = DEFAULT_INFUSION
) -> AdamInput:
    """The subjects, adverse events and CAR-T kinetic samples of ``ds``.

    Parameters
    ----------
    ds : Dataset
    study_id : str
        ``STUDYID`` of the tables.
    default_infusion : str
        ISO 8601 infusion date of subjects without ``infusion_date``.

    Returns
    -------
    AdamInput
        ``TRT01P`` is the product and the first CAR-T dose (``"allogeneic-cd19cd20 1e+06
        cells/kg"``); ``SAFFL`` is ``Y`` for subjects with a CAR-T dose.
    """
    rows, events, samples = [], [], []
    doses = ds.doses[ds.doses["kind"] == "car_t"]
    for s in ds.subjects.itertuples(index=False):
        infusion = parse_iso(s.infusion_date or default_infusion)
        car = doses[doses["id"] == s.id]
        product = s.product or "CAR-T"
        trt = (
            product
            if car.empty
            else f"{product} {_format_amount(car['amount'].iloc[0], car['unit'].iloc[0])}"
        )
        rows.append(
            {
                "USUBJID": s.id,
                "SUBJID": s.id,
                "AGE": s.age_years,
                "SEX": "U" if pd.isna(s.female) else ("F" if s.female else "M"),
                "ARM": product,
                "TRT01P": trt,
                "TRTSDT": infusion.date(),
                "TRTSTM": float(infusion.hour * 3600 + infusion.minute * 60 + infusion.second),
                "SAFFL": "N" if car.empty else "Y",
                "WEIGHTBL": s.weight_kg,
                "LDREGIM": s.ld or "",
            }
        )
        rec = ds.records.get(s.id)
        for a in rec.adverse_events if rec is not None else ():
            events.append(
                (
                    s.id,
                    a.term,
                    a.term.upper(),
                    a.category,
                    int(a.grade),
                    a.scale,
                    _record_day(a.start, infusion),
                    math.nan if a.end is None else _record_day(a.end, infusion),
                    bool(a.serious),
                    a.relatedness,
                )
            )
    obs = ds.observations
    kinetic = [name for name, o in OBSERVABLES.items() if o.domain == "PC"]
    for o in obs[obs["observable"].isin(kinetic)].itertuples(index=False):
        samples.append((o.id, o.observable, o.time, o.value, o.lloq, bool(o.censored)))
    return AdamInput(
        study_id=study_id,
        subjects=pd.DataFrame(rows),
        events=pd.DataFrame(events, columns=list(EVENT_COLUMNS)),
        samples=pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS)),
        source=ds.source,
    )
