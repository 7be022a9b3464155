"""Calibration targets: the published series as cohorts, their summary numbers, and the
per-patient quantities and weights each target is computed from (``resources/targets.yaml``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import brentq

from allocart.errors import PopulationError
from allocart.files import load_yaml

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SEED",
    "CohortSpec",
    "Target",
    "TargetSet",
    "cohort_weights",
    "load_targets",
    "quantity",
    "select_patients",
    "tilt_weights",
]

DEFAULT_N = 400
"""Virtual patients simulated per target cohort (before selection)."""
DEFAULT_SEED = 20260
"""Seed of the calibration cohorts (fixed so the committed report is reproducible)."""

#: Boolean quantities derived from grade columns.
_DERIVED: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "crs_any": lambda p: p["crs_grade"] >= 1,
    "crs_ge2": lambda p: p["crs_grade"] >= 2,
    "crs_ge3": lambda p: p["crs_grade"] >= 3,
    "icans_any": lambda p: p["icans_grade"] >= 1,
    "gvhd_any": lambda p: p["gvhd_grade"] >= 1,
    "neutropenia_ge3": lambda p: p["neutropenia_grade_max"] >= 3,
}
#: Covariate names of `select:` and the patient-table column they read.
_SELECT_COLUMNS = {"lupus_nephritis": "nephritis", "female": "female"}
_STATISTICS = ("rate", "median", "mean", "sd")


@dataclass(frozen=True)
class CohortSpec:
    """The scenario of a published series and the selection matching its enrolment."""

    name: str
    title: str
    product: str
    dose: str
    ld: str
    months: tuple[int, ...] = (3, 6)
    select: dict[str, Any] = field(default_factory=dict)
    select_source: str = ""
    source: str = ""
    weight_to: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One published summary number (see ``resources/targets.yaml``)."""

    id: str
    cohort: str
    quantity: str
    statistic: str
    n: int
    source: str
    tag: str
    value: float | None = None
    range: tuple[float, float] | None = None
    unmet_reason: str = ""

    @property
    def interval(self) -> tuple[float, float]:
        """The published value as an interval (the reported range where there is one)."""
        if self.range is not None:
            return (float(self.range[0]), float(self.range[1]))
        return (float(self.value), float(self.value))  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.value is not None and self.range is not None:
            return f"{self.value:g} ({self.range[0]:g}-{self.range[1]:g})"
        if self.value is not None:
            return f"{self.value:g}"
        return f"{self.range[0]:g}-{self.range[1]:g}"  # type: ignore[index]


@dataclass(frozen=True)
class TargetSet:
    cohorts: dict[str, CohortSpec]
    targets: tuple[Target, ...]
    not_simulated: tuple[dict[str, str], ...]

    def targeted_cohorts(self) -> list[tuple[int, str, CohortSpec, list[Target]]]:
        """The cohorts that have targets, in file order, each with its targets.

        Returns
        -------
        list of (int, str, CohortSpec, list of Target)
            The cohort's index among all cohorts (its seed offset, so that adding a cohort
            without targets leaves no other's patients changed), name, specification and
            targets.
        """
        out = []
        for k, (name, spec) in enumerate(self.cohorts.items()):
            mine = [t for t in self.targets if t.cohort == name]
            if mine:
                out.append((k, name, spec, mine))
        return out


