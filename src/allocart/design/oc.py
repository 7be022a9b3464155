"""Operating characteristics of dose-finding designs by simulation.

:func:`simulate_oc` runs many virtual trials of one design on patients from an
:class:`~allocart.design.base.OutcomeSource`. Patients are defined by latent uniforms drawn from
the seed (:func:`~allocart.design.base.draw_patient_uniforms`), so two designs simulated with the
same seed meet the same patients in the same order (common random numbers) and their difference
is not Monte-Carlo noise. Trials are processed in blocks by compiled kernels (numba), one loop
per design over trials.

References
----------
Sweeting M., Slade D., Jackson D. and Brock K. (2024). Potential outcome simulation for efficient
head-to-head comparison of adaptive dose-finding designs. *Pharm Stat* 23:150-164.
doi:10.1002/pst.2339
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allocart.design.base import (
    TRIAL_BLOCK,
    AbstractDesign,
    OutcomeSource,
    check_int,
    draw_patient_uniforms,
    potential_outcomes,
)
from allocart.errors import DesignError

__all__ = ["Accrual", "OCResult", "simulate_oc", "sequential_duration"]


@dataclasses.dataclass(frozen=True)
class Accrual:
    """Patient accrual and DLT follow-up.

    Parameters
    ----------
    per_month : float
        Mean accrual rate (Poisson arrivals), patients per month.
    dlt_window_months : float
        Length of the DLT assessment window, months.
    """

    per_month: float
    dlt_window_months: float = 1.0

    def __post_init__(self) -> None:
        for name in ("per_month", "dlt_window_months"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise DesignError(f"`{name}` must be a positive number, got {v!r}.")


@dataclasses.dataclass(frozen=True)
class OCResult:
    """Operating characteristics of a design under one scenario.

    Attributes
    ----------
    selection_pct : ndarray, shape (n_doses,)
        Percent of trials selecting each dose.
    no_selection_pct : float
        Percent of trials selecting no dose.
    patients_per_dose, dlts_per_dose : ndarray, shape (n_doses,)
        Mean number of patients and of DLTs per dose.
    mean_n : float
        Mean number of patients per trial.
    mean_dlt_proportion : float
        Mean over trials of the per-trial proportion of patients with a DLT (not the ratio of
        total DLTs to total patients; the two differ).
    overdose_selection_pct : float
        Percent of trials selecting a dose whose true DLT probability exceeds the target.
    mean_duration_months : float or None
        Mean trial duration, when accrual was given.
    exact : bool
        Whether the figures were computed by enumeration rather than simulation.
    """

    design: str
    n_doses: int
    selection_pct: NDArray[np.float64]
    no_selection_pct: float
    patients_per_dose: NDArray[np.float64]
    dlts_per_dose: NDArray[np.float64]
    mean_n: float
    mean_dlt_proportion: float
    overdose_selection_pct: float
    mean_duration_months: float | None
    exact: bool
    n_trials: int
    seed: int | None
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary with the documented keys."""
        return {
            "design": self.design,
            "selection_pct": [float(x) for x in self.selection_pct],
            "no_selection_pct": float(self.no_selection_pct),
            "patients_per_dose": [float(x) for x in self.patients_per_dose],
            "dlts_per_dose": [float(x) for x in self.dlts_per_dose],
            "mean_n": float(self.mean_n),
            "mean_dlt_proportion": float(self.mean_dlt_proportion),
            "overdose_selection_pct": float(self.overdose_selection_pct),
            "mean_duration_months": None
            if self.mean_duration_months is None
            else float(self.mean_duration_months),
            "exact": bool(self.exact),
            "n_trials": int(self.n_trials),
            "seed": self.seed,
            "wall_time_s": float(self.wall_time_s),
        }


def arrival_times(u_arrival: NDArray[np.float64], per_month: float) -> NDArray[np.float64]:
    """Cumulative Poisson-process arrival times (months) from uniforms, shape kept."""
    return np.cumsum(-np.log1p(-u_arrival) / per_month, axis=1)


