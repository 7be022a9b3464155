"""HScore, HLH-2004 and reported IEC-HS: worked examples X1 and X2."""

import pytest

from allocart import clinical


def lab(test, value, unit, time=10):
    return {"test": test, "value": value, "unit": unit, "time": time}


X1 = {
    "patient_id": "X1",
    "hlh": [
        {"time": 10, "known_immunosuppression": True, "hepatomegaly": False, "splenomegaly": True}
    ],
    "vitals": [{"test": "TEMP", "value": 39.0, "unit": "C", "time": 10}],
    "labs": [
        lab("HGB", 8.5, "g/dL"),
        lab("PLAT", 60, "10^9/L"),
        lab("WBC", 6.0, "10^9/L"),
        lab("FERRITIN", 8000, "ng/mL"),
        lab("TRIG", 200, "mg/dL"),
        lab("FIBRINO", 140, "mg/dL"),
        lab("AST", 80, "U/L"),
    ],
}
X2 = {
    "patient_id": "X2",
    "hlh": [{"time": 10, "splenomegaly": False}],
    "vitals": [{"test": "TEMP", "value": 39.0, "unit": "C", "time": 10}],
    "labs": [
        lab("HGB", 8.5, "g/dL"),
        lab("PLAT", 60, "10^9/L"),
        lab("FIBRINO", 1.2, "g/L"),
        lab("FERRITIN", 12000, "ug/L"),
    ],
}


def test_x1_hscore():
    row = clinical.score("hscore", X1)[0]
    assert row.value == 241
    assert row.components["points"] == {
        "known_immunosuppression": 18,
        "temperature": 33,
        "organomegaly": 23,
        "cytopenias": 24,
        "ferritin": 50,
        "triglycerides": 44,
        "fibrinogen": 30,
        "ast": 19,
        "haemophagocytosis": 0,
    }
    assert row.components["probable_hlh"] is True and row.components["not_assessed"] == [
        "haemophagocytosis"
    ]


def test_x2_hlh2004_not_fulfilled():
    row = clinical.score("hlh2004", X2)[0]
    assert row.value is False and row.components["criteria_met"] == 4


@pytest.mark.parametrize(
    "value, unit, expected",
    [(3.0, "mmol/L", True), (265, "mg/dL", True), (264, "mg/dL", False), (2.99, "mmol/L", False)],
    ids=["3.0mmol", "265mg", "264mg", "2.99mmol"],
)
def test_hlh2004_triglyceride_threshold_in_collected_unit(value, unit, expected):
    p = {"patient_id": "P", "hlh": [{"time": 10}], "labs": [lab("TRIG", value, unit)]}
    criteria = clinical.score("hlh2004", p)[0].components["criteria"]
    assert criteria["hypertriglyceridaemia_or_hypofibrinogenaemia"] is expected


@pytest.mark.parametrize("temp, points", [(38.3, 0), (38.4, 33), (39.4, 33), (39.5, 49)])
def test_hscore_temperature_bands(temp, points):
    p = {
        "patient_id": "P",
        "hlh": [{"time": 10}],
        "vitals": [{"test": "TEMP", "value": temp, "unit": "C", "time": 10}],
    }
    assert clinical.score("hscore", p)[0].components["points"]["temperature"] == points


def test_iec_hs_reported_grade_with_support():
    p = {
        **X1,
        "adverse_events": [
            {"term": "IEC-HS", "category": "iec_hs", "grade": 3, "scale": "astct-2023", "start": 12}
        ],
    }
    row = clinical.score("iec-hs", p)[0]
    assert row.value == 3 and row.components["hlh_assessments"][0]["hscore"] == 241
    unreported = clinical.score("iec-hs", X1)[0]
    assert unreported.value == 0 and any("review" in f for f in unreported.flags)
