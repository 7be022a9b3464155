"""The cohort and calibrate commands."""

import json

from allocart.cli.app import main
from allocart.population.cohort import SUMMARY_KEYS


def test_cohort_json_has_the_summary_keys_each_rate_with_its_interval(capsys):
    rc = main(
        [
            "cohort",
            "--product",
            "allogeneic-cd19cd20",
            "--dose",
            "3e8",
            "--ld",
            "flu-cy",
            "--n",
            "12",
            "--seed",
            "3",
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    assert data["n"] == 12 and data["n_failed"] == 0
    for k in (
        "dlt_rate",
        "dlt_haematological_rate",
        "dlt_infection_rate",
        "serious_infection_rate",
        "crs_grade_ge2_rate",
        "crs_grade_ge3_rate",
        "anc_below_0p5_days",
    ):
        assert k in data
    for k in SUMMARY_KEYS:
        v = data[k]
        if k.endswith("_rate"):
            assert 0 <= v <= 1
            lo, hi = data[k[: -len("_rate")] + "_ci95"]
            assert lo <= v <= hi
        else:
            assert set(v) == {"mean", "sd", "median", "p05", "p95"}


def test_cohort_accepts_dose_zero_as_the_untreated_control(capsys):
    rc = main(
        [
            "cohort",
            "--product",
            "autologous-cd19",
            "--dose",
            "0",
            "--ld",
            "none",
            "--n",
            "8",
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["crs_any_rate"] == 0 and data["dlt_rate"] == 0 and data["icans_any_rate"] == 0


def test_cohort_gcsf_day_must_not_be_negative(capsys):
    rc = main(["cohort", "--dose", "1e6/kg", "--n", "2", "--gcsf-from-day", "-1"])
    assert rc == 2
    assert "--gcsf-from-day" in capsys.readouterr().err


def test_cohort_table_and_patient_file(tmp_path, capsys):
    out = tmp_path / "patients.csv"
    rc = main(
        [
            "cohort",
            "--product",
            "autologous-cd19",
            "--dose",
            "1e6/kg",
            "--n",
            "4",
            "--out",
            str(out),
        ]
    )
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
