"""Validation of a dataset's content: every problem with its table, row and column.

Checks subject ids (present, unique), covariates within :data:`~allocart.data.schema.SUBJECT_LIMITS`,
infusion dates (ISO 8601, and the calendar time of every row within years 1-9999), dose kinds,
units and amounts, that each subject's first CAR-T infusion is day 0, observation read-outs,
values and LLOQs (a censored row carries its LLOQ as value), and that records belong to known
subjects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from allocart.data.observables import OBSERVABLES
from allocart.data.problems import Problem
from allocart.data.schema import (
    DOSE_KINDS,
    DOSE_UNITS,
    MAX_DAYS,
    SUBJECT_LIMITS,
    TIME_ATOL_DAYS,
    VALUE_RTOL,
)
from allocart.data.times import parse_iso, shift_days

__all__ = ["DatasetTables", "dataset_problems"]


class DatasetTables(Protocol):
    """What validation reads of a :class:`~allocart.data.Dataset` (which imports this module)."""

    @property
    def source(self) -> str: ...

    @property
    def subjects(self) -> pd.DataFrame: ...

    @property
    def doses(self) -> pd.DataFrame: ...

    @property
    def observations(self) -> pd.DataFrame: ...

    @property
    def records(self) -> Mapping[str, Any]: ...


def dataset_problems(ds: DatasetTables) -> list[Problem]:
    """Every problem of ``ds`` (empty when its content is valid).

    Parameters
    ----------
    ds : Dataset
        The dataset (anything with its tables, :class:`DatasetTables`); problems name ``ds.source`` and the table in brackets
        (``"<memory> [doses]"``), with the 0-based row index of the table.

    Returns
    -------
    list of Problem
    """
    src = ds.source
    probs: list[Problem] = []

    def p(table: str, row: int | None, col: str | None, msg: str) -> None:
        probs.append(Problem(f"{src} [{table}]", row, col, msg))

    subj = ds.subjects
    seen: dict[str, int] = {}
    for i, sid in enumerate(subj["id"]):
        if sid is None or str(sid).strip() == "":
            p("subjects", i, "id", "missing subject id")
        elif sid in seen:
            p("subjects", i, "id", f"subject {sid!r} appears twice (also row {seen[sid]})")
        else:
            seen[sid] = i
    for col, (lo, hi) in SUBJECT_LIMITS.items():
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

    def one_of(table: str, i: int, column: str, value: Any, names: Any, what: str) -> bool:
        """Whether ``value`` is one of ``names``; a problem naming them if not."""
        if value in names:
            return True
        p(table, i, column, f"{value!r} is not {what}; use one of {', '.join(names)}")
        return False

    doses = ds.doses
    for i, row in enumerate(doses.itertuples(index=False)):
        subject_and_time("doses", i, row)
        if one_of("doses", i, "kind", row.kind, DOSE_KINDS, "a dose kind") and (
            row.unit not in DOSE_UNITS[row.kind]
        ):
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

    obs = ds.observations
    for i, row in enumerate(obs.itertuples(index=False)):
        subject_and_time("observations", i, row)
        one_of("observations", i, "observable", row.observable, OBSERVABLES, "a model read-out")
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
    for sid in ds.records:
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
