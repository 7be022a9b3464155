"""The patient dataset every reader returns and every writer and fit takes.

A :class:`Dataset` is four tables and the clinical records of a group of patients:

``subjects``
    One row per subject: ``id`` (str), ``product`` and ``ld`` (str or None: CAR-T product
    and lymphodepletion regimen names), ``weight_kg``, ``height_cm``, ``bsa_m2``,
    ``age_years`` (float, NaN where unknown), ``female`` (nullable boolean) and
    ``infusion_date`` (ISO 8601 date or date-time of the CAR-T infusion, or None).
``doses``
    ``id``, ``time`` (days after the CAR-T infusion; lymphodepletion is negative), ``kind``
    (one of :data:`DOSE_KINDS`), ``amount`` (float) and ``unit`` (one of :data:`DOSE_UNITS`).
``observations``
    ``id``, ``time`` (days after the infusion), ``observable`` (a model read-out name of
    :data:`OBSERVABLES`, the names of ``Simulation.to_frame``), ``value`` (in the read-out's
    unit; for a censored row the LLOQ), ``lloq`` (NaN if none) and ``censored`` (True when the
    measurement was below the LLOQ).
``records``
    :class:`allocart.clinical.records.PatientRecords` per subject id (may be empty): the labs,
    vital signs, adverse events and disease-activity findings the clinical scorers read.

Time origin: day 0 is the CAR-T infusion. Observation and dose times are measured from the
infusion's time of day when the source gives it (midnight otherwise); the clinical records
keep their own convention (day 0 = the whole infusion day, see
:mod:`allocart.clinical.records`).

Every problem found by :meth:`Dataset.validate` or a reader is a :class:`Problem` naming the
file, the row and the column; they are raised together as one :class:`DataValidationError`
(an :class:`allocart.errors.DataError`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from allocart.clinical import units
from allocart.clinical.records import LabResult, PatientRecords, VitalSign
from allocart.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from allocart.model.simulate import Simulation

__all__ = [
    "DEFAULT_SAMPLE_DAYS",
    "DOSE_COLUMNS",
    "DOSE_KINDS",
    "DOSE_UNITS",
    "MAX_DAYS",
    "OBSERVABLES",
    "OBSERVATION_COLUMNS",
    "SUBJECT_COLUMNS",
    "DataValidationError",
    "Dataset",
    "Observable",
    "Problem",
    "dataset_from_simulation",
    "format_iso",
    "make_patient_records",
    "one_line",
    "parse_iso",
    "raise_problems",
    "record_day",
    "records_from_observations",
    "shift_days",
]

SUBJECT_COLUMNS = (
    "id",
    "product",
    "ld",
    "weight_kg",
    "height_cm",
    "bsa_m2",
    "age_years",
    "female",
    "infusion_date",
)
DOSE_COLUMNS = ("id", "time", "kind", "amount", "unit")
OBSERVATION_COLUMNS = ("id", "time", "observable", "value", "lloq", "censored")

#: What a dose row may give: the CAR-T cells and the lymphodepleting drugs of the model.
DOSE_KINDS = ("car_t", "fludarabine", "cyclophosphamide")
#: Units of dose amounts: CAR-T in cells or cells/kg, lymphodepletion in mg/m2.
DOSE_UNITS = {
    "car_t": ("cells", "cells/kg"),
    "fludarabine": ("mg/m2",),
    "cyclophosphamide": ("mg/m2",),
}

#: Farthest a dose or observation may lie from the CAR-T infusion (100 years, in days): a time
#: beyond is a unit slip (seconds or minutes read as days) or a typing error.
MAX_DAYS = 36525.0

#: Tolerances of :meth:`Dataset.__eq__`: times to one second (SDTM date-times carry seconds),
#: values to 1e-9 relative (text round trips of floats are exact; this only absorbs unit
#: conversions by exact decimal factors).
TIME_ATOL_DAYS = 1.0 / 86400.0
VALUE_RTOL = 1e-9


@dataclass(frozen=True)
class Observable:
    """A model read-out that a dataset may observe, and how sites report it.

    Attributes
    ----------
    name : str
        Read-out name of ``Simulation.to_frame`` (``car_t_cells_per_ul``...).
    unit : str
        Unit of the read-out (and of ``observations.value``).
    domain : {"LB", "PC"}
        SDTM domain that carries it: laboratory tests in LB, CAR-T kinetics in PC.
    code : str
        SDTM test code written by the writers (LBTESTCD / PCTESTCD).
    lab_factor : float
        For LB read-outs: factor from the analyte's internal unit of
        :data:`allocart.clinical.units.ANALYTES` to ``unit`` (B cells: 10^9/L -> cells/uL = 1000).
    error_cv : float
        Default residual CV of :func:`dataset_from_simulation` (log-normal error).
    lloq : float or None
        Default lower limit of quantification of :func:`dataset_from_simulation`, in ``unit``.
    source : str
        Reference or ``assumption: <why>`` for ``error_cv`` and ``lloq``.
    """

    name: str
    unit: str
    domain: str
    code: str
    lab_factor: float = 1.0
    error_cv: float = 0.1
    lloq: float | None = None
    source: str = ""


#: The model read-outs, in the order of ``Simulation.to_frame``.
OBSERVABLES: dict[str, Observable] = {
    o.name: o
    for o in [
        Observable(
            "car_t_cells_per_ul",
            "cells/uL",
            "PC",
            "CARTCELL",
            error_cv=0.25,
            lloq=0.1,
            source="assumption: flow cytometry of CAR+ T cells, CV ~25%, LLOQ ~0.1 cells/uL",
        ),
        Observable(
            "car_pct_of_t",
            "%",
            "PC",
            "CARTPCT",
            error_cv=0.25,
            lloq=0.01,
            source="assumption: flow cytometry, 0.01% of T cells is the usual event-count floor",
        ),
        Observable(
            "transgene_copies_per_ug",
            "copies/ug",
            "PC",
            "TRANSGEN",
            error_cv=0.3,
            lloq=50.0,
            source="assumption: qPCR CV ~30%; LLOQ = model parameter LLOQ_transgene (50 copies/ug)",
        ),
        Observable(
            "b_cells_per_ul",
            "cells/uL",
            "LB",
            "CD19",
            lab_factor=1000.0,
            error_cv=0.15,
            lloq=1.0,
            source="assumption: CD19+ flow count, CV ~15%; aplasia reported below 1 cell/uL",
        ),
        Observable(
            "anti_dsdna_iu_per_ml",
            "IU/mL",
            "LB",
            "DSDNAAB",
            error_cv=0.15,
            lloq=10.0,
            source="assumption: anti-dsDNA immunoassay CV ~15%, LLOQ 10 IU/mL",
        ),
        Observable(
            "c3_g_per_l", "g/L", "LB", "C3", error_cv=0.08, source="assumption: nephelometry CV ~8%"
        ),
        Observable(
            "c4_g_per_l",
            "g/L",
            "LB",
            "C4",
            error_cv=0.08,
            lloq=0.02,
            source="assumption: nephelometry CV ~8%, LLOQ 0.02 g/L",
        ),
        Observable(
            "igg_g_per_l",
            "g/L",
            "LB",
            "IGG",
            error_cv=0.08,
            source="assumption: nephelometry CV ~8%",
        ),
        Observable(
            "il6_pg_per_ml",
            "pg/mL",
            "LB",
            "IL6",
            error_cv=0.2,
            lloq=1.5,
            source="assumption: IL-6 immunoassay CV ~20%, LLOQ 1.5 pg/mL",
        ),
        Observable(
            "anc_1e9_per_l",
            "10^9/L",
            "LB",
            "NEUT",
            error_cv=0.1,
            source="assumption: haematology analyser CV ~10%",
        ),
        Observable(
            "lymphocytes_1e9_per_l",
            "10^9/L",
            "LB",
            "LYM",
            error_cv=0.1,
            source="assumption: haematology analyser CV ~10%",
        ),
        Observable(
            "platelets_1e9_per_l",
            "10^9/L",
            "LB",
            "PLAT",
            error_cv=0.1,
            source="assumption: haematology analyser CV ~10%",
        ),
    ]
}

#: Sampling days of :func:`dataset_from_simulation` (a typical CAR-T schedule; those beyond
#: the simulated horizon are dropped).
DEFAULT_SAMPLE_DAYS = (
    0.0,
    1.0,
    3.0,
    7.0,
    10.0,
    14.0,
    21.0,
    28.0,
    42.0,
    56.0,
    90.0,
    120.0,
    180.0,
    270.0,
    365.0,
)


# ----------------------------------------------------------------------------- problems

#: Characters that end a line (``str.splitlines`` splits on each).
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break written as its escape (``\\n``), so that a cell or a
    column name holding one cannot split a problem over two lines."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], str(text))


@dataclass(frozen=True)
class Problem:
    """One problem of a data file: where it is and what is wrong.

    ``row`` is the file line for files read from disk (the header is row 1, the first data
    row is row 2) or, for tables in memory (:meth:`Dataset.validate`), the 0-based row index;
    None when the problem concerns a whole file, table or column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return one_line(f"{', '.join(where)}: {self.message}")


