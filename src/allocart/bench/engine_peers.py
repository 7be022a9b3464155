"""Reference solvers and machine limits to benchmark the batched engine against.

Helpers
-------
:func:`time_roadrunner`
    libRoadRunner (SUNDIALS CVODE) on an SBML model, one patient after another.
:func:`time_scipy`
    SciPy ``solve_ivp`` (LSODA by default) on a pure Python right-hand side.
:func:`measure_flop_peak`
    Achieved double-precision FLOP/s of RHS-like scalar arithmetic on all numba threads,
    the denominator of ``fraction_of_flop_limit``.
:func:`test_model`
    A 25-state CAR-T-like test model (right-hand side source, SBML, parameters, dosing)
    of the size and stiffness of the real model, for choosing solver methods before the
    real model exists.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numba
import numpy as np

from allocart.bench.flops import measure_flop_peak, rhs_flops
from allocart.bench.peer_roadrunner import time_roadrunner
from allocart.bench.peer_scipy import time_scipy
from allocart.bench.testmodel import TestModel, test_model
from allocart.engine import build_kernel, solve_batch

__all__ = [
    "compare_on_test_model",
    "time_roadrunner",
    "time_scipy",
    "measure_flop_peak",
    "TestModel",
    "test_model",
]


def compare_on_test_model(
    n_pat: int = 400,
    n_rr: int = 100,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    n_threads: int | None = None,
    repeats: int = 3,
    method: str = "auto",
) -> dict:
    """Engine vs libRoadRunner on :func:`test_model`, both checked against a tight reference.

    Run as ``python -m allocart.bench.engine_peers``. Timings are the best of ``repeats``;
    errors are the maximum over patients, outputs and states of ``|y - ref| / max_t |ref|``
    against the engine at ``rtol=1e-10, atol=1e-12``.

    Returns
    -------
    dict
        ``engine_patients_per_s``, ``roadrunner_patients_per_s``, ``speedup``,
        ``engine_max_err``, ``roadrunner_max_err``, ``rhs_per_patient``, ``steps_per_patient``,
        ``fraction_of_flop_limit``, ``threads``.
    """

    m = test_model()
    k = build_kernel(m.rhs_source, "bench_test_model")
    P = m.sample_params(n_pat)
    Y0 = np.tile(m.y0, (n_pat, 1))
    ev = m.events(n_pat)
    t_out = np.arange(0.0, 366.0)
    solve_batch(k, Y0[:2], P[:2], t_out, t0=0.0, events=ev.rows(0, 2))  # compile / load
    ref = solve_batch(k, Y0, P, t_out, t0=0.0, events=ev, rtol=1e-10, atol=1e-12)
    scale = np.abs(ref.y).max(axis=1, keepdims=True) + 1e-6
    best = math.inf
    for _ in range(repeats):
        tic = time.perf_counter()
        res = solve_batch(
            k,
            Y0,
            P,
            t_out,
            t0=0.0,
            events=ev,
            rtol=rtol,
            atol=atol,
            method=method,
            n_threads=n_threads,
        )
        best = min(best, time.perf_counter() - tic)
    eng_err = float((np.abs(res.y - ref.y) / scale).max())
    rr_pps = 0.0
    rr_err = math.nan
    for _ in range(repeats):
        pps, tr = time_roadrunner(
            m.sbml, P[:n_rr], m.param_ids, Y0[:n_rr], t_out, rtol, atol, state_ids=m.state_ids
        )
        rr_pps = max(rr_pps, pps)
    rr_err = float((np.abs(tr - ref.y[:n_rr]) / scale[:n_rr]).max())
    threads = numba.get_num_threads() if n_threads is None else n_threads
    eng_pps = n_pat / best
    flops = eng_pps * float(res.n_rhs.mean()) * rhs_flops(m.rhs_source)
    return {
        "engine_patients_per_s": eng_pps,
        "roadrunner_patients_per_s": rr_pps,
        "speedup": eng_pps / rr_pps,
        "engine_max_err": eng_err,
        "roadrunner_max_err": rr_err,
        "rhs_per_patient": float(res.n_rhs.mean()),
        "steps_per_patient": float(res.n_steps.mean() + res.n_rejected.mean()),
        "fraction_of_flop_limit": flops / measure_flop_peak(0.5, threads),
        "threads": threads,
    }


if __name__ == "__main__":  # pragma: no cover - manual benchmark
    import json
    import sys

    kw: dict[str, Any] = {}  # name=value pairs; each value converted to its argument's type
    for arg in sys.argv[1:]:
        key, _, val = arg.partition("=")
        kw[key] = val if key == "method" else float(val) if "tol" in key else int(val)
    print(json.dumps(compare_on_test_model(**kw), indent=2))
