"""Clinical scoring and safety grading for CAR-T trials in systemic lupus erythematosus.

SLE activity and response (SLEDAI-2K and its variants, PGA, SELENA flare index, SRI-4 to
SRI-8, BICLA, LLDAS, DORIS remission, drug-free remission) and CAR-T safety grading (ASTCT CRS
and ICANS, ICAHT, CTCAE cytopenias, IEC-HS with HScore/HLH-2004, MAGIC acute GvHD, configurable
DLT rules) computed from the records a site collects.

Examples
--------
>>> from allocart import clinical
>>> [s["name"] for s in clinical.list_standards()][:3]
['sledai2k', 'clinical-sledai', 'selena-sledai']

See ``docs/clinical.md`` for each standard, its options and sources.
"""

from allocart.clinical.records import (
    AdverseEvent,
    Attribution,
    BilagAssessment,
    Death,
    FlareFinding,
    GvhdAssessment,
    HlhAssessment,
    Hospitalisation,
    IceItems,
    Infection,
    LabResult,
    Medication,
    NeuroAssessment,
    OxygenSupport,
    PatientRecords,
    PgaAssessment,
    SledaiFinding,
    Visit,
    VitalSign,
)
from allocart.clinical.registry import (
    STANDARDS,
    Standard,
    input_schema,
    list_standards,
    load_patients,
    score,
)
from allocart.clinical.results import ScoreResult

__all__ = [
    "AdverseEvent",
    "Attribution",
    "BilagAssessment",
    "Death",
    "FlareFinding",
    "GvhdAssessment",
    "HlhAssessment",
    "Hospitalisation",
    "IceItems",
    "Infection",
    "LabResult",
    "Medication",
    "NeuroAssessment",
    "OxygenSupport",
    "PatientRecords",
    "PgaAssessment",
    "SledaiFinding",
    "Visit",
    "VitalSign",
    "STANDARDS",
    "Standard",
    "input_schema",
    "list_standards",
    "load_patients",
    "score",
    "ScoreResult",
]
