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


def _run(protocol, out, **kw):
    kw.setdefault("report", False)  # the report has its own tests; matplotlib costs seconds
    return run_trial(protocol, out, workers=1, progress=False, **kw)


def _oc(path):
    con = duckdb.connect(str(path / "results.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT * FROM operating_characteristics ORDER BY arm, dose_level NULLS LAST, metric"
        ).df()
    finally:
        con.close()


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
    with pytest.raises(DesignError, match="--out: .* holds a run of scenario 'default'"):
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


def test_other_designs_run_through_the_same_runner(fake_cohort, tmp_path):
    for design in ({"name": "boin", "target": 0.25}, {"name": "crm", "target": 0.25}):
        d = small_dict(replicates=60)
        d["design"] = design
        d["comparators"] = []
        res = _run(protocol_from_dict(d), tmp_path / design["name"])
        sel = oc_wide(res.tables.operating_characteristics)["selected_pct"]
        assert 0 < sel.sum() <= 100


def test_two_runs_never_write_to_one_folder_at_once(small_protocol, tmp_path):
    from allocart.trial.store import RunFolder

    first = RunFolder(tmp_path / "run")
    first.claim(small_protocol)
    with pytest.raises(DesignError, match="another `allocart run` is writing to"):
        RunFolder(tmp_path / "run").claim(small_protocol)
    first.release()
    RunFolder(tmp_path / "run").claim(small_protocol)
