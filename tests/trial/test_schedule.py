"""The trial calendar: sentinel dosing, stagger, infusion delays, screening and dropout.

The deterministic cases use a 3+3 trial on a scenario without any DLT (every cohort escalates, the
top dose is expanded to six: four cohorts at levels 1, 2, 3, 3) and a fixed accrual fast enough
that patients always wait for their slot after the first cohort; the expected durations are then
worked out by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from allocart.design import ScenarioOutcomes
from allocart.design.base import PatientUniforms
from allocart.trial.protocol import DAYS_PER_MONTH, protocol_from_dict
from allocart.trial.replicates import COUNT_NAMES, simulate_arm, simulate_scenario
from tests.trial.conftest import small_dict

#: Accrual of the deterministic cases: one patient every 0.01 month (0.3 day).
FAST = 100.0


def _protocol(design=None, calendar=None, accrual=None, **top):
    d = small_dict(replicates=40)
    d["design"] = design or {"name": "3+3"}
    d["comparators"] = []
    d["calendar"] = calendar or {}
    d["accrual"] = accrual or {"per_month": FAST, "process": "fixed"}
    d.update(top)
    return protocol_from_dict(d)


def _no_dlt(p, n=40):
    return simulate_scenario(p, (0.0, 0.0, 0.0), n_trials=n)


def test_without_dlts_the_3plus3_path_is_four_cohorts_in_order():
    r = _no_dlt(_protocol())
    np.testing.assert_array_equal(
        r.dose[:, :12], np.repeat([[0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]], 40, 0)
    )
    assert (r.selected == 2).all()
    # Without sentinel or stagger the cohorts follow one another one DLT window apart.
    window = 28 / DAYS_PER_MONTH
    np.testing.assert_allclose(r.duration, 3 / FAST + 4 * window, rtol=0, atol=1e-12)


def test_sentinel_dosing_lengthens_the_trial_by_the_wait_at_each_new_dose():
    plain = _no_dlt(_protocol())
    sentinel = _no_dlt(_protocol(calendar={"sentinel_days": 28}))
    # By hand: three dose levels are new, each adds the 28-day wait between its first and second
    # patient; the fourth cohort (level 3 again) adds nothing. In the first cohort the wait
    # replaces the arrival of patients 2 and 3 (0.01 and 0.02 month after patient 1), which the
    # trial without sentinel waited for.
    expected = 3 * 28 / DAYS_PER_MONTH - (3 - 1) / FAST
    np.testing.assert_allclose(sentinel.duration - plain.duration, expected, rtol=0, atol=1e-9)
    # The second patient of each new level is infused 28 days after the first.
    gaps = np.diff(sentinel.start[0, :12])[[0, 3, 6]]
    np.testing.assert_allclose(gaps, 28 / DAYS_PER_MONTH, atol=1e-12)


def test_stagger_spaces_the_infusions_of_every_cohort():
    plain = _no_dlt(_protocol())
    stag = _no_dlt(_protocol(calendar={"stagger_days": 7}))
    # Each of the four cohorts spreads its three infusions over 14 days (less, in the first, the
    # 0.02 month the plain trial waited for arrivals).
    expected = 4 * 14 / DAYS_PER_MONTH - 2 / FAST
    np.testing.assert_allclose(stag.duration - plain.duration, expected, rtol=0, atol=1e-9)
    # Sentinel and stagger: the second patient of a new level waits the longer of the two.
    both = _no_dlt(_protocol(calendar={"sentinel_days": 21, "stagger_days": 7}))
    np.testing.assert_allclose(
        np.diff(both.start[0, :6]), np.array([21, 7, 28, 21, 7]) / DAYS_PER_MONTH, atol=1e-9
    )


def test_a_longer_minimum_followup_delays_every_decision():
    plain = _no_dlt(_protocol())
    longer = _no_dlt(_protocol(calendar={"min_followup_days": 42}))
    np.testing.assert_allclose(
        longer.duration - plain.duration, 4 * 14 / DAYS_PER_MONTH, rtol=0, atol=1e-9
    )


def test_fixed_accrual_is_one_patient_every_interval():
    r = _no_dlt(_protocol(accrual={"per_month": 2.0, "process": "fixed"}))
    np.testing.assert_allclose(r.arrival[0, :4], [0.5, 1.0, 1.5, 2.0])


@dataclasses.dataclass(frozen=True)
class _People(ScenarioOutcomes):
    """Fixed probabilities, with patients drawn from a pool of ``n_people`` (as PoolOutcomes)."""

    n_people: int = 50

    def person(self, uniforms: PatientUniforms) -> np.ndarray:
        return np.minimum((uniforms.tox * self.n_people).astype(np.int64), self.n_people - 1)


def test_time_to_infusion_from_the_pools_delays_each_cohort():
    p = _protocol()
    src = _People(p_tox=(0.0, 0.0, 0.0))
    now = simulate_arm(p.make_design(), src, p, 0, 40, 18)
    product = (np.ones(50, dtype=bool), np.full(50, 30.0))
    later = simulate_arm(p.make_design(), src, p, 0, 40, 18, product)
    # Each of the four cohorts waits 30 days from enrolment to infusion.
    np.testing.assert_allclose(
        later.duration - now.duration, 4 * 30 / DAYS_PER_MONTH, rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(later.selected, now.selected)


def test_patients_not_infused_are_enrolled_and_replaced_but_never_seen_by_the_design():
    p = _protocol(accrual={"per_month": 2.0})
    src = _People(p_tox=(0.05, 0.2, 0.5))
    infused = np.arange(50) % 5 != 0  # one person in five is never infused
    r = simulate_arm(p.make_design(), src, p, 0, 40, 18, (infused, np.full(50, 10.0)))
    c = {name: r.counts[:, i] for i, name in enumerate(COUNT_NAMES)}
    assert c["n_not_infused"].sum() > 0
    np.testing.assert_array_equal(c["n_enrolled"], c["n_infused"] + c["n_not_infused"])
    np.testing.assert_array_equal(c["n_infused"], c["n_evaluable"])
    on = r.dose >= 0
    assert infused[r.person[on]].all()  # the design's patients were all infused
    np.testing.assert_array_equal(on.sum(axis=1), c["n_evaluable"])


def test_screening_failures_and_dropouts_are_counted_at_their_rates():
    cal = {"screen_failure": 0.3, "dropout_before_infusion": 0.1, "dropout_followup": 0.2}
    p = _protocol(calendar=cal, accrual={"per_month": 2.0})
    r = simulate_scenario(p, (0.05, 0.2, 0.5), n_trials=1500)
    c = {name: r.counts[:, i].sum() for i, name in enumerate(COUNT_NAMES)}
    assert c["n_enrolled"] == (
        c["n_evaluable"]
        + c["n_dropout_before_infusion"]
        + c["n_not_infused"]
        + c["n_dropout_followup"]
    )
    assert c["n_infused"] == c["n_evaluable"] + c["n_dropout_followup"]
    # Each fate at its rate. Candidates are taken in order until the last evaluable one, so
    # before each enrolled candidate come Geometric screening failures (mean 0.3/0.7, variance
    # 0.3/0.7^2), before each infused one Geometric dropouts before infusion (0.1/0.9), before
    # each evaluable one Geometric dropouts in follow-up (0.2/0.8): ratios within 4 SE.
    for count, per, p_fail in (
        (c["n_screen_failures"], c["n_enrolled"], 0.3),
        (c["n_dropout_before_infusion"], c["n_infused"], 0.1),
        (c["n_dropout_followup"], c["n_evaluable"], 0.2),
    ):
        mean = p_fail / (1 - p_fail)
        se = np.sqrt(p_fail / (1 - p_fail) ** 2 / per)
        assert abs(count / per - mean) < 4 * se, (count, per, p_fail)
    # Patient-months: every infused patient is followed to month 6 unless they left the window.
    assert (r.patient_months > 0).all()
    assert (r.followup_end >= r.duration - 28 / DAYS_PER_MONTH).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sentinel_days", -1),
        ("stagger_days", 400),
        ("screen_failure", 1.0),
        ("dropout_followup", "often"),
        ("min_followup_days", 7),
    ],
)
def test_bad_calendar_fields_are_one_line_errors_naming_the_field(field, value):
    from allocart.errors import DesignError

    with pytest.raises(DesignError) as err:
        _protocol(calendar={field: value})
    msg = str(err.value)
    assert f"calendar.{field}" in msg and "\n" not in msg


def test_a_bad_accrual_process_is_refused_naming_the_field():
    from allocart.errors import DesignError

    with pytest.raises(DesignError, match=r"accrual\.process"):
        _protocol(accrual={"per_month": 1.0, "process": "weekly"})


def test_an_exhausted_lot_stock_delays_the_next_infusions():
    """Off-the-shelf lot inventory: once the stock is used up, a candidate waits for the next
    lot (replenishment), in arrival order; a stock larger than the trial changes nothing."""
    from allocart.design.enrolment import EVALUABLE
    from allocart.model.logistics import OffTheShelfSupply
    from allocart.trial.calendar import Accrual, Calendar
    from allocart.trial.protocol import DAYS_PER_MONTH
    from allocart.trial.schedule import draw_candidates

    accrual, calendar = Accrual(per_month=2.0), Calendar()
    free = draw_candidates(7, 0, 20, 12, accrual, calendar)
    plenty = draw_candidates(
        7, 0, 20, 12, accrual, calendar, stock=OffTheShelfSupply(doses_per_lot=50, lots_in_stock=2)
    )
    np.testing.assert_array_equal(plenty.delay, free.delay)
    tight = draw_candidates(
        7,
        0,
        20,
        12,
        accrual,
        calendar,
        stock=OffTheShelfSupply(doses_per_lot=2, lots_in_stock=1, replenishment_days=60),
    )
    np.testing.assert_array_equal(tight.arrival, free.arrival)
    extra = (tight.delay - free.delay) * DAYS_PER_MONTH
    for row in range(extra.shape[0]):
        takes = np.flatnonzero(tight.fate[row] == EVALUABLE)
        order = takes[np.argsort(tight.arrival[row, takes], kind="stable")]
        # The first two infused candidates take the two doses in stock; the third waits for
        # the lot reordered when the first lot emptied (60 days after the second dose left).
        assert extra[row, order[:2]].max() == 0.0
        second = tight.arrival[row, order[1]] * DAYS_PER_MONTH
        third = tight.arrival[row, order[2]] * DAYS_PER_MONTH
        assert extra[row, order[2]] == pytest.approx(max(second + 60.0 - third, 0.0), abs=1e-9)
        assert (extra[row] >= 0).all()
