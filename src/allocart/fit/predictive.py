"""What the fitted model predicts for the patients' own designs: population parameters of a
fit, the residual-error scale of each observation row, and observations simulated from the
model (parameters drawn from the population, the patients' doses, weights and sampling times,
residual error added).

Shared by the standard fit outputs: the weighted residuals (:mod:`allocart.fit.wres`), the
normalised prediction distribution errors (:mod:`allocart.fit.npde`), the visual predictive
check table (:mod:`allocart.fit.vpc`) and the tables (:mod:`allocart.fit.tables`).

The *error scale* of a read-out is the scale on which its residual error is normal
(:mod:`allocart.fit.residual`): ``h(y) = log(y)`` with predictions ``h(f) = log(f + floor)``
for log-scale read-outs, ``h(y) = y`` and ``h(f) = f`` for linear ones. Residuals and their
decorrelation are computed on that scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocart.fit.forecast import simulate_draws
from allocart.fit.residual import sd_on_scale
from allocart.fit.result import FitResult

__all__ = [
    "PopulationPoint",
    "population_point",
    "RowErrors",
    "row_errors",
    "to_error_scale",
    "row_predictions",
    "population_draws",
    "observable_lloq",
]


@dataclass(frozen=True)
class PopulationPoint:
    """Population parameters of a fit on the transformed (log or logit) scale.

    Attributes
    ----------
    mu : ndarray (k,)
        Typical values, transformed scale.
    omega : ndarray (k,)
        Between-patient SDs, transformed scale.
    source : str
        ``estimate`` (population point estimate), ``posterior median`` (hierarchical NUTS) or
        ``prior`` (individual fits: the parameter table's typical values and IIV).
    """

    mu: np.ndarray
    omega: np.ndarray
    source: str


def population_point(result: FitResult) -> PopulationPoint:
    """The population parameters against which a fit's patients are judged.

    Population point estimate: its typical values and omegas; hierarchical NUTS: the posterior
    medians of the typical values (transformed scale) and omegas; individual fits: the
    parameter table's population prior, under which the patients were fitted.
    """
    pb = result.problem
    pop = result.population or {}
    names = pb.param_names
    k = pb.k
    if result.method == "nuts" and result.typical is not None and result.omega is not None:
        mu = np.median(pb.to_theta(result.typical.reshape(-1, k)), axis=0)
        om = np.median(result.omega.reshape(-1, k), axis=0)
        return PopulationPoint(mu, om, "posterior median")
    if names and all(n in pop and "typical" in pop[n] and "omega" in pop[n] for n in names):
        typ = np.array([pop[n]["typical"] for n in names], dtype=float)
        om = np.array([pop[n]["omega"] for n in names], dtype=float)
        return PopulationPoint(pb.to_theta(typ), om, "estimate")
    return PopulationPoint(pb.prior_mean.copy(), pb.prior_sd.copy(), "prior")


@dataclass(frozen=True)
class RowErrors:
    """Residual-error arrays of every observation row, shape (n, n_rows) each.

    ``log`` (bool: error on the log scale), ``b`` (proportional SD), ``a`` (additive SD),
    ``floor`` (added to predictions on the log scale), as in
    :meth:`allocart.fit.residual.ResidualTable.arrays`.
    """

    log: np.ndarray
    b: np.ndarray
    a: np.ndarray
    floor: np.ndarray


def row_errors(result: FitResult) -> RowErrors:
    """:class:`RowErrors` of the fit's observation rows."""
    pb = result.problem
    err = pb.residual.arrays(pb.observables)
    k = pb.row_k
    return RowErrors(err["log"][k] > 0, err["b"][k], err["a"][k], err["floor"][k])


def to_error_scale(
    value: np.ndarray, pred: np.ndarray, errors: RowErrors
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observation, prediction and residual SD on the error scale, elementwise.

    Parameters
    ----------
    value : ndarray
        Observed values (read-out unit); broadcast against ``pred``.
    pred : ndarray
        Predictions (read-out unit), negative ones counted as zero as in the likelihood.
    errors : RowErrors
        Arrays of the same shape as ``pred`` (or broadcastable to it).

    Returns
    -------
    hy, hf, sd : ndarray
        ``h(value)``, ``h(pred)`` and the residual SD on that scale at ``pred``.
    """
    with np.errstate(all="ignore"):
        p = np.maximum(np.asarray(pred, dtype=float), 0.0)
        f = np.where(errors.log, p + errors.floor, p)
        hy = np.where(errors.log, np.log(np.maximum(value, 1e-300)), value)
        hf = np.where(errors.log, np.log(np.maximum(f, 1e-300)), f)
        sd = sd_on_scale(np.maximum(f, 1e-300), errors.log, errors.b, errors.a)
    return hy, hf, sd


def row_predictions(
    result: FitResult, i: int, theta_natural: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of patient ``i``'s observation rows under each parameter draw.

    Solved by the batched engine (:func:`allocart.fit.forecast.simulate_draws`, the simulator
    behind ``allocart simulate``) at the patient's observation times.

    Parameters
    ----------
    result : FitResult
    i : int
        Patient position in the problem.
    theta_natural : ndarray (S, k)
        Estimated parameters, natural units; the others at the patient's fixed values.

    Returns
    -------
    pred : ndarray (S, n_rows)
        Padding rows hold whatever their padded index points to; mask them with
        ``problem.mask[i]``.
    ok : ndarray (S,) of bool
        The solve succeeded.
    """
    pb = result.problem
    obs, status = simulate_draws(result, i, np.atleast_2d(theta_natural), pb.obs_time[i])
    s = obs[pb.observables[0]].shape[0]
    pred = np.empty((s, pb.row_t.shape[1]))
    for k, name in enumerate(pb.observables):
        cols = pb.row_k[i] == k
        pred[:, cols] = np.asarray(obs[name])[:, pb.row_t[i][cols]]
    ok = (np.asarray(status) == 0) & np.all(np.isfinite(np.where(pb.mask[i], pred, 0.0)), axis=1)
    return pred, ok


def population_draws(
    result: FitResult, size: int, rng: np.random.Generator, *, uncertainty: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` sets of population parameters (transformed scale): ``mu`` and ``omega``, (size, k).

    With ``uncertainty`` and draws of the typical values in the fit (NUTS, or the normal
    approximation of the point estimate), each set is one of those draws; otherwise every set
    is :func:`population_point`.
    """
    pb = result.problem
    if uncertainty and result.typical is not None and result.omega is not None:
        c, d, k = result.typical.shape
        pick = rng.integers(0, c * d, size=size)
        mu = pb.to_theta(result.typical.reshape(c * d, k)[pick])
        om = result.omega.reshape(c * d, k)[pick]
        return mu, om
    pop = population_point(result)
    return np.tile(pop.mu, (size, 1)), np.tile(pop.omega, (size, 1))


def observable_lloq(result: FitResult) -> np.ndarray:
    """The smallest LLOQ of each fitted read-out in the data, read-out units (censored rows hold
    their LLOQ); NaN for a read-out without censored rows. Shape (n_observables,)."""
    pb = result.problem
    out = np.full(len(pb.observables), np.nan)
    for k in range(len(pb.observables)):
        sel = pb.censored & pb.mask & (pb.row_k == k)
        if sel.any():
            out[k] = float(pb.value[sel].min())
    return out
