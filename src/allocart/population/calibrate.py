"""Calibration of the population to published summary targets, and its report.

The targets (``data/targets.yaml``) are the numbers of the reference's developer set
(``shared/reference/calibration-targets.md``), each tied to the cohort of its series: product,
dose, lymphodepletion and a selection of virtual patients that matches the series' enrolment.

:func:`fit` adjusts the link parameters marked ``calibrate: true`` in ``data/links.yaml`` (CRS
and ICANS intercepts, the SLEDAI-2K remission threshold) so that the simulated statistics
approach the targets. Each cohort is simulated once; the search re-derives events from the
stored trajectories with common random numbers (the same uniforms for every trial value), so
the objective changes smoothly and costs no ODE solves. The fitted values are written to
``data/calibrated.yaml``, which every cohort applies by default.

:func:`evaluate` (``allocart calibrate --check``) simulates every target cohort through the
full path (records scored by the clinical library) and compares each statistic with its
target. A target passes when the published value, or the reported range, lies inside the 95%
interval of the statistic in simulated studies of the published size (exact binomial for
rates; resampling of the virtual cohort otherwise). The report lists every target, its
source, the simulated value with its Monte-Carlo 95% interval and the study interval, pass or
fail, and for an unmet target the reason recorded in ``targets.yaml``.

Not every target can tell a good population from a poor one: a rate of 0 of 3 is met by every
true rate up to 0.71. :func:`informativeness` marks such a target *uninformative* (the rules
are in its docstring), and the report counts the met targets that are, so agreement with a
handful of tiny series is not overstated.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import binom

from allocart.population.covariates import PopulationError

__all__ = [
    "CohortSpec",
    "Target",
    "TargetSet",
    "load_targets",
    "evaluate",
    "fit",
    "write_calibrated",
    "write_report",
    "TargetResult",
    "CalibrationReport",
    "DEFAULT_N",
    "DEFAULT_SEED",
    "load_calibrated_model",
    "informativeness",
    "accepted_rates",
    "UNINFORMATIVE_RATE_SPAN",
]

DEFAULT_N = 400
"""Virtual patients simulated per target cohort (before selection)."""
DEFAULT_SEED = 20260
"""Seed of the calibration cohorts (fixed so the committed report is reproducible)."""
_BOOT = 1000
UNINFORMATIVE_RATE_SPAN = 0.5
"""A rate target met by every true rate over more than this share of 0-1 is uninformative."""

#: Boolean quantities derived from grade columns.
_DERIVED: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "crs_any": lambda p: p["crs_grade"] >= 1,
    "crs_ge2": lambda p: p["crs_grade"] >= 2,
    "crs_ge3": lambda p: p["crs_grade"] >= 3,
    "icans_any": lambda p: p["icans_grade"] >= 1,
    "gvhd_any": lambda p: p["gvhd_grade"] >= 1,
    "neutropenia_ge3": lambda p: p["neutropenia_grade_max"] >= 3,
}
#: Covariate names of `select:` and the patient-table column they read.
_SELECT_COLUMNS = {"lupus_nephritis": "nephritis", "female": "female"}
_STATISTICS = ("rate", "median", "mean", "sd")
#: Target-id endings each family of calibrated link parameters is fitted to (named in the
#: calibrated values' sources).
_DRIVES = {
    "crs_x50": ("_crs", "_crs_any", "_crs_ge2", "_crs_ge3"),
    "icans_alpha0": ("_icans",),
    "sledai_theta": ("_sledai_m3", "_sledai_m6", "_doris_m3"),
    "sledai_renal_lag": ("_sledai_m3", "_sledai_m6", "_doris_m3"),
}


@dataclass(frozen=True)
class CohortSpec:
    """The scenario of a published series and the selection matching its enrolment."""

    name: str
    title: str
    product: str
    dose: str
    ld: str
    months: tuple[int, ...] = (3, 6)
    select: dict[str, Any] = field(default_factory=dict)
    select_source: str = ""
    source: str = ""
    weight_to: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One published summary number (see ``data/targets.yaml``)."""

    id: str
    cohort: str
    quantity: str
    statistic: str
    n: int
    source: str
    tag: str
    value: float | None = None
    range: tuple[float, float] | None = None
    unmet_reason: str = ""

    @property
    def interval(self) -> tuple[float, float]:
        """The published value as an interval (the reported range where there is one)."""
        if self.range is not None:
            return (float(self.range[0]), float(self.range[1]))
        return (float(self.value), float(self.value))  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.value is not None and self.range is not None:
            return f"{self.value:g} ({self.range[0]:g}-{self.range[1]:g})"
        if self.value is not None:
            return f"{self.value:g}"
        return f"{self.range[0]:g}-{self.range[1]:g}"  # type: ignore[index]


