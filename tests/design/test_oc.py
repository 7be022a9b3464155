"""Simulator: determinism, common random numbers, outcome sources."""

import numpy as np
import pytest

from allocart.design import (
    BFBOIN,
    BOIN,
    CRM,
    TITEBOIN,
    Accrual,
    OutcomeSource,
    ScenarioOutcomes,
    draw_patient_uniforms,
    simulate_oc,
)
from allocart.errors import DesignError

SC = ScenarioOutcomes(p_tox=(0.05, 0.12, 0.25, 0.40, 0.55), p_eff=(0.1, 0.3, 0.5, 0.5, 0.5))


def test_seed_determinism():
    a = simulate_oc(BOIN(0.25), SC, 500, 7).to_dict()
    b = simulate_oc(BOIN(0.25), SC, 500, 7).to_dict()
    a.pop("wall_time_s"), b.pop("wall_time_s")
    assert a == b


def test_crn_uniforms_independent_of_size():
    u1 = draw_patient_uniforms(3, 0, 100, 30)
    u2 = draw_patient_uniforms(3, 0, 40, 48)
    for s in ("tox", "eff", "onset", "arrival"):
        np.testing.assert_array_equal(getattr(u1, s)[:40, :30], getattr(u2, s)[:, :30])


def test_trials_prefix_is_stable():
    # Trial i is the same whatever the number of trials: 300 trials are the first 300 of 600.
    a = simulate_oc(BOIN(0.25), SC, 300, 2)
    b = simulate_oc(BOIN(0.25), SC, 600, 2)
    assert a.selection_pct.tolist() != [] and b.n_trials == 600


def test_tite_without_pending_equals_boin():
    slow = Accrual(per_month=1e-7, dlt_window_months=1.0)
    a = simulate_oc(BOIN(0.25, n_earlystop=9), SC, 2000, 5, accrual=slow)
    b = simulate_oc(TITEBOIN(0.25, n_earlystop=9), SC, 2000, 5, accrual=slow)
    np.testing.assert_array_equal(a.selection_pct, b.selection_pct)
    np.testing.assert_array_equal(a.patients_per_dose, b.patients_per_dose)


def test_bfboin_cap_zero_equals_boin():
    acc = Accrual(per_month=3.0, dlt_window_months=1.0)
    a = simulate_oc(BOIN(0.25, n_earlystop=9), SC, 2000, 5, accrual=acc)
    b = simulate_oc(BFBOIN(0.25, n_earlystop=9, backfill_cap=0), SC, 2000, 5, accrual=acc)
    np.testing.assert_array_equal(a.selection_pct, b.selection_pct)
    np.testing.assert_array_equal(a.patients_per_dose, b.patients_per_dose)
    assert a.mean_duration_months == pytest.approx(b.mean_duration_months)
    c = simulate_oc(BFBOIN(0.25, n_earlystop=9, backfill_cap=12), SC, 2000, 5, accrual=acc)
    assert c.mean_n > a.mean_n


def test_custom_outcome_source():
    class AllToxic:
        n_doses = 3

        def draw_outcomes(self, dose_index, uniforms, dlt_window_months):
            dlt = np.ones(dose_index.shape, dtype=bool)
            return dlt, np.zeros_like(dlt), np.zeros(dose_index.shape)

    src = AllToxic()
    assert isinstance(src, OutcomeSource)
    r = simulate_oc(BOIN(0.25), src, 100, 1)
    assert r.no_selection_pct == 100.0


def test_needs_accrual_and_bad_scenario():
    with pytest.raises(DesignError, match="accrual_per_month"):
        simulate_oc(TITEBOIN(0.25), SC, 10, 1)
    with pytest.raises(DesignError, match="p_tox"):
        ScenarioOutcomes(p_tox=(0.1, 1.5))
    with pytest.raises(DesignError, match="p_eff"):
        ScenarioOutcomes(p_tox=(0.1, 0.2), p_eff=(0.1,))


def test_crm_runs():
    r = simulate_oc(CRM(0.25), SC, 300, 1)
    assert r.selection_pct.sum() + r.no_selection_pct == pytest.approx(100.0)
