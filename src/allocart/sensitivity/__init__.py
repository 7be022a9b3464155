"""Global sensitivity analysis of the trial model over the virtual population.

Which unknown parameters change the trial's answer, and by how much: Morris screening and Sobol
indices (SALib) of B-cell aplasia days, CAR-T persistence, the DLT rate, DORIS remission at month
6 and the probability that each dose is selected, with respect to the parameters whose typical
values are uncertain (:class:`~allocart.model.parameters.Uncertainty`). See ``docs/sensitivity.md``.
"""

from allocart.sensitivity.evaluate import (
    COHORT_OUTPUTS,
    CohortEvaluator,
    Evaluator,
    Ishigami,
    cohort_outputs,
)
from allocart.sensitivity.posterior import posterior_overrides, write_posterior_overrides
from allocart.sensitivity.run import (
    REJECTION_PARAMETERS,
    SensitivityResult,
    SensitivitySettings,
    default_parameters,
    run_sensitivity,
    value_of_information,
)

__all__ = [
    "COHORT_OUTPUTS",
    "CohortEvaluator",
    "Evaluator",
    "Ishigami",
    "cohort_outputs",
    "REJECTION_PARAMETERS",
    "SensitivityResult",
    "SensitivitySettings",
    "default_parameters",
    "run_sensitivity",
    "value_of_information",
    "posterior_overrides",
    "write_posterior_overrides",
]
