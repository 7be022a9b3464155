"""The calibration fit: the ``calibrate: true`` link parameters fitted to the targets they drive,
and the ``calibrated.yaml`` file that every cohort applies."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import minimize

from allocart.files import atomic_write_text
from allocart.model.scenario import Scenario
from allocart.population.calibrate.evaluation import compare
from allocart.population.calibrate.targets import (
    DEFAULT_N,
    DEFAULT_SEED,
    CohortSpec,
    TargetSet,
    load_targets,
    tilt_weights,
)
from allocart.population.events import ClinicalEvents, derive_events, sledai2k_fast
from allocart.population.links import load_calibrated, load_links
from allocart.population.readout import clinical_score
from allocart.population.schedule import schedule_for
from allocart.population.virtual import (
    VirtualCohort,
    kinetics,
    population_table,
    simulate_virtual,
)

__all__ = ["fit", "load_calibrated_model", "write_calibrated"]

#: Target-id endings each family of calibrated link parameters is fitted to (named in the
#: calibrated values' sources).
_DRIVES = {
    "crs_x50": ("_crs", "_crs_any", "_crs_ge2", "_crs_ge3"),
    "icans_alpha0": ("_icans",),
    "sledai_theta": ("_sledai_m3", "_sledai_m6", "_doris_m3"),
    "sledai_renal_lag": ("_sledai_m3", "_sledai_m6", "_doris_m3"),
}


def _fast_quantities(
    vc: VirtualCohort, ev: ClinicalEvents, lk: Mapping[str, float], spec: CohortSpec
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Per-patient quantities of the selected patients from arrays (no records), for the search,
    and the patients' weights (None = equal weights)."""
    ok = ~vc.failed
    for name, wanted in spec.select.items():
        ok &= vc.covariates[name].astype(bool) == bool(wanted)
    days = list(ev.visit_days)
    s = sledai2k_fast(vc, ev, lk)
    clin = clinical_score(ev.active)
    out = {
        "crs_any": ev.crs_grade >= 1,
        "crs_ge2": ev.crs_grade >= 2,
        "crs_ge3": ev.crs_grade >= 3,
        "icans_any": ev.icans_grade >= 1,
        "sledai2k_baseline": s[:, 0],
        "serious_infection": ev.infection_grade >= 3,
    }
    for m, d in vc.schedule.month_days.items():
        k = days.index(d)
        out[f"sledai2k_m{m}"] = s[:, k]
        # DORIS 2021 on arrays: clinical SLEDAI 0, PGA < 0.5, prednisone <= 5 mg/day.
        out[f"doris_m{m}"] = (clin[:, k] == 0) & (ev.pga[:, k] < 0.5) & (ev.prednisone[:, k] <= 5.0)
        # LLDAS on arrays: SLEDAI-2K <= 4 without renal, CNS, serosal, vasculitic or fever
        # findings is not resolved here; the search uses SLEDAI-2K <= 4 and PGA <= 1.
        out[f"lldas_m{m}"] = (s[:, k] <= 4) & (ev.pga[:, k] <= 1.0) & (ev.prednisone[:, k] <= 7.5)
    q = {k: np.asarray(v, dtype=float)[ok] for k, v in out.items()}
    w = None
    if spec.weight_to:
        w = tilt_weights(q["sledai2k_baseline"], spec.weight_to["sledai2k_baseline"])
    return q, w


