"""The parts of the model every export writes, in the order and with the comments asked for."""

from __future__ import annotations

import pytest
import sympy as sp

from allocart.model.export.common import (
    SECTIONS,
    ExportParameter,
    build_export,
    eta_name,
    individual_expression,
    model_sections,
    typical_name,
)
from allocart.model.scenario import Scenario


def _export():
    return build_export(Scenario.create("allogeneic-cd19cd20", "1e6/kg", "flu-cy", days=30.0))


def test_sections_open_with_their_comment_and_keep_the_writers_order() -> None:
    export = _export()
    m = export.model
    lines = model_sections(
        export,
        "# ",
        {
            "odes": lambda name, expr, st: f"{name} {st.unit}",
            "derived": lambda name, expr, _: [name, str(expr)],
        },
    )
    expected = [f"# {SECTIONS['odes']}"] + [f"{st.name} {st.unit}" for st in m.states]
    expected += [f"# {SECTIONS['derived']}"]
    for name, expr in m.derived.items():
        expected += [name, str(expr)]
    assert lines == expected


def test_every_part_lists_its_items() -> None:
    export = _export()
    m = export.model
    names = {
        part: model_sections(export, "", {part: lambda name, expr, _: name})[1:]
        for part in SECTIONS
    }
    assert names["individual"] == [p.name for p in export.varying]
    assert names["derived"] == list(m.derived)
    assert names["bioavailability"] == list(export.bioavailability)
    assert names["initial"] == names["odes"] == list(m.state_names)
    assert names["intermediates"] == list(m.intermediates)
    assert names["observables"] == [ob.name for ob in m.observables]


def test_individual_parameters_from_typical_value_and_random_effect() -> None:
    export = _export()
    items: list[tuple[str, sp.Expr, ExportParameter]] = []

    def keep(name: str, expr: sp.Expr, p: ExportParameter) -> list[str]:
        items.append((name, expr, p))
        return []

    model_sections(export, "", {"individual": keep})
    assert len(items) == len(export.varying) > 0
    for name, expr, p in items:
        assert name == p.name
        typical, eta = sp.Symbol(typical_name(name)), sp.Symbol(eta_name(name))
        assert expr == individual_expression(p, typical, eta)
        # With no random effect the individual value is the typical one (to float rounding
        # of the logit round trip).
        assert float(expr.subs({eta: 0, typical: p.value})) == pytest.approx(p.value, rel=1e-12)
