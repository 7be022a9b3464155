"""Continual reassessment method (CRM), the model-based comparator.

One-parameter power ("empiric") model :math:`p_d(a) = s_d^{\\exp(a)}` with skeleton :math:`s` and
prior :math:`a \\sim N(0, \\sigma^2)`, :math:`\\sigma^2 = 1.34` (the ``dfcrm`` default). The
posterior mean of each :math:`p_d` and the tail probability :math:`\\Pr(p_d > \\phi)` are integrals
over ``a``. Since :math:`p_d(a) > \\phi \\iff a < a^*_d = \\log(\\log\\phi / \\log s_d)`, the tail is
the posterior mass left of the analytic cut point :math:`a^*_d`; the integrals are split at every
cut point and taken by composite Gauss-Legendre quadrature on pieces where the integrand is
analytic, so they converge geometrically instead of at the O(h) rate of a step function summed on a
grid (see :func:`_posterior` for the error bound). The next
cohort goes to the dose whose posterior mean DLT probability is closest to the target, without
skipping an untried dose; the trial stops when :math:`\\Pr(p_1 > \\phi) > ` ``stop_cutoff``. The
default skeleton is the indifference-interval skeleton of Lee & Cheung (2009) with half-width 0.05
centred on the middle dose.

References
----------
O'Quigley J., Pepe M. and Fisher L. (1990). Continual reassessment method: a practical design for
phase 1 clinical trials in cancer. *Biometrics* 46:33-48. doi:10.2307/2531628

Lee S.M. and Cheung Y.K. (2009). Model calibration in the continual reassessment method.
*Clinical Trials* 6:227-238. doi:10.1177/1740774509105076
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import (
    AbstractDesign,
    Action,
    DoseData,
    Recommendation,
    check_int,
    check_probabilities,
    check_probability,
    kernel_outputs,
    treat_cohort,
)
from allocart.errors import DesignError

__all__ = ["CRM", "indifference_skeleton"]

#: Posterior integration (see :func:`_posterior`): the integral over ``a`` is taken on
#: ``[lo, hi]`` around the posterior mode, split into ``_PANELS`` equal panels and at every cut point
#: :math:`a^*_d`, with ``_GL_NODES``-point Gauss-Legendre on each piece. ``[lo, hi]`` starts at
#: ``_HALF_WIDTH_SD`` Laplace SDs either side of the mode and is widened until the mass left
#: outside, bounded through the log-concavity of the posterior, is below ``_TRUNCATION_TOL`` of
#: the total.
_PANELS = 8
_GL_NODES = 16
_HALF_WIDTH_SD = 10.0
_TRUNCATION_TOL = 1e-12
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)


def indifference_skeleton(
    target: float, n_doses: int, halfwidth: float = 0.05, nu: int | None = None
) -> tuple[float, ...]:
    """Skeleton of Lee & Cheung (2009) for the power model (``dfcrm::getprior``, empiric)."""
    nu = (n_doses + 1) // 2 if nu is None else nu
    s = np.empty(n_doses)
    s[nu - 1] = target
    for i in range(nu, n_doses):
        s[i] = math.exp(
            math.log(target + halfwidth) * math.log(s[i - 1]) / math.log(target - halfwidth)
        )
    for i in range(nu - 2, -1, -1):
        s[i] = math.exp(
            math.log(target - halfwidth) * math.log(s[i + 1]) / math.log(target + halfwidth)
        )
    return tuple(float(x) for x in s)


@dataclasses.dataclass(frozen=True)
class CRM(AbstractDesign):
    """Bayesian CRM with the power model.

    Parameters
    ----------
    target : float
        Target DLT probability.
    skeleton : sequence of float, optional
        Prior guesses of the DLT probabilities, increasing, in (0, 1); default
        :func:`indifference_skeleton` for the number of doses of the scenario.
    prior_sd : float
        Prior SD of ``a`` (default sqrt(1.34)).
    cohort_size, n_cohorts, start_dose
        Trial size and start.
    stop_cutoff : float
        Stop for safety when Pr(p_1 > target) exceeds it (default 0.9).
    """

    target: float
    skeleton: tuple[float, ...] = ()
    prior_sd: float = math.sqrt(1.34)
    cohort_size: int = 3
    n_cohorts: int = 10
    start_dose: int = 0
    stop_cutoff: float = 0.9

    name = "crm"

    def __post_init__(self) -> None:
        self._check_fields(check_probability, ("target",), open_interval=True)
        if len(self.skeleton):
            sk = check_probabilities("skeleton", self.skeleton)
            if np.any(sk <= 0) or np.any(sk >= 1) or np.any(np.diff(sk) <= 0):
                raise DesignError(
                    f"`skeleton` must increase strictly within (0, 1), got {list(map(float, sk))}."
                )
            object.__setattr__(self, "skeleton", tuple(map(float, sk)))
        if not (isinstance(self.prior_sd, (int, float)) and self.prior_sd > 0):
            raise DesignError(f"`prior_sd` must be positive, got {self.prior_sd!r}.")
        self._check_fields(check_int, ("cohort_size", "n_cohorts"), minimum=1)
        self._check_fields(check_int, ("start_dose",), minimum=0)
        self._check_fields(check_probability, ("stop_cutoff",), open_interval=True)

    def max_patients(self, n_doses: int) -> int:
        return self.n_cohorts * self.cohort_size

    def skeleton_for(self, n_doses: int) -> NDArray[np.float64]:
        """The skeleton used with ``n_doses`` doses."""
        if self.skeleton:
            if len(self.skeleton) != n_doses:
                raise DesignError(
                    f"`skeleton` has {len(self.skeleton)} doses but the data have {n_doses}."
                )
            return np.asarray(self.skeleton)
        return np.asarray(indifference_skeleton(self.target, n_doses))

    def cut_points(self, n_doses: int) -> NDArray[np.float64]:
        """Values :math:`a^*_d = \\log(\\log\\phi / \\log s_d)` where :math:`p_d(a) = \\phi`.

        :math:`p_d(a) > \\phi` exactly when :math:`a < a^*_d` (power model, :math:`0 < s_d < 1`).
        """
        return np.log(math.log(self.target) / np.log(self.skeleton_for(n_doses)))

    def posterior(self, treated: ArrayLike, dlts: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Posterior mean DLT probability per dose and :math:`\\Pr(p_d > \\phi)`.

        Parameters
        ----------
        treated, dlts : array of int, shape (n_doses,)
            Patients with complete DLT data and DLTs, per dose.

        Returns
        -------
        dict
            ``mean`` and ``prob_above`` arrays of shape (n_doses,), and ``truncation_bound``
            (shape ``()``), a bound on the posterior mass outside the integration range, which
            bounds the error of ``prob_above`` from truncation (the quadrature error of the pieces
            comes on top; see :func:`_posterior`).
        """
        n = np.asarray(treated, dtype=float)
        y = np.asarray(dlts, dtype=float)
        sk = self.skeleton_for(n.size)
        mean, above, bound = _posterior(
            np.log(sk), self.cut_points(n.size), n, y, 1.0 / self.prior_sd**2, _GL_X, _GL_W
        )
        return {"mean": mean, "prob_above": above, "truncation_bound": np.asarray(bound)}

    def select(self, data: DoseData) -> int | None:
        """Dose selected at the end of the trial (0-based), as the simulator selects it.

        ``None`` when :math:`\\Pr(p_1 > \\phi) >` ``stop_cutoff``; otherwise the dose whose
        posterior mean DLT probability is closest to the target (untried doses included).
        """
        n = np.asarray(data.treated) - np.asarray(data.pending)
        post = self.posterior(n, data.dlts)
        if post["prob_above"][0] > self.stop_cutoff:
            return None
        return int(np.argmin(np.abs(post["mean"] - self.target)))

    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        d = self._check_current(data, current_dose)
        n = np.asarray(data.treated) - np.asarray(data.pending)
        post = self.posterior(n, data.dlts)
        if post["prob_above"][0] > self.stop_cutoff:
            return Recommendation(
                Action.STOP,
                None,
                tuple(range(n.size)),
                "Pr(p_1 > target) exceeds the stopping cut-off.",
            )
        tried = np.nonzero(np.asarray(data.treated) > 0)[0]
        highest = int(tried.max()) if tried.size else d
        best = int(np.argmin(np.abs(post["mean"] - self.target)))
        nxt = min(best, highest + 1)
        means = ", ".join(f"{m:.3f}" for m in post["mean"])
        action = Action.ESCALATE if nxt > d else Action.DEESCALATE if nxt < d else Action.STAY
        return Recommendation(action, nxt, (), f"Posterior mean DLT probabilities: {means}.")


