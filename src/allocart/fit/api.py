"""Fit a dataset and write its posterior, diagnostics, forecasts and report: the API behind
``allocart fit``.

Methods and levels:
======================  ===============================================================
``map``, individual     posterior mode of each patient under the table's population prior,
                        Laplace approximation for intervals
``nuts``, individual    NUTS of each patient under the table's population prior
``map``, population     population point estimate (iterative two-stage), patients' modes
                        under the fitted population, Laplace approximations
``nuts``, population    NUTS of the hierarchical model of the cohort
======================  ===============================================================

``level="auto"`` is ``population`` for two patients or more and ``individual`` for one.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocart.fit.bayes import fit_individual_nuts, fit_population_nuts
from allocart.fit.coverage import individual_coverage
from allocart.fit.forecast import forecast
from allocart.fit.jaxmodel import require_jax
from allocart.fit.npde import DEFAULT_SIMULATIONS
from allocart.fit.optimize import check_backend, mode_diagnostics, posterior_modes
from allocart.fit.outputs import OutputOptions, write_standard_outputs
from allocart.fit.plots import plot_gof, plot_individual, plot_vpc
from allocart.fit.popfit import fit_population_its, population_result
from allocart.fit.problem import DEFAULT_PARAMS, FitProblem, build_problem
from allocart.fit.residual import FitError, load_residual_models
from allocart.fit.result import FitResult, write_posterior
from allocart.fit.vpc import DEFAULT_MAX_BINS, DEFAULT_REPLICATES

__all__ = [
    "FitOptions",
    "fit_problem",
    "fit_dataset",
    "individual_map_result",
    "run_fit",
    "parse_params",
    "parse_observables",
    "METHODS",
    "LEVELS",
]

METHODS = ("map", "nuts")
LEVELS = ("auto", "individual", "population")


@dataclass(frozen=True)
class FitOptions:
    """Options of a fit (see the module docstring)."""

    params: tuple[str, ...] = DEFAULT_PARAMS
    method: str = "map"
    level: str = "auto"
    chains: int = 4
    warmup: int = 150
    samples: int = 150
    seed: int = 0
    observables: tuple[str, ...] | None = None
    horizon: float = 365.0
    forecast_draws: int = 200
    backend: str = "sensitivity"
    npde_simulations: int = DEFAULT_SIMULATIONS
    vpc_replicates: int = DEFAULT_REPLICATES
    vpc_bins: int = DEFAULT_MAX_BINS

    def __post_init__(self) -> None:
        check_backend(self.backend)
        if self.method not in METHODS:
            raise FitError(
                f"method: {self.method!r} is not one of {', '.join(METHODS)}", argument="method"
            )
        if self.level not in LEVELS:
            raise FitError(
                f"level: {self.level!r} is not one of {', '.join(LEVELS)}", argument="level"
            )
        if not (np.isfinite(self.horizon) and self.horizon > 0):
            raise FitError(
                f"horizon: {self.horizon!r} must be a positive number of days", argument="horizon"
            )
        for name, value in (
            ("chains", self.chains),
            ("warmup", self.warmup),
            ("samples", self.samples),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise FitError(
                    f"{name}: {value!r} must be a whole number of at least 1", argument=name
                )
        self.output_options()  # checks npde_simulations, vpc_replicates and vpc_bins

    def output_options(self) -> OutputOptions:
        """The simulation settings of the standard outputs (sdtab, VPC table, posterior.nc)."""
        return OutputOptions(
            npde_simulations=self.npde_simulations,
            vpc_replicates=self.vpc_replicates,
            vpc_bins=self.vpc_bins,
            seed=self.seed,
        )

    def check_dependencies(self) -> None:
        """Raise a one-line :class:`FitError` naming the optional JAX extra when these options
        need it and it is not installed: ``method="nuts"`` (NumPyro, ArviZ) or
        ``backend="jax"`` (diffrax). The default (``map`` on the ``sensitivity`` backend) runs
        on NumPy, SciPy and numba alone."""

        if self.method == "nuts":
            require_jax("method='nuts'", ("numpyro", "arviz"), argument="method")
        if self.backend == "jax":
            require_jax("backend='jax'", ("diffrax",), argument="backend")


def individual_map_result(
    problem: FitProblem, *, draws: int = 400, seed: int = 0, backend: str = "sensitivity"
) -> FitResult:
    """Posterior modes under the table's prior, with Laplace draws."""

    t0 = time.perf_counter()
    modes = posterior_modes(problem, backend=backend)
    rng = np.random.default_rng(seed)
    n, k = problem.n, problem.k
    theta = np.empty((1, draws, n, k))
    for i in range(n):
        L = np.linalg.cholesky(modes.cov[i] + 1e-14 * np.eye(k))
        theta[0, :, i, :] = modes.theta[i] + rng.standard_normal((draws, k)) @ L.T
    seconds = time.perf_counter() - t0
    diag = {
        "sampler": "none (posterior mode, Laplace approximation)",
        "iterations": modes.iterations,
        "evaluations": modes.evaluations,
        "patients_converged": int(modes.converged.sum()),
        "patients_not_converged": [problem.ids[i] for i in np.flatnonzero(~modes.converged)],
        "converged": bool(modes.converged.all()),
        "seconds": seconds,
        "per_patient": mode_diagnostics(problem, modes, problem.prior_sd),
    }
    return FitResult(
        problem=problem,
        method="map",
        level="individual",
        theta=problem.to_natural(theta),
        mode=problem.to_natural(modes.theta),
        diagnostics=diag,
        seconds=seconds,
    )


