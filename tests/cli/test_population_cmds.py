"""The cohort and calibrate commands."""

import json

from allocart.cli.app import main
from allocart.population.cohort import SUMMARY_KEYS


def test_cohort_json_has_exactly_the_issue_keys(capsys):
    rc = main(["cohort", "--product", "allogeneic-cd19cd20", "--dose", "3e8", "--ld", "flu-cy", "--n", "12",
               "--seed", "3", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == list(SUMMARY_KEYS)
    for k in SUMMARY_KEYS:
        v = data[k]
        if k.endswith("_rate"):
            assert 0 <= v <= 1
        else:
            assert set(v) == {"mean", "sd", "median", "p05", "p95"}


def test_cohort_table_and_patient_file(tmp_path, capsys):
    out = tmp_path / "patients.csv"
    rc = main(["cohort", "--product", "autologous-cd19", "--dose", "1e6/kg", "--n", "4", "--out", str(out)])
    assert rc == 0
    assert "b_cell_return_days" in capsys.readouterr().out
    assert out.read_text().splitlines()[0].startswith("id,")


def test_bad_input_is_one_line_exit_2(capsys):
    assert main(["cohort", "--product", "nope", "--n", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --product") and "\n" not in err
    assert main(["cohort", "--n", "0"]) == 2
    assert main(["calibrate", "--check", "--n", "5"]) == 2
    assert "--n" in capsys.readouterr().err


def test_bench_cohort_reports_a_measurement(capsys):
    assert main(["bench", "cohort", "--n", "16", "--repeats", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 16 and data["seconds_best"] > 0 and data["patients_per_second"] > 0
