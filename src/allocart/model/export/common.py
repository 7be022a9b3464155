"""What the mrgsolve, rxode2 and NONMEM exports share: parameters, IIV, doses, time origin.

Every export is generated from :data:`allocart.model.equations.MODEL` (derived parameters,
baseline states, intermediate quantities, ODEs and read-outs) and from the scenario's dosing,
as the numba, JAX and SBML forms are. This module gathers, once for all three formats:

* the parameter rows (the table's value, unit, source, range and between-patient variability,
  with the product's values, which carry no variability, in place of the table's product
  rows);
* the individual-parameter model reproducing :func:`allocart.model.scenario.sample_parameters`:
  ``P = TV * exp(eta)`` for a log-normal parameter, ``P = 1 / (1 + exp(-(logit(TV) + eta)))``
  for a fraction bounded by 0 and 1, with ``omega^2 = log(1 + CV^2)`` in both cases;
* the dosing and lymphodepletion events of the scenario on the export's time axis, whose 0 is
  the scenario's start (day -7 of a flu-cy scenario, two days before the first lymphodepleting
  dose): pharmacometric tools and their data sets start at time 0;
* the CAR-T infusion as one dose of all cells into both CAR-T states, split by bioavailability
  ``f_E0`` (effectors) and ``1 - f_E0`` (memory), so that a patient's own ``f_E0`` splits the
  dose as :func:`allocart.model.scenario.build_batch` does.

Not exported: the clipping of extreme draws to each parameter's allowed range (draws beyond it
have probability below 1e-6 for every log-normal row of the table) and the between-patient
variability of body weight (the exports dose the typical 60 kg patient).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from allocart.model.equations import MODEL, ModelDefinition
from allocart.model.parameters import ParameterTable, load_default_parameters
from allocart.model.scenario import TYPICAL_WEIGHT_KG, Scenario

__all__ = [
    "SECTIONS",
    "eta_name",
    "model_sections",
    "typical_name",
    "ExportParameter",
    "DoseRecord",
    "ExportModel",
    "build_export",
    "individual_expression",
    "observation_times",
    "header_lines",
]

FIXED, LOG, LOGIT = "fixed", "log", "logit"


@dataclass(frozen=True)
class ExportParameter:
    """One primary parameter as the exports write it.

    Attributes
    ----------
    name : str
        Symbol of the equations.
    value : float
        Typical value, in ``unit``.
    unit : str
        Internal unit (time in days).
    iiv : float
        Between-patient coefficient of variation (0: none).
    transform : str
        ``"fixed"`` (no variability), ``"log"`` (log-normal) or ``"logit"`` (logit-normal).
    source, description : str
        From the parameter table (or the product).
    lower, upper : float
        Allowed range.
    """

    name: str
    value: float
    unit: str
    iiv: float
    transform: str
    source: str
    description: str
    lower: float
    upper: float

    @property
    def omega2(self) -> float:
        """Variance of the random effect, ``log(1 + CV^2)`` (0 without variability)."""
        return math.log1p(self.iiv * self.iiv) if self.transform != FIXED else 0.0


@dataclass(frozen=True)
class DoseRecord:
    """A bolus into one state at an export time.

    Attributes
    ----------
    time : float
        Days after the export's time 0 (the scenario's start).
    state : str
        State receiving the dose.
    amount : float
        Amount before bioavailability, in ``unit``.
    unit : str
    what : str
        What the dose is (for comments).
    """

    time: float
    state: str
    amount: float
    unit: str
    what: str


@dataclass(frozen=True)
class ExportModel:
    """A scenario ready to be printed in a pharmacometric format.

    Attributes
    ----------
    title : str
        Product, dose and lymphodepletion.
    parameters : tuple of ExportParameter
        Primary parameters in table order.
    doses : tuple of DoseRecord
        In time order (same-time doses keep the scenario's order).
    t_offset_days : float
        Scenario day (days after the first infusion) of the export's time 0; negative.
    end_time : float
        Export time of the scenario's horizon.
    weight_kg : float
        Body weight used for a per-kg dose.
    bioavailability : dict
        State name to the sympy expression of the fraction of a dose that reaches it.
    model : ModelDefinition
    """

    title: str
    parameters: tuple[ExportParameter, ...]
    doses: tuple[DoseRecord, ...]
    t_offset_days: float
    end_time: float
    weight_kg: float
    bioavailability: Mapping[str, sp.Expr]
    model: ModelDefinition = field(default=MODEL)

    @property
    def varying(self) -> tuple[ExportParameter, ...]:
        """Parameters with between-patient variability, in table order."""
        return tuple(p for p in self.parameters if p.transform != FIXED)

    def parameter(self, name: str) -> ExportParameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)


def _transform(iiv: float, lower: float, upper: float, value: float) -> str:
    """The distribution :func:`allocart.model.scenario.sample_parameters` draws from."""
    if iiv == 0:
        return FIXED
    if lower >= 0 and upper == 1 and 0 < value < 1:
        return LOGIT
    return LOG


def build_export(
    scenario: Scenario,
    table: ParameterTable | None = None,
    *,
    weight_kg: float = TYPICAL_WEIGHT_KG,
    model: ModelDefinition = MODEL,
) -> ExportModel:
    """Collect what every pharmacometric export of ``scenario`` needs.

    Parameters
    ----------
    scenario : Scenario
        Product, dose, lymphodepletion, redoses and horizon.
    table : ParameterTable, optional
        Parameter table (the default table with any overrides); default: the built-in one.
    weight_kg : float
        Body weight (kg) converting a per-kg dose to cells; default 60 kg, the typical
        patient of ``allocart simulate --typical``.

    Returns
    -------
    ExportModel
    """
    table = load_default_parameters() if table is None else table
    product_values = scenario.product.model_parameters()
    params = []
    for row in table.rows:
        if row.name in product_values:
            value = float(product_values[row.name])
            params.append(
                ExportParameter(
                    row.name,
                    value,
                    row.unit,
                    0.0,
                    FIXED,
                    f"product {scenario.product.name} (table: {row.source})",
                    row.description,
                    row.lower,
                    row.upper,
                )
            )
            continue
        params.append(
            ExportParameter(
                row.name,
                row.value,
                row.unit,
                row.iiv,
                _transform(row.iiv, row.lower, row.upper, row.value),
                row.source,
                row.description,
                row.lower,
                row.upper,
            )
        )
    t0 = scenario.t_start
    units = {s.name: s.unit for s in model.states}
    raw: list[tuple[float, str, float, str]] = []
    for day, state, mg in scenario.drug_doses():
        raw.append((day, state, float(mg), f"lymphodepletion ({state}) on day {day:g}"))
    if scenario.gcsf_from_day is not None:
        raw.append((scenario.gcsf_from_day, "GCSF", 1.0, "G-CSF allowed from this day"))
    for day, dose in scenario.infusions():
        cells = float(np.asarray(dose.cells(weight_kg)))
        what = f"CAR-T infusion of {cells:g} cells on day {day:g}"
        raw.append((day, "E", cells, what + " (effector share f_E0)"))
        raw.append((day, "M", cells, what + " (memory share 1 - f_E0)"))
    raw.sort(key=lambda r: r[0])  # stable: same-day doses keep their order
    doses = tuple(DoseRecord(day - t0, s, a, units[s], w) for day, s, a, w in raw)
    f_E0 = sp.Symbol("f_E0")
    return ExportModel(
        title=f"allocart: {scenario.product.name}, dose {scenario.dose}, "
        f"lymphodepletion {scenario.regimen.name}",
        parameters=tuple(params),
        doses=doses,
        t_offset_days=t0,
        end_time=scenario.days - t0,
        weight_kg=float(weight_kg),
        bioavailability={"E": f_E0, "M": 1 - f_E0},
        model=model,
    )


def individual_expression(p: ExportParameter, typical: sp.Expr, eta: sp.Expr) -> sp.Expr:
    """A patient's value of ``p`` from its typical value and random effect.

    Log-normal: ``typical * exp(eta)``; logit-normal: ``1 / (1 + exp(-(logit(typical) +
    eta)))``, as :func:`allocart.model.scenario.sample_parameters` draws them.
    """
    if p.transform == LOG:
        return typical * sp.exp(eta)
    if p.transform == LOGIT:
        return 1 / (1 + sp.exp(-(sp.log(typical / (1 - typical)) + eta)))
    return typical


def observation_times(export: ExportModel, dt: float = 1.0) -> np.ndarray:
    """Output grid from the export's time 0 to the horizon, every ``dt`` days, with the
    scenario's own output days (``allocart simulate`` writes days 0, dt, ...) on it."""
    own = np.arange(0.0, export.end_time + export.t_offset_days + dt / 2, dt)
    return np.union1d(np.arange(0.0, export.end_time + dt / 2, dt), own - export.t_offset_days)


def header_lines(export: ExportModel) -> list[str]:
    """Comment lines every export starts with (without comment characters)."""
    return [
        export.title,
        "Generated by allocart from its model definition (model/equations.py).",
        f"Time is in days. Time 0 is the scenario's start, day {export.t_offset_days:g} after "
        "the first CAR-T infusion",
        f"(t_offset_days = {export.t_offset_days:g}): scenario day = time + "
        f"({export.t_offset_days:g}). Simulate from 0 to {export.end_time:g}.",
        f"Doses are for a {export.weight_kg:g} kg patient. Units: cells as whole-body counts,",
        "IgG/C3/C4 g/L, anti-dsDNA IU/mL, IL-6 pg/mL, lymphodepleting drugs mg/m2 in the body,",
        "blood counts 1e9/L.",
        "Baseline states are the pre-treatment steady state, derived from the parameters.",
    ]


def typical_name(name: str) -> str:
    """Name of the typical value of a parameter with variability (``tv_<name>``)."""
    return f"tv_{name}"


def eta_name(name: str) -> str:
    """Name of a parameter's random effect (``eta_<name>``)."""
    return f"eta_{name}"


#: The parts of the model every model file writes, each with the comment that opens it.
SECTIONS = {
    "individual": "individual parameters",
    "derived": "derived parameters (baseline steady state and normalisers)",
    "bioavailability": "CAR-T dose split between effector and memory states",
    "initial": "baseline states (pre-treatment steady state)",
    "intermediates": "intermediate quantities",
    "odes": "ODEs (per day)",
    "observables": "read-outs",
}


def _section_items(export: ExportModel, part: str) -> list[tuple[str, sp.Expr, object]]:
    """(name, expression, the state, read-out or parameter, or None) of each item of a part of
    the model; the individual parameters are those with variability, from their typical value
    and random effect (:func:`typical_name`, :func:`eta_name`)."""
    m = export.model
    if part == "individual":
        return [
            (
                p.name,
                individual_expression(
                    p, sp.Symbol(typical_name(p.name)), sp.Symbol(eta_name(p.name))
                ),
                p,
            )
            for p in export.varying
        ]
    if part == "derived":
        return [(name, expr, None) for name, expr in m.derived.items()]
    if part == "bioavailability":
        return [(state, expr, None) for state, expr in export.bioavailability.items()]
    if part == "initial":
        return [(st.name, m.initial[st.name], st) for st in m.states]
    if part == "intermediates":
        return [(name, expr, None) for name, expr in m.intermediates.items()]
    if part == "odes":
        return [(st.name, m.odes[st.name], st) for st in m.states]
    return [(ob.name, ob.expr, ob) for ob in m.observables]


def model_sections(
    export: ExportModel,
    comment: str,
    writers: Mapping[str, Callable[[str, sp.Expr, Any], str | list[str]]],
) -> list[str]:
    """The parts of the model named by ``writers`` (keys of :data:`SECTIONS`), in their order.

    Each part opens with ``comment`` and its :data:`SECTIONS` text; its writer turns every
    item (name, expression, and the :class:`State` or :class:`Observable` it belongs to, or
    None) into the tool's line or lines.
    """
    lines = []
    for part, write in writers.items():
        lines.append(f"{comment}{SECTIONS[part]}")
        for name, expr, item in _section_items(export, part):
            written = write(name, expr, item)
            lines += [written] if isinstance(written, str) else written
    return lines
