"""What the exports share: doses on a time axis from 0, parameters and their variability."""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.model.equations import MODEL
from allocart.model.export.common import (
    FIXED,
    build_export,
    individual_expression,
    observation_times,
)
from allocart.model.parameters import load_default_parameters
from allocart.model.products import list_products, list_regimens
from allocart.model.scenario import Scenario, build_batch, sample_parameters


def _batch_events(scenario: Scenario) -> list[tuple[float, str, float]]:
    batch = build_batch(scenario, sample_parameters(load_default_parameters(), 1, 0, typical=True))
    out = []
    for j in range(batch.event_time.shape[1]):
        if np.isfinite(batch.event_time[0, j]):
            assert batch.event_op[0, j] == 0  # every dose adds
            state = MODEL.state_names[batch.event_state[0, j]]
            out.append((batch.event_time[0, j] - batch.t0, state, batch.event_value[0, j]))
    return sorted(out)


@settings(max_examples=40, deadline=None)
@given(
    product=st.sampled_from(list_products()),
    regimen=st.sampled_from(list_regimens()),
    dose=st.sampled_from(["1e6/kg", "3e8", "5e7 cells", "2.5e5/kg"]),
    redoses=st.lists(
        st.tuples(st.integers(1, 300), st.sampled_from(["3e8", "1e6/kg"])), max_size=2
    ),
    gcsf=st.one_of(st.none(), st.sampled_from([0.0, 7.0])),
)
def test_doses_are_the_solver_events_shifted_to_start_at_zero(
    product, regimen, dose, redoses, gcsf
):
    """Every dose of the solver's event table, at its time minus the start, split by F."""
    scenario = Scenario(
        **{
            **Scenario.create(product, dose, regimen, redose=redoses).__dict__,
            "gcsf_from_day": gcsf,
        }
    )
    export = build_export(scenario)
    assert export.t_offset_days == scenario.t_start
    assert min(d.time for d in export.doses) >= 0
    assert [d.time for d in export.doses] == sorted(d.time for d in export.doses)
    f_E0 = export.parameter("f_E0").value
    fraction = {"E": f_E0, "M": 1 - f_E0}
    ours = sorted((d.time, d.state, d.amount * fraction.get(d.state, 1.0)) for d in export.doses)
    theirs = _batch_events(scenario)
    assert [(t, s) for t, s, _ in ours] == [(t, s) for t, s, _ in theirs]
    np.testing.assert_allclose([a for *_, a in ours], [a for *_, a in theirs], rtol=1e-14)
    assert export.end_time == scenario.days - scenario.t_start


def test_product_parameters_replace_the_table_and_do_not_vary():
    scenario = Scenario.create("autologous-cd19-bcma", "1e6/kg", "flu-cy")
    export = build_export(scenario)
    for name, value in scenario.product.model_parameters().items():
        p = export.parameter(name)
        assert p.value == value and p.transform == FIXED and p.omega2 == 0
    table = load_default_parameters()
    assert [p.name for p in export.parameters] == list(table.names)


def test_individual_parameters_are_the_draws_of_sample_parameters():
    """With eta = sigma * z, the exported formulas give exactly sample_parameters' patients."""
    table = load_default_parameters()
    export = build_export(Scenario.create("allogeneic-cd19", "1e6/kg", "flu-cy"))
    n, seed = 200, 11
    draws = sample_parameters(table, n, seed)
    z = np.random.default_rng(seed).standard_normal((n, len(table.rows)))
    tv, eta = sp.symbols("tv eta")
    for j, row in enumerate(table.rows):
        p = export.parameter(row.name)
        if p.transform == FIXED:
            if row.iiv == 0:
                assert np.all(draws[row.name] == row.value)
            continue
        assert math.isclose(p.omega2, math.log1p(row.iiv**2))
        f = sp.lambdify([tv, eta], individual_expression(p, tv, eta), "numpy")
        ours = f(row.value, math.sqrt(p.omega2) * z[:, j])
        inside = (ours > row.lower) & (ours < row.upper)  # sample_parameters clips the rest
        np.testing.assert_allclose(ours[inside], draws[row.name][inside], rtol=1e-12)
        assert inside.mean() > 0.95, row.name


def test_observation_times_hold_the_scenario_days():
    export = build_export(Scenario.create("autologous-cd19", "1e6/kg", "reduced", days=30))
    times = observation_times(export)
    assert times[0] == 0 and times[-1] == export.end_time
    assert set(np.arange(0, 31) - export.t_offset_days) <= set(times)
