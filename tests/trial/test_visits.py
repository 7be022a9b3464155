"""The protocol's schedule_days are the visits of the virtual patients (and nothing else is)."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.population.covariates import PopulationError
from allocart.population.schedule import DEFAULT_SAFETY_LAB_DAYS, schedule_for
from allocart.trial.pools import PoolKey, pool_keys, simulate_pool
from allocart.trial.protocol import DAYS_PER_MONTH, protocol_from_dict
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort


def test_default_schedule_is_unchanged_without_visit_days():
    s = schedule_for((3, 6), 28)
    assert s.visit_days == (14, 28, 91, 183, 365)
    assert s.month_days == {3: 91, 6: 183}
    assert s.horizon_days == 365


def test_visit_days_replace_the_default_visits():
    s = schedule_for((3, 6), 28, visit_days=(7, 14, 21, 28, 56, 91, 122, 152, 183))
    assert s.visit_days == (7, 14, 21, 28, 56, 91, 122, 152, 183)
    assert 365 not in s.visit_days
    assert s.month_days == {3: 91, 6: 183}
    # Safety blood counts for the DLT window are still drawn; follow-up stays a year.
    assert set(DEFAULT_SAFETY_LAB_DAYS) <= set(s.lab_days.tolist())
    assert s.horizon_days == 365


@pytest.mark.parametrize(
    ("visits", "says"),
    [
        ((7, 14, 183), "month 3 needs a visit on day 91"),
        ((0, 91, 183), "visit_days: 0"),
        ((91, 183.5), "visit_days: 183.5"),
        ((), "at least one"),
        ((91, True, 183), "visit_days: True"),
    ],
)
def test_bad_visit_days_are_refused(visits, says):
    with pytest.raises(PopulationError, match=says):
        schedule_for((3, 6), 28, visit_days=visits)


def test_every_pool_gets_the_protocols_visits(monkeypatch):
    import allocart.population.cohort as cohort

    calls = []

    def recording(*args, **kw):
        calls.append(kw)
        return fake_simulate_cohort(*args, **kw)

    monkeypatch.setattr(cohort, "simulate_cohort", recording)
    d = small_dict(pool_size=20)
    d["schedule_days"] = [0, 14, 28, 91, 183]
    p = protocol_from_dict(d)
    for key in pool_keys(p):
        simulate_pool(p, key)
    assert len(calls) == len(pool_keys(p))
    assert all(kw["visit_days"] == (14, 28, 91, 183) for kw in calls)


def _visit_days_of_pool(schedule):
    d = small_dict(pool_size=20, timecourse_patients=3)
    d["schedule_days"] = schedule
    d["comparators"] = []
    p = protocol_from_dict(d)
    patients, tcs = simulate_pool(p, PoolKey(0, 0))
    ok = ~patients["failed"].to_numpy(dtype=bool)
    assert ok.any()
    # SLEDAI-2K is scored at the visits only: its days in the time courses are the visits.
    days = sorted(set(tcs.loc[tcs["sledai2k"].notna(), "time"].astype(int)))
    return p, patients, days


def test_the_schedule_drives_the_visits_of_the_real_cohort_simulation():
    """Two schedules: the visits (and only they) differ; no visit the protocol lacks (day 365)."""
    short = [0, 91, 183]
    long = [0, 7, 14, 21, 28, 56, 91, 122, 152, 183]
    _, pat1, days1 = _visit_days_of_pool(short)
    _, pat2, days2 = _visit_days_of_pool(long)
    assert days1 == [91, 183]
    assert days2 == long[1:]
    assert 365 not in days1 + days2
    # Endpoint day of month 6 is a visit of both; the same people, scored on their own visits.
    assert round(6 * DAYS_PER_MONTH) in days1
    np.testing.assert_array_equal(pat1["age_years"], pat2["age_years"])
    assert "sledai2k_m6" in pat1.columns and "sledai2k_m6" in pat2.columns