class DataValidationError(DataError):
    """Problems found in a dataset; ``problems`` lists each with its file, row and column."""

    def __init__(self, problems: Sequence[Problem], limit: int = 5) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:limit])
        more = len(self.problems) - limit
        if more > 0:
            shown += (
                f"; ... and {more} more problem(s) (run `allocart data check` to list them all)"
            )
        super().__init__(shown)


def raise_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`DataValidationError` if ``problems`` is not empty."""
    if problems:
        raise DataValidationError(problems)


# ----------------------------------------------------------------------------- canonical tables


def _nan_none(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _with_columns(
    frame: pd.DataFrame | None, columns: Sequence[str], fill: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` (an empty table if None) with every one of ``columns``.

    A missing column is added holding ``fill[col]`` (None unless given).
    """
    frame = pd.DataFrame(columns=list(columns)) if frame is None else frame.copy()
    for col in columns:
        if col not in frame.columns:
            frame[col] = (fill or {}).get(col)
    return frame


def _text(column: pd.Series) -> pd.Series:
    """A column of str, None where missing."""
    return column.map(lambda v: None if _nan_none(v) is None else str(v)).astype(object)


def _float(column: pd.Series) -> pd.Series:
    """A column of float, NaN where missing or not a number."""
    return pd.to_numeric(column, errors="coerce").astype(float)


