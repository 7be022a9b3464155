"""ADaM inputs from a virtual trial's run folder (``results.duckdb``, read only).

Each enrolled patient of each replicate trial is a subject, ``USUBJID`` =
``<STUDYID>-A<arm>-R<replicate>-<patient>``. Its treatment start is the trial's start date plus
the patient's ``start_month`` (months of 365.25/12 days, the trial's month); its adverse events
are the graded outcomes of the ``patients`` table (CRS and ICANS with their onset day; GvHD,
neutropenia, thrombocytopenia and infection as worst grades without a day); its kinetic
samples are the ``timecourses`` of the pool person it is (``person`` = the time course's ``id``,
at the same arm and dose level), on the planned sampling days.

Tables and columns read (see ``docs/trial.md``): ``trials`` (``arm``, ``arm_label``),
``patients`` (``arm``, ``replicate``, ``patient``, ``dose_level``, ``dose``, ``person``,
``start_month``, ``age_years``, ``female``, ``weight_kg``, the grade and day columns, and
``infused`` when present), ``endpoints`` (``arm``, ``product``) and ``timecourses``
(``arm``, ``dose_level``, ``id``, ``time``, ``car_t_cells_per_ul``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from allocart.data.adam.inputs import EVENT_COLUMNS, SAMPLE_COLUMNS, AdamInput
from allocart.data.simulated import DEFAULT_SAMPLE_DAYS
from allocart.errors import DataError

__all__ = ["DAYS_PER_MONTH", "RESULTS_FILE", "RUN_EVENTS", "adam_input_from_run"]

#: The results database of a run folder.
RESULTS_FILE = "results.duckdb"

#: Days per month of the trial calendar (``allocart.trial.protocol.DAYS_PER_MONTH``).
DAYS_PER_MONTH = 365.25 / 12

#: Graded outcomes of the ``patients`` table written as adverse events: grade column, onset-day
#: column (None: no day recorded), term, category, grading scale.
RUN_EVENTS = (
    ("crs_grade", "crs_onset_day", "Cytokine release syndrome", "crs", "astct-2019"),
    (
        "icans_grade",
        "icans_onset_day",
        "Immune effector cell-associated neurotoxicity syndrome",
        "icans",
        "astct-2019",
    ),
    ("gvhd_grade", None, "Graft versus host disease", "gvhd", "magic"),
    ("neutropenia_grade_max", None, "Neutrophil count decreased", "neutropenia", "ctcae-5.0"),
    (
        "thrombocytopenia_grade_max",
        None,
        "Platelet count decreased",
        "thrombocytopenia",
        "ctcae-5.0",
    ),
    ("infection_grade_max", None, "Infection", "infection", "ctcae-5.0"),
)

_REQUIRED = {
    "patients": ("arm", "replicate", "patient", "dose_level", "dose", "person", "start_month"),
    "trials": ("arm", "arm_label"),
}


def _read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    path = folder / RESULTS_FILE
    if not folder.is_dir():
        raise DataError(
            f"run: {str(folder)!r} is not a folder; give a run folder (runs/NAME)", argument="run"
        )
    if not path.is_file():
        raise DataError(
            f"run: {str(folder)!r} holds no {RESULTS_FILE}; give the folder of a finished "
            "`allocart run`",
            argument="run",
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            names = {
                r[0]
                for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            }
            tables = {
                n: con.execute(f'SELECT * FROM "{n}"').df()
                for n in ("trials", "patients", "endpoints", "timecourses")
                if n in names
            }
    except duckdb.Error as exc:
        why = " ".join(str(exc).split())[:200]
        raise DataError(f"run: cannot read {path}: {why}", argument="run") from None
    for name, cols in _REQUIRED.items():
        if name not in tables:
            raise DataError(
                f"run: {path} has no table `{name}`; is it a run folder?", argument="run"
            )
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            raise DataError(
                f"run: table `{name}` of {path} lacks the column(s) {missing}", argument="run"
            )
    return tables


def _flag(value: object) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return bool(value)


def adam_input_from_run(
    folder: str | Path,
    study_id: str = "ALLOCART",
    *,
    start_date: date = date(2025, 1, 6),
    replicates: Sequence[int] | None = None,
) -> AdamInput:
    """The subjects, adverse events and CAR-T kinetic samples of a run folder.

    Parameters
    ----------
    folder : path
        The run folder (``runs/NAME``) holding ``results.duckdb``.
    study_id : str
        ``STUDYID``, and the start of every ``USUBJID``.
    start_date : date
        The date each replicate trial opens (month 0).
    replicates : sequence of int, optional
        Replicate trials to take (0-based, as in the ``patients`` table); None: all.

    Returns
    -------
    AdamInput

    Raises
    ------
    DataError
        If the folder holds no readable ``results.duckdb`` with the tables and columns read,
        or a replicate asked for is not in it.
    """
    folder = Path(folder)
    tables = _read_tables(folder)
    patients = tables["patients"]
    if replicates is not None:
        wanted = [int(r) for r in replicates]
        absent = sorted(set(wanted) - set(patients["replicate"].astype(int)))
        if absent:
            n = int(patients["replicate"].max()) + 1 if len(patients) else 0
            raise DataError(
                f"replicate: {absent} not in {folder} (replicates 0 to {n - 1})",
                argument="replicate",
            )
        patients = patients[patients["replicate"].isin(wanted)]
    labels = dict(zip(tables["trials"]["arm"], tables["trials"]["arm_label"]))
    products: dict[int, str] = {}
    if "endpoints" in tables and "product" in tables["endpoints"].columns:
        products = dict(zip(tables["endpoints"]["arm"], tables["endpoints"]["product"]))
    subjects: list[dict[str, object]] = []
    events: list[tuple[object, ...]] = []
    keys: dict[tuple[int, int, int], list[str]] = {}  # (arm, dose level, person) -> subjects
    for p in patients.itertuples(index=False):
        sid = f"{study_id}-A{int(p.arm)}-R{int(p.replicate):04d}-{int(p.patient):03d}"
        start = start_date + timedelta(days=float(p.start_month) * DAYS_PER_MONTH)
        female = _flag(getattr(p, "female", None))
        infused = _flag(getattr(p, "infused", True))
        arm = products.get(p.arm) or labels.get(p.arm, f"arm {p.arm}")
        subjects.append(
            {
                "USUBJID": sid,
                "SUBJID": f"{int(p.patient):03d}",
                "AGE": float(getattr(p, "age_years", math.nan)),
                "SEX": "U" if female is None else ("F" if female else "M"),
                "ARM": str(arm),
                "TRT01P": f"{labels.get(p.arm, arm)} {p.dose}",
                "TRTSDT": start,
                "TRTSTM": 0.0,
                "SAFFL": "N" if infused is False else "Y",
                "WEIGHTBL": float(getattr(p, "weight_kg", math.nan)),
                "REPLICAT": int(p.replicate),
                "DOSELVL": int(p.dose_level),
                "DLTFL": "Y" if _flag(getattr(p, "dlt", False)) else "N",
            }
        )
        keys.setdefault((int(p.arm), int(p.dose_level), int(p.person)), []).append(sid)
        row = p._asdict()
        for grade_col, day_col, term, category, scale in RUN_EVENTS:
            grade = row.get(grade_col)
            if grade is None or (isinstance(grade, float) and math.isnan(grade)) or grade < 1:
                continue
            day = row.get(day_col, math.nan) if day_col else math.nan
            events.append(
                (
                    sid,
                    term,
                    term.upper(),
                    category,
                    int(grade),
                    scale,
                    math.nan if day is None else float(day),
                    math.nan,
                    category == "infection" and int(grade) >= 3,
                    "unspecified",
                )
            )
    return AdamInput(
        study_id=study_id,
        subjects=pd.DataFrame(subjects),
        events=pd.DataFrame(events, columns=list(EVENT_COLUMNS)),
        samples=_samples(tables.get("timecourses"), keys),
        source=str(folder),
    )


def _samples(tc: pd.DataFrame | None, keys: dict[tuple[int, int, int], list[str]]) -> pd.DataFrame:
    """CAR-T cells of the time courses on the planned sampling days, per subject."""
    rows = []
    needed = {"arm", "dose_level", "id", "time", "car_t_cells_per_ul"}
    if tc is not None and needed <= set(tc.columns):
        days = set(DEFAULT_SAMPLE_DAYS)
        on_day = tc[tc["time"].astype(float).isin(days)]
        for r in on_day.itertuples(index=False):
            for sid in keys.get((int(r.arm), int(r.dose_level), int(r.id)), ()):
                rows.append(
                    (
                        sid,
                        "car_t_cells_per_ul",
                        float(r.time),
                        float(r.car_t_cells_per_ul),
                        math.nan,
                        False,
                    )
                )
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))
