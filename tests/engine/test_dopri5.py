"""The Dormand-Prince 5(4) tableau and the arithmetic every solver kernel inlines from it:
order conditions, the method's stability polynomial, the order of the error estimate, the
dense output's end points and the controller's bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import allocart.engine._dopri5 as dp
from allocart.engine._dopri5 import DOPRI_A, DOPRI_C, DOPRI_D, DOPRI_E

#: Sums of a few tableau entries of size up to ~12 in double precision: a few ulps of 12.
ROUND = 1e-14


def _step_linear(z):
    """One step of size 1 on ``y' = z y`` from ``y = 1`` with the kernels' stage helpers.

    Returns ``(y_new, error estimate, (k1..k7))``.
    """
    k1 = z
    k2 = z * (1.0 + DOPRI_A[1, 0] * k1)
    k3 = z * (1.0 + dp.stage_3(k1, k2))
    k4 = z * (1.0 + dp.stage_4(k1, k2, k3))
    k5 = z * (1.0 + dp.stage_5(k1, k2, k3, k4))
    k6 = z * (1.0 + dp.stage_6(k1, k2, k3, k4, k5))
    y1 = 1.0 + dp.solution(k1, k3, k4, k5, k6)
    k7 = z * y1
    return y1, dp.error_estimate(1.0, k1, k3, k4, k5, k6, k7), (k1, k3, k4, k5, k6, k7)


def test_tableau_order_conditions():
    a, c = DOPRI_A, DOPRI_C
    b = a[6]
    # Consistency of the stage times and the conditions of order 1 to 4 of the weights.
    assert np.abs(a.sum(axis=1) - c).max() < ROUND
    assert abs(b.sum() - 1.0) < ROUND
    assert abs(b @ c[:6] - 1.0 / 2.0) < ROUND
    assert abs(b @ c[:6] ** 2 - 1.0 / 3.0) < ROUND
    assert abs(b @ (a[:6, :6] @ c[:6]) - 1.0 / 6.0) < ROUND
    assert abs(b @ c[:6] ** 3 - 1.0 / 4.0) < ROUND
    # The error weights are a difference of two weight sets that each sum to 1.
    assert abs(DOPRI_E.sum()) < ROUND
    assert DOPRI_E[1] == 0.0 and DOPRI_D[1] == 0.0


@pytest.mark.parametrize("z", [-0.1, -1.0, -2.5, 0.3])
def test_stage_helpers_give_the_stability_polynomial(z):
    # DOPRI5 on y' = z y multiplies y by R(z) = sum_{k<=5} z^k/k! + z^6/600 per step
    # (Hairer-Norsett-Wanner I, Sec. IV.2).
    want = sum(z**k / math.factorial(k) for k in range(6)) + z**6 / 600.0
    y1, _, _ = _step_linear(z)
    assert y1 == pytest.approx(want, rel=ROUND, abs=ROUND)


def test_error_estimate_is_of_fifth_order():
    # The estimate is the 5th- minus the 4th-order solution: O(h^5), so halving the step
    # divides it by 2^5; the next term changes the ratio by O(h), 10% at h = 0.02.
    e1 = _step_linear(-0.02)[1]
    e2 = _step_linear(-0.01)[1]
    assert e1 / e2 == pytest.approx(32.0, rel=0.1)


def test_dense_output_coefficient_vanishes_on_a_constant():
    # All stage derivatives equal: the interpolant is the straight line, its 4th-order
    # coefficient sum(d_i) * h is zero up to rounding.
    assert abs(dp.dense_term(0.7, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)) < ROUND


def test_starting_step_guesses():
    # Norms too small to say anything: the documented fallbacks of HINIT.
    assert dp.first_guess(0.0, 1.0) == 1e-6
    assert dp.first_guess(4.0, 1.0) == pytest.approx(0.01 * 0.5)
    # Second guess: (0.01 / max(der2, |f0|)) ** (1/5), at most 100 times the probe and h_max.
    assert dp.second_guess(0.0, 1e-40, 1e-3, 1.0) == pytest.approx(1e-6)
    assert dp.second_guess(1e-2, 1.0, 1.0, 1e3) == pytest.approx(0.01**0.2)
    assert dp.second_guess(1e-2, 1.0, 1.0, 1e-3) == 1e-3
    assert dp.second_guess(1e-2, 1.0, 1e-3, 1.0) == pytest.approx(100.0 * 1e-3)
    assert dp.second_guess(math.inf, 1.0, 1e-3, 1.0) == pytest.approx(1e-9)


@settings(deadline=None)  # the first example compiles the helpers
@given(
    err=st.floats(1e-12, 1e6, allow_nan=False),
    old=st.floats(1e-4, 1e6, allow_nan=False),
)
def test_controller_stays_within_its_bounds(err, old):
    fac = dp.accepted_factor(err**0.17, old**0.04)
    assert 1.0 / dp._FAC_MAX <= fac <= 1.0 / dp._FAC_MIN
    if err > 1.0:
        # A rejected step shrinks, by at most 1 / _FAC_MIN.
        h = dp.rejected_step(1.0, err**0.17)
        assert dp._FAC_MIN <= h < 1.0