@dataclass(frozen=True)
class TargetSet:
    cohorts: dict[str, CohortSpec]
    targets: tuple[Target, ...]
    not_simulated: tuple[dict[str, str], ...]


def load_targets(path: str | Path | None = None) -> TargetSet:
    """Read and validate a target file (default: the package's ``data/targets.yaml``).

    Raises
    ------
    PopulationError
        On a missing field, an unknown cohort, statistic or quantity, or a target without a
        value or range.
    """
    from allocart.files import load_yaml

    if path is None:
        text = resources.files("allocart.population").joinpath("data/targets.yaml").read_text()
        origin = "targets.yaml"
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PopulationError(f"{origin}: not valid YAML: {exc}") from None
    else:
        origin = str(path)
        data = load_yaml(path, what="--targets", error=PopulationError) or {}
    if not isinstance(data, dict):
        raise PopulationError(
            f"{origin}: must be a mapping with `cohorts` and `targets`, got {type(data).__name__}"
        )
    cohorts: dict[str, CohortSpec] = {}
    for name, c in (data.get("cohorts") or {}).items():
        for key in ("product", "dose", "ld"):
            if key not in c:
                raise PopulationError(f"{origin}: cohort `{name}` has no `{key}`")
        sel = dict(c.get("select") or {})
        for k in sel:
            if k not in _SELECT_COLUMNS:
                raise PopulationError(
                    f"{origin}: cohort `{name}`: select `{k}` is unknown; use {', '.join(_SELECT_COLUMNS)}"
                )
        cohorts[name] = CohortSpec(
            name=name,
            title=str(c.get("title", name)),
            product=str(c["product"]),
            dose=str(c["dose"]),
            ld=str(c["ld"]),
            months=tuple(int(m) for m in c.get("months", (3, 6))),
            select=sel,
            select_source=str(c.get("select_source", "")),
            source=str(c.get("source", "")),
            weight_to={str(k): float(v) for k, v in (c.get("weight_to") or {}).items()},
        )
        for k in cohorts[name].weight_to:
            if k != "sledai2k_baseline":
                raise PopulationError(
                    f"{origin}: cohort `{name}`: weight_to `{k}` is unknown; use sledai2k_baseline"
                )
    targets = []
    seen: set[str] = set()
    for i, t in enumerate(data.get("targets") or []):
        where = f"{origin}: targets[{i}]"
        for key in ("id", "cohort", "quantity", "statistic", "n", "source"):
            if key not in t:
                raise PopulationError(f"{where}: field `{key}` is missing")
        if t["id"] in seen:
            raise PopulationError(f"{where}: id {t['id']!r} repeats an earlier target")
        seen.add(t["id"])
        if t["cohort"] not in cohorts:
            raise PopulationError(
                f"{where} ({t['id']}): cohort {t['cohort']!r} is not defined under `cohorts`"
            )
        if t["statistic"] not in _STATISTICS:
            raise PopulationError(
                f"{where} ({t['id']}): statistic {t['statistic']!r}; use {', '.join(_STATISTICS)}"
            )
        if t.get("value") is None and t.get("range") is None:
            raise PopulationError(
                f"{where} ({t['id']}): give the published `value`, a `range`, or both"
            )
        if int(t["n"]) < 1:
            raise PopulationError(f"{where} ({t['id']}): `n` = {t['n']!r} must be at least 1")
        rng = t.get("range")
        targets.append(
            Target(
                id=str(t["id"]),
                cohort=str(t["cohort"]),
                quantity=str(t["quantity"]),
                statistic=str(t["statistic"]),
                n=int(t["n"]),
                source=str(t["source"]),
                tag=str(t.get("tag", "")),
                value=None if t.get("value") is None else float(t["value"]),
                range=None if rng is None else (float(rng[0]), float(rng[1])),
                unmet_reason=str(t.get("unmet_reason", "")),
            )
        )
    return TargetSet(
        cohorts, tuple(targets), tuple(dict(x) for x in (data.get("not_simulated") or []))
    )


