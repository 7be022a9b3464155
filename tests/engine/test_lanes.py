"""SIMD lane kernel: exp/log accuracy, agreement with the per-patient kernel, invariance of
results under batching and threads, failure isolation inside a lane group, validation."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from allocart.engine import (
    OP_ADD,
    OP_MULTIPLY,
    OP_SET,
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    EventTable,
    build_kernel,
    reduce_batch,
    solve_batch,
)
from allocart.errors import SolverError

from .conftest import LANES3_SRC


@numba.njit(cache=False)
def _map(f, x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = f(x[i])
    return out


def _ulps(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_vexp_within_one_ulp_of_numpy(lanes3_kernel):
    rng = np.random.default_rng(0)
    # The whole range with normal results, plus the reduced range densely and tiny arguments.
    x = np.concatenate(
        [
            np.linspace(-708.0, 709.78, 200_001),
            rng.uniform(-1.0, 1.0, 100_000),
            rng.uniform(-1e-8, 1e-8, 1000),
            [0.0, -0.0, 1.0, -1.0, 709.782712893384],
        ]
    )
    got = _map(lanes3_kernel.vexp_jit, x)
    # fdlibm's bound is < 1 ulp; measured maximum is 1.0 ulp against numpy (itself < 1 ulp).
    assert _ulps(got, np.exp(x)).max() <= 1.0


def test_vexp_special_values(lanes3_kernel):
    x = np.array([np.nan, np.inf, -np.inf, 710.0, 1e308, -709.0, -1e308])
    got = _map(lanes3_kernel.vexp_jit, x)
    assert np.isnan(got[0])
    assert got[1] == np.inf and got[3] == np.inf and got[4] == np.inf  # overflow, as libm
    # Below exp(-708) the result is flushed to 0 (documented; libm gives (sub)normals
    # under 3.3e-308 there, far below any model's absolute tolerance).
    assert got[2] == 0.0 and got[5] == 0.0 and got[6] == 0.0


def test_vlog_within_one_ulp_of_numpy(lanes3_kernel):
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            10.0 ** rng.uniform(-307.0, 308.0, 200_000),
            rng.uniform(0.5, 2.0, 100_000),
            1.0 + rng.uniform(-1e-10, 1e-10, 1000),
            5e-324 * rng.integers(1, 2**50, 1000).astype(float),  # subnormals
            [1.0, 2.0, 0.5, 2.2250738585072014e-308, 1.7976931348623157e308],
        ]
    )
    got = _map(lanes3_kernel.vlog_jit, x)
    assert _ulps(got, np.log(x)).max() <= 1.0
    assert got[-5] == 0.0  # log(1) exactly


def test_vlog_special_values(lanes3_kernel):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, -1e-300])
    got = _map(lanes3_kernel.vlog_jit, x)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.log(x))  # nan, inf, nan, -inf, -inf, nan, nan


def _patients(n, seed=0, events=True):
    """Random patients of the three-equation lane test model, with bolus/multiply/set events."""
    rng = np.random.default_rng(seed)
    params = np.column_stack(
        [
            rng.uniform(0.2, 1.5, n),  # Gompertz rate
            rng.uniform(5.0, 50.0, n),  # carrying capacity
            rng.uniform(0.5, 3.0, n),  # decay of y1
            rng.uniform(0.1, 1.0, n),  # decay of the forcing exp(-p3 t)
            rng.uniform(-0.5, 0.2, n),  # linear rate of y2
        ]
    )
    y0 = np.column_stack([rng.uniform(0.1, 2.0, n), rng.uniform(0.0, 1.0, n), np.ones(n)])
    if not events:
        return y0, params, None
    times = np.sort(rng.uniform(0.0, 12.0, (n, 4)), axis=1)
    times[:, 0] = np.where(rng.random(n) < 0.3, 0.0, times[:, 0])  # some events at t0
    times[:, 2] = np.where(rng.random(n) < 0.3, times[:, 1], times[:, 2])  # simultaneous
    times[:, 1] = np.where(rng.random(n) < 0.2, 5.0, times[:, 1])  # on an output time
    times.sort(axis=1)
    ops = rng.choice([OP_ADD, OP_MULTIPLY, OP_SET], (n, 4))
    states = rng.integers(0, 3, (n, 4))
    values = np.where(
        ops == OP_MULTIPLY, rng.uniform(0.5, 1.5, (n, 4)), rng.uniform(0.2, 2.0, (n, 4))
    )
    return y0, params, EventTable(times, states, ops, values)


def _analytic(y0, params, t):
    r, K, k, a, g = params.T
    y_g = K[:, None] * np.exp(np.log(y0[:, 0] / K)[:, None] * np.exp(-np.outer(r, t)))
    y_f = (
        y0[:, 1][:, None] * np.exp(-np.outer(k, t))
        + (np.exp(-np.outer(a, t)) - np.exp(-np.outer(k, t))) / (k - a)[:, None]
    )
    y_l = y0[:, 2][:, None] * np.exp(np.outer(g, t))
    return np.stack([y_g, y_f, y_l], axis=-1)


def test_lanes_match_analytic_solution(lanes3_kernel):
    y0, params, _ = _patients(21, seed=2, events=False)
    t_out = np.linspace(0.0, 15.0, 61)
    res = solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, rtol=1e-10, atol=1e-12, lanes=True)
    assert res.ok
    ref = _analytic(y0, params, t_out)
    # Global error of DOPRI5 at rtol 1e-10 over 15 days: well below 1e-8 relative.
    np.testing.assert_allclose(res.y, ref, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_lanes_agree_with_per_patient_kernel(lanes3_kernel, rtol):
    y0, params, ev = _patients(40, seed=3)
    t_out = np.linspace(0.0, 15.0, 31)
    kw = dict(t0=0.0, events=ev, rtol=rtol, atol=1e-10)
    lanes = solve_batch(lanes3_kernel, y0, params, t_out, lanes=True, **kw)
    scalar = solve_batch(lanes3_kernel, y0, params, t_out, lanes=False, **kw)
    assert lanes.ok and scalar.ok
    # Same method, controller and events; only rounding differs (vector exp/log, FMA
    # contraction), which can at most flip a borderline step decision: the solutions then
    # differ by a fraction of the local tolerance, far below the 10 * rtol allowed here.
    # A state that never leaves 0 (G-CSF support without its event) must agree exactly.
    scale = np.maximum(np.abs(scalar.y).max(axis=1, keepdims=True), np.finfo(float).tiny)
    assert (np.abs(lanes.y - scalar.y) / scale).max() <= 10 * rtol
    assert abs(lanes.n_steps.mean() / scalar.n_steps.mean() - 1.0) < 0.02


def test_lanes_default_and_per_patient_choice(lanes3_kernel):
    y0, params, ev = _patients(9, seed=4)
    t_out = np.linspace(0.0, 10.0, 11)
    auto = solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, events=ev)
    forced = solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, events=ev, lanes=True)
    np.testing.assert_array_equal(auto.y, forced.y)  # the default is the lane kernel
    scalar = solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, events=ev, lanes=False)
    assert scalar.ok  # lanes=False runs the per-patient kernel
    with pytest.raises(SolverError, match="method must be 'auto' or one of"):
        solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, method="rodas", lanes=True)


def test_lanes_bitwise_independent_of_batching_and_threads(lanes3_kernel):
    n = 45  # not a multiple of the 8 lanes
    y0, params, ev = _patients(n, seed=5)
    params[11, 4] = 900.0  # one patient overflows: failures must not disturb the others
    t_out = np.linspace(0.0, 15.0, 46)
    kw = dict(t0=0.0, rtol=1e-7, atol=1e-10, lanes=True)
    base = solve_batch(lanes3_kernel, y0, params, t_out, events=ev, n_threads=1, **kw)
    assert base.status[11] == STATUS_NON_FINITE and (np.delete(base.status, 11) == 0).all()
    variants = [
        dict(n_threads=min(2, numba.config.NUMBA_NUM_THREADS)),
        dict(chunk_size=5),
        dict(chunk_size=1, n_threads=1),
        dict(chunk_size=17),
    ]
    for v in variants:
        other = solve_batch(lanes3_kernel, y0, params, t_out, events=ev, **kw, **v)
        # Lanes never mix, so every patient's arithmetic is identical: bitwise equal
        # (stricter than the 1e-12 relative the engine promises).
        np.testing.assert_array_equal(other.y, base.y)
        np.testing.assert_array_equal(other.n_rhs, base.n_rhs)
        np.testing.assert_array_equal(other.status, base.status)
    # Other company in the lane group (a permutation, a subset, a patient alone).
    perm = np.random.default_rng(0).permutation(n)
    shuffled = solve_batch(
        lanes3_kernel,
        y0[perm],
        params[perm],
        t_out,
        events=EventTable(ev.time[perm], ev.state[perm], ev.op[perm], ev.value[perm]),
        **kw,
    )
    np.testing.assert_array_equal(shuffled.y, base.y[perm])
    for i in (0, 11, 44):
        one = solve_batch(
            lanes3_kernel, y0[i : i + 1], params[i : i + 1], t_out, events=ev.rows(i, i + 1), **kw
        )
        np.testing.assert_array_equal(one.y[0], base.y[i])


def test_failures_isolated_within_a_lane_group(lanes3_kernel):
    # Eight patients fill exactly one lane group; three of them fail in different ways.
    y0, params, _ = _patients(8, seed=6, events=False)
    params[2, 4] = 1000.0  # y2 overflows before t = 1
    y0[5, 0] = 0.0  # log(K / 0) = inf: non-finite derivative at the start
    params[6, 4] = -1e6  # stiff: the explicit step is stability-limited, runs out of steps
    t_out = np.linspace(0.0, 10.0, 21)
    kw = dict(t0=0.0, rtol=1e-6, atol=1e-12, max_steps=20_000, lanes=True)
    res = solve_batch(lanes3_kernel, y0, params, t_out, **kw)
    expected = [STATUS_OK] * 8
    expected[2] = STATUS_NON_FINITE
    expected[5] = STATUS_NON_FINITE
    expected[6] = STATUS_MAX_STEPS
    assert res.status.tolist() == expected
    assert [i for i, _ in res.failures()] == [2, 5, 6]
    assert res.t_fail[5] == 0.0 and 0.0 < res.t_fail[2] < 1.0
    assert np.isnan(res.y[2, t_out > res.t_fail[2]]).all()
    assert (res.n_steps[6] + res.n_rejected[6]) == 20_000
    ok = [0, 1, 3, 4, 7]
    # Global error at rtol 1e-6 over 10 days: 1e-4 relative is ample.
    np.testing.assert_allclose(
        res.y[ok], _analytic(y0[ok], params[ok], t_out), rtol=1e-4, atol=1e-8
    )
    # The healthy patients are exactly what they are without the failing company.
    alone = solve_batch(lanes3_kernel, y0[ok], params[ok], t_out, **kw)
    np.testing.assert_array_equal(alone.y, res.y[ok])


def test_reduce_batch_with_lanes(lanes3_kernel):
    y0, params, ev = _patients(30, seed=7)
    t_out = np.linspace(0.0, 15.0, 31)
    full = solve_batch(lanes3_kernel, y0, params, t_out, t0=0.0, events=ev, lanes=True)
    peak = reduce_batch(
        lanes3_kernel,
        y0,
        params,
        t_out,
        t0=0.0,
        events=ev,
        chunk_size=7,
        reducer=lambda c: c.y[:, :, 0].max(axis=1),
        lanes=True,
    )
    np.testing.assert_array_equal(peak, full.y[:, :, 0].max(axis=1))


def test_lanes_validation(decay_kernel):
    with pytest.raises(SolverError, match="lanes=True needs a kernel built with lanes_source"):
        solve_batch(decay_kernel, np.ones((2, 1)), np.ones((2, 1)), [0.0, 1.0], t0=0.0, lanes=True)
    with pytest.raises(SolverError, match="lanes must be True, False or None"):
        solve_batch(decay_kernel, np.ones((2, 1)), np.ones((2, 1)), [0.0, 1.0], t0=0.0, lanes="yes")
    with pytest.raises(SolverError, match="missing: pre_lanes, LANE_T, LANE_Y, LANE_D, LANE_END"):
        build_kernel(
            LANES3_SRC, "test_lanes_bad", "LANES = 8\nLANE_P = 0\n\ndef rhs_lanes(w):\n    pass\n"
        )
    with pytest.raises(SolverError, match="not valid Python"):
        build_kernel(LANES3_SRC, "test_lanes_bad", "def rhs_lanes(w:\n")


def test_model_lanes_agree_with_per_patient_kernel():
    """The generated lane right-hand side of the real model (vector exp/log, CSE) against the
    per-patient kernel (libm), on virtual patients with lymphodepletion and infusion events."""
    from allocart.model.parameters import load_default_parameters
    from allocart.model.scenario import Scenario, build_batch, sample_parameters
    from allocart.model.simulate import get_kernel, state_atol

    kernel = get_kernel()
    scenario = Scenario.create("allogeneic-cd19cd20", "3e8", "flu-cy", days=120)
    batch = build_batch(
        scenario, sample_parameters(load_default_parameters(), 12, np.random.default_rng(5))
    )
    ev = EventTable(batch.event_time, batch.event_state, batch.event_op, batch.event_value)
    t_out = np.arange(0.0, 121.0)
    kw = dict(t0=batch.t0, events=ev, rtol=1e-8, atol=state_atol())
    lanes = solve_batch(kernel, batch.y0, batch.params, t_out, lanes=True, **kw)
    scalar = solve_batch(kernel, batch.y0, batch.params, t_out, lanes=False, **kw)
    assert lanes.ok and scalar.ok
    # A state that never leaves 0 (G-CSF support without its event) must agree exactly.
    scale = np.maximum(np.abs(scalar.y).max(axis=1, keepdims=True), np.finfo(float).tiny)
    # As in test_lanes_agree_with_per_patient_kernel: rounding-level differences only.
    assert (np.abs(lanes.y - scalar.y) / scale).max() <= 10 * 1e-8


def test_model_lane_rhs_matches_scalar_rhs():
    """Generated lane right-hand side (hoisted parameter terms, vector exp/log) against the
    per-patient one (libm) at states along eight virtual patients' trajectories."""
    from allocart.model.simulate import get_kernel, simulate

    k = get_kernel()
    lanes = k.LANES
    sim = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=lanes, days=365, seed=3)
    w = np.zeros(k._WSIZE)
    for q in range(k.N_PARAMS):
        w[k.LANE_P + q * lanes : k.LANE_P + (q + 1) * lanes] = sim.batch.params[:, q]
    k.pre_lanes_jit(w)
    got, ref = [], []
    for day in range(0, 366, 5):
        for i in range(k.N_STATES):
            w[k.LANE_Y + i * lanes : k.LANE_Y + (i + 1) * lanes] = sim.states[:, day, i]
        k.rhs_lanes_jit(w)
        got.append(w[k.LANE_D : k.LANE_D + k.N_STATES * lanes].reshape(k.N_STATES, lanes).T.copy())
        d = np.zeros((lanes, k.N_STATES))
        for p in range(lanes):
            k.rhs_jit(0.0, sim.states[p, day].copy(), sim.batch.params[p].copy(), d[p])
        ref.append(d)
    got, ref = np.array(got), np.array(ref)
    # Relative to each derivative's largest magnitude along the trajectories: the derivatives
    # are differences of large production and loss terms (relative differences at single
    # points reach 1e-6 where they cancel), rounded differently in the two forms; measured
    # 5e-14, so 1e-11 leaves room for other compilers while catching any real discrepancy.
    scale = np.maximum(np.abs(ref).max(axis=(0, 1), keepdims=True), np.finfo(float).tiny)
    assert (np.abs(got - ref) / scale).max() <= 1e-11


def test_model_lane_workspace_blocks_are_whole_cache_lines():
    """Every block of the lane workspace starts at a multiple of LANES doubles: with the
    workspace on a 64-byte boundary (as the lane kernel allocates it) no 8-lane vector is
    split across two cache lines, which costs the right-hand side ~20 % (docs/engine.md)."""
    from allocart.model.simulate import get_kernel

    k = get_kernel()
    assert k.LANES * 8 == 64  # one cache line of doubles per vector
    offsets = {
        name: getattr(k, name)
        for name in dir(k)
        if (name.startswith("_W") or name.startswith("LANE_"))
        and name != "LANES"
        and isinstance(getattr(k, name), int)
    }
    assert len(offsets) > 30
    bad = {name: off for name, off in offsets.items() if off % k.LANES}
    assert not bad, f"workspace offsets not on a cache line: {bad}"
