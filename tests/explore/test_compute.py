"""The explorer's computation against the population's own cohort and an independent solver."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allocart.errors import AllocartError, ProductError
from allocart.explore.compute import (
    MAX_N,
    PANELS,
    RATES,
    Choice,
    Rate,
    explore,
    horizon_days,
)
from allocart.model.codegen import observables_function
from allocart.model.reference import solve_reference
from allocart.model.scenario import build_batch, sample_parameters
from allocart.population.cohort import simulate_cohort
from allocart.population.covariates import PopulationError
from allocart.population.virtual import population_table
from allocart.stats import rate_interval as wilson_interval

#: A small cohort keeps each computation near a second.
N = 30

#: The typical patient is solved at rtol 1e-8 by the engine and by SciPy's LSODA below: the two
#: agree far better than 1e-4 where a value is above its absolute tolerance (the SBML
#: cross-check of the model uses 1e-5 at the same tolerances).
REFERENCE_RTOL = 1e-4


@pytest.fixture(scope="module")
def base():
    return explore(Choice(n=N, seed=3))


def test_rates_and_band_are_those_of_simulate_cohort(base):
    # the same patients through the population's public function: identical numbers
    ref = simulate_cohort("allogeneic-cd19cd20", "1e6/kg", "flu-cy", n=N, seed=3, timecourse_ids=N)
    s = ref.summary()
    assert [r.key for r in base.rates] == [k for k, _ in RATES]
    for r in base.rates:
        assert r.n == N - s["n_failed"]
        assert r.k == round(s[f"{r.key}_rate"] * r.n), r.key
        assert r.ci95 == pytest.approx(s[f"{r.key}_ci95"], abs=1e-12), r.key
        assert r.ci95 == pytest.approx(wilson_interval(r.k, r.n), abs=1e-12), r.key
    tc = ref.timecourses
    for key in ("car_t_cells_per_ul", "b_cells_per_ul", "anc_1e9_per_l", "il6_pg_per_ml"):
        y = tc.pivot(index="id", columns="time", values=key).to_numpy()
        np.testing.assert_allclose(base.median[key], np.median(y, axis=0), rtol=1e-12)
        np.testing.assert_allclose(base.p05[key], np.percentile(y, 5, axis=0), rtol=1e-12)
        np.testing.assert_allclose(base.p95[key], np.percentile(y, 95, axis=0), rtol=1e-12)


def test_every_panel_has_a_typical_course_and_an_ordered_band(base):
    assert base.time[0] == 0 and base.time[-1] == horizon_days()
    for p in PANELS:
        for arr in (base.typical, base.median, base.p05, base.p95):
            assert arr[p.key].shape == base.time.shape, p.key
        assert np.all(base.p05[p.key] <= base.median[p.key] + 1e-12), p.key
        assert np.all(base.median[p.key] <= base.p95[p.key] + 1e-12), p.key
        assert np.isfinite(base.typical[p.key]).all(), p.key


def _reference_typical(choice: Choice) -> dict[str, np.ndarray]:
    """The typical patient of ``choice`` solved by SciPy (LSODA) instead of the engine."""
    scenario = choice.scenario()
    prim = sample_parameters(population_table(), 1, 0, typical=True)
    batch = build_batch(scenario, prim)
    t = np.arange(0.0, horizon_days() + 1.0)
    y = solve_reference(batch, t, rtol=1e-8)
    return observables_function()(y, batch.param_dict())


def test_typical_patient_with_a_redose_agrees_with_scipy():
    choice = Choice(n=5, seed=1, redose_day=90, redose_dose="3e6/kg", redose_ld=True)
    ex = explore(choice)
    ref = _reference_typical(choice)
    for key in ("car_t_cells_per_ul", "b_cells_per_ul", "il6_pg_per_ml", "anc_1e9_per_l"):
        got, want = ex.typical[key], ref[key][0]
        big = np.abs(want) > 1e-3 * np.abs(want).max()
        np.testing.assert_allclose(got[big], want[big], rtol=REFERENCE_RTOL, err_msg=key)


def test_a_redose_changes_nothing_before_its_day_and_adds_car_t_after(base):
    day = 60
    re = explore(Choice(n=N, seed=3, redose_day=day))
    car = "car_t_cells_per_ul"
    before = base.time < day
    # same patients, same events up to the redose: equal up to the solver's tolerance
    np.testing.assert_allclose(re.typical[car][before], base.typical[car][before], rtol=1e-6)
    np.testing.assert_allclose(re.median[car][before], base.median[car][before], rtol=1e-5)
    after = slice(day + 1, day + 15)
    assert np.all(re.typical[car][after] > 2 * base.typical[car][after])
    assert np.all(re.median[car][after] > base.median[car][after])


def test_a_higher_dose_raises_the_typical_car_t_peak(base):
    high = explore(Choice(n=N, seed=3, dose="5e6/kg"))
    car = "car_t_cells_per_ul"
    assert high.typical[car].max() > base.typical[car].max()
    assert high.median[car].max() > base.median[car].max()


def test_explore_is_cached_per_choice(base):
    assert explore(Choice(n=N, seed=3)) is base
    assert explore(Choice(n=N, seed=4)) is not base


def test_choice_redoses_and_scenario():
    c = Choice(dose="2e6/kg", redose_day=120)
    assert c.redoses() == ((120.0, "2e6/kg"),)
    s = c.scenario()
    assert [d for d, _ in s.redoses] == [120.0] and s.redose_regimen is None
    assert s.days == horizon_days()
    s2 = Choice(redose_day=120, redose_dose="3e8", redose_ld=True).scenario()
    assert str(s2.redoses[0][1]) == "3e+08" and s2.redose_regimen.name == "flu-cy"
    # redose_ld without a redose day adds nothing
    assert Choice(redose_ld=True).scenario().redose_regimen is None
    assert Choice().redoses() == ()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"dose": "lots"}, ProductError, "dose: cannot read 'lots'"),
        ({"dose": "-1e6/kg"}, ProductError, "dose: '-1e6/kg' is negative"),
        ({"redose_dose": "x"}, ProductError, "dose: cannot read 'x'"),
        ({"n": 0}, PopulationError, f"n: 0 must be a whole number of patients, 1-{MAX_N}"),
        ({"n": MAX_N + 1}, PopulationError, f"n: {MAX_N + 1}"),
        ({"n": 2.5}, PopulationError, "n: 2.5"),
        ({"n": True}, PopulationError, "n: True"),
        ({"seed": -1}, PopulationError, "seed: -1 must be a whole number >= 0"),
        ({"redose_day": 0}, ProductError, "redose_day: 0 must be a whole day"),
        ({"redose_day": 365}, ProductError, "redose_day: 365"),
        ({"redose_day": 1.5}, ProductError, "redose_day: 1.5"),
    ],
)
def test_choice_refuses_in_one_line_naming_the_field(kwargs, error, words):
    with pytest.raises(error) as info:
        Choice(**kwargs)
    assert str(info.value).startswith(words)
    assert "\n" not in str(info.value)


def test_an_unknown_product_or_regimen_is_refused_by_name():
    with pytest.raises(AllocartError, match="product: unknown product 'nope'"):
        explore(Choice(product="nope", n=2))
    with pytest.raises(AllocartError, match="ld: unknown regimen 'nope'"):
        explore(Choice(ld="nope", n=2))


def test_rate():
    r = Rate("dlt", "DLT", 3, 30, wilson_interval(3, 30))
    assert r.rate == pytest.approx(0.1)
    assert math.isnan(Rate("dlt", "DLT", 0, 0, None).rate)
