"""Pools come from the mechanistic model and the clinical library, unchanged.

With the real model (small pools): the outcomes the trials see at each dose level are those
``simulate_cohort`` gives for that product, dose and regimen, and the same seed gives the same
people at every dose.
"""

from __future__ import annotations

import numpy as np

from allocart.population.cohort import simulate_cohort
from allocart.trial.pools import PoolKey, arms_of, eligible_people, pool_outcomes, simulate_pool
from allocart.trial.protocol import DAYS_PER_MONTH, protocol_from_dict

from tests.trial.conftest import small_dict


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
            np.testing.assert_array_equal(pools[PoolKey(0, lv)][col].to_numpy(), direct[col].to_numpy())
    # The same people at both doses (covariates), with dose-specific outcomes.
    np.testing.assert_array_equal(pools[PoolKey(0, 0)]["age_years"], pools[PoolKey(0, 1)]["age_years"])
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
