"""Record validation, unit normalisation, options and the registry."""

import json

import pydantic
import pytest

from allocart import clinical
from allocart.errors import ScoringError


def score(patient, standard="sledai2k", **opts):
    return clinical.score(standard, patient, **opts)


@pytest.mark.parametrize(
    "patient, pattern",
    [
        ({"visits": [{"time": 0}]}, r"record 0: field `patient_id` is missing"),
        (
            {"patient_id": "A", "labs": [{"test": "PLAT", "value": 100, "time": 0}]},
            r"patient 'A'.*labs\[0\]\.unit` is missing",
        ),
        (
            {
                "patient_id": "A",
                "labs": [{"test": "PLAT", "value": 100, "unit": "mg/dL", "time": 0}],
            },
            r"patient 'A'.*labs\[0\].*unknown unit 'mg/dL' for test 'PLAT'",
        ),
        (
            {
                "patient_id": "A",
                "labs": [{"test": "PLAT", "value": -5, "unit": "10^9/L", "time": 0}],
            },
            r"labs\[0\].*cannot be negative; got -5",
        ),
        (
            {"patient_id": "A", "labs": [{"test": "XYZ", "value": 1, "unit": "g/L", "time": 0}]},
            r"unknown test 'XYZ'",
        ),
        (
            {
                "patient_id": "A",
                "adverse_events": [
                    {
                        "term": "CRS",
                        "category": "crs",
                        "grade": 2,
                        "scale": "astct-2019",
                        "start": "2024-01-05",
                        "end": "2024-01-03",
                    }
                ],
            },
            r"adverse_events\[0\].*out of order",
        ),
        (
            {
                "patient_id": "A",
                "medications": [{"name": "x", "category": "other", "start": 5, "end": 2}],
            },
            r"medications\[0\].*out of order",
        ),
        ({"patient_id": "A", "pga": [{"time": 0, "value": 3.5}]}, r"pga\[0\].*0-3"),
        (
            {"patient_id": "A", "vitals": [{"test": "TEMP", "value": 48, "unit": "C", "time": 0}]},
            r"vitals\[0\].*impossible",
        ),
        (
            {
                "patient_id": "A",
                "vitals": [{"test": "TEMP", "value": 38, "unit": "kelvin", "time": 0}],
            },
            r"unknown unit 'kelvin'",
        ),
        (
            {
                "patient_id": "A",
                "labs": [{"test": "PLAT", "value": 1, "unit": "10^9/L", "time": "next tuesday"}],
            },
            r"cannot read 'next tuesday'",
        ),
        (
            {
                "patient_id": "A",
                "visits": [{"time": 0}],
                "labs": [{"test": "C3", "value": 1, "unit": "g/L", "time": "2024-01-01"}],
            },
            r"mix calendar dates and days",
        ),
        (
            {"patient_id": "A", "visits": [{"time": 0}, {"time": 0}]},
            r"visits\[1\] has the same time",
        ),
        ({"patient_id": "A", "labz": []}, r"`labz` = \[\]: Extra inputs are not permitted"),
        (
            {"patient_id": "A", "sledai_findings": [{"descriptor": "arthritis", "start": 0}]},
            r"needs `joints`",
        ),
        (
            {"patient_id": "A", "oxygen": [{"device": "nasal_cannula", "start": 0}]},
            r"oxygen\[0\].*flow_l_min",
        ),
        (
            {
                "patient_id": "A",
                "labs": [
                    {
                        "test": "C3",
                        "value": 1,
                        "unit": "g/L",
                        "time": 0,
                        "ref_low": 2,
                        "ref_high": 1,
                    }
                ],
            },
            r"`ref_low` \(2.0\) is above `ref_high`",
        ),
    ],
    ids=[
        "missing-id",
        "missing-unit",
        "unknown-unit",
        "negative-platelets",
        "unknown-test",
        "ae-dates-out-of-order",
        "med-days-out-of-order",
        "pga-range",
        "impossible-temperature",
        "unknown-vital-unit",
        "bad-time",
        "mixed-times",
        "duplicate-visit",
        "unknown-field",
        "arthritis-joints",
        "cannula-flow",
        "reference-range",
    ],
)
def test_malformed_input_names_record_field_and_value(patient, pattern):
    with pytest.raises(ScoringError, match=pattern):
        score(patient)


