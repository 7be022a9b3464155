"""The nested study with parameter uncertainty and the parameter-scenario arms of a run.

Mechanics run on a cohort stand-in whose DLT probability falls with the rejection hazard
``k_Trej`` (:mod:`tests.sensitivity.fake_model`), so a test sees parameter effects of known
direction in seconds; one slow test runs the mechanistic model.
"""

from __future__ import annotations

import copy

import duckdb
import numpy as np
import pandas as pd
import pytest

from allocart.errors import DesignError
from allocart.model.parameters import uncertain_names
from allocart.population.virtual import population_table
from allocart.report.html import write_report
from allocart.trial import run_trial
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.uncertainty import (
    MAX_DRAW_POOL,
    NESTED_DRAWS,
    draw_typical_values,
    nested_plan,
)
from tests.sensitivity.fake_model import fake_uncertain_cohort
from tests.trial.conftest import small_dict

STUDY_TABLES = ("parameter_draws", "replicate_draws", "uncertainty_replicates", "uncertainty_oc")


@pytest.fixture
def fake_model(monkeypatch):
    import allocart.population.cohort as cohort

    monkeypatch.setattr(cohort, "simulate_cohort", fake_uncertain_cohort)


def one_arm(**extra):
    d = small_dict(replicates=400, pool_size=40, chunk_size=200)
    d["comparators"] = []
    d.update(copy.deepcopy(extra))
    return protocol_from_dict(d)


def tables(path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}"').df() for n in names}
    finally:
        con.close()


def test_nested_plan_covers_every_replicate_once():
    p = one_arm()
    plan = nested_plan(p)
    assert plan.draws == NESTED_DRAWS and plan.trials_per_draw == 20
    assert plan.pool_size == min(40, MAX_DRAW_POOL)
    seen = np.concatenate([np.arange(a, b) for _, a, b in plan.ranges()])
    np.testing.assert_array_equal(seen, np.arange(400))
    few = nested_plan(one_arm(simulation={**small_dict()["simulation"], "replicates": 7}))
    assert (few.draws, few.trials_per_draw) == (7, 1)


def test_draws_are_reproducible_and_follow_the_uncertainty():
    tab = population_table()
    names = uncertain_names(tab)
    a = draw_typical_values(tab, names, 4000, 1)
    np.testing.assert_array_equal(a, draw_typical_values(tab, names, 4000, 1))
    assert not np.array_equal(a, draw_typical_values(tab, names, 4000, 2))
    j = names.index("k_Trej")  # lognormal, median at the typical value, CV 0.5
    sigma = np.sqrt(np.log1p(0.5**2))
    # Standard error of a sample median of logs: 1.2533 sigma / sqrt(n); 4 of them.
    assert abs(np.median(np.log(a[:, j])) - np.log(0.2)) < 4 * 1.2533 * sigma / np.sqrt(4000)
    for k, n in enumerate(names):
        assert np.all((a[:, k] >= tab[n].lower) & (a[:, k] <= tab[n].upper)), n


def test_without_uncertainty_a_run_is_unchanged(tmp_path, fake_model):
    plain = one_arm()
    explicit = one_arm(uncertainty=False, parameter_scenarios=[])
    a = run_trial(plain, tmp_path / "a", workers=1, progress=False)
    b = run_trial(explicit, tmp_path / "b", workers=1, progress=False)
    ta, tb = tables(a.results), tables(b.results)
    assert set(ta) == set(tb) and not set(STUDY_TABLES) & set(ta)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], obj=name)


