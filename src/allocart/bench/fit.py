"""Benchmark of an individual fit: NUTS of one simulated patient with several chains.

The patient is simulated from the parameter table (between-patient variability in the
estimated parameters only), sampled on the default schedule with assay error and censoring,
and fitted with :func:`allocart.fit.bayes.fit_individual_nuts` (mode search, then NUTS with
vectorised chains). The wall time includes JAX compilation, which the persistent
compilation cache shortens after the first run in a working directory.
"""

from __future__ import annotations

import os
import time
from typing import Any

from allocart.fit.bayes import fit_individual_nuts
from allocart.fit.jaxmodel import require_jax
from allocart.fit.optimize import check_backend
from allocart.fit.problem import build_problem
from allocart.fit.recovery import RecoveryConfig, simulate_trial_dataset, truth_table

__all__ = ["run_fit_bench", "TARGET_SECONDS"]

TARGET_SECONDS = 60.0
"""Target wall time of the benchmark, seconds: an individual fit of one patient, 4 chains."""


def run_fit_bench(
    *,
    chains: int = 4,
    warmup: int = 150,
    samples: int = 150,
    seed: int = 7,
    backend: str = "sensitivity",
) -> dict[str, Any]:
    """Run the benchmark; returns timings and the sampler's diagnostics.

    The wall time counts everything from the start: loading JAX, simulating the patient,
    generating and compiling (or loading) the gradient, the mode search and the sampling.

    Parameters
    ----------
    chains : int
        NUTS chains (vectorised).
    warmup, samples : int
        Warm-up iterations and draws per chain.
    seed : int
        Seed of the simulated patient and of the sampler.
    backend : str
        Gradient backend, ``"sensitivity"`` or ``"jax"``
        (:data:`allocart.fit.optimize.BACKENDS`).

    Returns
    -------
    dict
        ``seconds_total``, ``seconds_setup`` and ``seconds_fit`` (s), ``target_met``, the
        sampler's divergences, max R-hat and min bulk ESS, how many true values fall in
        their 90% intervals, and the machine's load average at the start and the end.

    Raises
    ------
    FitError
        For an unknown ``backend``, or when the optional JAX extra is not installed.
    """
    check_backend(backend)
    load_start = os.getloadavg()[0]  # other work on the machine slows the benchmark
    t0 = time.perf_counter()
    # JAX, NumPyro and ArviZ are loaded here, on demand (optional extra), inside the timing.
    require_jax("allocart bench fit (NUTS)", ("numpyro", "arviz"))
    cfg = RecoveryConfig(patients=2)
    tab = truth_table(cfg.params)
    ds, sim = simulate_trial_dataset(cfg, seed, table=tab)
    pb = build_problem(ds.subset([ds.ids[0]]), cfg.params, observables=cfg.observables, table=tab)
    t_setup = time.perf_counter() - t0
    res = fit_individual_nuts(
        pb, chains=chains, num_warmup=warmup, num_samples=samples, seed=seed, backend=backend
    )
    total = time.perf_counter() - t0
    d = res.diagnostics
    truth = sim.batch.param_dict()
    est = res.estimates_frame()
    covered = sum(int(r.q05 <= truth[r.parameter][0] <= r.q95) for r in est.itertuples(index=False))
    return {
        "seconds_total": total,
        "seconds_setup": t_setup,
        "seconds_fit": res.seconds,
        "target_seconds": TARGET_SECONDS,
        "target_met": bool(total <= TARGET_SECONDS),
        "backend": backend,
        "chains": chains,
        "warmup": warmup,
        "samples_per_chain": samples,
        "parameters": ",".join(pb.param_names),
        "observations": int(pb.mask.sum()),
        "divergences": d["divergences"],
        "max_r_hat": d["max_r_hat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "mean_leapfrog_steps": float(d["mean_leapfrog_steps"][0]),
        "true_values_in_90pct_interval": f"{covered}/{len(est)}",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg()[0],
    }
