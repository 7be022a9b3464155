"""CDISC SDTM tables (DM, EX, LB, PC or CP, AE, VS, QS) to and from a Dataset.

A study folder holds one table per domain, ``dm.xpt`` (SAS XPORT) or ``dm.csv`` (any case).
:func:`load_sdtm` reads what it can and reports, separately, the *problems* that stop a
CAR-T dataset from being built (each naming file, row and column) and *notes* on what was
left out; :func:`read_sdtm` returns the :class:`~allocart.data.Dataset` or raises the
problems. Row numbers count the header as row 1 (the first record is row 2).

Mapping
-------
DM   ``USUBJID`` -> subject; ``AGE``/``AGEU`` -> age (years); ``SEX`` F/M -> ``female``.
EX   Reference day: day 0 is each subject's first CAR-T administration (``EXSTDTC``). A row
     is CAR-T when ``EXTRT`` equals ``car_t_treatment`` (case-insensitive), or, without it,
     when ``EXCAT`` or ``EXTRT`` says CAR-T (``CAR-T``, ``CAR T``, ``CART``, names ending in
     ``-CEL``/``LEUCEL``) or ``EXDOSU`` is a cell count. Dose units: ``cells``, ``cells/kg``,
     optionally scaled (``10^6 cells/kg``). Fludarabine and cyclophosphamide rows are the
     lymphodepletion (mg/m2; mg with a known BSA is divided by it); ``EXSCAT`` of those rows
     names the regimen. A study without any CAR-T administration is refused with the
     treatments it does have. Subjects without one (screen failures, other arms) are left
     out, with a note.
LB   Tests of :data:`allocart.clinical.units.ANALYTES` (aliases: ANC -> NEUT, PLT -> PLAT,
     LYMPH -> LYM, DSDNA -> DSDNAAB, BCELL -> CD19, ...) become lab records in their internal
     unit (``LBSTRESN``/``LBSTRESU``, else ``LBORRES``/``LBORRESU``; reference range
     ``LBSTNRLO``/``LBSTNRHI``); those that are model read-outs (NEUT, LYM, PLAT, CD19, IGG,
     C3, C4, DSDNAAB, IL6) also become observations. ``<x`` results, or ``LBSTRESN`` below
     ``LBLLOQ``, are censored at the LLOQ.
PC/CP CAR-T kinetics: test codes :data:`KINETIC_CODES` (``CARTCELL`` cells/uL, ``CARTPCT``
     % of T cells, ``TRANSGEN`` transgene copies/ug DNA) with ``--LLOQ`` and ``<x`` censoring.
AE   ``AEDECOD`` (else ``AETERM``), grade ``AETOXGR`` (CTCAE, or ASTCT for CRS/ICANS/IEC-HS,
     MAGIC for GvHD by category); without ``AETOXGR`` the grade comes from ``AESEV`` (MILD 1,
     MODERATE 2, SEVERE 3, LIFE THREATENING 4, FATAL 5; scale "other"), with a note.
     Onset ``AESTDTC``, resolution ``AEENDTC``; ``AESER``, ``AEREL``; the category from
     ``AECAT`` when it is one of the record categories, else from the term.
VS   Vital signs of :data:`allocart.clinical.units.VITALS`; baseline (last on or before day 0,
     else first) ``WEIGHT``, ``HEIGHT`` and ``BSA`` are the subject's covariates.
QS   ``QSCAT`` containing SLEDAI: items named by SLEDAI-2K descriptor (``QSTESTCD`` or
     ``QSTEST``), present when ``QSORRES`` is Y/1/PRESENT (arthritis: ``QSSTRESN`` joints);
     SLEDAI form items count as attributed to SLE. ``QSTESTCD`` PGA: physician global
     assessment (``QSSTRESU`` mm -> 0-100 mm scale, else 0-3).

Dates may be partial in SDTM (``2014-03``); rows whose date a time axis needs but which is
partial are left out and listed in the notes, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from allocart.clinical import units
from allocart.clinical.records import (
    SLEDAI_DESCRIPTORS,
    AdverseEvent,
    LabResult,
    PatientRecords,
    PgaAssessment,
    SledaiFinding,
    VitalSign,
)
from allocart.data.dataset import (
    DOSE_COLUMNS,
    OBSERVABLES,
    OBSERVATION_COLUMNS,
    SUBJECT_COLUMNS,
    Dataset,
    DataValidationError,
    Problem,
    format_iso,
    make_patient_records,
    one_line,
    parse_iso,
    shift_days,
)
from allocart.data.tables import FIRST_DATA_ROW, MISSING, column_list, number, read_text_table
from allocart.errors import DataError

__all__ = [
    "DOMAINS",
    "KINETIC_CODES",
    "LAB_ALIASES",
    "SdtmOptions",
    "SdtmStudy",
    "load_sdtm",
    "read_sdtm",
    "write_sdtm",
]

#: Domains read, in reading order.
DOMAINS = ("DM", "EX", "LB", "PC", "CP", "VS", "AE", "QS")

#: Site test codes -> :data:`allocart.clinical.units.ANALYTES` codes.
LAB_ALIASES = {
    "ANC": "NEUT",
    "NEUTRO": "NEUT",
    "NEUTROPHILS": "NEUT",
    "PLT": "PLAT",
    "PLATELETS": "PLAT",
    "LYMPH": "LYM",
    "LYMPHS": "LYM",
    "ALC": "LYM",
    "DSDNA": "DSDNAAB",
    "ADSDNA": "DSDNAAB",
    "ANTIDSDNA": "DSDNAAB",
    "BCELL": "CD19",
    "BCELLS": "CD19",
    "CD19B": "CD19",
    "IL-6": "IL6",
    "IGGT": "IGG",
}

#: PC/CP test codes -> read-outs.
KINETIC_CODES = {
    "CARTCELL": "car_t_cells_per_ul",
    "CARTCNT": "car_t_cells_per_ul",
    "CARTPCT": "car_pct_of_t",
    "CARPCT": "car_pct_of_t",
    "TRANSGEN": "transgene_copies_per_ug",
    "CARTDNA": "transgene_copies_per_ug",
    "CARDNA": "transgene_copies_per_ug",
    "CD19": "b_cells_per_ul",
}

#: Accepted units of a cell count (spelling of :func:`units.canonical_unit_spelling`) ->
#: factor to cells/uL.
_CELLS_PER_UL = {
    "/ul": 1.0,
    "/mm3": 1.0,
    "/ml": 1e-3,
    "10^9/l": 1000.0,
    "10^3/ul": 1000.0,
    "10^6/l": 1.0,
}
#: Accepted units of PC/CP read-outs (spelling of :func:`units.canonical_unit_spelling`) ->
#: factor to the read-out's unit.
_KINETIC_UNITS: dict[str, dict[str, float]] = {
    "car_t_cells_per_ul": _CELLS_PER_UL,
    "b_cells_per_ul": _CELLS_PER_UL,
    "car_pct_of_t": {"%": 1.0, "%oft": 1.0, "%oftcells": 1.0, "fraction": 100.0},
    "transgene_copies_per_ug": {
        "copies/ug": 1.0,
        "copies/ugdna": 1.0,
        "copies/uggdna": 1.0,
        "copies/ng": 1000.0,
        "copies/ngdna": 1000.0,
    },
}
_PC_WRITE = {
    "car_t_cells_per_ul": ("CARTCELL", "CAR-T cells", "cells/uL"),
    "car_pct_of_t": ("CARTPCT", "CAR-T cells of T cells", "%"),
    "transgene_copies_per_ug": ("TRANSGEN", "CAR transgene", "copies/ug"),
}

_LD_DRUGS = {"FLUDARABINE": "fludarabine", "CYCLOPHOSPHAMIDE": "cyclophosphamide"}
_CAR_T_TEXT = re.compile(
    r"CAR[- ]?T\b|\bCART\b|-CEL\b|LEUCEL\b|AUTOLEUCEL|CAR T-CELL", re.IGNORECASE
)
_CELL_UNIT = re.compile(
    r"^(?:X?\s*10\^?(?P<exp>\d+)\s*)?(?:CELLS?|VIABLE CELLS|CAR\+? ?T? ?CELLS)(?P<kg>/KG)?$",
    re.IGNORECASE,
)
_SEV_GRADE = {
    "MILD": 1,
    "MODERATE": 2,
    "SEVERE": 3,
    "LIFE THREATENING": 4,
    "LIFE-THREATENING": 4,
    "FATAL": 5,
    "DEATH": 5,
}
_REL = {
    "NOT RELATED": "not_related",
    "NONE": "not_related",
    "N": "not_related",
    "NO": "not_related",
    "UNLIKELY": "unlikely",
    "UNLIKELY RELATED": "unlikely",
    "REMOTE": "unlikely",
    "POSSIBLE": "possible",
    "POSSIBLY RELATED": "possible",
    "PROBABLE": "probable",
    "PROBABLY RELATED": "probable",
    "RELATED": "probable",
    "Y": "probable",
    "YES": "probable",
    "DEFINITE": "definite",
    "DEFINITELY RELATED": "definite",
}
_REL_WRITE = {
    "not_related": "NOT RELATED",
    "unlikely": "UNLIKELY",
    "possible": "POSSIBLE",
    "probable": "PROBABLE",
    "definite": "DEFINITE",
    "unspecified": "",
}
_AE_CATEGORIES = (
    ("crs", ("CYTOKINE RELEASE",)),
    ("icans", ("IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY", "ICANS")),
    ("iec_hs", ("HAEMOPHAGOCYTIC", "HEMOPHAGOCYTIC", "IEC-HS", "MACROPHAGE ACTIVATION")),
    ("gvhd", ("GRAFT VERSUS HOST", "GRAFT-VERSUS-HOST")),
    ("febrile_neutropenia", ("FEBRILE NEUTROPENIA",)),
    ("neutropenia", ("NEUTROPENIA", "NEUTROPHIL COUNT DECREASED")),
    ("thrombocytopenia", ("THROMBOCYTOPENIA", "PLATELET COUNT DECREASED")),
    ("anaemia", ("ANAEMIA", "ANEMIA")),
    ("leukopenia", ("LEUKOPENIA", "WHITE BLOOD CELL COUNT DECREASED")),
    ("lymphopenia", ("LYMPHOPENIA", "LYMPHOCYTE COUNT DECREASED")),
    ("b_cell_aplasia", ("B-CELL APLASIA", "B CELL APLASIA")),
    ("hypogammaglobulinaemia", ("HYPOGAMMAGLOBULINAEMIA", "HYPOGAMMAGLOBULINEMIA")),
    ("infusion_reaction", ("INFUSION RELATED REACTION", "INFUSION-RELATED REACTION")),
    ("sle_flare", ("LUPUS FLARE", "SYSTEMIC LUPUS ERYTHEMATOSUS")),
    ("infection", ("INFECTION", "PNEUMONIA", "SEPSIS")),
    ("fever", ("PYREXIA", "FEVER")),
)
_AE_KNOWN = {c for c, _ in _AE_CATEGORIES} | {"licats", "lab_abnormality", "other"}
_AE_SCALE = {"crs": "astct-2019", "icans": "astct-2019", "iec_hs": "astct-2023", "gvhd": "magic"}
_SLEDAI_ALIASES = {
    "cerebrovascular_accident": "cva",
    "anti_dsdna": "increased_dna_binding",
    "increased_dna": "increased_dna_binding",
    "mucosal_ulcer": "mucosal_ulcers",
    "urinary_cast": "urinary_casts",
    "pleuritis": "pleurisy",
    "organic_brain": "organic_brain_syndrome",
    "headache": "lupus_headache",
}


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
            if name not in _KINETIC_UNITS:
                raise DataError(
                    f"--pc-code {code}={name}: {name!r} is not a PC/CP read-out; use one of {', '.join(_KINETIC_UNITS)}"
                )
        for code, name in self.lab_aliases.items():
            if (name.upper(), "blood") not in units.ANALYTES and (
                name.upper(),
                "urine",
            ) not in units.ANALYTES:
                raise DataError(f"--lab-code {code}={name}: {name!r} is not a known test code")


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


class _Domain:
    """One SDTM table with its file name and row numbers."""

    def __init__(self, name: str, path: Path, frame: pd.DataFrame) -> None:
        self.name, self.path, self.frame = name, path, frame
        self.file = str(path)

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        return [(i + FIRST_DATA_ROW, r) for i, r in enumerate(self.frame.to_dict("records"))]

    def has(self, col: str) -> bool:
        return col in self.frame.columns


def _find_tables(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        stem, suffix = p.stem.upper(), p.suffix.lower()
        if suffix in (".xpt", ".csv") and stem in DOMAINS:
            if stem in found and found[stem].suffix.lower() == ".xpt":
                continue  # XPORT is the submission format; prefer it over a CSV copy
            found[stem] = p
    return found


def _dtc(text: str) -> datetime | None | str:
    """Parse an SDTM ``--DTC``: a datetime, None when empty, or ``"partial"`` for a partial date.

    Raises
    ------
    ValueError
        If the text is not an ISO 8601 date or date-time at all.
    """
    s = (text or "").strip()
    if s in MISSING:
        return None
    if re.fullmatch(r"\d{4}(-\d{2})?", s) or re.fullmatch(r"\d{4}-[\d-]*", s) and "--" in s:
        return "partial"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", s):
        s += ":00"  # hours only
    return parse_iso(s)


def _date_problem(text: Any, exc: ValueError) -> str:
    """Why ``text`` of a ``--DTC`` column is refused (``exc`` from :func:`_dtc`)."""
    if "calendar" in str(exc):  # an ISO date-time whose time zone leaves the calendar
        return str(exc)
    return f"{text!r} is not an ISO 8601 date or date-time"


def _upper(r: dict[str, str], col: str) -> str:
    return str(r.get(col, "") or "").strip().upper()


def _pydantic_problem(
    exc: ValidationError, file: str, row: int, columns: Mapping[str, str]
) -> Problem:
    err = exc.errors()[0]
    loc = str(err["loc"][0]) if err["loc"] else ""
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across fields: the message names the field in backticks
        named = re.findall(r"`(\w+)`", msg)
        loc = next((n for n in named if n in columns), "value")
    return Problem(file, row, columns.get(loc), msg)


class _StudyReader:
    """The state of one :func:`load_sdtm` run: tables, problems, notes, and what each domain adds."""

    def __init__(self, folder: Path, opts: SdtmOptions) -> None:
        self.folder, self.opts = folder, opts
        self.paths = _find_tables(folder)
        if not self.paths:
            present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
            raise DataError(
                f"{folder}: no SDTM tables (dm.xpt or dm.csv, ex, lb, ...); the folder holds {present}"
            )
        self.doms = {k: _Domain(k, p, read_text_table(p)) for k, p in self.paths.items()}
        self.probs: list[Problem] = []
        self.notes: list[str] = []
        self.lab_alias = {
            **LAB_ALIASES,
            **{k.upper(): v.upper() for k, v in opts.lab_aliases.items()},
        }
        self.kinetic = {**KINETIC_CODES, **{k.upper(): v for k, v in opts.kinetic_codes.items()}}
        self.subjects: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.reference: dict[str, datetime] = {}  # subject -> CAR-T infusion (day 0)
        # id, when, kind, amount, unit, row, unit as written
        self.doses: list[tuple[str, datetime, str, float, str, int, str]] = []
        self.product: dict[str, str | None] = {}
        self.ld_name: dict[str, str] = {}
        self.rec: dict[str, dict[str, list[Any]]] = {}
        self.observations: list[tuple[str, float, str, float, float, bool]] = []
        self.partial: dict[str, list[int]] = {}  # "file column" -> rows with partial dates
        self.unknown_subject: dict[str, list[int]] = {}
        self.baseline: dict[str, dict[str, tuple[Any, float]]] = {}  # sid -> code -> (rank, value)
        self.records: dict[str, PatientRecords] = {}

    def read_dm(self) -> None:
        """DM: the subjects, their age and sex."""
        if "DM" not in self.doms:
            self.probs.append(
                Problem(
                    str(self.folder / "dm.xpt"),
                    None,
                    None,
                    f"no DM table (dm.xpt or dm.csv): subjects are defined there; found {', '.join(sorted(self.paths))}",
                )
            )
        else:
            dm = self.doms["DM"]
            if not dm.has("USUBJID"):
                self.probs.append(
                    Problem(dm.file, 1, "USUBJID", "required column USUBJID is missing")
                )
            else:
                for row, r in dm.rows():
                    sid = r.get("USUBJID", "")
                    if sid in MISSING:
                        self.probs.append(Problem(dm.file, row, "USUBJID", "missing subject id"))
                        continue
                    if sid in self.subjects:
                        self.probs.append(
                            Problem(dm.file, row, "USUBJID", f"subject {sid!r} appears twice in DM")
                        )
                        continue
                    age = number(r.get("AGE", ""), dm.file, row, "AGE", self.probs, required=False)
                    ageu = _upper(r, "AGEU") or "YEARS"
                    if not math.isnan(age):
                        factor = {
                            "YEARS": 1.0,
                            "MONTHS": 1 / 12,
                            "WEEKS": 7 / 365.25,
                            "DAYS": 1 / 365.25,
                        }.get(ageu)
                        if factor is None:
                            self.probs.append(
                                Problem(
                                    dm.file,
                                    row,
                                    "AGEU",
                                    f"{ageu!r} is not an age unit (YEARS, MONTHS, WEEKS, DAYS)",
                                )
                            )
                            age = math.nan
                        else:
                            age *= factor
                            if not 0.0 <= age <= 130.0:
                                self.probs.append(
                                    Problem(
                                        dm.file,
                                        row,
                                        "AGE",
                                        f"{r.get('AGE')} {ageu} is impossible; the age must lie "
                                        "between 0 and 130 years",
                                    )
                                )
                                age = math.nan
                    sex = _upper(r, "SEX")
                    female = (
                        True if sex in ("F", "FEMALE") else False if sex in ("M", "MALE") else None
                    )
                    self.subjects[sid] = {
                        "id": sid,
                        "age_years": age,
                        "female": female,
                        "arm": r.get("ARM", ""),
                    }
                    self.order.append(sid)

        for sid in self.order:  # the record lists the other domains fill
            self.rec[sid] = {
                "labs": [],
                "vitals": [],
                "adverse_events": [],
                "sledai_findings": [],
                "pga": [],
            }

    def read_ex(self) -> None:
        """EX: day 0 (the first CAR-T administration) and the doses."""
        other_treatments: set[str] = set()
        if "EX" not in self.doms:
            self.probs.append(
                Problem(
                    str(self.folder / "ex.xpt"),
                    None,
                    None,
                    "no EX table (ex.xpt or ex.csv): day 0 is the CAR-T infusion recorded in EX, and the doses come from it",
                )
            )
        else:
            ex = self.doms["EX"]
            for col in ("USUBJID", "EXTRT", "EXSTDTC"):
                if not ex.has(col):
                    self.probs.append(
                        Problem(
                            ex.file,
                            1,
                            col,
                            f"required column {col} is missing; columns are {column_list(ex.frame.columns)}",
                        )
                    )
            if all(ex.has(c) for c in ("USUBJID", "EXTRT", "EXSTDTC")):
                want = (
                    None
                    if self.opts.car_t_treatment is None
                    else self.opts.car_t_treatment.strip().upper()
                )
                car_rows = []
                for row, r in ex.rows():
                    trt = _upper(r, "EXTRT")
                    if want is not None:
                        is_car = trt == want
                    else:
                        is_car = bool(
                            _CAR_T_TEXT.search(trt)
                            or _CAR_T_TEXT.search(_upper(r, "EXCAT"))
                            or _CELL_UNIT.match(_upper(r, "EXDOSU").replace(" ", "") or "-")
                        )
                    if is_car:
                        car_rows.append((row, r))
                        continue
                    kind = next((k for name, k in _LD_DRUGS.items() if name in trt), None)
                    if kind is None:
                        other_treatments.add(trt or "(empty)")
                        continue
                    self.ex_dose(row, r, kind)
                    if (
                        _upper(r, "EXCAT") == "LYMPHODEPLETION"
                        and r.get("EXSCAT", "") not in MISSING
                    ):
                        self.ld_name[r["USUBJID"]] = r["EXSCAT"]
                if not car_rows:
                    values = sorted(
                        set(ex.frame["EXTRT"].map(lambda v: str(v).strip().upper())) - {""}
                    )
                    shown = ", ".join(values[:20]) + (" ..." if len(values) > 20 else "")
                    how = (
                        f"no EXTRT equals {self.opts.car_t_treatment!r}"
                        if want is not None
                        else "no row names a CAR-T product (EXTRT or EXCAT with CAR-T, -CEL or LEUCEL) or gives a dose in cells"
                    )
                    self.probs.append(
                        Problem(
                            ex.file,
                            None,
                            "EXTRT",
                            f"EX has no CAR-T administration ({how}): EXTRT values are {shown}; "
                            "day 0 of a CAR-T dataset is the infusion; pass --car-t-treatment NAME to name the CAR-T product",
                        )
                    )
                for row, r in car_rows:
                    sid = r["USUBJID"]
                    when = self.ex_start(
                        row,
                        r,
                        lambda w, raw=r.get("EXSTDTC"): (
                            f"the CAR-T infusion date {raw!r} is {'missing' if w is None else 'partial'}; "
                            "day 0 needs a complete date"
                        ),
                    )
                    if when is None:
                        continue
                    self.ex_dose(row, r, "car_t", when=when)
                    if sid not in self.reference or when < self.reference[sid]:
                        self.reference[sid] = when
                        trt = r.get("EXTRT", "").strip()
                        self.product[sid] = self.opts.product or (
                            None if trt.upper() in ("CAR-T", "CAR T") else trt
                        )
                if other_treatments:
                    self.notes.append(
                        f"{ex.file}: treatments that are neither CAR-T nor lymphodepletion are not modelled: "
                        + ", ".join(sorted(other_treatments))
                    )
        for sid in list(self.reference):
            if sid not in self.subjects and "DM" in self.doms:
                self.probs.append(
                    Problem(
                        self.doms["EX"].file,
                        None,
                        "USUBJID",
                        f"subject {sid!r} has EX rows but is not in DM",
                    )
                )
        untreated = [s for s in self.order if s not in self.reference]
        if self.reference and untreated:
            self.notes.append(
                f"{len(untreated)} DM subject(s) have no CAR-T administration in EX and are left out of the dataset: "
                + ", ".join(untreated[:10])
                + (" ..." if len(untreated) > 10 else "")
            )

    def ex_start(
        self, row: int, r: dict[str, str], incomplete: Callable[[None | str], str]
    ) -> datetime | None:
        """EXSTDTC of an EX row as a complete date-time, or None with a problem appended.

        ``incomplete`` words the problem for a missing (``None``) or ``"partial"`` date.
        """
        ex = self.doms["EX"]
        try:
            when = _dtc(r.get("EXSTDTC", ""))
        except ValueError as exc:
            self.probs.append(
                Problem(ex.file, row, "EXSTDTC", _date_problem(r.get("EXSTDTC"), exc))
            )
            return None
        if when is None or when == "partial":
            self.probs.append(Problem(ex.file, row, "EXSTDTC", incomplete(when)))
            return None
        return when

    def ex_dose(self, row: int, r: dict[str, str], kind: str, when: datetime | None = None) -> None:
        """Append one EX dose row to ``doses``; ``when`` is its start if already parsed."""
        ex = self.doms["EX"]
        sid = r["USUBJID"]
        if when is None:
            when = self.ex_start(
                row,
                r,
                lambda _w: f"the {kind} dose date {r.get('EXSTDTC')!r} is missing or partial",
            )
            if when is None:
                return
        amount = number(r.get("EXDOSE", ""), ex.file, row, "EXDOSE", self.probs)
        if math.isnan(amount):
            return
        unit_raw = r.get("EXDOSU", "")
        text = (
            unit_raw.strip()
            .upper()
            .replace(" ", "")
            .replace("X10", "10")
            .replace("10E", "10^")
            .replace("10*", "10^")
        )
        if kind == "car_t":
            m = _CELL_UNIT.match(text)
            if not m:
                self.probs.append(
                    Problem(
                        ex.file,
                        row,
                        "EXDOSU",
                        f"{unit_raw!r} is not a CAR-T dose unit; use cells, cells/kg, "
                        "10^6 cells or 10^6 cells/kg",
                    )
                )
                return
            exp = int(m.group("exp") or 0)
            if exp > 15:  # 10^6 cells is usual; 10^400 overflows
                self.probs.append(
                    Problem(
                        ex.file,
                        row,
                        "EXDOSU",
                        f"{unit_raw!r}: 10^{exp} cells is not a plausible dose unit; use cells, "
                        "cells/kg, 10^6 cells or 10^6 cells/kg",
                    )
                )
                return
            amount *= 10.0**exp
            unit = "cells/kg" if m.group("kg") else "cells"
        else:
            spelled = units.canonical_unit_spelling(unit_raw)
            if spelled in ("mg/m2", "mg/m^2"):
                unit = "mg/m2"
            elif spelled == "mg":
                unit = "mg"
            else:
                self.probs.append(
                    Problem(
                        ex.file,
                        row,
                        "EXDOSU",
                        f"{unit_raw!r} is not a unit of a {kind} dose; use mg/m2 (or mg with VS BSA)",
                    )
                )
                return
        if not amount > 0:
            self.probs.append(
                Problem(ex.file, row, "EXDOSE", f"{kind} dose {amount:g} must be positive")
            )
            return
        self.doses.append((sid, when, kind, amount, unit, row, unit_raw))

    def obs_time(self, sid: str, when: datetime) -> float:
        """Days from the CAR-T infusion to ``when``."""
        return (when - self.reference[sid]).total_seconds() / 86400.0

    def rec_time(self, sid: str, when: datetime) -> float | date | datetime:
        """Record time: days from the infusion day, or the calendar time without an infusion."""
        ref = self.reference.get(sid)
        if ref is None:
            return when.date() if when.time() == datetime.min.time() else when
        return (when - datetime(ref.year, ref.month, ref.day)).total_seconds() / 86400.0

    def when_of(
        self, dom: _Domain, row: int, r: dict[str, str], col: str, sid: str
    ) -> datetime | None:
        """The date-time of a row, or None (with a problem or a note) when it cannot be used."""
        if sid not in self.rec:
            self.unknown_subject.setdefault(dom.file, []).append(row)
            return None
        try:
            when = _dtc(r.get(col, ""))
        except ValueError as exc:
            self.probs.append(Problem(dom.file, row, col, _date_problem(r.get(col), exc)))
            return None
        if when is None or when == "partial":
            self.partial.setdefault(f"{dom.file} {col}", []).append(row)
            return None
        return when

    def read_lb(self) -> None:
        """LB: lab records and lab read-outs."""
        unused_tests: set[str] = set()
        if "LB" in self.doms:
            lb = self.doms["LB"]
            for row, r in lb.rows():
                if _upper(r, "LBSTAT") == "NOT DONE":
                    continue
                code = _upper(r, "LBTESTCD")
                code = self.lab_alias.get(code, code)
                spec = r.get("LBSPEC", "") or None
                key = units.analyte_key(code, spec)
                if key not in units.ANALYTES:
                    unused_tests.add(code)
                    continue
                sid = r.get("USUBJID", "")
                when = self.when_of(lb, row, r, "LBDTC", sid)
                if when is None:
                    continue
                self.lb_row(row, r, sid, code, spec, when)
            if unused_tests:
                self.notes.append(
                    f"{lb.file}: tests without an allocart analyte are not used: {', '.join(sorted(unused_tests))}"
                )

    def lb_row(
        self, row: int, r: dict[str, str], sid: str, code: str, spec: str | None, when: datetime
    ) -> None:
        """One LB row of a known analyte: a lab record, and an observation if it is a read-out."""
        lb = self.doms["LB"]
        use_std = r.get("LBSTRESN", "") not in MISSING or r.get("LBSTRESC", "") not in MISSING
        num_col, text_col, ucol = (
            ("LBSTRESN", "LBSTRESC", "LBSTRESU") if use_std else ("LBORRES", "LBORRES", "LBORRESU")
        )
        unit = r.get(ucol, "")
        censored_at = None
        value = math.nan
        num_text = r.get(num_col, "")
        try:
            value = float(num_text) if num_text not in MISSING else math.nan
        except ValueError:
            if use_std:  # LBSTRESN is numeric by definition
                self.probs.append(Problem(lb.file, row, num_col, f"{num_text!r} is not a number"))
                return
        if math.isnan(value):
            txt = r.get(text_col, "")
            censored_at = _censor_text(txt)
            if censored_at is not None and not math.isfinite(censored_at):
                self.probs.append(Problem(lb.file, row, text_col, _censor_problem(txt)))
                return
            if censored_at is None:
                if txt not in MISSING:
                    self.notes.append(
                        f"{lb.file} row {row}: {code} result {txt!r} is not a number and is not used"
                    )
                return
        try:
            units.convert(code, spec, 1.0, unit)
        except ValueError as exc:
            self.probs.append(Problem(lb.file, row, ucol, str(exc)))
            return
        lloq_text = r.get("LBLLOQ", "")
        lloq = (
            number(lloq_text, lb.file, row, "LBLLOQ", self.probs, required=False)
            if lloq_text not in MISSING
            else math.nan
        )
        if censored_at is not None:
            lloq = censored_at
        elif not math.isnan(lloq) and value < lloq:
            censored_at = lloq
        if censored_at is None:
            ref_low = (
                number(r.get("LBSTNRLO", ""), lb.file, row, "LBSTNRLO", self.probs, required=False)
                if use_std
                else math.nan
            )
            ref_high = (
                number(r.get("LBSTNRHI", ""), lb.file, row, "LBSTNRHI", self.probs, required=False)
                if use_std
                else math.nan
            )
            try:
                lab = LabResult(
                    test=code,
                    value=value,
                    unit=unit,
                    time=self.rec_time(sid, when),
                    specimen=spec,
                    ref_low=None if math.isnan(ref_low) else ref_low,
                    ref_high=None if math.isnan(ref_high) else ref_high,
                    method=r.get("LBMETHOD", "") or None,
                )
            except ValidationError as exc:
                self.probs.append(
                    _pydantic_problem(
                        exc,
                        lb.file,
                        row,
                        {
                            "value": num_col,
                            "unit": ucol,
                            "ref_low": "LBSTNRLO",
                            "ref_high": "LBSTNRHI",
                        },
                    )
                )
                return
            self.rec[sid]["labs"].append(lab)
        key = units.analyte_key(code, spec)
        observable = next(
            (o.name for o in OBSERVABLES.values() if o.domain == "LB" and (o.code, "blood") == key),
            None,
        )
        if observable is None or sid not in self.reference:
            return
        factor = OBSERVABLES[observable].lab_factor
        t = self.obs_time(sid, when)

        def conv(v: float) -> float:
            return units.convert(code, spec, v, unit) * factor

        if censored_at is not None:
            self.observations.append(
                (sid, t, observable, conv(censored_at), conv(censored_at), True)
            )
        else:
            self.observations.append(
                (
                    sid,
                    t,
                    observable,
                    conv(value),
                    math.nan if math.isnan(lloq) else conv(lloq),
                    False,
                )
            )

    def read_kinetics(self) -> None:
        """PC and CP: CAR-T kinetics."""
        for dname in ("PC", "CP"):
            if dname not in self.doms:
                continue
            dom = self.doms[dname]
            unused: set[str] = set()
            for row, r in dom.rows():
                if _upper(r, f"{dname}STAT") == "NOT DONE":
                    continue
                code = _upper(r, f"{dname}TESTCD")
                observable = self.kinetic.get(code)
                if observable is None:
                    unused.add(code)
                    continue
                sid = r.get("USUBJID", "")
                when = self.when_of(dom, row, r, f"{dname}DTC", sid)
                if when is None or sid not in self.reference:
                    continue
                self.kinetic_row(dom, row, r, sid, observable, when)
            if unused:
                self.notes.append(
                    f"{dom.file}: test codes not mapped to a read-out: {', '.join(sorted(unused))} "
                    "(map one with --pc-code CODE=READOUT)"
                )

    def kinetic_row(
        self, dom: _Domain, row: int, r: dict[str, str], sid: str, observable: str, when: datetime
    ) -> None:
        """One PC or CP row of a known read-out: an observation (censored below the LLOQ)."""
        dname, t = dom.name, self.obs_time(sid, when)
        use_std = (
            r.get(f"{dname}STRESN", "") not in MISSING or r.get(f"{dname}STRESC", "") not in MISSING
        )
        vcol, ucol, ccol = (
            (f"{dname}STRESN", f"{dname}STRESU", f"{dname}STRESC")
            if use_std
            else (f"{dname}ORRES", f"{dname}ORRESU", f"{dname}ORRES")
        )
        unit = r.get(ucol, "")
        factor = _KINETIC_UNITS[observable].get(units.canonical_unit_spelling(unit))
        if factor is None:
            self.probs.append(
                Problem(
                    dom.file,
                    row,
                    ucol,
                    f"{unit!r} is not a unit of {observable}; use one of "
                    f"{', '.join(_KINETIC_UNITS[observable])}",
                )
            )
            return
        lloq_text = r.get(f"{dname}LLOQ", "")
        lloq = (
            number(lloq_text, dom.file, row, f"{dname}LLOQ", self.probs, required=False)
            if lloq_text not in MISSING
            else math.nan
        )
        text = r.get(vcol, "")
        cens = _censor_text(r.get(ccol, "")) if text in MISSING or vcol.endswith("ORRES") else None
        if cens is not None and not math.isfinite(cens):
            self.probs.append(Problem(dom.file, row, ccol, _censor_problem(r.get(ccol, ""))))
            return
        if cens is None and text in MISSING and _upper(r, ccol) in ("BLQ", "<LLOQ", "BQL", "NQ"):
            if math.isnan(lloq):
                self.probs.append(
                    Problem(
                        dom.file,
                        row,
                        f"{dname}LLOQ",
                        f"result {r.get(ccol)!r} is below the LLOQ but {dname}LLOQ is empty",
                    )
                )
                return
            cens = lloq
        if cens is not None:
            self.observations.append((sid, t, observable, cens * factor, cens * factor, True))
            return
        if text in MISSING:
            return
        value = number(text, dom.file, row, vcol, self.probs)
        if math.isnan(value):
            return
        if value < 0:
            self.probs.append(Problem(dom.file, row, vcol, f"{value:g} is negative"))
            return
        if not math.isnan(lloq) and value < lloq:
            self.observations.append((sid, t, observable, lloq * factor, lloq * factor, True))
            return
        self.observations.append((sid, t, observable, value * factor, lloq * factor, False))

    def read_vs(self) -> None:
        """VS: vital signs and baseline weight, height and BSA."""
        if "VS" in self.doms:
            vs = self.doms["VS"]
            unused = set()
            for row, r in vs.rows():
                if _upper(r, "VSSTAT") == "NOT DONE":
                    continue
                code = _upper(r, "VSTESTCD")
                if code not in units.VITALS and code != "BSA":
                    unused.add(code)
                    continue
                sid = r.get("USUBJID", "")
                when = self.when_of(vs, row, r, "VSDTC", sid)
                if when is None:
                    continue
                use_std = r.get("VSSTRESN", "") not in MISSING
                vcol, ucol = ("VSSTRESN", "VSSTRESU") if use_std else ("VSORRES", "VSORRESU")
                value = number(r.get(vcol, ""), vs.file, row, vcol, self.probs)
                if math.isnan(value):
                    continue
                unit = r.get(ucol, "")
                if code == "BSA":
                    if units.canonical_unit_spelling(unit or "m2") not in ("m2", "m^2"):
                        self.probs.append(
                            Problem(vs.file, row, ucol, f"BSA unit {unit!r} must be m2")
                        )
                        continue
                    std = value
                else:
                    try:
                        v = VitalSign(
                            test=code,
                            value=value,
                            unit=unit,
                            time=self.rec_time(sid, when),
                            location=r.get("VSLOC", "") or None,
                        )
                    except ValidationError as exc:
                        self.probs.append(
                            _pydantic_problem(
                                exc, vs.file, row, {"value": vcol, "unit": ucol, "test": "VSTESTCD"}
                            )
                        )
                        continue
                    self.rec[sid]["vitals"].append(v)
                    std = v.std_value
                if code in ("WEIGHT", "HEIGHT", "BSA"):
                    t = self.obs_time(sid, when) if sid in self.reference else 0.0
                    prev = self.baseline.setdefault(sid, {}).get(code)
                    # baseline: the last value on or before day 0, else the first after it
                    score = (0, t) if t <= 1e-9 else (1, -t)
                    if prev is None or score > prev[0]:
                        self.baseline[sid][code] = (score, std)
            if unused:
                self.notes.append(f"{vs.file}: vital signs not used: {', '.join(sorted(unused))}")

    def read_ae(self) -> None:
        """AE: adverse events with grade, onset and resolution."""
        if "AE" in self.doms:
            ae = self.doms["AE"]
            sev_rows = 0
            for row, r in ae.rows():
                sid = r.get("USUBJID", "")
                start = self.when_of(ae, row, r, "AESTDTC", sid)
                if start is None:
                    continue
                end_text = r.get("AEENDTC", "")
                try:
                    end = _dtc(end_text)
                except ValueError as exc:
                    self.probs.append(
                        Problem(ae.file, row, "AEENDTC", _date_problem(end_text, exc))
                    )
                    continue
                if end == "partial":
                    self.partial.setdefault(f"{ae.file} AEENDTC", []).append(row)
                    end = None
                    self.notes.append(
                        f"{ae.file} row {row}: partial AEENDTC {end_text!r} read as ongoing"
                    )
                term = (r.get("AEDECOD", "") or r.get("AETERM", "")).strip()
                if not term:
                    self.probs.append(
                        Problem(
                            ae.file, row, "AEDECOD", "neither AEDECOD nor AETERM names the event"
                        )
                    )
                    continue
                cat = (r.get("AECAT", "") or "").strip().lower()
                if cat not in _AE_KNOWN:
                    text = term.upper() + " " + _upper(r, "AETERM")
                    cat = next(
                        (c for c, words in _AE_CATEGORIES if any(w in text for w in words)), None
                    )
                    if cat is None:
                        cat = (
                            "infection"
                            if "INFECTIONS AND INFESTATIONS" in _upper(r, "AESOC")
                            else "other"
                        )
                grade_text = r.get("AETOXGR", "")
                if grade_text not in MISSING:
                    g = number(grade_text, ae.file, row, "AETOXGR", self.probs)
                    if math.isnan(g):
                        continue
                    if g not in (1, 2, 3, 4, 5):
                        self.probs.append(
                            Problem(ae.file, row, "AETOXGR", f"{grade_text!r} is not a grade 1-5")
                        )
                        continue
                    grade, scale = int(g), _AE_SCALE.get(cat, "ctcae-5.0")
                else:
                    sev = _upper(r, "AESEV")
                    if sev not in _SEV_GRADE:
                        self.probs.append(
                            Problem(
                                ae.file,
                                row,
                                "AETOXGR",
                                "no grade: AETOXGR is empty and AESEV "
                                + (
                                    f"{sev!r} is not MILD, MODERATE or SEVERE"
                                    if sev
                                    else "is empty"
                                ),
                            )
                        )
                        continue
                    grade, scale = _SEV_GRADE[sev], "other"
                    sev_rows += 1
                try:
                    self.rec[sid]["adverse_events"].append(
                        AdverseEvent(
                            term=term,
                            category=cat,
                            grade=grade,
                            scale=scale,
                            start=self.rec_time(sid, start),
                            end=None if end is None else self.rec_time(sid, end),
                            relatedness=_REL.get(_upper(r, "AEREL"), "unspecified"),
                            serious=_upper(r, "AESER") == "Y",
                        )
                    )
                except ValidationError as exc:
                    self.probs.append(
                        _pydantic_problem(
                            exc,
                            ae.file,
                            row,
                            {"end": "AEENDTC", "start": "AESTDTC", "term": "AEDECOD"},
                        )
                    )
            if sev_rows:
                self.notes.append(
                    f"{ae.file}: {sev_rows} adverse event(s) have no AETOXGR; their grade is taken from AESEV "
                    "(MILD 1, MODERATE 2, SEVERE 3, LIFE THREATENING 4, FATAL 5) with scale 'other'"
                )

    def read_qs(self) -> None:
        """QS: SLEDAI-2K items and the physician global assessment."""
        if "QS" in self.doms:
            qs = self.doms["QS"]
            unused = set()
            for row, r in qs.rows():
                code = _upper(r, "QSTESTCD")
                sid = r.get("USUBJID", "")
                if code in ("PGA", "PHGA", "PHYSGA"):
                    when = self.when_of(qs, row, r, "QSDTC", sid)
                    if when is None:
                        continue
                    value = number(
                        r.get("QSSTRESN", "") or r.get("QSORRES", ""),
                        qs.file,
                        row,
                        "QSSTRESN",
                        self.probs,
                    )
                    if math.isnan(value):
                        continue
                    scale = "0-100mm" if "MM" in _upper(r, "QSSTRESU") else "0-3"
                    try:
                        self.rec[sid]["pga"].append(
                            PgaAssessment(time=self.rec_time(sid, when), value=value, scale=scale)
                        )
                    except ValidationError as exc:
                        self.probs.append(
                            _pydantic_problem(exc, qs.file, row, {"value": "QSSTRESN"})
                        )
                    continue
                if "SLEDAI" not in _upper(r, "QSCAT"):
                    unused.add(_upper(r, "QSCAT") or "(no QSCAT)")
                    continue
                desc = _sledai_descriptor(code, r.get("QSTEST", ""))
                if desc is None:
                    self.probs.append(
                        Problem(
                            qs.file,
                            row,
                            "QSTESTCD",
                            f"{code!r} ({r.get('QSTEST', '')!r}) is not a SLEDAI-2K descriptor; "
                            f"use one of {', '.join(SLEDAI_DESCRIPTORS)}",
                        )
                    )
                    continue
                when = self.when_of(qs, row, r, "QSDTC", sid)
                if when is None:
                    continue
                res = _upper(r, "QSORRES") or _upper(r, "QSSTRESC")
                present = res in ("Y", "YES", "1", "PRESENT", "TRUE") or (
                    desc == "arthritis" and res not in ("N", "NO", "0", "ABSENT", "FALSE", "")
                )
                if (
                    res
                    not in ("Y", "YES", "1", "PRESENT", "TRUE", "N", "NO", "0", "ABSENT", "FALSE")
                    and not present
                ):
                    self.probs.append(
                        Problem(
                            qs.file, row, "QSORRES", f"{res!r} must be Y or N (present or absent)"
                        )
                    )
                    continue
                joints = None
                if desc == "arthritis" and present:
                    if r.get("QSSTRESN", "") in MISSING:
                        self.probs.append(
                            Problem(
                                qs.file,
                                row,
                                "QSSTRESN",
                                "a present arthritis item needs the number of "
                                "inflamed joints in QSSTRESN",
                            )
                        )
                        continue
                    j = number(r.get("QSSTRESN", ""), qs.file, row, "QSSTRESN", self.probs)
                    if math.isnan(j):
                        continue
                    joints = int(j)
                try:
                    self.rec[sid]["sledai_findings"].append(
                        SledaiFinding(
                            descriptor=desc,
                            start=self.rec_time(sid, when),
                            present=present,
                            attribution="sle",
                            joints=joints,
                        )
                    )
                except ValidationError as exc:
                    self.probs.append(_pydantic_problem(exc, qs.file, row, {"joints": "QSSTRESN"}))
            if unused:
                self.notes.append(
                    f"{qs.file}: questionnaires not used: {', '.join(sorted(unused))}"
                )

    def summarise(self) -> None:
        """Notes on absent domains and partial dates; problems of rows of unknown subjects."""
        wanted = {
            "LB": "labs (B cells, anti-dsDNA, complement, IgG, blood counts)",
            "PC": "CAR-T kinetics (PC or CP)",
            "VS": "vital signs and body weight",
            "AE": "adverse events",
            "QS": "SLEDAI-2K and PGA",
        }
        absent = [
            f"{d} ({what})"
            for d, what in wanted.items()
            if d not in self.doms and not (d == "PC" and "CP" in self.doms)
        ]
        if absent:
            self.notes.append(f"{self.folder}: domains absent: {'; '.join(absent)}")
        for key, rows in self.partial.items():
            shown = ", ".join(map(str, rows[:8])) + (" ..." if len(rows) > 8 else "")
            self.notes.append(
                f"{key}: {len(rows)} row(s) with a partial or missing date are left out (rows {shown}); "
                "complete the dates to use them"
            )
        for file, rows in self.unknown_subject.items():
            shown = ", ".join(map(str, rows[:8])) + (" ..." if len(rows) > 8 else "")
            self.probs.append(
                Problem(
                    file,
                    rows[0],
                    "USUBJID",
                    f"{len(rows)} row(s) belong to subjects not in DM (rows {shown})",
                )
            )

    def make_records(self) -> None:
        """Subjects' covariates and clinical records."""
        for sid in self.order:
            b = self.baseline.get(sid, {})
            self.subjects[sid]["weight_kg"] = b.get("WEIGHT", (None, math.nan))[1]
            self.subjects[sid]["height_cm"] = b.get("HEIGHT", (None, math.nan))[1]
            self.subjects[sid]["bsa_m2"] = b.get("BSA", (None, math.nan))[1]
        for sid in self.order:
            try:
                self.records[sid] = make_patient_records(
                    sid,
                    self.reference.get(sid),
                    self.subjects[sid]["age_years"],
                    self.subjects[sid]["weight_kg"],
                    **self.rec[sid],
                )
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(x) for x in err["loc"]) or "records"
                self.probs.append(
                    Problem(
                        str(self.folder),
                        None,
                        "USUBJID",
                        f"subject {sid!r}: `{field}`: {err['msg'].removeprefix('Value error, ')}",
                    )
                )

        from allocart.model.products import list_products

        known_products = {str(getattr(p, "name", p)) for p in list_products()}
        unknown = sorted(
            {p for s, p in self.product.items() if p is not None and p not in known_products}
        )
        if unknown and self.opts.product is None:
            self.notes.append(
                f"CAR-T product(s) {', '.join(map(repr, unknown))} are not model products "
                f"({', '.join(sorted(known_products))}); a fit needs one: pass --product NAME"
            )

    def build(self) -> Dataset | None:
        """The dataset, when nothing stops it."""
        dataset = None
        dose_rows = []
        for sid, when, kind, amount, unit, row, _ in self.doses:
            if sid not in self.reference:
                continue
            if unit == "mg":  # lymphodepletion in mg: per m2 of body surface
                bsa = self.subjects.get(sid, {}).get("bsa_m2", math.nan)
                if math.isnan(bsa):
                    self.probs.append(
                        Problem(
                            self.doms["EX"].file,
                            row,
                            "EXDOSU",
                            f"{kind} dose in mg but subject {sid!r} has no BSA "
                            "(VS BSA); give the dose in mg/m2",
                        )
                    )
                    continue
                amount, unit = amount / bsa, "mg/m2"
            dose_rows.append((sid, self.obs_time(sid, when), kind, amount, unit))
        if not self.probs:
            ids = [s for s in self.order if s in self.reference]
            subj = pd.DataFrame(
                [
                    {
                        **{k: v for k, v in self.subjects[s].items() if k != "arm"},
                        "product": self.product.get(s),
                        "ld": self.ld_name.get(s)
                        or _infer_ld({k for (i, _, k, *_r) in self.doses if i == s}),
                        "infusion_date": format_iso(self.reference[s]),
                    }
                    for s in ids
                ],
                columns=list(SUBJECT_COLUMNS),
            )
            dataset = Dataset(
                subjects=subj,
                doses=pd.DataFrame(dose_rows, columns=list(DOSE_COLUMNS)),
                observations=pd.DataFrame(
                    self.observations,
                    columns=list(OBSERVATION_COLUMNS),
                ),
                records={s: self.records[s] for s in ids if s in self.records},
                source=str(self.folder),
            )
            self.probs += dataset.problems()
            if self.probs:
                dataset = None
        return dataset


