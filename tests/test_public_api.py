"""The public API: what ``import allocart`` promises, pinned so that a change is deliberate."""

from __future__ import annotations

import importlib
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

import allocart as ac
import allocart.report as report

PUBLIC = {
    "__version__",
    # errors
    "AllocartError",
    "DataError",
    "DatasetError",
    "DataValidationError",
    "DesignError",
    "FileError",
    "FitError",
    "ModelError",
    "ParameterError",
    "PopulationError",
    "ProductError",
    "ScoringError",
    "SensitivityError",
    "SolverError",
    # simulate
    "simulate",
    "Simulation",
    "Scenario",
    "load_product",
    "load_regimen",
    "list_products",
    "list_regimens",
    "ParameterTable",
    "load_default_parameters",
    "simulate_cohort",
    "CohortResult",
    # trials
    "run_trial",
    "RunResult",
    "load_protocol",
    "Protocol",
    "resolve_protocol",
    "list_scenarios",
    # designs
    "ThreePlusThree",
    "BOIN",
    "BFBOIN",
    "BOIN12",
    "TITEBOIN",
    "CRM",
    "operating_characteristics",
    "exact_oc_3plus3",
    "OCResult",
    # scoring
    "score",
    "list_standards",
    # data and fitting
    "read_dataset",
    "write_dataset",
    "Dataset",
    "fit_dataset",
    "FitOptions",
    "FitResult",
    "forecast",
    "Forecast",
}

SUBPACKAGES = (
    "model",
    "population",
    "trial",
    "design",
    "clinical",
    "data",
    "fit",
    "engine",
    "report",
    "sensitivity",
    "explore",
)


def test_all_is_pinned():
    assert set(ac.__all__) == PUBLIC
    assert len(ac.__all__) == len(set(ac.__all__))


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name):
    value = getattr(ac, name)
    assert value is not None
    if name != "__version__":
        # One object, wherever it is imported from: the re-export is the definition.
        module = getattr(value, "__module__", "")
        assert module.startswith("allocart"), (name, module)


def test_errors_live_in_errors_module():
    import allocart.errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.AllocartError)
        assert cls.__module__ == "allocart.errors", name


def test_help_lists_the_public_api():
    text = pydoc.render_doc(ac, renderer=pydoc.plaintext)
    for name in ("simulate", "simulate_cohort", "run_trial", "load_protocol", "score"):
        assert name in text
    assert set(dir(ac)) >= PUBLIC


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ac.nope  # noqa: B018


def test_import_is_light():
    # ``import allocart`` (and so the command line's start) must not load numba, JAX or DuckDB.
    code = "import sys, allocart; print(','.join(m for m in ('numba', 'jax', 'duckdb', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackages_declare_their_api(sub):
    module = importlib.import_module(f"allocart.{sub}")
    assert module.__doc__, sub
    names = getattr(module, "__all__", None)
    assert names, f"allocart.{sub} has no __all__"
    for name in names:
        assert hasattr(module, name), f"allocart.{sub}.{name}"


def test_package_is_typed():
    assert (Path(ac.__file__).parent / "py.typed").is_file()


def test_report_writers_resolve_to_their_modules():
    assert sorted(report._LAZY) == report.__all__
    for name, (module, attr) in report._LAZY.items():
        assert getattr(report, name) is getattr(importlib.import_module(module), attr), name
