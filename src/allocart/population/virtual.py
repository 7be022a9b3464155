"""Virtual patients of one scenario: covariates, parameters with variability, trajectories.

:func:`simulate_virtual` draws the covariates (:mod:`allocart.population.covariates`), the
model parameters with their between-patient variability
(:func:`allocart.model.scenario.sample_parameters`, with the covariate-mapped parameters
replaced), builds the patient batch of the scenario and integrates it with the batched engine
(:func:`allocart.model.simulate.solve`). The result keeps the daily observables and the
per-patient uniforms that the link functions and the SLEDAI-2K readout use, so clinical events
can be re-derived for other link values without solving again (calibration).

Random streams: one :class:`numpy.random.SeedSequence` of the seed is split into independent
streams for covariates, parameters, readout and links, each drawn for all patients at once, so
the same seed gives the same patients however the work is chunked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from allocart.model.codegen import observables_function
from allocart.model.equations import MODEL
from allocart.model.parameters import ParameterTable, load_default_parameters, load_overrides
from allocart.model.scenario import PatientBatch, Scenario, build_batch, sample_parameters
from allocart.model.simulate import solve
from allocart.population.covariates import (
    CovariateModel,
    Covariates,
    PopulationError,
    covariate_parameters,
    load_covariate_model,
)
from allocart.population.links import load_calibrated
from allocart.population.readout import ReadoutDraws, draw_readout
from allocart.population.schedule import Schedule
from allocart.population.waiting import WaitPlan

__all__ = ["VirtualCohort", "simulate_virtual", "population_table", "COHORT_RTOL"]

COHORT_RTOL = 1e-6
"""Relative tolerance of cohort simulations: read-outs are rounded to days and clinical
grades, so 1e-6 (against 1e-8 for single-patient reference runs) changes no endpoint while
halving the solver's steps."""

_OBSERVABLES = (
    "car_t_cells_per_ul",
    "transgene_copies_per_ug",
    "b_cells_per_ul",
    "anti_dsdna_iu_per_ml",
    "c3_g_per_l",
    "c4_g_per_l",
    "igg_g_per_l",
    "il6_pg_per_ml",
    "anc_1e9_per_l",
    "lymphocytes_1e9_per_l",
    "platelets_1e9_per_l",
    "sle_activity",
)


@dataclass(frozen=True)
class VirtualCohort:
    """Simulated virtual patients of one scenario.

    Attributes
    ----------
    scenario : Scenario
    schedule : Schedule
    covariates : Covariates
    time : ndarray, shape (n_times,)
        Daily grid, days after infusion (0 .. horizon).
    obs : dict of ndarray, each (n, n_times)
        Observables on the grid (NaN rows for failed patients).
    baseline : dict of ndarray, each (n,)
        Observables at the pre-treatment steady state (screening visit).
    params : dict of ndarray, each (n,)
        Primary and derived model parameters per patient.
    cells_infused : ndarray
        CAR-T cells infused at day 0.
    car_t_total_peak : ndarray
        Peak whole-body CAR-T count (cells).
    failed : ndarray of bool
        Solver failure (such patients are reported, never dropped).
    draws : ReadoutDraws
        SLEDAI-2K readout uniforms.
    u : dict of ndarray
        Uniforms of the link functions (``crs``, ``icans``, ``gvhd``, CRS duration ``crs_days``
        and days at the worst grade ``crs_peak``, ``infection`` timing, ``infection_grade``,
        ``infection_days``).
    pre_time : ndarray, shape (n_pre,)
        Whole days before infusion read out while patients wait (empty without a wait plan).
    pre_obs : dict of ndarray, each (n, n_pre)
        Observables on ``pre_time`` (empty without a wait plan).
    """

    scenario: Scenario
    schedule: Schedule
    covariates: Covariates
    time: np.ndarray
    obs: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    cells_infused: np.ndarray
    car_t_total_peak: np.ndarray
    failed: np.ndarray
    draws: ReadoutDraws
    u: dict[str, np.ndarray] = field(repr=False)
    pre_time: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    pre_obs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.failed.shape[0])

    def at(self, name: str, days: np.ndarray | list[int]) -> np.ndarray:
        """Observable ``name`` at whole days after infusion, shape (n, len(days))."""
        idx = np.asarray(days, dtype=int)
        return self.obs[name][:, idx]


