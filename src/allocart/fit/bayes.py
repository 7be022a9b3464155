"""Full Bayesian fits with NumPyro's NUTS: one patient at a time, or a hierarchical cohort.

Individual fit
    ``theta_k = m_k + s_k z_k``, ``z ~ N(0, 1)``: the population prior of the parameter table
    (:mod:`allocart.fit.problem`) in non-centred form. Chains start at the posterior mode and
    the mass matrix starts from its Laplace covariance, so warm-up only refines them.

Hierarchical cohort fit
    ``theta_ik ~ N(mu_k, omega_k)`` with hyperpriors ``mu_k ~ N(m_k, HYPER_MU_SD)`` and
    ``omega_k ~ LogNormal(log s_k, HYPER_OMEGA_SD)`` around the table's typical value and IIV.
    Each parameter is sampled centred where the data determine the patients' values and
    non-centred (``theta_ik = mu_k + omega_k eta_ik``, ``eta ~ N(0, 1)``) where they do not
    (:data:`CENTRED_BELOW`). Chains start around the iterative two-stage point estimate, the
    mass matrix is built from its Laplace covariances and kept (:func:`population_inverse_mass`),
    and warm-up adapts the step size.

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
from typing import Any

import numpy as np

from allocart.fit.jaxmodel import require_jax
from allocart.fit.optimize import check_backend, posterior_modes
from allocart.fit.popfit import fit_population_its, require_population
from allocart.fit.problem import FitProblem, patient_loglik, row_loglik, value_and_grad_fwd
from allocart.fit.residual import FitError
from allocart.fit.result import FitResult, mcmc_diagnostics
from allocart.fit.sensmodel import jax_predictions, sensitivity_model

__all__ = [
    "fit_individual_nuts",
    "fit_population_nuts",
    "centred_parameters",
    "population_inverse_mass",
    "CENTRED_BELOW",
    "HYPER_MU_SD",
    "HYPER_OMEGA_SD",
]

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

    if check_backend(backend) == "jax":
        return value_and_grad_fwd(lambda th, a: patient_loglik(th, a, problem, rtol=rtol))
    predict = jax_predictions(sensitivity_model(problem, rtol))

    def ll(theta, arr):
        pred, ok = predict(theta, arr["index"].astype(jnp.int32))
        good = ok > 0
        val = jnp.sum(row_loglik(jnp.where(good, pred, 1.0), arr))
        return jnp.where(good & jnp.isfinite(val), val, -jnp.inf)

    return ll


def _run(
    model,
    init,
    num_warmup,
    num_samples,
    chains,
    seed,
    inverse_mass_matrix=None,
    target_accept=0.8,
    max_tree_depth=8,
    progress=False,
    model_args=(),
    adapt_mass_matrix=True,
    find_step_size=False,
):
    import jax
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(
        model,
        dense_mass=True,
        target_accept_prob=target_accept,
        max_tree_depth=max_tree_depth,
        inverse_mass_matrix=inverse_mass_matrix,
        adapt_mass_matrix=adapt_mass_matrix,
        find_heuristic_step_size=find_step_size,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=progress,
    )
    mcmc.run(
        jax.random.PRNGKey(seed),
        *model_args,
        init_params=init,
        extra_fields=("diverging", "num_steps", "accept_prob", "potential_energy"),
    )
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
    numpyro, dist = _numpyro(chains, num_warmup, num_samples)
    import jax.numpy as jnp

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
    stats = {key: np.zeros((chains, num_samples, problem.n)) for key in _SAMPLE_STATS.values()}
    rng = np.random.default_rng(seed)
    for i in range(problem.n):
        arr = {key: jnp.asarray(v[i]) for key, v in arrays.items()}
        z_hat = (modes.theta[i] - problem.prior_mean) / problem.prior_sd
        cov_z = modes.cov[i] / np.outer(problem.prior_sd, problem.prior_sd)
        # Over-dispersed starts around the mode (R-hat needs chains that start apart).
        L = np.linalg.cholesky(cov_z + 1e-12 * np.eye(k))
        starts = (
            z_hat + 1.5 * (rng.standard_normal((chains, k)) @ L.T) if chains > 1 else z_hat[None]
        )
        init = {"z": jnp.asarray(starts if chains > 1 else z_hat)}
        mcmc = _run(
            model,
            init,
            num_warmup,
            num_samples,
            chains,
            seed + i,
            inverse_mass_matrix=jnp.asarray(cov_z),
            model_args=(arr,),
            progress=progress,
            max_tree_depth=max_tree_depth,
        )
        z = np.asarray(mcmc.get_samples(group_by_chain=True)["z"])
        theta = problem.prior_mean + problem.prior_sd * z
        draws[:, :, i, :] = problem.to_natural(theta)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        div[i] = np.asarray(extra["diverging"]).sum(axis=1)
        leapfrogs.append(float(np.asarray(extra["num_steps"]).mean()))
        for field, name in _SAMPLE_STATS.items():
            stats[name][:, :, i] = _sample_stat(extra, field)
    seconds = time.perf_counter() - t_start
    named = {p: draws[:, :, :, j] for j, p in enumerate(problem.param_names)}
    diag = mcmc_diagnostics(named, div.sum(axis=0), problem.ids, num_samples, num_warmup, seconds)
    diag["map_iterations"] = modes.iterations
    diag["mean_leapfrog_steps"] = leapfrogs
    flat = draws.reshape(-1, problem.n, k)
    return FitResult(
        problem=problem,
        method="nuts",
        level="individual",
        theta=draws,
        mode=np.median(flat, axis=0),
        diagnostics=diag,
        seconds=seconds,
        sample_stats=stats,
    )


_SAMPLE_STATS = {
    "diverging": "diverging",
    "num_steps": "n_steps",
    "accept_prob": "acceptance_rate",
    "potential_energy": "lp",
}
"""NumPyro's extra fields -> ArviZ's ``sample_stats`` names (``lp`` is minus the potential
energy: the log density up to a constant)."""


def _sample_stat(extra, field: str) -> np.ndarray:
    v = np.asarray(extra[field], dtype=float)
    return -v if field == "potential_energy" else v


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
    numpyro, dist = _numpyro(chains, num_warmup, num_samples)
    import jax
    import jax.numpy as jnp

    require_population(problem, "fit one patient with fit_individual_nuts")
    t_start = time.perf_counter()
    start = fit_population_its(problem, rtol=rtol, backend=backend)
    ll = jax.vmap(_loglik_fn(problem, rtol, backend))
    m = jnp.asarray(problem.prior_mean)
    s = jnp.asarray(problem.prior_sd)
    n, k = problem.n, problem.k
    om0 = np.maximum(start.omega_hat, 0.05)
    centred = centred_parameters(start, om0)
    names = problem.param_names

    def model(arr):
        mu = numpyro.sample("mu", dist.Normal(m, HYPER_MU_SD).to_event(1))
        omega = numpyro.sample("omega", dist.LogNormal(jnp.log(s), HYPER_OMEGA_SD).to_event(1))
        cols = []
        for j, p in enumerate(names):
            if centred[j]:
                cols.append(
                    numpyro.sample(
                        f"theta_{p}", dist.Normal(mu[j], omega[j]).expand([n]).to_event(1)
                    )
                )
            else:
                eta = numpyro.sample(f"eta_{p}", dist.Normal(0.0, 1.0).expand([n]).to_event(1))
                cols.append(mu[j] + omega[j] * eta)
        numpyro.factor("loglik", jnp.sum(ll(jnp.stack(cols, axis=1), arr)))

    arr = {key: jnp.asarray(v) for key, v in problem.arrays().items()}
    mu0 = start.population_theta
    th0 = start.modes.theta
    rng = np.random.default_rng(seed)
    # NumPyro starts chains from unconstrained values: omega (positive) as log(omega). Starts
    # are spread around the point estimate (R-hat needs chains that start apart).
    sd0 = np.sqrt(np.einsum("nkk->nk", start.modes.cov))
    init = {
        "mu": jnp.asarray(mu0 + 0.05 * rng.standard_normal((chains, k))),
        "omega": jnp.asarray(np.log(om0) + 0.1 * rng.standard_normal((chains, k))),
    }
    for j, p in enumerate(names):
        if centred[j]:
            init[f"theta_{p}"] = jnp.asarray(
                th0[:, j] + 0.5 * sd0[:, j] * rng.standard_normal((chains, n))
            )
        else:
            init[f"eta_{p}"] = jnp.asarray(
                (th0[:, j] - mu0[j]) / om0[j] + 0.1 * rng.standard_normal((chains, n))
            )
    if chains == 1:
        init = {key: v[0] for key, v in init.items()}
    # The mass matrix stays the point estimate's: re-estimating a dense matrix of n k + 2 k
    # dimensions from a warm-up of a few hundred draws makes it worse, not better.
    mcmc = _run(
        model,
        init,
        num_warmup,
        num_samples,
        chains,
        seed,
        model_args=(arr,),
        progress=progress,
        inverse_mass_matrix=jnp.asarray(population_inverse_mass(start, om0, centred)),
        adapt_mass_matrix=False,
        find_step_size=True,
    )
    smp = {key: np.asarray(v) for key, v in mcmc.get_samples(group_by_chain=True).items()}
    theta = np.stack(
        [
            smp[f"theta_{p}"]
            if centred[j]
            else smp["mu"][:, :, None, j] + smp["omega"][:, :, None, j] * smp[f"eta_{p}"]
            for j, p in enumerate(names)
        ],
        axis=-1,
    )
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
    diag["parameterisation"] = {
        p: "centred" if c else "non-centred" for p, c in zip(names, centred)
    }
    pop = {}
    for j, p in enumerate(problem.param_names):
        t = typical[:, :, j].reshape(-1)
        o = smp["omega"][:, :, j].reshape(-1)
        q = np.quantile(t, [0.05, 0.5, 0.95])
        qo = np.quantile(o, [0.05, 0.5, 0.95])
        pop[p] = {
            "typical": float(q[1]),
            "typical_q05": float(q[0]),
            "typical_q95": float(q[2]),
            "omega": float(qo[1]),
            "omega_q05": float(qo[0]),
            "omega_q95": float(qo[2]),
            "table_typical": problem.params[j].typical,
            "table_omega": problem.params[j].prior_sd,
        }
    flat = draws.reshape(-1, n, k)
    return FitResult(
        problem=problem,
        method="nuts",
        level="population",
        theta=draws,
        mode=np.median(flat, axis=0),
        typical=typical,
        omega=smp["omega"],
        population=pop,
        diagnostics=diag,
        seconds=seconds,
        sample_stats={name: _sample_stat(extra, f) for f, name in _SAMPLE_STATS.items()},
    )


CENTRED_BELOW = 0.5
"""A parameter is sampled centred (``theta_i ~ N(mu, omega)``) when the data leave, in the
median patient, less than this share of the between-patient variance (Laplace variance of
``theta_i`` over ``omega^2``); otherwise non-centred (``theta_i = mu + omega eta_i``). Data that
pin patients down make ``eta_i`` move with ``mu`` and ``omega`` one for one, the geometry that
centring removes; weak data leave the funnel between ``omega`` and ``theta_i``, which
non-centring removes (Betancourt & Girolami 2013)."""


def centred_parameters(start, omega: np.ndarray) -> tuple[bool, ...]:
    """Which estimated parameters to sample centred (:data:`CENTRED_BELOW`)."""
    share = np.median(np.einsum("nkk->nk", start.modes.cov), axis=0) / omega**2
    return tuple(bool(x < CENTRED_BELOW) for x in share)


def population_inverse_mass(start, omega: np.ndarray, centred: tuple[bool, ...]) -> np.ndarray:
    """Inverse mass matrix of the hierarchical sampler, from the point estimate.

    The unconstrained parameters, in NumPyro's order (sites sorted by name, each flattened),
    are ``eta_<p>`` (n) for the non-centred parameters, ``mu`` (k), ``omega`` (k, as
    ``log omega``) and ``theta_<p>`` (n) for the centred ones. Their covariance is approximated
    from independent pieces ``u = (theta_1..theta_n, mu, log omega)``: patient ``i``'s Laplace
    covariance ``C_i`` and the covariances of ``mu`` and ``log omega`` from the point estimate,
    each combined with its hyperprior (the point estimate has none). A non-centred
    ``eta_i = (theta_i - mu) / omega`` maps them linearly,
    ``d eta_i = (d theta_i - d mu) / omega - eta_i d log omega``, so ``Cov(z) = A Cov(u) A'``.

    Parameters
    ----------
    start : PopulationEstimate
    omega : ndarray (k,)
        The between-patient SDs the sampler starts from.
    centred : tuple of bool (k,)
        From :func:`centred_parameters`.
    """
    n, k = start.modes.theta.shape
    names = start.problem.param_names
    eta = (start.modes.theta - start.population_theta) / omega
    d = n * k + 2 * k
    i_mu, i_om = n * k, n * k + k
    cov_u = np.zeros((d, d))
    for i in range(n):
        cov_u[i * k : (i + 1) * k, i * k : (i + 1) * k] = start.modes.cov[i]
    cov_u[i_mu:i_om, i_mu:i_om] = np.linalg.inv(
        np.linalg.inv(start.mu_cov) + np.eye(k) / HYPER_MU_SD**2
    )
    cov_u[i_om:, i_om:] = np.linalg.inv(
        np.linalg.inv(start.log_omega_cov) + np.eye(k) / HYPER_OMEGA_SD**2
    )
    sites: dict[str, int | None] = {"mu": None, "omega": None}
    sites.update(
        {f"{'theta' if c else 'eta'}_{p}": j for j, (p, c) in enumerate(zip(names, centred))}
    )
    a = np.zeros((d, d))
    o = 0
    for site in sorted(sites):
        j = sites[site]
        if j is None:  # "mu" or "omega"
            base = i_mu if site == "mu" else i_om
            a[o : o + k, base : base + k] = np.eye(k)
            o += k
            continue
        rows = np.arange(o, o + n)
        cols = np.arange(n) * k + j
        if centred[j]:
            a[rows, cols] = 1.0
        else:
            a[rows, cols] = 1.0 / omega[j]
            a[rows, i_mu + j] = -1.0 / omega[j]
            a[rows, i_om + j] = -eta[:, j]
        o += n
    out = a @ cov_u @ a.T
    return 0.5 * (out + out.T)


def _numpyro(chains: int, num_warmup: int, num_samples: int) -> tuple[Any, Any]:
    """NumPyro and its distributions module, once the sampler's sizes are checked.

    NumPyro and JAX are loaded here, on demand: they come with the optional ``jax`` extra.

    Raises
    ------
    FitError
        Without the extra (one line saying what to install), or on a size below 1.
    """

    require_jax("NUTS", ("numpyro", "arviz"))
    import numpyro
    import numpyro.distributions as dist

    _check(chains, num_warmup, num_samples)
    return numpyro, dist


def _check(chains: int, num_warmup: int, num_samples: int) -> None:
    if chains < 1:
        raise FitError(f"chains: {chains!r} must be at least 1", argument="chains")
    if num_warmup < 1 or num_samples < 1:
        raise FitError(
            f"num_warmup/num_samples: {num_warmup!r}/{num_samples!r} must be at least 1",
            argument="num_warmup" if num_warmup < 1 else "num_samples",
        )
