"""Maintenance therapy checks shared by LLDAS and the DORIS definitions."""

from __future__ import annotations

from allocart.clinical.medications import active_on, daily_dose_mg
from allocart.clinical.records import PatientRecords

__all__ = [
    "ALIASES",
    "MAINTENANCE_CATEGORIES",
    "canonical_drug",
    "maintenance_on",
    "changed_within",
]

#: Common abbreviations mapped to the drug names the dose caps use.
ALIASES = {
    "hcq": "hydroxychloroquine",
    "mmf": "mycophenolate mofetil",
    "mycophenolate": "mycophenolate mofetil",
    "mpa": "mycophenolic acid",
    "mycophenolate sodium": "mycophenolic acid",
    "aza": "azathioprine",
    "mtx": "methotrexate",
}

#: Medication categories that count as maintenance therapy of SLE.
MAINTENANCE_CATEGORIES = ("antimalarial", "immunosuppressant", "biologic")


def canonical_drug(name: str) -> str:
    """Lower-case drug name with common abbreviations expanded."""
    key = " ".join(name.strip().lower().split())
    return ALIASES.get(key, key)


def maintenance_on(
    patient: PatientRecords, day: int, categories: tuple[str, ...] = MAINTENANCE_CATEGORIES
) -> list[tuple[int, str, str]]:
    """Courses of the given categories active on ``day``: (index, canonical name, category)."""
    return [
        (i, canonical_drug(m.name), m.category)
        for i, m in enumerate(patient.medications)
        if m.category in categories and active_on(patient, m, day)
    ]


def changed_within(
    patient: PatientRecords,
    day: int,
    days: int,
    categories: tuple[str, ...] = MAINTENANCE_CATEGORIES,
) -> list[str]:
    """Courses started in ``(day - days, day]`` that are new agents or dose increases."""
    out = []
    for i, med in enumerate(patient.medications):
        if med.category not in categories:
            continue
        start = patient.calendar_day(med.start)
        if not day - days < start <= day:
            continue
        name = canonical_drug(med.name)
        before = [
            other
            for other in patient.medications
            if canonical_drug(other.name) == name
            and other is not med
            and active_on(patient, other, start - 1)
        ]
        if not before:
            out.append(f"medications[{i}] ({med.name}) started on day {start}")
            continue
        if med.dose is not None and all(o.dose is not None for o in before):
            where = f"medications[{i}]"
            old = max(daily_dose_mg(patient, o, where) for o in before)
            if daily_dose_mg(patient, med, where) > old:
                out.append(f"medications[{i}] ({med.name}) dose increased on day {start}")
    return out
