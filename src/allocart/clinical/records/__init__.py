"""Record types: the data a trial site collects, as the clinical scorers read them.

One :class:`PatientRecords` holds everything known about one patient: visits, laboratory
results with units and reference ranges, vital signs, SLEDAI descriptors with attribution,
global assessments, BILAG domain grades, medications, oxygen support, neurological
assessments, HLH work-up, GvHD staging data, adverse events, infections, hospitalisations and
death.

The same records are produced by three kinds of source, so the schema avoids anything
source-specific:

* a site's electronic case report form, exported as JSON;
* CDISC SDTM readers (LB -> :class:`LabResult`, VS -> :class:`VitalSign`,
  AE -> :class:`AdverseEvent`, CM -> :class:`Medication`, PR -> :class:`OxygenSupport`,
  RS/QS -> :class:`SledaiFinding`, :class:`PgaAssessment`, :class:`BilagAssessment`,
  :class:`NeuroAssessment`);
* a virtual-patient simulator, which emits times as days after infusion.

Times
-----
Every time is either an ISO 8601 date (``"2024-03-05"``), an ISO 8601 date-time
(``"2024-03-05T14:30"``; time zones are converted to UTC), or a number of days after the
CAR-T infusion (day 0 = infusion day, the CAR-T convention; SDTM ``--DY`` has no day 0 and must
not be copied here). Calendar times are turned into days with :attr:`PatientRecords.infusion`;
numbers and calendar times may be mixed only when ``infusion`` is given. When ``infusion`` is
missing and every time is a calendar time, days count from the earliest time in the record;
the standards that need day 0 (ICAHT, DLT) then refuse to score.

Attribution
-----------
Nearly every standard excludes findings explained by another cause (infection, drugs,
lymphodepletion, CRS fever). Scorers cannot infer this from numbers, so findings carry an
``attribution``. ``"unspecified"`` means the site did not say; each standard has an option that
decides how unspecified findings count, and reports which ones it counted.

All models are frozen pydantic v2 models that forbid unknown fields, so a misspelt field is an
error rather than silently ignored data.
"""

from allocart.clinical.records._base import Attribution, Time
from allocart.clinical.records.measurements import LabResult, Visit, VitalSign
from allocart.clinical.records.patient import PatientRecords
from allocart.clinical.records.sle import (
    BILAG_DOMAINS,
    SLEDAI_DESCRIPTORS,
    BilagAssessment,
    FlareFinding,
    PgaAssessment,
    SledaiFinding,
)
from allocart.clinical.records.toxicity import (
    AdverseEvent,
    Death,
    GvhdAssessment,
    HlhAssessment,
    Hospitalisation,
    IceItems,
    Infection,
    NeuroAssessment,
    Relatedness,
)
from allocart.clinical.records.treatment import Medication, OxygenSupport

__all__ = [
    "Attribution",
    "Time",
    "Visit",
    "LabResult",
    "VitalSign",
    "SledaiFinding",
    "SLEDAI_DESCRIPTORS",
    "PgaAssessment",
    "BilagAssessment",
    "BILAG_DOMAINS",
    "FlareFinding",
    "Medication",
    "OxygenSupport",
    "IceItems",
    "NeuroAssessment",
    "HlhAssessment",
    "GvhdAssessment",
    "AdverseEvent",
    "Relatedness",
    "Infection",
    "Hospitalisation",
    "Death",
    "PatientRecords",
]