def load_sdtm(folder: str | Path, options: SdtmOptions | None = None, **kwargs: Any) -> SdtmStudy:
    """Read an SDTM study folder: records of every subject, and the dataset if it can be built.

    Parameters
    ----------
    folder : path
        Folder with ``dm.xpt``/``dm.csv``, ``ex``, ``lb``, ``pc`` or ``cp``, ``ae``, ``vs``, ``qs``.
    options : SdtmOptions, optional
        Or its fields as keyword arguments (``car_t_treatment="..."``).

    Returns
    -------
    SdtmStudy

    Raises
    ------
    DataError
        Only when the folder does not exist or a table cannot be read at all.
    """
    opts = options or SdtmOptions(**kwargs)
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no such folder; give the folder holding the SDTM tables (dm.xpt, ex.xpt, ...)"
        )
    reader = _StudyReader(folder, opts)
    reader.read_dm()
    reader.read_ex()
    for step in (
        reader.read_lb,
        reader.read_kinetics,
        reader.read_vs,
        reader.read_ae,
        reader.read_qs,
    ):
        step()
    reader.summarise()
    reader.make_records()
    dataset = reader.build()
    return SdtmStudy(
        folder=str(folder),
        files={k: str(p) for k, p in reader.paths.items()},
        rows={k: len(d.frame) for k, d in reader.doms.items()},
        records=reader.records,
        dataset=dataset,
        problems=tuple(reader.probs),
        notes=tuple(one_line(n) for n in reader.notes),
    )


