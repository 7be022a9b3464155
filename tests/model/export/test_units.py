"""Unit strings of the table and the model as SBML units."""

from __future__ import annotations

from fractions import Fraction

import libsbml
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.errors import ModelError
from allocart.model.export.units import (
    DIMENSIONLESS,
    Unit,
    add_unit_definition,
    parse_unit,
    unit_of,
)
from allocart.model.parameters import _CONVERSIONS, convert_unit, load_default_parameters


def test_table_units_parse():
    for row in load_default_parameters().rows:
        parse_unit(row.unit)


@pytest.mark.parametrize(
    ("text", "exps", "factor"),
    [
        ("1/day", {"day": -1}, 1.0),
        ("1e9/L", {"item": 1, "litre": -1}, 1e9),
        ("pg/mL/day", {"gram": 1, "litre": -1, "day": -1}, 1e-9),
        ("1/(mg/m2)", {"gram": -1, "metre": 2}, 1e3),
        ("copies/ug per cells/L", {"gram": -1, "litre": 1}, 1e6),
        ("cells/uL", {"item": 1, "litre": -1}, 1e6),
        ("%", {}, 0.01),
    ],
)
def test_parse_unit(text, exps, factor):
    u = parse_unit(text)
    assert dict(u.exps) == {k: Fraction(v) for k, v in exps.items()}
    assert u.factor == pytest.approx(factor, rel=1e-12)


def test_internal_units_and_their_spellings_agree_with_the_table_conversions():
    """Every internal unit parses; an accepted spelling the parser also reads converts to it
    by the ratio of their SBML factors."""
    checked = 0
    for internal, spellings in _CONVERSIONS.items():
        ui = parse_unit(internal)
        for unit in spellings:
            try:
                u = parse_unit(unit)
            except ModelError:
                continue  # an input-only spelling (1/d, day-1, m2/mg): never written to SBML
            assert u.same_kind(ui), unit
            factor = convert_unit(1.0, unit, internal, name="x")
            assert factor == pytest.approx(u.factor / ui.factor, rel=1e-12), unit
            checked += 1
    assert checked >= len(_CONVERSIONS) + 10


_ATOM_UNITS = ["1", "day", "h", "cells", "g", "mg", "ug", "pg", "L", "mL", "uL", "m2", "IU"]


@given(
    st.sampled_from(_ATOM_UNITS),
    st.lists(st.tuples(st.sampled_from("*/"), st.sampled_from(_ATOM_UNITS)), max_size=4),
)
def test_parsed_products_and_quotients_follow_the_unit_algebra(first, rest):
    text = first + "".join(op + atom for op, atom in rest)
    expected = parse_unit(first)
    for op, atom in rest:  # left to right, as written
        expected = expected * parse_unit(atom) if op == "*" else expected / parse_unit(atom)
    got = parse_unit(text)
    assert got.exps == expected.exps
    assert got.factor == pytest.approx(expected.factor, rel=1e-12)


def test_unknown_unit_is_refused_in_one_line():
    with pytest.raises(ModelError, match="furlong") as e:
        parse_unit("furlong/day")
    assert "\n" not in str(e.value)


def test_unit_of_expressions():
    import sympy as sp

    units = {"k": parse_unit("1/day"), "N": parse_unit("cells"), "K": parse_unit("cells")}
    k, N, K = sp.symbols("k N K")
    assert unit_of(k * N * sp.log(K / N), units.__getitem__) == parse_unit("cells/day")
    assert unit_of(sp.sqrt(N**2 + K**2) / K, units.__getitem__) == DIMENSIONLESS
    assert unit_of(1 - N / K, units.__getitem__) == DIMENSIONLESS


def test_unit_definition_round_trip():
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    uid = add_unit_definition(m, parse_unit("pg/mL/day"))
    assert add_unit_definition(m, parse_unit("pg/mL/day")) == uid  # created once
    ud = m.getUnitDefinition(uid)
    scale = 1.0
    kinds = {}
    for i in range(ud.getNumUnits()):
        u = ud.getUnit(i)
        scale *= u.getMultiplier() ** u.getExponent()
        kinds[libsbml.UnitKind_toString(u.getKind())] = u.getExponent()
    assert kinds == {"gram": 1, "litre": -1, "second": -1}
    # pg/mL/day in SI: 1e-12 g / 1e-3 L / 86400 s
    assert scale == pytest.approx(1e-9 / 86400, rel=1e-12)
    assert Unit((), 1.0).sbml_id == "dimensionless"
