"""Calibration of the population to published summary targets, and its report.

The targets (``resources/targets.yaml``) are the numbers of the reference's developer set
(``shared/reference/calibration-targets.md``), each tied to the cohort of its series: product,
dose, lymphodepletion and a selection of virtual patients that matches the series' enrolment.

:func:`fit` adjusts the link parameters marked ``calibrate: true`` in ``resources/links.yaml`` (CRS
and ICANS intercepts, the SLEDAI-2K remission threshold) so that the simulated statistics
approach the targets. Each cohort is simulated once; the search re-derives events from the
stored trajectories with common random numbers (the same uniforms for every trial value), so
the objective changes smoothly and costs no ODE solves. The fitted values are written to
``resources/calibrated.yaml``, which every cohort applies by default.

:func:`evaluate` (``allocart calibrate --check``) simulates every target cohort through the
full path (records scored by the clinical library) and compares each statistic with its
target. A target passes when the published value, or the reported range, lies inside the 95%
interval of the statistic in simulated studies of the published size (exact binomial for
rates; resampling of the virtual cohort otherwise). The report lists every target, its
source, the simulated value with its Monte-Carlo 95% interval and the study interval, pass or
fail, and for an unmet target the reason recorded in ``targets.yaml``.

Not every target can tell a good population from a poor one: a rate of 0 of 3 is met by every
true rate up to 0.71. :func:`informativeness` marks such a target *uninformative* (the rules
are in its docstring), and the report counts the met targets that are, so agreement with a
handful of tiny series is not overstated.
"""

from allocart.population.calibrate.evaluation import (
    UNINFORMATIVE_RATE_SPAN,
    CalibrationReport,
    TargetResult,
    accepted_rates,
    compare,
    evaluate,
    informativeness,
)
from allocart.population.calibrate.fitting import fit, load_calibrated_model, write_calibrated
from allocart.population.calibrate.targets import (
    DEFAULT_N,
    DEFAULT_SEED,
    CohortSpec,
    Target,
    TargetSet,
    cohort_weights,
    load_targets,
    quantity,
    select_patients,
    tilt_weights,
)

__all__ = [
    "CohortSpec",
    "Target",
    "TargetSet",
    "load_targets",
    "select_patients",
    "tilt_weights",
    "cohort_weights",
    "quantity",
    "compare",
    "evaluate",
    "fit",
    "write_calibrated",
    "TargetResult",
    "CalibrationReport",
    "DEFAULT_N",
    "DEFAULT_SEED",
    "load_calibrated_model",
    "informativeness",
    "accepted_rates",
    "UNINFORMATIVE_RATE_SPAN",
]
