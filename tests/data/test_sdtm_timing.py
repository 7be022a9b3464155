"""SDTM timing variables: study day without day 0, epochs from the infusion, visit windows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from allocart.data.sdtm.timing import (
    PLANNED_DAYS,
    SubjectDates,
    epoch,
    study_day,
    visit,
    visit_window_days,
)
from tests.properties import fast

INFUSION = date(2025, 3, 3)
DATES = SubjectDates(reference=INFUSION, first_exposure=INFUSION - timedelta(days=5))


def test_study_day_has_no_day_zero():
    # SDTM IG 3.4 section 4.4.4: the reference date is day 1, the day before it day -1
    assert study_day(INFUSION, INFUSION) == 1
    assert study_day(INFUSION - timedelta(days=1), INFUSION) == -1
    assert study_day(INFUSION + timedelta(days=7), INFUSION) == 8
    # the time of day does not count: 23:59 on the infusion day is still day 1
    assert study_day(datetime(2025, 3, 3, 23, 59), datetime(2025, 3, 3, 9, 30)) == 1


@fast(200)
@given(offset=st.integers(-3650, 3650))
def test_study_day_is_the_calendar_offset_shifted_past_zero(offset):
    dy = study_day(INFUSION + timedelta(days=offset), INFUSION)
    assert dy != 0
    assert dy == (offset + 1 if offset >= 0 else offset)


def test_epoch_follows_the_infusion_date():
    assert epoch(INFUSION - timedelta(days=6), DATES) == "SCREENING"
    assert epoch(INFUSION - timedelta(days=5), DATES) == "TREATMENT"  # lymphodepletion starts
    assert epoch(datetime(2025, 3, 3, 18, 0), DATES) == "TREATMENT"  # the infusion day
    assert epoch(INFUSION + timedelta(days=1), DATES) == "FOLLOW-UP"


def test_visits_planned_windowed_and_unscheduled():
    assert visit(INFUSION - timedelta(days=10), DATES) == ("SCREENING", 1.0)
    assert visit(INFUSION - timedelta(days=2), DATES) == ("LYMPHODEPLETION", 2.0)
    assert visit(INFUSION, DATES) == ("DAY 1", 3.0)
    # day 29 is the 8th planned visit (VISITNUM 3 + 7), with a window of +/- 3 days
    assert visit(INFUSION + timedelta(days=29), DATES) == ("DAY 29", 10.0)
    assert visit_window_days(29) == 3
    # day 70 is 21 days from day 91 (window 9) and 13 from day 57 (window 6): unscheduled,
    # numbered after the visit before it (DAY 57, VISITNUM 12)
    assert visit(INFUSION + timedelta(days=69), DATES) == ("UNSCHEDULED", 12.01)


@fast(200)
@given(offset=st.integers(0, 800))
def test_every_visit_after_the_infusion_is_planned_within_its_window_or_unscheduled(offset):
    name, num = visit(INFUSION + timedelta(days=offset), DATES)
    dy = offset + 1
    if name == "UNSCHEDULED":
        assert all(abs(p - dy) > visit_window_days(p) for p in PLANNED_DAYS)
        assert round(num % 1, 2) == 0.01
    else:
        planned = int(name.split()[1])
        assert planned in PLANNED_DAYS and abs(planned - dy) <= visit_window_days(planned)
        assert num == 3.0 + PLANNED_DAYS.index(planned)
