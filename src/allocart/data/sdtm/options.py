"""Options of the SDTM reader and what it returns (:class:`SdtmStudy`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from allocart.clinical import units
from allocart.clinical.records import PatientRecords
from allocart.data.dataset import Dataset
from allocart.data.problems import Problem
from allocart.data.sdtm.codes import KINETIC_UNITS
from allocart.errors import DataError

__all__ = ["SdtmOptions", "SdtmStudy"]


@dataclass(frozen=True)
class SdtmOptions:
    """How to read a study whose coding differs from the defaults.

    Attributes
    ----------
    car_t_treatment : str or None
        ``EXTRT`` of the CAR-T product (case-insensitive); None = recognise CAR-T by name,
        category or cell-count unit.
    product : str or None
        Model product name for every subject (else the ``EXTRT`` of the CAR-T row).
    lab_aliases : mapping
        Extra site LB test codes -> analyte codes (added to :data:`LAB_ALIASES`).
    kinetic_codes : mapping
        Extra PC/CP test codes -> read-outs (added to :data:`KINETIC_CODES`).
    """

    car_t_treatment: str | None = None
    product: str | None = None
    lab_aliases: Mapping[str, str] = field(default_factory=dict)
    kinetic_codes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for code, name in self.kinetic_codes.items():
            if name not in KINETIC_UNITS:
                raise DataError(
                    f"pc_code {code}={name}: {name!r} is not a PC/CP read-out; use one of {', '.join(KINETIC_UNITS)}",
                    argument="pc_code",
                )
        for code, name in self.lab_aliases.items():
            if (name.upper(), "blood") not in units.ANALYTES and (
                name.upper(),
                "urine",
            ) not in units.ANALYTES:
                raise DataError(
                    f"lab_code {code}={name}: {name!r} is not a known test code",
                    argument="lab_code",
                )


@dataclass(frozen=True)
class SdtmStudy:
    """What :func:`load_sdtm` found.

    Attributes
    ----------
    folder : str
    files : dict of str to str
        Domain -> file read.
    rows : dict of str to int
        Domain -> number of rows.
    records : dict of str to PatientRecords
        Clinical records of every DM subject that could be read (calendar times when the
        subject has no CAR-T infusion to count days from).
    dataset : Dataset or None
        The CAR-T dataset, when there are no problems.
    problems : tuple of Problem
        What stops the dataset from being built, each with file, row and column.
    notes : tuple of str
        What was read but left out, and why.
    """

    folder: str
    files: dict[str, str]
    rows: dict[str, int]
    records: dict[str, PatientRecords]
    dataset: Dataset | None
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]
