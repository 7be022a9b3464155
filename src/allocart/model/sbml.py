"""SBML Level 3 export of a complete scenario, generated from the model definition.

The document holds every state as a species with a rate rule, every parameter (primary and
derived, with the typical patient's values or a given patient's), the intermediate
quantities and the assay read-outs as assignment rules, and one event per dosing time
(lymphodepleting drugs and CAR-T infusions).

Time 0 of the document is the scenario's start (day -7 of a flu-cy scenario: two days before
the first lymphodepleting dose), so that a simulator started at 0 with its default settings,
as Tellurium, COPASI and libRoadRunner are, applies every event and reproduces
``allocart simulate --typical --states``. The offset is the constant parameter
``t_offset_days`` (scenario day of time 0, negative) and is stated in the notes: scenario day =
time + t_offset_days.

Every species, compartment and parameter has units (time in days): those of the parameter
table, the states and the read-outs, and for derived parameters and intermediate quantities
the units of their expressions (:mod:`allocart.model.export.units`); numbers carry units too
(dimensionless in the equations, days in event triggers, the dosed state's unit in event
assignments), so libSBML's unit-consistency check has nothing to report.
"""

from __future__ import annotations

from collections import defaultdict

import libsbml
import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from allocart.errors import ModelError
from allocart.model.codegen import parameter_names
from allocart.model.equations import MODEL, ModelDefinition
from allocart.model.export.units import (
    DIMENSIONLESS,
    Unit,
    add_unit_definition,
    parse_unit,
    unit_of,
)
from allocart.model.parameters import ParameterTable, load_default_parameters
from allocart.model.scenario import PatientBatch, Scenario

__all__ = ["to_sbml", "sbml_formula", "model_units", "add_event"]


class _L3Printer(StrPrinter):
    """Prints sympy expressions in libSBML's Level 3 infix syntax.

    Numbers are written with the unit ``dimensionless`` (every number in the equations is),
    so that unit checks can verify the expressions completely.
    """

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.as_base_exp()
        if exp == sp.Rational(1, 2):
            return f"sqrt({self._print(base)})"
        return f"pow({self._print(base)}, {self._print(exp)})"

    def _print_log(self, expr: sp.log) -> str:
        return f"ln({self._print(expr.args[0])})"

    def _print_Rational(self, expr: sp.Rational) -> str:
        return _number(float(expr))

    def _print_Integer(self, expr: sp.Integer) -> str:
        return _number(float(expr))

    def _print_Float(self, expr: sp.Float) -> str:
        return _number(float(expr))


def _number(x: float, unit: str = "dimensionless") -> str:
    """A number with its unit in Level 3 infix syntax (negative numbers parenthesised)."""
    text = f"{abs(x)!r} {unit}"
    return f"(-{text})" if x < 0 else text


def sbml_formula(expr: sp.Expr) -> str:
    """The Level 3 infix formula of ``expr``, numbers marked dimensionless."""
    return _L3Printer().doprint(expr)


def _check(code: int, what: str) -> None:
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ModelError(
            f"SBML export failed while setting {what}: {libsbml.OperationReturnValue_toString(code)}"
        )


