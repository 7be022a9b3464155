"""What every kernel does at a stop (events, outputs, failure), on whole state vectors and on
the strided views through which the lane kernel sees one lane of its workspace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.engine import OP_ADD, OP_MULTIPLY, OP_SET
from allocart.engine._stops import (
    all_finite,
    apply_events,
    fail_outputs,
    record_outputs,
)

LANES = 8


def test_events_due_act_in_table_order_and_the_rest_wait():
    y = np.array([1.0, 2.0])
    ev_t = np.array([0.0, 1.0, 1.0, 1.0, 2.0])
    ev_s = np.array([0, 0, 0, 1, 1])
    ev_o = np.array([OP_ADD, OP_MULTIPLY, OP_ADD, OP_SET, OP_ADD])
    ev_v = np.array([4.0, 3.0, 0.5, 7.0, 100.0])
    e = apply_events(y, 0.5, ev_t, ev_s, ev_o, ev_v, 0)
    assert e == 1 and y.tolist() == [5.0, 2.0]
    e = apply_events(y, 1.0, ev_t, ev_s, ev_o, ev_v, e)
    # (5 * 3) + 0.5 in that order; the set replaces the state.
    assert e == 4 and y.tolist() == [15.5, 7.0]
    assert apply_events(y, 1.5, ev_t, ev_s, ev_o, ev_v, e) == 4


def test_outputs_and_failure_on_a_lane_of_a_workspace():
    n_states, lane = 3, 5
    w = np.arange(n_states * LANES, dtype=float)
    y_lane = w[lane::LANES]
    t_out = np.array([0.0, 1.0, 1.0, 2.0, 3.0])
    out = np.zeros((t_out.size, n_states))
    j = record_outputs(y_lane, 1.0, t_out, out, 0)
    assert j == 3
    want = [lane + LANES * i for i in range(n_states)]
    assert (out[:3] == want).all() and (out[3:] == 0.0).all()
    apply_events(
        y_lane, 1.0, np.array([1.0]), np.array([2]), np.array([OP_SET]), np.array([-1.0]), 0
    )
    assert w[lane + 2 * LANES] == -1.0  # the view writes through to the workspace
    fail_outputs(out, j)
    assert (out[:3] == want).all() and np.isnan(out[3:]).all()


@settings(deadline=None)  # the first example compiles
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6))
def test_all_finite_matches_numpy(values):
    v = np.array(values)
    assert all_finite(v, v.size) == bool(np.isfinite(v).all())
