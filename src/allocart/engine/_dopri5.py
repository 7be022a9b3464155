"""The Dormand-Prince 5(4) method: its tableau, step-size controller and their arithmetic.

Shared by the solver kernel templates (``_kernel_src.py``, ``_sens_src.py`` and the lane
templates ``_lanes*_src.py``), which import them into the generated kernel modules; numba reads
module-level floats and arrays as compile-time constants. The tableau is written once, as
arrays; the combinations of stage derivatives and the controller's formulas are scalar
functions inlined into every kernel at numba's IR level (``inline="always"``), where they take
the caller's fastmath flags, so each kernel computes exactly what it would with the formulas
written out in its own loops, lane-vectorised or not.

References
----------
Hairer E, Norsett SP, Wanner G. Solving Ordinary Differential Equations I, 2nd ed. Springer
1993, Table II.5.5 (tableau), Sec. II.4 (starting step, HINIT), Sec. II.6 (dense output
CONTD5), Sec. IV.2 (PI controller).
"""

import math

import numba
import numpy as np

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators

# Dormand-Prince 5(4) tableau (Hairer-Norsett-Wanner I, Table II.5.5): row i (1..5) of A gives
# the input of stage i + 1, row 6 the new value (the 5th-order weights, FSAL).
DOPRI_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
        [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
        [19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0.0, 0.0],
        [9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0.0],
        [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ]
)
# Stage times as fractions of the step.
DOPRI_C = np.array([0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0])
# Difference between the 5th- and 4th-order weights: the local error estimate.
DOPRI_E = np.array(
    [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ]
)
# Dense output of order 4 (Hairer's CONTD5).
DOPRI_D = np.array(
    [
        -12715105075.0 / 11282082432.0,
        0.0,
        87487479700.0 / 32700410799.0,
        -10690763975.0 / 1880347072.0,
        701980252875.0 / 199316789632.0,
        -1453857185.0 / 822651844.0,
        69997945.0 / 29380423.0,
    ]
)
_ORDER = 5.0  # of the solution that is propagated

# PI controller of DOPRI5: beta = 0.04 damps the step-size oscillation that a pure
# I controller shows when the step is limited by stability (our quiet phases).
_BETA = 0.04
_EXPO1 = 0.2 - _BETA * 0.75
_SAFE = 0.9
_FAC_MIN = 0.2  # the step may shrink at most 5x after one step
_FAC_MAX = 10.0  # and grow at most 10x

_inline = numba.njit(cache=True, error_model="numpy", inline="always")


@_inline
def stage_3(k1, k2):
    """Weighted sum of the stage derivatives that gives the input of stage 3 (times ``h``)."""
    return DOPRI_A[2, 0] * k1 + DOPRI_A[2, 1] * k2


@_inline
def stage_4(k1, k2, k3):
    """Input of stage 4, as :func:`stage_3`."""
    return DOPRI_A[3, 0] * k1 + DOPRI_A[3, 1] * k2 + DOPRI_A[3, 2] * k3


@_inline
def stage_5(k1, k2, k3, k4):
    """Input of stage 5, as :func:`stage_3`."""
    return DOPRI_A[4, 0] * k1 + DOPRI_A[4, 1] * k2 + DOPRI_A[4, 2] * k3 + DOPRI_A[4, 3] * k4


@_inline
def stage_6(k1, k2, k3, k4, k5):
    """Input of stage 6, as :func:`stage_3`."""
    a = DOPRI_A
    return a[5, 0] * k1 + a[5, 1] * k2 + a[5, 2] * k3 + a[5, 3] * k4 + a[5, 4] * k5


@_inline
def solution(k1, k3, k4, k5, k6):
    """Increment of the 5th-order solution over the step, divided by ``h``."""
    a = DOPRI_A
    return a[6, 0] * k1 + a[6, 2] * k3 + a[6, 3] * k4 + a[6, 4] * k5 + a[6, 5] * k6


@_inline
def error_estimate(h, k1, k3, k4, k5, k6, k7):
    """Embedded local error estimate of a step of size ``h`` (5th minus 4th order)."""
    e = DOPRI_E
    return h * (e[0] * k1 + e[2] * k3 + e[3] * k4 + e[4] * k5 + e[5] * k6 + e[6] * k7)


@_inline
def dense_term(h, k1, k3, k4, k5, k6, k7):
    """The 4th-order coefficient of the dense output (CONTD5), ``h sum_i d_i k_i``."""
    d = DOPRI_D
    return h * (d[0] * k1 + d[2] * k3 + d[3] * k4 + d[4] * k5 + d[5] * k6 + d[6] * k7)


@_inline
def first_guess(dnf, dny):
    """Starting step from the weighted norms squared of ``f(t0, y0)`` and ``y0`` (HINIT)."""
    if dnf <= 1e-10 or dny <= 1e-10:
        return 1e-6
    return 0.01 * math.sqrt(dny / dnf)


@_inline
def second_guess(der2_sq, dnf, h, h_max):
    """HINIT's final starting step after an Euler probe of size ``h``.

    ``der2_sq`` is the weighted norm squared of ``f(t0 + h, y0 + h f0) - f0`` and ``dnf`` that
    of ``f0``.
    """
    der2 = math.sqrt(der2_sq) / h
    der12 = max(abs(der2), math.sqrt(dnf))
    if not math.isfinite(der12):
        return 1e-6 * h
    if der12 <= 1e-15:
        h1 = max(1e-6, h * 1e-3)
    else:
        h1 = (0.01 / der12) ** (1.0 / _ORDER)
    return min(100.0 * h, h1, h_max)


@_inline
def accepted_factor(err_pow, old_pow):
    """Divisor of the step size after an accepted step (PI controller, bounded).

    ``err_pow`` is ``err ** _EXPO1`` and ``old_pow`` the previous accepted error to ``_BETA``.
    """
    fac = err_pow / old_pow
    return max(1.0 / _FAC_MAX, min(1.0 / _FAC_MIN, fac / _SAFE))


@_inline
def rejected_step(h, err_pow):
    """Step size to retry after a rejected step of size ``h`` (``err_pow = err ** _EXPO1``)."""
    return h / min(1.0 / _FAC_MIN, err_pow / _SAFE)
