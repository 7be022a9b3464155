"""Population and individual predictions and weighted residuals of a fit: PRED, IPRED, RES,
IRES, WRES, CWRES and IWRES, as NONMEM tabulates them.

Model of patient ``i``'s quantified observations on the error scale
(:mod:`allocart.fit.predictive`): ``h(y_i) = F_i(theta_i) + eps``, ``theta_i = mu + eta_i``
on the transformed scale, ``eta_i ~ N(0, Omega)``, ``eps ~ N(0, R_i)`` with
``R_i = diag(sd_ij^2)``.

* ``PRED = f(mu)`` and ``IPRED = f(theta_hat_i)`` (read-out units), ``theta_hat_i`` the
  individual estimate (posterior mode, or posterior median for NUTS).
* ``RES = h(DV) - h(PRED)``, ``IRES = h(DV) - h(IPRED)``; ``IWRES = IRES / sd(IPRED)``.
* ``WRES`` (first order, linearised around ``eta = 0``):
  ``C = G_0 Omega G_0' + R(mu)``, ``WRES = C^{-1/2} (h(y) - F(mu))``, ``G_0 = dF/dtheta``
  at ``mu``.
* ``CWRES`` (conditional, linearised around the individual estimates; Hooker et al. 2007):
  ``C = G Omega G' + R(theta_hat)``,
  ``CWRES = C^{-1/2} (h(y) - F(theta_hat) + G eta_hat)``, ``G = dF/dtheta`` at
  ``theta_hat``, ``eta_hat = theta_hat - mu``.

``G`` is exact: the prediction Jacobians come from the forward-sensitivity solve
(:mod:`allocart.fit.sensmodel`). ``C^{-1/2}`` is the symmetric inverse square root
(eigendecomposition). Rows below the LLOQ (censored, M3) have no residual: they are left out
of ``C`` and their residuals are NaN.

References
----------
Hooker AC, Staatz CE, Karlsson MO. Conditional weighted residuals (CWRES): a model diagnostic
for the FOCE method. Pharm Res 2007;24:2187-2197.
Karlsson MO, Savic RM. Diagnosing model diagnostics. Clin Pharmacol Ther 2007;82:17-20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocart.fit.predictive import (
    PopulationPoint,
    RowErrors,
    population_point,
    row_errors,
    to_error_scale,
)
from allocart.fit.result import FitResult
from allocart.fit.sensmodel import sensitivity_model

__all__ = ["WeightedResiduals", "weighted_residuals", "inverse_sqrt"]


@dataclass(frozen=True, eq=False)
class WeightedResiduals:
    """Predictions and residuals of every observation row, shape (n, n_rows) each.

    ``pred``, ``ipred``: read-out units; ``res``, ``ires``: error scale (log difference for
    log-scale read-outs); ``wres``, ``cwres``, ``iwres``: SD units. NaN on padding rows and
    on rows below the LLOQ (residuals only), and for a patient whose solve failed.

    Attributes
    ----------
    pred, ipred, res, ires, wres, cwres, iwres : ndarray
    population : PopulationPoint
        The population parameters used for ``PRED``, ``WRES`` and ``CWRES``.
    """

    pred: np.ndarray
    ipred: np.ndarray
    res: np.ndarray
    ires: np.ndarray
    wres: np.ndarray
    cwres: np.ndarray
    iwres: np.ndarray
    population: PopulationPoint


def inverse_sqrt(c: np.ndarray) -> np.ndarray:
    """Symmetric inverse square root of a symmetric positive definite matrix.

    Eigenvalues below ``1e-12`` times the largest are raised to it, so a near-singular ``C``
    (a read-out whose residual SD dwarfs nothing) does not blow up.
    """
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    w = np.maximum(w, 1e-12 * max(float(w.max()), 1e-300))
    return (v / np.sqrt(w)) @ v.T


def _linearised(hy, hf, sd, g, omega, shift) -> np.ndarray:
    """``C^{-1/2} (hy - hf + g @ shift)`` with ``C = g Omega g' + diag(sd^2)``."""
    c = (g * omega**2) @ g.T + np.diag(sd**2)
    return inverse_sqrt(c) @ (hy - hf + g @ shift)


def weighted_residuals(
    result: FitResult, population: PopulationPoint | None = None, *, rtol: float = 1e-6
) -> WeightedResiduals:
    """PRED, IPRED and the residuals of every observation row (see the module docstring).

    Parameters
    ----------
    result : FitResult
    population : PopulationPoint, optional
        Population parameters (default: :func:`allocart.fit.predictive.population_point`).
    rtol : float
        Relative tolerance of the sensitivity solve.
    """
    pb = result.problem
    pop = population or population_point(result)
    n, r = pb.row_t.shape
    sm = sensitivity_model(pb, rtol)
    theta_hat = pb.to_theta(result.mode)
    pred0, jac0, ok0 = sm.evaluate(np.tile(pop.mu, (n, 1)))
    pred1, jac1, ok1 = sm.evaluate(theta_hat)
    errs = row_errors(result)
    nan = np.full((n, r), np.nan)
    out = {name: nan.copy() for name in ("pred", "ipred", "res", "ires", "wres", "cwres", "iwres")}
    for i in range(n):
        mask = pb.mask[i]
        quant = mask & ~pb.censored[i]
        e = _patient_errors(errs, i)
        if ok0[i]:
            out["pred"][i, mask] = pred0[i, mask]
        if ok1[i]:
            out["ipred"][i, mask] = pred1[i, mask]
        if not quant.any():
            continue
        value = pb.value[i]
        if ok0[i]:
            hy, hf, sd = to_error_scale(value, pred0[i], e)
            g = _error_scale_jacobian(pred0[i], jac0[i], e)
            out["res"][i, quant] = (hy - hf)[quant]
            out["wres"][i, quant] = _linearised(
                hy[quant], hf[quant], sd[quant], g[quant], pop.omega, np.zeros(pb.k)
            )
        if ok1[i]:
            hy, hf, sd = to_error_scale(value, pred1[i], e)
            g = _error_scale_jacobian(pred1[i], jac1[i], e)
            eta = theta_hat[i] - pop.mu
            out["ires"][i, quant] = (hy - hf)[quant]
            out["iwres"][i, quant] = ((hy - hf) / sd)[quant]
            out["cwres"][i, quant] = _linearised(
                hy[quant], hf[quant], sd[quant], g[quant], pop.omega, eta
            )
    return WeightedResiduals(population=pop, **out)


def _patient_errors(errs: RowErrors, i: int) -> RowErrors:
    return RowErrors(errs.log[i], errs.b[i], errs.a[i], errs.floor[i])


def _error_scale_jacobian(pred: np.ndarray, jac: np.ndarray, errors: RowErrors) -> np.ndarray:
    """``d h(f) / d theta`` (n_rows, k) from ``d f / d theta``: divided by ``f + floor`` on the
    log scale; zero where the prediction is negative (counted as zero, as in the likelihood)."""
    with np.errstate(all="ignore"):
        f = np.where(errors.log, np.maximum(pred, 0.0) + errors.floor, 1.0)
        d = np.where(pred > 0, 1.0, 0.0) / np.maximum(f, 1e-300)
    return jac * d[:, None]
