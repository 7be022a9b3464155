"""Evaluation of the population against its calibration targets: per-target comparison
(study and Monte-Carlo intervals), informativeness, and the full-path check of every cohort."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import binom

from allocart.population.calibrate.targets import (
    DEFAULT_N,
    DEFAULT_SEED,
    CohortSpec,
    Target,
    TargetSet,
    cohort_weights,
    load_targets,
    quantity,
    select_patients,
)
from allocart.population.cohort import simulate_cohort
from allocart.population.links import load_calibrated, load_links

__all__ = [
    "UNINFORMATIVE_RATE_SPAN",
    "CalibrationReport",
    "TargetResult",
    "accepted_rates",
    "compare",
    "evaluate",
    "informativeness",
]

_BOOT = 1000
UNINFORMATIVE_RATE_SPAN = 0.5
"""A rate target met by every true rate over more than this share of 0-1 is uninformative."""


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

    ts = targets or load_targets()
    lk = links or load_links()
    rng = np.random.default_rng(seed)
    results: list[TargetResult] = []
    summaries: dict[str, dict[str, Any]] = {}
    todo = ts.targeted_cohorts()
    for i, (k, name, spec, mine) in enumerate(todo):
        if progress:
            progress(f"{name}: {spec.product} {spec.dose} {spec.ld}")
        if steps:
            steps(f"evaluating {name}", i, len(todo))
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


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"
