"""Enrolment in calendar time: slots, cohorts and the design library's plain accrual."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.design import Accrual
from allocart.design.enrolment import (
    DROPOUT_BEFORE,
    DROPOUT_FOLLOWUP,
    EVALUABLE,
    NOT_INFUSED,
    SCREEN_FAILURE,
    Enrolment,
    enrolment_records,
    fill_cohort,
    open_trial,
    plain_accrual,
)
from allocart.errors import DesignError


def _one_trial(arrival, fate, delay, when, sentinel=0.0, stagger=0.0, n_pat=4):
    m = (1, len(arrival))
    cal = Enrolment(
        np.asarray(arrival, dtype=float).reshape(m),
        np.asarray(fate, dtype=np.int8).reshape(m),
        np.asarray(delay, dtype=float).reshape(m),
        np.asarray(when, dtype=float).reshape(m),
        np.zeros((1, n_pat), dtype=np.int64),
        1.0,
        float(sentinel),
        float(stagger),
    )
    return cal, enrolment_records(1, n_pat, len(arrival))


def test_the_plain_accrual_treats_each_patient_on_arrival_after_the_previous_one():
    # Reference: with every candidate evaluable and nothing to wait for, patient j of a cohort
    # whose slots open at `opens` starts at the running maximum of max(arrival, opens).
    rng = np.random.default_rng(1)
    arrivals = np.cumsum(rng.exponential(0.5, (3, 9)), axis=1)
    cal, window = plain_accrual(arrivals, Accrual(2.0, 1.5), "TITE-BOIN")
    assert window == 1.5 and cal.lag == 1.5 and cal.sentinel == cal.stagger == 0.0
    np.testing.assert_array_equal(cal.position, np.tile(np.arange(9), (3, 1)))
    rec = enrolment_records(3, 9, 9)
    for t in range(3):
        opens = 2.0
        i, last = fill_cohort(cal, rec, t, 0, 0, opens, 1, 3, True, window)
        ref = np.maximum.accumulate(np.maximum(arrivals[t, :3], opens))
        np.testing.assert_array_equal(rec[1][t, :3], ref)  # exact: only maxima are taken
        np.testing.assert_array_equal(rec[2][t, :3], [0, 1, 2])
        assert (i, last) == (3, ref[-1])


@pytest.mark.parametrize("accrual", [None, "no arrivals"])
def test_the_plain_accrual_without_accrual_is_one_line_naming_the_design(accrual):
    arrivals = None if accrual else np.ones((1, 3))
    with pytest.raises(DesignError, match=r"^BF-BOIN needs `accrual_per_month`") as err:
        plain_accrual(arrivals, None if accrual is None else Accrual(1.0), "BF-BOIN")
    assert "\n" not in str(err.value)


def test_opening_a_trial_clears_the_doses_given_and_starts_at_zero():
    seen = np.ones(4, dtype=np.bool_)
    i, p, now = open_trial(seen)
    assert (i, p, now) == (0, 0, 0.0) and not seen.any()


_FATES = st.sampled_from([EVALUABLE, SCREEN_FAILURE, DROPOUT_BEFORE, NOT_INFUSED, DROPOUT_FOLLOWUP])


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    cs=st.integers(1, 4),
    first_at_dose=st.booleans(),
    opens=st.floats(0.0, 5.0),
    sentinel=st.floats(0.0, 1.0),
    stagger=st.floats(0.0, 1.0),
)
def test_a_cohort_takes_the_next_evaluable_candidates_within_the_calendar_rules(
    data, n, cs, first_at_dose, opens, sentinel, stagger
):
    gaps = data.draw(st.lists(st.floats(0.0, 2.0), min_size=n, max_size=n))
    fate = np.asarray(data.draw(st.lists(_FATES, min_size=n, max_size=n)), dtype=np.int8)
    delay = np.asarray(data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    when = np.asarray(data.draw(st.lists(st.floats(0.0, 0.999), min_size=n, max_size=n)))
    arrival = np.cumsum(gaps)
    cal, rec = _one_trial(arrival, fate, delay, when, sentinel, stagger, n_pat=cs)
    i, last = fill_cohort(cal, rec, 0, 0, 0, opens, 2, cs, first_at_dose, 0.5)
    start, who = rec[1][0], rec[2][0]
    c_enrol, c_inf, c_dose = rec[3][0], rec[4][0], rec[5][0]
    evaluable = np.flatnonzero(fate == EVALUABLE)[:cs]
    taken = who[who >= 0]
    # The design's patients are the first evaluable candidates, in order; the rest stay empty.
    np.testing.assert_array_equal(taken, evaluable)
    assert np.isinf(start[taken.size :]).all()
    # Infused no earlier than the slot opens, nor before arrival plus the wait for the product.
    assert (start[: taken.size] >= opens).all()
    assert (start[: taken.size] >= arrival[taken] + delay[taken]).all()
    # Consecutive infusions at least the stagger apart; the sentinel after a new dose's first.
    gap = np.full(cs, stagger)
    gap[0] = max(sentinel, stagger) if first_at_dose else stagger
    k = taken.size
    assert (start[1:k] >= start[: max(k - 1, 0)] + gap[: max(k - 1, 0)]).all()  # as computed
    # Every candidate up to the last one reached is enrolled at the dose, but screening failures.
    reached = np.arange(n) < i
    enrolled = reached & (fate != SCREEN_FAILURE)
    np.testing.assert_array_equal(c_dose >= 0, enrolled)
    assert (c_dose[enrolled] == 2).all() and (c_enrol[enrolled] >= arrival[enrolled]).all()
    # Only those who reach the infusion have one.
    infused = enrolled & np.isin(fate, [EVALUABLE, DROPOUT_FOLLOWUP])
    np.testing.assert_array_equal(~np.isnan(c_inf), infused)
    assert last == start[cs - 1]
