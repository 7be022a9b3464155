"""posterior.nc: ArviZ reads it back with every group, the draws and observations match the
fit, and a NUTS result keeps its sampler statistics."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.fit.netcdf import write_inference_data

az = pytest.importorskip("arviz")


def test_arviz_reads_the_point_estimate_fit(one_patient_outputs):
    result, paths, tables = one_patient_outputs
    idata = az.from_netcdf(paths["posterior_nc"])
    assert set(idata.groups()) == {
        "posterior",
        "log_likelihood",
        "observed_data",
        "constant_data",
        "point_estimate",
    }
    pb = result.problem
    for j, p in enumerate(pb.param_names):
        np.testing.assert_array_equal(idata.posterior[p].values, result.theta[..., j])
        np.testing.assert_array_equal(idata.point_estimate[p].values, result.mode[:, j])
    n_obs = int(pb.mask.sum())
    assert idata.log_likelihood["obs"].shape == result.theta.shape[:2] + (n_obs,)
    assert np.isfinite(idata.log_likelihood["obs"].values).all()
    sd = tables.sdtab
    np.testing.assert_array_equal(idata.observed_data["obs"].values, sd["DV"].to_numpy())
    np.testing.assert_array_equal(idata.constant_data["time"].values, sd["TIME"].to_numpy())
    assert list(idata.constant_data["observable"].values) == list(sd["OBSNAME"])
    summary = az.summary(idata, var_names=list(pb.param_names), kind="stats")
    assert len(summary) == pb.k * pb.n


def test_log_likelihood_equals_the_fit_likelihood_at_the_mode(one_patient_outputs):
    """At the mode, the sum of the pointwise log-likelihood (engine predictions) equals the
    likelihood the fit maximised (sensitivity predictions) to the solvers' agreement."""
    from allocart.fit.netcdf import pointwise_log_likelihood
    from allocart.fit.optimize import _sensitivity_derivatives

    result, _, _ = one_patient_outputs
    pb = result.problem
    at_mode = type(result)(
        problem=pb,
        method="map",
        level="individual",
        theta=result.mode[None, None],
        mode=result.mode,
    )
    ll = pointwise_log_likelihood(at_mode)[0, 0]
    ref = _sensitivity_derivatives(pb, 1e-6)(pb.to_theta(result.mode), pb.arrays())[0]
    # 1e-3 relative on the predictions moves each log term by ~1e-3 / sigma (0.15): 1e-2 each.
    assert ll.sum() == pytest.approx(float(ref[0]), abs=1e-2 * ll.size)


def test_nuts_result_keeps_sample_stats(one_patient_outputs, tmp_path):
    result, _, _ = one_patient_outputs
    rng = np.random.default_rng(0)
    c, d = 2, 6
    theta = result.mode[None, None] * np.exp(0.05 * rng.standard_normal((c, d) + result.mode.shape))
    stats = {
        "diverging": np.zeros((c, d, 1)),
        "n_steps": np.full((c, d, 1), 7.0),
        "acceptance_rate": rng.uniform(size=(c, d, 1)),
        "lp": rng.standard_normal((c, d, 1)),
    }
    nuts = type(result)(
        problem=result.problem,
        method="nuts",
        level="individual",
        theta=theta,
        mode=np.median(theta.reshape(-1, *result.mode.shape), axis=0),
        sample_stats=stats,
    )
    path = write_inference_data(nuts, tmp_path / "posterior.nc", max_draws=4)
    idata = az.from_netcdf(path)
    assert "sample_stats" in idata.groups() and "point_estimate" not in idata.groups()
    assert idata.sample_stats["diverging"].dtype == bool
    assert idata.posterior.sizes["draw"] == 4 and idata.log_likelihood.sizes["draw"] == 4
    np.testing.assert_array_equal(idata.posterior.draw.values, [0, 2, 3, 5])
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
