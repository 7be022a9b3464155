"""SIMD lane solver kernel: Dormand-Prince 5(4) for groups of ``LANES`` patients at once.

Like ``_kernel_src.py`` this file is never imported on its own: ``build_kernel`` appends it
after a model's lane right-hand side ``rhs_lanes(w)`` (see
:func:`allocart.model.codegen.rhs_source_lanes`), which it calls.

Every lane holds one patient with its own time, step size, controller memory, event pointer
and output pointer; nothing is done in lockstep. Only the arithmetic is shared: each stage
evaluates the right-hand side and the stage combinations for all lanes with one vector
instruction per operation. Per-lane decisions (accept/reject, dense output, events, failure)
are scalar. A lane whose patient finishes or fails takes the next patient at once (from a
counter shared by the groups of all threads); lanes left without patients at the end keep
computing harmless values that are never read.

Layout: everything the vector loops touch lives in one flat float64 workspace ``W`` per
group, at compile-time constant offsets (state ``i`` of lane ``l`` at ``BASE + i * LANES + l``).
LLVM vectorises a loop only if it can prove that its stores do not overlap its loads; with
separate arrays it would need run-time overlap checks, which it refuses for loops as short as
the 8 lanes, so the layout is what makes the arithmetic SIMD. The workspace starts on a
64-byte boundary (every block is a multiple of 8 doubles), so no vector straddles two cache
lines.

Lanes never mix: no operation combines two lanes, so a patient's result is bitwise the same
whichever lane it occupies and whoever shares its group, i.e. independent of batch size,
chunking and threads. A batch of one patient runs through the same code.

The method, controller, error norm, initial step, events and failure handling are those of
``_integrate_patient`` in ``_kernel_src.py`` (method code 0); see ``docs/engine.md``.
"""

# ruff: noqa: F821  (rhs_lanes, LANES, N_STATES, N_PARAMS and the DOPRI5 constants come from
# the sources compiled into the same module)

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types as _nbt
from numba.extending import intrinsic


@intrinsic
def _as_bits(typingctx, x):
    """Reinterpret a float64 as int64 (a register move; vectorises)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return _nbt.int64(_nbt.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """Reinterpret an int64 as float64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return _nbt.float64(_nbt.int64), codegen


@intrinsic
def _fetch_add(typingctx, counter, inc):
    """Atomically add ``inc`` to ``counter[0]`` (an int64 array) and return the old value."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", ary.data, args[1], "monotonic")

    return _nbt.int64(counter, _nbt.int64), codegen


# exp and log of fdlibm (Sun Microsystems, 1993; e_exp.c and e_log.c), written branch-free so
# that LLVM vectorises them over lanes. They are inlined into their callers at numba's IR level
# (``inline="always"``; a call would stop the vectoriser) and so take the caller's fastmath
# flags: no caller may use ``reassoc``, which would fold ``(x + _ROUND) - _ROUND`` to ``x`` and
# undo the Cody-Waite range reduction (exp(0.5) came out as 2.0 when this went wrong).
# Accuracy is tested against numpy in tests/engine/test_lanes.py.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUND = 6755399441055744.0  # 1.5 * 2**52: x + _ROUND - _ROUND rounds x to an integer
_EP1 = 1.66666666666666019037e-01
_EP2 = -2.77777777770155933842e-03
_EP3 = 6.61375632143793436117e-05
_EP4 = -1.65339022054652515390e-06
_EP5 = 4.13813679705723846039e-08
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_EXP_MAX = 709.782712893384  # log(DBL_MAX)
_EXP_MIN = -708.0  # below this the result is subnormal; returned as 0


@numba.njit(cache=True, error_model="numpy", inline="always")
def _vexp(x):
    """``exp(x)`` within 1 ulp; 0 below ``exp(-708)`` (no subnormal results)."""
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    kd = xc * _INV_LN2 + _ROUND
    k = _as_bits(kd) - _as_bits(_ROUND)
    kd = kd - _ROUND
    hi = xc - kd * _LN2_HI
    lo = kd * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_EP1 + t * (_EP2 + t * (_EP3 + t * (_EP4 + t * _EP5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # 2**k in two factors so that k = 1024 (x close to _EXP_MAX) does not overflow the exponent
    y = (y * _from_bits((k + 1022) << 52)) * 2.0
    if x > _EXP_MAX:
        y = math.inf
    if x < _EXP_MIN:
        y = 0.0
    if x != x:
        y = x
    return y


@numba.njit(cache=True, error_model="numpy", inline="always")
def _vlog(x):
    """``log(x)`` within 1 ulp, with libm's special values (NaN below 0, -inf at 0)."""
    tiny = x < 2.2250738585072014e-308
    xs = x * 18014398509481984.0 if tiny else x  # subnormals: scale by 2**54
    # Split x = 2**k * m with m in [sqrt(2)/2, sqrt(2)) using integer arithmetic on the bits.
    ix = _as_bits(xs) - 0x3FE6A09E667F3BCD
    k = ix >> 52
    m = _from_bits((ix & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E667F3BCD)
    kd = float(k) - (54.0 if tiny else 0.0)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    y = kd * _LN2_HI - ((hfsq - (s * (hfsq + r) + kd * _LN2_LO)) - f)
    if x == 0.0:
        y = -math.inf
    if x < 0.0:
        y = math.nan
    if x == math.inf:
        y = x
    if x != x:
        y = x
    return y


# The lane right-hand side: contraction into FMAs and reciprocals, but no reassociation (see
# the note on _vexp above); with the loop vectorised this matters far less than for _rhs.
_LANE_FASTMATH = {"contract", "arcp", "nsz"}
_rhs_lanes = numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)(rhs_lanes)
_pre_lanes = numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)(pre_lanes)

