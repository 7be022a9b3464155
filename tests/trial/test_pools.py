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
from tests.helpers_logistics import zero_autologous
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


def _product_file(folder, name: str, base: str, logistics: dict) -> str:
    """A copy of a built-in product with its own ``logistics:`` block."""
    from importlib import resources

    import yaml

    data = yaml.safe_load(
        (resources.files("allocart.model") / f"resources/products/{base}.yaml").read_text("utf-8")
    )
    data["name"] = name
    data["logistics"] = logistics
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _two_arm_protocol(tmp_path, autologous_logistics: dict, pool_size: int = 30):
    d = small_dict(pool_size=pool_size, timecourse_patients=0)
    d["dose_levels"] = ["3.0e8"]
    d["start_dose"] = 1
    auto = _product_file(tmp_path, "auto-test", "autologous-cd19", autologous_logistics)
    d["comparators"] = [
        {
            "label": "autologous",
            "product": auto,
            "lymphodepletion": "flu-cy",
            "dose_levels": ["1e6/kg"],
        }
    ]
    return protocol_from_dict(d)


def test_pools_carry_time_to_treatment_and_zero_logistics_change_nothing(tmp_path):
    p = _two_arm_protocol(tmp_path, zero_autologous(), pool_size=20)
    pool = simulate_pool(p, PoolKey(1, 0))[0]
    today = simulate_cohort(
        "autologous-cd19",
        "1e6/kg",
        "flu-cy",
        20,
        p.simulation.seed,
        months=(3, 6),
        dlt_window_days=p.dlt.window_days,
        gcsf_from_day=p.supportive_care.gcsf_from_day,
        visit_days=p.visit_days,
    ).patients
    # Every column of today's pool, number for number.
    import pandas as pd

    pd.testing.assert_frame_equal(pool[today.columns], today)
    assert (
        pool["enrol_to_infusion_days"].dtype == float
        and (pool["enrol_to_infusion_days"] == 0).all()
    )
    assert pool["infused"].dtype == bool and pool["infused"].all()
    assert pool["not_infused_reason"].isna().all()


def test_autologous_pool_infuses_fewer_enrolled_patients_later(tmp_path):
    slow = {
        "supply": {
            "manufacturing_median_days": 35,
            "release_failure_probability": 0.25,
            "manufacturing_attempts": 1,
        },
    }
    p = _two_arm_protocol(tmp_path, slow, pool_size=30)
    pools = {k: simulate_pool(p, k)[0] for k in pool_keys(p)}
    allo, auto = pools[PoolKey(0, 0)], pools[PoolKey(1, 0)]
    # Off the shelf: dispatch and conditioning only, everyone infused unless a severe flare.
    assert (allo.loc[allo["infused"], "enrol_to_infusion_days"] == 7.0).all()
    assert auto.loc[auto["infused"], "enrol_to_infusion_days"].min() > 7.0 + 35 * 0.5
    assert auto["infused"].sum() < allo["infused"].sum()
    assert (auto["not_infused_reason"] == "manufacturing_failure").sum() >= 1
    eligible = eligible_people(pools)
    src = pool_outcomes(p, pools, eligible)
    assert src[1].infused is not None and src[1].infused.sum() < src[0].infused.sum()
    np.testing.assert_array_equal(src[1].infused[0], auto["infused"].to_numpy()[eligible])


def test_a_cohort_simulation_without_the_columns_gets_those_of_immediate_infusion(fake_cohort):
    p = protocol_from_dict(small_dict(pool_size=20))
    pool = simulate_pool(p, PoolKey(0, 0))[0]
    assert (pool["enrol_to_infusion_days"] == 0.0).all() and pool["infused"].all()
    assert pool["not_infused_reason"].isna().all()