def fit_problem(
    problem: FitProblem, options: FitOptions = FitOptions(), *, progress: bool = False
) -> FitResult:
    """Fit a :class:`FitProblem` with the method and level of ``options``.

    The default path (``map`` with the ``sensitivity`` backend) does not import JAX; NUTS and
    the ``jax`` backend need the optional extra (:meth:`FitOptions.check_dependencies`).
    """
    options.check_dependencies()
    level = options.level
    if level == "auto":
        level = "population" if problem.n >= 2 else "individual"
    if level == "population" and problem.n < 2:
        raise FitError(
            f"level: 'population' needs at least 2 patients, not {problem.n}; use 'individual'",
            argument="level",
        )
    if options.method == "map":
        if level == "individual":
            return individual_map_result(problem, seed=options.seed, backend=options.backend)

        return population_result(
            fit_population_its(problem, backend=options.backend), seed=options.seed
        )

    fn = fit_individual_nuts if level == "individual" else fit_population_nuts
    return fn(
        problem,
        chains=options.chains,
        num_warmup=options.warmup,
        num_samples=options.samples,
        seed=options.seed,
        progress=progress,
        backend=options.backend,
    )


def fit_dataset(
    dataset,
    options: FitOptions = FitOptions(),
    *,
    table=None,
    residual=None,
    progress: bool = False,
) -> FitResult:
    """Build the problem of ``dataset`` and fit it."""
    pb = build_problem(
        dataset,
        options.params,
        observables=options.observables,
        table=table,
        residual=residual or load_residual_models(),
    )
    return fit_problem(pb, options, progress=progress)


