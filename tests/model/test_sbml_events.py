"""The one way SBML events are written: persistent, values from trigger time, assignments."""

from __future__ import annotations

import libsbml
import pytest

from allocart.model.sbml import add_event


@pytest.mark.parametrize("fires_at_start", [True, False])
def test_add_event(fires_at_start: bool) -> None:
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    add_event(
        m,
        "dose_0",
        libsbml.parseL3Formula("time >= 2"),
        [("x", libsbml.parseL3Formula("x + 1")), ("y", libsbml.parseL3Formula("0"))],
        fires_at_start=fires_at_start,
    )
    assert m.getNumEvents() == 1
    ev = m.getEvent(0)
    assert ev.getId() == "dose_0"
    assert ev.getUseValuesFromTriggerTime()
    trig = ev.getTrigger()
    # SBML initialValue false: a trigger true at time 0 fires at the start.
    assert trig.getInitialValue() is (not fires_at_start)
    assert trig.getPersistent()
    assert libsbml.formulaToL3String(trig.getMath()) == "time >= 2"
    assignments = [
        (ev.getEventAssignment(k).getVariable(), ev.getEventAssignment(k).getMath())
        for k in range(ev.getNumEventAssignments())
    ]
    assert [(v, libsbml.formulaToL3String(e)) for v, e in assignments] == [
        ("x", "x + 1"),
        ("y", "0"),
    ]
