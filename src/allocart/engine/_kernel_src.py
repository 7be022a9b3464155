"""Solver kernel source, compiled together with one model's right-hand side.

This file is never imported on its own. :func:`allocart.engine.compile.build_kernel` appends
its text to a model's generated source, which defines ``rhs(t, y, p, dydt)``, ``N_STATES`` and
``N_PARAMS`` at module level, writes the result to the kernel cache and imports it. Every
function here therefore refers to the module-global ``rhs`` and to ``N_STATES``; numba
treats both as compile-time constants, so the per-state loops are fully unrolled for the
model at hand and the right-hand side is inlined into the stepper.

Method
------
Dormand-Prince 5(4) with FSAL, the PI step-size controller and the fourth-order dense output
of Hairer, Norsett & Wanner, *Solving Ordinary Differential Equations I*, 2nd ed. (1993),
Sec. II.4-II.6 and their code DOPRI5. Six right-hand side evaluations per step.

Each patient is integrated independently with its own time, step size and event pointer,
so results do not depend on how patients are batched or scheduled on threads.
"""

# ruff: noqa: F821  (rhs, N_STATES and N_PARAMS come from the generated model source above)

import math

import numba
import numpy as np

# The right-hand side may contract into FMAs and use reciprocals, the lane right-hand side's
# flags. Never "reassoc": numba optimises every compiled function once on its own and again as
# linked into each caller, and loads only the entry point's copy from its on-disk cache, so a
# reassociating right-hand side gave a process that compiled the kernel other numbers than one
# that loaded it (3 of 50 patients by +-6 evaluations, states 5e-8 apart); without it both are
# bit-identical (tests/engine/test_cache_reproducible.py), at 3% of speed. "nnan"/"ninf" stay
# off: the stepper relies on NaN and inf propagating to detect failures.
_RHS_FASTMATH = {"contract", "nsz", "arcp"}
_rhs = numba.njit(cache=True, error_model="numpy", fastmath=_RHS_FASTMATH)(rhs)

from allocart.engine._dopri5 import (  # noqa: E402  (Dormand-Prince 5(4) and its controller)
    _BETA,
    _EXPO1,
    DOPRI_A,
    DOPRI_C,
    accepted_factor,
    dense_term,
    error_estimate,
    first_guess,
    rejected_step,
    second_guess,
    solution,
    stage_3,
    stage_4,
    stage_5,
    stage_6,
)
from allocart.engine._stops import (  # noqa: E402  (events, outputs and failures at stops)
    apply_events,
    fail_outputs,
    record_outputs,
)
from allocart.engine.status import (  # noqa: E402
    STATUS_MAX_STEPS as _MAX_STEPS,
    STATUS_NON_FINITE as _NON_FINITE,
    STATUS_OK as _OK,
    STATUS_STEP_UNDERFLOW as _STEP_UNDERFLOW,
)


@numba.njit(cache=True, error_model="numpy")
def _err_norm(err, y, ynew, rtol, atol):
    """RMS of the error estimate scaled by ``atol + rtol * max(|y|, |ynew|)``."""
    acc = 0.0
    poison = 0.0
    for i in range(N_STATES):
        sk = atol[i] + rtol * max(abs(y[i]), abs(ynew[i]))
        r = err[i] / sk
        acc += r * r
        # ynew * 0 is 0 for finite ynew and NaN for inf/NaN: one test after the loop
        # replaces a per-element finiteness check of the new state.
        poison += ynew[i] * 0.0
    return math.sqrt(acc / N_STATES) + poison


@numba.njit(cache=True, error_model="numpy")
def _all_finite(v):
    for i in range(N_STATES):
        if not math.isfinite(v[i]):
            return False
    return True


