"""The Wilson score interval against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.stats import Z95, wilson_interval

# Agreement with references computed by other formulas: a few ulps of the bounds (~1).
TOL = 1e-12


def _roots(p: float, n: float, z: float) -> tuple[float, float]:
    # Wilson's definition: the rates pi with (p - pi)^2 = z^2 pi (1 - pi) / n, i.e. the roots of
    # (1 + z^2/n) pi^2 - (2p + z^2/n) pi + p^2 = 0.
    a = 1 + z * z / n
    lo, hi = sorted(np.roots([a, -(2 * p + z * z / n), p * p]).real)
    return float(lo), float(hi)


def test_z95_is_the_normal_quantile():
    from scipy.stats import norm

    assert Z95 == pytest.approx(norm.ppf(0.975), abs=1e-15)


@pytest.mark.parametrize(("k", "n"), [(0, 3), (1, 3), (3, 3), (5, 10), (1, 145), (67, 100)])
def test_matches_statsmodels(k, n):
    smp = pytest.importorskip("statsmodels.stats.proportion")
    ref = smp.proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k / n, n) == pytest.approx(ref, abs=TOL)


@given(st.integers(1, 10_000), st.data())
def test_bounds_are_the_roots_of_wilsons_equation(n, data):
    k = data.draw(st.integers(0, n))
    p = k / n
    lo, hi = wilson_interval(p, n)
    ref_lo, ref_hi = _roots(p, n, Z95)
    # np.roots goes through an eigenvalue problem: 1e-9 covers its rounding.
    assert lo == pytest.approx(max(ref_lo, 0.0), abs=1e-9)
    assert hi == pytest.approx(min(ref_hi, 1.0), abs=1e-9)
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert (lo == 0.0) == (k == 0) and (hi == 1.0) == (k == n)


@given(st.floats(0.0, 1.0), st.floats(1.0, 1e6))
def test_narrower_with_more_patients(p, n):
    lo1, hi1 = wilson_interval(p, n)
    lo4, hi4 = wilson_interval(p, 4 * n)
    assert hi4 - lo4 <= hi1 - lo1 + 1e-15


@pytest.mark.parametrize(("p", "n"), [(0.5, 0), (0.5, -3), (math.nan, 10), (math.inf, 10)])
def test_undefined_gives_nan(p, n):
    assert all(math.isnan(x) for x in wilson_interval(p, n))