# ---- workspace layout (offsets in doubles); the right-hand side's block comes first ----
_NL = N_STATES * LANES
_WY = LANE_END  # state at the lane's current time (after the right-hand side's blocks)
_WYN = _WY + _NL  # 5th-order solution at the end of the step
_WK1 = _WYN + _NL  # stage derivatives; the 7th (FSAL) stage stays in the LANE_D block
_WK2 = _WK1 + _NL
_WK3 = _WK2 + _NL
_WK4 = _WK3 + _NL
_WK5 = _WK4 + _NL
_WK6 = _WK5 + _NL
_WH = _WK6 + _NL  # step size of each lane, repeated for every state
_WATOL = _WH + _NL  # absolute tolerance of each state, repeated for every lane
_WERR = _WATOL + _NL  # squared scaled error, per state and lane
_WMASK = _WERR + _NL  # 1.0 where the lane's step was accepted, repeated for every state
# Dense output (Hairer's CONTD5) reuses blocks that are free once the error is known, which
# keeps the workspace (about 44 kB for the model) inside a 48 kB L1 data cache.
_WDA = _WK2  # y1 - y0
_WDB = _WK3  # h k1 - (y1 - y0)
_WDC = _WK4  # (y1 - y0) - h k7 - bspl
_WDD = _WK5  # h sum(d_i k_i)
_WDS = _WERR  # the output's fraction s of the step, repeated for every state
_WDV = _WK6  # interpolated states
_WEN = _WMASK + _NL  # error norm per lane
_WFO = _WEN + LANES  # controller memory per lane (err_old)
_WPW1 = _WFO + LANES  # en ** _EXPO1 per lane
_WPW2 = _WPW1 + LANES  # fac_old ** _BETA per lane
_WIFM = _WPW2 + LANES  # exact-decay state (IF_STATE): 1.0 where the lane's step uses it
_WIFL = _WIFM + LANES  # its decay rate lam
_WIFS = _WIFL + LANES  # shift N(t_n) / lam (the quasi-steady state at the step's start)
_WIFN = _WIFS + LANES  # N(t_n) = f + lam * y at the step's start
_WIFH = _WIFN + LANES  # step size
_WIFG = _WIFH + LANES  # exp(-lam c_i h), i = 0..6
_WIFY = _WIFG + 7 * LANES  # stage values of the state, i = 0..6
_WIFD = _WIFY + 7 * LANES  # its dense-output coefficients, 7 rows (see the dense output)
_WIFD_USE = _WIFD + 7 * LANES  # 1.0 where those coefficients apply to the lane's step
_WIFE = _WIFD_USE + LANES  # its squared scaled error in exact-decay form
_WIFK3 = _WIFE + LANES  # its third stage derivative (for the dense output)
_WSIZE = _WIFK3 + LANES


