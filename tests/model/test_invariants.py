"""Invariants of the model that must hold whatever the calibration."""

import numpy as np
import pytest

from allocart.model.codegen import rhs_python
from allocart.model.equations import MODEL
from allocart.model.parameters import load_default_parameters
from allocart.model.products import list_products, load_product
from allocart.model.scenario import Scenario, build_batch, sample_parameters
from allocart.model.simulate import simulate

from .helpers import evaluate_intermediate

# Steady state is exact by construction; the residual is round-off of terms of size
# |rate x state|, so it is compared with that scale.
STEADY_RTOL = 1e-10
# The engine holds each state within its absolute tolerance of the truth; a state may dip
# below zero by at most a few absolute tolerances.
NEGATIVE_SLACK_ATOLS = 10.0


def test_baseline_is_a_steady_state_for_sampled_patients():
    table = load_default_parameters()
    primary = sample_parameters(table, 50, np.random.default_rng(3))
    batch = build_batch(Scenario.create("autologous-cd19", "1e6/kg", "none"), primary)
    rhs = rhs_python()
    dy = np.empty(batch.y0.shape[1])
    for i in range(batch.n):
        rhs(0.0, batch.y0[i], batch.params[i], dy)
        scale = np.maximum(np.abs(batch.y0[i]), 1e-300)
        # each state's derivative relative to the state itself (per day)
        assert np.all(np.abs(dy) <= STEADY_RTOL * scale + 1e-12), MODEL.state_names[
            int(np.argmax(np.abs(dy) / scale))
        ]


def test_no_car_t_and_no_lymphodepletion_stays_at_steady_state():
    sim = simulate("autologous-cd19", "1e6/kg", "none", typical=True, days=365, dt=5)
    # remove the infusion: rebuild with zero dose events
    batch = sim.batch
    values = batch.event_value.copy()
    values[:] = 0.0
    from dataclasses import replace

    from allocart.model.simulate import solve

    res = solve(replace(batch, event_value=values), sim.time)
    drift = np.abs(res.y[0] - batch.y0[0][None, :]) / np.maximum(np.abs(batch.y0[0]), 1e-12)
    nonzero = np.abs(batch.y0[0]) > 0
    assert drift[:, nonzero].max() < 1e-7
    assert np.abs(res.y[0][:, ~nonzero]).max() == 0.0


@pytest.mark.parametrize("product", ["autologous-cd19", "autologous-cd19-bcma", "autologous-cd20"])
def test_autologous_products_have_zero_rejection_flux(product):
    sim = simulate(product, "1e6/kg", "flu-cy", n=20, seed=1, dt=1.0, days=200, rtol=1e-6)
    r_allo = evaluate_intermediate("R_allo", sim)
    assert np.all(r_allo == 0.0)


def test_dual_cd19_cd20_depletes_at_least_as_much_as_cd19_alone(tmp_path):
    dual = tmp_path / "dual.yaml"
    dual.write_text("name: autologous-cd19cd20\norigin: autologous\ntargets: [CD19, CD20]\n")
    kw = dict(n=20, seed=5, days=60, dt=0.5, rtol=1e-8)
    single = simulate("autologous-cd19", "1e6/kg", "flu-cy", **kw)
    both = simulate(str(dual), "1e6/kg", "flu-cy", **kw)
    lineage = ["P", "Bn", "Bm", "Ba", "PBn", "PBa"]
    b1 = sum(single.state(s) for s in lineage)
    b2 = sum(both.state(s) for s in lineage)
    # Structurally, the OR gate recognises every subset at least as well.
    for r in ("r_P", "r_B", "r_PB", "r_LL"):
        assert np.all(evaluate_intermediate(r, both) >= evaluate_intermediate(r, single))
    # Depth (nadir), burden (area over the first four weeks) and duration of aplasia are at
    # least as favourable with the dual CAR, up to a second-order feedback: faster antigen
    # clearance shortens the expansion window, which in weak expanders lowers the CAR-T peak
    # by ~1e-4 and the B-lineage burden by ~1e-6 relative. The tolerance covers that.
    feedback_rtol = 1e-4
    early = single.time <= 28
    auc1 = np.trapezoid(b1[:, early], single.time[early], axis=1)
    auc2 = np.trapezoid(b2[:, early], single.time[early], axis=1)
    assert np.all(auc2 <= auc1 * (1 + feedback_rtol))
    assert np.mean(auc2 < auc1) > 0.9
    assert np.all(b2.min(axis=1) <= b1.min(axis=1) * (1 + feedback_rtol))
    below1 = (single.observables["b_cells_per_ul"] < 1).sum(axis=1)
    below2 = (both.observables["b_cells_per_ul"] < 1).sum(axis=1)
    assert np.all(below2 >= below1)