def sequential_duration(
    arrivals: NDArray[np.float64], n_total: NDArray[np.integer], cohort_size: int, window: float
) -> NDArray[np.float64]:
    """Duration of trials that wait for each cohort's full DLT window before the next cohort.

    Patient ``j`` starts at ``max(arrival_j, end of the previous cohort)``; a cohort ends one window
    after its last patient starts; the trial ends with its last cohort.
    """
    n_trials = arrivals.shape[0]
    gate = np.zeros(n_trials)
    end = np.zeros(n_trials)
    n_cohorts_max = int(np.ceil(n_total.max() / cohort_size)) if n_trials else 0
    for c in range(n_cohorts_max):
        last = min((c + 1) * cohort_size, arrivals.shape[1]) - 1
        active = n_total > c * cohort_size
        start_last = np.maximum(arrivals[:, last], gate)
        cohort_end = start_last + window
        gate = np.where(active, cohort_end, gate)
        end = np.where(active, cohort_end, end)
    return end


def simulate_oc(
    design: AbstractDesign,
    source: OutcomeSource,
    n_trials: int,
    seed: int,
    *,
    accrual: Accrual | None = None,
    target: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OCResult:
    """Simulate ``n_trials`` trials of ``design`` and summarise them.

    Parameters
    ----------
    design : AbstractDesign
        Any design of this package.
    source : OutcomeSource
        Patient outcomes (e.g. :class:`~allocart.design.base.ScenarioOutcomes`).
    n_trials : int
        Number of simulated trials.
    seed : int
        Seed of the common random numbers; the same seed gives the same patients to every design.
    accrual : Accrual, optional
        Accrual rate and DLT window. Required by TITE-BOIN and BF-BOIN; for the other designs it
        only adds the trial duration.
    target : float, optional
        DLT target used for the overdose metric; defaults to ``design.target``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block of trials.

    Returns
    -------
    OCResult

    Raises
    ------
    DesignError
        On a bad number of trials or seed, a source whose number of doses the design cannot use,
        or a missing accrual for a design that needs one.
    """
    n_trials = check_int("n_trials", n_trials, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    k = int(source.n_doses)
    start = getattr(design, "start_dose", 0)
    if start >= k:
        raise DesignError(f"`start_dose` is level {start + 1} but the scenario has only {k} doses.")
    if getattr(design, "needs_accrual", False) and accrual is None:
        raise DesignError(
            f"Design `{design.name}` simulates calendar time: give `accrual_per_month` and `dlt_window_months`."
        )
    tgt = float(getattr(design, "target", np.nan) if target is None else target)
    n_pat = design.max_patients(k)
    window = accrual.dlt_window_months if accrual is not None else 1.0
    t0 = time.perf_counter()
    sel_all, n_all, y_all, dur_all = [], [], [], []
    done = 0
    while done < n_trials:
        m = min(TRIAL_BLOCK, n_trials - done)
        u = draw_patient_uniforms(seed, done, m, n_pat)
        po = potential_outcomes(source, u, window)
        arrivals = arrival_times(u.arrival, accrual.per_month) if accrual is not None else None
        sel, N, Y, dur = design.simulate_block(po, arrivals, accrual)  # type: ignore[attr-defined]
        if dur is None and arrivals is not None:
            dur = sequential_duration(arrivals, N.sum(axis=1), design.cohort_size, window)
        sel_all.append(sel)
        n_all.append(N)
        y_all.append(Y)
        if dur is not None:
            dur_all.append(dur)
        done += m
        if progress is not None:
            progress(done, n_trials)
    sel = np.concatenate(sel_all)
    N = np.concatenate(n_all)
    Y = np.concatenate(y_all)
    wall = time.perf_counter() - t0
    counts = np.bincount(sel[sel >= 0], minlength=k)[:k]
    tot_n = N.sum(axis=1)
    prop = np.where(tot_n > 0, Y.sum(axis=1) / np.maximum(tot_n, 1), 0.0)
    p_tox = getattr(source, "p_tox", None)
    over = float("nan")
    if p_tox is not None and np.isfinite(tgt):
        over = 100.0 * counts[np.asarray(p_tox) > tgt].sum() / n_trials
    return OCResult(
        design=design.name,
        n_doses=k,
        selection_pct=100.0 * counts / n_trials,
        no_selection_pct=100.0 * float(np.mean(sel < 0)),
        patients_per_dose=N.mean(axis=0),
        dlts_per_dose=Y.mean(axis=0),
        mean_n=float(tot_n.mean()),
        mean_dlt_proportion=float(prop.mean()),
        overdose_selection_pct=over,
        mean_duration_months=float(np.concatenate(dur_all).mean()) if dur_all else None,
        exact=False,
        n_trials=n_trials,
        seed=seed,
        wall_time_s=wall,
    )