# Exact decay of one state (IF_STATE >= 0; see rhs_source_lanes): once the step of a lane has
# been at the explicit stability limit of that state's own linear decay (rate lam, lam*h >= 3)
# for _IF_ON accepted steps, the state is integrated with the shifted integrating factor
# (generalised Lawson) form of the same Dormand-Prince tableau, exact for pure decay towards a
# constant; back to plain DOPRI5 when lam*h < 2.
_IF_ON = 15
IF_STATE = globals().get("IF_STATE", -1)
LANE_LAM = globals().get("LANE_LAM", 0)
_IF_A = DOPRI_A
_IF_E = DOPRI_E


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
                _IF_A[i, j]
                * (gi / W[_WIFG + j * L + l])
                * (W[_WK1 + j * _NL + q] + lam * W[_WIFY + j * L + l] - n0)
            )
        v = gi * (W[_WIFY + l] - sh) + sh + W[_WIFH + l] * acc
        v = v if W[_WIFM + l] != 0.0 else W[LANE_Y + q]
        W[_WIFY + i * L + l] = v
        W[LANE_Y + q] = v


@numba.njit(cache=True, error_model="numpy")
def vexp_jit(x):
    """:func:`_vexp` as the lane right-hand side sees it, for testing."""
    return _vexp_rhs(x)


@numba.njit(cache=True, error_model="numpy")
def vlog_jit(x):
    """:func:`_vlog` as the lane right-hand side sees it, for testing."""
    return _vlog_rhs(x)


@numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)
def _vexp_rhs(x):
    return _vexp(x)


@numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)
def _vlog_rhs(x):
    return _vlog(x)


@numba.njit(cache=True, error_model="numpy")
def rhs_lanes_jit(w):
    """Compiled lane right-hand side on a workspace (see ``rhs_source_lanes``), for testing."""
    _rhs_lanes(w)


@numba.njit(cache=True, error_model="numpy")
def pre_lanes_jit(w):
    """Compiled per-patient constants of the lane right-hand side, for testing."""
    _pre_lanes(w)


@numba.njit(cache=True, error_model="numpy")
def _lane_finish(
    l,
    k,
    st,
    t,
    j,
    n_out,
    out,
    pid,
    n_acc,
    n_rej,
    n_rhs,
    status_o,
    n_acc_o,
    n_rej_o,
    n_rhs_o,
    t_fail_o,
):
    """Write lane ``l``'s patient ``k`` back with status ``st`` and free the lane."""
    status_o[k] = st
    n_acc_o[k] = n_acc[l]
    n_rej_o[k] = n_rej[l]
    n_rhs_o[k] = n_rhs[l]
    if st == 0:
        t_fail_o[k] = math.nan
    else:
        t_fail_o[k] = t[l]
        for q in range(j[l], n_out):
            for i in range(out.shape[2]):
                out[k, q, i] = math.nan
    pid[l] = -1


@numba.njit(cache=True, error_model="numpy")
def _lane_event(W, l, state, op, value):
    q = _WY + state * LANES + l
    if op == 0:
        W[q] += value
    elif op == 1:
        W[q] *= value
    else:
        W[q] = value


