"""Fitting the model to patient data: posterior modes, NUTS, population estimates, forecasts.

Public API::

    from allocart.data import read_dataset
    from allocart.fit import FitOptions, fit_dataset, forecast

    data = read_dataset("examples/data/example_nonmem.csv")
    result = fit_dataset(data, FitOptions(params=("rho_E", "delta_E")))
    fc = forecast(result, horizon=180.0)

The standard outputs (``write_standard_outputs``: sdtab, parameters, VPC table, ArviZ
``posterior.nc``), the population point estimate (``fit_population_its``), NUTS
(``fit_individual_nuts``, ``fit_population_nuts``: the optional JAX extra), diagnostics
(``weighted_residuals``, ``npde``, ``vpc_table``, ``individual_coverage``) and the
simulation-estimation study (``run_recovery``) are importable from here too. The HTML report
is :func:`allocart.report.fit.write_report`; the benchmark :mod:`allocart.bench.fit`.

See ``docs/fitting.md`` for the methods, the residual-error models and the output files.
"""

from allocart.errors import FitError
from allocart.fit.api import LEVELS, METHODS, FitOptions, fit_dataset, fit_problem, run_fit
from allocart.fit.bayes import fit_individual_nuts, fit_population_nuts
from allocart.fit.coverage import individual_coverage, read_truth
from allocart.fit.forecast import Forecast, forecast
from allocart.fit.netcdf import write_inference_data
from allocart.fit.npde import Npde, npde
from allocart.fit.optimize import ModeResult, posterior_modes
from allocart.fit.outputs import (
    OutputOptions,
    StandardOutputs,
    standard_outputs,
    write_standard_outputs,
)
from allocart.fit.popfit import PopulationEstimate, fit_population_its, population_result
from allocart.fit.problem import DEFAULT_PARAMS, FitProblem, build_problem
from allocart.fit.recovery import RecoveryConfig, RecoveryReport, run_recovery
from allocart.fit.residual import ResidualModel, ResidualTable, load_residual_models
from allocart.fit.result import FitResult
from allocart.fit.vpc import vpc_table
from allocart.fit.wres import WeightedResiduals, weighted_residuals

__all__ = [
    "DEFAULT_PARAMS",
    "LEVELS",
    "METHODS",
    "FitError",
    "FitOptions",
    "FitProblem",
    "FitResult",
    "Forecast",
    "ModeResult",
    "Npde",
    "OutputOptions",
    "PopulationEstimate",
    "RecoveryConfig",
    "RecoveryReport",
    "ResidualModel",
    "ResidualTable",
    "StandardOutputs",
    "WeightedResiduals",
    "build_problem",
    "fit_dataset",
    "fit_individual_nuts",
    "fit_population_its",
    "fit_population_nuts",
    "fit_problem",
    "forecast",
    "individual_coverage",
    "load_residual_models",
    "npde",
    "population_result",
    "posterior_modes",
    "read_truth",
    "run_fit",
    "run_recovery",
    "standard_outputs",
    "vpc_table",
    "weighted_residuals",
    "write_inference_data",
    "write_standard_outputs",
]
