"""The ``allocart fit``, ``allocart validate recovery`` and ``allocart bench fit`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from allocart.cli.app import main
from tests.fit.conftest import one_patient  # noqa: F401 (fixture)

#: What the quick fits fit: CAR-T cells, B cells and anti-dsDNA.
OBSERVABLES = "car_t_cells_per_ul,b_cells_per_ul,anti_dsdna_iu_per_ml"


def _fit_args(data: Path, out: Path, *options: str) -> list[str]:
    """``allocart fit <data> --out <out> <options>``."""
    return ["fit", str(data), "--out", str(out), *options]


def test_fit_rejects_bad_options_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["fit", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope.csv" in err and "\n" not in err
    assert main(["fit", str(missing), "--out", str(tmp_path / "o"), "--method", "bogus"]) == 2
    assert "--method" in capsys.readouterr().err
    assert (
        main(["fit", str(missing), "--out", str(tmp_path / "o"), "--params", "rho_E,nonsense"]) == 2
    )
    capsys.readouterr()
    assert main(["fit", str(missing), "--out", str(tmp_path / "o"), "--backend", "gpu-magic"]) == 2
    err = capsys.readouterr().err
    assert "--backend" in err and "gpu-magic" in err and "sensitivity, jax" in err


@pytest.mark.parametrize(
    ("option", "value", "start"),
    [
        (
            "--npde-simulations",
            "5",
            "error: --npde-simulations: 5 must be a whole number of at least 20",
        ),
        ("--vpc-bins", "0", "error: --vpc-bins: 0 must be a whole number of at least 1"),
        ("--chains", "0", "error: --chains: 0 must be a whole number of at least 1"),
        (
            "--level",
            "cohort",
            "error: --level: 'cohort' is not one of auto, individual, population",
        ),
    ],
)
def test_fit_errors_name_the_flag_where_the_library_names_the_argument(
    tmp_path, capsys, option, value, start
):
    """The library says ``npde_simulations: ...`` (``FitError.argument``); the command line shows
    the flag the user typed, before any data are read."""
    argv = ["fit", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"), option, value]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().startswith(start)


def test_fit_names_a_missing_product(tmp_path, capsys):
    from allocart.data import Dataset, write_nonmem

    ds = Dataset(
        subjects=pd.DataFrame({"id": ["P1"], "product": [None], "weight_kg": [60.0]}),
        doses=pd.DataFrame(
            {"id": ["P1"], "time": [0.0], "kind": ["car_t"], "amount": [1e6], "unit": ["cells/kg"]}
        ),
        observations=pd.DataFrame(
            {
                "id": ["P1"],
                "time": [7.0],
                "observable": ["car_t_cells_per_ul"],
                "value": [10.0],
                "lloq": [0.1],
                "censored": [False],
            }
        ),
    )
    path = write_nonmem(ds, tmp_path / "d.csv")
    assert main(["fit", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "P1" in err and "product" in err


def test_validate_recovery_rejects_one_patient(capsys):
    assert main(["validate", "recovery", "--patients", "1"]) == 2
    assert "--patients" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_map_end_to_end(tmp_path, capsys, one_patient):  # noqa: F811 (fixture)
    from allocart.data import write_nonmem

    ds, _, _, _ = one_patient
    path = write_nonmem(ds, tmp_path / "one.csv")
    out = tmp_path / "fit"
    assert main(_fit_args(path, out, "--observables", OBSERVABLES)) == 0
    for name in (
        "posterior.parquet",
        "estimates.csv",
        "diagnostics.json",
        "forecast.csv",
        "gof.png",
        "vpc.png",
        "individual.png",
        "report.html",
    ):
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
    assert doc["replicates"] == 2 and doc["coverage_monte_carlo_se"] == pytest.approx(
        (0.09 / 2) ** 0.5
    )
    for v in doc["params"].values():
        assert set(v) >= {"bias", "coverage"} and 0.0 <= v["coverage"] <= 1.0


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
_JAX_STACK = ("jax", "jaxlib", "numpyro", "arviz", "diffrax", "equinox")


def _run_without_jax(args: list[str]) -> subprocess.CompletedProcess:
    """``allocart`` in a fresh interpreter where the JAX stack cannot be imported (as if the
    optional extra were not installed), reporting any of it that got imported anyway."""
    code = (
        "import sys\n"
        f"for m in {_JAX_STACK!r}: sys.modules[m] = None\n"
        "from allocart.cli.app import main\n"
        f"rc = main({args!r})\n"
        f"print('LOADED', [m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in {_JAX_STACK!r}])\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def test_nuts_without_jax_names_the_extra_in_one_line(tmp_path):
    proc = _run_without_jax(
        _fit_args(EXAMPLES / "example_nonmem.csv", tmp_path / "o", "--method", "nuts")
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert (
        err.startswith("error: --method='nuts' needs jax") and "pip install 'allocart[jax]'" in err
    )
    assert not (tmp_path / "o").exists()  # refused before any work


def test_map_fit_runs_without_jax(tmp_path):
    """The default path (population point estimate, Laplace, forecasts, plots, report) on two
    patients of the shipped example, with JAX unavailable."""
    from allocart.data import read_nonmem, write_nonmem

    ds = read_nonmem(EXAMPLES / "example_nonmem.csv")
    path = write_nonmem(ds.subset(list(ds.ids[:2])), tmp_path / "two.csv")
    out = tmp_path / "fit"
    proc = _run_without_jax(_fit_args(path, out, "--observables", OBSERVABLES))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["level"] == "population" and len(diag["per_patient"]) == 2
    assert (out / "report.html").is_file() and (out / "vpc.png").is_file()


def test_truth_file_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "truth.csv"
    bad.write_text("patient,rho_E\nSIM-001,1.0\n")
    assert (
        main(_fit_args(EXAMPLES / "example_nonmem.csv", tmp_path / "o", "--truth", str(bad))) == 2
    )
    err = capsys.readouterr().err
    assert "--truth" in err and "`id`" in err


@pytest.mark.parametrize("data", ["example_nonmem.csv", "example_sdtm"])  # 12-25 s each on 2 cores
def test_documented_fit_command_on_the_shipped_data(tmp_path, capsys, data):
    """``allocart fit examples/data/<data> --out runs/fit`` (README, docs/fitting.md), with the
    coverage check against the example's true values: it completes, every omega interval says
    how it was made, and the report warns that the intervals miss the truth."""
    out = tmp_path / "fit"
    assert (
        main(_fit_args(EXAMPLES / data, out, "--truth", str(EXAMPLES / "example_truth.csv"))) == 0
    )
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["method"] == "its" and len(diag["patients"]) == 6
    for name, v in diag["population"].items():
        assert v["omega_method"] in ("profile", "wald"), name
        assert v["omega_lo"] <= v["omega"] <= v["omega_hi"], name
        if v["omega_method"] == "wald":
            assert v["omega_note"], name
    assert not diag["coverage"]["passed"]  # intervals conditional on 75 fixed parameters
    html = (out / "report.html").read_text()
    assert (
        'class="warning"' in html
        and "Coverage check failed" in html
        and 'class="diagnostics"' in html
    )
    for name in ("gof.png", "individual.png", "vpc.png", "forecast.csv", "coverage.csv"):
        assert (out / name).is_file(), name