def _math(formula: str, what: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise ModelError(
            f"SBML export: cannot parse the formula of {what}: {libsbml.getLastParseL3Error()}"
        )
    return ast


def add_event(
    m: libsbml.Model,
    event_id: str,
    trigger: libsbml.ASTNode,
    assignments: list[tuple[str, libsbml.ASTNode]],
    *,
    fires_at_start: bool,
) -> None:
    """Add a persistent event to ``m`` that assigns with the values at its trigger time.

    Parameters
    ----------
    m : libsbml.Model
    event_id : str
    trigger : libsbml.ASTNode
        Condition that fires the event when it turns true.
    assignments : list of (str, libsbml.ASTNode)
        Variable and new value of each event assignment.
    fires_at_start : bool
        Whether a trigger already true at time 0 fires then (SBML ``initialValue`` false, as
        for a dose at time 0) or only once it has been false (``initialValue`` true).
    """
    ev = m.createEvent()
    ev.setId(event_id)
    ev.setUseValuesFromTriggerTime(True)
    trig = ev.createTrigger()
    trig.setInitialValue(not fires_at_start)
    trig.setPersistent(True)
    trig.setMath(trigger)
    for variable, value in assignments:
        ea = ev.createEventAssignment()
        ea.setVariable(variable)
        ea.setMath(value)


def model_units(
    model: ModelDefinition = MODEL, table: ParameterTable | None = None
) -> dict[str, Unit]:
    """Unit of every parameter (primary and derived), state, intermediate and read-out.

    Primary parameters, states and read-outs take their declared unit strings; derived
    parameters and intermediate quantities the units of their expressions, in order.
    """
    table = load_default_parameters() if table is None else table
    units: dict[str, Unit] = {r.name: parse_unit(r.unit) for r in table.rows}
    units |= {st.name: parse_unit(st.unit) for st in model.states}
    for name, expr in (*model.derived.items(), *model.intermediates.items()):
        units[name] = unit_of(expr, units.__getitem__)
    units |= {ob.name: parse_unit(ob.unit) for ob in model.observables}
    return units


#: CAR-T cells below which a clone counts as extinct in the SBML export (a billionth of a cell).
EXTINCT_CELLS = 1e-9


def to_sbml(
    scenario: Scenario,
    batch: PatientBatch,
    *,
    patient: int = 0,
    model: ModelDefinition = MODEL,
) -> str:
    """Write the scenario for one patient of ``batch`` as an SBML Level 3 Version 2 document.

    Parameters
    ----------
    scenario : Scenario
        Product, dose, regimen and redoses (for names and notes).
    batch : PatientBatch
        Built by :func:`allocart.model.scenario.build_batch`; gives the parameter values,
        baseline states and dosing events.
    patient : int
        Which patient of the batch to export.

    Returns
    -------
    str
        The SBML document. Time is in days from the scenario's start (``batch.t0`` days after
        the first infusion, stored as the parameter ``t_offset_days``): simulate from 0.
    """
    t0 = float(batch.t0)
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId("allocart_" + scenario.product.name.replace("-", "_"))
    m.setName(f"allocart: {scenario.product.name}, dose {scenario.dose}, {scenario.regimen.name}")
    m.setNotes(
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>Generated by allocart from its model "
        f"definition. Time is in days; time 0 is the scenario's start, day {t0:g} after the "
        f"first CAR-T infusion (parameter t_offset_days = {t0:g}): scenario day = time + "
        "t_offset_days. Simulate from 0; the horizon of "
        f"{scenario.days:g} days after the infusion is time {scenario.days - t0:g}.</p></body>"
    )
    table = load_default_parameters()
    units = model_units(model, table)
    day = add_unit_definition(m, parse_unit("day"))
    m.setTimeUnits(day)
    m.setSubstanceUnits(add_unit_definition(m, parse_unit("cells")))
    m.setExtentUnits(add_unit_definition(m, parse_unit("cells")))
    m.setVolumeUnits("litre")

    comp = m.createCompartment()
    comp.setId("body")
    comp.setSize(1.0)
    comp.setConstant(True)
    comp.setSpatialDimensions(3)
    comp.setUnits("litre")

    off = m.createParameter()
    off.setId("t_offset_days")
    off.setName("scenario day of time 0 (days after the first infusion)")
    off.setValue(t0)
    off.setConstant(True)
    off.setUnits(day)

    pnames = parameter_names(model)
    pvals = batch.params[patient]
    for name, value in zip(pnames, pvals):
        p = m.createParameter()
        _check(p.setId(name), f"parameter {name}")
        p.setValue(float(value))
        p.setConstant(True)
        p.setUnits(add_unit_definition(m, units[name]))
        if name in table:
            row = table[name]
            p.setName(row.description[:200])

    for i, st in enumerate(model.states):
        s = m.createSpecies()
        _check(s.setId(st.name), f"species {st.name}")
        s.setName(st.description)
        substance, size_unit = _species_units(units[st.name])
        s.setSubstanceUnits(add_unit_definition(m, substance))
        s.setBoundaryCondition(False)
        s.setConstant(False)
        value = float(batch.y0[patient, i])
        if size_unit is None:  # an amount (cells, activation 0-1)
            s.setCompartment("body")
            s.setHasOnlySubstanceUnits(True)
            s.setInitialAmount(value)
        else:  # a concentration, in a compartment of size 1 of the denominator's unit
            s.setCompartment(_compartment(m, size_unit))
            s.setHasOnlySubstanceUnits(False)
            s.setInitialConcentration(value)

    for name, expr in model.intermediates.items():
        p = m.createParameter()
        _check(p.setId(name), f"intermediate {name}")
        p.setConstant(False)
        p.setUnits(add_unit_definition(m, units[name]))
        r = m.createAssignmentRule()
        r.setVariable(name)
        r.setMath(_math(sbml_formula(expr), name))
    for ob in model.observables:
        p = m.createParameter()
        _check(p.setId(ob.name), f"observable {ob.name}")
        p.setName(f"{ob.description} [{ob.unit}]")
        p.setConstant(False)
        p.setUnits(add_unit_definition(m, units[ob.name]))
        r = m.createAssignmentRule()
        r.setVariable(ob.name)
        r.setMath(_math(_scaled(m, ob.expr, units[ob.name], units), ob.name))

    for st in model.states:
        r = m.createRateRule()
        r.setVariable(st.name)
        rhs = model.odes[st.name]
        if rhs.is_Number:  # a constant state (set by events): its rate in its unit per day
            rate = add_unit_definition(m, units[st.name] / parse_unit("day"))
            formula = _number(float(rhs), rate)
        else:
            formula = sbml_formula(rhs)
        r.setMath(_math(formula, f"d{st.name}/dt"))

    # One event per dosing time so simultaneous doses are applied together; times shifted so
    # that the scenario's start is time 0.
    by_time: dict[float, list[tuple[int, int, float]]] = defaultdict(list)
    et = batch.event_time[patient]
    for j in range(et.shape[0]):
        if np.isfinite(et[j]):
            by_time[float(et[j]) - t0].append(
                (
                    int(batch.event_state[patient, j]),
                    int(batch.event_op[patient, j]),
                    float(batch.event_value[patient, j]),
                )
            )
    for k, (t_ev, items) in enumerate(sorted(by_time.items())):
        if t_ev < 0:
            raise ModelError(
                f"SBML export: a dose at day {t_ev + t0:g} lies before the scenario's start "
                f"(day {t0:g})"
            )
        totals: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for s_idx, op, value in items:
            totals[s_idx].append((op, value))
        assignments = []
        for s_idx, ops in totals.items():
            name = model.states[s_idx].name
            unit = add_unit_definition(m, units[name])
            formula = name
            for op, value in ops:
                formula = {
                    0: f"({formula}) + {_number(value, unit)}",
                    1: f"({formula}) * {_number(value)}",
                    2: f"{_number(value, unit)}",
                }[op]
            assignments.append((name, _math(formula, f"event assignment to {name}")))
        # A dose at time 0 itself fires at the start.
        add_event(
            m,
            f"dose_{k}",
            _math(f"time >= {_number(t_ev, day)}", f"event at time {t_ev:g}"),
            assignments,
            fires_at_start=True,
        )

    # A rejected graft decays to ~1e-47 cells. SBML tools scale their default absolute
    # tolerance by each species' initial amount (0 for CAR-T), so CVODE then controls the
    # relative error of those meaningless amounts and stops (libRoadRunner: error-test failures
    # near day 357). Below a billionth of a cell the clone is extinct: set it to 0, which leaves
    # every read-out unchanged within the solver's tolerance and lets default settings run.
    # Only the infused states (E, M): a clone fed by another (exhausted cells, from effectors)
    # is left to the model, whose tail the extinction of its source already ends.
    infused = {
        model.states[int(s_idx)].name
        for s_idx in np.unique(batch.event_state[patient][np.isfinite(batch.event_time[patient])])
    }
    for state in model.states:
        if state.group != "car_t" or state.unit != "cells" or state.name not in infused:
            continue
        unit = add_unit_definition(m, units[state.name])
        # The state starts below the threshold (0 before the infusion) without firing; the
        # event fires when a graft falls below it.
        add_event(
            m,
            f"extinct_{state.name}",
            _math(f"{state.name} < {_number(EXTINCT_CELLS, unit)}", f"extinction of {state.name}"),
            [(state.name, _math(_number(0.0, unit), f"extinction of {state.name}"))],
            fires_at_start=False,
        )

    return libsbml.writeSBMLToString(doc)


def _species_units(unit: Unit) -> tuple[Unit, Unit | None]:
    """Substance unit and compartment-size unit of a state (None: an amount).

    SBML substance units are items, grams or dimensionless: a concentration (g/L, IU/mL,
    pg/mL, 1e9/L) is a substance in a volume, a dose per body surface (mg/m2) a substance on
    an area. A dimensionless substance (IU) keeps the factor in the volume (mL).
    """
    size = Unit(tuple((b, -e) for b, e in unit.exps if b in ("litre", "metre") and e < 0))
    if size.dimensionless:
        return unit, None
    substance = unit * size
    if substance.dimensionless and substance.factor != 1.0:
        size = Unit(size.exps, 1.0 / substance.factor)
        substance = DIMENSIONLESS
    return substance, size


def _compartment(m: libsbml.Model, size: Unit) -> str:
    """A compartment of size 1 in ``size`` units (volume or area), created once."""
    uid = add_unit_definition(m, size)
    cid = "per_" + uid
    if m.getCompartment(cid) is None:
        comp = m.createCompartment()
        comp.setId(cid)
        comp.setName(f"reference {'area' if 'metre' in uid else 'volume'} of concentrations")
        comp.setSize(1.0)
        comp.setConstant(True)
        comp.setSpatialDimensions(2 if "metre" in uid else 3)
        comp.setUnits(uid)
    return cid


def _scaled(m: libsbml.Model, expr: sp.Expr, declared: Unit, units: dict[str, Unit]) -> str:
    """Formula of a read-out whose numeric factor converts units (x1e6 for copies per ug of
    DNA, /1000 for 1e9/L, x100 for %): that number is given the unit ``declared / rest`` (a
    scaled dimensionless unit), so the formula is consistent in magnitude, not only in kind."""
    coeff, rest = expr.as_coeff_Mul()
    rest_unit = unit_of(rest, units.__getitem__)
    if coeff == 1 or not rest_unit.same_kind(declared) or rest_unit.factor == declared.factor:
        return sbml_formula(expr)
    conversion = add_unit_definition(m, Unit((), declared.factor / rest_unit.factor))
    return f"{_number(float(coeff), conversion)} * ({sbml_formula(rest)})"
