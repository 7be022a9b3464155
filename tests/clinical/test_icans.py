"""ASTCT ICANS grading with ICE and CAPD: worked examples I1-I8."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError

from .helpers import FULL_ICE_ITEMS


def grade(assessment, age=40, **patient_kw):
    p = {"patient_id": "P", "age_years": age, "neuro": [{"time": 3, **assessment}], **patient_kw}
    return clinical.score("icans", p)[0].value


@pytest.mark.parametrize(
    "assessment, age, expected",
    [
        (
            {
                "ice_items": {
                    "orientation": 3,
                    "naming": 3,
                    "command": 1,
                    "writing": 1,
                    "attention": 0,
                }
            },
            40,
            1,
        ),
        ({"ice_score": 5, "consciousness": "awakens_to_voice"}, 40, 2),
        ({"ice_score": 0, "global_aphasia": True}, 40, 3),
        ({"ice_score": 0, "consciousness": "unarousable"}, 40, 4),
        ({"ice_score": 10}, 40, 0),
        ({"capd_score": 10, "consciousness": "awakens_to_voice"}, 8, 3),
        (
            {
                "ice_score": 7,
                "consciousness": "awakens_to_voice",
                "consciousness_attribution": "drug",
            },
            40,
            1,
        ),
    ],
    ids=["I1", "I2", "I4a-aphasia", "I4b-unarousable", "I5-tremor-only", "I7-capd", "I8-lorazepam"],
)
def test_worked_examples(assessment, age, expected):
    assert grade(assessment, age) == expected


@pytest.mark.parametrize("ice, expected", [(9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (1, 3)])
def test_ice_bands(ice, expected):
    assert grade({"ice_score": ice}) == expected


@pytest.mark.parametrize(
    "finding, expected",
    [
        ({"seizure": "rapidly_resolving"}, 3),
        ({"seizure": "prolonged"}, 4),
        ({"motor": "deep_focal_weakness"}, 4),
        ({"cerebral_oedema": "focal"}, 3),
        ({"cerebral_oedema": "papilloedema"}, 4),
        ({"consciousness": "awakens_to_tactile"}, 3),
    ],
    ids=["seizure-rapid", "seizure-prolonged", "motor", "oedema-focal", "papilloedema", "tactile"],
)
def test_other_domains(finding, expected):
    assert grade({"ice_score": 10, **finding}) == expected


@pytest.mark.parametrize("age, expected", [(11.9, 3), (12, 2)], ids=["age-11.9-capd", "age-12-ice"])
def test_capd_age_cut(age, expected):
    assert grade({"ice_score": 5, "capd_score": 12}, age) == expected


def test_capd_age_option_and_developmental_delay():
    p = {
        "patient_id": "P",
        "age_years": 12,
        "neuro": [{"time": 3, "ice_score": 5, "capd_score": 12}],
    }
    assert clinical.score("icans", p, capd_below_age=13)[0].value == 3
    assert grade({"ice_score": 5, "capd_score": 12}, 30, developmental_delay=True) == 3


def test_other_cause_is_not_icans_and_baseline_is_flagged():
    assert grade({"ice_score": 4, "attribution": "sle"}) == 0
    p = {"patient_id": "P", "baseline_ice": 8, "neuro": [{"time": 3, "ice_score": 8}]}
    row = clinical.score("icans", p)[0]
    assert row.value == 1 and any("baseline ICE" in f for f in row.flags)
    assert clinical.score("icans", p, ice_relative_to_baseline=True)[0].value == 0


def test_missing_ice_and_inconsistent_items_are_errors():
    with pytest.raises(ScoringError, match=r"neuro\[0\].*ice_score"):
        grade({"consciousness": "alert"})
    with pytest.raises(ScoringError, match="differs from the sum"):
        grade(
            {
                "ice_score": 9,
                "ice_items": FULL_ICE_ITEMS,
            }
        )


def test_worst_row_and_death():
    p = {
        "patient_id": "P",
        "neuro": [{"time": 3, "ice_score": 8}, {"time": 4, "ice_score": 2}],
        "death": {"time": 9, "cause": "icans"},
    }
    rows = clinical.score("icans", p)
    assert [r.value for r in rows] == [1, 3, 5, 5]
