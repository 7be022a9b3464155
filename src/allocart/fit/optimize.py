"""Posterior modes of per-patient parameters: a batched Levenberg-Marquardt on exact derivatives.

The negative log posterior of patient ``i`` is

``F_i(theta) = -sum_j l_j(f_j(theta)) + sum_k (theta_k - mu_k)^2 / (2 omega_k^2)``

with ``f_j`` the model's prediction of observation ``j`` and ``l_j`` its log-likelihood
(:mod:`allocart.fit.residual`, censored rows included). Every iteration evaluates, for all
patients at once, the predictions and their Jacobian: forward sensitivities solved by numba
(the default backend, which needs no JAX; the observation terms' derivatives are analytic,
:func:`allocart.fit.residual.observation_loglik_derivatives`) or forward-mode JAX through
diffrax (``backend="jax"``, one tangent per parameter). The gradient is exact; the curvature
is the Gauss-Newton/Fisher form ``J^T diag(w) J + diag(1/omega^2)`` with
``w_j = max(-l_j'', 0)``, which is positive semi-definite, so a damped Newton step always
descends. Each patient has its own damping,
accepted or rejected on its own.

The inverse of that curvature at the mode is the Laplace approximation of the patient's
posterior covariance (used for intervals of the point-estimate path and by the population
point estimate of :mod:`allocart.fit.popfit`).

References
----------
Nocedal J, Wright SJ. Numerical Optimization, 2nd ed. Springer 2006, §10.3 (Levenberg-Marquardt).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from allocart.fit.jaxmodel import require_jax
from allocart.fit.problem import FitProblem, patient_predictions, row_loglik
from allocart.fit.residual import FitError, observation_loglik_derivatives
from allocart.fit.sensmodel import sensitivity_model

__all__ = ["ModeResult", "posterior_modes", "derivative_function", "mode_diagnostics", "BACKENDS"]

BACKENDS = ("sensitivity", "jax")
"""How predictions and their Jacobians are computed: ``"sensitivity"`` (forward sensitivities
solved by numba, :mod:`allocart.fit.sensmodel`; the default, ~10-50 times faster on a CPU) or
``"jax"`` (forward-mode differentiation through diffrax, :mod:`allocart.fit.jaxmodel`)."""


def check_backend(backend: str) -> str:
    """Return ``backend`` if known, else raise :class:`~allocart.fit.residual.FitError`."""

    if backend not in BACKENDS:
        raise FitError(
            f"backend: {backend!r} is not one of {', '.join(BACKENDS)}", argument="backend"
        )
    return backend


@dataclass(frozen=True)
class ModeResult:
    """Posterior modes of a batch of patients.

    Attributes
    ----------
    theta : ndarray (n, k)
        Modes on the transformed scale.
    cov : ndarray (n, k, k)
        Laplace covariance (inverse Gauss-Newton curvature) at the modes.
    objective : ndarray (n,)
        Negative log posterior at the modes (up to a constant).
    converged : ndarray (n,) of bool
    iterations : int
    evaluations : int
        Batched evaluations of predictions and Jacobians.
    patient_iterations : ndarray (n,) of int, optional
        Iterations each patient took until it converged (``iterations`` if it did not).
    """

    theta: np.ndarray
    cov: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    iterations: int
    evaluations: int
    patient_iterations: np.ndarray | None = None


@functools.lru_cache(maxsize=8)
def _derivatives(problem_key: int, rtol: float):
    import jax
    import jax.numpy as jnp

    problem = _PROBLEMS[problem_key]

    def one(theta, arr):
        def pred_aux(th):
            pred, ok = patient_predictions(th, arr, problem, rtol=rtol)
            return pred, (pred, ok)

        jac, (pred, ok) = jax.jacfwd(pred_aux, has_aux=True)(theta)
        ll, d1, d2 = _row_terms(pred, arr)
        good = ok & jnp.isfinite(ll) & jnp.all(jnp.isfinite(jac))
        return ll, d1, d2, jac, pred, good

    return jax.jit(jax.vmap(one))


_PROBLEMS: dict[int, FitProblem] = {}


def _row_terms(pred, arr):
    """Log-likelihood of one patient's rows and its first and second derivatives with respect
    to each row's prediction (rows are independent, so one tangent of ones gives all)."""
    import jax
    import jax.numpy as jnp

    ones = jnp.ones_like(pred)

    def lrow(p):
        return row_loglik(p, arr)

    ll, d1 = jax.jvp(lrow, (pred,), (ones,))
    d2 = jax.jvp(lambda p: jax.jvp(lrow, (p,), (ones,))[1], (pred,), (ones,))[1]
    return jnp.sum(ll), d1, d2


