"""Command line: design table / next / oc."""

import json

from allocart.cli.app import main


def test_table_json(capsys):
    assert main(["design", "table", "--design", "boin", "--target", "0.3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0] == {
        "n": 3,
        "escalate_if_dlts_at_most": 0,
        "stay": "1",
        "deescalate_if_dlts_at_least": 2,
        "eliminate_if_dlts_at_least": 3,
    }


def test_next_json(capsys):
    args = [
        "design",
        "next",
        "--design",
        "boin",
        "--target",
        "0.25",
        "--current-dose",
        "2",
        "--treated",
        "3,6,0",
        "--dlts",
        "0,1,0",
        "--json",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["next_dose"] == 3


def test_oc_json_keys(capsys):
    args = [
        "design",
        "oc",
        "--design",
        "3+3",
        "--target",
        "0.25",
        "--p-tox",
        "0.05,0.15,0.3",
        "--exact",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "selection_pct",
        "no_selection_pct",
        "patients_per_dose",
        "dlts_per_dose",
        "mean_n",
        "mean_dlt_proportion",
        "overdose_selection_pct",
        "mean_duration_months",
        "exact",
    ):
        assert key in out
    assert out["exact"] is True


def test_oc_simulated_with_accrual(capsys):
    args = [
        "design",
        "oc",
        "--design",
        "tite-boin",
        "--target",
        "0.25",
        "--p-tox",
        "0.05,0.15,0.3",
        "--accrual-per-month",
        "3",
        "--dlt-window-months",
        "1",
        "--trials",
        "200",
        "--seed",
        "3",
        "--json",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mean_duration_months"] > 0 and out["exact"] is False


def test_bad_input_one_line_error(capsys):
    assert (
        main(["design", "oc", "--design", "boin", "--p-tox", "0.1,1.5", "--trials", "10", "--json"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "p_tox" in err and "1.5" in err and err.count("\n") == 1
    assert main(["design", "table", "--target", "1.2"]) == 2
    assert "target" in capsys.readouterr().err
    assert main(["design", "table", "--cohort-size", "0"]) == 2
    assert "cohort_size" in capsys.readouterr().err
    assert main(["design", "next", "--current-dose", "1", "--treated", "3,3", "--dlts", "0"]) == 2
    assert "dlts" in capsys.readouterr().err
