"""Gradients of the likelihood and the posterior mode of one simulated patient."""

import numpy as np
import pytest

#: Central finite-difference step on the log scale of the parameters.
FD_STEP = 1e-3
#: Agreement of forward-mode and finite-difference gradients. The adaptive solver's step
#: sequence changes with the parameters, which adds noise of order rtol * |dl/df| / FD_STEP to a
#: finite difference (measured < 0.5%); 2% of the gradient norm is well above that noise and far
#: below the error of a wrong derivative.
GRAD_RTOL = 0.02


def _loglik_and_grad(pb, theta):
    import jax.numpy as jnp

    from allocart.fit.optimize import derivative_function

    f = derivative_function(pb)
    arr = {k: jnp.asarray(v) for k, v in pb.arrays().items()}
    ll, d1, _, jac, _, ok = (np.asarray(x) for x in f(jnp.asarray(theta[None, :]), arr))
    return float(ll[0]), np.einsum("r,rk->k", d1[0], jac[0]), bool(ok[0])


def test_gradient_is_finite_and_matches_finite_differences(one_patient):
    _, _, pb, true = one_patient
    theta = true + 0.05
    ll, grad, ok = _loglik_and_grad(pb, theta)
    assert ok and np.isfinite(ll) and np.all(np.isfinite(grad))
    fd = np.empty(pb.k)
    for j in range(pb.k):
        e = np.zeros(pb.k)
        e[j] = FD_STEP
        fd[j] = (_loglik_and_grad(pb, theta + e)[0] - _loglik_and_grad(pb, theta - e)[0]) / (
            2 * FD_STEP
        )
    assert np.linalg.norm(grad - fd) <= GRAD_RTOL * np.linalg.norm(fd)


def test_posterior_mode_recovers_the_patient(one_patient):
    from allocart.fit.optimize import posterior_modes

    _, _, pb, true = one_patient
    res = posterior_modes(pb)
    assert res.converged.all()
    sd = np.sqrt(np.diag(res.cov[0]))
    z = (res.theta[0] - true) / sd
    # Each estimate within 3 posterior SDs of the truth (a 0.3% tail per parameter if the Laplace
    # approximation holds) and the posterior narrower than the prior for the expansion rate and
    # anti-dsDNA elimination, which the data pin down.
    assert np.all(np.abs(z) < 3.0), dict(zip(pb.param_names, z))
    for name in ("rho_E", "k_Ab"):
        j = pb.param_names.index(name)
        assert sd[j] < 0.5 * pb.prior_sd[j]
    # The mode is at least as probable as the truth.
    from allocart.fit.optimize import posterior_modes as pm

    at_truth = pm(pb, init=true[None, :], max_iter=0)
    assert res.objective[0] <= at_truth.objective[0] + 1e-9


def test_a_curvature_that_cannot_be_inverted_is_an_error_naming_the_patient(one_patient):
    from allocart.fit.optimize import _laplace_covariance
    from allocart.fit.residual import FitError

    _, _, pb, _ = one_patient
    k = pb.k
    fine = np.eye(k) * 10.0 + 0.5
    g = np.arange(1.0, k + 1.0)
    # Information of one observation at 1e40 swamps the prior precision (10) in rounding: the
    # matrix is rank one in float64, as the 1e19 sensitivities of a diverged solve once made it.
    swamped = 1e40 * np.outer(g, g) + np.eye(k) * 10.0
    assert np.allclose(_laplace_covariance(fine[None], pb)[0] @ fine, np.eye(k))
    with pytest.raises(FitError, match=rf"1 patient\(s\): {pb.ids[0]} \(condition"):
        _laplace_covariance(np.stack([swamped]), pb)
    with pytest.raises(FitError, match="estimate fewer"):
        _laplace_covariance(np.stack([np.full((k, k), np.nan)]), pb)
