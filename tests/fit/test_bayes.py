"""Tiny NUTS runs (individual and hierarchical) produce draws and ArviZ diagnostics.

With the sensitivity backend (the default) each takes seconds; the JAX backend's forward-mode
sampler took 3-4 minutes to compile on the 2-core machine, so its run is marked slow.
"""

import numpy as np
import pytest


@pytest.mark.parametrize("backend", ["sensitivity", pytest.param("jax", marks=pytest.mark.slow)])
def test_tiny_individual_nuts_reports_diagnostics(one_patient, backend, tmp_path):
    import arviz as az

    from allocart.fit.bayes import fit_individual_nuts
    from allocart.fit.netcdf import write_inference_data

    _, _, pb, _ = one_patient
    res = fit_individual_nuts(
        pb, chains=2, num_warmup=8, num_samples=8, seed=1, max_tree_depth=3, backend=backend
    )
    assert res.theta.shape == (2, 8, 1, pb.k)
    assert np.all(np.isfinite(res.theta)) and np.all(res.theta > 0)
    d = res.diagnostics
    assert d["chains"] == 2 and d["num_samples"] == 8
    assert isinstance(d["divergences"], int) and d["divergences"] >= 0
    for p in pb.param_names:
        v = d["variables"][f"{p}[{pb.ids[0]}]"]
        assert set(v) == {"r_hat", "ess_bulk", "ess_tail"}
        assert v["ess_bulk"] is None or v["ess_bulk"] > 0
    # The draws stay near the posterior mode found first (a sampler that had wandered off would not).
    frame = res.estimates_frame()
    assert (frame["q05"] <= frame["median"]).all() and (frame["median"] <= frame["q95"]).all()
    # Per-draw sampler statistics, per patient, reach posterior.nc's sample_stats group.
    assert set(res.sample_stats) == {"diverging", "n_steps", "acceptance_rate", "lp"}
    assert all(v.shape == (2, 8, 1) for v in res.sample_stats.values())
    assert int(res.sample_stats["diverging"].sum()) == d["divergences"]
    idata = az.from_netcdf(write_inference_data(res, tmp_path / "posterior.nc"))
    assert idata.sample_stats["n_steps"].dims == ("chain", "draw", "patient")
    assert (idata.sample_stats["n_steps"].values >= 1).all()


@pytest.mark.slow  # ~1 min: a second compiled kernel (two parameters) and trees up to 2^8 steps
def test_tiny_hierarchical_nuts_has_population_draws():
    from allocart.fit.bayes import fit_population_nuts
    from allocart.fit.problem import build_problem
    from allocart.fit.recovery import RecoveryConfig, simulate_trial_dataset, truth_table

    cfg = RecoveryConfig(patients=3, params=("rho_E", "k_Ab"))
    tab = truth_table(cfg.params)
    ds, _ = simulate_trial_dataset(cfg, 5, table=tab)
    pb = build_problem(ds, cfg.params, observables=cfg.observables, table=tab)
    res = fit_population_nuts(pb, chains=2, num_warmup=10, num_samples=10, seed=3)
    assert res.theta.shape == (2, 10, 3, 2) and np.all(np.isfinite(res.theta))
    assert res.typical.shape == (2, 10, 2) and np.all(res.omega > 0)
    for p in pb.param_names:
        q = res.population[p]
        assert q["typical_q05"] <= q["typical"] <= q["typical_q95"]
        assert q["omega_q05"] <= q["omega"] <= q["omega_q95"]
    assert "omega_k_Ab" in res.diagnostics["variables"]
    assert all(v.shape == (2, 10) for v in res.sample_stats.values())


