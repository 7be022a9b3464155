"""Lane solver kernel, the bookkeeping: lanes take patients, start segments and finish.

Part of the lane kernel (see ``_lanes_src.py``): each lane of a group runs its own patient
(time, step size, controller memory, event and output pointers); this template fills free
lanes from a shared counter, starts segments (right-hand side, initial step), clips the steps,
calls the step of all lanes (``_lanes_step_src.py``), takes the accept/reject decisions and
applies events and outputs at segment ends, and writes finished or failed patients back.
"""

# ruff: noqa: F821  (LANES, LANE_*, N_STATES, N_PARAMS, IF_STATE, the workspace offsets and the
# lane functions come from the sources compiled before this one into the same module)

import math

import numba
import numpy as np
from numba.core import types as _nbt
from numba.extending import intrinsic

from allocart.engine._dopri5 import (
    DOPRI_C,
    accepted_factor,
    first_guess,
    rejected_step,
    second_guess,
)
from allocart.engine._exact_decay import MAX_DECAY_EXPONENT, exact_decay_switch
from allocart.engine._stops import apply_events, fail_outputs, record_outputs
from allocart.engine._vmath import vexp as _vexp
from allocart.engine.status import (
    STATUS_MAX_STEPS as _MAX_STEPS,
    STATUS_NON_FINITE as _NON_FINITE,
    STATUS_OK as _OK,
    STATUS_STEP_UNDERFLOW as _STEP_UNDERFLOW,
)


