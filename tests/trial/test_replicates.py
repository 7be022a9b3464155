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
    simulate_scenario,
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


# --------------------------------------------------------------------------- every design
#: True DLT and response probabilities per dose of the fixed scenarios (the target is 0.25).
P_TOX = (0.05, 0.15, 0.30)
P_EFF = (0.20, 0.40, 0.50)

#: Replicate trials of the operating-characteristics comparisons.
N_OC = 2000

_DESIGNS = {
    "3+3": {"name": "3+3"},
    "boin": {"name": "boin", "target": 0.25},
    "bf-boin": {"name": "bf-boin", "target": 0.25, "backfill_cap": 9},
    "boin12": None,  # the default scenario's BOIN12 section
    "tite-boin": {"name": "tite-boin", "target": 0.25},
    "crm": {"name": "crm", "target": 0.25},
}


def _scenario_protocol(name, calendar=None, per_month=1.0):
    d = small_dict(replicates=N_OC, chunk_size=1000)
    if _DESIGNS[name] is not None:
        d["design"] = _DESIGNS[name]
    d["comparators"] = []
    d["accrual"] = {"per_month": per_month}
    d["calendar"] = calendar or {}
    return protocol_from_dict(d)


def _library_oc(p):
    from allocart.design import Accrual, ScenarioOutcomes

    return simulate_oc(
        p.make_design(),
        ScenarioOutcomes(P_TOX, P_EFF),
        N_OC,
        p.simulation.seed,
        accrual=Accrual(p.accrual.per_month, p.dlt_window_months),
    )


def _selection_pct(trials, k=3):
    sel = trials.selected
    return 100 * np.bincount(sel[sel >= 0], minlength=k) / sel.size


@pytest.mark.parametrize("name", list(_DESIGNS))
def test_the_runner_reproduces_the_design_librarys_operating_characteristics(name):
    # The runner adds nothing but the model: on fixed per-dose probabilities, with the calendar of
    # the design library (Poisson accrual, decisions after the DLT window) and the same seed, it
    # meets the same patients and takes the same decisions, so every trial is the library's.
    p = _scenario_protocol(name)
    trials = simulate_scenario(p, P_TOX, P_EFF)
    oc = _library_oc(p)
    np.testing.assert_allclose(_selection_pct(trials), oc.selection_pct, rtol=0, atol=1e-9)
    n_per = [(trials.dose == lv).sum(axis=1).mean() for lv in range(3)]
    np.testing.assert_allclose(n_per, oc.patients_per_dose, rtol=0, atol=1e-9)
    if name != "boin12":  # BOIN12 waits for the month-6 response, the library for the window
        np.testing.assert_allclose(trials.duration.mean(), oc.mean_duration_months, rtol=1e-12)


@pytest.mark.parametrize("name", ["3+3", "boin", "boin12", "crm"])
def test_the_calendar_does_not_change_what_a_design_selects(name):
    # Sentinel, stagger, screening failures and dropouts change when patients are treated and
    # who is evaluable, never the distribution of what the design sees (independent patients at
    # the same per-dose probabilities), for designs that decide on complete cohorts. Two
    # independent estimates of each selection probability (different patients): their
    # difference within 4 standard errors sqrt(2 p (1 - p) / n).
    cal = {
        "sentinel_days": 28,
        "stagger_days": 7,
        "screen_failure": 0.2,
        "dropout_before_infusion": 0.1,
        "dropout_followup": 0.1,
    }
    p = _scenario_protocol(name, cal)
    trials = simulate_scenario(p, P_TOX, P_EFF)
    oc = _library_oc(p)
    got = _selection_pct(trials) / 100
    ref = oc.selection_pct / 100
    se = np.sqrt(2 * np.maximum(ref * (1 - ref), 1 / N_OC) / N_OC)
    assert (np.abs(got - ref) < 4 * se).all(), (got, ref, se)
    assert trials.duration.mean() > oc.mean_duration_months  # the calendar costs time


def test_the_3plus3_in_the_runner_matches_its_exact_selection_probabilities():
    from allocart.design import ScenarioOutcomes, exact_oc_3plus3

    # Exact 3+3 (enumeration of every path) against the runner's replicate loop on the same true
    # rates: each selection probability within 4 binomial standard errors sqrt(p (1 - p) / n).
    p = _scenario_protocol("3+3", {"sentinel_days": 14, "stagger_days": 7})
    for p_tox in (P_TOX, (0.1, 0.35, 0.6), (0.02, 0.05, 0.1)):
        trials = simulate_scenario(p, p_tox)
        exact = exact_oc_3plus3(p.make_design(), ScenarioOutcomes(p_tox))
        ref = np.append(exact.selection_pct, exact.no_selection_pct) / 100
        got = np.append(_selection_pct(trials), 100 * np.mean(trials.selected < 0)) / 100
        se = np.sqrt(np.maximum(ref * (1 - ref), 1 / N_OC) / N_OC)
        assert (np.abs(got - ref) < 4 * se).all(), (p_tox, got, ref)
        n_mean = (trials.dose >= 0).sum(axis=1).mean()
        assert abs(n_mean - exact.mean_n) < 4 * 0.06 * exact.mean_n  # sd of n <= 6 patients


def test_tite_boin_finishes_earlier_than_boin_on_the_same_scenario():
    # With accrual faster than the DLT window, BOIN waits for every window while TITE-BOIN goes
    # on with the partial follow-up of pending patients.
    boin = simulate_scenario(_scenario_protocol("boin", per_month=3.0), P_TOX, P_EFF)
    tite = simulate_scenario(_scenario_protocol("tite-boin", per_month=3.0), P_TOX, P_EFF)
    diff = boin.duration - tite.duration  # same patients: a paired comparison
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    # About half a month earlier on average (0.49 months with this seed): accrual is suspended
    # while more than half the patients at the dose are pending, so the saving is per cohort a
    # part of the window. Earlier by more than 4 standard errors of the paired difference.
    assert diff.mean() > 4 * se and diff.mean() > 0.25
    # And selects as well: the probability of selecting the target dose within 4 SE of BOIN's.
    p_b, p_t = (np.mean(t.selected == 2) for t in (boin, tite))
    assert abs(p_b - p_t) < 4 * np.sqrt(2 * p_b * (1 - p_b) / N_OC)


def test_bf_boin_treats_backfill_patients_at_cleared_doses_below_the_current_one():
    p = _scenario_protocol("bf-boin", per_month=3.0)
    trials = simulate_scenario(p, P_TOX, P_EFF, n_trials=300)
    n = (trials.dose >= 0).sum(axis=1)
    assert (n > p.max_sample_size).any()  # backfill patients come on top of the cohorts
    # Every patient is infused after arriving, and their number is what the counts say.
    on = trials.dose >= 0
    assert (trials.start[on] >= trials.arrival[on] - 1e-12).all()
    assert (on.sum(axis=1) == trials.counts[:, 2]).all()
