"""The runner and its run folder: determinism, resumption, tables, manifest, ownership.

The cohort simulation is replaced by the test-only stand-in (runner mechanics only); the
subprocess tests in ``test_interrupt.py`` use the real model.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from allocart.errors import DesignError
from allocart.report.html import write_report
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from allocart.trial.summary import TABLES, oc_wide
from tests.trial.conftest import small_dict
from tests.trial.run_results import operating_characteristics as _oc


def _run(protocol, out, **kw):
    kw.setdefault("report", False)  # the report has its own tests; matplotlib costs seconds
    return run_trial(protocol, out, workers=1, progress=False, **kw)


def test_run_folder_holds_every_table_the_manifest_and_the_report(
    fake_cohort, small_protocol, tmp_path
):
    res = _run(small_protocol, tmp_path / "run", report=write_report)
    root = tmp_path / "run"
    man = json.loads((root / "manifest.json").read_text())
    assert man["status"] == "complete"
    assert man["scenario_hash"] == small_protocol.hash()
    assert man["seed"] == small_protocol.simulation.seed
    assert man["scenario"]["name"] == "default"
    assert {"numpy", "duckdb", "allocart", "python"} <= set(man["versions"])
    assert {"pools_s", "trials_s", "tables_s", "report_s", "total_s"} <= set(man["timings_s"])
    con = duckdb.connect(str(root / "results.duckdb"), read_only=True)
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert set(TABLES) <= names
    n_trials = con.execute("SELECT count(*) FROM trials WHERE arm = 0").fetchone()[0]
    assert n_trials == small_protocol.simulation.replicates
    n_pat = con.execute("SELECT count(*) FROM patients WHERE arm = 0").fetchone()[0]
    assert n_pat == con.execute("SELECT sum(n_patients) FROM trials WHERE arm = 0").fetchone()[0]
    con.close()
    assert (root / "report.html").stat().st_size > 10_000
    assert not list(root.glob(".*tmp*"))  # no temporary file left behind
    assert res.report == root / "report.html"


def test_operating_characteristics_answer_the_questions_per_dose(
    fake_cohort, small_protocol, tmp_path
):
    res = _run(small_protocol, tmp_path / "run")
    oc = res.tables.operating_characteristics
    wide = oc_wide(oc)
    for col in (
        "selected_pct",
        "patients_mean",
        "dlts_mean",
        "crs_rate",
        "icans_rate",
        "sri4_m3_rate",
        "sri4_m6_rate",
        "doris_m3_rate",
        "doris_m6_rate",
    ):
        assert col in wide.columns, col
    trial = oc[(oc.arm == 0) & oc.dose_level.isna()].set_index("metric")["value"]
    for m in ("sample_size_mean", "duration_months_mean", "no_selection_pct"):
        assert np.isfinite(trial[m])
    # Bookkeeping: selections and no selection add to 100 %; patients per dose add to the sample size.
    assert wide["selected_pct"].sum() + trial["no_selection_pct"] == pytest.approx(100)
    assert wide["patients_mean"].sum() == pytest.approx(trial["sample_size_mean"])
    assert wide["dlts_mean"].sum() == pytest.approx(trial["dlts_mean"])
    # The per-dose DLT rate is the stand-in's potential outcome at that dose, seen through the trials.
    t = res.tables
    pat = t.patients[t.patients.arm == 0]
    for lv, rate in zip(wide["dose_level"], wide["dlt_rate"]):
        at = pat[pat.dose_level == lv]
        if len(at):
            assert rate == pytest.approx(at["dlt"].mean())
    # Every comparator arm is summarised too.
    assert set(oc["arm"]) == {0, 1, 2, 3}


def test_runs_are_deterministic(fake_cohort, small_protocol, tmp_path):
    _run(small_protocol, tmp_path / "a")
    _run(small_protocol, tmp_path / "b")
    pd.testing.assert_frame_equal(_oc(tmp_path / "a"), _oc(tmp_path / "b"))


def test_resume_after_losing_work_gives_identical_results(fake_cohort, small_protocol, tmp_path):
    root = tmp_path / "run"
    _run(small_protocol, root)
    before = _oc(root)
    # As after an interruption: some pools and chunks missing, outputs gone.
    for p in sorted((root / "checkpoint" / "chunks").iterdir())[1:]:
        p.unlink()
    next(iter(sorted((root / "checkpoint" / "pools").glob("*.patients.parquet")))).unlink()
    (root / "results.duckdb").unlink()
    (root / ".results.duckdb.tmp999").write_bytes(b"half-written")  # what a kill -9 can leave
    man = json.loads((root / "manifest.json").read_text())
    man["status"] = "running"
    (root / "manifest.json").write_text(json.dumps(man))
    res = _run(small_protocol, root)
    assert res.resumed
    assert res.manifest["resumed_from"]["chunks"] == 1
    assert not (root / ".results.duckdb.tmp999").exists()
    pd.testing.assert_frame_equal(before, _oc(root))


def test_a_complete_run_is_not_recomputed(fake_cohort, small_protocol, tmp_path):
    root = tmp_path / "run"
    _run(small_protocol, root)
    stamp = (root / "results.duckdb").stat().st_mtime_ns
    res = _run(small_protocol, root)
    assert res.resumed and (root / "results.duckdb").stat().st_mtime_ns == stamp
    assert len(res.tables.operating_characteristics) > 0


def test_a_folder_of_another_run_is_refused_unless_fresh(fake_cohort, small_protocol, tmp_path):
    root = tmp_path / "run"
    _run(small_protocol, root)
    other = protocol_from_dict(small_dict(seed=7))
    with pytest.raises(DesignError, match="^out: .* holds a run of scenario 'default'"):
        _run(other, root)
    res = _run(other, root, fresh=True)
    assert res.manifest["seed"] == 7 and not res.resumed


def test_a_folder_with_other_files_is_refused(fake_cohort, small_protocol, tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(DesignError, match="not empty and holds no run"):
        _run(small_protocol, root)
    assert (root / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "design",
    [
        {"name": "3+3"},
        {"name": "boin", "target": 0.25},
        {"name": "bf-boin", "target": 0.25, "backfill_cap": 6},
        {"name": "tite-boin", "target": 0.25},
        {"name": "crm", "target": 0.25},
    ],
)
def test_every_design_runs_through_the_same_runner(fake_cohort, tmp_path, design):
    d = small_dict(replicates=60)
    d["design"] = design
    d["comparators"] = d["comparators"][:1]
    d["accrual"] = {"per_month": 3.0}
    # The report of a 3+3 run too (its design section has no target given).
    writer = write_report if design["name"] == "3+3" else None
    res = _run(protocol_from_dict(d), tmp_path / "run", report=writer)
    sel = oc_wide(res.tables.operating_characteristics)["selected_pct"]
    assert 0 < sel.sum() <= 100
    if writer is not None:
        assert res.report.stat().st_size > 10_000
    cal = res.calendar["calendar"]
    assert len(cal) == 2 * 60 and set(cal["arm"]) == {0, 1}
    trials = res.tables.trials.sort_values(["arm", "replicate"])
    np.testing.assert_array_equal(cal["n_evaluable"], trials["n_patients"])
    assert (cal["duration_months"] > 0).all()


def test_the_calendar_tables_are_stored_and_summarised(fake_cohort, small_protocol, tmp_path):
    res = _run(small_protocol, tmp_path / "run")
    con = duckdb.connect(str(tmp_path / "run" / "results.duckdb"), read_only=True)
    try:
        cal = con.execute("SELECT * FROM calendar ORDER BY arm, replicate").df()
        summ = con.execute("SELECT * FROM calendar_summary ORDER BY arm").df()
    finally:
        con.close()
    n_arms = 1 + len(small_protocol.comparators)
    assert len(cal) == n_arms * small_protocol.simulation.replicates
    assert len(summ) == n_arms
    for arm, g in cal.groupby("arm"):
        row = summ[summ["arm"] == arm].iloc[0]
        assert row["duration_months_mean"] == pytest.approx(g["duration_months"].mean())
        assert row["patient_months_mean"] == pytest.approx(g["patient_months"].mean())
        assert row["infused_share"] == 1.0  # the stand-in's pools infuse everyone
    # Read back from the folder, a complete run gives the same tables.
    again = _run(small_protocol, tmp_path / "run")
    assert again.resumed
    pd.testing.assert_frame_equal(
        again.calendar["calendar_summary"], res.calendar["calendar_summary"]
    )


def test_time_to_infusion_and_patients_not_infused_come_from_the_pools(tmp_path, monkeypatch):
    import allocart.population.cohort as cohort
    from tests.trial.fake_cohort import fake_simulate_cohort

    def with_manufacturing(*args, **kwargs):
        res = fake_simulate_cohort(*args, **kwargs)
        df = res.patients
        autologous = "autologous" in str(kwargs.get("product", args[0] if args else ""))
        n = len(df)
        df["enrol_to_infusion_days"] = 35.0 if autologous else 2.0
        df["infused"] = (np.arange(n) % 10 != 0) if autologous else True
        df["not_infused_reason"] = np.where(df["infused"], None, "manufacturing failure")
        return res

    monkeypatch.setattr(cohort, "simulate_cohort", with_manufacturing)
    d = small_dict(replicates=60)
    d["comparators"] = d["comparators"][:1]  # autologous CD19
    res = _run(protocol_from_dict(d), tmp_path / "run")
    summ = res.calendar["calendar_summary"].set_index("arm")
    assert summ.loc[0, "infused_share"] == 1.0
    assert 0.8 < summ.loc[1, "infused_share"] < 1.0
    assert summ.loc[1, "n_not_infused_mean"] > 0
    assert summ.loc[1, "duration_months_mean"] > summ.loc[0, "duration_months_mean"]


def test_the_trial_layer_never_imports_the_report_layer():
    import ast
    from pathlib import Path

    import allocart.trial

    root = Path(allocart.trial.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith("allocart.report") for n in names), path.name


def test_two_runs_never_write_to_one_folder_at_once(small_protocol, tmp_path):
    from allocart.trial.store import RunFolder

    first = RunFolder(tmp_path / "run")
    first.claim(small_protocol)
    with pytest.raises(DesignError, match="^out: another run is writing to"):
        RunFolder(tmp_path / "run").claim(small_protocol)
    first.release()
    RunFolder(tmp_path / "run").claim(small_protocol)
