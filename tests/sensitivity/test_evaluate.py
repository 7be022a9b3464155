"""Model evaluations over the virtual population, and the analysis on them end to end.

Most tests run on the cohort stand-in of :mod:`tests.sensitivity.fake_model`, whose outcomes
depend on ``k_Trej`` (DLT, B-cell aplasia, persistence) and ``nu_a`` (DORIS) and not at all on
``k_NKrej``; one slow test evaluates the mechanistic model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from allocart.cli.app import app
from allocart.errors import SensitivityError
from allocart.report.sensitivity import write_sensitivity_report
from allocart.sensitivity import SensitivitySettings, cohort_outputs, run_sensitivity
from allocart.sensitivity.run import cohort_evaluator, default_parameters
from tests.sensitivity.fake_model import fake_uncertain_cohort

SMALL = dict(
    parameters=("k_Trej", "k_NKrej", "nu_a"),
    patients=6,
    trials=30,
    morris_trajectories=4,
    sobol_n=16,
    sobol_top=3,
    resamples=100,
)


@pytest.fixture
def fake_model(monkeypatch):
    import allocart.population.cohort as cohort

    monkeypatch.setattr(cohort, "simulate_cohort", fake_uncertain_cohort)


def test_default_parameters_are_the_stated_assumptions_and_the_rejection_hazards():
    ev = cohort_evaluator(SensitivitySettings())
    names = default_parameters(ev.table)
    assert {"k_Trej", "k_NKrej", "k_Crej"} <= set(names)
    for n in names:
        row = ev.table[n]
        assert row.uncertainty is not None
        assert row.is_assumption or n in ("k_Trej", "k_NKrej", "k_Crej")
    assert ev.outputs == cohort_outputs(3) and ev.dose_level == 2


def test_evaluations_use_common_random_numbers(fake_model):
    ev = cohort_evaluator(SensitivitySettings(**SMALL))
    u = np.array([[0.2, 0.5, 0.5], [0.9, 0.5, 0.5], [0.2, 0.5, 0.5]])
    y = ev(u)
    np.testing.assert_array_equal(y[0], y[2])  # same point, same people: same outputs
    col = {o: j for j, o in enumerate(ev.outputs)}
    # a larger rejection hazard (u = 0.9) shortens aplasia and persistence in the stand-in
    assert y[1, col["b_cell_aplasia_days"]] < y[0, col["b_cell_aplasia_days"]]
    assert y[1, col["car_t_persistence_days"]] < y[0, col["car_t_persistence_days"]]
    sel = [col[o] for o in ev.outputs if o.startswith("p_select")]
    np.testing.assert_allclose(y[:, sel].sum(axis=1), 1.0)


def test_an_inert_parameter_gets_no_total_index(fake_model, tmp_path):
    res = run_sensitivity(
        SensitivitySettings(**SMALL), tmp_path / "s", workers=1, report=write_sensitivity_report
    )
    s = res.sobol.set_index(["output", "parameter"])
    # k_NKrej never reaches the stand-in's outcomes: its total index is zero up to the
    # estimator's noise, which the bootstrap interval covers
    for out in ("b_cell_aplasia_days", "car_t_persistence_days"):
        assert s.loc[(out, "k_NKrej"), "ST"] == pytest.approx(0.0, abs=1e-9)
        assert s.loc[(out, "k_Trej"), "ST"] > 0.9
    top = res.voi.iloc[0]["parameter"]
    assert top in ("k_Trej", "nu_a") and "k_NKrej" != top
    assert (tmp_path / "s" / "report.html").is_file()


def test_unknown_output_and_parameter_are_refused():
    with pytest.raises(SensitivityError, match="doris_m12"):
        cohort_evaluator(SensitivitySettings(outputs=("doris_m12",)))
    with pytest.raises(SensitivityError, match="^param: 'k_mat'"):
        cohort_evaluator(SensitivitySettings(parameters=("k_mat",)))


def test_cli_json_and_list(fake_model, tmp_path):
    runner = CliRunner()
    args = ["sensitivity", "--out", str(tmp_path / "c"), "--workers", "1", "--patients", "6"]
    args += ["--trials", "30", "--morris-trajectories", "4", "--sobol-n", "16"]
    args += ["--sobol-top", "2", "--resamples", "50", "--param", "k_Trej", "--param", "k_NKrej"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["parameters"] == ["k_Trej", "k_NKrej"] and doc["evaluations"] == 4 * 3 + 16 * 4
    assert {r["parameter"] for r in doc["sobol"]} == {"k_Trej", "k_NKrej"}
    again = runner.invoke(app, [*args, "--json"])
    assert json.loads(again.output)["evaluated_now"] == 0  # resumed: nothing left to do
    listed = runner.invoke(app, ["sensitivity", "--list"])
    assert listed.exit_code == 0 and "* k_Trej" in listed.output and "nu_M" in listed.output
    bad = runner.invoke(app, ["sensitivity", "--sobol-n", "48"])
    assert bad.exit_code != 0 and "--sobol-n" in str(bad.exception or bad.output)


def test_bench_reports_rates(fake_model):
    from allocart.bench.sensitivity import bench_sensitivity

    res = bench_sensitivity(evaluations=2, settings=SensitivitySettings(**SMALL))
    assert res["evaluations_per_s"] > 0 and res["patients_per_s"] > 0
    assert res["patients_per_evaluation"] == 18
    assert res["default_run_evaluations"] == 4 * 4 + 16 * 5


@pytest.mark.slow
def test_one_evaluation_of_the_mechanistic_model():
    ev = cohort_evaluator(SensitivitySettings(patients=6, trials=50))
    y = ev(np.full((1, len(ev.names)), 0.5))[0]
    out = dict(zip(ev.outputs, y, strict=True))
    assert 0 < out["b_cell_aplasia_days"] < 365 and 0 <= out["doris_m6"] <= 1
    assert sum(v for k, v in out.items() if k.startswith("p_select")) == pytest.approx(1.0)
