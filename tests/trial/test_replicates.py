"""Replicate trials: dose paths reconstructed from the designs' own kernels, timing, chunking.

These tests use pools from the test-only cohort stand-in, whose outcomes come from fixed per-dose
probabilities; what is tested is that the trial mechanics agree with the design package.
"""

from __future__ import annotations

import numpy as np
import pytest

from allocart.design import simulate_oc
from allocart.design.base import TRIAL_BLOCK
from allocart.design.oc import arrival_times, sequential_duration
from allocart.trial.pools import eligible_people, pool_keys, pool_outcomes, simulate_pool
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.replicates import (
    ChunkResult,
    chunk_ranges,
    cohort_start_times,
    decision_lag_months,
    simulate_chunk,
)
from tests.trial.conftest import small_dict


def _sources(protocol):
    pools = {k: simulate_pool(protocol, k)[0] for k in pool_keys(protocol)}
    return pool_outcomes(protocol, pools, eligible_people(pools)), pools


@pytest.mark.parametrize("design", ["boin12", "boin", "crm"])
def test_selection_equals_simulate_oc_on_the_same_patients(fake_cohort, design):
    d = small_dict(replicates=300)
    if design != "boin12":
        d["design"] = {"name": design, "target": 0.25}
    p = protocol_from_dict(d)
    sources, _ = _sources(p)
    chunk = simulate_chunk(p, sources, 0, 300)
    oc = simulate_oc(p.make_design(), sources[0], 300, p.simulation.seed)
    sel = np.bincount(chunk.selected[0][chunk.selected[0] >= 0], minlength=3)
    np.testing.assert_allclose(100 * sel / 300, oc.selection_pct, atol=1e-12)
    n_per = [(chunk.dose[0] == lv).sum(axis=1).mean() for lv in range(3)]
    np.testing.assert_allclose(n_per, oc.patients_per_dose, atol=1e-12)


def test_cohorts_share_a_dose_and_doses_move_one_level_at_most(fake_cohort, small_protocol):
    sources, _ = _sources(small_protocol)
    ch = simulate_chunk(small_protocol, sources, 0, 120)
    doses = ch.dose[0].reshape(120, -1, 3)
    assert (doses == doses[:, :, :1]).all()  # every cohort treated at one level
    lv = doses[:, :, 0]
    assert (lv[:, 0] == 0).all()  # start at level 1
    on = lv >= 0
    steps = np.diff(lv, axis=1)[on[:, 1:]]
    assert np.abs(steps).max() <= 1
    # Once a trial stops, no later cohort is enrolled.
    assert not (np.diff(on.astype(int), axis=1) > 0).any()


def test_chunks_do_not_depend_on_how_trials_are_split(fake_cohort, small_protocol):
    sources, _ = _sources(small_protocol)
    whole = simulate_chunk(small_protocol, sources, 0, 90)
    parts = [simulate_chunk(small_protocol, sources, a, b) for a, b in ((0, 35), (35, 90))]
    for name in ("person", "arrival", "start"):
        np.testing.assert_array_equal(
            getattr(whole, name), np.concatenate([getattr(c, name) for c in parts])
        )
    for name in ("selected", "dose"):
        np.testing.assert_array_equal(
            getattr(whole, name), np.concatenate([getattr(c, name) for c in parts], axis=1)
        )


def test_chunk_ranges_cover_the_trials_without_crossing_a_block():
    ranges = chunk_ranges(2 * TRIAL_BLOCK + 5, 3000)
    assert ranges[0] == (0, 3000)
    assert sum(b - a for a, b in ranges) == 2 * TRIAL_BLOCK + 5
    assert all(a // TRIAL_BLOCK == (b - 1) // TRIAL_BLOCK for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))


def test_start_times_agree_with_the_design_package_durations():
    rng = np.random.default_rng(3)
    arrival = arrival_times(rng.random((50, 18)), per_month=1.3)
    window = 28 / (365.25 / 12)
    start = cohort_start_times(arrival, 3, window)
    assert (start >= arrival).all()
    n = np.full(50, 18)
    np.testing.assert_allclose(
        start[:, -1] + window, sequential_duration(arrival, n, 3, window), rtol=0, atol=1e-12
    )


def test_boin12_waits_for_the_response_assessment(small_protocol):
    # The decision needs DORIS remission at month 6 (day 183): longer than the 28-day DLT window.
    assert small_protocol.response_column == "doris_m6"
    assert decision_lag_months(small_protocol) == pytest.approx(183 / (365.25 / 12))
    d = small_dict()
    d["design"]["efficacy_endpoint"] = "sri4_m3"
    assert decision_lag_months(protocol_from_dict(d)) == pytest.approx(91 / (365.25 / 12))
    d = small_dict()
    d["design"] = {"name": "boin", "target": 0.25}
    assert decision_lag_months(protocol_from_dict(d)) == pytest.approx(28 / (365.25 / 12))


def test_patients_are_the_same_people_at_every_dose(fake_cohort, small_protocol):
    sources, pools = _sources(small_protocol)
    ch = simulate_chunk(small_protocol, sources, 0, 20)
    # The failed person of the stand-in (the last one) is never enrolled.
    assert len(pools[pool_keys(small_protocol)[0]]) - 1 == sources[0].n_people
    assert ch.person.max() < sources[0].n_people
    # Person indices do not depend on the arm: comparators meet the same people.
    assert all(s.n_people == sources[0].n_people for s in sources)


def test_chunk_serialisation_round_trips(fake_cohort, small_protocol):
    sources, _ = _sources(small_protocol)
    ch = simulate_chunk(small_protocol, sources, 50, 60)
    back = ChunkResult.from_bytes(ch.to_bytes())
    assert (back.first, back.stop) == (50, 60)
    for name in ("person", "arrival", "start", "selected", "dose"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ch, name))
