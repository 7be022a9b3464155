"""Full Bayesian fits with NumPyro's NUTS: one patient at a time, or a hierarchical cohort.

Individual fit
    ``theta_k = m_k + s_k z_k``, ``z ~ N(0, 1)``: the population prior of the parameter table
    (:mod:`allocart.fit.problem`) in non-centred form. Chains start at the posterior mode and
    the mass matrix starts from its Laplace covariance, so warm-up only refines them.

Hierarchical cohort fit
    ``theta_ik = mu_k + omega_k eta_ik``, ``eta ~ N(0, 1)`` (non-centred: the funnel between
    ``omega`` and the patients' parameters is what makes centred hierarchical models diverge),
    with hyperpriors ``mu_k ~ N(m_k, HYPER_MU_SD)`` and ``omega_k ~ LogNormal(log s_k,
    HYPER_OMEGA_SD)`` around the table's typical value and IIV.

The gradient NUTS takes is the exact Jacobian of the predictions from the forward-sensitivity
solve (:mod:`allocart.fit.sensmodel`, default) or forward-mode tangents through the JAX solve
(:func:`allocart.fit.problem.value_and_grad_fwd`, ``backend="jax"``).

References
----------
Hoffman MD, Gelman A. The No-U-Turn Sampler. JMLR 2014;15:1593-1623.
Betancourt M, Girolami M. Hamiltonian Monte Carlo for hierarchical models. 2013, arXiv:1312.0906.
Phan D, Pradhan N, Jankowiak M. Composable effects for flexible and accelerated probabilistic
programming in NumPyro. 2019, arXiv:1912.11554.
"""

from __future__ import annotations

import time

import numpy as np

from allocart.fit.problem import FitProblem, patient_loglik, value_and_grad_fwd
from allocart.fit.residual import FitError
from allocart.fit.result import FitResult, mcmc_diagnostics

__all__ = ["fit_individual_nuts", "fit_population_nuts", "HYPER_MU_SD", "HYPER_OMEGA_SD"]

HYPER_MU_SD = 1.0
"""SD of the hyperprior of a population typical value on the log (or logit) scale
[assumption: weakly informative, an e-fold around the table's typical value]."""

HYPER_OMEGA_SD = 0.5
"""SD of the log of a between-patient SD around the table's IIV [assumption: the table's IIV is
known to within a factor of about 1.6]."""


def _loglik_fn(problem: FitProblem, rtol: float, backend: str = "sensitivity"):
    """``ll(theta, arr)`` of one patient (``arr`` its slice of ``problem.arrays()``), whose
    gradient NUTS takes: sensitivity Jacobians (numba) or forward-mode JAX (``backend``)."""
    import jax.numpy as jnp

    from allocart.fit.optimize import check_backend
    from allocart.fit.problem import row_loglik
    from allocart.fit.sensmodel import jax_predictions, sensitivity_model

    if check_backend(backend) == "jax":
        return value_and_grad_fwd(lambda th, a: patient_loglik(th, a, problem, rtol=rtol))
    predict = jax_predictions(sensitivity_model(problem, rtol))

    def ll(theta, arr):
        pred, ok = predict(theta, arr["index"].astype(jnp.int32))
        good = ok > 0
        val = jnp.sum(row_loglik(jnp.where(good, pred, 1.0), arr))
        return jnp.where(good & jnp.isfinite(val), val, -jnp.inf)

    return ll


def _run(model, init, num_warmup, num_samples, chains, seed, inverse_mass_matrix=None, target_accept=0.8,
         max_tree_depth=8, progress=False, model_args=()):
    import jax
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(model, dense_mass=True, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                  inverse_mass_matrix=inverse_mass_matrix)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=chains,
                chain_method="vectorized", progress_bar=progress)
    mcmc.run(jax.random.PRNGKey(seed), *model_args, init_params=init, extra_fields=("diverging", "num_steps"))
    return mcmc