@numba.njit(cache=True, error_model="numpy")
def _initial_step(t, y, f0, p, rtol, atol, h_max, y1, f1):
    """Starting step size of Hairer-Norsett-Wanner I, Sec. II.4 (their routine HINIT).

    Costs one right-hand side evaluation, which is counted by the caller.
    """
    dnf = 0.0
    dny = 0.0
    for i in range(N_STATES):
        sk = atol[i] + rtol * abs(y[i])
        dnf += (f0[i] / sk) ** 2
        dny += (y[i] / sk) ** 2
    h = min(first_guess(dnf, dny), h_max)
    for i in range(N_STATES):
        y1[i] = y[i] + h * f0[i]
    _rhs(t + h, y1, p, f1)
    der2 = 0.0
    for i in range(N_STATES):
        sk = atol[i] + rtol * abs(y[i])
        der2 += ((f1[i] - f0[i]) / sk) ** 2
    return second_guess(der2, dnf, h, h_max)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _dopri_step(t, h, t_new, y, p, k1, k2, k3, k4, k5, k6, k7, ytmp, ynew, err):
    """One Dormand-Prince 5(4) step from ``(t, y)`` with ``k1 = f(t, y)`` (FSAL).

    Fills the stages ``k2..k7`` (``k7 = f(t_new, ynew)``), the 5th-order solution ``ynew`` and
    the embedded error estimate ``err``; ``t_new`` is ``t + h``, or the segment end exactly on a
    step that lands there. Six right-hand side evaluations.
    """
    n = N_STATES
    for i in range(n):
        ytmp[i] = y[i] + h * DOPRI_A[1, 0] * k1[i]
    _rhs(t + DOPRI_C[1] * h, ytmp, p, k2)
    for i in range(n):
        ytmp[i] = y[i] + h * stage_3(k1[i], k2[i])
    _rhs(t + DOPRI_C[2] * h, ytmp, p, k3)
    for i in range(n):
        ytmp[i] = y[i] + h * stage_4(k1[i], k2[i], k3[i])
    _rhs(t + DOPRI_C[3] * h, ytmp, p, k4)
    for i in range(n):
        ytmp[i] = y[i] + h * stage_5(k1[i], k2[i], k3[i], k4[i])
    _rhs(t + DOPRI_C[4] * h, ytmp, p, k5)
    for i in range(n):
        ytmp[i] = y[i] + h * stage_6(k1[i], k2[i], k3[i], k4[i], k5[i])
    _rhs(t_new, ytmp, p, k6)
    for i in range(n):
        ynew[i] = y[i] + h * solution(k1[i], k3[i], k4[i], k5[i], k6[i])
    _rhs(t_new, ynew, p, k7)
    for i in range(n):
        err[i] = error_estimate(h, k1[i], k3[i], k4[i], k5[i], k6[i], k7[i])


@numba.njit(cache=True, error_model="numpy", inline="always")
def _dense_output(t, h, t_new, y, ynew, k1, k3, k4, k5, k6, k7, c1, c3, c2, t_out, j, out):
    """Write the outputs strictly inside ``(t, t_new)`` from the accepted step's 4th-order dense
    output (Hairer-Norsett-Wanner I, Sec. II.6, code DOPRI5); returns the next output index.

    ``c1``, ``c2`` and ``c3`` are work arrays for the interpolant's coefficients.
    """
    n = N_STATES
    n_out = t_out.shape[0]
    for i in range(n):
        ydiff = ynew[i] - y[i]
        bspl = h * k1[i] - ydiff
        c1[i] = bspl
        c3[i] = dense_term(h, k1[i], k3[i], k4[i], k5[i], k6[i], k7[i])
        c2[i] = ydiff - h * k7[i] - bspl
    while j < n_out and t_out[j] < t_new:
        s = (t_out[j] - t) / h
        s1 = 1.0 - s
        for i in range(n):
            out[j, i] = y[i] + s * ((ynew[i] - y[i]) + s1 * (c1[i] + s * (c2[i] + s1 * c3[i])))
        j += 1
    return j


