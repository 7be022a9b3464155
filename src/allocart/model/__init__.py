"""The mechanistic model of CAR-T therapy in SLE: equations, parameters, products, simulation.

Public API::

    from allocart.model import simulate, Scenario, load_product, load_regimen
    sim = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=100, seed=1)
"""

from allocart.model.equations import MODEL as MODEL
from allocart.model.parameters import (
    ParameterTable as ParameterTable,
    load_default_parameters as load_default_parameters,
    load_overrides as load_overrides,
)
from allocart.model.products import (
    Product as Product,
    Regimen as Regimen,
    list_products as list_products,
    list_regimens as list_regimens,
    load_product as load_product,
    load_regimen as load_regimen,
)
from allocart.model.scenario import (
    Dose as Dose,
    Scenario as Scenario,
    build_batch as build_batch,
    parse_dose as parse_dose,
    sample_parameters as sample_parameters,
)
from allocart.model.simulate import Simulation as Simulation, simulate as simulate
