"""The ``allocart fit``, ``allocart validate recovery`` and ``allocart bench fit`` commands."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from allocart.cli.app import main
from tests.fit.conftest import one_patient  # noqa: F401 (fixture)


def test_fit_rejects_bad_options_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["fit", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope.csv" in err and "\n" not in err
    assert main(["fit", str(missing), "--out", str(tmp_path / "o"), "--method", "bogus"]) == 2
    assert "--method" in capsys.readouterr().err
    assert main(["fit", str(missing), "--out", str(tmp_path / "o"), "--params", "rho_E,nonsense"]) == 2
    capsys.readouterr()
    assert main(["fit", str(missing), "--out", str(tmp_path / "o"), "--backend", "gpu-magic"]) == 2
    err = capsys.readouterr().err
    assert "--backend" in err and "gpu-magic" in err and "sensitivity, jax" in err


def test_fit_names_a_missing_product(tmp_path, capsys):
    from allocart.data import Dataset, write_nonmem

    ds = Dataset(
        subjects=pd.DataFrame({"id": ["P1"], "product": [None], "weight_kg": [60.0]}),
        doses=pd.DataFrame({"id": ["P1"], "time": [0.0], "kind": ["car_t"], "amount": [1e6], "unit": ["cells/kg"]}),
        observations=pd.DataFrame({"id": ["P1"], "time": [7.0], "observable": ["car_t_cells_per_ul"],
                                   "value": [10.0], "lloq": [0.1], "censored": [False]}),
    )
    path = write_nonmem(ds, tmp_path / "d.csv")
    assert main(["fit", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "P1" in err and "product" in err


def test_validate_recovery_rejects_one_patient(capsys):
    assert main(["validate", "recovery", "--patients", "1"]) == 2
    assert "--patients" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_map_end_to_end(tmp_path, capsys, one_patient):
    from allocart.data import write_nonmem

    ds, _, _, _ = one_patient
    path = write_nonmem(ds, tmp_path / "one.csv")
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--out", str(out), "--observables",
                 "car_t_cells_per_ul,b_cells_per_ul,anti_dsdna_iu_per_ml"]) == 0
    for name in ("posterior.parquet", "estimates.csv", "diagnostics.json", "forecast.csv", "gof.png", "vpc.png",
                 "individual.png", "report.html"):
        assert (out / name).is_file(), name
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["method"] == "map" and diag["level"] == "individual" and diag["converged"]
    fc = pd.read_csv(out / "forecast.csv")
    assert 0.0 <= fc.loc[0, "p_flare_by_month_12"] <= 1.0
    assert fc.loc[0, "b_cell_return_day_q05"] <= fc.loc[0, "b_cell_return_day_median"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Forecasts" in html


def test_validate_recovery_json_two_replicates(capsys):
    assert main(["validate", "recovery", "--replicates", "2", "--patients", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {"rho_E", "delta_E", "k_Trej", "k_mat", "k_Ab"}
    assert set(doc["params"]) == names | {f"omega_{n}" for n in names}
    assert doc["replicates"] == 2 and doc["coverage_monte_carlo_se"] == pytest.approx((0.09 / 2) ** 0.5)
    for v in doc["params"].values():
        assert set(v) >= {"bias", "coverage"} and 0.0 <= v["coverage"] <= 1.0
