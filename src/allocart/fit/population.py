"""Population point estimate: the iterative two-stage method with Laplace-approximated patients.

The fast path of a cohort fit. Each iteration finds every patient's posterior mode under the
current population distribution ``theta_i ~ N(mu, diag(omega^2))`` (a batched
Levenberg-Marquardt, :mod:`allocart.fit.optimize`), then updates

``mu = mean_i theta_i``,  ``omega_k^2 = mean_i [(theta_ik - mu_k)^2 + C_i,kk]``

where ``C_i`` is the Laplace covariance of patient ``i``; this is the EM algorithm of the
normal hierarchical model with each patient's posterior replaced by its Laplace approximation
(Steimer et al. 1984; Prague et al. 2013). A few seconds per iteration for 15 patients,
against hours for NUTS of the same hierarchical model on two CPU cores, is what earns it its
place: the simulation-estimation study (:mod:`allocart.fit.recovery`) runs it hundreds of times.

Uncertainty of ``mu``: the observed information of the Laplace-approximated marginal
likelihood, ``I = sum_i (Omega^-1 - Omega^-1 C_i Omega^-1)`` (the information each patient
carries about the population mean: ``(Omega + Sigma_i)^-1`` with ``Sigma_i`` its data-only
covariance), a Wald interval with normal quantiles as in NLME software (a Student-t quantile
on ``n - 1`` degrees of freedom over-covered in the recovery study, docs/fitting.md). Uncertainty of
``omega``: the profile likelihood of the linearised REML likelihood
(:func:`omega_profile_intervals`), which accounts for shrinkage and for the likelihood's
asymmetry; where the profile gives no interval around the estimate, the Wald interval on
``log(omega)`` from the Fisher information of the same linearised model
(:func:`population_covariances`), labelled as such (``omega_method`` of each parameter in the
results).

References
----------
Steimer JL, Mallet A, Golmard JL, Boisvieux JF. Alternative approaches to estimation of
population pharmacokinetic parameters: comparison with the nonlinear mixed-effect model.
Drug Metab Rev 1984;15:265-292.
Prague M, Commenges D, Guedj J, Drylewicz J, Thiebaut R. NIMROD: a program for inference via a
normal approximation of the posterior in models with random effects based on ordinary
differential equations. Comput Methods Programs Biomed 2013;111:447-458.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from allocart.fit.optimize import ModeResult, mode_diagnostics, posterior_modes
from allocart.fit.problem import FitProblem
from allocart.fit.residual import FitError
from allocart.fit.result import FitResult

__all__ = [
    "PopulationEstimate",
    "fit_population_its",
    "population_result",
    "population_covariances",
    "OMEGA_FLOOR",
    "LEVEL",
    "OmegaIntervals",
    "omega_profile_intervals",
]

OMEGA_FLOOR = 0.02
"""Smallest between-patient SD on the transformed scale (2%): keeps the EM away from the
degenerate ``omega = 0`` solution, where every patient collapses onto the mean."""

LEVEL = 0.90
"""Level of the reported intervals."""


@dataclass(frozen=True, eq=False)
class PopulationEstimate:
    """Result of :func:`fit_population_its`.

    Attributes
    ----------
    population_theta : ndarray (k,)
        Estimated ``mu`` (transformed scale).
    mu_cov : ndarray (k, k)
        Its covariance.
    omega_hat : ndarray (k,)
    modes : ModeResult
        Patients' posterior modes under the estimated population distribution.
    iterations : int
    converged : bool
    seconds : float
    """

    problem: FitProblem
    population_theta: np.ndarray
    mu_cov: np.ndarray
    omega_hat: np.ndarray
    modes: ModeResult
    iterations: int
    converged: bool
    seconds: float
    log_omega_cov: np.ndarray
    omega_interval: OmegaIntervals

    def intervals(self, level: float = LEVEL) -> dict[str, dict[str, float]]:
        """Estimates and ``level`` intervals of typical values and omegas, natural units."""
        from scipy import stats

        zq = stats.norm.ppf(0.5 + level / 2)
        se = np.sqrt(np.diag(self.mu_cov))
        lo, hi = self.population_theta - zq * se, self.population_theta + zq * se
        nat = self.problem.to_natural
        se_log_om = np.sqrt(np.diag(self.log_omega_cov))
        out = {}
        for j, p in enumerate(self.problem.params):
            om = self.omega_hat[j]
            wald = float(om * np.exp(-zq * se_log_om[j])), float(om * np.exp(zq * se_log_om[j]))
            # The profile intervals are computed at LEVEL; another level gets the Wald interval.
            oi = self.omega_interval
            if level == LEVEL:
                lo_j, hi_j = float(oi.lo[j]), float(oi.hi[j])
                how, note = oi.method[j], oi.note[j]
            else:
                lo_j, hi_j, how, note = (
                    wald[0],
                    wald[1],
                    "wald",
                    f"level {level:g}: Wald on log omega",
                )
            out[p.name] = {
                "typical": float(nat(self.population_theta)[j]),
                "typical_lo": float(nat(lo)[j]),
                "typical_hi": float(nat(hi)[j]),
                "se_transformed": float(se[j]),
                "omega": float(om),
                "omega_lo": lo_j,
                "omega_hi": hi_j,
                "omega_method": how,
                "omega_note": note,
                "se_log_omega": float(se_log_om[j]),
                "omega_wald_lo": wald[0],
                "omega_wald_hi": wald[1],
                "table_typical": p.typical,
                "table_omega": p.prior_sd,
            }
        return out


def fit_population_its(
    problem: FitProblem,
    *,
    max_iter: int = 60,
    tol: float = 2e-3,
    omega_tol: float = 1e-2,
    rtol: float = 1e-6,
    init_mu: np.ndarray | None = None,
    init_omega: np.ndarray | None = None,
    backend: str = "sensitivity",
) -> PopulationEstimate:
    """Population typical values and variabilities by the iterative two-stage method.

    Starts from the table's population (typical values and IIV) unless ``init_mu`` (transformed
    scale) and ``init_omega`` are given. The EM map is accelerated by SQUAREM (two EM steps, a
    squared extrapolation, one stabilising EM step; Varadhan & Roland 2008), which matters for
    weakly identified parameters, where plain EM moves ``omega`` very slowly. Stops when an
    EM step moves ``mu`` by less than ``tol`` and ``log(omega)`` by less than ``omega_tol``,
    after at most ``max_iter`` EM steps. Inner mode searches are warm-started and capped at 10
    iterations; the final one runs to convergence.

    Raises
    ------
    FitError
        With fewer than two patients.

    References
    ----------
    Varadhan R, Roland C. Simple and globally convergent methods for accelerating the
    convergence of any EM algorithm. Scand J Stat 2008;35:335-353.
    """
    if problem.n < 2:
        raise FitError(
            "a population fit needs at least 2 patients; fit one patient with --level individual"
        )
    t_start = time.perf_counter()
    n, k = problem.n, problem.k
    mu0 = problem.prior_mean.copy() if init_mu is None else np.asarray(init_mu, dtype=float).copy()
    om0 = (
        problem.prior_sd.copy()
        if init_omega is None
        else np.asarray(init_omega, dtype=float).copy()
    )
    state = {"theta": np.tile(mu0, (n, 1)), "evals": 0}
    log_floor = np.log(OMEGA_FLOOR)

    def em(x: np.ndarray) -> np.ndarray:
        mu, omega = x[:k], np.exp(x[k:])
        modes = posterior_modes(
            problem, mu, omega, init=state["theta"], rtol=rtol, max_iter=10, backend=backend
        )
        theta = modes.theta
        state["theta"] = theta
        state["evals"] += 1
        mu_new = theta.mean(axis=0)
        var = ((theta - mu_new) ** 2 + np.einsum("nkk->nk", modes.cov)).mean(axis=0)
        return np.concatenate([mu_new, 0.5 * np.log(np.maximum(var, OMEGA_FLOOR**2))])

    def small(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(
            np.max(np.abs(a[:k] - b[:k])) < tol and np.max(np.abs(a[k:] - b[k:])) < omega_tol
        )

    x = np.concatenate([mu0, np.log(om0)])
    converged = False
    while state["evals"] < max_iter:
        x1 = em(x)
        if small(x1, x):
            x, converged = x1, True
            break
        x2 = em(x1)
        if small(x2, x1):
            x, converged = x2, True
            break
        r, v = x1 - x, x2 - 2 * x1 + x
        nv = np.linalg.norm(v)
        alpha = -np.linalg.norm(r) / nv if nv > 0 else -1.0
        alpha = min(alpha, -1.0)
        xe = x - 2 * alpha * r + alpha * alpha * v
        xe[k:] = np.maximum(xe[k:], log_floor)
        if not np.all(np.isfinite(xe)) or np.max(np.abs(xe - x2)) > 2.0:
            xe = x2  # a wild extrapolation (or none): continue with plain EM
        x3 = em(xe)
        if small(x3, xe):
            x, converged = x3, True
            break
        x = x3
    mu, omega = x[:k], np.exp(x[k:])
    # The EM fixed point is the maximum-likelihood variance, which divides by n where mu was
    # estimated from the same patients; the small-sample (REML-type) factor n / (n - 1)
    # removes that bias (-3.4% on omega for 15 patients).
    omega = omega * np.sqrt(n / (n - 1))
    theta = state["theta"]
    it = state["evals"]
    # Final modes and Laplace covariances under the converged population distribution.
    modes = posterior_modes(problem, mu, omega, init=theta, rtol=rtol, backend=backend)
    mu_cov, log_omega_cov = population_covariances(omega, modes.cov)
    lin = _LinearisedPopulation(mu, omega, modes.theta, modes.cov)
    om_int = omega_profile_intervals(lin, omega, wald_se=np.sqrt(np.diag(log_omega_cov)))
    return PopulationEstimate(
        problem=problem,
        population_theta=mu,
        mu_cov=mu_cov,
        omega_hat=omega,
        modes=modes,
        iterations=it,
        converged=converged,
        seconds=time.perf_counter() - t_start,
        log_omega_cov=log_omega_cov,
        omega_interval=om_int,
    )


class _LinearisedPopulation:
    """The population likelihood of the linearised model, from the patients' modes.

    Patient ``i``'s Laplace approximation under ``N(mu0, Omega0)`` (mode ``theta_i``,
    covariance ``C_i``) splits into the prior and the data's information
    ``P_i = C_i^-1 - Omega0^-1`` with score ``b_i = C_i^-1 theta_i - Omega0^-1 mu0`` (the data
    alone say ``theta_i ~ N(x_i, P_i^-1)`` with ``P_i x_i = b_i``). Under any ``(mu, Omega)``
    the patient's marginal log-likelihood is then, up to a constant,

    ``-1/2 logdet(I + P Omega) + 1/2 b' (Omega^-1 + P)^-1 b + mu' M x - 1/2 mu' M mu``

    with ``M = (I + P Omega)^-1 P``, all defined when ``P`` is singular (a patient whose data
    say nothing about a parameter). Since ``b' (Omega^-1 + P)^-1 b = x' P x - x' M x``, this is

    ``-1/2 logdet(I + P Omega) - 1/2 (x - mu)' M (x - mu)``

    plus the constant ``1/2 x' P x``, which is what :meth:`reml` computes, with ``x = P^+ b``
    (the pseudo-inverse; ``M`` vanishes where ``P`` does). The first form adds and subtracts
    that constant, which is of the order of the data's information (5e5 on the shipped
    example): its rounding (1e-10) made finite-difference gradients of the likelihood wrong by
    1e-2, and the optimiser stopped short of the maximum. The restricted (REML) likelihood of
    ``Omega`` profiles ``mu`` out and adds ``-1/2 logdet(sum_i M_i)`` (Patterson & Thompson
    1971), the small-sample treatment that the factor ``n / (n - 1)`` on the omega estimate
    mirrors.
    """

    def __init__(
        self, mu0: np.ndarray, omega0: np.ndarray, theta: np.ndarray, cov: np.ndarray
    ) -> None:
        inv_c = np.linalg.inv(cov)
        o_inv = 1.0 / omega0**2
        p = inv_c - np.diag(o_inv)
        p = 0.5 * (p + np.swapaxes(p, 1, 2))
        w, v = np.linalg.eigh(p)
        w = np.maximum(w, 0.0)
        self.p = np.einsum("nij,nj,nkj->nik", v, w, v)  # PSD in exact arithmetic
        self.b = np.einsum("nij,nj->ni", inv_c, theta) - o_inv * mu0
        keep = w > 1e-12 * np.maximum(w.max(axis=1, keepdims=True), 1e-300)
        w_inv = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
        self.x = np.einsum("nij,nj,nkj,nk->ni", v, w_inv, v, self.b)  # data-only estimates P^+ b
        self.k = theta.shape[1]

    def reml(self, log_omega: np.ndarray) -> float:
        """Restricted log-likelihood of ``Omega = diag(exp(2 log_omega))`` (up to a constant)."""
        k = self.k
        om2 = np.exp(2.0 * np.asarray(log_omega, dtype=float))
        eye = np.eye(k)
        a = eye + self.p * om2[None, None, :]  # I + P Omega
        m = np.linalg.solve(a, self.p)
        m = 0.5 * (m + np.swapaxes(m, 1, 2))
        s = m.sum(axis=0) + 1e-12 * eye
        mu = np.linalg.solve(s, np.einsum("nij,nj->i", m, self.x))
        r = self.x - mu
        ll = -0.5 * np.linalg.slogdet(a)[1].sum() - 0.5 * np.einsum("ni,nij,nj->", r, m, r)
        return float(ll - 0.5 * np.linalg.slogdet(s)[1])


OMEGA_CEILING = 5.0
"""Largest omega searched by the profile (log-scale SD 5, a factor of 150), raised to three
times the estimate where that is larger, so the estimate is always inside the search range."""

PROFILE_TOL = 1e-3
"""Deviance below ``-PROFILE_TOL`` anywhere on a profile means the maximum was not the maximum:
the search restarts from the better point."""


@dataclass(frozen=True)
class OmegaIntervals:
    """Intervals of the omegas, and how each was obtained.

    Attributes
    ----------
    lo, hi : ndarray (k,)
    method : tuple of str
        Per parameter: ``"profile"`` (profile likelihood of the linearised REML likelihood)
        or ``"wald"`` (the Wald interval on ``log omega`` from the curvature, used when the
        profile gave no interval around the estimate).
    note : tuple of str
        Per parameter, why a Wald interval was used or where a profile end stopped at the
        search range ("" when nothing to say).
    restarts : int
        Times the profile found a higher likelihood than the maximum and started again.
    centre_deviance : ndarray (k,)
        Profile deviance at the maximum (0 up to the optimiser's tolerance).
    """

    lo: np.ndarray
    hi: np.ndarray
    method: tuple[str, ...]
    note: tuple[str, ...]
    restarts: int = 0
    centre_deviance: np.ndarray | None = None


class _BetterMaximum(Exception):
    """The profile found a point with a higher likelihood than the maximum."""

    def __init__(self, x: np.ndarray) -> None:
        super().__init__("better maximum")
        self.x = x


def _observed_log_omega_se(neg, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Standard errors of ``log omega`` from the observed curvature of ``neg`` at ``x``
    (central differences); NaN where the curvature is not positive definite."""
    k = x.size
    hess = np.empty((k, k))
    f0 = neg(x)
    e = np.eye(k) * h
    for i in range(k):
        for j in range(i, k):
            if i == j:
                hess[i, i] = (neg(x + e[i]) - 2 * f0 + neg(x - e[i])) / h**2
            else:
                hess[i, j] = hess[j, i] = (
                    neg(x + e[i] + e[j])
                    - neg(x + e[i] - e[j])
                    - neg(x - e[i] + e[j])
                    + neg(x - e[i] - e[j])
                ) / (4 * h * h)
    try:
        w = np.linalg.eigvalsh(hess)
        if not (np.all(np.isfinite(hess)) and w.min() > 0):
            return np.full(k, np.nan)
        return np.sqrt(np.diag(np.linalg.inv(hess)))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)


