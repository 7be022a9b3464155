"""Medication helpers: glucocorticoid prednisone equivalents and daily doses.

Glucocorticoid equivalence (the widely used conversion the clinical-standards reference cites
for LLDAS and DORIS; state it in the statistical analysis plan): prednisone = prednisolone
5 mg = methylprednisolone 4 mg = triamcinolone 4 mg = hydrocortisone 20 mg = dexamethasone
0.75 mg = betamethasone 0.6 mg. Alternate-day regimens count as their average daily dose.
"""

from __future__ import annotations

from allocart.clinical.records import Medication, PatientRecords
from allocart.errors import ScoringError

__all__ = [
    "PREDNISONE_EQUIVALENT_MG",
    "daily_dose_mg",
    "prednisone_equivalent_mg_per_day",
    "active_on",
]

#: Milligrams of the agent equivalent to 5 mg prednisone.
PREDNISONE_EQUIVALENT_MG: dict[str, float] = {
    "prednisone": 5.0,
    "prednisolone": 5.0,
    "methylprednisolone": 4.0,
    "triamcinolone": 4.0,
    "hydrocortisone": 20.0,
    "dexamethasone": 0.75,
    "betamethasone": 0.6,
}

_PER_DAY = {
    "once": 1.0,
    "daily": 1.0,
    "continuous": 1.0,
    "bid": 2.0,
    "tid": 3.0,
    "qid": 4.0,
    "every_other_day": 0.5,
    "weekly": 1.0 / 7.0,
}


def active_on(patient: PatientRecords, med: Medication, day: int) -> bool:
    """Whether a medication course covers calendar day ``day`` (``end`` inclusive; open = ongoing)."""
    start = patient.calendar_day(med.start)
    if med.frequency == "once":
        return start == day
    end = None if med.end is None else patient.calendar_day(med.end)
    return start <= day and (end is None or day <= end)


def daily_dose_mg(patient: PatientRecords, med: Medication, where: str) -> float:
    """Average daily dose in mg (``mg/kg`` needs the patient's ``weight_kg``).

    Raises
    ------
    ScoringError
        If the dose is missing or its unit is not a mass.
    """
    if med.dose is None or med.dose_unit is None:
        raise ScoringError(
            f"patient {patient.patient_id!r}, {where}: `dose` of {med.name!r} is missing; it is needed here"
        )
    if med.dose_unit == "mg":
        mg = med.dose
    elif med.dose_unit == "g":
        mg = med.dose * 1000.0
    elif med.dose_unit == "ug":
        mg = med.dose / 1000.0
    elif med.dose_unit == "mg/kg":
        if patient.weight_kg is None:
            raise ScoringError(
                f"patient {patient.patient_id!r}, {where}: {med.name!r} is dosed in mg/kg but `weight_kg` is missing"
            )
        mg = med.dose * patient.weight_kg
    else:
        raise ScoringError(
            f"patient {patient.patient_id!r}, {where}: `dose_unit` {med.dose_unit!r} of {med.name!r} "
            "is not a mass; use mg, g, ug or mg/kg"
        )
    return mg * _PER_DAY[med.frequency]


def prednisone_equivalent_mg_per_day(
    patient: PatientRecords, day: int, *, exclude_toxicity: bool = False
) -> tuple[float, list[str]]:
    """Total glucocorticoid dose on calendar day ``day`` in prednisone-equivalent mg/day.

    Parameters
    ----------
    patient : PatientRecords
        The patient.
    day : int
        Calendar day (day 0 = infusion day).
    exclude_toxicity : bool
        Leave out courses whose indication is ``"toxicity"`` (e.g. dexamethasone for CRS/ICANS).

    Returns
    -------
    tuple[float, list[str]]
        The dose and the agents that contributed.

    Raises
    ------
    ScoringError
        For an unknown glucocorticoid or a missing dose.
    """
    total = 0.0
    agents: list[str] = []
    for i, med in enumerate(patient.medications):
        if med.category != "glucocorticoid" or not active_on(patient, med, day):
            continue
        if exclude_toxicity and med.indication == "toxicity":
            continue
        key = med.name.strip().lower()
        if key not in PREDNISONE_EQUIVALENT_MG:
            raise ScoringError(
                f"patient {patient.patient_id!r}, medications[{i}]: unknown glucocorticoid {med.name!r}; "
                f"use one of {', '.join(PREDNISONE_EQUIVALENT_MG)}"
            )
        total += (
            daily_dose_mg(patient, med, f"medications[{i}]") * 5.0 / PREDNISONE_EQUIVALENT_MG[key]
        )
        agents.append(med.name)
    return round(total, 6), agents
