"""The mechanistic model of CAR-T therapy in SLE: equations, parameters, products, simulation.

Public API::

    from allocart.model import simulate, Scenario, load_product, load_regimen
    sim = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=100, seed=1)
"""

from allocart.model.equations import MODEL as MODEL
from allocart.model.parameters import (
    ParameterTable as ParameterTable,
)
from allocart.model.parameters import (
    load_default_parameters as load_default_parameters,
)
from allocart.model.parameters import (
    load_overrides as load_overrides,
)
from allocart.model.products import (
    Product as Product,
)
from allocart.model.products import (
    Regimen as Regimen,
)
from allocart.model.products import (
    list_products as list_products,
)
from allocart.model.products import (
    list_regimens as list_regimens,
)
from allocart.model.products import (
    load_product as load_product,
)
from allocart.model.products import (
    load_regimen as load_regimen,
)
from allocart.model.scenario import (
    Dose as Dose,
)
from allocart.model.scenario import (
    Scenario as Scenario,
)
from allocart.model.scenario import (
    build_batch as build_batch,
)
from allocart.model.scenario import (
    parse_dose as parse_dose,
)
from allocart.model.scenario import (
    sample_parameters as sample_parameters,
)
from allocart.model.simulate import Simulation as Simulation
from allocart.model.simulate import simulate as simulate
