"""The wait before infusion: untreated disease in the model, who is infused, zero-delay identity."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from allocart.model.logistics import AutologousSupply, Logistics, WaitingRules, parse_logistics
from allocart.model.parameters import load_default_parameters
from allocart.model.scenario import Scenario, build_batch, sample_parameters
from allocart.population.cohort import simulate_cohort
from allocart.population.waiting import plan_waits, wait_outcome
from tests.helpers_logistics import zero_autologous

N = 16
SEED = 5


def _autologous(median: float, *, sigma: float = 0.0, p_fail: float = 0.0, rate: float = 1.0):
    return Logistics(
        supply=AutologousSupply(
            manufacturing_median_days=median,
            manufacturing_sigma=sigma,
            release_failure_probability=p_fail,
        ),
        waiting=WaitingRules(flare_rate_per_month=rate),
    )


@functools.cache
def _cohort(logistics: Logistics | None):
    return simulate_cohort("autologous-cd19", "1e6/kg", "flu-cy", N, SEED, logistics=logistics)


def test_zero_logistics_gives_todays_cohort_exactly():
    zero = parse_logistics(zero_autologous(), origin="autologous")
    today = _cohort(None).patients
    waited = _cohort(zero).patients
    pd.testing.assert_frame_equal(waited[today.columns], today)
    assert (waited["enrol_to_infusion_days"] == 0).all() and waited["infused"].all()
    assert waited["not_infused_reason"].isna().all()
    assert (waited["flares_waiting"] == 0).all()


def test_a_longer_wait_raises_activity_before_infusion():
    # Same people, same flare days; only the manufacturing time differs (fixed, no failures).
    short = _cohort(_autologous(7.0)).patients
    long = _cohort(_autologous(60.0)).patients
    both = long["infused"] & short["infused"]
    assert both.sum() >= N // 2
    assert (long["enrol_to_infusion_days"][both] > short["enrol_to_infusion_days"][both]).all()
    # A longer untreated window holds every flare of the shorter one, and more.
    assert (long["flares_waiting"] >= short["flares_waiting"]).all()
    assert long["flares_waiting"].sum() > short["flares_waiting"].sum()
    # At one flare a month over 1 vs 2.7 months the mean peak and the activity at
    # lymphodepletion rise; the flares of the long wait reach people the short one spares.
    assert long["sle_activity_max_waiting"].mean() > short["sle_activity_max_waiting"].mean()
    assert (
        long["sle_activity_lymphodepletion"].mean() > short["sle_activity_lymphodepletion"].mean()
    )
    # Nobody who never flared moves away from the enrolment steady state (I = 1).
    calm = long["flares_waiting"] == 0
    np.testing.assert_allclose(long.loc[calm, "sle_activity_lymphodepletion"], 1.0, rtol=1e-6)
    # Severe flares while waiting leave patients uninfused, and a longer wait loses more.
    assert (~long["infused"]).sum() >= (~short["infused"]).sum()
    out = long[~long["infused"]]
    assert set(out["not_infused_reason"]) <= {"flare"}
    assert (out["sle_activity_max_waiting"] > WaitingRules().withdraw_activity).all()


def test_plan_puts_flares_before_lymphodepletion_in_time_order():
    sc = Scenario.create("autologous-cd19", "1e6/kg", "flu-cy")
    plan = plan_waits(sc, _autologous(30.0, rate=2.0), 12, 2)
    table = load_default_parameters()
    batch = build_batch(sc, sample_parameters(table, 12, 2, typical=True))
    out = plan.apply(batch)
    assert out.t0 == -float(plan.draws.wait_days.max())
    assert (np.diff(out.event_time, axis=1) >= 0).all()
    extra = out.event_time.shape[1] - batch.event_time.shape[1]
    assert extra == plan.flares.max() > 0
    for i in range(12):
        flares = out.event_time[i, : plan.flares[i]]
        assert ((flares >= -plan.draws.wait_days[i]) & (flares < sc.regimen.first_day)).all()
        # The scenario's own events follow unchanged.
        np.testing.assert_array_equal(out.event_time[i, extra:], batch.event_time[i])
        np.testing.assert_array_equal(out.event_value[i, extra:], batch.event_value[i])


def test_the_earlier_of_flare_and_manufacturing_failure_counts():
    sc = Scenario.create("autologous-cd19", "1e6/kg", "flu-cy")
    plan = plan_waits(sc, _autologous(30.0, p_fail=0.5, rate=0.0), 40, 9)
    wait = plan.draws.wait_days
    pre_time = np.arange(-np.ceil(wait.max()), -4.0)
    act = np.ones((40, pre_time.size))
    # Patient 0 crosses the threshold 10 days after enrolment, everyone else stays calm.
    act[0, pre_time >= -wait[0] + 10] = 3.0
    res = wait_outcome(plan, pre_time, act, np.ones(40))
    failed = plan.draws.manufacturing_failed
    assert failed.any() and (~failed).any()
    assert res.not_infused_reason[0] == "flare"
    np.testing.assert_allclose(res.enrol_to_infusion_days[0], np.ceil(-wait[0] + 10) + wait[0])
    for i in range(1, 40):
        assert res.infused[i] == (not failed[i])
        assert res.not_infused_reason[i] == ("manufacturing_failure" if failed[i] else None)
    np.testing.assert_allclose(res.enrol_to_infusion_days[1:], wait[1:])
