"""Link functions: CRS anchored and ordered for any parameter values, serious infections."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.population.links import crs_probabilities, infection_events, lognormal_days

_X50 = st.floats(0.05, 5.0)


@settings(max_examples=200, deadline=None)
@given(
    x1=_X50,
    x2=_X50,
    step3=st.floats(0.0, 2.0),
    step=st.floats(0.0, 2.0),
    hill=st.floats(0.5, 10.0),
    folds=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=20),
)
def test_crs_probabilities_are_ordered_and_anchored(x1, x2, step3, step, hill, folds):
    lk = {
        "crs_x50_1": x1,
        "crs_x50_2": x2,
        "crs_x50_3_step": step3,
        "crs_x50_4_step": step,
        "crs_hill": hill,
    }
    f = np.array(folds)
    p = crs_probabilities(f, lk)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p, axis=1) <= 1e-12).all()  # grade >= g+1 never likelier than >= g
    assert (p[f <= 1.0] == 0).all()  # no IL-6 rise above baseline, no CRS
    # More IL-6 never lowers the risk.
    order = np.argsort(f)
    assert (np.diff(p[order], axis=0) >= -1e-12).all()


_LINKS = {
    "inf_per_neutropenic_day": 0.01,
    "inf_per_profound_day": 0.01,
    "inf_per_hypogamma_day": 0.001,
    "inf_per_aplasia_day": 0.001,
    "b_aplasia_below_per_ul": 1.0,
    "igg_low_g_per_l": 4.0,
    "inf_fatal_share": 0.1,
    "inf_grade4_share": 0.1,
}


def test_no_cytopenia_no_infection():
    n = 1000
    rng = np.random.default_rng(0)
    grade, onset = infection_events(
        np.full((n, 60), 3.0), np.full((n, 60), 10.0), rng.random(n), rng.random(n), _LINKS
    )
    assert (grade == 0).all() and np.isnan(onset).all()


def test_infection_rate_matches_the_cumulative_hazard_and_starts_during_neutropenia():
    n = 40000
    rng = np.random.default_rng(1)
    anc = np.full((n, 60), 3.0)
    anc[:, 5:15] = 0.3  # 10 days below 0.5, none below 0.1
    grade, onset = infection_events(
        anc, np.full((n, 60), 10.0), rng.random(n), rng.random(n), _LINKS
    )
    p = 1 - np.exp(-10 * 0.01)
    se = np.sqrt(p * (1 - p) / n)
    assert abs((grade > 0).mean() - p) < 4 * se  # 4 SE: a seeded check with margin
    days = onset[grade > 0]
    assert days.min() >= 5 and days.max() <= 14
    shares = np.array([(grade == g).sum() for g in (3, 4, 5)]) / (grade > 0).sum()
    assert abs(shares[2] - 0.1) < 0.03 and abs(shares[1] - 0.1) < 0.03


def test_lognormal_days_median_and_floor():
    u = np.linspace(0.001, 0.999, 999)
    d = lognormal_days(4.0, 0.5, u)
    assert d.min() >= 1 and np.median(d) == 4


def test_b_cell_aplasia_adds_a_late_humoral_hazard():
    n = 40000
    rng = np.random.default_rng(2)
    anc, igg = np.full((n, 200), 3.0), np.full((n, 200), 10.0)
    b = np.full((n, 200), 50.0)
    b[:, 10:110] = 0.1  # 100 days of aplasia
    grade, onset = infection_events(anc, igg, rng.random(n), rng.random(n), _LINKS, b_cells=b)
    p = 1 - np.exp(-100 * 0.001)
    assert abs((grade > 0).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    days = onset[grade > 0]
    assert days.min() >= 10 and days.max() <= 109
    # Without the B-cell counts the humoral term is absent.
    g0, _ = infection_events(anc, igg, rng.random(n), rng.random(n), _LINKS)
    assert (g0 == 0).all()