# The solver's arithmetic may fuse a multiply and an add into one FMA (fewer instructions,
# shorter chains in the stage combinations; rounding changes by an ulp, results stay
# independent of batching since the flags are fixed at compile time). No other fastmath
# flag: reassociation would break the exp/log inlined here, nnan/ninf the failure checks.
@numba.njit(cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
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
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (_A21 * W[_WK1 + q])
    if any_if:
        _if_stage(W, 1)
    for l in range(L):
        W[LANE_T + l] = t[l] + _C2 * h[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK2 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (_A31 * W[_WK1 + q] + _A32 * W[_WK2 + q])
    if any_if:
        _if_stage(W, 2)
    for l in range(L):
        W[LANE_T + l] = t[l] + _C3 * h[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK3 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (
            _A41 * W[_WK1 + q] + _A42 * W[_WK2 + q] + _A43 * W[_WK3 + q]
        )
    if any_if:
        _if_stage(W, 3)
    for l in range(L):
        W[LANE_T + l] = t[l] + _C4 * h[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK4 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (
            _A51 * W[_WK1 + q] + _A52 * W[_WK2 + q] + _A53 * W[_WK3 + q] + _A54 * W[_WK4 + q]
        )
    if any_if:
        _if_stage(W, 4)
    for l in range(L):
        W[LANE_T + l] = t[l] + _C5 * h[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK5 + q] = W[LANE_D + q]
        W[LANE_Y + q] = W[_WY + q] + W[_WH + q] * (
            _A61 * W[_WK1 + q]
            + _A62 * W[_WK2 + q]
            + _A63 * W[_WK3 + q]
            + _A64 * W[_WK4 + q]
            + _A65 * W[_WK5 + q]
        )
    if any_if:
        _if_stage(W, 5)
    for l in range(L):
        t_new[l] = t_seg[l] if last[l] else t[l] + h[l]
        W[LANE_T + l] = t_new[l]
    _rhs_lanes(W)
    for q in range(_NL):
        W[_WK6 + q] = W[LANE_D + q]
        W[_WYN + q] = W[_WY + q] + W[_WH + q] * (
            _A71 * W[_WK1 + q]
            + _A73 * W[_WK3 + q]
            + _A74 * W[_WK4 + q]
            + _A75 * W[_WK5 + q]
            + _A76 * W[_WK6 + q]
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
                    _IF_E[jj]
                    * (g6 / W[_WIFG + jj * L + l])
                    * (W[_WK1 + jj * _NL + qq] + lam * W[_WIFY + jj * L + l] - n0)
                )
            er += _E7 * (W[LANE_D + qq] + lam * W[_WYN + qq] - n0)
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
        er = hq * (_E1 * k1 + _E3 * k3 + _E4 * k4 + _E5 * k5 + _E6 * k6 + _E7 * k7)
        sk = W[_WATOL + q] + rtol * max(abs(y), abs(yn))
        r = er / sk
        W[_WERR + q] = r * r + yn * 0.0
        W[_WDD + q] = hq * (_D1 * k1 + _D3 * k3 + _D4 * k4 + _D5 * k5 + _D6 * k6 + _D7 * k7)
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


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _lane_dense_output(W, pid, j, t, t_new, t_out, out, any_if):
    """Outputs strictly inside ``(t, t_new)`` of the accepted lanes from the dense output
    (Hairer's CONTD5; exact decay plus a quadratic for the exact-decay state), one output time
    per lane and round, all lanes at once; advances each lane's output index ``j``."""
    n = N_STATES
    L = LANES
    n_out = t_out.shape[0]
    if any_if:
        # Dense output of the exact-decay state: exact decay plus the response to the
        # quadratic through N(t) - N(t_n) at t_n, the third stage and t_new (N = f + lam y),
        # then a linear correction to meet y_new at the end of the step. Computed for
        # every lane without branches (so that the loop is vector code, exp included) and
        # used only where _WIFD_USE is set; the other lanes' values (possibly inf or NaN,
        # e.g. z = 0 for an idle lane) are never read.
        for l in range(L):
            qq = IF_STATE * L + l
            lam = W[_WIFL + l]
            hl = W[_WIFH + l]
            n0 = W[_WIFN + l]
            a3 = W[_WIFK3 + l] + lam * W[_WIFY + 2 * L + l] - n0
            a7 = W[LANE_D + qq] + lam * W[_WYN + qq] - n0
            bq = (a3 - _C3 * a7) / (_C3 * _C3 - _C3)
            aq = a7 - bq
            v0 = W[_WY + qq] - W[_WIFS + l]
            z = lam * hl
            ez = _vexp(-z)
            den1 = z * lam
            den2 = z * z * lam
            yend = (
                ez * v0
                + W[_WIFS + l]
                + (aq * (z - 1.0 + ez) / den1 + bq * (z * z - 2.0 * z + 2.0 - 2.0 * ez) / den2)
            )
            W[_WIFD + l] = v0
            W[_WIFD + L + l] = aq
            W[_WIFD + 2 * L + l] = bq
            W[_WIFD + 3 * L + l] = z
            W[_WIFD + 4 * L + l] = den1
            W[_WIFD + 5 * L + l] = den2
            W[_WIFD + 6 * L + l] = W[_WYN + qq] - yend
            use = W[_WIFM + l] != 0.0 and W[_WMASK + l] != 0.0
            W[_WIFD_USE + l] = 1.0 if use else 0.0
    # One output time per lane and round, interpolated for all lanes at once; lanes
    # without an output in this round interpolate at s = 0 (never stored).
    while True:
        n_round = 0
        for l in range(L):
            W[_WDS + l] = 0.0
            if pid[l] >= 0 and W[_WMASK + l] != 0.0:
                jj = j[l]
                if jj < n_out and t_out[jj] < t_new[l]:
                    W[_WDS + l] = (t_out[jj] - t[l]) / W[_WH + l]
                    n_round += 1
        if n_round == 0:
            break
        for q in range(L, _NL):
            W[_WDS + q] = W[_WDS + q - L]
        for q in range(_NL):
            sq = W[_WDS + q]
            s1 = 1.0 - sq
            W[_WDV + q] = W[_WY + q] + sq * (
                W[_WDA + q] + s1 * (W[_WDB + q] + sq * (W[_WDC + q] + s1 * W[_WDD + q]))
            )
        if any_if:
            # Branch-free over lanes, like the coefficients above.
            for l in range(L):
                sq = W[_WDS + l]
                zq = W[_WIFD + 3 * L + l] * sq
                ez = _vexp(-zq)
                # p(tau) = aq*theta + bq*theta**2, theta = tau/h = zq/z
                v = (
                    ez * W[_WIFD + l]
                    + W[_WIFS + l]
                    + (
                        W[_WIFD + L + l] * (zq - 1.0 + ez) / W[_WIFD + 4 * L + l]
                        + W[_WIFD + 2 * L + l]
                        * (zq * zq - 2.0 * zq + 2.0 - 2.0 * ez)
                        / W[_WIFD + 5 * L + l]
                    )
                )
                v = v + sq * W[_WIFD + 6 * L + l]
                qd = _WDV + IF_STATE * L + l
                W[qd] = v if W[_WIFD_USE + l] != 0.0 else W[qd]
        for l in range(L):
            k = pid[l]
            if k < 0 or W[_WMASK + l] == 0.0:
                continue
            jj = j[l]
            if jj < n_out and t_out[jj] < t_new[l]:
                for i in range(n):
                    out[k, jj, i] = W[_WDV + i * L + l]
                j[l] = jj + 1


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _lane_advance(W):
    """Accepted lanes move on: ``y <- y_new``, ``k1 <- k7`` (FSAL), as vector selects."""
    L = LANES
    for q in range(L, _NL):
        W[_WMASK + q] = W[_WMASK + q - L]
    # Both operands are loaded before the choice, so that LLVM sees a select and a plain
    # store (vector code) instead of a conditional store (a scalar loop with branches).
    for q in range(_NL):
        take = W[_WMASK + q] != 0.0
        y_old = W[_WY + q]
        y_new = W[_WYN + q]
        k_old = W[_WK1 + q]
        k_new = W[LANE_D + q]
        W[_WY + q] = y_new if take else y_old
        W[_WK1 + q] = k_new if take else k_old


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _lane_group(
    counter,
    y0,
    params,
    t0,
    t_out,
    ev_t,
    ev_s,
    ev_o,
    ev_v,
    rtol,
    atol,
    max_steps,
    h_max,
    out,
    status_o,
    n_acc_o,
    n_rej_o,
    n_rhs_o,
    t_fail_o,
):
    """Integrate patients with one group of ``LANES`` lanes until none is left.

    A lane that becomes free takes the next patient index from the shared ``counter``
    (atomically), so groups on different threads balance themselves patient by patient.
    """
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
                ee = 0
                # Events at or before t0 act at t0, in table order.
                while ee < n_ev and ev_t[k, ee] <= t[l]:
                    _lane_event(W, l, ev_s[k, ee], ev_o[k, ee], ev_v[k, ee])
                    ee += 1
                jj = 0
                while jj < n_out and t_out[jj] <= t[l]:
                    for i in range(n):
                        out[k, jj, i] = W[_WY + i * L + l]
                    jj += 1
                e[l] = ee
                j[l] = jj
                n_acc[l] = 0
                n_rej[l] = 0
                n_rhs[l] = 0
                if_on[l] = False
                if_cnt[l] = 0
                h_prop[l] = -1.0
                if jj >= n_out:
                    status_o[k] = 0
                    n_acc_o[k] = 0
                    n_rej_o[k] = 0
                    n_rhs_o[k] = 0
                    t_fail_o[k] = math.nan
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
                    _lane_finish(
                        l,
                        k,
                        2,
                        t,
                        j,
                        n_out,
                        out,
                        pid,
                        n_acc,
                        n_rej,
                        n_rhs,
                        status_o,
                        n_acc_o,
                        n_rej_o,
                        n_rhs_o,
                        t_fail_o,
                    )
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
                    if a <= 1e-10 or b <= 1e-10:
                        hh = 1e-6
                    else:
                        hh = 0.01 * math.sqrt(b / a)
                    hh = min(hh, h_max)
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
                    der2 = math.sqrt(der2) / hh
                    der12 = max(abs(der2), math.sqrt(dnf[l]))
                    if not math.isfinite(der12):
                        h[l] = 1e-6 * hh
                    else:
                        if der12 <= 1e-15:
                            h1 = max(1e-6, hh * 1e-3)
                        else:
                            h1 = (0.01 / der12) ** (1.0 / 5.0)
                        h[l] = min(100.0 * hh, h1, h_max)
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
                _lane_finish(
                    l,
                    pid[l],
                    1,
                    t,
                    j,
                    n_out,
                    out,
                    pid,
                    n_acc,
                    n_rej,
                    n_rhs,
                    status_o,
                    n_acc_o,
                    n_rej_o,
                    n_rhs_o,
                    t_fail_o,
                )
                refill = True
                continue
            if h[l] < 16.0 * eps * max(abs(t[l]), 1.0):
                # Shrinking because stages kept overflowing means the solution itself is
                # blowing up; report that rather than a generic underflow.
                _lane_finish(
                    l,
                    pid[l],
                    2 if nonfinite_reject[l] else 3,
                    t,
                    j,
                    n_out,
                    out,
                    pid,
                    n_acc,
                    n_rej,
                    n_rhs,
                    status_o,
                    n_acc_o,
                    n_rej_o,
                    n_rhs_o,
                    t_fail_o,
                )
                refill = True
                continue
            last[l] = False
            if IF_STATE >= 0 and if_on[l]:
                h[l] = min(h[l], 500.0 / W[LANE_LAM + l])
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
                    W[_WIFG + L + l] = _vexp(-lam * _C2 * hl)
                    W[_WIFG + 2 * L + l] = _vexp(-lam * _C3 * hl)
                    W[_WIFG + 3 * L + l] = _vexp(-lam * _C4 * hl)
                    W[_WIFG + 4 * L + l] = _vexp(-lam * _C5 * hl)
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
                h[l] = hl / min(1.0 / _FAC_MIN, fac11 / _SAFE)
                reject[l] = True
                continue
            # ---- accepted ----
            n_acc[l] += 1
            nonfinite_reject[l] = False
            fac = fac11 / W[_WPW2 + l]
            fac = max(1.0 / _FAC_MAX, min(1.0 / _FAC_MIN, fac / _SAFE))
            h_next = hl / fac
            W[_WFO + l] = max(enl, 1e-4)
            if IF_STATE >= 0:
                x = W[LANE_LAM + l] * hl
                if x >= 3.0:
                    if_cnt[l] += 1
                    if if_cnt[l] >= _IF_ON:
                        if_on[l] = True
                elif x < 2.0:
                    if_on[l] = False
                    if_cnt[l] = 0
                else:
                    if_cnt[l] = 0
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
            ee = e[l]
            while ee < n_ev and ev_t[k, ee] <= tn:
                _lane_event(W, l, ev_s[k, ee], ev_o[k, ee], ev_v[k, ee])
                ee += 1
            jj = j[l]
            while jj < n_out and t_out[jj] <= tn:
                for i in range(n):
                    out[k, jj, i] = W[_WY + i * L + l]
                jj += 1
            j[l] = jj
            # After a discontinuity the old step size may be far too large.
            if ee > e[l] or (ee > 0 and ev_t[k, ee - 1] == tn):
                h_prop[l] = -1.0
            e[l] = ee
            if jj >= n_out:
                _lane_finish(
                    l,
                    k,
                    0,
                    t,
                    j,
                    n_out,
                    out,
                    pid,
                    n_acc,
                    n_rej,
                    n_rhs,
                    status_o,
                    n_acc_o,
                    n_rej_o,
                    n_rhs_o,
                    t_fail_o,
                )
            else:
                need_start[l] = True


@numba.njit(cache=True, parallel=True, error_model="numpy")
def solve_all_lanes(
    y0,
    params,
    t0,
    t_out,
    ev_t,
    ev_s,
    ev_o,
    ev_v,
    rtol,
    atol,
    max_steps,
    h_max,
    n_groups,
    out,
    status,
    n_acc,
    n_rej,
    n_rhs,
    t_fail,
):
    """Integrate every patient with DOPRI5, ``LANES`` patients per SIMD group.

    ``n_groups`` lane groups (one per thread) draw patients from a shared counter. Which
    group and lane a patient lands in depends on timing, but results do not: lanes never mix.
    """
    counter = np.zeros(1, dtype=np.int64)
    for _g in numba.prange(n_groups):
        _lane_group(
            counter,
            y0,
            params,
            t0,
            t_out,
            ev_t,
            ev_s,
            ev_o,
            ev_v,
            rtol,
            atol,
            max_steps,
            h_max,
            out,
            status,
            n_acc,
            n_rej,
            n_rhs,
            t_fail,
        )
