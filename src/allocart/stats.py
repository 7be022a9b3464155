"""Interval estimates shared by the layers that summarise simulated patients.

:func:`wilson_interval` is the one binomial confidence interval of the package: cohort
summaries (:mod:`allocart.population`), trial summaries and intention-to-treat tables
(:mod:`allocart.trial`) all report rates with it.
"""

from __future__ import annotations

import math

__all__ = ["Z95", "rate_interval", "wilson_interval"]

Z95 = 1.959963984540054
"""Two-sided 95% standard normal quantile, ``Phi^-1(0.975)``."""


def wilson_interval(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed in ``n`` patients.

    Parameters
    ----------
    p : float
        Observed proportion ``k / n``, in [0, 1].
    n : float
        Number of patients (may be a non-integer effective size).
    z : float
        Standard normal quantile of the interval; the default gives a two-sided 95% interval.

    Returns
    -------
    (low, high) : tuple of float
        Bounds in [0, 1]; exactly 0 (1) when ``p`` is 0 (1). ``(nan, nan)`` when ``n`` is not
        positive or ``p`` is not finite.

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    *J Am Stat Assoc* 22:209-212. Newcombe RG (1998). Two-sided confidence intervals for the
    single proportion: comparison of seven methods. *Stat Med* 17:857-872 (method 3).

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(0.0, 145)]
    [0.0, 0.026]
    >>> [round(x, 4) for x in wilson_interval(0.5, 10)]
    [0.2366, 0.7634]
    """
    if not n > 0 or not math.isfinite(p):
        return math.nan, math.nan
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    lo = 0.0 if p <= 0 else max(centre - half, 0.0)
    hi = 1.0 if p >= 1 else min(centre + half, 1.0)
    return float(lo), float(hi)


def rate_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """:func:`wilson_interval` of ``k`` events in ``n`` patients (None when ``n`` is 0).

    Examples
    --------
    >>> [round(x, 3) for x in rate_interval(0, 145)]
    [0.0, 0.026]
    """
    if n <= 0:
        return None
    return wilson_interval(k / n, n, z)
