"""The explorer's page: controls, status line, rate table and one graph per observable.

Every element the callbacks read or write has an id from :data:`IDS`; the page uses Dash
components only (no JavaScript of its own) and loads nothing from outside (Dash serves its
scripts from the installed package).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from allocart.explore.compute import MAX_N, PANELS, Choice, Rate, horizon_days
from allocart.model.products import list_products, list_regimens

__all__ = ["IDS", "graph_id", "layout", "rates_table", "format_rate"]

#: Ids of the controls and outputs, by role.
IDS: dict[str, str] = {
    "product": "product",
    "dose": "dose",
    "ld": "ld",
    "redose_day": "redose-day",
    "redose_dose": "redose-dose",
    "redose_ld": "redose-ld",
    "n": "n",
    "seed": "seed",
    "status": "status",
    "rates": "rates",
}

_LABEL = {"fontWeight": "600", "fontSize": "13px", "display": "block", "marginBottom": "2px"}
_FIELD = {"display": "inline-block", "verticalAlign": "top", "marginRight": "18px"}


def graph_id(key: str) -> str:
    """Id of the graph of observable ``key``."""
    return f"graph-{key.replace('_', '-')}"


def format_rate(r: Rate) -> tuple[str, str, str]:
    """``("67%", "67/100", "57-75%")``: the rate, ``k/n`` and its 95% interval, as shown."""
    if r.n == 0:
        return ("-", "0/0", "-")
    lo, hi = r.ci95 if r.ci95 is not None else (float("nan"), float("nan"))
    return (f"{100 * r.rate:.0f}%", f"{r.k}/{r.n}", f"{100 * lo:.0f}-{100 * hi:.0f}%")


def rates_table(rates: Sequence[Rate]) -> html.Table:
    """The cohort's event rates: event, rate, patients (k/n) and 95% Wilson interval."""
    cell = {"padding": "1px 12px 1px 0", "textAlign": "left"}
    head = html.Tr([html.Th(h, style=cell) for h in ("Event", "Rate", "Patients", "95% interval")])
    rows = []
    for r in rates:
        rate, kn, ci = format_rate(r)
        rows.append(
            html.Tr(
                [html.Td(x, style=cell) for x in (r.label, rate, kn, ci)],
                id=f"rate-{r.key.replace('_', '-')}",
            )
        )
    return html.Table(
        [html.Thead(head), html.Tbody(rows)],
        style={"borderCollapse": "collapse", "fontSize": "13px"},
        className="rates",
    )


def _with(names: list[str], chosen: str) -> list[str]:
    """The built-in ``names``, and ``chosen`` after them when it is a YAML file of the user's."""
    return names if chosen in names else [*names, chosen]


def _field(label: str, control) -> html.Div:
    return html.Div([html.Label(label, style=_LABEL), control], style=_FIELD)


def _dropdown(key: str, names: list[str], chosen: str, width: str) -> dcc.Dropdown:
    """A choice among built-in ``names`` (and the user's YAML file ``chosen``), set to it."""
    return dcc.Dropdown(
        id=IDS[key],
        options=_with(names, chosen),
        value=chosen,
        clearable=False,
        style={"width": width},
    )


def _whole_number(
    key: str, value: int | None, width: str, low: int, high: int | None = None
) -> dcc.Input:
    """A whole-number input from ``low`` (to ``high`` when given), sent when left."""
    bounds: dict[str, Any] = {"min": low} if high is None else {"min": low, "max": high}
    return dcc.Input(
        id=IDS[key],
        type="number",
        **bounds,
        step=1,
        value=value,
        debounce=True,
        style={"width": width},
    )


def layout(initial: Choice) -> html.Div:
    """The page, with the controls set to ``initial``."""
    h = horizon_days()
    controls = html.Div(
        [
            _field("Product", _dropdown("product", list_products(), initial.product, "260px")),
            _field(
                "Dose (cells/kg as 1e6/kg, or flat cells as 3e8)",
                dcc.Input(
                    id=IDS["dose"], type="text", value=initial.dose, debounce=True, size="14"
                ),
            ),
            _field("Lymphodepletion", _dropdown("ld", list_regimens(), initial.ld, "160px")),
            _field(
                f"Redose on day (1-{h - 1}; empty: none)",
                _whole_number("redose_day", initial.redose_day, "90px", 1, h - 1),
            ),
            _field(
                "Redose dose (empty: same)",
                dcc.Input(
                    id=IDS["redose_dose"],
                    type="text",
                    value=initial.redose_dose or "",
                    debounce=True,
                    size="10",
                ),
            ),
            _field(
                "Before the redose",
                dcc.Checklist(
                    id=IDS["redose_ld"],
                    options=[{"label": " repeat lymphodepletion", "value": "yes"}],
                    value=["yes"] if initial.redose_ld else [],
                ),
            ),
            _field(
                f"Virtual patients (1-{MAX_N})",
                _whole_number("n", initial.n, "80px", 1, MAX_N),
            ),
            _field("Seed", _whole_number("seed", initial.seed, "80px", 0)),
        ],
        style={"marginBottom": "10px"},
    )
    graphs = html.Div(
        [
            dcc.Graph(id=graph_id(p.key), config={"displaylogo": False}, style={"minWidth": 0})
            for p in PANELS
        ],
        style={
            "display": "grid",
            "gridTemplateColumns": "repeat(auto-fill, minmax(420px, 1fr))",
            "gap": "6px",
        },
    )
    return html.Div(
        [
            html.H2("allocart explorer", style={"margin": "4px 0 8px 0"}),
            html.P(
                "Typical patient (red) and virtual-cohort median (dashed) with its 5-95% band; "
                "event rates of the same cohort with 95% Wilson intervals.",
                style={"fontSize": "13px", "margin": "0 0 8px 0"},
            ),
            controls,
            html.Div(id=IDS["status"], style={"fontSize": "13px", "margin": "6px 0"}),
            html.Div(id=IDS["rates"], style={"margin": "6px 0 10px 0"}),
            graphs,
        ],
        style={"fontFamily": "sans-serif", "padding": "8px 14px"},
    )
