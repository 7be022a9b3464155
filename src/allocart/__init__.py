"""allocart: model-informed design and analysis of allogeneic CAR-T trials in autoimmune disease."""

from allocart.errors import (
    AllocartError as AllocartError,
)
from allocart.errors import (
    DatasetError as DatasetError,
)
from allocart.errors import (
    DesignError as DesignError,
)
from allocart.errors import (
    ModelError as ModelError,
)
from allocart.errors import (
    ParameterError as ParameterError,
)
from allocart.errors import (
    ProductError as ProductError,
)
from allocart.errors import (
    ScoringError as ScoringError,
)

__version__ = "0.1.0"
