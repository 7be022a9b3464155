"""Treatment records: medication courses and oxygen or ventilatory support."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from allocart.clinical.records._base import Attribution, Time, _Span

__all__ = ["Medication", "OxygenSupport"]


MedicationCategory = Literal[
    "glucocorticoid",
    "antimalarial",
    "immunosuppressant",
    "biologic",
    "nsaid",
    "investigational",
    "car_t",
    "lymphodepletion",
    "tocilizumab",
    "anakinra",
    "vasopressor",
    "antipyretic",
    "g_csf",
    "ivig",
    "anti_infective",
    "other",
]

DoseUnit = Literal[
    "mg", "g", "ug", "mg/kg", "mg/m2", "ug/kg/min", "ug/min", "units/min", "IU", "cells", "mL"
]


class Medication(_Span):
    """A medication course (SDTM CM/EX row), active from ``start`` through ``end``.

    ``end=None`` means ongoing. Glucocorticoid daily doses are converted to prednisone
    equivalents by agent ``name`` (see :mod:`allocart.clinical.medications`).
    """

    name: str = Field(
        ..., min_length=1, description="Agent, e.g. 'prednisolone', 'norepinephrine'."
    )
    category: MedicationCategory
    start: Time
    end: Time | None = None
    dose: float | None = Field(None, ge=0, description="Dose per administration.")
    dose_unit: DoseUnit | None = None
    frequency: Literal[
        "once", "daily", "bid", "tid", "qid", "every_other_day", "weekly", "continuous"
    ] = Field("daily", description="Administrations per period; default daily.")
    indication: Literal["sle", "toxicity", "prophylaxis", "other", "unspecified"] = "unspecified"
    rescue: bool = Field(
        False, description="Prohibited or rescue medication per protocol (treatment failure)."
    )

    @model_validator(mode="after")
    def _check(self) -> Medication:
        if self.dose is not None and self.dose_unit is None:
            raise ValueError(f"`dose_unit` is required with `dose` ({self.dose}) for {self.name!r}")
        return self


OxygenDevice = Literal[
    "room_air",
    "blow_by",
    "nasal_cannula",
    "high_flow_nasal_cannula",
    "face_mask",
    "venturi_mask",
    "non_rebreather",
    "cpap",
    "bipap",
    "mechanical_ventilation",
]


class OxygenSupport(_Span):
    """Oxygen delivery or ventilatory support (SDTM PR row) over ``start``..``end``."""

    device: OxygenDevice
    start: Time
    end: Time | None = None
    flow_l_min: float | None = Field(None, ge=0, le=80, description="Flow rate in L/min.")
    attribution: Attribution = Field("unspecified", description="E.g. 'infection' for pneumonia.")

    @model_validator(mode="after")
    def _check(self) -> OxygenSupport:
        if self.device == "nasal_cannula" and self.flow_l_min is None:
            raise ValueError("a nasal cannula record needs `flow_l_min` (low flow is <= 6 L/min)")
        return self
