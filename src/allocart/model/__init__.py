"""The mechanistic model of CAR-T therapy in SLE: equations, parameters, products, simulation.

Public API::

    from allocart.model import simulate, Scenario, load_product, load_regimen
    sim = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=100, seed=1)
"""

from allocart.model.equations import MODEL
from allocart.model.parameters import ParameterTable, load_default_parameters, load_overrides
from allocart.model.products import (
    Product,
    Regimen,
    list_products,
    list_regimens,
    load_product,
    load_regimen,
)
from allocart.model.scenario import Dose, Scenario, build_batch, parse_dose, sample_parameters
from allocart.model.simulate import Simulation, simulate

__all__ = [
    "MODEL",
    "ParameterTable",
    "load_default_parameters",
    "load_overrides",
    "Product",
    "Regimen",
    "list_products",
    "list_regimens",
    "load_product",
    "load_regimen",
    "Dose",
    "Scenario",
    "build_batch",
    "parse_dose",
    "sample_parameters",
    "Simulation",
    "simulate",
]