def omega_profile_intervals(
    lin: _LinearisedPopulation,
    omega: np.ndarray,
    level: float = LEVEL,
    floor: float = OMEGA_FLOOR,
    ceiling: float = OMEGA_CEILING,
    wald_se: np.ndarray | None = None,
    max_restarts: int = 3,
) -> OmegaIntervals:
    """Profile-likelihood intervals of each omega under the linearised REML likelihood.

    ``{omega_k : 2 (l_max - l_profile(omega_k)) <= chi2_1(level)}``, the other omegas maximised
    for every value of ``omega_k``; an end that the deviance does not reach inside
    ``[floor, ceiling]`` is that bound (noted). Unlike a Wald interval on ``log(omega)``, it
    follows the likelihood's asymmetry, which is large for weakly identified parameters whose
    omega the data barely constrain from above or below.

    How it stays reliable: every inner maximisation starts from the maximum's other omegas (a
    cold start) and from the previous point of the same profile, and keeps the better, so the
    deviance at the maximum is 0 and a profile cannot be stranded in a poorer local maximum
    that an earlier point led it into (which gave a deviance of 4.4 at the maximum and no sign
    change for the root search). If a profile finds a higher likelihood than the maximum, the
    maximum is searched again from there and all profiles start over (``max_restarts`` times
    at most). Where no interval around the estimate comes out (no sign change, a non-finite
    likelihood, the estimate ``omega`` outside the profile interval, restarts exhausted), the
    parameter gets the Wald interval ``omega * exp(+-z se)`` on ``log omega``, with ``se``
    from ``wald_se`` (the Fisher information, :func:`population_covariances`) or else from the
    observed curvature of the REML likelihood, and is labelled ``"wald"``. This function does
    not raise on numerical trouble.

    Returns
    -------
    OmegaIntervals
    """
    from scipy import optimize, stats

    k = lin.k
    omega = np.asarray(omega, dtype=float)
    lo_b = np.log(floor)
    hi_b = np.log(np.maximum(ceiling, 3.0 * np.where(np.isfinite(omega), omega, ceiling)))
    bounds = [(lo_b, float(h)) for h in hi_b]
    crit = stats.chi2.ppf(level, 1)
    zq = stats.norm.ppf(0.5 + level / 2)

    def neg(x):
        v = -lin.reml(x)
        return v if np.isfinite(v) else np.inf

    def maximise(start):
        with np.errstate(all="ignore"):
            r = optimize.minimize(neg, np.clip(start, lo_b, hi_b), method="L-BFGS-B", bounds=bounds)
        return r.x, float(r.fun)

    def wald(j, reason):
        se = np.nan
        if wald_se is not None and np.isfinite(wald_se[j]) and wald_se[j] > 0:
            se, src = float(wald_se[j]), "Fisher information"
        else:
            se_obs = (
                _observed_log_omega_se(neg, x_max) if np.isfinite(l_max) else np.full(k, np.nan)
            )
            se, src = float(se_obs[j]), "observed curvature"
        if not np.isfinite(se):
            return (
                floor,
                float(np.exp(hi_b[j])),
                f"{reason}; no curvature either: the search range [floor, ceiling]",
            )
        return (
            float(omega[j] * np.exp(-zq * se)),
            float(omega[j] * np.exp(zq * se)),
            f"{reason}; Wald on log omega ({src}, se {se:.3g})",
        )

    try:
        x_max, f_max = maximise(np.log(np.where(np.isfinite(omega) & (omega > 0), omega, 1.0)))
    except Exception:  # noqa: BLE001 - a failed maximisation leaves the Wald intervals
        x_max, f_max = np.clip(np.log(omega), lo_b, hi_b), np.inf
    l_max = -f_max
    restarts = 0
    while True:
        try:
            out = _profiles(neg, x_max, l_max, k, bounds, lo_b, hi_b, crit)
            break
        except _BetterMaximum as better:
            if restarts >= max_restarts:
                out = None
                break
            restarts += 1
            x_max, f_max = maximise(better.x)
            l_max = -f_max
    lo, hi = np.empty(k), np.empty(k)
    method, note = [], []
    centre = np.full(k, np.nan)
    for j in range(k):
        if out is None:
            lo[j], hi[j], why = wald(
                j, f"profile restarted {restarts} times and still found higher likelihoods"
            )
            method.append("wald")
            note.append(why)
            continue
        lo_j, hi_j, why, d0 = out[j]
        centre[j] = d0
        if lo_j is None or not (lo_j <= omega[j] <= hi_j):
            if lo_j is not None:
                why = (
                    f"the estimate {omega[j]:.3g} lies outside the profile interval [{lo_j:.3g}, {hi_j:.3g}] "
                    + (f"({why})" if why else f"(REML maximum {np.exp(x_max[j]):.3g})")
                )
            lo[j], hi[j], why = wald(j, why)
            method.append("wald")
        else:
            lo[j], hi[j] = lo_j, hi_j
            method.append("profile")
        note.append(why)
    return OmegaIntervals(
        lo=lo,
        hi=hi,
        method=tuple(method),
        note=tuple(note),
        restarts=restarts,
        centre_deviance=centre,
    )