def test_with_uncertainty_reproducible_and_wider(tmp_path, fake_model):
    p = one_arm(uncertainty=True)
    a = run_trial(p, tmp_path / "a", workers=1, progress=False, report=write_report)
    b = run_trial(p, tmp_path / "b", workers=1, progress=False)
    ta, tb = tables(a.results), tables(b.results)
    for name in STUDY_TABLES:
        pd.testing.assert_frame_equal(ta[name], tb[name], obj=name)
    reps = ta["uncertainty_replicates"]
    sd = reps.groupby("analysis")["dlt_rate"].std()
    # 400 trials each: the relative standard error of a standard deviation is about
    # 1 / sqrt(2 (n - 1)) = 3.5%; requiring 30% more is 8 standard errors of margin. The
    # stand-in's DLT probability scales as k_Trej^-1.5, and k_Trej's CV of 50% across draws
    # spreads the true rate by a factor of about 3 between the 5th and 95th percentile draws.
    assert sd["with"] > 1.3 * sd["without"]
    draws = ta["parameter_draws"]
    assert draws["draw"].nunique() == NESTED_DRAWS
    assert set(draws["parameter"]) == set(uncertain_names(population_table()))
    assert len(ta["replicate_draws"]) == 400
    oc = ta["uncertainty_oc"]
    sel = oc[(oc["metric"] == "selected_pct") & oc["dose_level"].notna()]
    total = sel.groupby("analysis")["value"].sum()
    none = oc[oc["metric"] == "no_selection_pct"].set_index("analysis")["value"]
    np.testing.assert_allclose(total + none, 100.0)
    html = (tmp_path / "a" / "report.html").read_text()
    assert "Parameter uncertainty and scenarios" in html


def test_parameter_scenarios_are_arms_on_the_same_people(tmp_path, fake_model):
    p = one_arm(parameter_scenarios=["typical", "fast-rejection", "slow-rejection"])
    res = run_trial(p, tmp_path / "s", workers=1, progress=False)
    t = tables(res.results)
    sc = t["scenario_oc"]
    dlt = sc[sc["metric"] == "true_dlt_prob"].pivot(
        index="dose_level", columns="scenario", values="value"
    )
    # fast rejection (k_Trej 0.5) lowers the stand-in's DLT probability, slow (0.07) raises it
    assert (dlt["fast-rejection"] <= dlt["typical"]).all()
    assert (dlt["slow-rejection"] >= dlt["typical"]).all()
    assert dlt["slow-rejection"].sum() > dlt["typical"].sum() > dlt["fast-rejection"].sum()
    # `typical` repeats the run's own arm 0: the same selections
    ops = t["operating_characteristics"]
    base = ops[(ops["arm"] == 0) & (ops["metric"] == "selected_pct") & ops["dose_level"].notna()]
    typ = sc[(sc["scenario"] == "typical") & (sc["metric"] == "selected_pct")]
    np.testing.assert_allclose(
        np.sort(typ["value"].to_numpy()), np.sort(base["value"].to_numpy()), atol=1e-9
    )


def test_unknown_parameter_scenario_is_refused_in_one_line():
    with pytest.raises(DesignError) as exc:
        one_arm(parameter_scenarios=["glacial-rejection"])
    msg = str(exc.value)
    assert "parameter_scenarios" in msg and "glacial-rejection" in msg and "\n" not in msg


def test_scenario_file_with_a_bad_value_is_refused(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("label: x\nparameters: {k_Trej: -1}\n")
    with pytest.raises(DesignError, match="k_Trej"):
        one_arm(parameter_scenarios=[str(f)])


@pytest.mark.slow
def test_nested_study_on_the_mechanistic_model(tmp_path):
    d = small_dict(replicates=100, pool_size=20, chunk_size=100)
    d["comparators"] = []
    d["uncertainty"] = True
    res = run_trial(protocol_from_dict(d), tmp_path / "m", workers=1, progress=False)
    t = tables(res.results)
    oc = t["uncertainty_oc"]
    assert set(oc["analysis"]) == {"without", "with"}
    assert t["parameter_draws"]["draw"].nunique() == NESTED_DRAWS


def test_run_flag_turns_the_nested_study_on(tmp_path, fake_model):
    import yaml
    from typer.testing import CliRunner

    from allocart.cli.app import app

    d = small_dict(replicates=60, pool_size=20, chunk_size=60)
    d["comparators"] = []
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d))
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["run", str(f), "--out", str(out), "--workers", "1", "--quiet", "--uncertainty"]
    )
    assert res.exit_code == 0, res.output
    assert "uncertainty_oc" in tables(out / "results.duckdb")
    again = CliRunner().invoke(app, ["run", str(f), "--out", str(out), "--uncertainty"])
    assert again.exit_code == 0, again.output
    assert "selected % without / with parameter uncertainty" in again.output
