"""Isotonic regression and the BOIN rule for selecting the maximum tolerated dose.

The BOIN designs and BOIN12 (whose optimal biological dose is sought at or below this MTD) take
their isotonic DLT-rate estimates and the dose closest to the target from here.

References
----------
Barlow R.E., Bartholomew D.J., Bremner J.M. and Brunk H.D. (1972). *Statistical Inference under
Order Restrictions*. Wiley. (Pool-adjacent-violators algorithm.)

Liu S. and Yuan Y. (2015). Bayesian optimal interval designs for phase I clinical trials.
*JRSS-C* 64:507-523. doi:10.1111/rssc.12089 (MTD selection, as in the R package ``BOIN``
``select.mtd``.)
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators

__all__ = ["pava", "select_mtd"]


@numba.njit(cache=True)
def _pava(values: np.ndarray, weights: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    n = values.size
    level = np.empty(n)
    wsum = np.empty(n)
    size = np.empty(n, dtype=np.int64)
    top = 0
    for i in range(n):
        level[top] = values[i]
        wsum[top] = weights[i]
        size[top] = 1
        top += 1
        while top > 1 and level[top - 2] > level[top - 1]:
            w = wsum[top - 2] + wsum[top - 1]
            level[top - 2] = (level[top - 2] * wsum[top - 2] + level[top - 1] * wsum[top - 1]) / w
            wsum[top - 2] = w
            size[top - 2] += size[top - 1]
            top -= 1
    out = np.empty(n)
    k = 0
    for b in range(top):
        for _ in range(size[b]):
            out[k] = level[b]
            k += 1
    return out


def pava(
    values: NDArray[np.floating], weights: NDArray[np.floating] | None = None
) -> NDArray[np.float64]:
    """Weighted least-squares non-decreasing fit (pool-adjacent-violators).

    Parameters
    ----------
    values : array_like, shape (n,)
    weights : array_like, shape (n,), optional
        Positive weights; equal weights if omitted.

    Returns
    -------
    ndarray, shape (n,)
        The non-decreasing sequence closest to ``values`` in weighted squared error.

    Examples
    --------
    >>> pava([0.1, 0.3, 0.2, 0.5]).round(3).tolist()
    [0.1, 0.25, 0.25, 0.5]
    """
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    return _pava(v, w)


@numba.njit(cache=True)
def _isotonic_rates(
    n: np.ndarray, y: np.ndarray, upto: int, inverse_variance: bool
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """Tried doses below ``upto`` and their isotonic DLT-rate estimates.

    The observed rates ``(y + 0.05) / (n + 0.1)`` are fitted by weighted PAVA, with
    inverse-variance weights (BOIN) or with the number treated (BOIN12).
    """
    idx = np.empty(upto, dtype=np.int64)
    m = 0
    for d in range(upto):
        if n[d] > 0:
            idx[m] = d
            m += 1
    idx = idx[:m]
    phat = np.empty(m)
    wt = np.empty(m)
    for i in range(m):
        d = idx[i]
        # The 0.05/0.1 offsets keep the estimate and its variance away from 0 when y = 0 or y = n.
        phat[i] = (y[d] + 0.05) / (n[d] + 0.1)
        if inverse_variance:
            var = (y[d] + 0.05) * (n[d] - y[d] + 0.05) / ((n[d] + 0.1) ** 2 * (n[d] + 0.1 + 1.0))
            wt[i] = 1.0 / var
        else:
            wt[i] = n[d]
    return idx, _pava(phat, wt)


@numba.njit(cache=True)
def _closest_to_target(fit: np.ndarray, target: float) -> int:  # pragma: no cover - jitted
    """Position of the estimate in ``fit`` (non-decreasing) closest to ``target``."""
    best = 0
    best_dist = np.inf
    for i in range(fit.size):
        # The tiny increasing offset breaks ties: among doses tied above the target the lower one
        # is closer; among doses tied below it, the higher one.
        dist = abs(fit[i] + (i + 1) * 1e-10 - target)
        if dist < best_dist:
            best_dist = dist
            best = i
    return best


@numba.njit(cache=True)
def _select_mtd(
    target: float, n: np.ndarray, y: np.ndarray, elim_bound: np.ndarray
) -> int:  # pragma: no cover - jitted
    k = n.size
    # A dose is eliminated, together with all higher ones, once its elimination boundary is met.
    first_elim = k
    for d in range(k):
        if n[d] >= 1 and elim_bound[n[d]] >= 0 and y[d] >= elim_bound[n[d]]:
            first_elim = d
            break
    if first_elim == 0:
        return -1
    idx, fit = _isotonic_rates(n, y, first_elim, True)
    if idx.size == 0:
        return -1
    return idx[_closest_to_target(fit, target)]


def select_mtd(
    target: float,
    treated: NDArray[np.integer],
    dlts: NDArray[np.integer],
    elim_bound: NDArray[np.integer],
) -> int | None:
    """Select the MTD after isotonic regression of the observed DLT rates (BOIN rule).

    Doses from the lowest eliminated one upwards, and untried doses, are excluded. The observed
    rates ``(y + 0.05) / (n + 0.1)`` are fitted by weighted PAVA with inverse-variance weights and
    the dose whose estimate is closest to ``target`` is chosen; ties go to the lower dose when both
    estimates exceed the target, otherwise to the higher.

    Parameters
    ----------
    target : float
        Target DLT probability.
    treated, dlts : array_like of int, shape (n_doses,)
    elim_bound : array_like of int, shape (n_max + 1,)
        ``elim_bound[n]`` is the smallest number of DLTs out of ``n`` that eliminates a dose, or
        -1 if none does.

    Returns
    -------
    int or None
        0-based selected dose, or ``None`` when the lowest dose is eliminated or nothing was tried.
    """
    n = np.asarray(treated, dtype=np.int64)
    y = np.asarray(dlts, dtype=np.int64)
    eb = np.asarray(elim_bound, dtype=np.int64)
    if n.max(initial=0) >= eb.size:
        eb = np.concatenate([eb, np.full(int(n.max()) + 1 - eb.size, -1, dtype=np.int64)])
    d = int(_select_mtd(float(target), n, y, eb))
    return None if d < 0 else d
