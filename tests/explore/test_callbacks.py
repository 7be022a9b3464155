"""The explorer's callback as plain functions, and wired into the app (Flask test client)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.errors import AllocartError
from allocart.explore.app import create_app
from allocart.explore.callbacks import choice_from_controls, update
from allocart.explore.compute import PANELS, RATES, Choice, explore
from allocart.explore.layout import IDS, graph_id
from allocart.model.products import list_products, list_regimens

N = 20
CONTROLS = ("product", "dose", "ld", "redose_day", "redose_dose", "redose_ld", "n", "seed")


def _values(**over):
    v = {
        "product": "allogeneic-cd19cd20",
        "dose": "1e6/kg",
        "ld": "flu-cy",
        "redose_day": None,
        "redose_dose": "",
        "redose_ld": [],
        "n": N,
        "seed": 2,
    }
    v.update(over)
    return [v[k] for k in CONTROLS]


def test_choice_from_controls_reads_the_page_values():
    c = choice_from_controls(*_values(redose_day=90.0, redose_dose=" 3e8 ", redose_ld=["yes"]))
    assert c == Choice(dose="1e6/kg", redose_day=90, redose_dose="3e8", redose_ld=True, n=N, seed=2)
    assert choice_from_controls(*_values(redose_day="", redose_dose=None)).redose_day is None
    assert choice_from_controls(*_values(n="25")).n == 25


@pytest.mark.parametrize(
    "over, words",
    [
        ({"n": None}, "n: give a whole number"),
        ({"seed": None}, "seed: give a whole number"),
        ({"n": 2.5}, "n: 2.5 must be a whole number"),
        ({"redose_day": "x"}, "redose_day: 'x' must be a whole number"),
        ({"redose_day": 400}, "redose_day: 400 must be a whole day"),
        ({"dose": ""}, "dose: cannot read ''"),
    ],
)
def test_a_refused_value_keeps_the_plots_and_names_the_control(over, words):
    view = update(*_values(**over))
    assert not view.ok and view.figures == () and view.rates is None
    assert view.status == f"error: {view.status[7:]}" and words in view.status
    assert "\n" not in view.status


def test_an_unknown_product_is_reported_in_the_status_line():
    view = update(*_values(product="no-such-product"))
    assert not view.ok and "unknown product 'no-such-product'" in view.status


#: What a browser can send: any text in the text fields, numbers (or text, or nothing) in the
#: number fields, the checklist's values.
_number = st.one_of(
    st.none(),
    st.integers(-10, 2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(
    product=st.one_of(st.sampled_from(list_products()), st.text(max_size=20)),
    dose=st.one_of(st.text(max_size=12), st.from_regex(r"[0-9.eE+-]{1,8}(/kg)?", fullmatch=True)),
    ld=st.one_of(st.sampled_from(list_regimens()), st.text(max_size=10)),
    redose_day=_number,
    redose_dose=st.one_of(st.none(), st.text(max_size=10)),
    redose_ld=st.lists(st.sampled_from(["yes", "no"]), max_size=2),
    n=_number,
    seed=_number,
)
def test_any_control_values_give_a_choice_or_one_line_naming_the_control(
    product, dose, ld, redose_day, redose_dose, redose_ld, n, seed
):
    try:
        c = choice_from_controls(product, dose, ld, redose_day, redose_dose, redose_ld, n, seed)
    except AllocartError as exc:
        text = str(exc)
        assert "\n" not in text
        assert text.split(":")[0].lstrip("-").replace("-", "_") in (
            "dose",
            "n",
            "seed",
            "redose_day",
        ), text
    else:
        assert isinstance(c, Choice) and 1 <= c.n and c.seed >= 0


def test_update_shows_the_exploration_of_the_choice():
    view = update(*_values(redose_day=100))
    ex = explore(Choice(n=N, seed=2, redose_day=100))
    assert view.ok and len(view.figures) == len(PANELS)
    for fig, p in zip(view.figures, PANELS):
        typical = np.array([np.nan if v is None else v for v in fig.data[3].y], dtype=float)
        np.testing.assert_allclose(typical, ex.typical[p.key], rtol=5e-4)  # 4 significant digits
    assert "redose 1e6/kg on day 100" in view.status and f"{N} virtual patients" in view.status
    rows = view.rates.children[1].children
    assert [r.id for r in rows] == [f"rate-{k.replace('_', '-')}" for k, _ in RATES]
    # the same choice again is served from the cache
    assert update(*_values(redose_day=100)).seconds < 0.5


def test_the_app_answers_a_dose_change_with_new_figures():
    app = create_app(Choice(n=N, seed=2))
    client = app.server.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"allocart explorer" in page.data
    layout = json.dumps(client.get("/_dash-layout").get_json())
    for p in PANELS:
        assert graph_id(p.key) in layout
    outputs = [{"id": graph_id(p.key), "property": "figure"} for p in PANELS]
    outputs += [{"id": IDS["rates"], "property": "children"}]
    outputs += [{"id": IDS["status"], "property": "children"}]
    body = {
        "output": ".." + "...".join(f"{o['id']}.{o['property']}" for o in outputs) + "..",
        "outputs": outputs,
        "inputs": [
            {"id": IDS[k], "property": "value", "value": v}
            for k, v in zip(CONTROLS, _values(dose="3e6/kg"))
        ],
        "changedPropIds": [f"{IDS['dose']}.value"],
        "state": [],
    }
    res = client.post("/_dash-update-component", json=body)
    assert res.status_code == 200, res.data[:300]
    response = res.get_json()["response"]
    fig = response[graph_id(PANELS[0].key)]["figure"]
    ex = explore(Choice(dose="3e6/kg", n=N, seed=2))
    assert max(v for v in fig["data"][3]["y"] if v is not None) == pytest.approx(
        ex.typical[PANELS[0].key].max(), rel=5e-4
    )
    assert "3e6/kg" in response[IDS["status"]]["children"]