def population_table(
    params: str | Path | Mapping[str, Any] | None = None,
    *,
    calibrated: bool = True,
    model_overrides: Mapping[str, float] | None = None,
) -> ParameterTable:
    """The parameter table of the population: defaults, calibrated model values, then overrides.

    Parameters
    ----------
    params : path or mapping, optional
        User parameter overrides (as ``allocart simulate --params``).
    calibrated : bool
        Apply the model values of ``population/resources/calibrated.yaml``.
    model_overrides : mapping, optional
        Values set by the calibration while it searches (applied before ``params``).
    """
    tab = load_default_parameters()
    if calibrated:
        over = {k: float(v["value"]) for k, v in (load_calibrated().get("model") or {}).items()}
        if over:
            tab = tab.with_overrides(over, origin="calibrated.yaml")
    if model_overrides:
        tab = tab.with_overrides(dict(model_overrides), origin="calibration")
    if params is not None:
        overrides = load_overrides(params) if isinstance(params, (str, Path)) else dict(params)
        tab = tab.with_overrides(overrides, origin="params")
    return tab


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row, -1 where none."""
    any_ = mask.any(1)
    return np.where(any_, mask.argmax(1), -1)


def simulate_virtual(
    scenario: Scenario,
    n: int,
    seed: int,
    schedule: Schedule,
    *,
    table: ParameterTable | None = None,
    covariate_model: CovariateModel | None = None,
    n_flare: int = 2,
    rtol: float = COHORT_RTOL,
    progress: Callable[[int, int], None] | None = None,
    waiting: WaitPlan | None = None,
) -> VirtualCohort:
    """Sample and simulate ``n`` virtual patients of ``scenario``.

    With ``waiting`` (:mod:`allocart.population.waiting`) each patient's simulation starts at
    its enrolment, before the scenario's own start, with the flares of the wait as events;
    the observables of the wait are kept in ``pre_obs``.

    Raises
    ------
    PopulationError
        On a non-positive ``n`` or a negative seed.
    ParameterError
        If sampled parameters give no baseline steady state (see :func:`build_batch`).
    """

    if isinstance(n, bool) or int(n) != n or n < 1:
        raise PopulationError(f"n: {n!r} must be a positive whole number of patients", argument="n")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise PopulationError(
            f"seed: {seed!r} must be a non-negative whole number", argument="seed"
        )
    n = int(n)
    ss = np.random.SeedSequence(int(seed))
    s_cov, s_par, s_read, s_link = (np.random.default_rng(s) for s in ss.spawn(4))
    cm = covariate_model or load_covariate_model()
    cov = cm.sample(n, s_cov)
    tab = table or population_table()
    primary = covariate_parameters(cov, sample_parameters(tab, n, s_par), cm)
    batch: PatientBatch = build_batch(scenario, primary, cov.weight_kg)
    t_pre = np.empty(0)
    if waiting is not None:
        batch = waiting.apply(batch)
        t_pre = waiting.output_days()
    horizon = int(schedule.horizon_days)
    t_out = np.arange(0.0, horizon + 1.0)
    t_all = np.concatenate([t_pre, t_out]) if t_pre.size else t_out
    res = solve(batch, t_all, rtol=rtol, progress=progress)
    pdict = batch.param_dict()
    status = np.asarray(res.status)
    y = np.asarray(res.y, dtype=float)
    failed = (status != 0) | ~np.isfinite(y).all(axis=(1, 2))
    obs_fn = observables_function()
    pre_obs: dict[str, np.ndarray] = {}
    if t_pre.size:
        pre = obs_fn(y[:, : t_pre.size], pdict)
        pre_obs = {k: np.where(failed[:, None], np.nan, pre[k]) for k in _OBSERVABLES}
        y = y[:, t_pre.size :]
    full = obs_fn(y, pdict)
    obs = {k: np.where(failed[:, None], np.nan, full[k]) for k in _OBSERVABLES}
    base = obs_fn(batch.y0[:, None, :], pdict)
    baseline = {k: base[k][:, 0] for k in _OBSERVABLES}

    c_tot = (
        y[:, :, MODEL.state_index("E")]
        + y[:, :, MODEL.state_index("M")]
        + y[:, :, MODEL.state_index("X")]
    )
    peak = np.where(failed, np.nan, np.nanmax(np.where(np.isfinite(c_tot), c_tot, -np.inf), axis=1))
    cells = scenario.dose.cells(cov.weight_kg) * np.ones(n)
    draws = draw_readout(cov, s_read, n_flare)
    u = {
        k: s_link.random(n)
        for k in (
            "crs",
            "icans",
            "gvhd",
            "crs_days",
            "crs_peak",
            "infection",
            "infection_grade",
            "infection_days",
        )
    }
    return VirtualCohort(
        scenario=scenario,
        schedule=schedule,
        covariates=cov,
        time=t_out,
        obs=obs,
        baseline=baseline,
        params={k: np.asarray(v) for k, v in pdict.items()},
        cells_infused=np.asarray(cells, dtype=float),
        car_t_total_peak=peak,
        failed=failed,
        draws=draws,
        u=u,
        pre_time=t_pre,
        pre_obs=pre_obs,
    )


def kinetics(vc: VirtualCohort, *, aplasia_below: float = 1.0) -> dict[str, np.ndarray]:
    """CAR-T and B-cell kinetic read-outs per patient (days after infusion; NaN if absent).

    ``car_t_persistence_days`` is the last day the transgene is at or above the qPCR LLOQ;
    ``b_cell_aplasia_onset_days`` the first day with B cells below ``aplasia_below`` per uL;
    ``b_cell_aplasia_days`` the number of days below it; ``b_cell_return_days`` the first day
    after onset back above it (NaN when B cells never fall below it or have not returned
    by the horizon).
    """
    t = vc.time
    car = vc.obs["car_t_cells_per_ul"]
    ok = ~vc.failed
    car0 = np.where(ok[:, None], car, 0.0)
    cmax = np.where(ok, car0.max(1), np.nan)
    tmax = np.where(ok, t[car0.argmax(1)], np.nan)
    tg = vc.obs["transgene_copies_per_ug"]
    above = np.where(ok[:, None], tg >= vc.params["LLOQ_transgene"][:, None], False)
    last = np.where(above.any(1), above.shape[1] - 1 - above[:, ::-1].argmax(1), -1)
    persistence = np.where(ok, np.where(last >= 0, t[np.maximum(last, 0)], 0.0), np.nan)
    b = vc.obs["b_cells_per_ul"]
    below = np.where(ok[:, None], b < aplasia_below, False)
    onset_i = _first_true(below)
    onset = np.where(onset_i >= 0, t[np.maximum(onset_i, 0)], np.nan)
    after = (np.arange(b.shape[1])[None, :] > onset_i[:, None]) & (onset_i[:, None] >= 0) & ~below
    ret_i = _first_true(after)
    ret = np.where(ret_i >= 0, t[np.maximum(ret_i, 0)], np.nan)
    days_below = np.where(ok, below.sum(1).astype(float), np.nan)
    return {
        "car_t_cmax_cells_per_ul": cmax,
        "car_t_tmax_days": tmax,
        "car_t_persistence_days": persistence,
        "b_cell_aplasia_onset_days": np.where(ok, onset, np.nan),
        "b_cell_aplasia_days": days_below,
        "b_cell_return_days": np.where(ok, ret, np.nan),
    }
