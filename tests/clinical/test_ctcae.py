"""CTCAE v5.0 cytopenia grades, febrile neutropenia and hypogammaglobulinaemia: E1-E7."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError


def graded(test, value, unit, lln=None, **opts):
    p = {
        "patient_id": "P",
        "labs": [{"test": test, "value": value, "unit": unit, "time": 5, "ref_low": lln}],
    }
    return clinical.score("ctcae", p, febrile_neutropenia=False, **opts)[0]


@pytest.mark.parametrize(
    "test, value, unit, lln, expected",
    [
        ("NEUT", 1200, "/uL", 1800, 2),
        ("NEUT", 1000, "/uL", 1800, 2),
        ("NEUT", 999, "/uL", 1800, 3),
        ("NEUT", 499, "/uL", 1800, 4),
        ("NEUT", 1.7, "10^9/L", 1.8, 1),
        ("NEUT", 1.8, "10^9/L", 1.8, 0),
        ("PLAT", 60000, "/mm3", 150000, 2),
        ("PLAT", 25000, "/mm3", 150000, 3),
        ("PLAT", 24000, "/mm3", 150000, 4),
        ("HGB", 7.9, "g/dL", 12.0, 3),
        ("HGB", 8.0, "g/dL", 12.0, 2),
        ("HGB", 80, "g/L", 120, 2),
        ("HGB", 11.0, "g/dL", 12.0, 1),
        ("LYM", 0.19, "10^9/L", 1.0, 4),
        ("WBC", 2.0, "10^9/L", 4.0, 2),
    ],
    ids=[
        "E1",
        "E2-1000",
        "E2-999",
        "E2-499",
        "LLN-1.7",
        "at-LLN",
        "E4-60k",
        "E4-25k",
        "E4-24k",
        "E5-7.9",
        "E5-8.0",
        "Hb-80g/L",
        "E5-11.0",
        "lymph-G4",
        "wbc-2.0",
    ],
)
def test_grades(test, value, unit, lln, expected):
    assert graded(test, value, unit, lln).value == expected


def test_missing_lln_above_grade_2_bound():
    assert graded("NEUT", 1.7, "10^9/L").evaluable is False
    assert graded("NEUT", 1.2, "10^9/L").value == 2
    with pytest.raises(ScoringError, match="ref_low"):
        graded("NEUT", 1.7, "10^9/L", missing_lln="error")


def test_worst_post_baseline_and_shift():
    labs = [
        {"test": "LYM", "value": v, "unit": "10^9/L", "time": t, "ref_low": 1.0}
        for t, v in ((-10, 0.7), (3, 0.1), (20, 0.6))
    ]
    rows = clinical.score(
        "ctcae", {"patient_id": "P", "labs": labs}, terms=["lymphocyte_count_decreased"]
    )
    summary = [r for r in rows if "worst" in r.item][0]
    assert summary.value == 4 and summary.components["shift"] == "2->4"


def test_e7_febrile_neutropenia():
    p = {
        "patient_id": "P",
        "labs": [{"test": "NEUT", "value": 700, "unit": "/mm3", "time": 8.3}],
        "vitals": [{"test": "TEMP", "value": 38.5, "unit": "C", "time": 8.5}],
    }
    fn = [r for r in clinical.score("ctcae", p) if r.item == "febrile_neutropenia"]
    assert len(fn) == 1 and fn[0].value == 3


@pytest.mark.parametrize(
    "temps, expected",
    [([38.3], 0), ([38.1, 38.2], 1), ([38.1], 0)],
    ids=["single-38.3-not-above", "sustained-2h", "single-38.1"],
)
def test_febrile_neutropenia_rules(temps, expected):
    vitals = [
        {"test": "TEMP", "value": t, "unit": "C", "time": 8 + i / 12} for i, t in enumerate(temps)
    ]
    vitals = vitals if len(temps) == 1 else [vitals[0], {**vitals[1], "time": 8 + 2 / 24}]
    p = {
        "patient_id": "P",
        "labs": [{"test": "NEUT", "value": 0.7, "unit": "10^9/L", "time": 8}],
        "vitals": vitals,
    }
    assert (
        len([r for r in clinical.score("ctcae", p) if r.item == "febrile_neutropenia"]) == expected
    )


@pytest.mark.parametrize(
    "value, unit, opts, expected",
    [
        (3.9, "g/L", {}, True),
        (400, "mg/dL", {}, False),
        (400, "mg/dL", {"igg_inclusive": True}, True),
        (450, "mg/dL", {"igg_threshold_g_l": 5.0}, True),
    ],
    ids=["3.9g/L", "400mg/dL-strict", "400mg/dL-inclusive", "threshold-5"],
)
def test_hypogammaglobulinaemia_threshold(value, unit, opts, expected):
    p = {
        "patient_id": "P",
        "labs": [{"test": "IGG", "value": value, "unit": unit, "time": 60}],
        "adverse_events": [
            {
                "term": "Pneumonia",
                "category": "infection",
                "grade": 3,
                "scale": "ctcae-5.0",
                "start": 40,
            }
        ],
    }
    row = [r for r in clinical.score("ctcae", p, **opts) if r.item == "hypogammaglobulinaemia"][0]
    assert row.value is expected and row.components["infections"] == [
        "adverse_events[0] (Pneumonia)"
    ]
