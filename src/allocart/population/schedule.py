"""Schedule of assessments: when a virtual patient is seen and what is collected.

Days count from the CAR-T infusion (day 0). The screening (baseline) visit is before
lymphodepletion; its laboratory values are the model's pre-treatment steady state. Month ``m``
is day ``round(m * 365.25 / 12)`` (month 3 = day 91, month 6 = day 183), the convention of the
cohort interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from allocart.population.covariates import PopulationError

__all__ = ["Schedule", "month_day", "schedule_for"]

#: Study visits besides the endpoint months: weeks 2 and 4, then months 3, 6 and 12
#: [assumption: the visit pattern of the Erlangen and relma-cel series, which report weeks 2-4
#: and months 3, 6 and 12; few visits keep scoring a large cohort fast].
DEFAULT_VISIT_MONTHS: tuple[int, ...] = (3, 6, 12)
DEFAULT_EARLY_VISITS: tuple[int, ...] = (14, 28)
#: Extra blood counts in the first six weeks (cytopenia grading, DLT persistence rule).
DEFAULT_SAFETY_LAB_DAYS: tuple[int, ...] = (0, 3, 7, 10, 14, 21, 28, 35, 42)


def month_day(m: int) -> int:
    """Day after infusion of month ``m`` (``round(m * 365.25 / 12)``)."""
    return int(round(m * 365.25 / 12))


@dataclass(frozen=True)
class Schedule:
    """Visits and laboratory sampling days.

    Attributes
    ----------
    baseline_day : float
        Screening visit (day < -5: before the first lymphodepleting dose of every built-in
        regimen).
    visit_days : tuple of int
        Post-infusion study visits (SLEDAI-2K, PGA, BILAG, serology, blood counts, IgG).
    safety_lab_days : tuple of int
        Extra blood counts (ICAHT, CTCAE, DLT persistence rule).
    month_days : dict
        Endpoint month -> its visit day (each among ``visit_days``).
    horizon_days : int
        Simulated follow-up (the last visit).
    """

    baseline_day: float
    visit_days: tuple[int, ...]
    safety_lab_days: tuple[int, ...]
    month_days: dict[int, int]
    horizon_days: int

    def __post_init__(self) -> None:
        if not self.visit_days:
            raise PopulationError(
                "schedule: `visit_days` is empty; give at least the endpoint months"
            )
        if sorted(set(self.visit_days)) != list(self.visit_days):
            raise PopulationError(
                f"schedule: `visit_days` = {list(self.visit_days)} must be increasing without repeats"
            )
        if self.visit_days[0] <= 0:
            raise PopulationError(
                f"schedule: `visit_days` = {list(self.visit_days)} must be after the infusion (> 0)"
            )
        if self.baseline_day >= -5:
            raise PopulationError(
                f"schedule: `baseline_day` = {self.baseline_day!r} must be before day -5 (lymphodepletion)"
            )
        for m, d in self.month_days.items():
            if d not in self.visit_days:
                raise PopulationError(f"schedule: month {m} (day {d}) is not one of `visit_days`")
        if self.horizon_days < self.visit_days[-1]:
            raise PopulationError(
                f"schedule: `horizon_days` = {self.horizon_days!r} ends before the last visit {self.visit_days[-1]}"
            )

    @property
    def lab_days(self) -> np.ndarray:
        """Post-infusion days with blood counts (visits and safety labs), sorted."""
        return np.array(sorted(set(self.visit_days) | set(self.safety_lab_days)), dtype=int)


def schedule_for(
    months: Sequence[int], dlt_window_days: int = 28, visit_days: Sequence[int] | None = None
) -> Schedule:
    """The schedule with a visit at every endpoint month of ``months``.

    Parameters
    ----------
    months : sequence of int
        Endpoint months (each >= 1).
    dlt_window_days : int
        Last day of the DLT window; blood counts are drawn up to two weeks beyond it so the
        haematological persistence rule can be applied.
    visit_days : sequence of int, optional
        The post-infusion study visits (days >= 1, e.g. a trial protocol's ``schedule_days``
        without the baseline day 0); every endpoint month's day must be one of them. Default:
        weeks 2 and 4, months 3, 6 and 12 and the endpoint months. The safety blood counts
        (:data:`DEFAULT_SAFETY_LAB_DAYS` and the window's end + 0, 7, 14 days) are drawn
        either way, and the simulated follow-up stays at least 365 days (kinetic read-outs such
        as the day of B-cell return need it).

    Raises
    ------
    PopulationError
        If a month is not a positive whole number, the window is not positive, a visit day is
        not a whole day >= 1, or an endpoint month has no visit.
    """
    ms = []
    for m in months:
        if isinstance(m, bool) or int(m) != m or m < 1:
            raise PopulationError(f"months: {m!r} must be a positive whole number of months")
        ms.append(int(m))
    if not ms:
        raise PopulationError("months: give at least one endpoint month, e.g. (3, 6)")
    if (
        isinstance(dlt_window_days, bool)
        or int(dlt_window_days) != dlt_window_days
        or dlt_window_days < 1
    ):
        raise PopulationError(
            f"dlt_window_days: {dlt_window_days!r} must be a positive whole number of days"
        )
    month_days = {m: month_day(m) for m in sorted(set(ms))}
    if visit_days is None:
        visits = set(DEFAULT_EARLY_VISITS) | {month_day(m) for m in DEFAULT_VISIT_MONTHS}
        visits |= set(month_days.values())
    else:
        visits = set()
        for d in visit_days:
            real = isinstance(d, (int, float, np.integer, np.floating))
            if isinstance(d, bool) or not real or not np.isfinite(d) or int(d) != d or d < 1:
                raise PopulationError(
                    f"visit_days: {d!r} must be a whole day after the infusion (>= 1)"
                )
            visits.add(int(d))
        if not visits:
            raise PopulationError("visit_days: give at least one post-infusion visit day")
        for m, d in month_days.items():
            if d not in visits:
                raise PopulationError(
                    f"visit_days: endpoint month {m} needs a visit on day {d}, which visit_days "
                    f"{sorted(visits)} lacks"
                )
    safety = set(DEFAULT_SAFETY_LAB_DAYS) | {
        int(dlt_window_days),
        int(dlt_window_days) + 7,
        int(dlt_window_days) + 14,
    }
    visits_t = tuple(sorted(visits))
    return Schedule(
        baseline_day=-7.0,
        visit_days=visits_t,
        safety_lab_days=tuple(sorted(safety)),
        month_days=month_days,
        horizon_days=max(visits_t[-1], 365),
    )
