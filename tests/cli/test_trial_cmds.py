"""Command line: run, scenarios, bench run.

``run`` is exercised with the test-only cohort stand-in (in this process, ``--workers 1``); the
real model runs through the command in ``tests/trial/test_interrupt.py``.
"""

from __future__ import annotations

import json

import pytest
import yaml

from allocart.cli.app import main
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort


@pytest.fixture
def fake_cohort(monkeypatch):
    """The test-only cohort stand-in in place of the model (command mechanics only)."""
    import allocart.population.cohort as cohort

    monkeypatch.setattr(cohort, "simulate_cohort", fake_simulate_cohort)


def test_scenarios_lists_the_builtins(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("default ")
    assert any(line.startswith("no-ld ") for line in out)
    assert main(["scenarios", "--json"]) == 0
    assert "reduced-ld" in json.loads(capsys.readouterr().out)


def test_run_prints_the_per_dose_answers_and_where_the_report_is(fake_cohort, tmp_path, capsys):
    proto = tmp_path / "small.yaml"
    proto.write_text(yaml.safe_dump(small_dict()))
    out = tmp_path / "run"
    assert main(["run", str(proto), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    for head in (
        "selected %",
        "patients",
        "DLTs",
        "DLT %",
        "CRS %",
        "ICANS %",
        "SRI-4 m3 %",
        "DORIS m6 %",
        "mean sample size",
        "mean duration",
    ):
        assert head in text, head
    assert f"report:  {out / 'report.html'}" in text
    assert (out / "report.html").is_file() and (out / "results.duckdb").is_file()
    # The same command again finds the run complete and answers the same.
    assert main(["run", str(proto), "--out", str(out), "--workers", "1", "--json"]) == 0
    man = json.loads(capsys.readouterr().out)
    assert man["status"] == "complete" and man["replicates"] == 120


def test_replicates_override_and_bad_input_are_one_line_errors(fake_cohort, tmp_path, capsys):
    assert main(["run", "default", "--replicates", "0", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --replicates: 0") and err.count("\n") == 1
    assert main(["run", "nonexistent-scenario"]) == 2
    assert "built-in: default" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    d = small_dict()
    d["cohort_size"] = 0
    bad.write_text(yaml.safe_dump(d))
    assert main(["run", str(bad), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "cohort_size" in err and "(got 0)" in err and err.count("\n") == 1
    d = small_dict()
    d["supportive_care"] = {"gcsf_from_day": -2}
    bad.write_text(yaml.safe_dump(d))
    assert main(["run", str(bad), "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "supportive_care.gcsf_from_day" in err and "(got -2)" in err and err.count("\n") == 1


@pytest.mark.slow
def test_bench_run_times_a_scenario_in_a_fresh_folder(tmp_path, capsys):
    proto = tmp_path / "small.yaml"
    d = small_dict(pool_size=20, replicates=100)
    d["comparators"] = []
    proto.write_text(yaml.safe_dump(d))
    assert main(["bench", "run", str(proto), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["pools"] == 3 and res["replicates"] == 100 and res["best_s"] > 0
    assert {"pools_s", "trials_s", "total_s"} <= set(res["stages_s"])


def test_run_summary_hides_rates_over_too_few_patients():
    from allocart.cli.trial_cmds import _rate_text
    from allocart.trial.display import MIN_RATE_N

    assert _rate_text({"value": 1 / 3, "n": 3}, 100, 1) == "–"
    assert _rate_text({"value": 0.25, "n": MIN_RATE_N}, 100, 1) == "25.0"
    assert _rate_text(None, 100, 1) == "–"