# ---- statistics -----------------------------------------------------------------------------


def select_patients(patients: pd.DataFrame, spec: CohortSpec) -> pd.DataFrame:
    """Patients matching the cohort's enrolment (and not failed)."""
    mask = ~patients["failed"].astype(bool)
    for k, v in spec.select.items():
        mask &= patients[_SELECT_COLUMNS[k]].astype(bool) == bool(v)
    return patients[mask]


def tilt_weights(x: np.ndarray, mean: float) -> np.ndarray:
    """Exponential-tilting weights ``w_i ~ exp(lam * x_i)`` whose weighted mean of ``x`` is ``mean``.

    The weights that change the virtual cohort least (minimum Kullback-Leibler divergence from
    equal weights) while matching a published baseline mean; the target must lie strictly
    inside the range of ``x``.
    """
    from scipy.optimize import brentq

    x = np.asarray(x, dtype=float)
    if not x.min() < mean < x.max():
        raise PopulationError(
            f"weight_to: mean {mean:g} lies outside the simulated range {x.min():g}-{x.max():g}"
        )
    z = (x - x.mean()) / (x.std() or 1.0)

    def wmean(lam: float) -> float:
        w = np.exp(lam * z - np.max(lam * z))
        return float((w * x).sum() / w.sum()) - mean

    lam = brentq(wmean, -20.0, 20.0)
    w = np.exp(lam * z - np.max(lam * z))
    return w / w.sum()


def cohort_weights(patients: pd.DataFrame, spec: CohortSpec) -> np.ndarray | None:
    """Weights of the selected patients (None = equal weights)."""
    if not spec.weight_to:
        return None
    return tilt_weights(
        patients["sledai2k_baseline"].to_numpy(dtype=float), spec.weight_to["sledai2k_baseline"]
    )