def test_error_is_a_value_error_and_names_the_record_index():
    with pytest.raises(ValueError, match=r"patient 'B' \(record 1\)"):
        score([{"patient_id": "A"}, {"patient_id": "B", "pga": [{"time": 0, "value": -1}]}], "pga")


def test_duplicate_patient_ids():
    with pytest.raises(ScoringError, match="repeats record 0"):
        score([{"patient_id": "A"}, {"patient_id": "A"}], "pga")


def test_unknown_standard_and_option():
    with pytest.raises(ScoringError, match="unknown standard 'sledai3k'.*sledai2k"):
        score({"patient_id": "A"}, "sledai3k")
    with pytest.raises(ScoringError, match="option `windw_days`.*Valid options"):
        score({"patient_id": "A", "visits": [{"time": 0}]}, windw_days=30)
    with pytest.raises(ScoringError, match="option `window_days` = 0"):
        score({"patient_id": "A", "visits": [{"time": 0}]}, window_days=0)


def test_mm_pga_needs_explicit_option():
    p = {"patient_id": "A", "pga": [{"time": 0, "value": 50, "scale": "0-100mm"}]}
    with pytest.raises(ScoringError, match=r"pga\[0\].*pga_mm_anchors_match"):
        score(p, "pga")
    row = score(p, "pga", pga_mm_anchors_match=True)[0]
    assert row.value == 1.5 and row.components["original_scale"] == "0-100mm"


@pytest.mark.parametrize(
    "test, value, unit, specimen, expected",
    [
        ("PLAT", 150000, "/uL", None, 150.0),
        ("NEUT", 1.5, "10^3/µL", None, 1.5),
        ("IGG", 400, "mg/dL", None, 4.0),
        ("HGB", 80, "g/L", None, 8.0),
        ("C3", 90, "mg/dL", None, 0.9),
        ("BILI", 34.2, "µmol/L", None, 2.0),
        ("CREAT", 88.4, "umol/L", None, 1.0),
        ("PROTCRT", 50, "mg/mmol", "urine", 442.0),
        ("FIBRINO", 150, "mg/dL", None, 1.5),
    ],
)
def test_unit_normalisation(test, value, unit, specimen, expected):
    lab = clinical.LabResult(test=test, value=value, unit=unit, time=0, specimen=specimen)
    assert lab.std_value == expected


def test_records_are_frozen_and_times_convert():
    p = clinical.PatientRecords(
        patient_id="A",
        infusion="2024-01-01",
        labs=[{"test": "PLAT", "value": 1, "unit": "10^9/L", "time": "2024-01-04T12:00"}],
    )
    assert p.day_of(p.labs[0].time) == 3.5 and p.calendar_day(p.labs[0].time) == 3
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        p.patient_id = "B"


def test_results_record_options_and_variant():
    row = score({"patient_id": "A", "visits": [{"time": 0}]}, window_days=30)[0]
    assert row.options["window_days"] == 30 and "30-day" in row.variant and row.source
    json.dumps(row.model_dump(mode="json"))


def test_registry_lists_every_required_standard():
    names = {s["name"] for s in clinical.list_standards()}
    assert {
        "sledai2k",
        "clinical-sledai",
        "selena-sledai",
        "pga",
        "sfi",
        "sri4",
        "sri5",
        "sri6",
        "sri7",
        "sri8",
        "bicla",
        "lldas",
        "doris",
        "drug-free-remission",
        "crs",
        "icans",
        "icaht",
        "ctcae",
        "iec-hs",
        "gvhd",
        "dlt",
    } <= names


def test_input_schema_describes_records_and_options():
    schema = clinical.input_schema("crs")
    assert schema["x-standard"] == "crs" and "oxygen" in schema["x-uses"]
    patient = schema["$defs"]["PatientRecords"]
    assert "labs" in patient["properties"] and "patient_id" in patient["required"]
    assert "low_flow_face_mask_grade" in schema["x-options"]["properties"]
    json.dumps(schema)


def test_input_forms(tmp_path):
    one = {"patient_id": "A", "pga": [{"time": 0, "value": 1.0}]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"patients": [one]}))
    for form in (
        one,
        [one],
        {"patients": [one]},
        path,
        str(path),
        clinical.PatientRecords.model_validate(one),
    ):
        assert score(form, "pga")[0].value == 1.0
    with pytest.raises(ScoringError, match="does not exist"):
        score(tmp_path / "missing.json", "pga")
