"""The 25-state benchmark model: engine vs a tight reference and vs libRoadRunner."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.bench.testmodel import test_model as make_test_model
from allocart.engine import build_kernel, solve_batch


@pytest.fixture(scope="module")
def model_and_kernel():
    m = make_test_model()
    return m, build_kernel(m.rhs_source, "bench_test_model")


def _rel_err(y, ref):
    scale = np.abs(ref).max(axis=1, keepdims=True) + 1e-6
    return (np.abs(y - ref) / scale).max(axis=(1, 2))


def test_engine_within_tolerance_of_tight_reference(model_and_kernel):
    m, k = model_and_kernel
    n = 8
    P, Y0, ev = m.sample_params(n, seed=5), np.tile(m.y0, (n, 1)), m.events(n)
    t_out = np.arange(0.0, 366.0)
    ref = solve_batch(k, Y0, P, t_out, t0=0.0, events=ev, rtol=1e-10, atol=1e-12)
    r = solve_batch(k, Y0, P, t_out, t0=0.0, events=ev, rtol=1e-6, atol=1e-9)
    assert r.ok
    # Error relative to each state's peak over the year; 1e-4 is 100 rtol.
    assert _rel_err(r.y, ref.y).max() < 1e-4


def test_matches_roadrunner(model_and_kernel):
    pytest.importorskip("roadrunner")
    from allocart.bench.peer_roadrunner import time_roadrunner

    m, k = model_and_kernel
    n = 3
    P, Y0 = m.sample_params(n, seed=6), np.tile(m.y0, (n, 1))
    t_out = np.arange(0.0, 366.0, 7.0)
    ref = solve_batch(k, Y0, P, t_out, t0=0.0, events=m.events(n), rtol=1e-10, atol=1e-12)
    _, tr = time_roadrunner(
        m.sbml, P, m.param_ids, Y0, t_out, rtol=1e-10, atol=1e-12, state_ids=m.state_ids
    )
    # Both at rtol 1e-10: they agree to ~1e-8 of each state's peak; the bound is loose
    # because CVODE's global error is not tightly controlled.
    assert _rel_err(tr, ref.y).max() < 1e-6
