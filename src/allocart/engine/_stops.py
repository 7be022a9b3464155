"""What a solver kernel does where the integration stops: events, outputs, checks, failure.

Compiled functions shared by the per-patient, lane and sensitivity kernel templates, which
import them into the generated kernel modules. A state vector here is a 1-D float64 array of
one patient's states (for a lane, a strided view of the lane workspace); ``out`` holds one
patient's outputs, shape ``(n_times, n_states)``. Events at one time act in table order and
outputs at a time see the state after them (right-continuous convention, docs/engine.md).
"""

import math

import numba

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.engine.events import OP_ADD, OP_MULTIPLY

__all__ = ["all_finite", "apply_event", "apply_events", "fail_outputs", "record_outputs"]


@numba.njit(cache=True, error_model="numpy")
def apply_event(y, state, op, value):
    """Apply one event to the state vector ``y`` (operation codes of ``engine.events``)."""
    if op == OP_ADD:
        y[state] += value
    elif op == OP_MULTIPLY:
        y[state] *= value
    else:
        y[state] = value


@numba.njit(cache=True, error_model="numpy")
def apply_events(y, t, ev_t, ev_s, ev_o, ev_v, e):
    """Apply the events from index ``e`` on that are due at or before time ``t`` (days).

    Returns the index of the first event still to come.
    """
    while e < ev_t.shape[0] and ev_t[e] <= t:
        apply_event(y, ev_s[e], ev_o[e], ev_v[e])
        e += 1
    return e


@numba.njit(cache=True, error_model="numpy")
def record_outputs(y, t, t_out, out, j):
    """Write ``y`` as the outputs from index ``j`` on whose time is at or before ``t`` (days).

    Returns the index of the next output time.
    """
    while j < t_out.shape[0] and t_out[j] <= t:
        for i in range(y.shape[0]):
            out[j, i] = y[i]
        j += 1
    return j


@numba.njit(cache=True, error_model="numpy")
def fail_outputs(out, j):
    """Fill the outputs from index ``j`` on with NaN (the patient failed before them)."""
    for q in range(j, out.shape[0]):
        for i in range(out.shape[1]):
            out[q, i] = math.nan


@numba.njit(cache=True, error_model="numpy", inline="always")
def all_finite(v, n):
    """Whether the first ``n`` entries of ``v`` are finite (checked where a segment starts)."""
    for i in range(n):
        if not math.isfinite(v[i]):
            return False
    return True
