"""Panel figures and the page's layout and rate table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allocart.explore.compute import PANELS, RATES, Choice, Rate, explore
from allocart.explore.figures import LOG_FLOOR, TRACE_NAMES, figures, log_range, panel_figure
from allocart.explore.layout import IDS, format_rate, graph_id, layout, rates_table
from allocart.stats import rate_interval as wilson_interval

#: Plotted values keep 4 significant digits: a relative error of at most half a unit of the
#: fourth digit.
ROUNDING_RTOL = 5e-4


@pytest.fixture(scope="module")
def ex():
    return explore(Choice(n=20, seed=5, redose_day=120))


def _y(trace) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in trace.y], dtype=float)


def test_each_panel_plots_band_median_and_typical_patient(ex):
    figs = figures(ex)
    assert len(figs) == len(PANELS)
    for fig, p in zip(figs, PANELS):
        assert tuple(t.name for t in fig.data) == TRACE_NAMES
        want = (ex.p05[p.key], ex.p95[p.key], ex.median[p.key], ex.typical[p.key])
        for trace, w in zip(fig.data, want):
            np.testing.assert_allclose(_y(trace), w, rtol=ROUNDING_RTOL, err_msg=p.key)
            np.testing.assert_array_equal(np.asarray(trace.x), ex.time)
        assert fig.data[1].fill == "tonexty"  # the band fills down to the 5th percentile
        assert fig.layout.yaxis.type == ("log" if p.log else None)
        # the redose day is marked
        assert [s.x0 for s in fig.layout.shapes] == [120]


def test_log_range_shows_the_panels_decades_below_the_top(ex):
    for p in PANELS:
        if not p.log:
            continue
        lo, hi = log_range(ex, p)
        top = max(np.nanmax(ex.typical[p.key]), np.nanmax(ex.p95[p.key]))
        assert hi == pytest.approx(math.log10(2 * top))
        assert lo == pytest.approx(max(math.log10(top) - p.decades, math.log10(LOG_FLOOR)))


def test_non_finite_values_are_gaps(ex):
    import dataclasses

    typical = dict(ex.typical)
    y = typical[PANELS[0].key].copy()
    y[:3] = [np.nan, np.inf, -np.inf]
    typical[PANELS[0].key] = y
    fig = panel_figure(dataclasses.replace(ex, typical=typical), PANELS[0])
    assert list(fig.data[3].y[:4]) == [None, None, None, float(f"{y[3]:.4g}")]


def test_format_rate():
    r = Rate("crs_any", "CRS", 67, 100, wilson_interval(67, 100))
    assert format_rate(r) == ("67%", "67/100", "57-75%")  # Wilson: 0.573-0.754
    assert format_rate(Rate("dlt", "DLT", 0, 30, wilson_interval(0, 30))) == (
        "0%",
        "0/30",
        "0-11%",
    )
    assert format_rate(Rate("dlt", "DLT", 0, 0, None)) == ("-", "0/0", "-")


def test_rates_table_has_one_row_per_rate(ex):
    table = rates_table(ex.rates)
    rows = table.children[1].children
    assert len(rows) == len(RATES)
    for row, r in zip(rows, ex.rates):
        assert [c.children for c in row.children] == [r.label, *format_rate(r)]


def test_layout_holds_every_control_set_to_the_choice_and_one_graph_per_panel():
    page = layout(Choice(product="autologous-cd19", dose="3e8", ld="cy-only", n=7, seed=9))
    found = {}

    def walk(c):
        if getattr(c, "id", None) is not None:
            found[c.id] = c
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            if not isinstance(k, str):
                walk(k)

    walk(page)
    assert set(IDS.values()) <= set(found)
    assert {graph_id(p.key) for p in PANELS} <= set(found)
    assert found[IDS["product"]].value == "autologous-cd19"
    assert found[IDS["dose"]].value == "3e8"
    assert found[IDS["ld"]].value == "cy-only"
    assert found[IDS["n"]].value == 7 and found[IDS["seed"]].value == 9
    assert found[IDS["redose_day"]].value is None and found[IDS["redose_ld"]].value == []
    # a product or regimen file of the user's is offered beside the built-in ones
    page = layout(Choice(product="my/product.yaml", ld="my/ld.yaml"))
    found.clear()
    walk(page)
    assert found[IDS["product"]].options[-1] == "my/product.yaml"
    assert found[IDS["ld"]].options[-1] == "my/ld.yaml"
    assert "allogeneic-cd19cd20" in found[IDS["product"]].options
