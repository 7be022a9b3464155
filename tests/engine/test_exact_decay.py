"""Exact decay of the model's fast linear state (IL-6 clearance) in the SIMD lane kernel:
generated rate, accuracy against a tight reference, fewer steps where the explicit step was
stability-limited, and bitwise independence of batching and threads."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from allocart.engine import EventTable, solve_batch
from allocart.engine._exact_decay import IF_ON_STEPS, exact_decay_switch
from allocart.model.codegen import _inlined_odes, parameter_names, rhs_source_lanes
from allocart.model.equations import MODEL


def _batch(n, days, seed):
    from allocart.model.parameters import load_default_parameters
    from allocart.model.scenario import Scenario, build_batch, sample_parameters

    scenario = Scenario.create("allogeneic-cd19cd20", "3e8", "flu-cy", days=days)
    batch = build_batch(
        scenario, sample_parameters(load_default_parameters(), n, np.random.default_rng(seed))
    )
    ev = EventTable(batch.event_time, batch.event_state, batch.event_op, batch.event_value)
    return batch, ev


def test_generated_decay_rate_is_minus_the_diagonal_jacobian():
    src = rhs_source_lanes()
    ns = {}
    exec(src.split("def pre_lanes")[0], ns)  # noqa: S102
    assert ns["IF_STATE"] == MODEL.state_index("IL6")
    i = ns["IF_STATE"]
    rate = -sp.diff(_inlined_odes(MODEL)[i], sp.Symbol("IL6"))
    assert rate.free_symbols <= {sp.Symbol(p) for p in parameter_names()}
    assert f"w[{ns['LANE_LAM']} + l] = k_IL6" in src
    # Without exact decay the source has no rate block in use.
    assert "IF_STATE = -1" in rhs_source_lanes.__wrapped__(MODEL, 8, None)


def test_exact_decay_rejects_state_dependent_rate():
    with pytest.raises(ValueError, match="depends on the state"):
        rhs_source_lanes.__wrapped__(MODEL, 8, "E")


def test_exact_decay_accurate_and_fewer_steps():
    """365 days at rtol 1e-6: as accurate as the per-patient DOPRI5 kernel against SciPy DOP853
    at rtol 1e-10, with at least 20 % fewer steps (the quiet phase is no longer limited by
    the explicit stability bound of IL-6 clearance)."""
    from allocart.bench.engine import _errors
    from allocart.model.reference import solve_reference
    from allocart.model.simulate import get_kernel, state_atol

    batch, ev = _batch(16, 365, 11)
    t_out = np.arange(0.0, 366.0)
    kw = dict(t0=batch.t0, events=ev, rtol=1e-6, atol=state_atol())
    lanes = solve_batch(get_kernel(), batch.y0, batch.params, t_out, lanes=True, **kw)
    scalar = solve_batch(get_kernel(), batch.y0, batch.params, t_out, lanes=False, **kw)
    assert lanes.ok and scalar.ok
    ref = solve_reference(
        batch, t_out, method="DOP853", rtol=1e-10, atol=state_atol(1e-3), patients=range(6)
    )
    err_lanes = _errors(lanes.y[:6], ref)
    err_scalar = _errors(scalar.y[:6], ref)
    assert err_lanes <= max(2.0 * err_scalar, 1e-4)
    il6 = MODEL.state_index("IL6")
    r = ref[:, :, il6]
    assert (np.abs(lanes.y[:6, :, il6] - r) / np.abs(r)).max() <= 1e-4
    assert lanes.n_steps.mean() <= 0.8 * scalar.n_steps.mean()


def test_exact_decay_bitwise_independent_of_batching_and_threads():
    from allocart.model.simulate import get_kernel, state_atol

    batch, ev = _batch(21, 300, 12)
    t_out = np.arange(0.0, 301.0, 3.0)
    kw = dict(t0=batch.t0, rtol=1e-6, atol=state_atol(), lanes=True)
    full = solve_batch(get_kernel(), batch.y0, batch.params, t_out, events=ev, n_threads=2, **kw)
    one = solve_batch(
        get_kernel(), batch.y0, batch.params, t_out, events=ev, n_threads=1, chunk_size=5, **kw
    )
    perm = np.random.default_rng(0).permutation(21)
    evp = EventTable(
        batch.event_time[perm],
        batch.event_state[perm],
        batch.event_op[perm],
        batch.event_value[perm],
    )
    shuffled = solve_batch(
        get_kernel(), batch.y0[perm], batch.params[perm], t_out, events=evp, **kw
    )
    single = solve_batch(
        get_kernel(),
        batch.y0[7:8],
        batch.params[7:8],
        t_out,
        events=EventTable(
            batch.event_time[7:8],
            batch.event_state[7:8],
            batch.event_op[7:8],
            batch.event_value[7:8],
        ),
        **kw,
    )
    assert full.ok
    assert np.array_equal(full.y, one.y)
    assert np.array_equal(full.y[perm], shuffled.y)
    assert np.array_equal(full.y[7:8], single.y)
    assert np.array_equal(full.n_steps[perm], shuffled.n_steps)


def test_switch_turns_on_after_a_run_at_the_stability_limit_and_off_well_inside_it():
    on, count = False, 0
    for _ in range(IF_ON_STEPS - 1):
        on, count = exact_decay_switch(3.0, on, count)
    assert not on and count == IF_ON_STEPS - 1
    # A step between the thresholds breaks the run without switching.
    assert exact_decay_switch(2.5, on, count) == (False, 0)
    on, count = exact_decay_switch(4.0, on, count)
    assert on and count == IF_ON_STEPS
    assert exact_decay_switch(2.5, on, count) == (True, 0)
    assert exact_decay_switch(1.9, on, count) == (False, 0)
