"""The virtual SLE population: covariates, variability, clinical records, calibration.

Public API::

    from allocart.population import simulate_cohort
    res = simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=400, seed=1)
    res.summary()            # the ``allocart cohort --json`` keys
    res.records(0)           # clinical records of patient 0, scored by allocart.clinical

``allocart calibrate`` fits the population-level link parameters to the published summary
targets (``population/resources/targets.yaml``) and writes ``resources/calibrated.yaml`` and a report.
"""

from allocart.population.calibrate import load_targets
from allocart.population.cohort import (
    DLT_REASONS,
    SUMMARY_KEYS,
    CohortResult,
    cohort_frame,
    simulate_cohort,
    summarise,
)
from allocart.population.virtual import VirtualCohort, population_table, simulate_virtual

__all__ = [
    "DLT_REASONS",
    "SUMMARY_KEYS",
    "CohortResult",
    "VirtualCohort",
    "cohort_frame",
    "load_targets",
    "population_table",
    "simulate_cohort",
    "simulate_virtual",
    "summarise",
]
