"""Tiny NUTS runs (individual and hierarchical) produce draws and ArviZ diagnostics.

With the sensitivity backend (the default) each takes seconds; the JAX backend's forward-mode
sampler took 3-4 minutes to compile on the 2-core machine, so its run is marked slow.
"""

import numpy as np
import pytest


@pytest.mark.parametrize("backend", ["sensitivity", pytest.param("jax", marks=pytest.mark.slow)])
def test_tiny_individual_nuts_reports_diagnostics(one_patient, backend):
    from allocart.fit.bayes import fit_individual_nuts

    _, _, pb, _ = one_patient
    res = fit_individual_nuts(pb, chains=2, num_warmup=8, num_samples=8, seed=1, max_tree_depth=3, backend=backend)
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
