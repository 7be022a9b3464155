"""``allocart bench engine`` (allocart.bench.engine): every figure the issue asks for, on a
small run (the speed itself is shown by running the benchmark, not by a test)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("roadrunner")

from allocart.bench.engine import EngineBenchConfig, run_engine_bench  # noqa: E402

KEYS = [
    "n",
    "allocart_patients_per_s",
    "roadrunner_patients_per_s",
    "scipy_patients_per_s",
    "ratio_vs_roadrunner",
    "ratio_vs_scipy",
    "allocart_max_rel_error",
    "roadrunner_max_rel_error",
    "flops_per_rhs",
    "rhs_evals_per_patient",
    "fraction_of_flop_limit",
]


@pytest.mark.slow
def test_engine_bench_reports_every_figure():
    res = run_engine_bench(
        EngineBenchConfig(n=16, days=20.0, n_scipy=2, n_reference=4, repeats=1),
        progress=lambda msg: None,
    )
    assert set(KEYS) <= set(res)
    assert res["n"] == 16
    assert res["allocart_solves_per_window"] >= 1
    for k in KEYS[1:]:
        assert math.isfinite(res[k]) and res[k] > 0, k
    assert res["allocart_failures"] == 0 and res["roadrunner_failed_patients"] == 0
    # Both solvers run at rtol 1e-6 and are measured against an rtol 1e-10 reference.
    assert res["allocart_max_rel_error"] < 1e-2 and res["roadrunner_max_rel_error"] < 1e-1
    assert res["roadrunner_method"] in ("CVODE BDF", "CVODE Adams")
    assert 0 < res["fraction_of_flop_limit"] < 1
