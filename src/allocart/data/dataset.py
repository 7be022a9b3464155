"""The patient dataset every reader returns and every writer and fit takes.

A :class:`Dataset` is three tables (``subjects``, ``doses``, ``observations``; columns in
:mod:`allocart.data.schema`) and the clinical records of a group of patients:
:class:`allocart.clinical.records.PatientRecords` per subject id (may be empty): the labs,
vital signs, adverse events and disease-activity findings the clinical scorers read.

Time origin: day 0 is the CAR-T infusion. Observation and dose times are measured from the
infusion's time of day when the source gives it (midnight otherwise); the clinical records
keep their own convention (day 0 = the whole infusion day, see
:mod:`allocart.clinical.records`). Validation is :mod:`allocart.data.validation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from allocart.clinical.records import PatientRecords
from allocart.data.problems import Problem, raise_problems
from allocart.data.schema import (
    TIME_ATOL_DAYS,
    VALUE_RTOL,
    canonical_doses,
    canonical_observations,
    canonical_subjects,
    nan_none,
)
from allocart.data.validation import dataset_problems
from allocart.errors import DataError

__all__ = ["Dataset"]


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

    subjects: pd.DataFrame = field(default_factory=lambda: canonical_subjects(None))
    doses: pd.DataFrame = field(default_factory=lambda: canonical_doses(None))
    observations: pd.DataFrame = field(default_factory=lambda: canonical_observations(None))
    records: Mapping[str, PatientRecords] = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", canonical_subjects(self.subjects))
        object.__setattr__(self, "doses", canonical_doses(self.doses))
        object.__setattr__(self, "observations", canonical_observations(self.observations))
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
        return dataset_problems(self)


def _same(a: Any, b: Any, col: str) -> bool:
    a, b = nan_none(a), nan_none(b)
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