@numba.njit(cache=True, error_model="numpy")
def _integrate_patient(y0, p, t0, t_out, ev_t, ev_s, ev_o, ev_v, rtol, atol, max_steps, h_max, out):
    """Integrate one patient over ``t_out`` with events; fills ``out`` (n_times, N_STATES).

    Returns ``(status, n_accepted, n_rejected, n_rhs, t_fail)``.
    """
    n = N_STATES
    n_out = t_out.shape[0]
    n_ev = ev_t.shape[0]
    t_end = t_out[n_out - 1]

    y = np.empty(n)
    ynew = np.empty(n)
    ytmp = np.empty(n)
    err = np.empty(n)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    k7 = np.empty(n)
    r5 = np.empty(n)

    for i in range(n):
        y[i] = y0[i]
    t = t0
    # Events at or before t0 act at t0, in table order.
    e = apply_events(y, t, ev_t, ev_s, ev_o, ev_v, 0)
    j = record_outputs(y, t, t_out, out, 0)

    n_acc = 0
    n_rej = 0
    n_rhs = 0
    status = _OK
    h_prop = -1.0  # step size proposal carried across segments; <0 means "estimate one"
    eps = 2.220446049250313e-16

    while j < n_out and status == _OK:
        # The segment ends at the next event that matters or at the last output time.
        if e < n_ev and ev_t[e] <= t_end:
            t_seg = ev_t[e]
        else:
            t_seg = t_end
        if not _all_finite(y):
            status = _NON_FINITE
            break
        _rhs(t, y, p, k1)
        n_rhs += 1
        if not _all_finite(k1):
            status = _NON_FINITE
            break
        if h_prop <= 0.0:
            h = _initial_step(t, y, k1, p, rtol, atol, h_max, ynew, k2)
            n_rhs += 1
        else:
            h = h_prop
        fac_old = 1e-4
        reject = False
        nonfinite_reject = False

        while t < t_seg:
            if n_acc + n_rej >= max_steps:
                status = _MAX_STEPS
                break
            if h < 16.0 * eps * max(abs(t), 1.0):
                # Shrinking because stages kept overflowing means the solution itself is
                # blowing up; report that rather than a generic underflow.
                status = _NON_FINITE if nonfinite_reject else _STEP_UNDERFLOW
                break
            # Land on the segment end exactly rather than leaving a sliver of a step.
            last = False
            if t + 1.01 * h >= t_seg:
                h = t_seg - t
                last = True

            t_new = t_seg if last else t + h
            _dopri_step(t, h, t_new, y, p, k1, k2, k3, k4, k5, k6, k7, ytmp, ynew, err)
            n_rhs += 6

            # NaN/inf anywhere in the new state or the error estimate (which contains the
            # last stage) makes the norm non-finite.
            en = _err_norm(err, y, ynew, rtol, atol)
            if not math.isfinite(en):
                # A stage left the domain of the model (overflow, log of a negative number):
                # retry with a much smaller step; the current state itself is fine.
                n_rej += 1
                h *= 0.25
                reject = True
                nonfinite_reject = True
                continue
            if en <= 1.0:
                # ---------------- accepted ----------------
                n_acc += 1
                nonfinite_reject = False
                fac11 = en**_EXPO1
                h_next = h / accepted_factor(fac11, fac_old**_BETA)
                fac_old = max(en, 1e-4)
                if reject:
                    h_next = min(h_next, h)
                reject = False
                h_next = min(h_next, h_max)

                # Dense output for output times strictly inside (t, t_new); an output at
                # the segment end is written after that time's events.
                if j < n_out and t_out[j] < t_new:
                    j = _dense_output(
                        t, h, t_new, y, ynew, k1, k3, k4, k5, k6, k7, ytmp, r5, err, t_out, j, out
                    )

                t = t_new
                for i in range(n):
                    y[i] = ynew[i]
                # FSAL: the last stage is the first stage of the next step.
                for i in range(n):
                    k1[i] = k7[i]
                if not last:
                    h = h_next
                else:
                    h_prop = h_next
            else:
                # ---------------- rejected ----------------
                n_rej += 1
                nonfinite_reject = False
                fac11 = en**_EXPO1
                h = rejected_step(h, fac11)
                reject = True

        if status != _OK:
            break
        # Segment end reached exactly: apply the events at this time, in table order,
        # then record outputs at this time (right-continuous convention).
        e = apply_events(y, t, ev_t, ev_s, ev_o, ev_v, e)
        j = record_outputs(y, t, t_out, out, j)
        # After a discontinuity the old step size may be far too large; only reuse it if
        # nothing changed the state here.
        if e > 0 and ev_t[e - 1] == t:
            h_prop = -1.0

    t_fail = math.nan
    if status != _OK:
        t_fail = t
        fail_outputs(out, j)
    return status, n_acc, n_rej, n_rhs, t_fail


@numba.njit(cache=True, error_model="numpy")
def _solve_patient(problem, k, results):
    """Integrate patient ``k`` of ``problem`` and write row ``k`` of ``results``."""
    y0, params, t0, t_out, ev_t, ev_s, ev_o, ev_v, rtol, atol, max_steps, h_max = problem
    out, status, n_acc, n_rej, n_rhs, t_fail = results
    st, na, nr, nf, tf = _integrate_patient(
        y0[k],
        params[k],
        t0[k],
        t_out,
        ev_t[k],
        ev_s[k],
        ev_o[k],
        ev_v[k],
        rtol,
        atol,
        max_steps,
        h_max,
        out[k],
    )
    status[k] = st
    n_acc[k] = na
    n_rej[k] = nr
    n_rhs[k] = nf
    t_fail[k] = tf


@numba.njit(cache=True, parallel=True, error_model="numpy")
def solve_all(problem, results):
    """Integrate every patient of ``problem`` in parallel over patients into ``results``.

    ``problem`` is ``(y0, params, t0, t_out, ev_t, ev_s, ev_o, ev_v, rtol, atol, max_steps,
    h_max)``, one row per patient in all arrays but ``t_out`` and ``atol``; ``results`` is
    ``(out, status, n_acc, n_rej, n_rhs, t_fail)``, filled in place (see ``solve_batch``).
    """
    for k in numba.prange(problem[0].shape[0]):
        _solve_patient(problem, k, results)


@numba.njit(cache=True, error_model="numpy")
def rhs_jit(t, y, p, dydt):
    """Compiled right-hand side, exposed for testing and benchmarking."""
    _rhs(t, y, p, dydt)
