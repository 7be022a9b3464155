"""3+3: rules, exact enumeration, and agreement of simulation with enumeration."""

import numpy as np
import pytest

from allocart.design import (
    Action,
    DoseData,
    ScenarioOutcomes,
    ThreePlusThree,
    exact_oc_3plus3,
    simulate_oc,
)

SCENARIO = ScenarioOutcomes(p_tox=(0.05, 0.12, 0.25, 0.40, 0.55))
#: Simulated selection % must lie within 4 binomial standard errors of the exact value: the
#: probability that any of 6 cells (5 doses + none) exceeds it by chance is below 4e-4.
N_SE = 4.0


def _check_agreement(n_trials: int, seed: int, expand: bool) -> None:
    design = ThreePlusThree(expand_mtd=expand)
    exact = exact_oc_3plus3(design, SCENARIO)
    sim = simulate_oc(design, SCENARIO, n_trials, seed)
    p = np.append(exact.selection_pct, exact.no_selection_pct) / 100
    q = np.append(sim.selection_pct, sim.no_selection_pct) / 100
    se = np.sqrt(p * (1 - p) / n_trials)
    assert np.all(np.abs(q - p) <= N_SE * se + 1e-12)
    assert exact.exact and not sim.exact


@pytest.mark.parametrize("expand", [True, False])
def test_exact_vs_simulated_small(expand):
    _check_agreement(20_000, 3, expand)


@pytest.mark.slow
@pytest.mark.acceptance
@pytest.mark.parametrize("expand", [True, False])
def test_exact_vs_simulated_1e5(expand):
    _check_agreement(100_000, 4, expand)


def test_exact_probabilities_sum_to_one():
    r = exact_oc_3plus3(ThreePlusThree(), SCENARIO)
    assert r.selection_pct.sum() + r.no_selection_pct == pytest.approx(100.0)


def test_exact_single_dose_closed_form():
    # One dose, p: MTD iff 0/3 then (expanded) <=1/6 overall, or 1/3 then 0/3.
    p = 0.2
    r = exact_oc_3plus3(ThreePlusThree(), ScenarioOutcomes(p_tox=(p,)))
    q0, q1 = (1 - p) ** 3, 3 * p * (1 - p) ** 2
    expected = q0 * (q0 + q1) + q1 * q0
    assert r.selection_pct[0] / 100 == pytest.approx(expected)


def test_rules():
    d = ThreePlusThree()
    assert d.recommend(DoseData((3, 0), (0, 0)), 0).action is Action.ESCALATE
    assert d.recommend(DoseData((3, 0), (1, 0)), 0).action is Action.STAY
    rec = d.recommend(DoseData((3, 3), (0, 2)), 1)
    assert rec.action is Action.DEESCALATE and rec.next_dose == 0
    assert (
        ThreePlusThree(expand_mtd=False).recommend(DoseData((3, 3), (0, 2)), 1).action
        is Action.STOP
    )
    assert d.recommend(DoseData((3,), (2,)), 0).next_dose is None
