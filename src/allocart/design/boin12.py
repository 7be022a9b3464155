"""BOIN12: optimal biological dose from toxicity and efficacy through a utility.

Each patient's (DLT, response) outcome scores a utility: 100 for response without DLT,
``u_resp_tox`` (default 60) for response with DLT, ``u_none`` (default 40) for neither, 0 for
DLT without response. Dividing by 100 gives quasi-binomial data :math:`x_j` out of :math:`n_j`,
and the posterior :math:`u_j \\sim \\mathrm{Beta}(1 + x_j, 1 + n_j - x_j)` gives the desirability
score :math:`\\Pr(u_j > u_b \\mid \\text{data})` with benchmark
:math:`u_b = \\bar u + (100 - \\bar u)/2`, :math:`\\bar u` being the utility of a dose with DLT
probability :math:`\\phi_T` and response probability :math:`\\phi_E` (the highest undesirable one).

Rules at the current dose ``j`` with observed DLT rate :math:`\\hat p_j` (BOIN boundaries for
:math:`\\phi_T`): de-escalate if :math:`\\hat p_j \\ge \\lambda_d`; if more than ``n_explore`` (8)
patients were treated, :math:`\\hat p_j < \\lambda_d` and ``j + 1`` is untried, escalate; if
:math:`\\lambda_e < \\hat p_j < \\lambda_d` and :math:`n_j \\ge N^* = 6`, choose between ``j - 1``
and ``j`` by desirability; otherwise choose the most desirable admissible dose among
``j - 1, j, j + 1`` (ties to the higher dose). A dose is inadmissible when
:math:`\\Pr(p_T > \\phi_T) > 0.95` (with every higher dose) or :math:`\\Pr(p_E < \\phi_E) > 0.9`,
judged once 3 patients were treated; the trial stops when no dose is admissible. At the end the
toxicity of tried doses is fitted by isotonic regression, the MTD is the dose closest to
:math:`\\phi_T`, and the OBD is the admissible dose at or below the MTD with the highest posterior
mean utility (response estimated by its observed proportion, DLT by the isotonic fit).

References
----------
Lin R., Zhou Y., Yan F., Li D. and Yuan Y. (2020). BOIN12: Bayesian optimal interval phase I/II
trial design for utility-based dose finding in immunotherapy and targeted therapies. *JCO
Precision Oncology* 4:1393-1402. doi:10.1200/PO.20.00257
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import numba
import numpy as np
from numpy.typing import NDArray
from scipy import stats

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.design.base import (
    AbstractDesign,
    Action,
    CohortPlan,
    DoseData,
    Recommendation,
    check_int,
    check_probability,
    cohort_plan,
    kernel_outputs,
)
from allocart.design.boin import boin_lambdas
from allocart.design.isotonic import _closest_to_target, _isotonic_rates
from allocart.errors import DesignError

__all__ = ["BOIN12"]

#: Utilities are scored in steps of 1/100, so pseudo-counts are tabulated on that grid.
_GRID = 100


@dataclasses.dataclass(frozen=True)
class BOIN12(AbstractDesign):
    """BOIN12 design for the optimal biological dose.

    Parameters
    ----------
    target : float
        Highest acceptable DLT probability :math:`\\phi_T`.
    eff_lower : float
        Lowest acceptable response probability :math:`\\phi_E` (default 0.25).
    u_resp_tox, u_none : int
        Utilities (0-100) of response with DLT and of neither (defaults 60 and 40).
    cohort_size, n_cohorts, n_earlystop, start_dose
        As for BOIN (``n_earlystop`` default 100 disables the rule).
    n_star : int
        Sample size from which a dose in the stay region is compared only with the dose below (6).
    n_explore : int
        Above this many patients at the current dose, escalate to an untried next dose (8).
    cutoff_tox, cutoff_eff : float
        Posterior cut-offs of the admissibility rules (0.95 and 0.9).
    """

    target: float
    eff_lower: float = 0.25
    u_resp_tox: int = 60
    u_none: int = 40
    cohort_size: int = 3
    n_cohorts: int = 10
    n_earlystop: int = 100
    start_dose: int = 0
    n_star: int = 6
    n_explore: int = 8
    cutoff_tox: float = 0.95
    cutoff_eff: float = 0.9

    name = "boin12"

    def __post_init__(self) -> None:
        t = check_probability("target", self.target, open_interval=True)
        if 1.4 * t >= 1:
            raise DesignError(f"`target` must be below 1/1.4 for BOIN boundaries, got {t!r}.")
        object.__setattr__(self, "target", t)
        self._check_fields(check_probability, ("eff_lower",), open_interval=True)
        for name in ("u_resp_tox", "u_none"):
            v = check_int(name, getattr(self, name), minimum=0)
            if v > 100:
                raise DesignError(f"`{name}` must lie in 0..100, got {v!r}.")
            object.__setattr__(self, name, v)
        self._check_fields(
            check_int, ("cohort_size", "n_cohorts", "n_earlystop", "n_star", "n_explore"), minimum=1
        )
        self._check_fields(check_int, ("start_dose",), minimum=0)
        self._check_fields(check_probability, ("cutoff_tox", "cutoff_eff"), open_interval=True)

    def max_patients(self, n_doses: int) -> int:
        return self.n_cohorts * self.cohort_size

    @property
    def benchmark_utility(self) -> float:
        """:math:`u_b` on the 0-100 scale."""
        pt, pe = self.target, self.eff_lower
        ubar = 100 * pe * (1 - pt) + self.u_none * (1 - pt) * (1 - pe) + self.u_resp_tox * pt * pe
        return ubar + (100 - ubar) / 2

    def desirability(self, n: int, x: float) -> float:
        """:math:`\\Pr(u > u_b)` with pseudo-count ``x`` (utility sum / 100) out of ``n``."""
        return float(stats.beta.sf(self.benchmark_utility / 100, 1 + x, 1 + n - x))

    def tables(self, n_max: int) -> dict[str, np.ndarray]:
        """Pre-computed rules indexed by counts (used by the simulator)."""
        le, ld = boin_lambdas(self.target, 0.6 * self.target, 1.4 * self.target)
        n = np.arange(n_max + 1)
        y = np.arange(n_max + 1)
        tox_bad = np.zeros((n_max + 1, n_max + 1), dtype=np.bool_)
        eff_bad = np.zeros((n_max + 1, n_max + 1), dtype=np.bool_)
        for m in range(3, n_max + 1):
            yy = y[: m + 1]
            tox_bad[m, : m + 1] = stats.beta.sf(self.target, 1 + yy, 1 + m - yy) > self.cutoff_tox
            eff_bad[m, : m + 1] = (
                stats.beta.cdf(self.eff_lower, 1 + yy, 1 + m - yy) > self.cutoff_eff
            )
        ds = np.zeros((n_max + 1, _GRID * n_max + 1))
        ub = self.benchmark_utility / 100
        for m in range(n_max + 1):
            x = np.arange(_GRID * m + 1) / _GRID
            ds[m, : x.size] = stats.beta.sf(ub, 1 + x, 1 + m - x)
        return {
            "lambda": np.array([le, ld]),
            "n": n,
            "tox_bad": tox_bad,
            "eff_bad": eff_bad,
            "ds": ds,
        }

    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        """Advice from ``treated``, ``dlts`` and ``responses``.

        The utility needs the joint (DLT, response) counts; from marginal counts the design
        assumes the DLTs fall first on non-responders, i.e. it scores the most conservative
        utility compatible with the data. :meth:`recommend_counts` takes the joint counts.
        """
        d = self._check_current(data, current_dose)
        n = np.asarray(data.treated, dtype=np.int64)
        y = np.asarray(data.dlts, dtype=np.int64)
        r = np.asarray(data.responses, dtype=np.int64)
        # Most conservative pairing: DLT with response only when DLTs exceed non-responders.
        both = np.maximum(0, y + r - n)
        return self.recommend_counts(n, y, r, both, d)

    def recommend_counts(
        self,
        treated: NDArray[np.integer],
        dlts: NDArray[np.integer],
        responses: NDArray[np.integer],
        responses_with_dlt: NDArray[np.integer],
        current_dose: int,
    ) -> Recommendation:
        """Advice from the joint (DLT, response) counts per dose, as the simulator scores them.

        Parameters
        ----------
        treated, dlts, responses : array of int, shape (n_doses,)
            Patients treated, with a DLT and with a response, per dose (complete data).
        responses_with_dlt : array of int, shape (n_doses,)
            Patients with both a response and a DLT, per dose.
        current_dose : int
            0-based dose of the last cohort.

        Returns
        -------
        Recommendation
            ``STOP`` with ``next_dose=None`` when no dose is admissible; ``STOP`` with the current
            dose when ``n_earlystop`` patients were treated there (the simulator then selects the
            OBD); otherwise the next dose.
        """
        n = np.asarray(treated, dtype=np.int64)
        y = np.asarray(dlts, dtype=np.int64)
        r = np.asarray(responses, dtype=np.int64)
        both = np.asarray(responses_with_dlt, dtype=np.int64)
        k = n.size
        d = check_int("current_dose", current_dose, minimum=0)
        if d >= k or not (y.size == r.size == both.size == k):
            raise DesignError(
                f"`current_dose` ({d + 1}) and the counts must refer to the same {k} doses."
            )
        if np.any(both > np.minimum(y, r)) or np.any(y + r - both > n) or np.any(both < 0):
            raise DesignError(
                "`responses_with_dlt` must lie between max(0, dlts + responses - treated) and "
                f"min(dlts, responses) at every dose, got {both.tolist()}."
            )
        if n[d] >= self.n_earlystop:
            return Recommendation(
                Action.STOP,
                d,
                (),
                f"{n[d]} patients treated at the current dose reach n_earlystop = "
                f"{self.n_earlystop}: stop and select the OBD.",
            )
        tb = _cached_tables(self, max(int(n.max()), 3))
        resp_only = r - both
        neither = n - y - r + both
        xk = resp_only * _GRID + both * self.u_resp_tox + neither * self.u_none
        nxt, status, adm = _boin12_step(d, k, n, y, r, xk, boin12_rules(self, tb))
        inadm = tuple(int(j) for j in range(k) if not adm[j])
        if status == 1:
            return Recommendation(Action.STOP, None, inadm, "No admissible dose: stop the trial.")
        scores = ", ".join(
            f"{j + 1}: {tb['ds'][n[j], xk[j]]:.3f}" for j in range(max(0, d - 1), min(k, d + 2))
        )
        action = Action.ESCALATE if nxt > d else Action.DEESCALATE if nxt < d else Action.STAY
        return Recommendation(
            action, int(nxt), inadm, f"Desirability Pr(u > u_b) by dose: {scores}."
        )


@functools.lru_cache(maxsize=32)
def _cached_tables(design: BOIN12, n_max: int) -> dict[str, np.ndarray]:
    """:meth:`BOIN12.tables`, kept for repeated advice (the desirability table costs ~0.1 s).

    Callers must not modify the arrays.
    """
    return design.tables(n_max)


class BOIN12Rules(NamedTuple):
    """A BOIN12 design's settings and rule tables as the simulation kernel takes them.

    Attributes
    ----------
    plan : CohortPlan
        Starting dose, cohorts, patients per cohort and the early-stopping sample size.
    le, ld : float
        BOIN escalation and de-escalation boundaries on the DLT rate.
    tox_bad, eff_bad : ndarray of bool, shape (n_max + 1, n_max + 1)
        Inadmissibility for toxicity (by patients, DLTs) and for efficacy (by patients, responses).
    ds : ndarray of float, shape (n_max + 1, 100 n_max + 1)
        Desirability by patients and pseudo-count (utility sum on the 1/100 grid).
    n_star, n_explore : int
        See :class:`BOIN12`.
    u3, u2 : int
        Utilities (0-100) of response with DLT and of neither.
    target : float
        Highest acceptable DLT probability.
    """

    plan: CohortPlan
    le: float
    ld: float
    tox_bad: NDArray[np.bool_]
    eff_bad: NDArray[np.bool_]
    ds: NDArray[np.float64]
    n_star: int
    n_explore: int
    u3: int
    u2: int
    target: float


def boin12_rules(design: BOIN12, tb: dict[str, np.ndarray]) -> BOIN12Rules:
    """The kernels' settings of ``design`` with its rule tables ``tb`` (:meth:`BOIN12.tables`)."""
    return BOIN12Rules(
        cohort_plan(design),
        float(tb["lambda"][0]),
        float(tb["lambda"][1]),
        tb["tox_bad"],
        tb["eff_bad"],
        tb["ds"],
        int(design.n_star),
        int(design.n_explore),
        int(design.u_resp_tox),
        int(design.u_none),
        float(design.target),
    )


