"""Jupyter display of a simulation (``Simulation._repr_html_``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.model.display import READOUTS, html_table, sparkline_svg
from allocart.model.simulate import simulate


def _tree(text: str) -> ET.Element:
    """The HTML parsed as XML: it must be well formed (every value escaped)."""
    return ET.fromstring(text)


def _rows(root: ET.Element) -> dict[str, list[str]]:
    out = {}
    for tr in root.iter("tr"):
        cells = ["".join(td.itertext()) for td in tr if td.tag == "td"]
        if cells:
            out[cells[0]] = cells[1:]
    return out


@pytest.fixture(scope="module")
def typical():
    return simulate(
        "allogeneic-cd19cd20",
        "1e6/kg",
        "flu-cy",
        typical=True,
        days=200,
        redose=[(90, "3e8")],
        redose_ld="flu-cy",
    )


def test_typical_patient_shows_scenario_read_outs_and_a_sketch(typical):
    text = typical._repr_html_()
    rows = _rows(_tree(text))
    assert rows["Product"] == ["allogeneic-cd19cd20"]
    assert rows["Dose"] == ["1e+06/kg"]
    assert rows["Lymphodepletion"] == ["flu-cy"]
    assert rows["Redoses"] == ["day 90: 3e+08 (after flu-cy)"]
    assert rows["Horizon"] == ["200 days"]
    assert rows["Patients"] == ["1"]
    obs = {k: v[0] for k, v in typical.observables.items()}
    car = obs["car_t_cells_per_ul"]
    assert rows["CAR-T peak (Cmax)"] == [f"{car.max():.3g}", "cells/µL"]
    assert rows["CAR-T peak day (Tmax)"] == [f"{typical.time[car.argmax()]:.3g}", "day"]
    assert rows["B-cell nadir"][0] == f"{obs['b_cells_per_ul'].min():.3g}"
    assert rows["IL-6 peak"][0] == f"{obs['il6_pg_per_ml'].max():.3g}"
    assert rows["ANC nadir"][0] == f"{obs['anc_1e9_per_l'].min():.3g}"
    assert rows["Platelet nadir"][0] == f"{obs['platelets_1e9_per_l'].min():.3g}"
    assert rows["anti-dsDNA at the horizon"][0] == f"{obs['anti_dsdna_iu_per_ml'][-1]:.3g}"
    assert (
        text.count("<svg") == 2
        and "<script" not in text
        and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_several_patients_show_median_and_5_95_percentiles():
    sim = simulate("autologous-cd19", "1e6/kg", "flu-cy", n=12, seed=4, days=60)
    rows = _rows(_tree(sim._repr_html_()))
    assert rows["Patients"] == ["12"]
    peak = sim.observables["car_t_cells_per_ul"].max(axis=1)
    lo, med, hi = np.percentile(peak, [5, 50, 95])
    assert rows["CAR-T peak (Cmax)"][0] == f"{med:.3g} [{lo:.3g}–{hi:.3g}]"
    assert len(rows) == 6 + len(READOUTS)


#: Any text that XML can hold (control characters are valid HTML but not XML, which parses here).
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(_TEXT, st.floats(), st.integers()), min_size=1, max_size=4),
        max_size=5,
    )
)
def test_html_table_escapes_every_cell(rows):
    text = html_table(rows, header=["<a>", "b&c"])
    root = _tree(text)  # well formed whatever the cells hold
    got = [["".join(td.itertext()) for td in tr] for tr in root.iter("tr")]
    assert got[0] == ["<a>", "b&c"]
    assert len(got) == len(rows) + 1


def test_sparkline_draws_one_point_per_finite_value_clipped_on_a_log_scale():
    t = np.arange(10.0)
    y = np.array([0.0, 1e-9, 1.0, 10.0, 100.0, np.nan, 1000.0, 100.0, 10.0, 1.0])
    svg = _tree(sparkline_svg(t, y, label="x<y", decades=3))
    line = next(e for e in svg.iter() if e.tag.endswith("polyline"))
    pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(pts) == 9
    ys = [p[1] for p in pts]
    # 0 and 1e-9 clip to 1 (three decades below the peak of 1000): the lowest line, drawn at
    # the bottom; the peak at the top
    assert ys[0] == ys[1] == ys[2] == max(ys) and ys[5] == min(ys)
    assert "".join(svg.itertext()) == "x<y"
    empty = _tree(sparkline_svg(t, np.full(10, np.nan), label="none"))
    assert next(e for e in empty.iter() if e.tag.endswith("polyline")).get("points") == ""
