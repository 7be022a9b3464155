"""The ``allocart score`` command."""

import json

import pytest

from allocart.cli.app import main
from tests.helpers_cli import run_cli

PATIENT = {
    "patient_id": "P1",
    "visits": [{"time": "2024-03-05", "visit_id": "WEEK 4"}],
    "labs": [
        {
            "test": "C3",
            "value": 62,
            "unit": "mg/dL",
            "ref_low": 90,
            "time": "2024-03-05",
            "attribution": "sle",
        }
    ],
    "sledai_findings": [
        {"descriptor": "arthritis", "joints": 4, "start": "2024-03-01", "attribution": "sle"}
    ],
}


@pytest.fixture
def input_file(tmp_path):
    path = tmp_path / "patients.json"
    path.write_text(json.dumps({"patients": [PATIENT]}))
    return path


def test_list(capsys):
    assert main(["score", "--list", "--json"]) == 0
    names = {s["name"] for s in json.loads(capsys.readouterr().out)}
    assert {
        "sledai2k",
        "sri4",
        "lldas",
        "doris",
        "crs",
        "icans",
        "icaht",
        "ctcae",
        "gvhd",
        "dlt",
        "bicla",
        "sfi",
    } <= names
    assert main(["score", "--list"]) == 0
    assert "drug-free-remission" in capsys.readouterr().out


def test_schema(capsys):
    assert main(["score", "crs", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["x-standard"] == "crs" and "PatientRecords" in schema["$defs"]


def test_score_json(capsys, input_file):
    assert main(["score", "sledai2k", str(input_file), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["value"] == 6 and rows[0]["variant"] == "SLEDAI-2K, 10-day window"
    assert rows[0]["time"] == "2024-03-05"


def test_score_table_and_option(capsys, input_file):
    assert main(["score", "sledai2k", str(input_file), "--option", "window_days=30"]) == 0
    out = capsys.readouterr().out
    assert "SLEDAI-2K, 30-day window" in out and "P1" in out and "6 (moderate)" in out


@pytest.mark.parametrize(
    "patch, message",
    [
        (
            {"labs": [{"test": "PLAT", "value": -1, "unit": "10^9/L", "time": "2024-03-05"}]},
            "cannot be negative",
        ),
        (
            {"labs": [{"test": "PLAT", "value": 1, "unit": "furlongs", "time": "2024-03-05"}]},
            "unknown unit 'furlongs'",
        ),
        ({"visits": [{"visit_id": "X"}]}, "visits[0].time` is missing"),
    ],
    ids=["negative", "unit", "missing"],
)
def test_malformed_input_is_one_line_exit_2(capsys, tmp_path, patch, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{**PATIENT, **patch}]))
    assert main(["score", "sledai2k", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: patient 'P1'") and message in err and err.count("\n") == 1


def test_unknown_standard_and_missing_file(capsys, input_file):
    assert main(["score", "nope", str(input_file)]) == 2
    assert "unknown standard 'nope'" in capsys.readouterr().err
    assert main(["score", "sledai2k", str(input_file.parent / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_subprocess_has_no_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    proc = run_cli(["score", "crs", str(path)])
    assert (
        proc.returncode == 2 and "Traceback" not in proc.stderr and "not valid JSON" in proc.stderr
    )
