"""Fitting the model to patient data: posterior modes, NUTS, population estimates, forecasts.

Public API::

    from allocart.data import read_dataset
    from allocart.fit import FitOptions, fit_dataset, forecast

    data = read_dataset("examples/data/example_nonmem.csv")
    result = fit_dataset(data, FitOptions(params=("rho_E", "delta_E")))
    fc = forecast(result, horizon=180.0)

See ``docs/fitting.md`` for the methods, the residual-error models and the output files.
"""

from allocart.fit.api import LEVELS, METHODS, FitOptions, fit_dataset, fit_problem, run_fit
from allocart.fit.forecast import Forecast, forecast
from allocart.fit.problem import DEFAULT_PARAMS, FitProblem, build_problem
from allocart.fit.result import FitResult

__all__ = [
    "DEFAULT_PARAMS",
    "LEVELS",
    "METHODS",
    "FitOptions",
    "FitProblem",
    "FitResult",
    "Forecast",
    "build_problem",
    "fit_dataset",
    "fit_problem",
    "forecast",
    "run_fit",
]