@numba.njit(cache=True)
def _log_post(
    a: float, logsk: np.ndarray, n: np.ndarray, y: np.ndarray, inv_var: float
) -> tuple[float, float, float]:  # pragma: no cover - jitted
    """Unnormalised log posterior of ``a`` and its first two derivatives.

    With :math:`u_d = -e^a \\log s_d > 0`, the log-likelihood of dose ``d`` is
    :math:`-y_d u_d + (n_d - y_d)\\log(1 - e^{-u_d})`; both terms are concave in ``a``, so the
    posterior is log-concave (second derivative at most :math:`-1/\\sigma^2`).
    """
    e = math.exp(a)
    h = -0.5 * a * a * inv_var
    h1 = -a * inv_var
    h2 = -inv_var
    for d in range(logsk.size):
        if n[d] <= 0:
            continue
        u = -e * logsk[d]
        h -= y[d] * u
        h1 -= y[d] * u
        h2 -= y[d] * u
        m = n[d] - y[d]
        if m > 0:
            q = math.exp(-u)
            omq = -math.expm1(-u)
            h += m * math.log(omq)
            h1 += m * u * q / omq
            h2 += m * u * q * (omq - u) / (omq * omq)
    return h, h1, h2


@numba.njit(cache=True)
def _posterior_mode(
    logsk: np.ndarray, n: np.ndarray, y: np.ndarray, inv_var: float
) -> tuple[float, float, float]:  # pragma: no cover - jitted
    """Mode of the log-concave posterior of ``a`` (safeguarded Newton), with the log posterior
    and its second derivative there."""
    a = 0.0
    lo = -np.inf
    hi = np.inf
    for _ in range(200):
        h, h1, h2 = _log_post(a, logsk, n, y, inv_var)
        if h1 > 0:
            lo = a
        else:
            hi = a
        step = min(max(-h1 / h2, -1.0), 1.0)
        if abs(step) < 1e-12:
            break
        nxt = a + step
        if not lo < nxt < hi:
            # Newton left the bracket of the root of h1 (decreasing): bisect it.
            nxt = 0.5 * (lo + hi)
        a = nxt
    h, h1, h2 = _log_post(a, logsk, n, y, inv_var)
    return a, h, h2