def _infer_ld(kinds: set[str]) -> str | None:
    if {"fludarabine", "cyclophosphamide"} <= kinds:
        return "flu-cy"
    if kinds == {"cyclophosphamide"}:
        return "cy-only"
    return None


def _sledai_descriptor(code: str, test: str) -> str | None:
    for text in (code, test):
        key = re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")
        key = _SLEDAI_ALIASES.get(key, key)
        if key in SLEDAI_DESCRIPTORS:
            return key
    return None


def _censor_text(text: str) -> float | None:
    """The LLOQ of a result written as below it (``<0.1``); None for another result, NaN
    when the limit after ``<`` is not a finite number (``<.``, ``<1e400``)."""
    m = re.fullmatch(r"\s*(?:<|BLQ\s*<?|<\s*LLOQ\s*)\s*([0-9.eE+-]+)\s*", text or "")
    if not m:
        return None
    try:
        value = float(m.group(1))
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _censor_problem(text: str) -> str:
    return f"{text!r} is below a limit that is not a finite number; write the LLOQ, e.g. '<0.1'"


def read_sdtm(folder: str | Path, options: SdtmOptions | None = None, **kwargs: Any) -> Dataset:
    """Read an SDTM study folder into a validated CAR-T :class:`Dataset`.

    Raises
    ------
    DataValidationError
        Listing every problem (file, row, column), e.g. a study without a CAR-T
        administration in EX.
    """
    study = load_sdtm(folder, options, **kwargs)
    if study.problems:
        raise DataValidationError(study.problems)
    assert study.dataset is not None  # no problems means a dataset was built
    return study.dataset


