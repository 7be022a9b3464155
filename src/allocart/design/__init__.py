"""Dose-finding designs and their operating characteristics.

Designs are immutable configuration objects validated at construction:
:class:`ThreePlusThree`, :class:`BOIN`, :class:`BFBOIN`, :class:`BOIN12`, :class:`TITEBOIN` and
:class:`CRM`. Each gives next-dose advice from observed data (``recommend``); any of them is
simulated by :func:`simulate_oc` on an :class:`OutcomeSource` with common random numbers; the 3+3
also has exact operating characteristics (:func:`exact_oc_3plus3`).
"""

from allocart.design.base import AbstractDesign as AbstractDesign
from allocart.design.base import Action as Action
from allocart.design.base import DoseData as DoseData
from allocart.design.base import OutcomeSource as OutcomeSource
from allocart.design.base import PatientUniforms as PatientUniforms
from allocart.design.base import PotentialOutcomes as PotentialOutcomes
from allocart.design.base import Recommendation as Recommendation
from allocart.design.base import ScenarioOutcomes as ScenarioOutcomes
from allocart.design.base import draw_patient_uniforms as draw_patient_uniforms
from allocart.design.bfboin import BFBOIN as BFBOIN
from allocart.design.boin import BOIN as BOIN
from allocart.design.boin import boin_lambdas as boin_lambdas
from allocart.design.boin import elimination_boundary as elimination_boundary
from allocart.design.boin12 import BOIN12 as BOIN12
from allocart.design.crm import CRM as CRM
from allocart.design.crm import indifference_skeleton as indifference_skeleton
from allocart.design.exact import exact_oc_3plus3 as exact_oc_3plus3
from allocart.design.isotonic import pava as pava
from allocart.design.isotonic import select_mtd as select_mtd
from allocart.design.oc import Accrual as Accrual
from allocart.design.oc import OCResult as OCResult
from allocart.design.oc import simulate_oc as simulate_oc
from allocart.design.tables import decision_table as decision_table
from allocart.design.tables import make_design as make_design
from allocart.design.threeplusthree import ThreePlusThree as ThreePlusThree
from allocart.design.tite_boin import TITEBOIN as TITEBOIN

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
    "CRM",
    "indifference_skeleton",
    "exact_oc_3plus3",
    "pava",
    "select_mtd",
    "Accrual",
    "OCResult",
    "simulate_oc",
    "decision_table",
    "make_design",
    "ThreePlusThree",
    "TITEBOIN",
]