@numba.njit(cache=True)
def _admissible(
    n: np.ndarray, y: np.ndarray, r: np.ndarray, rules: BOIN12Rules
) -> np.ndarray:  # pragma: no cover - jitted
    """Admissible doses: below the first one unsafe for toxicity, and not futile for efficacy."""
    k = n.size
    adm = np.ones(k, dtype=np.bool_)
    for j in range(k):
        if n[j] >= 3 and rules.tox_bad[n[j], y[j]]:
            for m in range(j, k):
                adm[m] = False
            break
    for j in range(k):
        if n[j] >= 3 and rules.eff_bad[n[j], r[j]]:
            adm[j] = False
    return adm


@numba.njit(cache=True)
def _most_desirable(
    lo: int,
    hi: int,
    adm: np.ndarray,
    n: np.ndarray,
    xk: np.ndarray,
    ds: np.ndarray,
    ties_up: bool,
) -> int:  # pragma: no cover - jitted
    """The admissible dose of ``lo .. hi - 1`` with the highest desirability (-1 if none).

    Ties go to the higher dose with ``ties_up``, to the lower one otherwise.
    """
    best = -1
    bv = -1.0
    for j in range(lo, hi):
        if adm[j] and (ds[n[j], xk[j]] > bv or (ties_up and ds[n[j], xk[j]] == bv)):
            bv = ds[n[j], xk[j]]
            best = j
    return best


