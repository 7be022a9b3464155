"""allocart: model-informed design and analysis of allogeneic CAR-T trials in autoimmune disease.

The public API, stable across minor versions, is what this module exports (``allocart.__all__``)::

    import allocart as ac

    sim = ac.simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=100, seed=1)
    cohort = ac.simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=200, seed=1)
    run = ac.run_trial(ac.resolve_protocol("default"), "runs/default")
    scores = ac.score("sledai2k", "examples/clinical/visits.json")
    data = ac.read_dataset("examples/data/example_nonmem.csv")
    result = ac.fit_dataset(data, ac.FitOptions(params=("rho_E", "delta_E")))

Simulate
    :func:`simulate` (one product, dose and regimen; :class:`Simulation`),
    :func:`simulate_cohort` (virtual SLE patients with clinical records; :class:`CohortResult`),
    :class:`Scenario`, :func:`load_product`, :func:`load_regimen`, :func:`list_products`,
    :func:`list_regimens`, :class:`ParameterTable`, :func:`load_default_parameters`.
Run a trial
    :func:`run_trial`, :func:`load_protocol`, :func:`resolve_protocol`, :func:`list_scenarios`,
    :class:`Protocol`, :class:`RunResult`.
Design a dose-finding trial
    :class:`ThreePlusThree`, :class:`BOIN`, :class:`BFBOIN`, :class:`BOIN12`,
    :class:`TITEBOIN`, :class:`CRM`, :func:`operating_characteristics` (simulated, any design),
    :func:`exact_oc_3plus3`, :class:`OCResult`.
Score patients
    :func:`score`, :func:`list_standards`.
Patient data and fitting
    :func:`read_dataset`, :func:`write_dataset`, :class:`Dataset`, :func:`fit_dataset`,
    :class:`FitOptions`, :class:`FitResult`, :func:`forecast`, :class:`Forecast`.
    (The subpackage :mod:`allocart.fit` holds the fitting code, so the verb is ``fit_dataset``.)
Errors
    :class:`AllocartError` and its subclasses, one line each naming the argument.

Subpackages (``allocart.model``, ``allocart.population``, ``allocart.trial``, ``allocart.design``,
``allocart.clinical``, ``allocart.data``, ``allocart.fit``, ``allocart.engine``) export their
own, larger public APIs. See ``docs/ARCHITECTURE.md`` for the layers.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING

from allocart._lazy import lazy_exports
from allocart.errors import (
    AllocartError,
    DataError,
    DatasetError,
    DataValidationError,
    DesignError,
    FileError,
    FitError,
    ModelError,
    ParameterError,
    PopulationError,
    ProductError,
    ScoringError,
    SensitivityError,
    SolverError,
)

try:  # one version source: pyproject.toml, read from the installed package's metadata
    __version__ = importlib.metadata.version("allocart")
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

# Name -> module that defines it. Loaded on first use (PEP 562): the model pulls in numba,
# sympy and the compiled kernels, the trial DuckDB and pandas, fitting JAX; ``import allocart``
# and the command line's start stay fast, while ``allocart.simulate`` etc. work as if imported.
_LAZY: dict[str, str] = {
    # simulate
    "simulate": "allocart.model.simulate",
    "Simulation": "allocart.model.simulate",
    "Scenario": "allocart.model.scenario",
    "load_product": "allocart.model.products",
    "load_regimen": "allocart.model.products",
    "list_products": "allocart.model.products",
    "list_regimens": "allocart.model.products",
    "ParameterTable": "allocart.model.parameters",
    "load_default_parameters": "allocart.model.parameters",
    "simulate_cohort": "allocart.population.cohort",
    "CohortResult": "allocart.population.cohort",
    # trials
    "run_trial": "allocart.trial.runner",
    "RunResult": "allocart.trial.runner",
    "load_protocol": "allocart.trial.protocol",
    "Protocol": "allocart.trial.protocol",
    "resolve_protocol": "allocart.trial.builtin",
    "list_scenarios": "allocart.trial.builtin",
    # dose-finding designs
    "ThreePlusThree": "allocart.design",
    "BOIN": "allocart.design",
    "BFBOIN": "allocart.design",
    "BOIN12": "allocart.design",
    "TITEBOIN": "allocart.design",
    "CRM": "allocart.design",
    "operating_characteristics": "allocart.design",
    "exact_oc_3plus3": "allocart.design",
    "OCResult": "allocart.design",
    # clinical scoring
    "score": "allocart.clinical.registry",
    "list_standards": "allocart.clinical.registry",
    # data and fitting
    "read_dataset": "allocart.data",
    "write_dataset": "allocart.data",
    "Dataset": "allocart.data",
    "fit_dataset": "allocart.fit.api",
    "FitOptions": "allocart.fit.api",
    "FitResult": "allocart.fit.result",
    "forecast": "allocart.fit.forecast",
    "Forecast": "allocart.fit.forecast",
}

__all__ = [
    "__version__",
    "AllocartError",
    "BFBOIN",
    "BOIN",
    "BOIN12",
    "CRM",
    "CohortResult",
    "DataError",
    "Dataset",
    "DatasetError",
    "DataValidationError",
    "DesignError",
    "FileError",
    "FitError",
    "FitOptions",
    "FitResult",
    "Forecast",
    "ModelError",
    "OCResult",
    "ParameterError",
    "ParameterTable",
    "PopulationError",
    "ProductError",
    "Protocol",
    "RunResult",
    "Scenario",
    "ScoringError",
    "SensitivityError",
    "Simulation",
    "SolverError",
    "TITEBOIN",
    "ThreePlusThree",
    "exact_oc_3plus3",
    "fit_dataset",
    "forecast",
    "list_products",
    "list_regimens",
    "list_scenarios",
    "list_standards",
    "load_default_parameters",
    "load_product",
    "load_protocol",
    "load_regimen",
    "operating_characteristics",
    "read_dataset",
    "resolve_protocol",
    "run_trial",
    "score",
    "simulate",
    "simulate_cohort",
    "write_dataset",
]


__getattr__, __dir__ = lazy_exports(
    "allocart", globals(), {name: (module, name) for name, module in _LAZY.items()}
)


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from allocart.clinical.registry import list_standards, score
    from allocart.data import Dataset, read_dataset, write_dataset
    from allocart.design import (
        BFBOIN,
        BOIN,
        BOIN12,
        CRM,
        TITEBOIN,
        OCResult,
        ThreePlusThree,
        exact_oc_3plus3,
        operating_characteristics,
    )
    from allocart.fit.api import FitOptions, fit_dataset
    from allocart.fit.forecast import Forecast, forecast
    from allocart.fit.result import FitResult
    from allocart.model.parameters import ParameterTable, load_default_parameters
    from allocart.model.products import list_products, list_regimens, load_product, load_regimen
    from allocart.model.scenario import Scenario
    from allocart.model.simulate import Simulation, simulate
    from allocart.population.cohort import CohortResult, simulate_cohort
    from allocart.trial.builtin import list_scenarios, resolve_protocol
    from allocart.trial.protocol import Protocol, load_protocol
    from allocart.trial.runner import RunResult, run_trial
