"""MAGIC acute GvHD staging and overall grade: worked examples G1-G7."""

import pytest

from allocart import clinical


def grade(assessment, labs=(), weight=70.0, **opts):
    p = {
        "patient_id": "P",
        "weight_kg": weight,
        "gvhd": [{"time": 20, **assessment}],
        "labs": list(labs),
    }
    return clinical.score("gvhd", p, **opts)[0]


def bili(value, unit="mg/dL"):
    return {"test": "BILI", "value": value, "unit": unit, "time": 20}


@pytest.mark.parametrize(
    "assessment, labs, expected",
    [
        ({"skin_bsa_percent": 30}, [bili(1.2)], 1),
        ({"skin_bsa_percent": 60}, [], 2),
        ({}, [bili(16)], 4),
        ({"upper_gi_persistent": True}, [], 2),
        ({"grossly_bloody_stool": True, "stool_ml_per_day": 300}, [], 4),
    ],
    ids=["G1", "G2", "G4", "G5", "G7"],
)
def test_worked_examples(assessment, labs, expected):
    assert grade(assessment, labs).value == expected


def test_g1_stages_and_label():
    row = grade({"skin_bsa_percent": 30}, [bili(1.2)])
    assert (row.components["skin"], row.components["liver"], row.label) == (2, 0, "grade I")


@pytest.mark.parametrize(
    "value, unit, stage",
    [
        (1.9, "mg/dL", 0),
        (2.0, "mg/dL", 1),
        (3.0, "mg/dL", 1),
        (3.1, "mg/dL", 2),
        (6.1, "mg/dL", 3),
        (15, "mg/dL", 3),
        (34.2, "umol/L", 1),
        (51.3, "umol/L", 1),
        (52, "µmol/L", 2),
    ],
)
def test_liver_stages(value, unit, stage):
    assert grade({}, [bili(value, unit)]).components["liver"] == stage


@pytest.mark.parametrize(
    "assessment, stage",
    [
        ({"stool_ml_per_day": 499}, 0),
        ({"stool_ml_per_day": 500}, 1),
        ({"stool_ml_per_day": 1100}, 2),
        ({"stool_ml_per_day": 1501}, 3),
        ({"stool_episodes_per_day": 8}, 3),
        ({"stool_ml_per_day": 2200, "stool_mixed_with_urine": True}, 2),
        ({"severe_abdominal_pain": True}, 4),
    ],
    ids=["499", "500", "1100", "1501", "8-episodes", "mixed-urine", "pain"],
)
def test_lower_gi_adult(assessment, stage):
    assert grade(assessment).components["lower_gi"] == stage


def test_lower_gi_child_uses_ml_per_kg():
    row = grade({"stool_ml_per_day": 500}, weight=20)
    assert row.components["lower_gi"] == 2 and row.components["lower_gi_scale"] == "child"
    assert (
        grade({"stool_ml_per_day": 500}, weight=20, lower_gi_scale="adult").components["lower_gi"]
        == 1
    )


def test_skin_stage_4_needs_bullae():
    assert grade({"skin_bsa_percent": 80, "skin_bullae_desquamation": True}).value == 4
    assert grade({"skin_bsa_percent": 80}).value == 2