def _canonical_subjects(frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = _with_columns(frame, SUBJECT_COLUMNS)
    out = pd.DataFrame({col: _text(frame[col]) for col in ("id", "product", "ld")})
    for col in ("weight_kg", "height_cm", "bsa_m2", "age_years"):
        out[col] = _float(frame[col])
    out["female"] = frame["female"].map(_to_bool).astype("boolean")
    out["infusion_date"] = _text(frame["infusion_date"])
    return out.reset_index(drop=True)


def _to_bool(value: Any) -> Any:
    value = _nan_none(value)
    if value is None:
        return pd.NA
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "f", "female"):
        return True
    if text in ("false", "0", "no", "n", "m", "male"):
        return False
    return pd.NA


def _canonical_doses(frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = _with_columns(frame, DOSE_COLUMNS)
    out = pd.DataFrame(
        {
            "id": _text(frame["id"]),
            "time": _float(frame["time"]),
            "kind": _text(frame["kind"]),
            "amount": _float(frame["amount"]),
            "unit": _text(frame["unit"]),
        }
    )
    return out.sort_values(["id", "time", "kind"], kind="stable").reset_index(drop=True)


def _canonical_observations(frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = _with_columns(frame, OBSERVATION_COLUMNS, fill={"censored": False})
    out = pd.DataFrame(
        {
            "id": _text(frame["id"]),
            "time": _float(frame["time"]),
            "observable": _text(frame["observable"]),
            "value": _float(frame["value"]),
            "lloq": _float(frame["lloq"]),
            "censored": frame["censored"].map(lambda v: bool(_to_bool(v) is True)).astype(bool),
        }
    )
    order = {name: i for i, name in enumerate(OBSERVABLES)}
    out["_o"] = out["observable"].map(lambda v: order.get(v, len(order)))
    out = out.sort_values(["id", "time", "_o", "observable"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- the dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Patients' covariates, doses, observations and clinical records (see the module doc).

    The tables are put in canonical form on construction (column order and types, rows
    sorted by subject and time); :meth:`validate` checks their content.

    Examples
    --------
    >>> ds = Dataset(subjects=pd.DataFrame({"id": ["P1"]}),
    ...              observations=pd.DataFrame({"id": ["P1"], "time": [7.0],
    ...                  "observable": ["b_cells_per_ul"], "value": [1.0], "lloq": [1.0], "censored": [True]}))
    >>> ds.validate().ids
    ('P1',)
    """

    subjects: pd.DataFrame = field(default_factory=lambda: _canonical_subjects(None))
    doses: pd.DataFrame = field(default_factory=lambda: _canonical_doses(None))
    observations: pd.DataFrame = field(default_factory=lambda: _canonical_observations(None))
    records: Mapping[str, PatientRecords] = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", _canonical_subjects(self.subjects))
        object.__setattr__(self, "doses", _canonical_doses(self.doses))
        object.__setattr__(self, "observations", _canonical_observations(self.observations))
        object.__setattr__(self, "records", dict(sorted(dict(self.records).items())))

    # -- access

    @property
    def ids(self) -> tuple[str, ...]:
        """Subject ids in the order of ``subjects``."""
        return tuple(self.subjects["id"])

    def __len__(self) -> int:
        return len(self.subjects)

    def subset(self, ids: Iterable[str]) -> Dataset:
        """The dataset restricted to the subjects ``ids`` (in the order given).

        Raises
        ------
        DataError
            If an id is not in the dataset.
        """
        wanted = [str(i) for i in ids]
        known = set(self.ids)
        missing = [i for i in wanted if i not in known]
        if missing:
            raise DataError(
                f"{self.source}: subject id(s) {', '.join(map(repr, missing))} not in the dataset; "
                f"known ids: {', '.join(self.ids[:20])}{' ...' if len(self.ids) > 20 else ''}"
            )
        pos = {k: i for i, k in enumerate(wanted)}
        subj = self.subjects[self.subjects["id"].isin(pos)].copy()
        subj = subj.iloc[np.argsort(subj["id"].map(pos).to_numpy(), kind="stable")]
        return Dataset(
            subjects=subj,
            doses=self.doses[self.doses["id"].isin(pos)],
            observations=self.observations[self.observations["id"].isin(pos)],
            records={k: v for k, v in self.records.items() if k in pos},
            source=self.source,
        )

    def with_source(self, source: str) -> Dataset:
        """The same data with another ``source`` label."""
        return replace(self, source=str(source))

    def observations_of(self, observable: str) -> pd.DataFrame:
        """Rows of ``observations`` of one read-out."""
        return self.observations[self.observations["observable"] == observable].reset_index(
            drop=True
        )

    def summary(self) -> dict[str, Any]:
        """Counts for reports: subjects, doses by kind, observations by read-out, records."""
        obs = self.observations
        return {
            "source": self.source,
            "subjects": len(self.subjects),
            "doses": {
                str(k): int(v) for k, v in self.doses["kind"].value_counts().sort_index().items()
            },
            "observations": {
                str(k): {"n": len(g), "censored": int(g["censored"].sum())}
                for k, g in obs.groupby("observable", sort=True)
            },
            "records": {
                "subjects": len(self.records),
                "labs": sum(len(r.labs) for r in self.records.values()),
                "vitals": sum(len(r.vitals) for r in self.records.values()),
                "adverse_events": sum(len(r.adverse_events) for r in self.records.values()),
                "sledai_findings": sum(len(r.sledai_findings) for r in self.records.values()),
                "pga": sum(len(r.pga) for r in self.records.values()),
                "medications": sum(len(r.medications) for r in self.records.values()),
            },
        }

    # -- equality

    def __eq__(self, other: object) -> bool:
        """Same subjects, doses, observations and records (``source`` is not compared).

        Times agree to one second and values to 1e-9 relative (:data:`TIME_ATOL_DAYS`,
        :data:`VALUE_RTOL`); missing values are equal to missing values.
        """
        if not isinstance(other, Dataset):
            return NotImplemented
        return not self.differences(other)

    __hash__ = None  # type: ignore[assignment]

    def differences(self, other: Dataset, limit: int = 10) -> list[str]:
        """Where two datasets differ (empty when equal): table, row, column, both values."""
        out: list[str] = []
        for name in ("subjects", "doses", "observations"):
            a, b = getattr(self, name), getattr(other, name)
            if len(a) != len(b):
                out.append(f"{name}: {len(a)} rows vs {len(b)} rows")
                continue
            for col in a.columns:
                x, y = a[col].to_numpy(dtype=object), b[col].to_numpy(dtype=object)
                for i in range(len(x)):
                    if not _same(x[i], y[i], col):
                        out.append(f"{name} row {i} column {col}: {x[i]!r} vs {y[i]!r}")
                        if len(out) >= limit:
                            return out
        if set(self.records) != set(other.records):
            out.append(f"records: subjects {sorted(self.records)} vs {sorted(other.records)}")
            return out
        for k in self.records:
            diff = _diff_values(
                self.records[k].model_dump(), other.records[k].model_dump(), f"records[{k!r}]"
            )
            out += diff[: max(0, limit - len(out))]
            if len(out) >= limit:
                break
        return out

    # -- validation

    def validate(self) -> Dataset:
        """Check the content of every table; return ``self`` when all is well.

        Raises
        ------
        DataValidationError
            Listing every problem with the source, the table and row, and the column.
        """
        raise_problems(self.problems())
        return self

    def problems(self) -> list[Problem]:
        """Every problem :meth:`validate` would raise, as a list."""
        src = self.source
        probs: list[Problem] = []

        def p(table: str, row: int | None, col: str | None, msg: str) -> None:
            probs.append(Problem(f"{src} [{table}]", row, col, msg))

        subj = self.subjects
        seen: dict[str, int] = {}
        for i, sid in enumerate(subj["id"]):
            if sid is None or str(sid).strip() == "":
                p("subjects", i, "id", "missing subject id")
            elif sid in seen:
                p("subjects", i, "id", f"subject {sid!r} appears twice (also row {seen[sid]})")
            else:
                seen[sid] = i
        limits = {
            "weight_kg": (0.2, 400.0),
            "height_cm": (20.0, 260.0),
            "bsa_m2": (0.05, 4.0),
            "age_years": (0.0, 130.0),
        }
        for col, (lo, hi) in limits.items():
            for i, v in enumerate(subj[col]):
                if not math.isnan(v) and not lo <= v <= hi:
                    p(
                        "subjects",
                        i,
                        col,
                        f"{v!r} is impossible; it must lie between {lo:g} and {hi:g}",
                    )
        origins: dict[str, tuple[int, datetime]] = {}
        for i, (sid, v) in enumerate(zip(subj["id"], subj["infusion_date"])):
            if v is not None:
                try:
                    origins[sid] = (i, parse_iso(v))
                except ValueError as exc:
                    if "calendar" in str(exc):  # a date-time whose time zone leaves the calendar
                        p("subjects", i, "infusion_date", str(exc))
                    else:
                        p(
                            "subjects",
                            i,
                            "infusion_date",
                            f"{v!r} is not an ISO 8601 date or date-time",
                        )

        known = set(seen)

        def subject_and_time(table: str, i: int, row: Any) -> None:
            if row.id not in known:
                p(table, i, "id", f"subject {row.id!r} is not in `subjects`")
            if not math.isfinite(row.time):
                p(table, i, "time", "missing or non-numeric time (days after infusion)")
            elif abs(row.time) > MAX_DAYS:
                p(
                    table,
                    i,
                    "time",
                    f"{row.time:g} days lies more than 100 years from the infusion; "
                    "check the unit of the times",
                )

        doses = self.doses
        for i, row in enumerate(doses.itertuples(index=False)):
            subject_and_time("doses", i, row)
            if row.kind not in DOSE_KINDS:
                p(
                    "doses",
                    i,
                    "kind",
                    f"{row.kind!r} is not a dose kind; use one of {', '.join(DOSE_KINDS)}",
                )
            elif row.unit not in DOSE_UNITS[row.kind]:
                p(
                    "doses",
                    i,
                    "unit",
                    f"{row.unit!r} is not a unit of a {row.kind} dose; use {' or '.join(DOSE_UNITS[row.kind])}",
                )
            if not (math.isfinite(row.amount) and row.amount > 0):
                p("doses", i, "amount", f"{row.amount!r} must be a positive number")
        car_t = doses[doses["kind"] == "car_t"]
        for sid in sorted(known & set(doses["id"])):
            t = car_t.loc[car_t["id"] == sid, "time"]
            if len(t) and not np.isclose(t.min(), 0.0, atol=TIME_ATOL_DAYS):
                p(
                    "doses",
                    int(car_t.index[car_t["id"] == sid][0]),
                    "time",
                    f"the first CAR-T infusion of {sid!r} is at day {t.min():g}; times must count from it (day 0)",
                )

        obs = self.observations
        for i, row in enumerate(obs.itertuples(index=False)):
            subject_and_time("observations", i, row)
            if row.observable not in OBSERVABLES:
                p(
                    "observations",
                    i,
                    "observable",
                    f"{row.observable!r} is not a model read-out; use one of {', '.join(OBSERVABLES)}",
                )
            if not (math.isfinite(row.value) and row.value >= 0):
                p("observations", i, "value", f"{row.value!r} must be a non-negative number")
            if not math.isnan(row.lloq) and not row.lloq > 0:
                p(
                    "observations",
                    i,
                    "lloq",
                    f"{row.lloq!r} must be positive (or empty when there is none)",
                )
            if row.censored:
                if math.isnan(row.lloq):
                    p("observations", i, "lloq", "a censored (below-LLOQ) row needs its LLOQ")
                elif math.isfinite(row.value) and not math.isclose(
                    row.value, row.lloq, rel_tol=VALUE_RTOL
                ):
                    p(
                        "observations",
                        i,
                        "value",
                        f"a censored row carries its LLOQ ({row.lloq:g}) as value, not {row.value!r}",
                    )
        for sid in self.records:
            if sid not in known:
                p("records", None, "id", f"records of subject {sid!r}, who is not in `subjects`")
        # The calendar time of every dose and observation must exist (years 1-9999).
        times = pd.concat([doses[["id", "time"]], obs[["id", "time"]]])
        times = times[np.isfinite(times["time"]) & (times["time"].abs() <= MAX_DAYS)]
        span = times.groupby("id")["time"].agg(["min", "max"])
        for sid, (i, origin) in origins.items():
            if sid not in span.index:
                continue
            first, last = span.loc[sid, "min"], span.loc[sid, "max"]
            try:
                shift_days(origin, first), shift_days(origin, last)
            except OverflowError:
                p(
                    "subjects",
                    i,
                    "infusion_date",
                    f"{subj['infusion_date'].iloc[i]!r} with times from day {first:g} to day "
                    f"{last:g} leaves the calendar (years 1-9999); check the date",
                )
        return probs


def _same(a: Any, b: Any, col: str) -> bool:
    a, b = _nan_none(a), _nan_none(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return bool(a) == bool(b)
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        atol = TIME_ATOL_DAYS if col == "time" else 0.0
        return math.isclose(float(a), float(b), rel_tol=VALUE_RTOL, abs_tol=atol)
    return a == b


def _diff_values(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff_values(a.get(k), b.get(k), f"{where}.{k}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items vs {len(b)} items"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff_values(x, y, f"{where}[{i}]")
        return out
    if isinstance(a, float) and isinstance(b, float):
        ok = math.isclose(a, b, rel_tol=VALUE_RTOL, abs_tol=TIME_ATOL_DAYS)
        return [] if ok else [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


# ----------------------------------------------------------------------------- times


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time (SDTM ``--DTC``) to a naive datetime.

    Raises
    ------
    ValueError
        If ``text`` is not a complete date (partial SDTM dates such as ``2014-03`` have no day).
    """
    s = str(text).strip()
    if len(s) == 10:
        d = date.fromisoformat(s)
        return datetime(d.year, d.month, d.day)
    value = datetime.fromisoformat(s)
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00-14:00 is past the last date in UTC
            raise ValueError(f"{s!r} lies outside the calendar (years 1-9999) in UTC") from None
    return value


def format_iso(value: datetime) -> str:
    """ISO 8601 date when at midnight, else date-time to the second."""
    if value.hour == value.minute == value.second == 0 and value.microsecond == 0:
        return value.date().isoformat()
    return value.replace(microsecond=0).isoformat()


def shift_days(origin: datetime, days: float) -> datetime:
    """``origin`` plus ``days``, rounded to the second (the precision SDTM date-times carry)."""
    return origin + timedelta(seconds=round(days * 86400.0))


# ----------------------------------------------------------------------------- records


def records_from_observations(
    observations: pd.DataFrame, subjects: pd.DataFrame
) -> dict[str, PatientRecords]:
    """Clinical records mirroring a dataset's LB read-outs, body weight and height.

    Each quantified (not censored) LB-domain observation becomes a
    :class:`~allocart.clinical.records.LabResult` in the analyte's internal unit, and a known
    weight or height a ``WEIGHT`` or ``HEIGHT`` :class:`~allocart.clinical.records.VitalSign`
    at day 0, so that the
    clinical scorers see what an SDTM reader of the same data would see. Record times are
    days after the infusion (records convention, see :mod:`allocart.clinical.records`), with
    ``infusion`` from ``subjects.infusion_date``. Every subject gets a record.
    """
    obs = _canonical_observations(observations)
    subj = _canonical_subjects(subjects)
    out: dict[str, PatientRecords] = {}
    for info in subj.itertuples(index=False):
        sid = info.id
        origin = None if info.infusion_date is None else parse_iso(info.infusion_date)
        rows = obs[(obs["id"] == sid) & ~obs["censored"]]
        labs = []
        for r in rows.itertuples(index=False):
            spec = OBSERVABLES.get(r.observable)
            if spec is None or spec.domain != "LB":
                continue
            analyte = units.ANALYTES[units.analyte_key(spec.code, None)]
            labs.append(
                LabResult(
                    test=spec.code,
                    value=float(r.value) / spec.lab_factor,
                    unit=analyte.unit,
                    time=record_day(origin, r.time),
                )
            )
        vitals = []
        if not math.isnan(info.weight_kg):
            vitals.append(
                VitalSign(
                    test="WEIGHT",
                    value=float(info.weight_kg),
                    unit="kg",
                    time=record_day(origin, 0.0),
                )
            )
        if not math.isnan(info.height_cm):
            vitals.append(
                VitalSign(
                    test="HEIGHT",
                    value=float(info.height_cm),
                    unit="cm",
                    time=record_day(origin, 0.0),
                )
            )
        out[sid] = make_patient_records(
            sid, origin, info.age_years, info.weight_kg, labs=labs, vitals=vitals
        )
    return out


def record_day(origin: datetime | None, days_after_infusion: float) -> float:
    """Record time (day 0 = the whole infusion day) of an instant ``days_after_infusion``."""
    if origin is None:
        return float(days_after_infusion)
    instant = shift_days(origin, days_after_infusion)
    return (instant - datetime(origin.year, origin.month, origin.day)).total_seconds() / 86400.0


def _time_key(t: Any) -> Any:
    if isinstance(t, datetime):
        return (1, t.isoformat())
    if isinstance(t, date):
        return (1, datetime(t.year, t.month, t.day).isoformat())
    return (0, float(t))


def make_patient_records(
    sid: str,
    origin: datetime | None,
    age_years: float | None,
    weight_kg: float | None,
    **lists: Sequence[Any],
) -> PatientRecords:
    """A :class:`PatientRecords` with its lists in canonical order (time, then code or term),
    so that records built from different sources of the same data compare equal."""

    def nan_none(v: float | None) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    keyed = {}
    for name, items in lists.items():

        def key(r: Any) -> Any:
            t = getattr(r, "time", None)
            if t is None:
                t = r.start
            label = (
                getattr(r, "test", None)
                or getattr(r, "descriptor", None)
                or getattr(r, "term", None)
                or ""
            )
            return (_time_key(t), label)

        keyed[name] = tuple(sorted(items, key=key))
    infusion = None
    if origin is not None:
        infusion = origin.date() if origin.time() == datetime.min.time() else origin
    return PatientRecords(
        patient_id=sid,
        infusion=infusion,
        age_years=nan_none(age_years),
        weight_kg=nan_none(weight_kg),
        **keyed,
    )


# ----------------------------------------------------------------------------- from a simulation


def dataset_from_simulation(
    sim: Simulation,
    sample_days: Sequence[float] = DEFAULT_SAMPLE_DAYS,
    observables: Sequence[str] = tuple(OBSERVABLES),
    seed: int | np.random.Generator = 0,
    *,
    error_cv: Mapping[str, float] | None = None,
    lloq: Mapping[str, float | None] | None = None,
    ids: Sequence[str] | None = None,
    start_date: str | date | None = "2025-01-06",
    enrolment_interval_days: float = 14.0,
    with_records: bool = True,
) -> Dataset:
    """Sample a simulation sparsely, add residual error and censor below the LLOQ.

    Each observation is ``true * exp(sigma * z)`` with ``sigma = sqrt(log(1 + cv^2))`` (a
    log-normal error of coefficient of variation ``cv``); a value below the read-out's LLOQ
    becomes a censored row carrying the LLOQ. The true parameters stay in ``sim.batch``, so a
    fit of the result can be checked against them.

    Parameters
    ----------
    sim : Simulation
        From :func:`allocart.model.simulate.simulate`.
    sample_days : sequence of float
        Days after the infusion to sample; each must be on the simulation's output grid
        (simulate with a ``dt`` that hits them); days beyond the horizon are dropped.
    observables : sequence of str
        Read-outs to sample (names of :data:`OBSERVABLES`).
    seed : int or Generator
        Seed of the residual error.
    error_cv : mapping, optional
        Residual CV per read-out (default :attr:`Observable.error_cv`; 0 = no error).
    lloq : mapping, optional
        LLOQ per read-out in its unit, None for none (default :attr:`Observable.lloq`; the
        transgene default is each patient's ``LLOQ_transgene`` parameter).
    ids : sequence of str, optional
        Subject ids; default ``"SIM-001"``, ``"SIM-002"``, ...
    start_date : str or date or None
        Infusion date of the first patient; later patients are infused every
        ``enrolment_interval_days``. None leaves ``infusion_date`` unknown.
    with_records : bool
        Also build the clinical lab records mirroring the LB read-outs.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        On an unknown read-out, a sample day off the output grid, or failed patients.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    bad = [o for o in observables if o not in OBSERVABLES or o not in sim.observables]
    if bad:
        raise DataError(
            f"observables: {', '.join(map(repr, bad))} not model read-outs; use {', '.join(OBSERVABLES)}"
        )
    cvs = {o: OBSERVABLES[o].error_cv for o in OBSERVABLES} | dict(error_cv or {})
    lloqs: dict[str, Any] = {o: OBSERVABLES[o].lloq for o in OBSERVABLES} | dict(lloq or {})
    for name, cv in cvs.items():
        if not (math.isfinite(cv) and cv >= 0):
            raise DataError(f"error_cv[{name!r}] = {cv!r} must be a non-negative number")
    failed = [int(i) + 1 for i in np.flatnonzero(np.asarray(sim.status) != 0)]
    if failed:
        raise DataError(
            f"simulation: patients {failed} failed to solve; simulate them again (other seed or tolerance)"
        )
    days = [float(d) for d in sample_days if d <= sim.time[-1] + 1e-9]
    if not days:
        raise DataError(
            f"sample_days: none lies within the simulated horizon (0..{sim.time[-1]:g} days)"
        )
    cols = []
    for d in days:
        j = int(np.argmin(np.abs(sim.time - d)))
        if abs(sim.time[j] - d) > 1e-9:
            raise DataError(
                f"sample_days: day {d:g} is not on the simulation grid (step {sim.time[1] - sim.time[0]:g} days); "
                "simulate with a dt that hits every sample day"
            )
        cols.append(j)
    n = sim.n
    ids = [f"SIM-{i + 1:03d}" for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n or len(set(ids)) != n:
        raise DataError(f"ids: give {n} distinct ids, one per simulated patient; got {len(ids)}")
    lloq_tg = sim.batch.param_dict().get("LLOQ_transgene")
    rows: list[tuple[str, float, str, float, float, bool]] = []
    for name in observables:  # one draw block per read-out, so adding one keeps the others' draws
        truth = sim.observables[name][:, cols]
        sigma = math.sqrt(math.log1p(cvs[name] ** 2))
        noisy = truth * np.exp(sigma * rng.standard_normal(truth.shape))
        for i in range(n):
            lim = lloqs.get(name)
            if (
                name == "transgene_copies_per_ug"
                and (lloq is None or name not in lloq)
                and lloq_tg is not None
            ):
                lim = float(lloq_tg[i])
            for k, d in enumerate(days):
                v = float(noisy[i, k])
                if lim is not None and v < lim:
                    rows.append((ids[i], d, name, float(lim), float(lim), True))
                else:
                    rows.append((ids[i], d, name, v, np.nan if lim is None else float(lim), False))
    observations = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))

    scen = sim.scenario
    dose_rows: list[tuple[str, float, str, float, str]] = []
    for i in range(n):
        for day, dose in scen.infusions():
            dose_rows.append(
                (
                    ids[i],
                    float(day),
                    "car_t",
                    float(dose.value),
                    "cells/kg" if dose.per_kg else "cells",
                )
            )
        courses = [(0.0, scen.regimen)] + (
            [(day, scen.redose_regimen) for day, _ in scen.redoses]
            if scen.redose_regimen is not None
            else []
        )
        for offset, regimen in courses:
            for drug, course in regimen.drugs.items():
                for dd in course.days:
                    dose_rows.append(
                        (ids[i], offset + float(dd), drug, float(course.mg_per_m2_per_day), "mg/m2")
                    )
    doses = pd.DataFrame(dose_rows, columns=list(DOSE_COLUMNS))

    if start_date is None:
        infusion = [None] * n
    else:
        first = parse_iso(start_date.isoformat() if isinstance(start_date, date) else start_date)
        infusion = [format_iso(shift_days(first, i * enrolment_interval_days)) for i in range(n)]
    subjects = pd.DataFrame(
        {
            "id": ids,
            "product": scen.product.name,
            "ld": scen.regimen.name,
            "weight_kg": np.asarray(sim.batch.weight_kg, dtype=float),
            "infusion_date": infusion,
        }
    )
    records = records_from_observations(observations, subjects) if with_records else {}
    return Dataset(
        subjects=subjects,
        doses=doses,
        observations=observations,
        records=records,
        source=f"simulation of {scen.product.name} {scen.dose} {scen.regimen.name}",
    ).validate()
