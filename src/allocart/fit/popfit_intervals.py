"""Intervals of a population point estimate: the linearised REML likelihood, profile-likelihood
intervals of the omegas and the Fisher-information covariances of ``mu`` and ``log(omega)``.

Used by :mod:`allocart.fit.popfit` once its EM has converged. The patients' Laplace
approximations (modes and covariances under the converged population distribution) define a
linearised model whose marginal likelihood is cheap to evaluate for any ``(mu, Omega)``
(:class:`LinearisedPopulation`); the omegas' intervals profile its restricted (REML) form
(:func:`omega_profile_intervals`), with the Wald interval on ``log(omega)`` from the Fisher
information (:func:`population_covariances`) where the profile gives none.

References
----------
Patterson HD, Thompson R. Recovery of inter-block information when block sizes are unequal.
Biometrika 1971;58:545-554.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEVEL",
    "OMEGA_CEILING",
    "OMEGA_FLOOR",
    "PROFILE_TOL",
    "LinearisedPopulation",
    "OmegaIntervals",
    "omega_profile_intervals",
    "population_covariances",
]

OMEGA_FLOOR = 0.02
"""Smallest between-patient SD on the transformed scale (2%): keeps the EM away from the
degenerate ``omega = 0`` solution, where every patient collapses onto the mean."""

LEVEL = 0.90
"""Level of the reported intervals."""


class LinearisedPopulation:
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
    lin: LinearisedPopulation,
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

    out: list[tuple[float | None, float | None, str, float]] = []
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
