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


#: Read-outs of the small fits of the output tests.
OUTPUT_OBSERVABLES = ("car_t_cells_per_ul", "b_cells_per_ul", "anti_dsdna_iu_per_ml")


@pytest.fixture(scope="session")
def one_patient_outputs(tmp_path_factory):
    """(result, paths, tables) of the shipped one-patient example fitted by posterior mode
    under the table's prior (three read-outs), with the standard outputs written by few
    simulations: the smallest fit that exercises every output file."""
    from pathlib import Path

    from allocart.data import read_nonmem
    from allocart.fit.api import FitOptions, fit_dataset
    from allocart.fit.outputs import write_standard_outputs

    path = Path(__file__).resolve().parents[2] / "examples" / "data" / "one_patient.csv"
    opts = FitOptions(
        level="individual",
        observables=OUTPUT_OBSERVABLES,
        npde_simulations=50,
        vpc_replicates=20,
        seed=3,
    )
    result = fit_dataset(read_nonmem(path), opts)
    out = tmp_path_factory.mktemp("outputs")
    paths, tables = write_standard_outputs(result, out, opts.output_options())
    return result, paths, tables