@intrinsic
def _fetch_add(typingctx, counter, inc):
    """Atomically add ``inc`` to ``counter[0]`` (an int64 array) and return the old value."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", ary.data, args[1], "monotonic")

    return _nbt.int64(counter, _nbt.int64), codegen


@numba.njit(cache=True, error_model="numpy")
def _lane_finish(l, k, st, t_l, j_l, pid, counts, results):
    """Write lane ``l``'s patient ``k`` back with status ``st`` and free the lane.

    ``t_l`` is the lane's time (days), ``j_l`` its next output; ``counts`` the lanes'
    ``(n_acc, n_rej, n_rhs)`` and ``results`` those of ``solve_all_lanes``.
    """
    out, status_o, n_acc_o, n_rej_o, n_rhs_o, t_fail_o = results
    n_acc, n_rej, n_rhs = counts
    status_o[k] = st
    n_acc_o[k] = n_acc[l]
    n_rej_o[k] = n_rej[l]
    n_rhs_o[k] = n_rhs[l]
    if st == _OK:
        t_fail_o[k] = math.nan
    else:
        t_fail_o[k] = t_l
        fail_outputs(out[k], j_l)
    pid[l] = -1


@numba.njit(cache=True, error_model="numpy")
def _lane_group(counter, problem, results):
    """Integrate patients with one group of ``LANES`` lanes until none is left.

    ``problem`` and ``results`` are those of ``solve_all_lanes``. A lane that becomes free
    takes the next patient index from the shared ``counter`` (atomically), so groups on
    different threads balance themselves patient by patient.
    """
    y0, params, t0, t_out, ev_t, ev_s, ev_o, ev_v, rtol, atol, max_steps, h_max = problem
    out = results[0]
    hi = y0.shape[0]
    n = N_STATES
    L = LANES
    n_out = t_out.shape[0]
    n_ev = ev_t.shape[1]
    t_end = t_out[n_out - 1]
    eps = 2.220446049250313e-16

    # Every block starts at a multiple of 8 doubles; with the workspace on a 64-byte boundary
    # each 8-lane vector lies in one cache line. numba aligns arrays to 32 bytes only, and a
    # vector split across two lines made the right-hand side 20 % slower (measured), so take
    # 8 doubles more and start at the first 64-byte boundary.
    W_mem = np.zeros(_WSIZE + 8)
    w_off = ((64 - W_mem.ctypes.data % 64) % 64) // 8
    W = W_mem[w_off : w_off + _WSIZE]
    for i in range(n):
        for l in range(L):
            W[_WATOL + i * L + l] = atol[i]
            W[_WFO + l] = 1e-4
    t = np.zeros(L)
    h = np.zeros(L)
    t_new = np.zeros(L)
    t_seg = np.zeros(L)
    h_prop = np.zeros(L)
    h0 = np.zeros(L)
    dnf = np.zeros(L)
    pid = np.full(L, -1, dtype=np.int64)
    e = np.zeros(L, dtype=np.int64)
    j = np.zeros(L, dtype=np.int64)
    n_acc = np.zeros(L, dtype=np.int64)
    n_rej = np.zeros(L, dtype=np.int64)
    n_rhs = np.zeros(L, dtype=np.int64)
    counts = (n_acc, n_rej, n_rhs)
    need_start = np.zeros(L, dtype=np.bool_)
    need_hinit = np.zeros(L, dtype=np.bool_)
    reject = np.zeros(L, dtype=np.bool_)
    nonfinite_reject = np.zeros(L, dtype=np.bool_)
    last = np.zeros(L, dtype=np.bool_)
    if_on = np.zeros(L, dtype=np.bool_)
    if_cnt = np.zeros(L, dtype=np.int64)

    exhausted = False
    while True:
        # ---- give every idle lane the next patient ----
        n_live = 0
        filled = False
        for l in range(L):
            while pid[l] < 0 and not exhausted:
                k = _fetch_add(counter, 1)
                if k >= hi:
                    exhausted = True
                    break
                for i in range(n):
                    W[_WY + i * L + l] = y0[k, i]
                for q in range(N_PARAMS):
                    W[LANE_P + q * L + l] = params[k, q]
                t[l] = t0[k]
                h[l] = 0.0
                # Events at or before t0 act at t0, in table order.
                y_l = W[_WY + l : _WY + _NL : L]
                e[l] = apply_events(y_l, t[l], ev_t[k], ev_s[k], ev_o[k], ev_v[k], 0)
                j[l] = record_outputs(y_l, t[l], t_out, out[k], 0)
                n_acc[l] = 0
                n_rej[l] = 0
                n_rhs[l] = 0
                if_on[l] = False
                if_cnt[l] = 0
                h_prop[l] = -1.0
                if j[l] >= n_out:
                    _lane_finish(l, k, _OK, t[l], j[l], pid, counts, results)
                else:
                    pid[l] = k
                    need_start[l] = True
                    filled = True
            if pid[l] >= 0:
                n_live += 1
        if n_live == 0:
            break
        if filled:
            # The new patients' parameter-only terms; the other lanes' are recomputed from
            # unchanged parameters, bitwise the same.
            _pre_lanes(W)

        # ---- segment starts: f(t, y) and, after events, a fresh initial step ----
        any_start = False
        for l in range(L):
            if pid[l] >= 0 and need_start[l]:
                any_start = True
        if any_start:
            for q in range(_NL):
                W[LANE_Y + q] = W[_WY + q]
            for l in range(L):
                W[LANE_T + l] = t[l]
            _rhs_lanes(W)
            any_hinit = False
            for l in range(L):
                need_hinit[l] = False
                if pid[l] < 0 or not need_start[l]:
                    continue
                k = pid[l]
                n_rhs[l] += 1
                fail = False
                for i in range(n):
                    if not (
                        math.isfinite(W[_WY + i * L + l]) and math.isfinite(W[LANE_D + i * L + l])
                    ):
                        fail = True
                if fail:
                    _lane_finish(l, k, _NON_FINITE, t[l], j[l], pid, counts, results)
                    continue
                for i in range(n):
                    W[_WK1 + i * L + l] = W[LANE_D + i * L + l]
                if e[l] < n_ev and ev_t[k, e[l]] <= t_end:
                    t_seg[l] = ev_t[k, e[l]]
                else:
                    t_seg[l] = t_end
                W[_WFO + l] = 1e-4
                reject[l] = False
                nonfinite_reject[l] = False
                need_start[l] = False
                if h_prop[l] > 0.0:
                    h[l] = h_prop[l]
                else:
                    # Hairer's HINIT, first half: explicit Euler probe.
                    a = 0.0
                    b = 0.0
                    for i in range(n):
                        sk = atol[i] + rtol * abs(W[_WY + i * L + l])
                        a += (W[_WK1 + i * L + l] / sk) ** 2
                        b += (W[_WY + i * L + l] / sk) ** 2
                    hh = min(first_guess(a, b), h_max)
                    h0[l] = hh
                    dnf[l] = a
                    need_hinit[l] = True
                    any_hinit = True
            if any_hinit:
                # Second half for the lanes that need it; the others evaluate harmless values.
                for l in range(L):
                    hh = h0[l] if need_hinit[l] else 0.0
                    for i in range(n):
                        q = i * L + l
                        W[LANE_Y + q] = W[_WY + q] + hh * W[_WK1 + q]
                    W[LANE_T + l] = t[l] + hh
                _rhs_lanes(W)
                for l in range(L):
                    if not need_hinit[l]:
                        continue
                    n_rhs[l] += 1
                    hh = h0[l]
                    der2 = 0.0
                    for i in range(n):
                        q = i * L + l
                        sk = atol[i] + rtol * abs(W[_WY + q])
                        der2 += ((W[LANE_D + q] - W[_WK1 + q]) / sk) ** 2
                    h[l] = second_guess(der2, dnf[l], hh, h_max)
            continue_outer = False
            for l in range(L):
                if pid[l] < 0 and not exhausted:
                    continue_outer = True
            if continue_outer:
                continue  # a lane failed at its start: refill it before stepping

        # ---- guards and step-size clipping, per lane ----
        refill = False
        for l in range(L):
            if pid[l] < 0:
                h[l] = 0.0  # idle lane: keep its (finite) values still
                last[l] = False
                continue
            if n_acc[l] + n_rej[l] >= max_steps:
                _lane_finish(l, pid[l], _MAX_STEPS, t[l], j[l], pid, counts, results)
                refill = True
                continue
            if h[l] < 16.0 * eps * max(abs(t[l]), 1.0):
                # Shrinking because stages kept overflowing means the solution itself is
                # blowing up; report that rather than a generic underflow.
                st = _NON_FINITE if nonfinite_reject[l] else _STEP_UNDERFLOW
                _lane_finish(l, pid[l], st, t[l], j[l], pid, counts, results)
                refill = True
                continue
            last[l] = False
            if IF_STATE >= 0 and if_on[l]:
                h[l] = min(h[l], MAX_DECAY_EXPONENT / W[LANE_LAM + l])
            if t[l] + 1.01 * h[l] >= t_seg[l]:
                h[l] = t_seg[l] - t[l]
                last[l] = True
        if refill:
            continue
        # Repeat each lane's step size for every state: a copy with distance LANES, which
        # LLVM vectorises.
        for l in range(L):
            W[_WH + l] = h[l]
        for q in range(L, _NL):
            W[_WH + q] = W[_WH + q - L]

        any_if = False
        if IF_STATE >= 0:
            for l in range(L):
                use = pid[l] >= 0 and if_on[l]
                W[_WIFM + l] = 1.0 if use else 0.0
                if use:
                    any_if = True
            if any_if:
                for l in range(L):
                    qq = IF_STATE * L + l
                    lam = W[LANE_LAM + l]
                    hl = W[_WH + l]
                    nn = W[_WK1 + qq] + lam * W[_WY + qq]
                    W[_WIFL + l] = lam
                    W[_WIFN + l] = nn
                    W[_WIFS + l] = nn / lam if lam > 0.0 else 0.0
                    W[_WIFH + l] = hl
                    W[_WIFY + l] = W[_WY + qq]
                    W[_WIFG + l] = 1.0
                    W[_WIFG + L + l] = _vexp(-lam * DOPRI_C[1] * hl)
                    W[_WIFG + 2 * L + l] = _vexp(-lam * DOPRI_C[2] * hl)
                    W[_WIFG + 3 * L + l] = _vexp(-lam * DOPRI_C[3] * hl)
                    W[_WIFG + 4 * L + l] = _vexp(-lam * DOPRI_C[4] * hl)
                    W[_WIFG + 5 * L + l] = _vexp(-lam * hl)
                    W[_WIFG + 6 * L + l] = W[_WIFG + 5 * L + l]

        _lane_dopri_step(W, t, h, t_seg, last, t_new, any_if, rtol)

        # ---- per-lane decisions: accept or reject, next step size ----
        any_dense = False
        for l in range(L):
            W[_WMASK + l] = 0.0
            k = pid[l]
            if k < 0:
                continue
            n_rhs[l] += 6
            hl = h[l]
            enl = W[_WEN + l]
            if not math.isfinite(enl):
                # A stage left the model's domain: retry with a much smaller step.
                n_rej[l] += 1
                h[l] = hl * 0.25
                reject[l] = True
                nonfinite_reject[l] = True
                continue
            fac11 = W[_WPW1 + l]
            if enl > 1.0:
                n_rej[l] += 1
                nonfinite_reject[l] = False
                h[l] = rejected_step(hl, fac11)
                reject[l] = True
                continue
            # ---- accepted ----
            n_acc[l] += 1
            nonfinite_reject[l] = False
            h_next = hl / accepted_factor(fac11, W[_WPW2 + l])
            W[_WFO + l] = max(enl, 1e-4)
            if IF_STATE >= 0:
                if_on[l], if_cnt[l] = exact_decay_switch(W[LANE_LAM + l] * hl, if_on[l], if_cnt[l])
            if reject[l]:
                h_next = min(h_next, hl)
            reject[l] = False
            h_next = min(h_next, h_max)
            W[_WMASK + l] = 1.0
            if j[l] < n_out and t_out[j[l]] < t_new[l]:
                any_dense = True
            if last[l]:
                h_prop[l] = h_next
            else:
                h[l] = h_next

        if any_dense:
            _lane_dense_output(W, pid, j, t, t_new, t_out, out, any_if)

        _lane_advance(W)

        # ---- segment end reached exactly: events at this time, then outputs ----
        for l in range(L):
            k = pid[l]
            if k < 0 or W[_WMASK + l] == 0.0:
                continue
            tn = t_new[l]
            t[l] = tn
            if not last[l]:
                continue
            y_l = W[_WY + l : _WY + _NL : L]
            ee = apply_events(y_l, tn, ev_t[k], ev_s[k], ev_o[k], ev_v[k], e[l])
            j[l] = record_outputs(y_l, tn, t_out, out[k], j[l])
            # After a discontinuity the old step size may be far too large.
            if ee > e[l] or (ee > 0 and ev_t[k, ee - 1] == tn):
                h_prop[l] = -1.0
            e[l] = ee
            if j[l] >= n_out:
                _lane_finish(l, k, _OK, tn, j[l], pid, counts, results)
            else:
                need_start[l] = True


@numba.njit(cache=True, parallel=True, error_model="numpy")
def solve_all_lanes(problem, n_groups, results):
    """Integrate every patient with DOPRI5, ``LANES`` patients per SIMD group.

    ``problem`` and ``results`` are those of ``solve_all`` (``_kernel_src.py``). ``n_groups``
    lane groups (one per thread) draw patients from a shared counter. Which group and lane a
    patient lands in depends on timing, but results do not: lanes never mix.
    """
    counter = np.zeros(1, dtype=np.int64)
    for _g in numba.prange(n_groups):
        _lane_group(counter, problem, results)
