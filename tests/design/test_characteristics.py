"""operating_characteristics: exact for the 3+3, the simulator for the others, one signature."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.design import (
    BFBOIN,
    BOIN,
    BOIN12,
    CRM,
    TITEBOIN,
    Accrual,
    ScenarioOutcomes,
    ThreePlusThree,
    exact_oc_3plus3,
    operating_characteristics,
    simulate_oc,
)
from allocart.errors import DesignError

P_TOX = (0.05, 0.12, 0.25, 0.4, 0.55)
P_EFF = (0.1, 0.25, 0.4, 0.45, 0.5)
#: Far below one patient per window: every decision has complete follow-up.
COMPLETE = Accrual(per_month=1e-7, dlt_window_months=1.0)


def test_three_plus_three_is_exact():
    r = operating_characteristics(ThreePlusThree(), P_TOX)
    ex = exact_oc_3plus3(ThreePlusThree(), ScenarioOutcomes(P_TOX))
    assert r.exact and r.n_trials == 0
    np.testing.assert_array_equal(r.selection_pct, ex.selection_pct)
    assert r.selection_pct.sum() + r.no_selection_pct == pytest.approx(100.0, abs=1e-9)
    sim = operating_characteristics(ThreePlusThree(), P_TOX, n_trials=500, seed=3, exact=False)
    assert not sim.exact and sim.n_trials == 500


@pytest.mark.parametrize(
    ("design", "p_eff", "accrual"),
    [
        (BOIN(0.25), None, None),
        (CRM(0.25, n_cohorts=4), None, None),
        (BOIN12(0.35), P_EFF, None),
        (TITEBOIN(0.25), None, COMPLETE),
        (BFBOIN(0.25), None, Accrual(3.0, 1.0)),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_simulated_designs_equal_simulate_oc(design, p_eff, accrual):
    r = operating_characteristics(design, P_TOX, p_eff, n_trials=400, seed=11, accrual=accrual)
    ref = simulate_oc(design, ScenarioOutcomes(P_TOX, p_eff or ()), 400, 11, accrual=accrual)
    np.testing.assert_array_equal(r.selection_pct, ref.selection_pct)
    np.testing.assert_array_equal(r.patients_per_dose, ref.patients_per_dose)
    assert not r.exact and r.seed == 11


def test_tite_boin_with_complete_follow_up_is_boin():
    a = operating_characteristics(BOIN(0.25), P_TOX, n_trials=1000, seed=2)
    b = operating_characteristics(TITEBOIN(0.25), P_TOX, n_trials=1000, seed=2, accrual=COMPLETE)
    np.testing.assert_array_equal(a.selection_pct, b.selection_pct)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: operating_characteristics(BOIN12(0.35), P_TOX), "`p_eff`"),
        (lambda: operating_characteristics(TITEBOIN(0.25), P_TOX), "`accrual`"),
        (lambda: operating_characteristics(BFBOIN(0.25), P_TOX), "`accrual`"),
        (lambda: operating_characteristics(BOIN(0.25), P_TOX, exact=True), "`exact`"),
        (lambda: operating_characteristics(BOIN(0.25), (0.1, 1.2)), "`p_tox`"),
        (lambda: operating_characteristics(BOIN(0.25), P_TOX, (0.1,)), "`p_eff`"),
    ],
)
def test_errors_name_the_argument(call, name):
    with pytest.raises(DesignError, match=name):
        call()
