"""``run_fit`` on the shipped example writes the standard outputs: sdtab1, sdtab.csv, patab1,
parameters.csv, vpc.csv (drawing vpc.png) and posterior.nc, with PRED at the population
estimate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fit.conftest import OUTPUT_OBSERVABLES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "example_nonmem.csv"

#: Sensitivity solver against the batched engine, both at rtol 1e-6 (see test_tables.py).
PRED_RTOL = 1e-3

#: Absolute tolerance in the read-out's unit: a CAR-T level decaying past 1e-16 cells/uL lies
#: far below both solvers' absolute tolerances (and 1e5 below the 0.1 cells/uL LLOQ), where
#: they legitimately differ by percents (measured: 1.5% at 1e-16); 1e-6 is 1e-2 of the
#: smallest prediction floor of the fitted read-outs (1e-4 cells/uL).
PRED_ATOL = 1e-6


@pytest.mark.slow
def test_population_fit_of_the_example_writes_every_output(tmp_path):
    az = pytest.importorskip("arviz")
    from allocart.data import read_nonmem
    from allocart.fit.api import FitOptions, run_fit
    from allocart.fit.predictive import population_point, row_predictions

    ds = read_nonmem(EXAMPLE)
    ds = ds.subset(list(ds.ids[:2]))
    opts = FitOptions(observables=OUTPUT_OBSERVABLES, npde_simulations=50, vpc_replicates=20)
    paths = run_fit(ds, tmp_path, opts, plots=True)
    for key, name in (
        ("sdtab", "sdtab1"),
        ("sdtab_csv", "sdtab.csv"),
        ("patab", "patab1"),
        ("parameters", "parameters.csv"),
        ("vpc_table", "vpc.csv"),
        ("vpc", "vpc.png"),
        ("posterior_nc", "posterior.nc"),
    ):
        assert paths[key] == tmp_path / name and paths[key].stat().st_size > 0
    assert (tmp_path / "sdtab1").read_text().startswith("TABLE NO.  1\n")
    sd = pd.read_csv(tmp_path / "sdtab.csv")
    obs = ds.observations[ds.observations["observable"].isin(OUTPUT_OBSERVABLES)]
    assert len(sd) == len(obs)
    # PRED: the population point estimate's typical values, every eta zero.
    import json

    diag = json.loads((tmp_path / "diagnostics.json").read_text())
    typical = np.array([diag["population"][p]["typical"] for p in diag["parameters"]])
    from allocart.fit.api import fit_dataset

    result = fit_dataset(ds, opts)  # the same deterministic point estimate
    assert population_point(result).source == "estimate"
    np.testing.assert_allclose(result.problem.to_natural(population_point(result).mu), typical)
    pb = result.problem
    for i in range(pb.n):
        ref, ok = row_predictions(result, i, typical[None])
        assert ok.all()
        rows = np.flatnonzero(pb.mask[i])
        times = pb.obs_time[i][pb.row_t[i]]
        want = ref[0, rows[np.lexsort((rows, times[rows]))]]
        np.testing.assert_allclose(
            sd.loc[sd["ID"] == i + 1, "PRED"], want, rtol=PRED_RTOL, atol=PRED_ATOL
        )
    par = pd.read_csv(tmp_path / "parameters.csv").set_index("name")
    for p in pb.param_names:
        assert par.loc[p, "estimate"] == pytest.approx(diag["population"][p]["typical"])
        assert par.loc[p, "ci95_lo"] < par.loc[p, "estimate"] < par.loc[p, "ci95_hi"]
    idata = az.from_netcdf(tmp_path / "posterior.nc")
    assert {"posterior", "log_likelihood", "observed_data", "point_estimate"} <= set(idata.groups())
    assert f"typical_{pb.param_names[0]}" in idata.posterior


@pytest.mark.parametrize(
    ("field", "value", "least"),
    [
        ("npde_simulations", 5, 20),
        ("vpc_replicates", 2.5, 20),
        ("vpc_bins", 0, 1),
        ("vpc_bins", True, 1),
    ],
)
@pytest.mark.parametrize("options", ["FitOptions", "OutputOptions"])
def test_output_options_are_checked_at_once(field, value, least, options):
    from allocart.fit import api, outputs
    from allocart.fit.residual import FitError

    cls = getattr(api, options, None) or getattr(outputs, options)
    with pytest.raises(FitError) as err:
        cls(**{field: value})
    assert str(err.value) == f"{field}: {value!r} must be a whole number of at least {least}"
    assert err.value.argument == field
    assert cls(**{field: np.int64(least)}) is not None