def _profiles(neg, x_max, l_max, k, bounds, lo_b, hi_b, crit):
    """Profile intervals of every omega around ``x_max`` (:func:`omega_profile_intervals`).

    Returns, per parameter, ``(lo, hi, note, deviance at the maximum)``, with ``lo = None`` where
    no profile interval came out (``note`` says why). Raises :class:`_BetterMaximum`.
    """
    from scipy import optimize

    out = []
    if not np.isfinite(l_max):
        return [(None, None, "the REML likelihood is not finite at its maximum", np.nan)] * k
    for j in range(k):
        others = [i for i in range(k) if i != j]
        ob = [bounds[i] for i in others]
        warm = {"x": x_max[others].copy()}

        def deviance(a, j=j, others=others, ob=ob, warm=warm):
            def f(y):
                x = np.empty(k)
                x[j] = a
                x[others] = y
                return neg(x)

            if not others:
                best_y, best_f = np.empty(0), f(np.empty(0))
            else:
                best_y, best_f = None, np.inf
                starts = [x_max[others]]
                if not np.allclose(warm["x"], x_max[others]):
                    starts.append(warm["x"])
                for y0 in starts:
                    with np.errstate(all="ignore"):
                        r = optimize.minimize(f, y0, method="L-BFGS-B", bounds=ob)
                    if r.fun < best_f:
                        best_y, best_f = r.x, float(r.fun)
                if best_y is None:
                    return np.inf
                warm["x"] = best_y
            d = 2.0 * (l_max + best_f)
            if d < -PROFILE_TOL:
                x = np.empty(k)
                x[j] = a
                x[others] = best_y
                raise _BetterMaximum(x)
            return d

        centre = float(x_max[j])
        d0 = deviance(centre)
        if not np.isfinite(d0) or d0 >= crit:
            out.append((None, None, f"the profile deviance at the maximum is {d0:.3g}", d0))
            continue
        ends, notes = [], []
        for bound, side in ((lo_b, "lower"), (float(hi_b[j]), "upper")):
            warm["x"] = x_max[others].copy()
            if bound == centre:
                ends.append(bound)
                notes.append(
                    f"the REML maximum is at the search {'floor' if side == 'lower' else 'ceiling'} "
                    f"{np.exp(bound):.3g}: the data do not bound omega {'below' if side == 'lower' else 'above'}"
                )
                continue
            g_b = deviance(bound) - crit
            if not np.isfinite(g_b):
                ends.append(None)
                notes.append(f"the profile is not finite at the {side} search bound")
                break
            if g_b <= 0:
                ends.append(bound)
                notes.append(
                    f"{side} end at the search {'floor' if side == 'lower' else 'ceiling'} "
                    f"{np.exp(bound):.3g}: the data do not bound omega {'below' if side == 'lower' else 'above'}"
                )
                continue
            warm["x"] = x_max[others].copy()
            a, b = (bound, centre) if side == "lower" else (centre, bound)
            try:
                ends.append(optimize.brentq(lambda t: deviance(t) - crit, a, b, xtol=1e-3))
            except (
                ValueError,
                RuntimeError,
            ) as exc:  # no sign change after all (the deviance is not monotone)
                ends.append(None)
                notes.append(f"no bracket for the {side} end ({exc})")
                break
        if len(ends) < 2 or any(e is None for e in ends):
            out.append((None, None, "; ".join(notes), d0))
        else:
            out.append((float(np.exp(ends[0])), float(np.exp(ends[1])), "; ".join(notes), d0))
    return out


