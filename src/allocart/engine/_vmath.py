"""Branch-free ``exp`` and ``log`` for the lane kernel, which vectorise over lanes.

The lane right-hand side (:func:`allocart.model.codegen.rhs_source_lanes`) and the lane solver
templates call them as ``_vexp`` and ``_vlog``; the bit casts below are single register moves.
"""

import math

import numba
from llvmlite import ir
from numba.core import types as _nbt
from numba.extending import intrinsic

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators

__all__ = ["vexp", "vlog"]


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
def vexp(x):
    """``exp(x)`` within 1 ulp; 0 below ``exp(-708)`` (no subnormal results)."""
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    kd = xc * _INV_LN2 + _ROUND
    # An intrinsic is called without the typing context its definition takes first.
    k: int = _as_bits(kd) - _as_bits(_ROUND)  # type: ignore[call-arg]
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
def vlog(x):
    """``log(x)`` within 1 ulp, with libm's special values (NaN below 0, -inf at 0)."""
    tiny = x < 2.2250738585072014e-308
    xs = x * 18014398509481984.0 if tiny else x  # subnormals: scale by 2**54
    # Split x = 2**k * m with m in [sqrt(2)/2, sqrt(2)) using integer arithmetic on the bits.
    ix = _as_bits(xs) - 0x3FE6A09E667F3BCD  # type: ignore[call-arg]  # as in vexp
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
