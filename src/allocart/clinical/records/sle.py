"""SLE activity records: SLEDAI-2K findings, physician global assessment, BILAG-2004 grades
and SELENA flare findings."""

from __future__ import annotations

import math
from typing import Literal, get_args

from pydantic import Field, model_validator

from allocart.clinical.records._base import Attribution, Time, _Record, _Span

__all__ = [
    "BILAG_DOMAINS",
    "SLEDAI_DESCRIPTORS",
    "BilagAssessment",
    "FlareFinding",
    "MILD_MANIFESTATIONS",
    "PgaAssessment",
    "SEVERE_MANIFESTATIONS",
    "SledaiFinding",
]


#: SLEDAI-2K descriptors and their weights, in the instrument's item order (items 1-24).
SLEDAI_DESCRIPTORS: dict[str, int] = {
    "seizure": 8,
    "psychosis": 8,
    "organic_brain_syndrome": 8,
    "visual_disturbance": 8,
    "cranial_nerve_disorder": 8,
    "lupus_headache": 8,
    "cva": 8,
    "vasculitis": 8,
    "arthritis": 4,
    "myositis": 4,
    "urinary_casts": 4,
    "haematuria": 4,
    "proteinuria": 4,
    "pyuria": 4,
    "rash": 2,
    "alopecia": 2,
    "mucosal_ulcers": 2,
    "pleurisy": 2,
    "pericarditis": 2,
    "low_complement": 2,
    "increased_dna_binding": 2,
    "fever": 1,
    "thrombocytopenia": 1,
    "leukopenia": 1,
}

SledaiDescriptor = Literal[
    "seizure",
    "psychosis",
    "organic_brain_syndrome",
    "visual_disturbance",
    "cranial_nerve_disorder",
    "lupus_headache",
    "cva",
    "vasculitis",
    "arthritis",
    "myositis",
    "urinary_casts",
    "haematuria",
    "proteinuria",
    "pyuria",
    "rash",
    "alopecia",
    "mucosal_ulcers",
    "pleurisy",
    "pericarditis",
    "low_complement",
    "increased_dna_binding",
    "fever",
    "thrombocytopenia",
    "leukopenia",
]


class SledaiFinding(_Span):
    """A clinician-recorded SLEDAI descriptor (SDTM RS item), present over ``start``..``end``.

    Laboratory descriptors (complement, anti-dsDNA, blood counts, urine sediment, proteinuria)
    and fever are also derived from :class:`LabResult` and :class:`VitalSign` records; a finding
    recorded here counts in addition.
    """

    descriptor: SledaiDescriptor
    start: Time = Field(..., description="Onset or observation time.")
    end: Time | None = Field(None, description="Resolution time; None = observed only at `start`.")
    present: bool = True
    attribution: Attribution = Field("unspecified", description="'sle' if attributed to lupus.")
    joints: int | None = Field(
        None, ge=0, le=100, description="Arthritis: number of joints with inflammation."
    )
    new_or_recurrent: bool | None = Field(
        None, description="New, recurrent or increased (SELENA-SLEDAI rules for proteinuria)."
    )

    @model_validator(mode="after")
    def _check(self) -> SledaiFinding:
        if self.descriptor == "arthritis" and self.present and self.joints is None:
            raise ValueError("an arthritis finding needs `joints` (the number of inflamed joints)")
        return self


class PgaAssessment(_Record):
    """Physician (evaluator) global assessment of SLE activity.

    ``scale='0-3'`` is the SELENA-SLEDAI PGA (recorded to one decimal). ``'0-100mm'`` values are
    converted to 0-3 only when the scorer's ``pga_mm_anchors_match`` option is set.
    """

    time: Time
    value: float
    scale: Literal["0-3", "0-100mm"] = "0-3"

    @model_validator(mode="after")
    def _check(self) -> PgaAssessment:
        top = 3.0 if self.scale == "0-3" else 100.0
        if not (math.isfinite(self.value) and 0.0 <= self.value <= top):
            raise ValueError(
                f"PGA `value` must lie in 0-{top:g} for scale {self.scale!r}; got {self.value!r}"
            )
        return self


BilagDomain = Literal[
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
]

#: BILAG-2004 domains, as listed in ``BilagDomain``.
BILAG_DOMAINS: tuple[str, ...] = get_args(BilagDomain)


class BilagAssessment(_Record):
    """BILAG-2004 domain grades (A severe ... E never involved), taken as input: deriving them
    from the ~97 items is a licensed algorithm outside this package."""

    time: Time
    domains: dict[BilagDomain, Literal["A", "B", "C", "D", "E"]]

    @model_validator(mode="after")
    def _check(self) -> BilagAssessment:
        missing = [d for d in BILAG_DOMAINS if d not in self.domains]
        if missing:
            raise ValueError(
                f"BILAG `domains` is missing {', '.join(missing)}; give all nine domains"
            )
        return self


MildFlareManifestation = Literal[
    "discoid_rash",
    "photosensitive_rash",
    "lupus_profundus",
    "cutaneous_vasculitis",
    "bullous_lupus",
    "nasopharyngeal_ulcers",
    "pleuritis",
    "pericarditis",
    "arthritis",
    "sle_fever",
]
# Severe manifestations count when they require more treatment or hospitalisation.
SevereFlareManifestation = Literal[
    "cns_sle",
    "vasculitis",
    "nephritis",
    "myositis",
    "thrombocytopenia",
    "haemolytic_anaemia",
]
FlareManifestation = Literal[MildFlareManifestation, SevereFlareManifestation]

#: Mild/moderate manifestations of the SELENA flare index (Petri 2005).
MILD_MANIFESTATIONS: tuple[str, ...] = get_args(MildFlareManifestation)
#: Severe manifestations of the SELENA flare index (Petri 2005).
SEVERE_MANIFESTATIONS: tuple[str, ...] = get_args(SevereFlareManifestation)


class FlareFinding(_Record):
    """A new or worse SLE manifestation, as the SELENA flare index lists them.

    ``thrombocytopenia`` needs ``platelets_10e9_l`` (< 60 qualifies); ``haemolytic_anaemia`` needs
    ``hb_g_dl`` (< 7 qualifies) or ``hb_fall_g_dl`` (> 3 qualifies).
    """

    time: Time
    manifestation: FlareManifestation
    attribution: Attribution = "unspecified"
    platelets_10e9_l: float | None = Field(None, ge=0)
    hb_g_dl: float | None = Field(None, ge=0, le=30)
    hb_fall_g_dl: float | None = Field(None, ge=0, le=30)
