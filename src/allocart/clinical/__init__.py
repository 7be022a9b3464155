"""Clinical scoring and safety grading for CAR-T trials in systemic lupus erythematosus.

SLE activity and response (SLEDAI-2K and its variants, PGA, SELENA flare index, SRI-4 to
SRI-8, BICLA, LLDAS, DORIS remission, drug-free remission) and CAR-T safety grading (ASTCT CRS
and ICANS, ICAHT, CTCAE cytopenias, IEC-HS with HScore/HLH-2004, MAGIC acute GvHD, configurable
DLT rules) computed from the records a site collects.

>>> from allocart import clinical
>>> [s["name"] for s in clinical.list_standards()][:3]
['sledai2k', 'clinical-sledai', 'selena-sledai']

See ``docs/clinical.md`` for each standard, its options and sources.
"""

from allocart.clinical.records import (
    AdverseEvent as AdverseEvent,
)
from allocart.clinical.records import (
    Attribution as Attribution,
)
from allocart.clinical.records import (
    BilagAssessment as BilagAssessment,
)
from allocart.clinical.records import (
    Death as Death,
)
from allocart.clinical.records import (
    FlareFinding as FlareFinding,
)
from allocart.clinical.records import (
    GvhdAssessment as GvhdAssessment,
)
from allocart.clinical.records import (
    HlhAssessment as HlhAssessment,
)
from allocart.clinical.records import (
    Hospitalisation as Hospitalisation,
)
from allocart.clinical.records import (
    IceItems as IceItems,
)
from allocart.clinical.records import (
    Infection as Infection,
)
from allocart.clinical.records import (
    LabResult as LabResult,
)
from allocart.clinical.records import (
    Medication as Medication,
)
from allocart.clinical.records import (
    NeuroAssessment as NeuroAssessment,
)
from allocart.clinical.records import (
    OxygenSupport as OxygenSupport,
)
from allocart.clinical.records import (
    PatientRecords as PatientRecords,
)
from allocart.clinical.records import (
    PgaAssessment as PgaAssessment,
)
from allocart.clinical.records import (
    SledaiFinding as SledaiFinding,
)
from allocart.clinical.records import (
    Visit as Visit,
)
from allocart.clinical.records import (
    VitalSign as VitalSign,
)
from allocart.clinical.registry import (
    STANDARDS as STANDARDS,
)
from allocart.clinical.registry import (
    Standard as Standard,
)
from allocart.clinical.registry import (
    input_schema as input_schema,
)
from allocart.clinical.registry import (
    list_standards as list_standards,
)
from allocart.clinical.registry import (
    load_patients as load_patients,
)
from allocart.clinical.registry import (
    score as score,
)
from allocart.clinical.results import ScoreResult as ScoreResult

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
