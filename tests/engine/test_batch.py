"""Failure isolation, status codes, batch invariance, chunked reduction, input validation."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.engine import (
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    EventTable,
    reduce_batch,
    solve_batch,
)
from allocart.errors import SolverError
from tests.engine.helpers import lotka_patients


def test_failing_patient_is_isolated(growth_kernel):
    # Patient 1 grows at 1000/day and overflows before day 1; the others decay or grow slowly.
    rates = np.array([[-0.5], [1000.0], [0.1], [-2.0]])
    t_out = np.linspace(0.0, 5.0, 11)
    res = solve_batch(growth_kernel, np.ones((4, 1)), rates, t_out, t0=0.0, rtol=1e-8, atol=1e-12)
    assert res.status.tolist() == [STATUS_OK, STATUS_NON_FINITE, STATUS_OK, STATUS_OK]
    fails = res.failures()
    assert [i for i, _ in fails] == [1] and "non-finite" in fails[0][1]
    assert 0.0 < res.t_fail[1] < 1.0 and np.isnan(res.t_fail[[0, 2, 3]]).all()
    assert np.isnan(res.y[1, t_out > res.t_fail[1]]).all()
    assert res.y[1, 0, 0] == 1.0
    for i in (0, 2, 3):
        # 100 rtol: global error of a smooth exponential.
        np.testing.assert_allclose(res.y[i, :, 0], np.exp(rates[i, 0] * t_out), rtol=1e-6)
    with pytest.raises(SolverError, match="patient 1"):
        res.raise_on_failure()


def test_max_steps_status(vdp_kernel):
    res = solve_batch(
        vdp_kernel,
        np.array([[2.0, 0.0], [2.0, 0.0]]),
        np.array([[5.0], [5.0]]),
        np.array([0.0, 50.0]),
        t0=0.0,
        rtol=1e-10,
        atol=1e-12,
        max_steps=50,
    )
    assert (res.status == STATUS_MAX_STEPS).all()
    assert (res.n_steps + res.n_rejected == 50).all()
    assert np.isnan(res.y[:, 1]).all() and not np.isnan(res.y[:, 0]).any()
    assert "maximum number of steps" in res.failures()[0][1]


def _lv_problem(n, seed=3):
    rng = np.random.default_rng(seed)
    y0, params = lotka_patients(n, rng)
    times = rng.uniform(1.0, 19.0, (n, 3))
    times.sort(axis=1)
    ev = EventTable(
        times,
        rng.integers(0, 2, (n, 3)),
        rng.integers(0, 3, (n, 3)),
        rng.uniform(0.5, 1.5, (n, 3)) * np.array([5.0, 1.0, 10.0]),
    )
    return y0, params, ev


@pytest.mark.parametrize("method", ["dopri5", "auto"])
def test_results_independent_of_batching_and_threads(lotka_kernel, method):
    import numba

    n = 37
    y0, params, ev = _lv_problem(n)
    t_out = np.linspace(0.0, 20.0, 41)
    kw = dict(t0=0.0, events=ev, rtol=1e-7, atol=1e-10, method=method)
    base = solve_batch(lotka_kernel, y0, params, t_out, n_threads=1, **kw)
    variants = [
        dict(n_threads=min(2, numba.config.NUMBA_NUM_THREADS)),
        dict(chunk_size=5),
        dict(chunk_size=1, n_threads=1),
    ]
    for v in variants:
        other = solve_batch(lotka_kernel, y0, params, t_out, **kw, **v)
        # Per-patient arithmetic is identical, so results are bitwise equal.
        np.testing.assert_array_equal(other.y, base.y)
        np.testing.assert_array_equal(other.n_rhs, base.n_rhs)
    # A single patient alone gives the same as inside the batch.
    one = solve_batch(
        lotka_kernel,
        y0[7:8],
        params[7:8],
        t_out,
        t0=0.0,
        events=ev.rows(7, 8),
        rtol=1e-7,
        atol=1e-10,
        method=method,
    )
    np.testing.assert_array_equal(one.y[0], base.y[7])


def test_n_threads_restored(lotka_kernel):
    import numba

    before = numba.get_num_threads()
    y0, params, _ = _lv_problem(3)
    solve_batch(lotka_kernel, y0, params, [0.0, 1.0], t0=0.0, n_threads=1)
    assert numba.get_num_threads() == before


def test_reduce_batch_matches_full_solve_and_reports_progress(lotka_kernel):
    n = 23
    y0, params, ev = _lv_problem(n, seed=4)
    t_out = np.linspace(0.0, 20.0, 81)
    full = solve_batch(lotka_kernel, y0, params, t_out, t0=0.0, events=ev, rtol=1e-7)
    calls = []

    def peak(chunk):
        assert chunk.n_pat <= 6
        return np.column_stack([chunk.y[:, :, 0].max(axis=1), chunk.status])

    out = reduce_batch(
        lotka_kernel,
        y0,
        params,
        t_out,
        t0=0.0,
        events=ev,
        reducer=peak,
        chunk_size=6,
        progress=lambda d, t: calls.append((d, t)),
        rtol=1e-7,
    )
    assert out.shape == (n, 2)
    np.testing.assert_array_equal(out[:, 0], full.y[:, :, 0].max(axis=1))
    assert calls == [(6, n), (12, n), (18, n), (23, n)]


def test_solve_batch_progress(lotka_kernel):
    y0, params, _ = _lv_problem(10)
    calls = []
    solve_batch(
        lotka_kernel,
        y0,
        params,
        [0.0, 1.0],
        t0=0.0,
        chunk_size=4,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(4, 10), (8, 10), (10, 10)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(y0=np.ones((3, 3))), "y0 must have shape"),
        (dict(params=np.ones((2, 4))), "params has 2 rows"),
        (dict(y0=np.array([[1.0, np.nan]] * 3)), r"y0\[0, 1\]"),
        (dict(t_out=[0.0, 2.0, 1.0]), "t_out must be sorted"),
        (dict(t0=5.0), "after the first output time"),
        (dict(rtol=0.0), "rtol must be a positive"),
        (dict(rtol=-1e-6), "rtol must be a positive"),
        (dict(atol=np.ones(3)), "atol must be a scalar or shape"),
        (dict(atol=-1.0), "atol must be finite and >= 0"),
        (dict(method="rk4"), "method must be"),
        (dict(method="rodas"), r"method must be 'auto' or one of \['dopri5'\], got 'rodas'"),
        (dict(max_steps=0), "max_steps"),
        (dict(events=EventTable.empty(2)), "events has 2 rows"),
        (
            dict(
                events=EventTable(
                    np.ones((3, 1)), np.full((3, 1), 9), np.zeros((3, 1), int), np.ones((3, 1))
                )
            ),
            "not a state index",
        ),
        (dict(n_threads=0), "n_threads"),
    ],
)
def test_input_validation(lotka_kernel, kwargs, match):
    args = dict(y0=np.ones((3, 2)), params=np.ones((3, 4)), t_out=[0.0, 1.0], t0=0.0)
    args.update(kwargs)
    y0, params, t_out = args.pop("y0"), args.pop("params"), args.pop("t_out")
    with pytest.raises(SolverError, match=match):
        solve_batch(lotka_kernel, y0, params, t_out, **args)