def fit_individual_nuts(
    problem: FitProblem,
    *,
    chains: int = 4,
    num_warmup: int = 150,
    num_samples: int = 150,
    seed: int = 0,
    rtol: float = 1e-6,
    max_tree_depth: int = 6,
    progress: bool = False,
    backend: str = "sensitivity",
) -> FitResult:
    """NUTS of each patient separately under the table's population prior.

    Patients are fitted one after another (one compiled sampler serves all of them, since they
    share array shapes). Returns draws with shape (chains, num_samples, n, k). With the
    mass matrix started from the Laplace covariance the posterior is close to isotropic, so
    trees deeper than ``max_tree_depth`` (2^6 = 64 leapfrog steps) only occur early in warm-up,
    where they cost the most (each step is a forward-mode ODE solve).
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from allocart.fit.jaxmodel import enable_jax
    from allocart.fit.optimize import posterior_modes

    enable_jax()
    _check(chains, num_warmup, num_samples)
    t_start = time.perf_counter()
    modes = posterior_modes(problem, rtol=rtol, backend=backend)
    ll = _loglik_fn(problem, rtol, backend)
    m = jnp.asarray(problem.prior_mean)
    s = jnp.asarray(problem.prior_sd)
    k = problem.k

    def model(arr):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
        numpyro.factor("loglik", ll(m + s * z, arr))

    arrays = problem.arrays()
    draws = np.empty((chains, num_samples, problem.n, k))
    div = np.zeros((problem.n, chains), dtype=int)
    leapfrogs: list[float] = []
    rng = np.random.default_rng(seed)
    for i in range(problem.n):
        arr = {key: jnp.asarray(v[i]) for key, v in arrays.items()}
        z_hat = (modes.theta[i] - problem.prior_mean) / problem.prior_sd
        cov_z = modes.cov[i] / np.outer(problem.prior_sd, problem.prior_sd)
        # Over-dispersed starts around the mode (R-hat needs chains that start apart).
        L = np.linalg.cholesky(cov_z + 1e-12 * np.eye(k))
        starts = z_hat + 1.5 * (rng.standard_normal((chains, k)) @ L.T) if chains > 1 else z_hat[None]
        init = {"z": jnp.asarray(starts if chains > 1 else z_hat)}
        mcmc = _run(model, init, num_warmup, num_samples, chains, seed + i,
                    inverse_mass_matrix=jnp.asarray(cov_z), model_args=(arr,), progress=progress,
                    max_tree_depth=max_tree_depth)
        z = np.asarray(mcmc.get_samples(group_by_chain=True)["z"])
        theta = problem.prior_mean + problem.prior_sd * z
        draws[:, :, i, :] = problem.to_natural(theta)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        div[i] = np.asarray(extra["diverging"]).sum(axis=1)
        leapfrogs.append(float(np.asarray(extra["num_steps"]).mean()))
    seconds = time.perf_counter() - t_start
    named = {p: draws[:, :, :, j] for j, p in enumerate(problem.param_names)}
    diag = mcmc_diagnostics(named, div.sum(axis=0), problem.ids, num_samples, num_warmup, seconds)
    diag["map_iterations"] = modes.iterations
    diag["mean_leapfrog_steps"] = leapfrogs
    flat = draws.reshape(-1, problem.n, k)
    return FitResult(problem=problem, method="nuts", level="individual", theta=draws,
                     mode=np.median(flat, axis=0), diagnostics=diag, seconds=seconds)


def fit_population_nuts(
    problem: FitProblem,
    *,
    chains: int = 4,
    num_warmup: int = 200,
    num_samples: int = 200,
    seed: int = 0,
    rtol: float = 1e-6,
    progress: bool = False,
    backend: str = "sensitivity",
) -> FitResult:
    """NUTS of the hierarchical (non-centred) model of the whole cohort.

    Returns draws of every patient's parameters, of the population typical values
    (``exp(mu)`` or ``logistic(mu)``) and of the between-patient SDs ``omega``.
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from allocart.fit.jaxmodel import enable_jax
    from allocart.fit.population import fit_population_its

    enable_jax()
    _check(chains, num_warmup, num_samples)
    if problem.n < 2:
        raise FitError("a population fit needs at least 2 patients; fit one patient with --level individual")
    t_start = time.perf_counter()
    start = fit_population_its(problem, rtol=rtol, backend=backend)
    ll = jax.vmap(_loglik_fn(problem, rtol, backend))
    m = jnp.asarray(problem.prior_mean)
    s = jnp.asarray(problem.prior_sd)
    n, k = problem.n, problem.k

    def model(arr):
        mu = numpyro.sample("mu", dist.Normal(m, HYPER_MU_SD).to_event(1))
        omega = numpyro.sample("omega", dist.LogNormal(jnp.log(s), HYPER_OMEGA_SD).to_event(1))
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0).expand([n, k]).to_event(2))
        theta = mu + omega * eta
        numpyro.factor("loglik", jnp.sum(ll(theta, arr)))

    arr = {key: jnp.asarray(v) for key, v in problem.arrays().items()}
    mu0 = start.population_theta
    om0 = np.maximum(start.omega_hat, 0.05)
    eta0 = (start.modes.theta - mu0) / om0
    rng = np.random.default_rng(seed)
    init = {
        "mu": jnp.asarray(mu0 + 0.05 * rng.standard_normal((chains, k))),
        "omega": jnp.asarray(om0 * np.exp(0.1 * rng.standard_normal((chains, k)))),
        "eta": jnp.asarray(eta0 + 0.1 * rng.standard_normal((chains, n, k))),
    }
    if chains == 1:
        init = {key: v[0] for key, v in init.items()}
    mcmc = _run(model, init, num_warmup, num_samples, chains, seed, model_args=(arr,), progress=progress)
    smp = {key: np.asarray(v) for key, v in mcmc.get_samples(group_by_chain=True).items()}
    theta = smp["mu"][:, :, None, :] + smp["omega"][:, :, None, :] * smp["eta"]
    draws = problem.to_natural(theta)
    typical = problem.to_natural(smp["mu"])
    extra = mcmc.get_extra_fields(group_by_chain=True)
    div = np.asarray(extra["diverging"]).sum(axis=1)
    seconds = time.perf_counter() - t_start
    named = {f"typical_{p}": typical[:, :, j] for j, p in enumerate(problem.param_names)}
    named.update({f"omega_{p}": smp["omega"][:, :, j] for j, p in enumerate(problem.param_names)})
    named.update({p: draws[:, :, :, j] for j, p in enumerate(problem.param_names)})
    diag = mcmc_diagnostics(named, div, problem.ids, num_samples, num_warmup, seconds)
    diag["mean_leapfrog_steps"] = float(np.asarray(extra["num_steps"]).mean())
    diag["its_start_iterations"] = start.iterations
    pop = {}
    for j, p in enumerate(problem.param_names):
        t = typical[:, :, j].reshape(-1)
        o = smp["omega"][:, :, j].reshape(-1)
        q = np.quantile(t, [0.05, 0.5, 0.95])
        qo = np.quantile(o, [0.05, 0.5, 0.95])
        pop[p] = {"typical": float(q[1]), "typical_q05": float(q[0]), "typical_q95": float(q[2]),
                  "omega": float(qo[1]), "omega_q05": float(qo[0]), "omega_q95": float(qo[2]),
                  "table_typical": problem.params[j].typical, "table_omega": problem.params[j].prior_sd}
    flat = draws.reshape(-1, n, k)
    return FitResult(problem=problem, method="nuts", level="population", theta=draws,
                     mode=np.median(flat, axis=0), typical=typical, omega=smp["omega"], population=pop,
                     diagnostics=diag, seconds=seconds)


def _check(chains: int, num_warmup: int, num_samples: int) -> None:
    if chains < 1:
        raise FitError(f"--chains: {chains!r} must be at least 1")
    if num_warmup < 1 or num_samples < 1:
        raise FitError(f"--warmup/--samples: {num_warmup!r}/{num_samples!r} must be at least 1")
