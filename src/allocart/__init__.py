"""allocart: model-informed design and analysis of allogeneic CAR-T trials in autoimmune disease."""

from allocart.errors import (
    AllocartError as AllocartError,
    DatasetError as DatasetError,
    DesignError as DesignError,
    ModelError as ModelError,
    ParameterError as ParameterError,
    ProductError as ProductError,
    ScoringError as ScoringError,
)

__version__ = "0.1.0"