def fit(
    targets: TargetSet | None = None,
    *,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
    maxiter: int = 400,
    steps: Callable[[str, int, int], None] | None = None,
) -> dict[str, float]:
    """Fit the ``calibrate: true`` link parameters to the targets they drive.

    ``progress(message)`` is called as each cohort is simulated; ``steps(what, done, total)``
    as the work advances: cohorts simulated, grid points, Nelder-Mead iterations (at most
    ``maxiter``; the search may stop earlier).

    Returns
    -------
    dict
        Fitted value of each calibrated link parameter.
    """

    ts = targets or load_targets()
    base = load_links(calibrated=False)
    names = [r.name for r in base.rows if r.calibrate]
    start = load_links().values()
    fixed = base.values()
    sims = []
    todo = ts.targeted_cohorts()
    for i, (k, name, spec, mine) in enumerate(todo):
        if progress:
            progress(f"simulating {name}")
        if steps:
            steps(f"simulating {name}", i, len(todo))
        sched = schedule_for(spec.months)
        sc = Scenario.create(spec.product, spec.dose, spec.ld, days=float(sched.horizon_days))
        vc = simulate_virtual(
            sc,
            n,
            seed + k,
            sched,
            table=population_table(),
            n_flare=int(fixed["sledai_flare_descriptors"]),
        )
        kin = kinetics(vc, aplasia_below=fixed["b_aplasia_below_per_ul"])
        sims.append((spec, vc, kin, sc.product.gvhd_tcr_residual(), mine))

    def values_of(x: np.ndarray) -> dict[str, float]:
        lk = dict(fixed)
        lk.update(dict(zip(names, (float(v) for v in x))))
        lk["sledai_theta_min"] = float(np.clip(lk["sledai_theta_min"], 0.0, 0.95))
        for k in ("crs_x50_1", "crs_x50_2"):
            if k in lk:
                lk[k] = float(np.clip(lk[k], 0.05, 5.0))
        return lk

    def loss(x: np.ndarray) -> float:
        lk = values_of(x)
        total = 0.0
        for spec, vc, kin, tcr, mine in sims:
            ev = derive_events(vc, lk, kin, tcr)
            q, w = _fast_quantities(vc, ev, lk, spec)
            for t in mine:
                if t.quantity not in q:
                    continue
                v = q[t.quantity]
                if v.size < 2:
                    continue
                r = compare(t, spec, v, np.random.default_rng(7), w, n_boot=200, classify=False)
                # Two or more values always give a simulated value and a study interval.
                assert r.simulated is not None and r.study_interval is not None
                sim = float(r.simulated)
                lo, hi = t.interval
                centre = 0.5 * (lo + hi)
                if t.statistic == "rate":
                    # Rare events (1 of 145) keep a scale of their own size, so a pooled
                    # count of one still pulls the rate away from zero.
                    p = min(max(centre, 1.0 / t.n, 0.005), 0.95)
                    scale = math.sqrt(p * (1 - p) / t.n)
                else:
                    scale = max(float(np.std(v)) / math.sqrt(t.n), 0.5)
                # Hinge on the pass rule (published interval against the study interval of the
                # simulated statistic, same resampling as the report with a fixed seed), plus a
                # weak pull towards the published centre.
                study = r.study_interval
                miss = max(lo - study[1], 0.0, study[0] - hi)
                total += (miss / scale) ** 2 + 0.02 * ((sim - centre) / scale) ** 2
        # weak pull to the start keeps unidentified directions where they were
        total += 1e-3 * float(np.sum((np.asarray(x) - np.array([start[k] for k in names])) ** 2))
        return total

    x0 = np.array([start[k] for k in names], dtype=float)
    # The SLEDAI-2K readout makes the objective step-like in the threshold and the renal lag:
    # a coarse grid over those two first keeps the simplex out of a poor local step.
    if "sledai_theta_min" in names and "sledai_renal_lag_days" in names:
        it, il = names.index("sledai_theta_min"), names.index("sledai_renal_lag_days")
        points = [
            (th, lag) for th in (0.05, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25) for lag in range(0, 95, 5)
        ]
        grid = []
        for i, (th, lag) in enumerate(points):
            if steps:
                steps("grid over the SLEDAI-2K threshold and renal lag", i, len(points))
            x = x0.copy()
            x[it], x[il] = th, float(lag)
            grid.append((loss(x), th, lag))
        _, th, lag = min(grid)
        x0[it], x0[il] = th, float(lag)
    iterations = [0]

    def step(_: Any) -> None:
        iterations[0] += 1
        if steps:
            steps("Nelder-Mead search", min(iterations[0], maxiter), maxiter)

    if steps:
        steps("Nelder-Mead search", 0, maxiter)
    best = minimize(
        loss,
        x0,
        method="Nelder-Mead",
        callback=step,
        options={"maxiter": maxiter, "xatol": 1e-3, "fatol": 1e-4, "initial_simplex": _simplex(x0)},
    )
    if steps:
        steps("Nelder-Mead search", maxiter, maxiter)
    out = values_of(best.x)
    return {k: round(float(out[k]), 4) for k in names}


def _simplex(x0: np.ndarray) -> np.ndarray:
    pts = [x0]
    for i in range(len(x0)):
        p = x0.copy()
        p[i] += max(0.25 * abs(x0[i]), 0.1)
        pts.append(p)
    return np.array(pts)


def write_calibrated(
    fitted: Mapping[str, float],
    path: str | Path | None = None,
    *,
    target_ids: Sequence[str] = (),
    model: Mapping[str, Mapping[str, Any]] | None = None,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Write ``calibrated.yaml`` (default: the package's ``resources/calibrated.yaml``)."""

    p = (
        Path(path)
        if path is not None
        else Path(str(resources.files("allocart.population").joinpath("resources/calibrated.yaml")))
    )

    def source(name: str) -> str:
        drives = [
            t
            for t in target_ids
            if any(t.endswith(sfx) for sfx in _DRIVES.get(name.rsplit("_", 1)[0], ()))
        ]
        drives = drives or list(target_ids)
        return (
            f"calibrated by `allocart calibrate` (n={n} per cohort, seed {seed}) to targets.yaml: "
            + ", ".join(drives)
        )

    doc = {
        "description": "Population-level values fitted by allocart calibrate; applied on top of links.yaml and "
        "model/resources/parameters.yaml by every cohort.",
        "links": {k: {"value": float(v), "source": source(k)} for k, v in fitted.items()},
        "model": {k: dict(v) for k, v in (model or {}).items()},
    }
    atomic_write_text(
        p,
        "# Written by `allocart calibrate`; check with `allocart calibrate --check`.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=120),
    )
    load_calibrated.cache_clear()
    return p


def load_calibrated_model() -> dict[str, dict[str, Any]]:
    """The model-parameter entries of the current ``calibrated.yaml`` (kept when refitting links)."""

    return {k: dict(v) for k, v in (load_calibrated().get("model") or {}).items()}
