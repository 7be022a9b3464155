"""Pools come from the mechanistic model and the clinical library, unchanged.

With the real model (small pools): the outcomes the trials see at each dose level are those
``simulate_cohort`` gives for that product, dose and regimen, and the same seed gives the same
people at every dose.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from allocart.population.cohort import simulate_cohort
from allocart.trial.pools import (
    PoolKey,
    arms_of,
    eligible_people,
    pool_keys,
    pool_outcomes,
    simulate_pool,
)
from allocart.trial.protocol import DAYS_PER_MONTH, protocol_from_dict
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort


def test_trial_outcomes_are_the_models_potential_outcomes():
    d = small_dict(pool_size=20, timecourse_patients=2)
    d["comparators"] = []
    d["dose_levels"] = ["3.0e8", "6.0e8"]
    p = protocol_from_dict(d)
    pools = {PoolKey(0, lv): simulate_pool(p, PoolKey(0, lv))[0] for lv in range(2)}
    for lv, dose in enumerate(p.dose_levels):
        direct = simulate_cohort(
            p.product, dose, p.lymphodepletion, 20, p.simulation.seed, months=(3, 6)
        ).patients
        for col in ("dlt", "crs_grade", "icans_grade", "sri4_m3", "doris_m6"):
            np.testing.assert_array_equal(
                pools[PoolKey(0, lv)][col].to_numpy(), direct[col].to_numpy()
            )
    # The same people at both doses (covariates), with dose-specific outcomes.
    np.testing.assert_array_equal(
        pools[PoolKey(0, 0)]["age_years"], pools[PoolKey(0, 1)]["age_years"]
    )
    eligible = eligible_people(pools)
    src = pool_outcomes(p, pools, eligible)[0]
    assert src.n_doses == 2 and src.n_people == eligible.size
    for lv in range(2):
        df = pools[PoolKey(0, lv)].iloc[eligible]
        np.testing.assert_array_equal(src.dlt[lv], df["dlt"].to_numpy(dtype=bool))
        np.testing.assert_array_equal(src.response[lv], df[p.response_column].to_numpy(dtype=bool))
        with_dlt = src.dlt[lv]
        np.testing.assert_allclose(
            src.dlt_month[lv][with_dlt], df["dlt_day"].to_numpy()[with_dlt] / DAYS_PER_MONTH
        )
        assert np.isinf(src.dlt_month[lv][~with_dlt]).all()
    assert arms_of(p)[0].product == "allogeneic-cd19cd20"


@pytest.mark.parametrize("gcsf", [None, 0, 7])
def test_every_pool_gets_the_protocols_supportive_care(monkeypatch, gcsf):
    import allocart.population.cohort as cohort

    calls = []

    def recording(*args, **kw):
        calls.append((args, kw))
        return fake_simulate_cohort(*args, **kw)

    monkeypatch.setattr(cohort, "simulate_cohort", recording)
    d = small_dict(pool_size=20)
    d["supportive_care"] = {"gcsf_from_day": gcsf}
    p = protocol_from_dict(d)
    for key in pool_keys(p):
        simulate_pool(p, key)
    assert len(calls) == len(pool_keys(p))
    assert {(a[0], a[2]) for a, _ in calls} == {(x.product, x.lymphodepletion) for x in arms_of(p)}
    assert all("gcsf_from_day" in kw and kw["gcsf_from_day"] == gcsf for _, kw in calls)


def test_supportive_care_reaches_the_patients(monkeypatch):
    import allocart.population.cohort as cohort

    monkeypatch.setattr(
        cohort, "simulate_cohort", functools.partial(fake_simulate_cohort, infections=True)
    )
    days = {}
    for gcsf in (None, 3):
        d = small_dict(pool_size=40)
        d["supportive_care"] = {"gcsf_from_day": gcsf}
        days[gcsf] = simulate_pool(protocol_from_dict(d), PoolKey(0, 2))[0]["anc_below_0p5_days"]
    # The stand-in shortens neutropenia with G-CSF from day 3 to at most 5 days.
    assert days[3].max() <= 5 < days[None].max()