@pytest.mark.parametrize("product", ["autologous-cd19", "allogeneic-cd19cd20", "autologous-cd20"])
def test_long_lived_plasma_cells_are_not_killed_by_cd19_or_cd20_products(product):
    sim = simulate(product, "1e6/kg", "flu-cy", n=10, seed=2, days=120, rtol=1e-6)
    for name in ("kill_LLn", "kill_LLa"):
        assert np.all(evaluate_intermediate(name, sim) == 0.0)


def test_bcma_product_kills_long_lived_plasma_cells():
    sim = simulate("autologous-cd19-bcma", "1e6/kg", "flu-cy", typical=True, days=120)
    assert evaluate_intermediate("kill_LLa", sim).max() > 0
    assert sim.state("LLa")[0, -1] < 0.5 * sim.state("LLa")[0, 0]


@pytest.mark.parametrize("product", list_products())
def test_higher_dose_never_lowers_the_car_t_peak(product):
    doses = ["1e5/kg", "3e5/kg", "1e6/kg", "3e6/kg", "1e7/kg"]
    peaks = []
    for d in doses:
        sim = simulate(product, d, "flu-cy", n=8, seed=4, days=60, dt=0.25, rtol=1e-8)
        peaks.append(sim.observables["car_t_cells_per_ul"].max(axis=1))
    peaks = np.array(peaks)
    assert np.all(np.diff(peaks, axis=0) >= -1e-6 * peaks[1:])


@pytest.mark.parametrize("product", list_products())
def test_states_stay_non_negative(product):
    sim = simulate(product, "3e8", "flu-cy", n=30, seed=7, days=365, rtol=1e-6)
    assert np.all(sim.status == 0)
    atol = np.array([s.atol for s in MODEL.states])
    assert np.all(sim.states >= -NEGATIVE_SLACK_ATOLS * atol)


def test_product_rules_follow_the_edits():
    auto = load_product("autologous-cd19").model_parameters()
    intact = load_product("allogeneic-cd19").model_parameters()
    edited = load_product("allogeneic-cd19-hla-edited").model_parameters()
    b2m = load_product("allogeneic-cd19cd20").model_parameters()
    assert auto["m_allo"] == 0 and intact["m_allo"] == 1
    assert 0 < edited["m_allo"] < intact["m_allo"] and edited["p_HLAI"] == 1
    assert b2m["p_HLAI"] == 0 and b2m["u_NKG2A"] == 1 and b2m["u20"] == 1
    assert load_product("autologous-cd19-bcma").model_parameters()["uB"] == 1


def _redose_exposure(product):
    from allocart.model.codegen import observables_function
    from allocart.model.simulate import solve

    sc = Scenario.create(
        product, "1e6/kg", "flu-cy", days=300, redose=[(150, "1e6/kg")], redose_ld="flu-cy"
    )
    batch = build_batch(sc, sample_parameters(load_default_parameters(), 1, 0, typical=True))
    t = np.arange(0, 301.0)
    car = observables_function()(solve(batch, t).y, batch.param_dict())["car_t_cells_per_ul"][0]
    first, second = t < 150, t >= 150
    return car[first].sum(), car[second].sum(), car[first].max(), car[second].max()


def test_anti_car_immunity_lowers_exposure_after_redosing(tmp_path):
    humanised = tmp_path / "h.yaml"
    humanised.write_text("name: h\norigin: autologous\ntargets: [CD19]\nparameters: {imm_CAR: 0}\n")
    auc_imm = _redose_exposure("autologous-cd19")[1]
    auc_none = _redose_exposure(str(humanised))[1]
    assert auc_imm < 0.9 * auc_none


def test_alloimmune_memory_rejects_a_redose_faster():
    auc1, auc2, peak1, peak2 = _redose_exposure("allogeneic-cd19")
    assert peak2 < peak1 and auc2 < 0.5 * auc1