def quantity(
    patients: pd.DataFrame, name: str, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Values of a target quantity (a patient column or a derived boolean), finite only, with their weights."""
    if name in _DERIVED:
        v = _DERIVED[name](patients).to_numpy(dtype=float)
    elif name in patients.columns:
        v = patients[name].to_numpy(dtype=float)
    else:
        raise PopulationError(
            f"target quantity {name!r} is neither a patient column nor one of {', '.join(_DERIVED)}"
        )
    keep = np.isfinite(v)
    w = None if weights is None else weights[keep] / weights[keep].sum()
    return v[keep], w


def _stat(statistic: str, v: np.ndarray, axis: int | None = None) -> Any:
    if statistic in ("rate", "mean"):
        return np.mean(v, axis=axis)
    if statistic == "median":
        return np.median(v, axis=axis)
    return np.std(v, axis=axis, ddof=1)


@dataclass(frozen=True)
class TargetResult:
    """Outcome of one target."""

    target: Target
    cohort: CohortSpec
    n_sim: int
    simulated: float | None
    mc_interval: tuple[float, float] | None
    study_interval: tuple[float, float] | None
    passed: bool
    reason: str = ""
    informative: bool = True
    uninformative_reason: str = ""
    accepted_rates: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        study = None if self.study_interval is None else list(self.study_interval)
        return {
            "id": t.id,
            "cohort": t.cohort,
            "scenario": f"{self.cohort.product} {self.cohort.dose} {self.cohort.ld}",
            "selection": self.cohort.select,
            "quantity": t.quantity,
            "statistic": t.statistic,
            "published": t.describe(),
            "published_interval": list(t.interval),
            "n_published": t.n,
            "tag": t.tag,
            "source": t.source,
            "n_simulated": self.n_sim,
            "simulated": self.simulated,
            "mc_interval_95": None if self.mc_interval is None else list(self.mc_interval),
            "study_interval_95": study,
            "acceptance_interval_95": study,
            "accepted_true_rates": None
            if self.accepted_rates is None
            else list(self.accepted_rates),
            "informative": self.informative,
            "uninformative_reason": self.uninformative_reason,
            "passed": self.passed,
            "reason": self.reason,
        }


def accepted_rates(target: Target) -> tuple[float, float] | None:
    """The true rates at which a rate target is met: ``(lowest, highest)``, or None.

    A rate target is met when its published value (or range) meets the exact binomial 95%
    interval of studies of ``target.n`` patients at the simulated rate; this returns the range
    of true rates for which that holds (on a grid of 0.0005), whatever the simulation gives.
    None for other statistics, and for a published interval outside 0-1.
    """
    if target.statistic != "rate":
        return None
    p = np.linspace(0.0, 1.0, 2001)
    n = target.n
    study_lo = binom.ppf(0.025, n, p) / n
    study_hi = binom.ppf(0.975, n, p) / n
    lo, hi = target.interval
    ok = (lo <= study_hi + 1e-12) & (hi >= study_lo - 1e-12)
    if not ok.any():
        return None
    return float(p[ok].min()), float(p[ok].max())


def informativeness(
    target: Target, study: tuple[float, float] | None, values: np.ndarray | None = None
) -> tuple[bool, str, tuple[float, float] | None]:
    """Whether a target can discriminate, the reason if it cannot, and the true rates it accepts.

    :func:`compare` applies it to met targets only (a miss did discriminate). A target is
    *uninformative* when

    * it is a rate and its acceptance interval (the study interval of the simulated rate)
      covers every possible rate, 0 to 1;
    * it is a rate met by every true rate over more than :data:`UNINFORMATIVE_RATE_SPAN` of
      0-1 (:func:`accepted_rates`): 0 of 3 is met by any rate up to 0.71, 5 of 5 by any rate
      from 0.48, 3 of 5 by any from 0.15 to 0.95;
    * it is a median or mean of one patient (the acceptance interval is the spread of single
      patients), or an SD of fewer than two;
    * it is a median or mean whose acceptance interval, or published range, covers the central
      95% of the simulated patients' values (``values``): no narrower than one patient.

    Returns
    -------
    (informative, reason, accepted)
        ``reason`` is empty for an informative target; ``accepted`` is the range of true rates
        that meet a rate target (None for other statistics).
    """
    accepted = accepted_rates(target)
    if target.statistic == "rate":
        if study is not None and study[0] <= 1e-12 and study[1] >= 1 - 1e-12:
            return False, "the acceptance interval 0-1 holds every possible rate", accepted
        if accepted is not None and accepted[1] - accepted[0] > UNINFORMATIVE_RATE_SPAN:
            a, b = accepted
            span = (
                f"up to {b:.2f}"
                if a < 0.005
                else f"from {a:.2f}"
                if b > 0.995
                else f"from {a:.2f} to {b:.2f}"
            )
            return False, f"met by any true rate {span} (n = {target.n})", accepted
        return True, "", accepted
    if target.statistic == "sd":
        if target.n < 2:
            return False, "an SD of fewer than two patients", None
        return True, "", None
    if target.n == 1:
        return (
            False,
            f"the {target.statistic} of one patient: any single patient's value is met",
            None,
        )
    if values is not None and np.size(values) >= 2:
        q = np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])
        spread = f"{_fmt(float(q[0]))}-{_fmt(float(q[1]))}"
        if study is not None and study[0] <= q[0] + 1e-12 and study[1] >= q[1] - 1e-12:
            return (
                False,
                f"the acceptance interval covers the spread of single patients ({spread})",
                None,
            )
        lo, hi = target.interval
        if lo <= q[0] + 1e-12 and hi >= q[1] - 1e-12:
            return (
                False,
                f"the published range covers the spread of single patients ({spread})",
                None,
            )
    return True, "", None


def compare(
    target: Target,
    spec: CohortSpec,
    values: np.ndarray,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    n_boot: int = _BOOT,
    classify: bool = True,
) -> TargetResult:
    """Compare simulated per-patient values with one target (see the module docstring).

    With ``weights`` (a cohort weighted to a published baseline), resampling draws patients
    with those probabilities and the simulated value is the statistic of a large weighted
    resample. With ``classify`` (the default) the result says whether the target is
    informative (:func:`informativeness`); the calibration search leaves that out.
    """
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return TargetResult(
            target,
            spec,
            int(v.size),
            None,
            None,
            None,
            False,
            target.unmet_reason or "fewer than two simulated patients have a value",
            accepted_rates=accepted_rates(target) if classify else None,
        )

    def draw(size: tuple[int, int]) -> np.ndarray:
        return (
            v[rng.choice(v.size, size=size, p=weights)]
            if weights is not None
            else v[rng.integers(0, v.size, size)]
        )

    sim = (
        float(_stat(target.statistic, v))
        if weights is None
        else float(_stat(target.statistic, draw((1, 20000))[0]))
    )
    boot = _stat(target.statistic, draw((n_boot, v.size)), axis=1)
    mc = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    n = target.n
    if target.statistic == "rate":
        study = (float(binom.ppf(0.025, n, sim) / n), float(binom.ppf(0.975, n, sim) / n))
    elif target.statistic == "sd" and n < 2:
        study = (0.0, 0.0)
    else:
        sub = _stat(target.statistic, draw((n_boot * 2, n)), axis=1)
        study = (float(np.percentile(sub, 2.5)), float(np.percentile(sub, 97.5)))
    lo, hi = target.interval
    ok = lo <= study[1] + 1e-12 and hi >= study[0] - 1e-12
    reason = (
        "" if ok else (target.unmet_reason or "unexplained: no reason recorded in targets.yaml")
    )
    if ok and spec.weight_to and target.quantity in spec.weight_to:
        reason = "matched by weighting the cohort to this published baseline"
    info = informativeness(target, study, v) if classify else (True, "", None)
    if not ok:  # a miss did discriminate: only a met target is marked uninformative
        info = (True, "", info[2])
    return TargetResult(target, spec, int(v.size), sim, mc, study, ok, reason, *info)


@dataclass(frozen=True)
class CalibrationReport:
    """All target results of one evaluation."""

    results: tuple[TargetResult, ...]
    not_simulated: tuple[dict[str, str], ...]
    links: dict[str, float]
    model: dict[str, float]
    n: int
    seed: int
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def passed_uninformative(self) -> int:
        """Met targets that cannot discriminate (:func:`informativeness`)."""
        return sum(r.passed and not r.informative for r in self.results)

    def headline(self) -> str:
        """For example ``"42 of 47 targets met (of which 16 uninformative)"``."""
        return (
            f"{self.passed} of {len(self.results)} targets met "
            f"(of which {self.passed_uninformative} uninformative)"
        )

    @property
    def unexplained(self) -> list[TargetResult]:
        """Failed targets without a recorded reason (these make ``--check`` fail)."""
        return [r for r in self.results if not r.passed and not r.target.unmet_reason]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_per_cohort": self.n,
            "seed": self.seed,
            "passed": self.passed,
            "total": len(self.results),
            "passed_uninformative": self.passed_uninformative,
            "passed_informative": self.passed - self.passed_uninformative,
            "uninformative": [r.target.id for r in self.results if not r.informative],
            "headline": self.headline(),
            "unexplained_failures": [r.target.id for r in self.unexplained],
            "calibrated_links": self.links,
            "calibrated_model": self.model,
            "targets": [r.to_dict() for r in self.results],
            "unmet": [
                {"id": r.target.id, "reason": r.reason} for r in self.results if not r.passed
            ],
            "not_simulated": list(self.not_simulated),
            "cohort_summaries": self.summaries,
        }


def evaluate(
    targets: TargetSet | None = None,
    *,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
    links: Any = None,
    model_overrides: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
    steps: Callable[[str, int, int], None] | None = None,
) -> CalibrationReport:
    """Simulate every target cohort through the full path and compare it with its targets.

    Parameters
    ----------
    targets : TargetSet, optional
        Default: the package's targets.
    n : int
        Virtual patients per cohort (before selection).
    seed : int
        Seed of the cohorts (each cohort gets ``seed`` plus its position).
    links : LinkTable, optional
        Default: the calibrated link table.
    progress : callable, optional
        ``progress(message)`` as each cohort starts.
    steps : callable, optional
        ``steps(what, done, total)``: cohorts evaluated so far out of all (for a progress bar).
    """
    from allocart.population.cohort import simulate_cohort
    from allocart.population.links import load_calibrated, load_links

    ts = targets or load_targets()
    lk = links or load_links()
    rng = np.random.default_rng(seed)
    results: list[TargetResult] = []
    summaries: dict[str, dict[str, Any]] = {}
    todo = [name for name in ts.cohorts if any(t.cohort == name for t in ts.targets)]
    for k, (name, spec) in enumerate(ts.cohorts.items()):
        mine = [t for t in ts.targets if t.cohort == name]
        if not mine:
            continue
        if progress:
            progress(f"{name}: {spec.product} {spec.dose} {spec.ld}")
        if steps:
            steps(f"evaluating {name}", todo.index(name), len(todo))
        res = simulate_cohort(
            spec.product,
            spec.dose,
            spec.ld,
            n=n,
            seed=seed + k,
            months=spec.months,
            links=lk,
            model_overrides=model_overrides,
        )
        sel = select_patients(res.patients, spec)
        w = cohort_weights(sel, spec)
        summaries[name] = {"n_selected": int(len(sel)), **_brief(res.summary())}
        for t in mine:
            v, wv = quantity(sel, t.quantity, w)
            results.append(compare(t, spec, v, rng, wv))
    if steps:
        steps("evaluated every target cohort", len(todo), len(todo))
    model = {k: float(v["value"]) for k, v in (load_calibrated().get("model") or {}).items()}
    if model_overrides:
        model.update({k: float(v) for k, v in model_overrides.items()})
    calibrated = {r.name: r.value for r in lk.rows if r.calibrate}
    return CalibrationReport(
        tuple(results), ts.not_simulated, calibrated, model, int(n), int(seed), summaries
    )


def _brief(summary: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in summary.items():
        out[k] = (
            {"median": v["median"], "p05": v["p05"], "p95": v["p95"]} if isinstance(v, dict) else v
        )
    return out


# ---- fitting --------------------------------------------------------------------------------


def _fast_quantities(
    vc: Any, ev: Any, lk: Mapping[str, float], spec: CohortSpec
) -> dict[str, np.ndarray]:
    """Per-patient quantities of the selected patients from arrays (no records), for the search."""
    from allocart.population.events import sledai2k_fast
    from allocart.population.readout import clinical_score

    ok = ~vc.failed
    for k, v in spec.select.items():
        ok &= vc.covariates[k].astype(bool) == bool(v)
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
    from scipy.optimize import minimize

    from allocart.model.scenario import Scenario
    from allocart.population.events import derive_events
    from allocart.population.links import load_links
    from allocart.population.schedule import schedule_for
    from allocart.population.virtual import kinetics, population_table, simulate_virtual

    ts = targets or load_targets()
    base = load_links(calibrated=False)
    names = [r.name for r in base.rows if r.calibrate]
    start = load_links().values()
    fixed = base.values()
    sims = []
    todo = [name for name in ts.cohorts if any(t.cohort == name for t in ts.targets)]
    for k, (name, spec) in enumerate(ts.cohorts.items()):
        mine = [t for t in ts.targets if t.cohort == name]
        if not mine:
            continue
        if progress:
            progress(f"simulating {name}")
        if steps:
            steps(f"simulating {name}", todo.index(name), len(todo))
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
    """Write ``calibrated.yaml`` (default: the package's ``data/calibrated.yaml``)."""
    from allocart.population.links import load_calibrated

    p = (
        Path(path)
        if path is not None
        else Path(str(resources.files("allocart.population").joinpath("data/calibrated.yaml")))
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
        "model/data/parameters.yaml by every cohort.",
        "links": {k: {"value": float(v), "source": source(k)} for k, v in fitted.items()},
        "model": {k: dict(v) for k, v in (model or {}).items()},
    }
    tmp = p.with_name(p.name + ".partial")
    tmp.write_text(
        "# Written by `allocart calibrate`; check with `allocart calibrate --check`.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=120)
    )
    tmp.replace(p)
    load_calibrated.cache_clear()
    return p


# ---- report ---------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def write_report(report: CalibrationReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``calibration.json`` and ``calibration.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "calibration.json"
    jpath.write_text(json.dumps(report.to_dict(), indent=2, default=float))
    rows = []
    for r in report.results:
        t = r.target
        cls = "pass" if r.passed else "fail"
        mc = "-" if r.mc_interval is None else f"{_fmt(r.mc_interval[0])}-{_fmt(r.mc_interval[1])}"
        st = (
            "-"
            if r.study_interval is None
            else f"{_fmt(r.study_interval[0])}-{_fmt(r.study_interval[1])}"
        )
        if not r.informative:
            cls += " uninformative"
        info = (
            "yes"
            if r.informative
            else f"<b>uninformative</b>: {html.escape(r.uninformative_reason)}"
        )
        rows.append(
            f"<tr class='{cls}'><td>{html.escape(t.id)}</td><td>{html.escape(r.cohort.product)} {html.escape(r.cohort.dose)} "
            f"{html.escape(r.cohort.ld)}</td><td>{html.escape(t.statistic)} of {html.escape(t.quantity)}</td>"
            f"<td>{t.n}</td><td>{html.escape(t.describe())} ({html.escape(t.tag)})</td><td>{_fmt(r.simulated)}</td>"
            f"<td>{mc}</td><td>{st}</td><td>{'pass' if r.passed else 'FAIL'}</td><td>{info}</td>"
            f"<td>{html.escape(t.source)}</td><td>{html.escape(r.reason)}</td></tr>"
        )
    ns = "".join(
        f"<li><b>{html.escape(x.get('quantity', ''))}</b> ({html.escape(x.get('source', ''))}): "
        f"{html.escape(x.get('reason', ''))}</li>"
        for x in report.not_simulated
    )
    params = "".join(
        f"<li><code>{html.escape(k)}</code> = {v:g}</li>"
        for k, v in {**report.links, **report.model}.items()
    )
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>allocart calibration report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}tr.pass td:nth-child(9){{background:#d8f5d8}}
tr.fail td:nth-child(9){{background:#f8d0d0}}tr.pass.uninformative td:nth-child(9){{background:#eeeeee}}</style></head><body>
<h1>Calibration report</h1>
<p><b>{html.escape(report.headline())}</b>; {report.passed - report.passed_uninformative} met targets can discriminate.
{report.n} virtual patients per cohort (before selection), seed {report.seed}. A target passes when the published
value or range lies inside its acceptance interval: the 95% interval of the statistic in simulated studies of the
published size n (study interval). A met target is marked uninformative when it cannot discriminate: its acceptance interval
holds every possible value, a rate target is met by every true rate over more than
{UNINFORMATIVE_RATE_SPAN:g} of 0-1 (0 of 3 by any rate up to 0.71), or a median or mean is of one patient or no
narrower than the spread of single patients. MC interval: 95% bootstrap interval of the simulated value.</p>
<table><tr><th>target</th><th>scenario</th><th>statistic</th><th>n</th><th>published</th><th>simulated</th>
<th>MC 95%</th><th>acceptance (study 95%)</th><th>result</th><th>informative</th><th>source</th>
<th>reason if unmet</th></tr>
{"".join(rows)}</table>
<h2>Calibrated values</h2><ul>{params}</ul>
<h2>Reference rows not simulated</h2><ul>{ns}</ul>
</body></html>
"""
    hpath = out / "calibration.html"
    hpath.write_text(doc)
    return jpath, hpath


def load_calibrated_model() -> dict[str, dict[str, Any]]:
    """The model-parameter entries of the current ``calibrated.yaml`` (kept when refitting links)."""
    from allocart.population.links import load_calibrated

    return {k: dict(v) for k, v in (load_calibrated().get("model") or {}).items()}
