"""Continual reassessment method (CRM), the model-based comparator.

One-parameter power ("empiric") model :math:`p_d(a) = s_d^{\\exp(a)}` with skeleton :math:`s` and
prior :math:`a \\sim N(0, \\sigma^2)`, :math:`\\sigma^2 = 1.34` (the ``dfcrm`` default). The
posterior mean of each :math:`p_d` is computed by quadrature on a fixed grid of ``a``. The next
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
from numpy.typing import NDArray

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

#: Quadrature grid on a: +-6 prior SDs with 241 points keeps the posterior mean accurate to ~1e-6
#: for trial-sized data (checked against adaptive quadrature in the tests).
_GRID_HALF_WIDTH_SD = 6.0
_GRID_POINTS = 241


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

    def _grid(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a = np.linspace(-_GRID_HALF_WIDTH_SD, _GRID_HALF_WIDTH_SD, _GRID_POINTS) * self.prior_sd
        logprior = -0.5 * (a / self.prior_sd) ** 2
        return a, logprior

    def posterior(
        self, treated: NDArray[np.integer], dlts: NDArray[np.integer]
    ) -> dict[str, NDArray[np.float64]]:
        """Posterior mean DLT probability per dose and Pr(p_d > target).

        Returns
        -------
        dict
            ``mean`` and ``prob_above`` arrays of shape (n_doses,).
        """
        n = np.asarray(treated, dtype=float)
        y = np.asarray(dlts, dtype=float)
        sk = self.skeleton_for(n.size)
        a, lp = self._grid()
        mean, above = _posterior(np.log(sk), n, y, a, lp, self.target)
        return {"mean": mean, "prob_above": above}

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
def _posterior(
    logsk: np.ndarray, n: np.ndarray, y: np.ndarray, a: np.ndarray, lp: np.ndarray, target: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    k = logsk.size
    g = a.size
    logw = np.empty(g)
    mx = -np.inf
    for i in range(g):
        e = math.exp(a[i])
        s = lp[i]
        for d in range(k):
            if n[d] > 0:
                lpd = e * logsk[d]
                s += y[d] * lpd + (n[d] - y[d]) * math.log1p(-math.exp(lpd))
        logw[i] = s
        mx = max(mx, s)
    mean = np.zeros(k)
    above = np.zeros(k)
    tot = 0.0
    for i in range(g):
        w = math.exp(logw[i] - mx)
        tot += w
        e = math.exp(a[i])
        for d in range(k):
            p = math.exp(e * logsk[d])
            mean[d] += w * p
            if p > target:
                above[d] += w
    return mean / tot, above / tot


@numba.njit(cache=True)
def _crm_kernel(
    dlt: np.ndarray,
    logsk: np.ndarray,
    a: np.ndarray,
    lp: np.ndarray,
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
            mean, above = _posterior(logsk, nf, yf, a, lp, target)
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
    a, lp = self._grid()
    sel, N, Y = _crm_kernel(
        po.dlt,
        np.log(self.skeleton_for(k)),
        a,
        lp,
        self.target,
        self.start_dose,
        self.n_cohorts,
        self.cohort_size,
        self.stop_cutoff,
    )
    return sel, N, Y, None


CRM.simulate_block = _simulate_block  # type: ignore[attr-defined]
