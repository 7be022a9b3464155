"""Parameters as table rows: name, value, unit, between-patient variability, range, source,
and the uncertainty of the typical value.

The default table lives in ``resources/parameters.yaml`` next to this module. Users override rows
from a YAML file or a mapping; every override is validated (known parameter, known unit
convertible to the internal one, finite value inside the allowed range) and converted to the
internal unit here, at the boundary.

A row may also carry an :class:`Uncertainty`: a distribution of its *typical* value (not of
patients around it, which is ``iiv``), from a fit's posterior, a published interval or, for an
assumption, a stated plausible range with its reason. :func:`typical_value_quantiles` maps points
of the unit hypercube to typical values through these distributions; replicate trials with
parameter uncertainty (:mod:`allocart.trial.uncertainty`) and the global sensitivity analysis
(:mod:`allocart.sensitivity`) draw through it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from allocart.errors import ParameterError
from allocart.files import load_yaml

__all__ = [
    "Parameter",
    "ParameterTable",
    "load_default_parameters",
    "load_overrides",
    "convert_unit",
    "KNOWN_UNITS",
    "MAX_IIV",
    "Uncertainty",
    "UNCERTAINTY_DISTRIBUTIONS",
    "typical_value_quantiles",
    "uncertain_names",
]

# Conversion factors from accepted input units to each internal unit. The internal unit is
# the first entry's key; a user may give any unit listed for it.
_CONVERSIONS: dict[str, dict[str, float]] = {
    "1/day": {
        "1/day": 1.0,
        "1/d": 1.0,
        "/day": 1.0,
        "day-1": 1.0,
        "1/h": 24.0,
        "1/hour": 24.0,
        "1/week": 1.0 / 7.0,
        "1/min": 1440.0,
    },
    "day": {
        "day": 1.0,
        "days": 1.0,
        "d": 1.0,
        "h": 1.0 / 24.0,
        "hour": 1.0 / 24.0,
        "hours": 1.0 / 24.0,
        "week": 7.0,
        "weeks": 7.0,
    },
    "cells": {"cells": 1.0, "cell": 1.0, "1e9 cells": 1e9, "1e6 cells": 1e6},
    "cells/day": {"cells/day": 1.0, "cells/d": 1.0, "1e9 cells/day": 1e9, "cells/h": 24.0},
    "1": {"1": 1.0, "": 1.0, "fraction": 1.0, "%": 0.01, "percent": 0.01},
    "g/L": {"g/L": 1.0, "g/l": 1.0, "mg/dL": 0.01, "mg/dl": 0.01, "mg/L": 1e-3},
    "IU/mL": {"IU/mL": 1.0, "IU/ml": 1.0, "U/mL": 1.0},
    "pg/mL": {"pg/mL": 1.0, "pg/ml": 1.0, "ng/L": 1.0, "ng/mL": 1000.0},
    "pg/mL/day": {"pg/mL/day": 1.0, "pg/mL/h": 24.0},
    "mg/m2": {"mg/m2": 1.0, "mg/m^2": 1.0},
    "1/(mg/m2)": {"1/(mg/m2)": 1.0, "m2/mg": 1.0},
    "1e9/L": {"1e9/L": 1.0, "10^9/L": 1.0, "G/L": 1.0, "/uL": 1e-3, "cells/uL": 1e-3},
    "uL": {"uL": 1.0, "mL": 1e3, "L": 1e6},
    "copies/ug": {"copies/ug": 1.0},
    "copies/ug per cells/L": {"copies/ug per cells/L": 1.0},
}
KNOWN_UNITS: frozenset[str] = frozenset(u for table in _CONVERSIONS.values() for u in table)

#: Largest between-patient coefficient of variation (``iiv``) accepted: 10, i.e. 1000%. The
#: table's largest is 1; a CV of 1e300 would give infinite or zero parameters to every patient.
MAX_IIV = 10.0


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _shown(name: Any) -> str:
    """A name a user wrote, for a message: ```k_Trej``` as is, anything else quoted (``''``,
    ``'k Trej\\n'``, ``1``) so that an empty or odd name shows and the message stays one line."""
    if isinstance(name, str) and _PLAIN_NAME.match(name):
        return f"`{name}`"
    text = repr(name)
    return text if len(text) <= 60 else text[:56] + "...'"


def convert_unit(value: float, unit: str, internal_unit: str, *, name: str) -> float:
    """Convert ``value`` given in ``unit`` to ``internal_unit``.

    Raises
    ------
    ParameterError
        If the unit is unknown or not convertible to the internal unit.
    """
    table = _CONVERSIONS.get(internal_unit)
    if table is None:  # pragma: no cover - the default table only uses internal units
        raise ParameterError(
            f"parameter `{name}` has an unsupported internal unit {internal_unit!r}"
        )
    if unit not in table:
        if unit not in KNOWN_UNITS:
            raise ParameterError(
                f"parameter `{name}`: unknown unit {unit!r}; use one of {sorted(table)}"
            )
        raise ParameterError(
            f"parameter `{name}`: unit {unit!r} cannot be converted to {internal_unit!r}; "
            f"use one of {sorted(table)}"
        )
    return float(value) * table[unit]


#: Distributions an :class:`Uncertainty` may name, and the fields each needs.
UNCERTAINTY_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "lognormal": ("cv",),
    "normal": ("sd",),
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "empirical": ("draws",),
}
_UNCERTAINTY_FIELDS = ("dist", "cv", "sd", "low", "high", "draws", "basis", "reason")
_BASES = ("posterior", "interval", "assumption")


@dataclass(frozen=True)
class Uncertainty:
    """Distribution of a parameter's typical (population) value, in its internal unit.

    Attributes
    ----------
    dist : str
        ``lognormal`` (median at the typical value, coefficient of variation ``cv``), ``normal``
        (mean at the typical value, standard deviation ``sd`` in the parameter's unit),
        ``uniform`` or ``loguniform`` (between ``low`` and ``high``), or ``empirical`` (the
        quantiles of ``draws``, e.g. posterior draws of a fit).
    cv, sd, low, high : float or None
        Spread, as the distribution needs it.
    draws : tuple of float
        Sample of an ``empirical`` distribution.
    basis : str
        ``posterior`` (a fit), ``interval`` (a published interval) or ``assumption`` (a stated
        plausible range).
    reason : str
        Where the spread comes from, or why the range is plausible.

    Notes
    -----
    Draws are truncated to the allowed range ``[lower, upper]`` by inverse-CDF sampling of the
    truncated distribution (:meth:`quantile`). A ``uniform`` or ``loguniform`` range is absolute:
    it does not move with an overridden value.
    """

    dist: str
    basis: str
    reason: str
    cv: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None
    draws: tuple[float, ...] = ()

    def check(self, name: str, value: float, lower: float, upper: float) -> None:
        """Validate against the row it belongs to.

        Raises
        ------
        ParameterError
            Naming the parameter and field, e.g. a ``low`` above the typical value.
        """
        where = f"parameter `{name}`: uncertainty"
        if self.dist not in UNCERTAINTY_DISTRIBUTIONS:
            raise ParameterError(
                f"{where}.dist = {self.dist!r}; use one of {', '.join(UNCERTAINTY_DISTRIBUTIONS)}"
            )
        if self.basis not in _BASES:
            raise ParameterError(f"{where}.basis = {self.basis!r}; use one of {', '.join(_BASES)}")
        if not self.reason.strip():
            raise ParameterError(f"{where}.reason is empty; say where the spread comes from")
        for field in UNCERTAINTY_DISTRIBUTIONS[self.dist]:
            if field != "draws" and getattr(self, field) is None:
                raise ParameterError(f"{where}: dist {self.dist} needs `{field}`")
        if self.dist == "lognormal":
            cv = self.cv
            if cv is None or not (0 < cv <= MAX_IIV and value > 0):
                raise ParameterError(
                    f"{where}.cv = {self.cv!r} must be in (0, {MAX_IIV:g}] on a positive value"
                )
        elif self.dist == "normal":
            sd = self.sd
            if sd is None or not (math.isfinite(sd) and sd > 0):
                raise ParameterError(f"{where}.sd = {self.sd!r} must be positive and finite")
        elif self.dist in ("uniform", "loguniform"):
            lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
            floor = 0.0 if self.dist == "loguniform" else -math.inf
            if not (math.isfinite(lo) and math.isfinite(hi) and floor < lo < hi):
                raise ParameterError(
                    f"{where}: low = {lo:g}, high = {hi:g} must be finite with low < high"
                    + (" and low > 0 (loguniform)" if self.dist == "loguniform" else "")
                )
            if not (lower <= lo and hi <= upper):
                raise ParameterError(
                    f"{where}: [{lo:g}, {hi:g}] leaves the allowed range [{lower:g}, {upper:g}]"
                )
        else:  # empirical
            d = np.asarray(self.draws, dtype=float)
            if d.size < 2 or not np.all(np.isfinite(d)):
                raise ParameterError(f"{where}.draws: need at least 2 finite draws, got {d.size}")
            if d.min() < lower or d.max() > upper:
                raise ParameterError(
                    f"{where}.draws leave the allowed range [{lower:g}, {upper:g}]"
                )

    def quantile(self, u: np.ndarray, value: float, lower: float, upper: float) -> np.ndarray:
        """Typical values at probabilities ``u`` (in (0, 1)), truncated to ``[lower, upper]``.

        ``u``: probabilities (0 and 1 moved inwards by 1e-12); ``value``: the row's typical value
        (centre of ``lognormal`` and ``normal``); ``lower, upper``: its allowed range.
        """
        u = np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12)
        if self.dist == "empirical":
            return np.quantile(np.asarray(self.draws, dtype=float), u)
        if self.dist in ("uniform", "loguniform"):
            lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
            if self.dist == "uniform":
                return lo + u * (hi - lo)
            return np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        if self.dist == "lognormal":
            sigma = math.sqrt(math.log1p(float(self.cv) ** 2))  # type: ignore[arg-type]
            dist = stats.norm(math.log(value), sigma)
            lo = dist.cdf(math.log(lower)) if lower > 0 else 0.0
            hi = dist.cdf(math.log(upper)) if math.isfinite(upper) else 1.0
            return np.exp(dist.ppf(lo + u * (hi - lo)))
        dist = stats.norm(value, float(self.sd))  # type: ignore[arg-type]
        lo, hi = dist.cdf(lower), dist.cdf(upper)
        return np.clip(dist.ppf(lo + u * (hi - lo)), lower, upper)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (only the fields in use)."""
        out: dict[str, Any] = {"dist": self.dist}
        for f in ("cv", "sd", "low", "high"):
            if getattr(self, f) is not None:
                out[f] = getattr(self, f)
        if self.draws:
            out["draws"] = list(self.draws)
        out.update(basis=self.basis, reason=self.reason)
        return out


def uncertainty_from_spec(spec: Any, *, name: str, origin: str) -> Uncertainty | None:
    """An :class:`Uncertainty` from its YAML mapping (None or ``false``: no uncertainty).

    Raises
    ------
    ParameterError
        If ``spec`` is not a mapping, has unknown fields or non-numeric spreads.
    """
    if spec is None or spec is False:
        return None
    where = f"{origin}: `{name}.uncertainty`"
    if not isinstance(spec, Mapping):
        raise ParameterError(
            f"{where} = {_shown(spec)} must be a mapping such as "
            "{dist: loguniform, low: 0.1, high: 1, basis: assumption, reason: ...}"
        )
    bad = [k for k in spec if k not in _UNCERTAINTY_FIELDS]
    if bad:
        raise ParameterError(
            f"{where} has unknown field(s) {', '.join(_shown(k) for k in bad)}; "
            f"allowed: {', '.join(_UNCERTAINTY_FIELDS)}"
        )
    num = {k: _as_float(spec[k], f"{where}.{k}") for k in ("cv", "sd", "low", "high") if k in spec}
    draws: tuple[float, ...] = ()
    if "draws" in spec:
        raw = spec["draws"]
        if isinstance(raw, (str, bytes, Mapping)) or not hasattr(raw, "__iter__"):
            raise ParameterError(f"{where}.draws must be a list of numbers")
        draws = tuple(_as_float(x, f"{where}.draws[{i}]") for i, x in enumerate(raw))
    return Uncertainty(
        dist=str(spec.get("dist", "")),
        basis=str(spec.get("basis", "assumption")),
        reason=str(spec.get("reason", "")),
        draws=draws,
        **num,
    )


@dataclass(frozen=True)
class Parameter:
    """One row of the parameter table.

    Attributes
    ----------
    name : str
        Symbol used in the equations.
    value : float
        Typical value, in ``unit``.
    unit : str
        Internal unit.
    iiv : float
        Between-patient variability as the coefficient of variation of a log-normal
        distribution (0: none).
    lower, upper : float
        Allowed range (inclusive).
    source : str
        A reference, or ``assumption: <why>``.
    description : str
        What the parameter means.
    group : str
        Part of the model.
    uncertainty : Uncertainty or None
        Distribution of the typical value (None: taken as known).
    """

    name: str
    value: float
    unit: str
    iiv: float
    lower: float
    upper: float
    source: str
    description: str
    group: str
    uncertainty: Uncertainty | None = None

    @property
    def is_assumption(self) -> bool:
        """Whether the source is an assumption (``assumption...``)."""
        return self.source.strip().lower().startswith("assumption")

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ParameterError(f"parameter `{self.name}` = {self.value!r} is not finite")
        if not (self.lower <= self.value <= self.upper):
            raise ParameterError(
                f"parameter `{self.name}` = {self.value:g} {self.unit} is outside its allowed "
                f"range [{self.lower:g}, {self.upper:g}]"
            )
        if not (math.isfinite(self.iiv) and 0 <= self.iiv <= MAX_IIV):
            raise ParameterError(
                f"parameter `{self.name}`: iiv = {self.iiv!r} must be a coefficient of variation "
                f"from 0 to {MAX_IIV:g} ({MAX_IIV:.0%})"
            )
        if self.unit not in _CONVERSIONS:
            raise ParameterError(f"parameter `{self.name}`: unknown unit {self.unit!r}")
        if not self.source.strip():
            raise ParameterError(f"parameter `{self.name}` has no source")
        if self.uncertainty is not None:
            self.uncertainty.check(self.name, self.value, self.lower, self.upper)


@dataclass(frozen=True)
class ParameterTable:
    """An immutable, ordered table of :class:`Parameter` rows."""

    rows: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        names = [r.name for r in self.rows]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ParameterError(f"duplicate parameters in table: {dup}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows)

    def __getitem__(self, name: str) -> Parameter:
        for r in self.rows:
            if r.name == name:
                return r
        raise ParameterError(
            f"unknown parameter {_shown(name)}; see `allocart params` for the table"
        )

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def values(self) -> dict[str, float]:
        """Typical values by name, in internal units."""
        return {r.name: r.value for r in self.rows}

    def vector(self) -> np.ndarray:
        return np.array([r.value for r in self.rows], dtype=float)

    def with_values(
        self, values: Mapping[str, float], *, source: str | None = None
    ) -> ParameterTable:
        """Return a copy with new values (internal units), validated."""
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise ParameterError(
                f"unknown parameter {_shown(unknown[0])}; known parameters include "
                f"{', '.join(self.names[:8])}, ... (see `allocart params`)"
            )
        rows = []
        for r in self.rows:
            if r.name in values:
                changes: dict[str, Any] = {"value": float(values[r.name])}
                if source is not None:
                    changes["source"] = source
                rows.append(dataclasses.replace(r, **changes))
            else:
                rows.append(r)
        return ParameterTable(tuple(rows))

    def with_overrides(
        self, overrides: Mapping[str, Any], *, origin: str = "override"
    ) -> ParameterTable:
        """Apply user overrides (see :func:`load_overrides` for the accepted forms)."""
        rows = {r.name: r for r in self.rows}
        for name, spec in overrides.items():
            if name not in rows:
                raise ParameterError(
                    f"{origin}: unknown parameter {_shown(name)}; see `allocart params` for the table"
                )
            row = rows[name]
            changes: dict[str, Any] = {}
            if isinstance(spec, Mapping):
                bad = [
                    k for k in spec if k not in ("value", "unit", "iiv", "source", "uncertainty")
                ]
                if bad:
                    raise ParameterError(
                        f"{origin}: parameter `{name}` has unknown field(s) "
                        f"{', '.join(_shown(k) for k in bad)}; allowed: value, unit, iiv, source, "
                        "uncertainty"
                    )
                if "uncertainty" in spec:
                    changes["uncertainty"] = uncertainty_from_spec(
                        spec["uncertainty"], name=name, origin=origin
                    )
                unit = str(spec.get("unit", row.unit))
                if "value" in spec:
                    changes["value"] = convert_unit(
                        _as_float(spec["value"], f"{origin}: `{name}.value`"),
                        unit,
                        row.unit,
                        name=name,
                    )
                if "iiv" in spec:
                    changes["iiv"] = _as_float(spec["iiv"], f"{origin}: `{name}.iiv`")
                if set(spec) - {"uncertainty"}:
                    changes["source"] = str(spec.get("source", f"{origin} (was: {row.source})"))
            else:
                changes["value"] = _as_float(spec, f"{origin}: `{name}`")
                changes["source"] = f"{origin} (was: {row.source})"
            rows[name] = dataclasses.replace(row, **changes)
        return ParameterTable(tuple(rows[n] for n in self.names))


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ParameterError(f"{where} = {value!r} is not a number")
    try:
        out = float(value)
    except ValueError:
        raise ParameterError(f"{where} = {value!r} is not a number") from None
    except OverflowError:  # an integer beyond the largest float
        raise ParameterError(
            f"{where} = {str(value)[:12]}... ({len(str(value))} digits) is not finite"
        ) from None
    if not math.isfinite(out):
        raise ParameterError(f"{where} = {value!r} is not finite")
    return out


def _rows_from_mapping(data: Mapping[str, Any]) -> tuple[Parameter, ...]:
    rows = []
    for group, entries in data.items():
        for name, spec in entries.items():
            rows.append(
                Parameter(
                    name=name,
                    value=float(spec["value"]),
                    unit=str(spec["unit"]),
                    iiv=float(spec.get("iiv", 0.0)),
                    lower=float(spec.get("lower", -math.inf)),
                    upper=float(spec.get("upper", math.inf)),
                    source=str(spec["source"]),
                    description=str(spec.get("description", "")),
                    group=group,
                    uncertainty=uncertainty_from_spec(
                        spec.get("uncertainty"), name=name, origin="parameters.yaml"
                    ),
                )
            )
    return tuple(rows)


_DEFAULT: ParameterTable | None = None


def uncertain_names(table: ParameterTable) -> tuple[str, ...]:
    """Names of the rows that carry an :class:`Uncertainty`, in table order."""
    return tuple(r.name for r in table.rows if r.uncertainty is not None)


def typical_value_quantiles(
    table: ParameterTable, names: tuple[str, ...] | list[str], u: np.ndarray
) -> np.ndarray:
    """Typical values at the points ``u`` of the unit hypercube, one column per name.

    Parameters
    ----------
    table : ParameterTable
        Rows named in ``names`` must carry an uncertainty.
    names : sequence of str
    u : ndarray, shape (n, len(names))
        Probabilities in [0, 1] (a design of experiments, or uniform draws from a seed).

    Returns
    -------
    ndarray, shape (n, len(names))
        Typical values in internal units, inside each row's allowed range.

    Raises
    ------
    ParameterError
        If a name is unknown or its row has no uncertainty.
    """
    u = np.atleast_2d(np.asarray(u, dtype=float))
    if u.shape[1] != len(names):
        raise ParameterError(
            f"u: {u.shape[1]} columns for {len(names)} parameters; give one column per name"
        )
    out = np.empty_like(u)
    for j, name in enumerate(names):
        row = table[name]
        if row.uncertainty is None:
            raise ParameterError(
                f"parameter `{name}` has no uncertainty; give it one in --params "
                "(uncertainty: {dist: ..., basis: ..., reason: ...})"
            )
        out[:, j] = row.uncertainty.quantile(u[:, j], row.value, row.lower, row.upper)
    return out


def load_default_parameters() -> ParameterTable:
    """The built-in parameter table (``resources/parameters.yaml``)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("allocart.model").joinpath("resources/parameters.yaml").read_text()
        _DEFAULT = ParameterTable(_rows_from_mapping(yaml.safe_load(text)))
    return _DEFAULT


def load_overrides(path: str | Path) -> dict[str, Any]:
    """Read parameter overrides from a YAML file.

    The file maps parameter names to a number (internal unit) or to a mapping with
    ``value`` and optionally ``unit``, ``iiv`` and ``source``; an optional top-level key
    ``parameters`` may hold that mapping::

        parameters:
          k_Trej: 0.3
          delta_E: {value: 0.004, unit: 1/h, source: "my fit"}

    Raises
    ------
    ParameterError
        If the file is missing, unreadable, not UTF-8, not valid YAML, or not a mapping (file
        problems are also :class:`~allocart.errors.FileError`).
    """
    path = Path(path)
    data = load_yaml(path, what="params", error=ParameterError)
    if data is None:
        return {}
    if isinstance(data, Mapping) and set(data) == {"parameters"}:
        data = data["parameters"]
    if not isinstance(data, Mapping):
        raise ParameterError(
            f"params: {str(path)!r} must map parameter names to values, got {type(data).__name__}",
            argument="params",
        )
    return dict(data)
