"""Dose-finding designs and their operating characteristics.

Designs are immutable configuration objects validated at construction:
:class:`ThreePlusThree`, :class:`BOIN`, :class:`BFBOIN`, :class:`BOIN12`, :class:`TITEBOIN` and
:class:`CRM`. Each gives next-dose advice from observed data (``recommend``); any of them is
simulated by :func:`simulate_oc` on an :class:`OutcomeSource` with common random numbers; the 3+3
also has exact operating characteristics (:func:`exact_oc_3plus3`). :func:`operating_characteristics`
gives either for true per-dose probabilities, and :func:`dose_transition_pathways` tabulates a
design's decisions for every outcome of the next cohorts.
"""

from allocart.design.base import (
    AbstractDesign,
    Action,
    DoseData,
    OutcomeSource,
    PatientUniforms,
    PotentialOutcomes,
    Recommendation,
    ScenarioOutcomes,
    draw_patient_uniforms,
)
from allocart.design.bfboin import BFBOIN
from allocart.design.boin import BOIN, boin_lambdas, elimination_boundary
from allocart.design.boin12 import BOIN12
from allocart.design.characteristics import operating_characteristics
from allocart.design.crm import CRM, indifference_skeleton
from allocart.design.exact import exact_oc_3plus3
from allocart.design.isotonic import pava, select_mtd
from allocart.design.oc import Accrual, OCResult, simulate_oc
from allocart.design.pathways import dose_transition_pathways
from allocart.design.tables import decision_table, make_design
from allocart.design.threeplusthree import ThreePlusThree
from allocart.design.tite_boin import TITEBOIN

__all__ = [
    "AbstractDesign",
    "Action",
    "DoseData",
    "OutcomeSource",
    "PatientUniforms",
    "PotentialOutcomes",
    "Recommendation",
    "ScenarioOutcomes",
    "draw_patient_uniforms",
    "BFBOIN",
    "BOIN",
    "boin_lambdas",
    "elimination_boundary",
    "BOIN12",
    "operating_characteristics",
    "CRM",
    "indifference_skeleton",
    "exact_oc_3plus3",
    "pava",
    "select_mtd",
    "Accrual",
    "OCResult",
    "simulate_oc",
    "dose_transition_pathways",
    "decision_table",
    "make_design",
    "ThreePlusThree",
    "TITEBOIN",
]