# ----------------------------------------------------------------------------- writer


def _num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e15 else str(int(v))


def write_sdtm(
    ds: Dataset,
    folder: str | Path,
    *,
    study_id: str = "ALLOCART",
    default_infusion: str = "2025-01-01",
) -> Path:
    """Write a Dataset as SDTM CSV tables (dm, ex, lb, pc, vs, ae, qs) that :func:`read_sdtm` reads back.

    Dates are the infusion date plus the dataset's days (to the second); a subject without an
    ``infusion_date`` is given ``default_infusion``. Lab read-outs go to LB (in the analyte's
    internal unit), CAR-T kinetics to PC, censored rows as ``<LLOQ`` with ``--LLOQ``. Lab
    records that mirror no observation, vital signs, adverse events (``AECAT`` = category),
    SLEDAI findings and PGA of ``records`` are written too; SLEDAI finding end times and
    attributions are not SDTM QS variables and are not written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dm, ex, lb, pc, vs, ae, qs = ([] for _ in range(7))
    subj = ds.subjects.set_index("id")
    for sid in ds.ids:
        s = subj.loc[sid]
        origin = parse_iso(s["infusion_date"] or default_infusion)
        midnight = datetime(origin.year, origin.month, origin.day)
        rec = ds.records.get(sid)
        base = {"STUDYID": study_id, "USUBJID": sid}

        def at(days: float, origin: datetime = origin) -> str:
            return format_iso(shift_days(origin, days))

        def rec_at(t: Any, midnight: datetime = midnight) -> str:
            if isinstance(t, float):
                return format_iso(shift_days(midnight, t))
            return format_iso(t if isinstance(t, datetime) else datetime(t.year, t.month, t.day))

        female = s["female"]
        dm.append(
            {
                **base,
                "DOMAIN": "DM",
                "SUBJID": sid,
                "RFXSTDTC": format_iso(origin),
                "AGE": _num(s["age_years"]),
                "AGEU": "YEARS" if not math.isnan(s["age_years"]) else "",
                "SEX": "" if pd.isna(female) else ("F" if female else "M"),
                "ARM": s["product"] or "CAR-T",
            }
        )
        for k, d in enumerate(ds.doses[ds.doses["id"] == sid].itertuples(index=False), start=1):
            is_car = d.kind == "car_t"
            ex.append(
                {
                    **base,
                    "DOMAIN": "EX",
                    "EXSEQ": k,
                    "EXTRT": (s["product"] or "CAR-T") if is_car else d.kind.upper(),
                    "EXCAT": "CAR-T" if is_car else "LYMPHODEPLETION",
                    "EXSCAT": "" if is_car else (s["ld"] or ""),
                    "EXDOSE": _num(d.amount),
                    "EXDOSU": d.unit,
                    "EXSTDTC": at(d.time),
                }
            )
        # A lab record at the instant of a quantified LB observation is the same measurement:
        # its reference range and method go on the observation's LB row, written once.
        lab_at: dict[tuple[str, int], Any] = {}
        for lab in rec.labs if rec is not None else ():
            if lab.specimen is None or lab.analyte.specimen == "blood":
                t_obs = (parse_iso(rec_at(lab.time)) - origin).total_seconds()
                lab_at.setdefault((lab.code, round(t_obs)), lab)
        used: set[int] = set()
        for o in ds.observations[ds.observations["id"] == sid].itertuples(index=False):
            spec = OBSERVABLES[o.observable]
            if spec.domain == "LB":
                analyte = units.ANALYTES[units.analyte_key(spec.code, None)]
                v, q = o.value / spec.lab_factor, o.lloq / spec.lab_factor
                res = f"<{_num(q)}" if o.censored else _num(v)
                twin = None if o.censored else lab_at.get((spec.code, round(o.time * 86400)))
                if (
                    twin is not None
                    and twin.unit == analyte.unit
                    and math.isclose(twin.value, v, rel_tol=1e-9)
                ):
                    used.add(id(twin))
                    res = _num(twin.value)
                else:
                    twin = None
                lb.append(
                    {
                        **base,
                        "DOMAIN": "LB",
                        "LBTESTCD": spec.code,
                        "LBTEST": analyte.name,
                        "LBORRES": res,
                        "LBORRESU": analyte.unit,
                        "LBSTRESC": res,
                        "LBSTRESN": "" if o.censored else res,
                        "LBSTRESU": analyte.unit,
                        "LBSTNRLO": _num(twin.ref_low) if twin else "",
                        "LBSTNRHI": _num(twin.ref_high) if twin else "",
                        "LBSPEC": (twin.specimen or "") if twin else "",
                        "LBMETHOD": (twin.method or "") if twin else "",
                        "LBLLOQ": _num(q),
                        "LBDTC": at(o.time),
                    }
                )
            else:
                code, name, unit = _PC_WRITE[o.observable]
                res = f"<{_num(o.lloq)}" if o.censored else _num(o.value)
                pc.append(
                    {
                        **base,
                        "DOMAIN": "PC",
                        "PCTESTCD": code,
                        "PCTEST": name,
                        "PCORRES": res,
                        "PCORRESU": unit,
                        "PCSTRESC": res,
                        "PCSTRESN": "" if o.censored else _num(o.value),
                        "PCSTRESU": unit,
                        "PCLLOQ": _num(o.lloq),
                        "PCDTC": at(o.time),
                    }
                )
        if rec is not None:
            for lab in rec.labs:
                if id(lab) in used:
                    continue  # the observation's LB row above carries this lab
                lb.append(
                    {
                        **base,
                        "DOMAIN": "LB",
                        "LBTESTCD": lab.test,
                        "LBTEST": lab.analyte.name,
                        "LBORRES": _num(lab.value),
                        "LBORRESU": lab.unit,
                        "LBSTRESC": _num(lab.value),
                        "LBSTRESN": _num(lab.value),
                        "LBSTRESU": lab.unit,
                        "LBSTNRLO": _num(lab.ref_low),
                        "LBSTNRHI": _num(lab.ref_high),
                        "LBSPEC": lab.specimen or "",
                        "LBMETHOD": lab.method or "",
                        "LBLLOQ": "",
                        "LBDTC": rec_at(lab.time),
                    }
                )
            for v in rec.vitals:
                vs.append(
                    {
                        **base,
                        "DOMAIN": "VS",
                        "VSTESTCD": v.test,
                        "VSORRES": _num(v.value),
                        "VSORRESU": v.unit,
                        "VSSTRESN": _num(v.value),
                        "VSSTRESU": v.unit,
                        "VSLOC": v.location or "",
                        "VSDTC": rec_at(v.time),
                    }
                )
            for a in rec.adverse_events:
                ae.append(
                    {
                        **base,
                        "DOMAIN": "AE",
                        "AETERM": a.term,
                        "AEDECOD": a.term,
                        "AECAT": a.category,
                        "AETOXGR": str(a.grade),
                        "AESER": "Y" if a.serious else "N",
                        "AEREL": _REL_WRITE[a.relatedness],
                        "AESTDTC": rec_at(a.start),
                        "AEENDTC": "" if a.end is None else rec_at(a.end),
                    }
                )
            for f in rec.sledai_findings:
                qs.append(
                    {
                        **base,
                        "DOMAIN": "QS",
                        "QSCAT": "SLEDAI-2K",
                        "QSTESTCD": f.descriptor.upper()[:8],
                        "QSTEST": f.descriptor,
                        "QSORRES": "Y" if f.present else "N",
                        "QSSTRESC": "Y" if f.present else "N",
                        "QSSTRESN": "" if f.joints is None else str(f.joints),
                        "QSSTRESU": "",
                        "QSDTC": rec_at(f.start),
                    }
                )
            for g in rec.pga:
                qs.append(
                    {
                        **base,
                        "DOMAIN": "QS",
                        "QSCAT": "PGA",
                        "QSTESTCD": "PGA",
                        "QSTEST": "Physician global assessment",
                        "QSORRES": _num(g.value),
                        "QSSTRESC": _num(g.value),
                        "QSSTRESN": _num(g.value),
                        "QSSTRESU": "mm" if g.scale == "0-100mm" else "",
                        "QSDTC": rec_at(g.time),
                    }
                )
        # Height and weight from the subject table unless the records carry them already;
        # BSA always: no clinical record produces a BSA vital sign.
        for code, column, unit, from_records in (
            ("HEIGHT", "height_cm", "cm", True),
            ("WEIGHT", "weight_kg", "kg", True),
            ("BSA", "bsa_m2", "m2", False),
        ):
            if math.isnan(s[column]) or (
                from_records and rec and any(v.code == code for v in rec.vitals)
            ):
                continue
            vs.append(
                {
                    **base,
                    "DOMAIN": "VS",
                    "VSTESTCD": code,
                    "VSORRES": _num(s[column]),
                    "VSORRESU": unit,
                    "VSSTRESN": _num(s[column]),
                    "VSSTRESU": unit,
                    "VSLOC": "",
                    "VSDTC": format_iso(midnight),
                }
            )
    for name, rows in (
        ("dm", dm),
        ("ex", ex),
        ("lb", lb),
        ("pc", pc),
        ("vs", vs),
        ("ae", ae),
        ("qs", qs),
    ):
        path = folder / f"{name}.csv"
        if rows or name in ("dm", "ex"):
            frame = pd.DataFrame(rows)
            for i, col in enumerate(("STUDYID", "DOMAIN", "USUBJID")):
                if col in frame.columns:
                    frame.insert(i, col, frame.pop(col))
            seq = f"{name.upper()}SEQ"
            if rows and seq not in frame.columns:
                frame.insert(3, seq, frame.groupby("USUBJID").cumcount() + 1)
            frame.to_csv(path, index=False)
        elif path.exists():
            path.unlink()  # a stale table from an earlier export would be read back
    return folder