def _pinv_psd(a: np.ndarray) -> np.ndarray:
    # The information matrices are positive semi-definite in exact arithmetic.
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v / np.maximum(w, 1e-12)) @ v.T


def population_covariances(
    omega: np.ndarray, patient_cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Covariances of ``mu`` and of ``log(omega)`` from the patients' Laplace covariances.

    In the linearised model each patient's data carry the information
    ``M_i = Omega^-1 - Omega^-1 C_i Omega^-1`` about the population (``= F_i' V_i^-1 F_i``
    with ``V_i`` the marginal covariance of the patient's data). The Fisher information is
    ``sum_i M_i`` for ``mu`` and ``1/2 sum_i (M_i)_kl^2`` for the variances ``omega_k^2``
    (the mean and variance blocks are orthogonal in a normal model), i.e.
    ``2 omega_k^2 omega_l^2 sum_i (M_i)_kl^2`` for ``log omega``. A patient whose data say
    little about a parameter (``C_i`` close to ``Omega``) adds little information about its
    omega, which a chi-square interval on ``n - 1`` degrees of freedom ignores; for fully
    informative data (``C_i = 0``) both give ``var(log omega) = 1 / (2n)``.

    Parameters
    ----------
    omega : ndarray (k,)
    patient_cov : ndarray (n, k, k)
        Laplace covariances ``C_i`` of the patients under ``N(mu, diag(omega^2))``.
    """
    inv_om = np.diag(1.0 / omega**2)
    m = np.stack([inv_om - inv_om @ c @ inv_om for c in patient_cov])
    mu_cov = _pinv_psd(m.sum(axis=0))
    info_log = 2.0 * np.outer(omega**2, omega**2) * (m**2).sum(axis=0)
    return mu_cov, _pinv_psd(info_log)


def population_result(est: PopulationEstimate, *, draws: int = 400, seed: int = 0) -> FitResult:
    """A :class:`FitResult` of the point-estimate path.

    Patients' draws come from their Laplace approximations (normal on the transformed scale
    around the mode); typical values from the normal approximation of ``mu``.
    """
    pb = est.problem
    rng = np.random.default_rng(seed)
    n, k = pb.n, pb.k
    theta = np.empty((1, draws, n, k))
    for i in range(n):
        L = np.linalg.cholesky(est.modes.cov[i] + 1e-14 * np.eye(k))
        theta[0, :, i, :] = est.modes.theta[i] + rng.standard_normal((draws, k)) @ L.T
    Lm = np.linalg.cholesky(est.mu_cov + 1e-14 * np.eye(k))
    mu = est.population_theta + rng.standard_normal((draws, k)) @ Lm.T
    eta = est.modes.theta - est.population_theta
    eta_shrink = 1.0 - eta.std(axis=0, ddof=1) / est.omega_hat if n > 1 else np.full(k, np.nan)
    oi = est.omega_interval
    diag = {
        "sampler": "none (iterative two-stage point estimate, Laplace approximations)",
        "iterations": est.iterations,
        "converged": bool(est.converged) and bool(est.modes.converged.all()),
        "population_converged": bool(est.converged),
        "patients_converged": int(est.modes.converged.sum()),
        "patients_not_converged": [pb.ids[i] for i in np.flatnonzero(~est.modes.converged)],
        "seconds": est.seconds,
        "per_patient": mode_diagnostics(pb, est.modes, est.omega_hat),
        "eta_shrinkage": {p: float(eta_shrink[j]) for j, p in enumerate(pb.param_names)},
        "omega_interval_methods": {p: oi.method[j] for j, p in enumerate(pb.param_names)},
        "omega_profile_restarts": int(oi.restarts),
    }
    return FitResult(
        problem=pb,
        method="its",
        level="population",
        theta=pb.to_natural(theta),
        mode=pb.to_natural(est.modes.theta),
        typical=pb.to_natural(mu)[None],
        omega=np.broadcast_to(est.omega_hat, (1, draws, k)).copy(),
        population=est.intervals(),
        diagnostics=diag,
        seconds=est.seconds,
    )