@numba.njit(cache=True)
def _boin12_step(
    d: int,
    k: int,
    n: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    xk: np.ndarray,
    rules: BOIN12Rules,
) -> tuple[int, int, np.ndarray]:  # pragma: no cover - jitted
    adm = _admissible(n, y, r, rules)
    rate = y[d] / n[d] if n[d] > 0 else 0.0
    lo = max(d - 1, 0)
    if not adm[0] and n[0] >= 3 and rules.tox_bad[n[0], y[0]]:
        return -1, 1, adm
    if n[d] > rules.n_explore and rate < rules.ld and d != k - 1 and n[d + 1] == 0 and adm[d + 1]:
        return d + 1, 0, adm
    if rate >= rules.ld - 1e-9:
        return lo, 0, adm
    if rate > rules.le + 1e-9 and n[d] >= rules.n_star:
        best = _most_desirable(lo, d + 1, adm, n, xk, rules.ds, False)
        if best < 0:
            return lo, 0, adm
        return best, 0, adm
    best = _most_desirable(lo, min(d + 2, k), adm, n, xk, rules.ds, True)
    if best < 0:
        any_adm = False
        for j in range(k):
            any_adm = any_adm or adm[j]
        if not any_adm:
            return -1, 1, adm
        return lo, 0, adm
    return best, 0, adm


