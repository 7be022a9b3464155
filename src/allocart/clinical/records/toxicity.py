"""Toxicity records: neurological, HLH and GvHD assessments, adverse events, infections,
hospitalisations and death."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from allocart.clinical.records._base import Attribution, Time, _Record, _Span

__all__ = [
    "AdverseEvent",
    "Death",
    "GvhdAssessment",
    "HlhAssessment",
    "Hospitalisation",
    "IceItems",
    "Infection",
    "NeuroAssessment",
    "Relatedness",
]


class IceItems(_Record):
    """Items of the Immune effector Cell-associated Encephalopathy (ICE) score (total 10)."""

    orientation: int = Field(..., ge=0, le=4, description="Year, month, city, hospital.")
    naming: int = Field(..., ge=0, le=3, description="Names three objects.")
    command: int = Field(..., ge=0, le=1, description="Follows a simple command.")
    writing: int = Field(..., ge=0, le=1, description="Writes a standard sentence.")
    attention: int = Field(..., ge=0, le=1, description="Counts back from 100 by 10.")

    @property
    def total(self) -> int:
        """ICE score 0-10."""
        return self.orientation + self.naming + self.command + self.writing + self.attention


class NeuroAssessment(_Record):
    """A neurological assessment for ICANS grading (ASTCT 2019).

    Give ``ice_score`` (or ``ice_items``) for patients of the ICE age, ``capd_score`` for
    younger children; set ``unable_to_perform`` when the patient cannot do the test.
    """

    time: Time
    ice_score: int | None = Field(None, ge=0, le=10)
    ice_items: IceItems | None = None
    capd_score: int | None = Field(
        None, ge=0, le=32, description="Cornell Assessment of Pediatric Delirium."
    )
    unable_to_perform: bool = Field(
        False, description="Cannot perform ICE/CAPD because unarousable."
    )
    global_aphasia: bool = Field(
        False, description="Awake but globally aphasic (ICE 0 -> grade 3)."
    )
    consciousness: Literal[
        "alert", "awakens_spontaneously", "awakens_to_voice", "awakens_to_tactile", "unarousable"
    ] = "alert"
    consciousness_attribution: Attribution = Field(
        "unspecified",
        description="E.g. 'drug' for sedation: then consciousness does not grade ICANS.",
    )
    seizure: Literal[
        "none", "rapidly_resolving", "nonconvulsive_eeg_resolving", "prolonged", "repetitive"
    ] = "none"
    motor: Literal["none", "deep_focal_weakness"] = "none"
    cerebral_oedema: Literal[
        "none",
        "focal",
        "diffuse",
        "posturing",
        "cranial_nerve_vi_palsy",
        "papilloedema",
        "cushing_triad",
    ] = "none"
    attribution: Attribution = Field(
        "unspecified",
        description="Cause of the findings; another cause (e.g. 'sle') means not ICANS.",
    )

    @model_validator(mode="after")
    def _check(self) -> NeuroAssessment:
        if (
            self.ice_items is not None
            and self.ice_score is not None
            and self.ice_items.total != self.ice_score
        ):
            raise ValueError(
                f"`ice_score` ({self.ice_score}) differs from the sum of `ice_items` ({self.ice_items.total})"
            )
        return self

    @property
    def ice(self) -> int | None:
        """ICE score from ``ice_score`` or the items."""
        if self.ice_score is not None:
            return self.ice_score
        return None if self.ice_items is None else self.ice_items.total


class HlhAssessment(_Record):
    """Clinical HLH work-up for HScore / HLH-2004 (laboratory values come from ``labs``,
    temperatures from ``vitals``). ``None`` means not assessed."""

    time: Time
    known_immunosuppression: bool | None = None
    hepatomegaly: bool | None = None
    splenomegaly: bool | None = None
    haemophagocytosis: bool | None = Field(
        None, description="Haemophagocytosis on marrow (or tissue) biopsy."
    )
    nk_activity_low: bool | None = None
    molecular_diagnosis: bool = Field(False, description="Molecular diagnosis consistent with HLH.")


class GvhdAssessment(_Record):
    """Organ data for MAGIC acute GvHD staging. Bilirubin comes from ``labs`` (BILI).

    ``stool_ml_per_day`` is the 3-day average stool output recommended by MAGIC.
    """

    time: Time
    skin_bsa_percent: float = Field(
        0.0, ge=0, le=100, description="Active GvHD erythema, % body surface area."
    )
    skin_bullae_desquamation: bool = Field(False, description="Bullae with desquamation > 5% BSA.")
    upper_gi_persistent: bool = Field(False, description="Persistent nausea, vomiting or anorexia.")
    stool_ml_per_day: float | None = Field(None, ge=0, le=20000)
    stool_episodes_per_day: float | None = Field(None, ge=0, le=100)
    stool_mixed_with_urine: bool = Field(
        False, description="Stool output measured mixed with urine."
    )
    severe_abdominal_pain: bool = Field(
        False, description="Opioid-requiring, affecting performance status."
    )
    ileus: bool = False
    grossly_bloody_stool: bool = False
    attribution: Attribution = "unspecified"


AeCategory = Literal[
    "crs",
    "icans",
    "iec_hs",
    "gvhd",
    "neutropenia",
    "thrombocytopenia",
    "anaemia",
    "leukopenia",
    "lymphopenia",
    "febrile_neutropenia",
    "b_cell_aplasia",
    "hypogammaglobulinaemia",
    "infection",
    "fever",
    "infusion_reaction",
    "licats",
    "sle_flare",
    "lab_abnormality",
    "other",
]


#: Relatedness of an event to the study treatment (SDTM AEREL); ``"unspecified"`` = not recorded.
Relatedness = Literal["not_related", "unlikely", "possible", "probable", "definite", "unspecified"]


class AdverseEvent(_Span):
    """An adverse event (SDTM AE row) at one grade over ``start``..``end``.

    A grade change is recorded as a new record (the common SDTM practice), so the time a
    patient spends at each grade is known. ``scale`` names the grading system (ASTCT 2019 for
    CRS/ICANS, ASTCT 2023 for IEC-HS, MAGIC for GvHD, CTCAE v5.0 otherwise).
    """

    term: str = Field(..., min_length=1, description="Reported or MedDRA preferred term (AEDECOD).")
    category: AeCategory
    grade: int = Field(..., ge=1, le=5)
    scale: Literal["ctcae-5.0", "astct-2019", "astct-2023", "magic", "other"]
    start: Time
    end: Time | None = Field(None, description="Resolution (or grade change) time; None = ongoing.")
    relatedness: Relatedness = "unspecified"
    serious: bool = False
    expected_ld_toxicity: bool = Field(False, description="Expected toxicity of lymphodepletion.")
    clinically_significant: bool = True
    attribution: Attribution = "unspecified"


class Infection(_Span):
    """An infection over ``start``..``end``, graded from its clinical attributes.

    Unlike an :class:`AdverseEvent`, an infection carries no typed grade: the CTCAE v5.0 grade of
    the "Infections and infestations" terms follows from the intervention it needed and its
    consequences (:func:`allocart.clinical.ctcae.infection_grade`): grade 5 ``fatal``, grade 4
    ``life_threatening``, grade 3 ``antimicrobial='iv'`` or ``invasive_intervention``, grade 2
    ``antimicrobial='oral'``, grade 1 otherwise (local or no treatment). The record describes the
    worst point of the infection; ``end=None`` means ongoing.
    """

    term: str = Field(
        ..., min_length=1, description="Infection term, e.g. 'pneumonia', 'CMV reactivation'."
    )
    start: Time
    end: Time | None = Field(None, description="Resolution time; None = ongoing.")
    antimicrobial: Literal["none", "local", "oral", "iv"] = Field(
        "none",
        description="Antibiotic, antifungal or antiviral treatment indicated: none, local (topical), oral, or iv.",
    )
    invasive_intervention: bool = Field(
        False, description="Invasive intervention indicated (e.g. drainage, surgery)."
    )
    life_threatening: bool = Field(
        False,
        description="Life-threatening consequences; urgent intervention indicated (e.g. septic shock, ICU).",
    )
    fatal: bool = Field(False, description="The infection caused death.")
    relatedness: Relatedness = "unspecified"
    attribution: Attribution = "infection"
    serious: bool = False


class Hospitalisation(_Span):
    """A hospital admission; ``reason='sle'`` for admissions for lupus activity."""

    start: Time
    end: Time | None = None
    reason: Attribution = "unspecified"


class Death(_Record):
    """Death and its principal cause (e.g. 'crs', 'icans', 'infection')."""

    time: Time
    cause: Attribution = "unspecified"
