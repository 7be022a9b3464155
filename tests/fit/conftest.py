"""Shared fixtures of the fitting tests: one simulated patient whose true parameters are known."""

import numpy as np
import pytest

from allocart.fit.problem import DEFAULT_PARAMS

#: Simulation seed of the test patient (an allogeneic CD19 CAR-T recipient).
PATIENT_SEED = 11


@pytest.fixture(scope="session")
def one_patient():
    """(dataset, simulation, problem, true theta) of one patient: only the estimated parameters
    vary between patients, so the fitted model is the model that made the data."""
    from allocart.fit.jaxmodel import enable_jax
    from allocart.fit.problem import build_problem
    from allocart.fit.recovery import RecoveryConfig, simulate_trial_dataset, truth_table

    enable_jax()
    cfg = RecoveryConfig(patients=2)
    tab = truth_table(cfg.params)
    ds, sim = simulate_trial_dataset(cfg, PATIENT_SEED, table=tab)
    ds1 = ds.subset([ds.ids[0]])
    pb = build_problem(ds1, DEFAULT_PARAMS, observables=cfg.observables, table=tab)
    true = np.array([sim.batch.param_dict()[p][0] for p in pb.param_names])
    return ds1, sim, pb, pb.to_theta(true)