@numba.njit(cache=True)
def _boin12_kernel(
    dlt: np.ndarray, resp: np.ndarray, rules: BOIN12Rules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    n_trials, _, k = dlt.shape
    sel, N, Y = kernel_outputs(n_trials, k)
    R = np.zeros(k, dtype=np.int64)
    X = np.zeros(k, dtype=np.int64)
    u3, u2 = rules.u3, rules.u2
    for t in range(n_trials):
        R[:] = 0
        X[:] = 0
        d = rules.plan.start
        p = 0
        status = 0
        for c in range(rules.plan.n_cohorts):
            for _ in range(rules.plan.cs):
                a = dlt[t, p, d]
                b = resp[t, p, d]
                Y[t, d] += a
                R[d] += b
                X[d] += (100 if b else u2) if not a else (u3 if b else 0)
                p += 1
            N[t, d] += rules.plan.cs
            if N[t, d] >= rules.plan.n_earlystop:
                break
            if c == rules.plan.n_cohorts - 1:
                break
            d, status, adm = _boin12_step(d, k, N[t], Y[t], R, X, rules)
            if status != 0:
                break
        if status == 1:
            sel[t] = -1
            continue
        # OBD selection among the admissible doses tried.
        adm = _admissible(N[t], Y[t], R, rules)
        for j in range(k):
            if N[t, j] == 0:
                adm[j] = False
        idx, fit = _isotonic_rates(N[t], Y[t], k, False)
        mtd_i = _closest_to_target(fit, rules.target)
        best = -1
        bu = -np.inf
        for i in range(mtd_i + 1):
            j = idx[i]
            if not adm[j]:
                continue
            pe = R[j] / N[t, j]
            pt = fit[i]
            util = 100 * pe * (1 - pt) + u3 * pe * pt + u2 * (1 - pe) * (1 - pt)
            if util > bu:
                bu = util
                best = j
        sel[t] = best
    return sel, N, Y


def _simulate_block(
    self: BOIN12, po: Any, arrivals: Any, accrual: Any
) -> tuple[Any, Any, Any, None]:
    rules = boin12_rules(self, self.tables(self.max_patients(0)))
    sel, N, Y = _boin12_kernel(po.dlt, po.response, rules)
    return sel, N, Y, None


BOIN12.simulate_block = _simulate_block  # type: ignore[attr-defined]
