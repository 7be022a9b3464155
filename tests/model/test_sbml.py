"""The SBML export, simulated by libRoadRunner, reproduces ``allocart simulate --typical --states``."""

import libsbml
import numpy as np
import pytest

from allocart.model.equations import MODEL
from allocart.model.products import list_products
from allocart.model.sbml import to_sbml
from allocart.model.simulate import simulate

roadrunner = pytest.importorskip("roadrunner")

# Required agreement (issue acceptance): max relative difference on states above 1e-6 of
# their own maximum. Both solvers run far tighter than this (allocart rtol 1e-8; CVODE
# rtol 1e-10), so the bound tests the export, not solver noise.
MAX_REL_DIFF = 1e-4
SIGNIFICANT = 1e-6


@pytest.mark.parametrize("product", list_products())
def test_roadrunner_reproduces_simulate(product):
    sim = simulate(product, "1e6/kg", "flu-cy", typical=True, days=365, dt=1.0)
    xml = to_sbml(sim.scenario, sim.batch)
    doc = libsbml.readSBMLFromString(xml)
    doc.checkConsistency()
    errors = [
        doc.getError(i).getMessage()
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    assert not errors
    rr = roadrunner.RoadRunner(xml)
    # Adams (non-stiff) CVODE: the model is only mildly stiff; BDF's error test fails on
    # some products once CAR-T have decayed to ~1e-35 cells.
    rr.integrator.stiff = False
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-9
    rr.integrator.maximum_num_steps = 500_000
    rr.timeCourseSelections = ["time", *MODEL.state_names]
    res = np.array(rr.simulate(times=np.concatenate([[sim.batch.t0], sim.time])))[1:, 1:]
    ours = sim.states[0]
    for i, name in enumerate(MODEL.state_names):
        mx = np.abs(ours[:, i]).max()
        mask = np.abs(ours[:, i]) > SIGNIFICANT * mx
        if not mask.any():
            continue
        rel = np.abs(res[mask, i] - ours[mask, i]) / np.abs(ours[mask, i])
        assert rel.max() <= MAX_REL_DIFF, (name, rel.max())


def test_export_has_one_event_per_dosing_time():
    sim = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", typical=True, days=10)
    doc = libsbml.readSBMLFromString(to_sbml(sim.scenario, sim.batch))
    m = doc.getModel()
    times = sorted(
        float(libsbml.formulaToL3String(m.getEvent(i).getTrigger().getMath()).split(">=")[1])
        for i in range(m.getNumEvents())
    )
    assert times == [-5.0, -4.0, -3.0, 0.0]
    assert m.getNumSpecies() == len(MODEL.states)
    assert {m.getSpecies(i).getId() for i in range(m.getNumSpecies())} == set(MODEL.state_names)
