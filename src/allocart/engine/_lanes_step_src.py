"""Lane solver kernel, the step: one Dormand-Prince 5(4) step of every lane at once.

Part of the lane kernel (see ``_lanes_src.py``, whose workspace layout it uses): the stages,
the 5th-order solution, the error norm per lane, the controller's powers and the dense-output
coefficients, all as vector arithmetic over the lanes, and the exact-decay form of the stiff
state's stages (docs/engine.md, "SIMD lanes").
"""

# ruff: noqa: F821  (LANES, LANE_*, N_STATES, the workspace offsets and _rhs_lanes come from
# the sources compiled before this one into the same module)

import math

import numba

from allocart.engine._dopri5 import (
    _BETA,
    _EXPO1,
    DOPRI_A,
    DOPRI_C,
    DOPRI_E,
    dense_term,
    error_estimate,
    solution,
    stage_3,
    stage_4,
    stage_5,
    stage_6,
)
from allocart.engine._vmath import vexp as _vexp
from allocart.engine._vmath import vlog as _vlog

# Exact decay of one state (IF_STATE >= 0; see rhs_source_lanes and engine/_exact_decay.py):
# the state is integrated with the shifted integrating factor (generalised Lawson) form of the
# same Dormand-Prince tableau in the lanes whose steps are at the stability limit of its decay.
IF_STATE = globals().get("IF_STATE", -1)
LANE_LAM = globals().get("LANE_LAM", 0)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _if_stage(W, i):
    """Stage ``i`` (1..6) of the exact-decay state, for every lane (selected by _WIFM).

    ``exp(-lam (c_i - c_j) h) = g_i / g_j`` with ``g_i = exp(-lam c_i h)`` (h is clipped so
    that ``g`` never underflows). Inlined with a constant ``i``, so the loop over ``j``
    unrolls and the loop over lanes vectorises."""
    L = LANES
    for l in range(L):
        q = IF_STATE * L + l
        gi = W[_WIFG + i * L + l]
        lam = W[_WIFL + l]
        sh = W[_WIFS + l]
        n0 = W[_WIFN + l]
        acc = 0.0
        for j in range(i):
            acc += (
                DOPRI_A[i, j]
                * (gi / W[_WIFG + j * L + l])
                * (W[_WK1 + j * _NL + q] + lam * W[_WIFY + j * L + l] - n0)
            )
        v = gi * (W[_WIFY + l] - sh) + sh + W[_WIFH + l] * acc
        v = v if W[_WIFM + l] != 0.0 else W[LANE_Y + q]
        W[_WIFY + i * L + l] = v
        W[LANE_Y + q] = v


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lane_stage(W, i, t, h, any_if):
    """Evaluate stage ``i + 1`` (``i`` = 1..4) of every lane from its input in the ``LANE_Y``
    block: the exact-decay state's own input where ``any_if``, the stage time
    ``t + c_i h``, the right-hand side (into the ``LANE_D`` block)."""
    if any_if:
        _if_stage(W, i)
    for l in range(LANES):
        W[LANE_T + l] = t[l] + DOPRI_C[i] * h[l]
    _rhs_lanes(W)