@numba.njit(cache=True)
def _posterior(
    logsk: np.ndarray,
    cuts: np.ndarray,
    n: np.ndarray,
    y: np.ndarray,
    inv_var: float,
    gx: np.ndarray,
    gw: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:  # pragma: no cover - jitted
    """Posterior means of :math:`p_d`, :math:`\\Pr(p_d > \\phi)` and the truncation bound.

    The range ``[lo, hi]`` around the mode ``m`` is split into ``_PANELS`` equal panels and at the
    cut points ``cuts`` (:math:`a^*_d`, where :math:`p_d = \\phi`) that fall inside it; each piece
    gets Gauss-Legendre nodes ``gx`` and weights ``gw`` on [-1, 1]. No piece contains a cut point,
    so :math:`\\Pr(p_d > \\phi)` is the sum of the whole pieces left of :math:`a^*_d` and every
    integrand is analytic on its piece.

    Error bound. Truncation: for a log-concave density ``f`` and ``b > m``, the tangent of
    :math:`\\log f` at ``b`` bounds :math:`\\int_b^\\infty f \\le f(b)/|(\\log f)'(b)|` (likewise
    left of ``lo``); the range is widened until these two bounds add up to at most
    ``_TRUNCATION_TOL`` of the integral, and their sum relative to the integral is returned.
    Quadrature: a 16-point rule on panels of at most 2.5 Laplace SDs integrates the smooth
    pieces to about machine precision (measured below 1e-12 against adaptive quadrature in the
    tests); the error of ``prob_above`` is at most the truncation bound plus that.
    """
    k = logsk.size
    m, hm, h2m = _posterior_mode(logsk, n, y, inv_var)
    s = 1.0 / math.sqrt(-h2m)
    wl = _HALF_WIDTH_SD * s
    wr = _HALF_WIDTH_SD * s
    ng = gx.size
    mean = np.zeros(k)
    above = np.zeros(k)
    edges = np.empty(_PANELS + 1 + k)
    p = np.empty(k)
    bound = 0.0
    for _ in range(60):
        lo = m - wl
        hi = m + wr
        hl, h1l, _ = _log_post(lo, logsk, n, y, inv_var)
        hr, h1r, _ = _log_post(hi, logsk, n, y, inv_var)
        # Tangent bounds on the mass outside [lo, hi], in units of exp(hm).
        bl = math.exp(hl - hm) / h1l
        br = math.exp(hr - hm) / -h1r
        ne = 0
        for i in range(_PANELS + 1):
            edges[ne] = lo + (hi - lo) * i / _PANELS
            ne += 1
        for d in range(k):
            if lo < cuts[d] < hi:
                edges[ne] = cuts[d]
                ne += 1
        e = np.sort(edges[:ne])
        mean[:] = 0.0
        above[:] = 0.0
        z = 0.0
        for i in range(ne - 1):
            half = 0.5 * (e[i + 1] - e[i])
            if half <= 0.0:
                continue
            mid = 0.5 * (e[i + 1] + e[i])
            for j in range(ng):
                a = mid + half * gx[j]
                ea = math.exp(a)
                # The log posterior of _log_post, inlined: p_d = exp(-u_d) is reused for the means.
                h = -0.5 * a * a * inv_var
                for d in range(k):
                    p[d] = math.exp(ea * logsk[d])
                    if n[d] > 0:
                        h += y[d] * ea * logsk[d]
                        if n[d] > y[d]:
                            h += (n[d] - y[d]) * math.log(-math.expm1(ea * logsk[d]))
                f = gw[j] * half * math.exp(h - hm)
                z += f
                for d in range(k):
                    mean[d] += f * p[d]
                    if a < cuts[d]:
                        above[d] += f
        bound = (bl + br) / z
        if bound <= _TRUNCATION_TOL:
            break
        if bl / z > 0.5 * _TRUNCATION_TOL:
            wl *= 1.5
        if br / z > 0.5 * _TRUNCATION_TOL:
            wr *= 1.5
    return mean / z, above / z, bound


@numba.njit(cache=True)
def _crm_kernel(
    dlt: np.ndarray,
    logsk: np.ndarray,
    cuts: np.ndarray,
    inv_var: float,
    gx: np.ndarray,
    gw: np.ndarray,
    target: float,
    start: int,
    n_cohorts: int,
    cs: int,
    stop_cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    n_trials, _, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    nf = np.zeros(k)
    yf = np.zeros(k)
    for t in range(n_trials):
        d = start
        p = 0
        hi = start
        stopped = False
        for c in range(n_cohorts):
            p = treat_cohort(dlt, t, p, d, cs, N, Y)
            for j in range(k):
                nf[j] = N[t, j]
                yf[j] = Y[t, j]
            mean, above, _ = _posterior(logsk, cuts, nf, yf, inv_var, gx, gw)
            if above[0] > stop_cutoff:
                stopped = True
                break
            best = 0
            bd = np.inf
            for j in range(k):
                dist = abs(mean[j] - target)
                if dist < bd:
                    bd = dist
                    best = j
            if c == n_cohorts - 1:
                d = best
                break
            d = min(best, hi + 1)
            hi = max(hi, d)
        sel[t] = -1 if stopped else d
    return sel, N, Y


def _simulate_block(self: CRM, po: Any, arrivals: Any, accrual: Any) -> tuple[Any, Any, Any, None]:
    k = po.dlt.shape[2]
    sel, N, Y = _crm_kernel(
        po.dlt,
        np.log(self.skeleton_for(k)),
        self.cut_points(k),
        1.0 / self.prior_sd**2,
        _GL_X,
        _GL_W,
        self.target,
        self.start_dose,
        self.n_cohorts,
        self.cohort_size,
        self.stop_cutoff,
    )
    return sel, N, Y, None


CRM.simulate_block = _simulate_block  # type: ignore[attr-defined]
