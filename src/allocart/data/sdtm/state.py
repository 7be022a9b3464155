"""The state of one SDTM study read: its tables, problems, notes, and what each domain adds.

The domain families fill it in turn (:mod:`~allocart.data.sdtm.subjects`,
:mod:`~allocart.data.sdtm.exposure`, :mod:`~allocart.data.sdtm.findings`,
:mod:`~allocart.data.sdtm.events`); :mod:`~allocart.data.sdtm.reader` builds the dataset.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from allocart.clinical.records import PatientRecords
from allocart.data.problems import Problem
from allocart.data.sdtm.cells import date_problem, parse_dtc
from allocart.data.sdtm.codes import DOMAINS, KINETIC_CODES, LAB_ALIASES
from allocart.data.sdtm.options import SdtmOptions
from allocart.data.tables import FIRST_DATA_ROW, read_text_table
from allocart.errors import DataError

__all__ = ["Domain", "StudyReader", "find_tables"]


class Domain:
    """One SDTM table with its file name and row numbers."""

    def __init__(self, name: str, path: Path, frame: pd.DataFrame) -> None:
        self.name, self.path, self.frame = name, path, frame
        self.file = str(path)

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """``(row number, cells)`` of every record (the first record is row 2)."""
        return [(i + FIRST_DATA_ROW, r) for i, r in enumerate(self.frame.to_dict("records"))]

    def has(self, col: str) -> bool:
        """Whether the table has the column ``col``."""
        return col in self.frame.columns


def find_tables(folder: Path) -> dict[str, Path]:
    """Domain -> its table file in ``folder`` (``dm.xpt`` or ``dm.csv``, any case; XPORT first)."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        stem, suffix = p.stem.upper(), p.suffix.lower()
        if suffix in (".xpt", ".csv") and stem in DOMAINS:
            if stem in found and found[stem].suffix.lower() == ".xpt":
                continue  # XPORT is the submission format; prefer it over a CSV copy
            found[stem] = p
    return found


class StudyReader:
    """The state of one :func:`load_sdtm` run: tables, problems, notes, and what each domain adds."""

    def __init__(self, folder: Path, opts: SdtmOptions) -> None:
        self.folder, self.opts = folder, opts
        self.paths = find_tables(folder)
        if not self.paths:
            present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
            raise DataError(
                f"{folder}: no SDTM tables (dm.xpt or dm.csv, ex, lb, ...); the folder holds {present}"
            )
        self.doms = {k: Domain(k, p, read_text_table(p)) for k, p in self.paths.items()}
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
        self, dom: Domain, row: int, r: dict[str, str], col: str, sid: str
    ) -> datetime | None:
        """The date-time of a row, or None (with a problem or a note) when it cannot be used."""
        if sid not in self.rec:
            self.unknown_subject.setdefault(dom.file, []).append(row)
            return None
        try:
            when = parse_dtc(r.get(col, ""))
        except ValueError as exc:
            self.probs.append(Problem(dom.file, row, col, date_problem(r.get(col), exc)))
            return None
        if when is None or isinstance(when, str):  # the only string is "partial"
            self.partial.setdefault(f"{dom.file} {col}", []).append(row)
            return None
        return when