def _fake_start(rng, n=4, names=("rho_E", "k_Ab", "delta_E")):
    """A point estimate of ``n`` patients with random covariances (what the sampler starts from)."""
    from types import SimpleNamespace

    k = len(names)

    def spd(dim, scale):
        a = rng.standard_normal((dim, dim))
        return scale * (a @ a.T / dim + 0.5 * np.eye(dim))

    modes = SimpleNamespace(
        theta=rng.standard_normal((n, k)), cov=np.stack([spd(k, 1e-2) for _ in range(n)])
    )
    return SimpleNamespace(
        problem=SimpleNamespace(param_names=names),
        modes=modes,
        population_theta=rng.standard_normal(k),
        mu_cov=spd(k, 1e-2),
        log_omega_cov=spd(k, 1e-2),
    )


#: Monte-Carlo draws of the linearisation check below: the sample covariance of 200 000 draws
#: is within ~3 / sqrt(2e5) ~ 0.7% of the truth per standardised entry; the linearisation's own
#: error at these covariances (1e-2 of the unit scale) is of the same order; 5% of each
#: diagonal scale is far above both and far below a misplaced block (100%).
MASS_DRAWS = 200_000
MASS_TOL = 0.05


@pytest.mark.parametrize(
    "centred", [(True, True, True), (False, False, False), (True, False, True)]
)
def test_population_mass_is_the_covariance_of_numpyros_unconstrained_parameters(centred):
    """Draw (theta_i, mu, log omega) from the point estimate's covariances, map them the way the
    model does, flatten them the way NumPyro does, and compare their covariance with the matrix."""
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from allocart.fit.bayes import HYPER_MU_SD, HYPER_OMEGA_SD, population_inverse_mass

    rng = np.random.default_rng(5)
    start = _fake_start(rng)
    n, k = start.modes.theta.shape
    omega = np.array([0.3, 0.5, 0.8])
    mass = population_inverse_mass(start, omega, centred)
    post = lambda c, h: np.linalg.inv(np.linalg.inv(c) + np.eye(k) / h**2)  # noqa: E731
    theta = start.modes.theta + np.einsum(
        "nkl,snl->snk", np.linalg.cholesky(start.modes.cov), rng.standard_normal((MASS_DRAWS, n, k))
    )
    mu = rng.multivariate_normal(
        start.population_theta, post(start.mu_cov, HYPER_MU_SD), MASS_DRAWS
    )
    log_om = rng.multivariate_normal(
        np.log(omega), post(start.log_omega_cov, HYPER_OMEGA_SD), MASS_DRAWS
    )
    sites = {"mu": mu, "omega": log_om}
    for j, p in enumerate(start.problem.param_names):
        if centred[j]:
            sites[f"theta_{p}"] = theta[:, :, j]
        else:  # the model's map, exact: eta = (theta - mu) / omega
            sites[f"eta_{p}"] = (theta[:, :, j] - mu[:, None, j]) / np.exp(log_om[:, None, j])
    # NumPyro flattens its unconstrained parameters with ravel_pytree: label each entry, ravel.
    keys = sorted(sites)
    labels = {
        key: jnp.asarray(np.arange(sites[key][0].size) + 1000 * i) for i, key in enumerate(keys)
    }
    order = np.asarray(ravel_pytree(labels)[0]).astype(int)
    assert order.size == mass.shape[0] == n * k + 2 * k
    z = np.stack(
        [sites[keys[o // 1000]].reshape(MASS_DRAWS, -1)[:, o % 1000] for o in order], axis=1
    )
    emp = np.cov(z, rowvar=False)
    scale = np.sqrt(np.outer(np.diag(emp), np.diag(emp)))
    assert np.abs((mass - emp) / scale).max() < MASS_TOL


def test_parameters_are_centred_where_the_data_pin_patients_down():
    from allocart.fit.bayes import CENTRED_BELOW, centred_parameters

    start = _fake_start(np.random.default_rng(1))
    var = np.median(np.einsum("nkk->nk", start.modes.cov), axis=0)
    omega = np.sqrt(var / CENTRED_BELOW) * np.array(
        [0.5, 2.0, 0.9]
    )  # shares 4, 0.25, 1.23 of the bound
    assert centred_parameters(start, omega) == (False, True, False)
