"""ICAHT early and late grading: worked examples H1-H8 and counting conventions."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError


def course(low_days, low=300, very_low_days=(), normal=2000, last=30):
    """Daily ANC (/uL) for days 0..last: ``low`` on low_days, 50 on very_low_days, else normal."""
    labs = []
    for day in range(0, last + 1):
        value = 50 if day in very_low_days else low if day in low_days else normal
        labs.append({"test": "NEUT", "value": value, "unit": "/uL", "time": day})
    return labs


def grades(labs, **opts):
    rows = clinical.score("icaht", {"patient_id": "P", "labs": labs}, **opts)
    return {r.item: r.value for r in rows}


@pytest.mark.parametrize(
    "labs, expected",
    [
        (course(range(3, 8)), 1),
        (course(range(2, 12)), 2),
        (course(range(2, 11), very_low_days=range(3, 10)), 3),
        (course(range(1, 16), very_low_days=range(1, 16)), 4),
        (course(list(range(1, 6)) + list(range(20, 25))), 1),
    ],
    ids=["H1", "H2", "H4", "H5", "H7-longest"],
)
def test_early_worked_examples(labs, expected):
    assert grades(labs)["early"] == expected


def test_h7_cumulative_reading():
    labs = course(list(range(1, 6)) + list(range(20, 25)))
    assert grades(labs, duration="cumulative")["early"] == 2


def test_h8_late():
    labs = course([]) + [
        {"test": "NEUT", "value": v, "unit": "10^9/L", "time": d} for d, v in ((45, 0.9), (52, 0.8))
    ]
    assert grades(labs)["late"] == 2


def late(values, **opts):
    """Late grade from (day, ANC 10^9/L) values after a normal early course."""
    labs = course([]) + [
        {"test": "NEUT", "value": v, "unit": "10^9/L", "time": d} for d, v in values
    ]
    return grades(labs, **opts)["late"]


ONE_LOW = [(45, 0.4)]
LOW_THEN_HIGH = [(45, 0.4), (52, 1.6), (60, 2.0)]
LOW_AT_1500 = [(45, 0.4), (52, 1.5), (60, 2.0)]
SAME_DAY = [(45, 0.4), (45.5, 0.45), (52, 1.8)]


@pytest.mark.parametrize(
    "values, expected",
    [(ONE_LOW, 0), (LOW_THEN_HIGH, 0), (LOW_AT_1500, 3), (SAME_DAY, 3)],
    ids=["one-low", "second-1600", "second-1500", "same-day-pair"],
)
def test_late_rule_min_values_2(values, expected):
    assert late(values) == expected
    assert late(values, late_rule="min_values", late_min_values=2) == expected


@pytest.mark.parametrize(
    "values, expected",
    [(ONE_LOW, 3), (LOW_THEN_HIGH, 3), (LOW_AT_1500, 3), ([(45, 1.6)], 0)],
    ids=["one-low", "second-1600", "second-1500", "none-low"],
)
def test_late_rule_min_values_1(values, expected):
    assert late(values, late_min_values=1) == expected


@pytest.mark.parametrize(
    "values, expected",
    [
        (ONE_LOW, 3),
        (LOW_THEN_HIGH, 0),
        (LOW_AT_1500, 3),
        (SAME_DAY, 0),
        ([(45, 0.09), (70, 1.2)], 4),
        ([(45, 1.6), (50, 1.7)], 0),
        ([(45, 1.0), (70, 1.4), (80, 0.9)], 2),
    ],
    ids=[
        "one-low",
        "second-1600",
        "second-1500",
        "same-day-pair",
        "grade-4",
        "none-low",
        "nadir-900",
    ],
)
def test_late_rule_reference(values, expected):
    assert late(values, late_rule="reference") == expected


def _reference_late(values):
    """The reference code's late grade, written from its description: lowest ANC per day after day 30,
    the two lowest, the lowest graded when the second is <= 1500/uL or missing."""
    daily = {}
    for d, v in values:
        daily[int(d)] = min(daily.get(int(d), v), v)
    two = sorted(daily.values())[:2]
    if not two or two[0] > 1.5 or (len(two) == 2 and two[1] > 1.5):
        return 0
    return 4 if two[0] <= 0.1 else 3 if two[0] <= 0.5 else 2 if two[0] <= 1.0 else 1


def test_late_rule_reference_agrees_with_the_reference_on_random_courses():
    import random

    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 6)
        values = [
            (rng.randint(31, 100) + rng.choice((0, 0.25)), round(rng.uniform(0.05, 2.5), 2))
            for _ in range(n)
        ]
        assert late(values, late_rule="reference") == _reference_late(values), values


def test_late_rule_reports_the_transient_value():
    rows = clinical.score(
        "icaht",
        {
            "patient_id": "P",
            "labs": course([])
            + [{"test": "NEUT", "value": v, "unit": "10^9/L", "time": d} for d, v in LOW_THEN_HIGH],
        },
        late_rule="reference",
    )
    row = rows[1]
    assert row.components["rule"] == "reference" and row.components["two_lowest_daily_10e9_l"] == [
        0.4,
        1.6,
    ]
    assert any("1600/uL above 1500/uL" in f for f in row.flags)


@pytest.mark.parametrize(
    "days, expected", [(6, 1), (7, 2), (13, 2), (14, 3)], ids=["6d", "7d", "13d", "14d"]
)
def test_duration_bands(days, expected):
    assert grades(course(range(5, 5 + days)))["early"] == expected


def test_threshold_is_inclusive():
    assert grades(course(range(5, 12), low=500))["early"] == 2
    assert grades(course(range(5, 12), low=500), inclusive=False)["early"] == 0


def test_non_stable_recovery_is_bridged():
    # below days 2-6, above on 7-8 only (non-stable), below 9-12: one 11-day episode
    assert grades(course(list(range(2, 7)) + list(range(9, 13))))["early"] == 2


def test_t4_open_episode_from_day_2_is_grade_4():
    labs = course(range(2, 36), last=35)
    row = clinical.score("icaht", {"patient_id": "P", "labs": labs})[0]
    assert row.value == 4 and any("convention 4" in f for f in row.flags)
    assert grades(labs, open_episode_grade4=False)["early"] == 3


def test_gaps_are_interpolated():
    labs = [
        {"test": "NEUT", "value": v, "unit": "/uL", "time": d}
        for d, v in ((0, 2000), (2, 300), (9, 300), (12, 2000), (30, 2000))
    ]
    assert grades(labs)["early"] == 2
    assert grades(labs, interpolate_max_gap_days=0)["early"] == 1


def test_baseline_neutropenia_is_reported():
    labs = [{"test": "NEUT", "value": 1.2, "unit": "10^9/L", "time": -6}] + course([])
    row = clinical.score("icaht", {"patient_id": "P", "labs": labs})[0]
    assert row.components["baseline_anc_10e9_l"] == 1.2 and any(
        "pre-existing" in f for f in row.flags
    )


def test_needs_day_zero():
    p = {
        "patient_id": "P",
        "labs": [
            {"test": "NEUT", "value": v, "unit": "10^9/L", "time": t}
            for t, v in (("2024-05-02", 0.3), ("2024-05-06", 2.0))
        ],
    }
    with pytest.raises(ScoringError, match="infusion"):
        clinical.score("icaht", p)
    rows = clinical.score("icaht", {**p, "infusion": "2024-05-01"})
    assert rows[0].value == 1
