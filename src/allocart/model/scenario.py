"""A treatment scenario: product, dose, lymphodepletion, optional redosing, horizon.

The scenario turns into what the solver needs: per-patient parameter vectors (primary and
derived), baseline states and a dosing event table (lymphodepleting drugs on their days,
CAR-T infusion at day 0 and any redose).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocart.errors import ParameterError, ProductError
from allocart.model.codegen import derived_function, initial_function, parameter_names
from allocart.model.equations import MODEL
from allocart.model.parameters import ParameterTable, load_default_parameters
from allocart.model.products import Product, Regimen, load_product, load_regimen

__all__ = [
    "Dose",
    "parse_dose",
    "Scenario",
    "PatientBatch",
    "sample_parameters",
    "TYPICAL_WEIGHT_KG",
    "WEIGHT_CV",
    "sample_weight_kg",
]

TYPICAL_WEIGHT_KG = 60.0
"""Weight of the typical patient (model-spec §8.7: adult ~60 kg SLE patient)."""

WEIGHT_CV = 0.2
"""Between-patient CV of body weight of virtual patients without covariates [assumption: adult
SLE cohorts]. The virtual SLE population (:mod:`allocart.population.covariates`) draws weight
from correlated height and BMI instead."""


def sample_weight_kg(n: int, rng: np.random.Generator) -> np.ndarray:
    """Body weights (kg) of ``n`` virtual patients without covariates.

    Log-normal with median :data:`TYPICAL_WEIGHT_KG` and coefficient of variation
    :data:`WEIGHT_CV` (``sigma = sqrt(log(1 + CV^2))``); draws ``n`` standard normals from ``rng``.

    Examples
    --------
    >>> w = sample_weight_kg(20000, np.random.default_rng(0))
    >>> round(float(np.median(w)) / TYPICAL_WEIGHT_KG, 1), round(float(w.std() / w.mean()), 1)
    (1.0, 0.2)
    """
    sigma = np.sqrt(np.log1p(WEIGHT_CV**2))
    return TYPICAL_WEIGHT_KG * np.exp(sigma * rng.standard_normal(n))


_DOSE_RE = re.compile(
    r"^\s*(?P<value>[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*(?:x\s*)?(?P<unit>cells/kg|/kg|cells|)\s*$"
)


@dataclass(frozen=True)
class Dose:
    """A CAR-T dose: ``value`` cells per kg (``per_kg``) or flat cells."""

    value: float
    per_kg: bool

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ProductError(
                f"dose: {self.value!r} must be a finite number of cells >= 0 (0: lymphodepletion or nothing, a negative control)",
                argument="dose",
            )

    def cells(self, weight_kg: float | np.ndarray) -> float | np.ndarray:
        """Number of cells infused for a patient of ``weight_kg``."""
        return (
            self.value * np.asarray(weight_kg)
            if self.per_kg
            else self.value * np.ones_like(np.asarray(weight_kg, dtype=float))
        )

    def __str__(self) -> str:
        return f"{self.value:g}/kg" if self.per_kg else f"{self.value:g}"


def parse_dose(text: str | float | Dose) -> Dose:
    """Parse ``"1e6/kg"``, ``"1e6 cells/kg"``, ``"3e8"`` or ``"3e8 cells"``.

    Raises
    ------
    ProductError
        On a negative, zero, non-numeric value or an unknown unit.
    """
    if isinstance(text, Dose):
        return text
    if isinstance(text, (int, float)):
        return Dose(float(text), per_kg=False)
    s = str(text).strip()
    if s.startswith("-"):
        raise ProductError(
            f"dose: {s!r} is negative; give cells per kg (e.g. 1e6/kg) or flat cells (e.g. 3e8)",
            argument="dose",
        )
    m = _DOSE_RE.match(s)
    if not m:
        raise ProductError(
            f"dose: cannot read {s!r}; give cells per kg (e.g. 1e6/kg or 1e6 cells/kg) "
            "or flat cells (e.g. 3e8 or 3e8 cells)",
            argument="dose",
        )
    try:
        value = float(m.group("value"))
    except ValueError:
        raise ProductError(f"dose: {s!r} is not a number", argument="dose") from None
    return Dose(value, per_kg=m.group("unit") in ("/kg", "cells/kg"))


@dataclass(frozen=True)
class Scenario:
    """What is given to whom and when.

    Attributes
    ----------
    product : Product
    dose : Dose
        First infusion, at day 0.
    regimen : Regimen
        Lymphodepletion before the first infusion.
    redoses : tuple of (day, Dose)
        Later infusions (without new lymphodepletion unless ``redose_regimen`` is set).
    days : float
        Horizon, days after the first infusion.
    redose_regimen : Regimen or None
        Lymphodepletion repeated before each redose, on the same days relative to it.
    gcsf_from_day : float or None
        Supportive care: G-CSF is given whenever ANC is below ``ANC_gcsf`` from this day after
        the infusion on (common practice: after the first week); None, no G-CSF.
    """

    product: Product
    dose: Dose
    regimen: Regimen
    redoses: tuple[tuple[float, Dose], ...] = ()
    days: float = 365.0
    redose_regimen: Regimen | None = None
    gcsf_from_day: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.days) and self.days > 0):
            raise ProductError(
                f"days: {self.days!r} must be a positive number of days", argument="days"
            )
        g = self.gcsf_from_day
        if g is not None and (
            isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0
        ):
            raise ProductError(
                f"gcsf_from_day: {g!r} must be a day >= 0 after the infusion, or None for no G-CSF"
            )
        for day, _ in self.redoses:
            if not (math.isfinite(day) and day > 0):
                raise ProductError(
                    f"redose: day {day!r} must be after the first infusion (day > 0)",
                    argument="redose",
                )

    @classmethod
    def create(
        cls,
        product: str | Product = "allogeneic-cd19cd20",
        dose: str | float | Dose = "1e6/kg",
        ld: str | Regimen = "flu-cy",
        *,
        days: float = 365.0,
        redose: Sequence[tuple[float, str | float | Dose]] = (),
        redose_ld: str | Regimen | None = None,
        gcsf_from_day: float | None = None,
    ) -> Scenario:
        """Build a scenario from names (as on the command line) or objects."""
        return cls(
            product=product if isinstance(product, Product) else load_product(product),
            dose=parse_dose(dose),
            regimen=ld if isinstance(ld, Regimen) else load_regimen(ld),
            redoses=tuple((float(d), parse_dose(x)) for d, x in redose),
            days=float(days),
            redose_regimen=(
                redose_ld
                if redose_ld is None or isinstance(redose_ld, Regimen)
                else load_regimen(redose_ld)
            ),
            gcsf_from_day=gcsf_from_day,
        )

    @property
    def t_start(self) -> float:
        """Simulation start: two days before the first lymphodepletion (or day -2)."""
        return min(self.regimen.first_day, 0.0) - 2.0

    def infusions(self) -> list[tuple[float, Dose]]:
        return [(0.0, self.dose), *self.redoses]

    def drug_doses(self) -> list[tuple[float, str, float]]:
        out = list(self.regimen.doses())
        if self.redose_regimen is not None:
            for day, _ in self.redoses:
                out += [(day + d, s, mg) for d, s, mg in self.redose_regimen.doses()]
        return sorted(out)


def _sigma_from_cv(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


def sample_parameters(
    table: ParameterTable, n: int, seed: int | np.random.Generator, *, typical: bool = False
) -> dict[str, np.ndarray]:
    """Draw ``n`` virtual patients' primary parameters.

    Parameters with ``iiv > 0`` vary between patients: log-normally around the typical
    value (the median), or logit-normally for fractions bounded by [0, 1] so draws stay
    inside the range. With ``typical=True`` every patient gets the typical values.

    Returns
    -------
    dict of ndarray
        One array of shape (n,) per parameter, in internal units.
    """
    if n < 1:
        raise ParameterError(f"n: {n!r} must be at least 1", argument="n")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    # One standard-normal column per parameter, drawn for all rows in table order so that a
    # patient's draw does not depend on which other parameters vary.
    z = rng.standard_normal((n, len(table.rows)))
    for j, row in enumerate(table.rows):
        if typical or row.iiv == 0:
            out[row.name] = np.full(n, row.value)
            continue
        sigma = _sigma_from_cv(row.iiv)
        if row.lower >= 0 and row.upper == 1 and 0 < row.value < 1:
            logit = math.log(row.value / (1 - row.value)) + sigma * z[:, j]
            vals = 1 / (1 + np.exp(-logit))
        else:
            vals = row.value * np.exp(sigma * z[:, j])
        out[row.name] = np.clip(vals, row.lower, row.upper)
    return out


@dataclass(frozen=True)
class PatientBatch:
    """Everything the solver needs for ``n`` patients of one scenario.

    Attributes
    ----------
    params : ndarray, shape (n, n_params)
        Primary then derived parameters (:func:`allocart.model.codegen.parameter_names`).
    y0 : ndarray, shape (n, n_states)
        Pre-treatment steady state.
    t0 : float
        Start time (days after infusion; negative).
    event_time, event_state, event_op, event_value : ndarray, shape (n, n_events)
        Dosing events (op 0 = add).
    weight_kg : ndarray, shape (n,)
    """

    params: np.ndarray
    y0: np.ndarray
    t0: float
    event_time: np.ndarray
    event_state: np.ndarray
    event_op: np.ndarray
    event_value: np.ndarray
    weight_kg: np.ndarray
    param_names: tuple[str, ...] = field(default_factory=parameter_names)

    @property
    def n(self) -> int:
        return self.params.shape[0]

    def param_dict(self) -> dict[str, np.ndarray]:
        return {k: self.params[:, i] for i, k in enumerate(self.param_names)}


def build_batch(
    scenario: Scenario,
    primary: Mapping[str, np.ndarray],
    weight_kg: np.ndarray | float = TYPICAL_WEIGHT_KG,
) -> PatientBatch:
    """Assemble parameters, baseline states and events for patients of a scenario.

    ``primary`` holds the patients' primary parameters (e.g. from :func:`sample_parameters`);
    the product's parameters replace the table's product rows.

    Raises
    ------
    ParameterError
        If a patient's parameters give no valid steady state (a derived value is not
        finite and positive where it must be).
    """
    names = load_default_parameters().names
    n = len(next(iter(primary.values())))
    prim = {k: np.broadcast_to(np.asarray(primary[k], dtype=float), (n,)).copy() for k in names}
    for k, value in scenario.product.model_parameters().items():
        prim[k] = np.full(n, float(value))
    derived = derived_function()(prim)
    allp = {**prim, **derived}
    bad_mask = np.zeros(n, dtype=bool)
    for k, v in derived.items():
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise ParameterError(
                f"patient {i}: derived parameter `{k}` = {v[i]!r} is not finite; check the parameter values"
            )
        bad_mask |= False
    for k in ("P_0", "k_act", "k_brk", "s_P", "w_Ba"):
        v = derived[k]
        if (v < 0).any():
            i = int(np.argmax(v < 0))
            raise ParameterError(
                f"patient {i}: derived `{k}` = {v[i]:g} is negative, so the baseline B-lineage "
                "steady state does not exist; lower `nu_m`, `nu_a` or `w_Ab`+`w_0`"
            )
    pnames = parameter_names()
    params = np.stack([allp[k] for k in pnames], axis=1)
    y0 = initial_function()(allp)
    weight = np.broadcast_to(np.asarray(weight_kg, dtype=float), (n,)).copy()

    idx = MODEL.state_index
    f_E0 = prim["f_E0"]
    events: list[list[tuple[float, int, int, float]]] = [[] for _ in range(n)]
    for day, state, mg in scenario.drug_doses():
        for i in range(n):
            events[i].append((day, idx(state), 0, mg))
    if scenario.gcsf_from_day is not None:
        for i in range(n):
            events[i].append((scenario.gcsf_from_day, idx("GCSF"), 0, 1.0))
    for day, dose in scenario.infusions():
        cells = np.asarray(dose.cells(weight))
        for i in range(n):
            events[i].append((day, idx("E"), 0, float(f_E0[i] * cells[i])))
            events[i].append((day, idx("M"), 0, float((1 - f_E0[i]) * cells[i])))
    m = max(len(e) for e in events)
    et = np.full((n, m), np.inf)
    es = np.zeros((n, m), dtype=np.int64)
    eo = np.zeros((n, m), dtype=np.int64)
    ev = np.zeros((n, m))
    for i, evs in enumerate(events):
        evs.sort(key=lambda e: e[0])  # stable: same-day events keep their order
        for j, (t_ev, s_ev, o_ev, v_ev) in enumerate(evs):
            et[i, j], es[i, j], eo[i, j], ev[i, j] = t_ev, s_ev, o_ev, v_ev
    return PatientBatch(
        params=params,
        y0=y0,
        t0=scenario.t_start,
        event_time=et,
        event_state=es,
        event_op=eo,
        event_value=ev,
        weight_kg=weight,
    )


def apply_overrides(
    table: ParameterTable, overrides: Mapping[str, Any] | None, origin: str = "params"
) -> ParameterTable:
    """Return ``table`` with user overrides applied (validated, unit-converted)."""
    if not overrides:
        return table
    return table.with_overrides(overrides, origin=origin)
