"""SDTM timing variables of a row: study day (``--DY``), visit (``VISIT``, ``VISITNUM``) and
``EPOCH``, from the row's date and its subject's reference dates.

Study day (SDTM IG 3.4, section 4.4.4): the reference start date ``RFSTDTC`` is study day 1 (here
the CAR-T infusion date, day 0 of a dataset), the day before it is day -1: there is no day 0.
``--DY = date - RFSTDTC + 1`` on or after the reference date, ``date - RFSTDTC`` before it, in
whole calendar days (times of day are ignored).

Epoch (SDTM ``EPOCH``): ``SCREENING`` before the first administration of study treatment
(lymphodepletion, else the CAR-T infusion), ``TREATMENT`` from it through the infusion day, and
``FOLLOW-UP`` after the infusion day.

Visits: a planned schedule of study days (:data:`PLANNED_DAYS`, the usual CAR-T sampling days
after the infusion; day 1 = infusion). A row in the treatment epoch before the infusion day is
the ``LYMPHODEPLETION`` visit, one in screening the ``SCREENING`` visit; a later row is the
planned visit of the nearest planned day when within its window (:func:`visit_window_days`),
else ``UNSCHEDULED`` with the number of the visit before it plus 0.01 (the SDTM convention for
unplanned visits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

__all__ = [
    "EPOCHS",
    "PLANNED_DAYS",
    "SubjectDates",
    "epoch",
    "study_day",
    "visit",
    "visit_window_days",
]

#: EPOCH values, in time order.
EPOCHS = ("SCREENING", "TREATMENT", "FOLLOW-UP")

#: Planned visits as study days (day 1 = the infusion day): days 0, 1, 3, 7, 10, 14, 21, 28,
#: 42, 56, 90, 120, 180, 270 and 365 after the infusion, the sampling schedule of
#: :data:`allocart.data.DEFAULT_SAMPLE_DAYS`.
PLANNED_DAYS = (1, 2, 4, 8, 11, 15, 22, 29, 43, 57, 91, 121, 181, 271, 366)

#: VISITNUM of the screening and lymphodepletion visits; planned visit k (0-based) is k + 3.
_SCREENING_NUM, _LD_NUM, _FIRST_PLANNED_NUM = 1.0, 2.0, 3.0


@dataclass(frozen=True)
class SubjectDates:
    """A subject's reference dates.

    Attributes
    ----------
    reference : date
        ``RFSTDTC``: the CAR-T infusion date (study day 1).
    first_exposure : date
        ``RFXSTDTC``: the first administration of study treatment (the first lymphodepletion
        dose, else the infusion); on or before ``reference``.
    """

    reference: date
    first_exposure: date


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def study_day(when: date | datetime, reference: date | datetime) -> int:
    """SDTM study day of ``when`` relative to ``reference`` (day 1); never 0.

    Examples
    --------
    >>> from datetime import date
    >>> [study_day(date(2025, 1, d), date(2025, 1, 6)) for d in (4, 5, 6, 7)]
    [-2, -1, 1, 2]
    """
    delta = (_day(when) - _day(reference)).days
    return delta + 1 if delta >= 0 else delta


def epoch(when: date | datetime, dates: SubjectDates) -> str:
    """``SCREENING``, ``TREATMENT`` or ``FOLLOW-UP`` of a row dated ``when`` (see the module doc)."""
    day = _day(when)
    if day < dates.first_exposure:
        return "SCREENING"
    if day <= dates.reference:
        return "TREATMENT"
    return "FOLLOW-UP"


def visit_window_days(planned_day: int) -> int:
    """Half-width of the window of a planned visit, in days: 10% of the days since the infusion,
    at least 1 (day 8 +/- 1, day 29 +/- 2, day 366 +/- 36)."""
    return max(1, round(0.1 * (planned_day - 1)))


def visit(when: date | datetime, dates: SubjectDates) -> tuple[str, float]:
    """``(VISIT, VISITNUM)`` of a row dated ``when`` (see the module doc).

    Examples
    --------
    >>> from datetime import date
    >>> d = SubjectDates(reference=date(2025, 1, 6), first_exposure=date(2025, 1, 1))
    >>> visit(date(2024, 12, 20), d), visit(date(2025, 1, 2), d), visit(date(2025, 1, 13), d)
    (('SCREENING', 1.0), ('LYMPHODEPLETION', 2.0), ('DAY 8', 6.0))
    """
    phase = epoch(when, dates)
    dy = study_day(when, dates.reference)
    if phase == "SCREENING":
        return "SCREENING", _SCREENING_NUM
    if dy < 1:
        return "LYMPHODEPLETION", _LD_NUM
    k = min(range(len(PLANNED_DAYS)), key=lambda i: (abs(PLANNED_DAYS[i] - dy), PLANNED_DAYS[i]))
    if abs(PLANNED_DAYS[k] - dy) <= visit_window_days(PLANNED_DAYS[k]):
        return f"DAY {PLANNED_DAYS[k]}", _FIRST_PLANNED_NUM + k
    before = max((i for i, p in enumerate(PLANNED_DAYS) if p < dy), default=None)
    num = _LD_NUM if before is None else _FIRST_PLANNED_NUM + before
    return "UNSCHEDULED", round(num + 0.01, 2)