def run_fit(
    dataset,
    out: str | Path,
    options: FitOptions = FitOptions(),
    *,
    table=None,
    residual=None,
    plots: bool = True,
    echo: Callable[[str], Any] | None = None,
    truth: pd.DataFrame | None = None,
    report: Callable[..., Path] | None = None,
) -> dict[str, Path]:
    """Fit, forecast and write everything into ``out``.

    Files: ``posterior.parquet`` (draws per patient), ``population.parquet`` (population fits),
    ``estimates.csv``, ``diagnostics.json``, ``forecast.csv`` (per patient), ``forecast_bands.csv``
    (daily 90% bands), the standard outputs of :mod:`allocart.fit.outputs` (``sdtab1``,
    ``sdtab.csv``, ``patab1``, ``parameters.csv``, ``vpc.csv``, ``posterior.nc``), ``gof.png``,
    ``individual.png``, ``vpc.png`` (drawn from ``vpc.csv``) and, with ``report``, ``report.html``.

    ``truth``: a frame of true parameter values (column ``id``, one column per parameter, see
    :func:`allocart.fit.coverage.read_truth`) for data simulated with known values; the
    coverage of the individual 90% intervals is then checked, written to ``diagnostics.json``
    (``coverage``) and ``coverage.csv``, reported, and a failed check printed as a warning.

    ``report``: writes ``report.html`` from the finished fit, called as
    ``report(result, path, forecast=, plots=, coverage=, extra=)`` (the report layer's
    :func:`allocart.report.fit.write_report`, which ``allocart fit`` passes); default: no
    report. The fit layer never imports the report layer.
    """

    options.check_dependencies()  # before any work: NUTS without JAX fails in one line, at once
    say = echo or (lambda s: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = fit_dataset(dataset, options, table=table, residual=residual)
    say(f"fitted {res.problem.n} patient(s) by {res.method} ({res.level}) in {res.seconds:.1f} s")
    warning = convergence_warning(res.diagnostics)
    if warning:
        say(warning)
    for name, v in (res.population or {}).items():
        if v.get("omega_method") == "wald":
            say(f"note: the omega interval of {name} is a Wald interval: {v.get('omega_note', '')}")
    coverage = None
    if truth is not None:
        coverage = individual_coverage(res, truth)
        res.diagnostics["coverage"] = {k: v for k, v in coverage.items() if k != "rows"}
        say(
            f"coverage against the true values: {coverage['covered']} of {coverage['n']} individual 90% intervals"
            + (
                ""
                if coverage["passed"]
                else f" -- warning: coverage check failed (p = {coverage['p_value']:.1e})"
            )
        )
    paths = write_posterior(res, out)
    std_paths, tables = write_standard_outputs(res, out, options.output_options())
    paths.update(std_paths)
    if coverage is not None:
        pd.DataFrame(coverage["rows"]).to_csv(out / "coverage.csv", index=False)
        paths["coverage"] = out / "coverage.csv"
    fc = forecast(res, horizon=options.horizon, draws=options.forecast_draws, seed=options.seed)
    fc.summary.to_csv(out / "forecast.csv", index=False)
    fc.bands.to_csv(out / "forecast_bands.csv", index=False)
    paths["forecast"] = out / "forecast.csv"
    paths["forecast_bands"] = out / "forecast_bands.csv"
    figs: dict[str, Path] = {}
    if plots:
        figs["Goodness of fit"] = plot_gof(res, out / "gof.png")
        figs["Individual fits and forecasts"] = plot_individual(
            res, fc.bands, out / "individual.png"
        )
        figs["Visual predictive check"] = plot_vpc(res, out / "vpc.png", table=tables.vpc)
        paths.update({p.stem: p for p in figs.values()})
    if report is not None:
        paths["report"] = report(
            res,
            out / "report.html",
            forecast=fc,
            plots=figs,
            coverage=coverage,
            extra={"options": options.__dict__, "total_seconds": time.perf_counter() - t0},
        )
    return paths


def convergence_warning(diag: dict[str, Any]) -> str | None:
    """One line saying what did not converge (``diagnostics.json``), or None."""
    if diag.get("converged", True):
        return None
    if "max_r_hat" in diag:
        rhat, ess = diag.get("max_r_hat"), diag.get("min_ess_bulk")
        return (
            f"warning: the sampler has not converged: {diag.get('divergences', 0)} divergent transitions, "
            f"max R-hat {'n/a' if rhat is None else f'{rhat:.3g}'}, min bulk ESS "
            f"{'n/a' if ess is None else f'{ess:.0f}'} (wanted: none, < 1.05, and enough for the intervals); "
            "run longer (--warmup, --samples) and see diagnostics.json"
        )
    parts = []
    if not diag.get("population_converged", True):
        parts.append(
            f"the population estimate stopped after {diag.get('iterations', '?')} EM steps without converging"
        )
    bad = list(diag.get("patients_not_converged") or [])
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        parts.append(
            f"the mode search did not converge for {len(bad)} patient(s): {', '.join(map(str, bad[:10]))}{more}"
        )
    if not parts:
        parts.append(f"{diag.get('patients_converged', '?')} patient mode search(es) converged")
    return "warning: " + "; ".join(parts) + " (see the diagnostics table of report.html)"


def parse_params(text: str | None) -> tuple[str, ...]:
    """``"a,b,c"`` -> ``("a", "b", "c")`` (default parameters when empty)."""
    if text is None or not text.strip():
        return DEFAULT_PARAMS
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parse_observables(text: str | None) -> tuple[str, ...] | None:
    if text is None or not text.strip():
        return None
    return tuple(s.strip() for s in text.split(",") if s.strip())
