"""Event semantics: operations, ordering, output at event times, t0 handling."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.engine import OP_ADD, OP_MULTIPLY, OP_SET, EventTable, solve_batch

# Each check is against closed-form exponential decay; 1e-7 relative is 100x rtol=1e-9.
RTOL = 1e-9
TOL = 100 * RTOL


def _solve(kernel, events, t_out, k=0.5, y0=1.0, t0=0.0):
    return solve_batch(
        kernel,
        np.array([[y0]]),
        np.array([[k]]),
        np.asarray(t_out, float),
        t0=t0,
        events=EventTable.from_lists([events]),
        rtol=RTOL,
        atol=1e-14,
    )


@pytest.mark.parametrize(
    "op,value,expected",
    [
        (OP_ADD, 2.0, lambda a: a + 2.0),
        (OP_MULTIPLY, 0.25, lambda a: a * 0.25),
        (OP_SET, 7.0, lambda a: 7.0),
    ],
)
def test_operations(decay_kernel, op, value, expected):
    k = 0.5
    res = _solve(decay_kernel, [(3.0, 0, op, value)], [2.0, 3.0, 5.0], k=k)
    before = np.exp(-k * 3.0)
    after = expected(before)
    np.testing.assert_allclose(
        res.y[0, :, 0], [np.exp(-k * 2.0), after, after * np.exp(-k * 2.0)], rtol=TOL
    )


def test_same_time_events_apply_in_order(decay_kernel):
    # set to 1, then add 2, then multiply by 3 -> 9; the other order would differ.
    evs = [(1.0, 0, OP_SET, 1.0), (1.0, 0, OP_ADD, 2.0), (1.0, 0, OP_MULTIPLY, 3.0)]
    res = _solve(decay_kernel, evs, [1.0, 2.0], k=0.0)
    np.testing.assert_allclose(res.y[0, :, 0], [9.0, 9.0], rtol=1e-15)
    evs = [(1.0, 0, OP_MULTIPLY, 3.0), (1.0, 0, OP_ADD, 2.0), (1.0, 0, OP_SET, 1.0)]
    res = _solve(decay_kernel, evs, [1.0, 2.0], k=0.0)
    np.testing.assert_allclose(res.y[0, :, 0], [1.0, 1.0], rtol=1e-15)


def test_output_at_event_time_is_after_event(decay_kernel):
    res = _solve(decay_kernel, [(2.0, 0, OP_ADD, 10.0)], [1.999999, 2.0, 2.000001], k=0.0)
    np.testing.assert_allclose(res.y[0, :, 0], [1.0, 11.0, 11.0], rtol=1e-14)


def test_events_before_t0_apply_at_t0_and_after_end_are_ignored(decay_kernel):
    k = 0.2
    res = _solve(
        decay_kernel,
        [(-5.0, 0, OP_ADD, 1.0), (0.0, 0, OP_ADD, 1.0), (4.0, 0, OP_ADD, 100.0)],
        [0.0, 3.0],
        k=k,
        y0=0.0,
    )
    np.testing.assert_allclose(res.y[0, :, 0], [2.0, 2.0 * np.exp(-3 * k)], rtol=TOL)


def test_event_at_last_output_time_is_applied(decay_kernel):
    res = _solve(decay_kernel, [(3.0, 0, OP_SET, 5.0)], [1.0, 3.0], k=0.1)
    assert res.y[0, 1, 0] == 5.0


def test_per_patient_t0_and_events(decay_kernel):
    k = np.array([[0.3], [0.3]])
    ev = EventTable.from_lists([[(1.0, 0, OP_ADD, 1.0)], [(2.0, 0, OP_ADD, 1.0)]])
    t_out = np.array([1.0, 2.0, 4.0])
    res = solve_batch(
        decay_kernel,
        np.ones((2, 1)),
        k,
        t_out,
        t0=np.array([0.0, 1.0]),
        events=ev,
        rtol=RTOL,
        atol=1e-14,
    )
    e = np.exp
    np.testing.assert_allclose(
        res.y[0, :, 0], [e(-0.3) + 1, (e(-0.3) + 1) * e(-0.3), (e(-0.3) + 1) * e(-0.9)], rtol=TOL
    )
    np.testing.assert_allclose(
        res.y[1, :, 0], [1.0, e(-0.3) + 1, (e(-0.3) + 1) * e(-0.6)], rtol=TOL
    )


def test_event_table_validation():
    from allocart.errors import SolverError

    with pytest.raises(SolverError, match="non-decreasing"):
        EventTable.from_lists([[(2.0, 0, 0, 1.0)]]).__class__(
            np.array([[2.0, 1.0]]), np.zeros((1, 2), int), np.zeros((1, 2), int), np.ones((1, 2))
        )
    with pytest.raises(SolverError, match="op"):
        EventTable(np.array([[1.0]]), np.array([[0]]), np.array([[5]]), np.array([[1.0]]))
    with pytest.raises(SolverError, match="shape"):
        EventTable(np.array([[1.0]]), np.array([[0, 1]]), np.array([[0]]), np.array([[1.0]]))
