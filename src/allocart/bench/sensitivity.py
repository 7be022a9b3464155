"""Cost of the global sensitivity analysis: model evaluations and virtual patients per second.

One model evaluation of ``allocart sensitivity`` is a virtual cohort per dose level plus
replicate trials on them (:class:`~allocart.sensitivity.evaluate.CohortEvaluator`). The benchmark
times ``evaluations`` of them at seeded random points of the default parameters' ranges, after a
warm-up evaluation (compiled kernels load from the cache; its time is reported apart), in this
process, and projects the default run's wall time from the CPU time per evaluation and the number
of CPUs. The CPU time (``time.process_time``) is what the projection uses, so that a machine busy
with other work gives the same projection as an idle one; the wall-clock rate is reported too.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

from allocart.sensitivity.run import (
    SensitivitySettings,
    cohort_evaluator,
    patients_per_evaluation,
)

__all__ = ["bench_sensitivity", "default_evaluations"]

#: Target wall time of the default ``allocart sensitivity`` run on the 2-core machine (s).
TARGET_S = 600.0


def default_evaluations(settings: SensitivitySettings, n_parameters: int) -> int:
    """Model evaluations of a run: Morris ``r (d + 1)`` plus Sobol ``N (top + 2)``."""
    top = min(settings.sobol_top, n_parameters)
    return settings.morris_trajectories * (n_parameters + 1) + settings.sobol_n * (top + 2)


def bench_sensitivity(
    *, evaluations: int = 6, settings: SensitivitySettings | None = None, seed: int = 1
) -> dict[str, Any]:
    """Time ``evaluations`` model evaluations of ``settings`` (default: ``allocart sensitivity``'s).

    Returns
    -------
    dict
        ``evaluations_per_s`` and ``patients_per_s`` (wall clock), the same per CPU second,
        ``warmup_s``, ``seconds``, ``cpu_s``, the default run's evaluation count and projected wall
        time on this machine's CPUs when they are free (``projected_s``), and whether that meets
        :data:`TARGET_S`.
    """
    settings = settings or SensitivitySettings()
    ev = cohort_evaluator(settings)
    d = len(ev.names)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    ev(np.full((1, d), 0.5))
    warm = time.perf_counter() - t0
    u = rng.random((int(evaluations), d))
    t0, c0 = time.perf_counter(), time.process_time()
    ev(u)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate = evaluations / secs
    cpu_rate = evaluations / cpu
    per = patients_per_evaluation(ev)
    n_eval = default_evaluations(settings, d)
    cpus = os.cpu_count() or 1
    projected = n_eval / (cpu_rate * cpus) + warm
    return {
        "scenario": settings.scenario,
        "parameters": d,
        "outputs": len(ev.outputs),
        "patients_per_evaluation": per,
        "trials_per_evaluation": ev.trials,
        "evaluations": int(evaluations),
        "seconds": round(secs, 3),
        "warmup_s": round(warm, 3),
        "cpu_s": round(cpu, 3),
        "evaluations_per_s": round(rate, 4),
        "patients_per_s": round(rate * per, 2),
        "evaluations_per_cpu_s": round(cpu_rate, 4),
        "patients_per_cpu_s": round(cpu_rate * per, 2),
        "default_run_evaluations": n_eval,
        "cpu_count": cpus,
        "projected_s": round(projected, 1),
        "target_s": TARGET_S,
        "meets_target": bool(projected <= TARGET_S),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