def _row_terms_numpy(pred: np.ndarray, arr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_row_terms` for a batch of patients in NumPy: summed log-likelihood (n,), and the
    first and second derivatives of each row (n, n_rows), masked rows zero."""
    ll, d1, d2 = observation_loglik_derivatives(
        arr["value"], pred, arr["censored"] > 0, arr["log"], arr["b"], arr["a"], arr["floor"]
    )
    m = arr["mask"] > 0
    return np.where(m, ll, 0.0).sum(axis=1), np.where(m, d1, 0.0), np.where(m, d2, 0.0)


def _sensitivity_derivatives(problem: FitProblem, rtol: float):
    """Same outputs as :func:`derivative_function`, with predictions and Jacobians from the
    numba sensitivity solve and the observation log-likelihood's derivatives in closed form
    (NumPy): nothing here needs JAX."""

    sm = sensitivity_model(problem, rtol)

    def f(theta, arr):
        pred, jac, ok = sm.evaluate(np.asarray(theta))
        safe = np.where(ok[:, None], pred, 1.0)
        ll, d1, d2 = _row_terms_numpy(safe, arr)
        good = ok & np.isfinite(ll) & np.all(np.isfinite(d1), axis=1)
        return ll, d1, d2, np.where(ok[:, None, None], jac, 0.0), pred, good

    return f


def derivative_function(problem: FitProblem, rtol: float = 1e-6):
    """Jitted ``f(theta (n, k), arrays) -> (loglik, dl/df, d2l/df2, df/dtheta, f, ok)`` per patient.

    Compiled once per problem structure; the problem's arrays are passed as arguments, so
    problems with the same shapes and estimated parameters share the compiled function.
    """
    key = hash(
        (
            problem.param_names,
            tuple(p.transform for p in problem.params),
            problem.observables,
            problem.n,
            problem.obs_time.shape,
            problem.row_t.shape,
            problem.ev_time.shape,
        )
    )
    _PROBLEMS.setdefault(key, problem)
    return _derivatives(key, float(rtol))


def posterior_modes(
    problem: FitProblem,
    prior_mean: np.ndarray | None = None,
    prior_sd: np.ndarray | None = None,
    *,
    init: np.ndarray | None = None,
    max_iter: int = 60,
    tol: float = 1e-7,
    rtol: float = 1e-6,
    backend: str = "sensitivity",
) -> ModeResult:
    """Posterior modes of every patient under a normal prior on ``theta``.

    Parameters
    ----------
    problem : FitProblem
    prior_mean, prior_sd : ndarray (k,) or (n, k), optional
        Prior on the transformed scale (default: the parameter table's population prior).
    init : ndarray (n, k), optional
        Starting point (default: the prior mean).
    max_iter : int
        Iterations at most.
    tol : float
        Convergence: relative decrease of the objective below ``tol`` and every step
        component below ``sqrt(tol)`` on the transformed scale.
    rtol : float
        Relative tolerance of the ODE solve.
    backend : {"sensitivity", "jax"}
        How predictions and Jacobians are computed (:data:`BACKENDS`).
    """
    n, k = problem.n, problem.k
    m = np.broadcast_to(
        problem.prior_mean if prior_mean is None else np.asarray(prior_mean, float), (n, k)
    )
    s = np.broadcast_to(
        problem.prior_sd if prior_sd is None else np.asarray(prior_sd, float), (n, k)
    )
    prec = 1.0 / s**2
    check_backend(backend)
    if backend == "jax":
        jnp = require_jax("backend='jax'", ("diffrax",), argument="backend").numpy
        f = derivative_function(problem, rtol)
        arr = {key: jnp.asarray(v) for key, v in problem.arrays().items()}
        to_arg = jnp.asarray
    else:  # numba sensitivities and NumPy: no JAX
        f = _sensitivity_derivatives(problem, rtol)
        arr = problem.arrays()
        to_arg = np.asarray

    def evaluate(theta):
        ll, d1, d2, jac, _, ok = (np.asarray(x) for x in f(to_arg(theta), arr))
        r = theta - m
        obj = -ll + 0.5 * np.sum(r * r * prec, axis=1)
        grad = -np.einsum("nr,nrk->nk", d1, jac) + r * prec
        w = np.maximum(-d2, 0.0)
        hess = np.einsum("nrk,nr,nrl->nkl", jac, w, jac) + prec[:, :, None] * np.eye(k)
        obj = np.where(ok, obj, np.inf)
        return obj, grad, hess, ok

    theta = np.array(m if init is None else np.asarray(init, float), dtype=float, copy=True)
    obj, grad, hess, ok = evaluate(theta)
    if not ok.all():  # a start the solver cannot integrate: fall back to the prior mean
        theta[~ok] = m[~ok]
        obj2, grad2, hess2, ok2 = evaluate(theta)
        obj, grad, hess, ok = obj2, grad2, hess2, ok2
    lam = np.full(n, 1e-3)
    converged = np.zeros(n, dtype=bool)
    its = np.zeros(n, dtype=int)
    evals = 1
    it = 0
    for it in range(1, max_iter + 1):
        damp = hess + lam[:, None, None] * np.einsum("nkk->nk", hess)[:, :, None] * np.eye(k)
        step = -np.linalg.solve(damp, grad[:, :, None])[:, :, 0]
        big = np.max(np.abs(step), axis=1)
        step *= np.minimum(1.0, 1.0 / np.maximum(big, 1e-300))[
            :, None
        ]  # at most 1 unit (e-fold) per step
        step[converged] = 0.0
        trial = theta + step
        obj_t, grad_t, hess_t, ok_t = evaluate(trial)
        evals += 1
        accept = ok_t & (obj_t <= obj) & ~converged
        small = (obj - obj_t <= tol * (1.0 + np.abs(obj))) & (
            np.max(np.abs(step), axis=1) < np.sqrt(tol) * 10
        )
        newly = accept & small
        theta[accept], obj[accept], grad[accept], hess[accept] = (
            trial[accept],
            obj_t[accept],
            grad_t[accept],
            hess_t[accept],
        )
        lam = np.where(accept, np.maximum(lam / 3.0, 1e-9), np.minimum(lam * 4.0, 1e9))
        # A patient whose damping has grown huge without progress sits at a mode to numerical precision.
        stuck = ~accept & (lam >= 1e6) & ok
        its[~converged] = it
        converged |= newly | stuck
        if converged.all():
            break
    cov = _laplace_covariance(hess, problem)
    return ModeResult(
        theta=theta,
        cov=cov,
        objective=obj,
        converged=converged,
        iterations=it,
        evaluations=evals,
        patient_iterations=its,
    )


def mode_diagnostics(problem: FitProblem, modes: ModeResult, prior_sd: np.ndarray) -> list[dict]:
    """One record per patient: converged, iterations, objective and shrinkage per parameter.

    Shrinkage of patient ``i`` and parameter ``k`` is ``C_i,kk / omega_k^2``, the share of the
    prior (population) variance that the Laplace posterior keeps: 0 when the patient's data
    determine the parameter, 1 when they say nothing about it and the estimate is the prior's.
    """
    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (problem.n, problem.k))
    var = np.einsum("nkk->nk", modes.cov)
    its = (
        modes.patient_iterations
        if modes.patient_iterations is not None
        else np.full(problem.n, modes.iterations)
    )
    out = []
    for i, sid in enumerate(problem.ids):
        out.append(
            {
                "id": sid,
                "converged": bool(modes.converged[i]),
                "iterations": int(its[i]),
                "objective": float(modes.objective[i]),
                "shrinkage": {
                    p: float(np.clip(var[i, j] / sd[i, j] ** 2, 0.0, 1.0))
                    for j, p in enumerate(problem.param_names)
                },
            }
        )
    return out


def _laplace_covariance(hess: np.ndarray, problem: FitProblem) -> np.ndarray:
    """Inverse of each patient's curvature at the mode, or a :class:`FitError` naming the
    patients whose curvature cannot be inverted.

    The curvature is the Gauss-Newton information plus the prior precision, positive definite
    in exact arithmetic; it fails only when the information is so large or non-finite that the
    prior's part is lost in rounding.
    """
    good = np.all(np.isfinite(hess), axis=(1, 2))
    cond = np.full(hess.shape[0], np.inf)
    cond[good] = np.linalg.cond(hess[good])
    bad = ~(cond < 1e14)
    if bad.any():
        names = ", ".join(
            f"{problem.ids[i]} (condition {cond[i]:.1e})" for i in np.flatnonzero(bad)[:5]
        )
        raise FitError(
            f"problem: the posterior curvature at the mode cannot be inverted for {int(bad.sum())} patient(s): "
            f"{names}; the parameters {', '.join(problem.param_names)} are not all determined by "
            "their data there; estimate fewer parameters or check those patients' records",
            argument="problem",
        )
    return np.linalg.inv(hess)
