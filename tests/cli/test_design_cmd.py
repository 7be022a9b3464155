"""Command line: design table / next / oc."""

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_pathways_json_boin_decisions(capsys):
    """`design pathways --json`: BOIN target 0.3 from dose 2, one cohort of 3: 0/3 escalate,
    1/3 stay, 2/3 de-escalate, 3/3 eliminate (docs/designs.md)."""
    args = ["design", "pathways", "--design", "boin", "--target", "0.3", "--n-doses", "4"]
    args += ["--cohorts", "1", "--start-dose", "2", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    got = [
        (r["cohort_1_dlts"], r["cohort_1_decision"], r["cohort_1_next_dose"]) for r in out["rows"]
    ]
    assert got == [(0, "escalate", 3), (1, "stay", 2), (2, "de-escalate", 1), (3, "eliminate", 1)]
    assert out["start_dose"] == 2 and out["n_doses"] == 4


def test_pathways_csv_and_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Rich wraps cells to the terminal width
    csv = tmp_path / "new" / "dtp.csv"  # the folder is created
    args = ["design", "pathways", "--design", "3+3", "--p-tox", "0.1,0.3,0.5", "--cohorts", "6"]
    assert main([*args, "--csv", str(csv)]) == 0
    assert "Table written to" in capsys.readouterr().out
    assert main(["design", "pathways", "--design", "3+3", "--p-tox", "0.1,0.3,0.5"]) == 0
    text = capsys.readouterr().out
    assert "Cohort 1" in text and "Probability" in text and "escalate -> D2" in text

    frame = pd.read_csv(csv)
    assert frame["probability"].sum() == pytest.approx(1.0, abs=1e-9)
    assert frame.columns[0] == "pathway" and "cohort_6_decision" in frame.columns


def test_pathways_boin12_and_crm(capsys):
    args = ["design", "pathways", "--design", "boin12", "--target", "0.35", "--cohorts", "1"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 20 and "cohort_1_responses_with_dlt" in rows[0]
    args = ["design", "pathways", "--design", "crm", "--target", "0.3", "--cohorts", "2"]
    args += ["--start-dose", "3"]
    assert main([*args, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 16


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--start-dose", "6"], "--start-dose"),
        (["--cohorts", "0"], "--cohorts"),
        (["--n-doses", "3", "--p-tox", "0.1,0.2"], "--p-tox"),
        (["--p-eff", "0.1,0.2"], "--p-eff"),
        (["--csv", "."], "--csv"),
        (["--treated", "3,0"], "--dlts"),
        (["--treated", "3,0", "--dlts", "0,0", "--n-doses", "3"], "--n-doses"),
        (["--treated", "3,x", "--dlts", "0,0"], "--treated"),
    ],
)
def test_pathways_bad_input_names_flag(extra, flag, capsys):
    assert main(["design", "pathways", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and flag in err and err.count("\n") == 1


def test_pathways_trial_under_way(capsys):
    """1/3 at dose 1 so far, next cohort at dose 1: BOIN (0.3) decides on 6 patients."""
    args = ["design", "pathways", "--target", "0.3", "--treated", "3,0,0", "--dlts", "1,0,0"]
    assert main([*args, "--cohorts", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["cohort_1_treated_at_dose"] for r in rows] == [6, 6, 6, 6]
    # 1/6 escalate, 2/6 stay, 3/6 de-escalate from the lowest dose = stay, 4/6 eliminates the
    # lowest dose (Pr(p > 0.3 | 4/6) = 0.97 > 0.95): stop without a dose.
    assert [r["cohort_1_decision"] for r in rows] == ["escalate", "stay", "stay", "stop"]


@settings(max_examples=40, deadline=None)
@given(
    flag=st.sampled_from(["--p-tox", "--treated", "--dlts", "--n-doses", "--cohorts"]),
    value=st.one_of(
        st.text(alphabet="0123456789.,-eEnaix ", min_size=0, max_size=12),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4).map(
            lambda v: ",".join(map(str, v))
        ),
    ),
)
def test_pathways_any_flag_value_is_a_table_or_a_one_line_error(flag, value):
    """Whatever text a flag gets, `design pathways` prints its table or refuses in one line."""
    import contextlib
    import io

    args = ["design", "pathways", "--json", "--treated", "3,0,0", "--dlts", "0,0,0"]
    if flag in ("--treated", "--dlts"):
        args = ["design", "pathways", "--json", flag, value]
    else:
        args += [flag, value]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(args)
    assert rc in (0, 2)
    if rc == 2:
        text = err.getvalue()
        if flag in ("--n-doses", "--cohorts") and "Invalid value" in text:
            assert f"'{flag}'" in text  # not an integer: the command-line parser's usage error
        else:
            assert text.startswith("error: ") and text.count("\n") == 1, text