# The solver's arithmetic is compiled without fastmath flags, so LLVM keeps every rounding:
# with "contract" (FMAs, 2% faster) a kernel that a process compiled and the same kernel
# loaded from numba's cache by a later process rounded differently (numba optimises
# _lane_group on its own and again inside solve_all_lanes, and which copy runs depends on
# which of the two happened; tests/engine/test_cache_reproducible.py). Never reassociation
# either: it would break the exp/log inlined here, nnan/ninf the failure checks.
@numba.njit(cache=True, error_model="numpy", inline="always")
def _lane_dopri_step(W, t, h, t_seg, last, t_new, any_if, rtol):
    """One Dormand-Prince 5(4) step of every lane at once (vector arithmetic over ``W``).

    Fills the stages, the 5th-order solution (``_WYN``), ``t_new``, the squared scaled error
    and its norm per lane (``_WEN``), the dense-output coefficients and the controller's
    powers (``_WPW1``, ``_WPW2``); the exact-decay state takes its own stages where
    ``any_if``. Leaves the FSAL stage ``k7`` in the ``LANE_D`` block.
    """
    n = N_STATES
    L = LANES
    for q in range(_NL):
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (DOPRI_A[1, 0] * W[_WK1 + q])
    _lane_stage(W, 1, t, h, any_if)
    for q in range(_NL):
        W[_WK2 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * stage_3(W[_WK1 + q], W[_WK2 + q])
    _lane_stage(W, 2, t, h, any_if)
    for q in range(_NL):
        W[_WK3 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * stage_4(W[_WK1 + q], W[_WK2 + q], W[_WK3 + q])
    _lane_stage(W, 3, t, h, any_if)
    for q in range(_NL):
        W[_WK4 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * stage_5(
            W[_WK1 + q], W[_WK2 + q], W[_WK3 + q], W[_WK4 + q]
        )
    _lane_stage(W, 4, t, h, any_if)
    for q in range(_NL):
        W[_WK5 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * stage_6(
            W[_WK1 + q], W[_WK2 + q], W[_WK3 + q], W[_WK4 + q], W[_WK5 + q]
        )
    if any_if:
        _if_stage(W, 5)
    for l in range(L):
        t_new[l] = t_seg[l] if last[l] else t[l] + h[l]
        W[LANE_T + l] = t_new[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK6 + q] = W[LANE_D + q]
        W[_WYN + q] = W[_WY + q] + W[_WH + q] * solution(
            W[_WK1 + q], W[_WK3 + q], W[_WK4 + q], W[_WK5 + q], W[_WK6 + q]
        )
        W[LANE_Y + q] = W[_WYN + q]
    if any_if:
        _if_stage(W, 6)
        for l in range(L):
            W[_WYN + IF_STATE * L + l] = W[LANE_Y + IF_STATE * L + l]
    _rhs_lanes(W)  # the FSAL stage k7, left in the LANE_D block
    if any_if:
        # Error estimate of the exact-decay state; it reads that state's stage derivatives,
        # which the loop below overwrites with dense-output coefficients, so it comes first
        # (with the third stage, which the dense output of that state needs).
        for l in range(L):
            qq = IF_STATE * L + l
            lam = W[_WIFL + l]
            n0 = W[_WIFN + l]
            g6 = W[_WIFG + 6 * L + l]
            er = 0.0
            for jj in range(6):
                er += (
                    DOPRI_E[jj]
                    * (g6 / W[_WIFG + jj * L + l])
                    * (W[_WK1 + jj * _NL + qq] + lam * W[_WIFY + jj * L + l] - n0)
                )
            er += DOPRI_E[6] * (W[LANE_D + qq] + lam * W[_WYN + qq] - n0)
            er = W[_WIFH + l] * er
            sk = W[_WATOL + qq] + rtol * max(abs(W[_WY + qq]), abs(W[_WYN + qq]))
            r = er / sk
            W[_WIFE + l] = r * r + W[_WYN + qq] * 0.0
            W[_WIFK3 + l] = W[_WK3 + qq]
    # Squared scaled error per state and lane; ynew * 0 is NaN only for a non-finite
    # ynew, so one finiteness test of each lane's norm covers the new state too.
    # The same pass computes the dense-output coefficients (Hairer's CONTD5) into the
    # stage blocks k2..k5, which are free once the error is known: one pass over the
    # stages instead of two. They are used only if the step is accepted with an output
    # inside it (the great majority of steps with daily output).
    for q in range(_NL):
        hq = W[_WH + q]
        k1 = W[_WK1 + q]
        k3 = W[_WK3 + q]
        k4 = W[_WK4 + q]
        k5 = W[_WK5 + q]
        k6 = W[_WK6 + q]
        k7 = W[LANE_D + q]
        y = W[_WY + q]
        yn = W[_WYN + q]
        er = error_estimate(hq, k1, k3, k4, k5, k6, k7)
        sk = W[_WATOL + q] + rtol * max(abs(y), abs(yn))
        r = er / sk
        W[_WERR + q] = r * r + yn * 0.0
        W[_WDD + q] = dense_term(hq, k1, k3, k4, k5, k6, k7)
        ydiff = yn - y
        bspl = hq * k1 - ydiff
        W[_WDA + q] = ydiff
        W[_WDB + q] = bspl
        W[_WDC + q] = ydiff - hq * k7 - bspl
    if any_if:
        for l in range(L):
            qq = IF_STATE * L + l
            e_if = W[_WIFE + l]
            e_plain = W[_WERR + qq]
            W[_WERR + qq] = e_if if W[_WIFM + l] != 0.0 else e_plain
    # Sum over states for every lane at once: a running sum with distance LANES, in the
    # same order (state 0 first) as the scalar kernel's loop.
    for q in range(L, _NL):
        W[_WERR + q] += W[_WERR + q - L]
    for l in range(L):
        W[_WEN + l] = math.sqrt(W[_WERR + _NL - L + l] / n)
    # The controller's powers for all lanes at once (vectorised exp/log).
    for l in range(L):
        W[_WPW1 + l] = _vexp(_EXPO1 * _vlog(W[_WEN + l]))
        W[_WPW2 + l] = _vexp(_BETA * _vlog(W[_WFO + l]))
