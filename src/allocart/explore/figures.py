"""Plotly figures of an :class:`~allocart.explore.compute.Exploration`, one per observable.

Each figure holds, in this order, the cohort's 5th percentile (an invisible edge), its 95th
percentile filled down to the 5th (the 5-95% band), the cohort median (dashed) and the typical
patient (solid), named by :data:`TRACE_NAMES`. Logarithmic panels show the panel's
``decades`` below the highest curve (five for CAR-T and B cells, as the static plots of
:mod:`allocart.model.plots` do: deeper values are assay noise; three for the others).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from allocart.explore.compute import PANELS, Exploration, Panel

__all__ = ["TRACE_NAMES", "panel_figure", "figures", "log_range"]

#: Names of the traces of every panel figure, in drawing order.
TRACE_NAMES: tuple[str, ...] = ("cohort 5%", "cohort 5-95%", "cohort median", "typical patient")

#: Lowest value a logarithmic axis shows (observable units): below it values are zero in effect.
LOG_FLOOR = 1e-3

_BAND = "rgba(31, 119, 180, 0.18)"
_LINE = "rgb(31, 119, 180)"
_TYPICAL = "rgb(214, 39, 40)"

#: The traces of :data:`TRACE_NAMES`: the statistic of the :class:`Exploration` each draws and
#: its style (the 5th percentile an invisible edge, the 95th filled down to it).
_TRACES: tuple[tuple[str, dict], ...] = (
    ("p05", {"line": {"width": 0, "color": _LINE}, "showlegend": False, "hoverinfo": "skip"}),
    (
        "p95",
        {
            "line": {"width": 0, "color": _LINE},
            "fill": "tonexty",
            "fillcolor": _BAND,
            "hoverinfo": "skip",
        },
    ),
    ("median", {"line": {"width": 1.5, "color": _LINE, "dash": "dash"}}),
    ("typical", {"line": {"width": 2, "color": _TYPICAL}}),
)


def _values(y: np.ndarray) -> list[float | None]:
    """Finite values rounded to 4 significant digits; None (a gap) for the others."""
    return [float(f"{v:.4g}") if math.isfinite(v) else None for v in np.asarray(y, dtype=float)]


def log_range(ex: Exploration, panel: Panel) -> list[float]:
    """The y range of a log panel, in decades (log10 of the observable's unit).

    From ``panel.decades`` below the highest curve (typical patient or cohort 95th percentile),
    but not below :data:`LOG_FLOOR`, to twice that curve's maximum.
    """
    k = panel.key
    tops = [np.nanmax(a[k]) for a in (ex.typical, ex.p95) if np.isfinite(a[k]).any()]
    top = max([t for t in tops if t > 0], default=1.0)
    lo = max(top * 10**-panel.decades, LOG_FLOOR)
    return [math.log10(lo), math.log10(top * 2.0)]


def panel_figure(ex: Exploration, panel: Panel) -> go.Figure:
    """The figure of one observable: cohort band, cohort median and typical patient over time.

    Parameters
    ----------
    ex : Exploration
    panel : Panel

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t = [float(x) for x in ex.time]
    k = panel.key
    fig = go.Figure()
    for name, (statistic, style) in zip(TRACE_NAMES, _TRACES, strict=True):
        y = _values(getattr(ex, statistic)[k])
        fig.add_trace(go.Scatter(x=t, y=y, name=name, mode="lines", **style))
    yaxis: dict = {"title": {"text": panel.unit}}
    if panel.log:
        yaxis.update(type="log", range=log_range(ex, panel))
    if ex.choice.redose_day is not None:
        fig.add_vline(x=ex.choice.redose_day, line={"color": "grey", "dash": "dot", "width": 1})
    fig.update_layout(
        title={"text": panel.label, "font": {"size": 14}},
        xaxis={"title": {"text": "days after infusion"}},
        yaxis=yaxis,
        height=300,
        margin={"l": 60, "r": 10, "t": 40, "b": 45},
        legend={
            "x": 1.0,
            "xanchor": "right",
            "y": 1.0,
            "bgcolor": "rgba(255, 255, 255, 0.7)",
            "font": {"size": 10},
        },
        showlegend=panel.key == PANELS[0].key,
        template="plotly_white",
    )
    return fig


def figures(ex: Exploration) -> list[go.Figure]:
    """One figure per :data:`~allocart.explore.compute.PANELS` entry, in that order."""
    return [panel_figure(ex, p) for p in PANELS]