def load_targets(path: str | Path | None = None) -> TargetSet:
    """Read and validate a target file (default: the package's ``resources/targets.yaml``).

    Raises
    ------
    PopulationError
        On a missing field, an unknown cohort, statistic or quantity, or a target without a
        value or range.
    """

    if path is None:
        text = resources.files("allocart.population").joinpath("resources/targets.yaml").read_text()
        origin = "targets.yaml"
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PopulationError(f"{origin}: not valid YAML: {exc}") from None
    else:
        origin = str(path)
        data = load_yaml(path, what="targets", error=PopulationError) or {}
    if not isinstance(data, dict):
        raise PopulationError(
            f"{origin}: must be a mapping with `cohorts` and `targets`, got {type(data).__name__}"
        )
    cohorts: dict[str, CohortSpec] = {}
    for name, c in (data.get("cohorts") or {}).items():
        for key in ("product", "dose", "ld"):
            if key not in c:
                raise PopulationError(f"{origin}: cohort `{name}` has no `{key}`")
        sel = dict(c.get("select") or {})
        for k in sel:
            if k not in _SELECT_COLUMNS:
                raise PopulationError(
                    f"{origin}: cohort `{name}`: select `{k}` is unknown; use {', '.join(_SELECT_COLUMNS)}"
                )
        cohorts[name] = CohortSpec(
            name=name,
            title=str(c.get("title", name)),
            product=str(c["product"]),
            dose=str(c["dose"]),
            ld=str(c["ld"]),
            months=tuple(int(m) for m in c.get("months", (3, 6))),
            select=sel,
            select_source=str(c.get("select_source", "")),
            source=str(c.get("source", "")),
            weight_to={str(k): float(v) for k, v in (c.get("weight_to") or {}).items()},
        )
        for k in cohorts[name].weight_to:
            if k != "sledai2k_baseline":
                raise PopulationError(
                    f"{origin}: cohort `{name}`: weight_to `{k}` is unknown; use sledai2k_baseline"
                )
    targets = []
    seen: set[str] = set()
    for i, t in enumerate(data.get("targets") or []):
        where = f"{origin}: targets[{i}]"
        for key in ("id", "cohort", "quantity", "statistic", "n", "source"):
            if key not in t:
                raise PopulationError(f"{where}: field `{key}` is missing")
        if t["id"] in seen:
            raise PopulationError(f"{where}: id {t['id']!r} repeats an earlier target")
        seen.add(t["id"])
        if t["cohort"] not in cohorts:
            raise PopulationError(
                f"{where} ({t['id']}): cohort {t['cohort']!r} is not defined under `cohorts`"
            )
        if t["statistic"] not in _STATISTICS:
            raise PopulationError(
                f"{where} ({t['id']}): statistic {t['statistic']!r}; use {', '.join(_STATISTICS)}"
            )
        if t.get("value") is None and t.get("range") is None:
            raise PopulationError(
                f"{where} ({t['id']}): give the published `value`, a `range`, or both"
            )
        if int(t["n"]) < 1:
            raise PopulationError(f"{where} ({t['id']}): `n` = {t['n']!r} must be at least 1")
        rng = t.get("range")
        targets.append(
            Target(
                id=str(t["id"]),
                cohort=str(t["cohort"]),
                quantity=str(t["quantity"]),
                statistic=str(t["statistic"]),
                n=int(t["n"]),
                source=str(t["source"]),
                tag=str(t.get("tag", "")),
                value=None if t.get("value") is None else float(t["value"]),
                range=None if rng is None else (float(rng[0]), float(rng[1])),
                unmet_reason=str(t.get("unmet_reason", "")),
            )
        )
    return TargetSet(
        cohorts, tuple(targets), tuple(dict(x) for x in (data.get("not_simulated") or []))
    )


# ---- statistics -----------------------------------------------------------------------------


def select_patients(patients: pd.DataFrame, spec: CohortSpec) -> pd.DataFrame:
    """Patients matching the cohort's enrolment (and not failed)."""
    mask = ~patients["failed"].astype(bool)
    for k, v in spec.select.items():
        mask &= patients[_SELECT_COLUMNS[k]].astype(bool) == bool(v)
    return patients[mask]


def tilt_weights(x: np.ndarray, mean: float) -> np.ndarray:
    """Exponential-tilting weights ``w_i ~ exp(lam * x_i)`` whose weighted mean of ``x`` is ``mean``.

    The weights that change the virtual cohort least (minimum Kullback-Leibler divergence from
    equal weights) while matching a published baseline mean; the target must lie strictly
    inside the range of ``x``.
    """

    x = np.asarray(x, dtype=float)
    if not x.min() < mean < x.max():
        raise PopulationError(
            f"weight_to: mean {mean:g} lies outside the simulated range {x.min():g}-{x.max():g}"
        )
    z = (x - x.mean()) / (x.std() or 1.0)

    def wmean(lam: float) -> float:
        w = np.exp(lam * z - np.max(lam * z))
        return float((w * x).sum() / w.sum()) - mean

    lam = brentq(wmean, -20.0, 20.0)
    w = np.exp(lam * z - np.max(lam * z))
    return w / w.sum()


def cohort_weights(patients: pd.DataFrame, spec: CohortSpec) -> np.ndarray | None:
    """Weights of the selected patients (None = equal weights)."""
    if not spec.weight_to:
        return None
    return tilt_weights(
        patients["sledai2k_baseline"].to_numpy(dtype=float), spec.weight_to["sledai2k_baseline"]
    )


def quantity(
    patients: pd.DataFrame, name: str, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Values of a target quantity (a patient column or a derived boolean), finite only, with their weights."""
    if name in _DERIVED:
        v = _DERIVED[name](patients).to_numpy(dtype=float)
    elif name in patients.columns:
        v = patients[name].to_numpy(dtype=float)
    else:
        raise PopulationError(
            f"target quantity {name!r} is neither a patient column nor one of {', '.join(_DERIVED)}"
        )
    keep = np.isfinite(v)
    w = None if weights is None else weights[keep] / weights[keep].sum()
    return v[keep], w
