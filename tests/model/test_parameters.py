"""The parameter table: every row has a unit, a source and a valid value; overrides validate."""

import math

import pytest

from allocart.errors import ParameterError
from allocart.model.codegen import parameter_names, primary_parameter_names
from allocart.model.parameters import KNOWN_UNITS, load_default_parameters, load_overrides


def test_every_row_has_unit_source_and_valid_value():
    table = load_default_parameters()
    assert len(table.rows) > 100
    for r in table.rows:
        assert r.unit in KNOWN_UNITS, r.name
        assert r.source.strip(), r.name
        assert math.isfinite(r.value) and r.lower <= r.value <= r.upper, r.name
        # scientific honesty: a source is either a reference or says it is an assumption
        assert r.source != "", r.name


def test_parameter_vector_order_is_primary_then_derived():
    names = parameter_names()
    assert names[: len(primary_parameter_names())] == primary_parameter_names()
    assert "k_act" in names and "s_P" in names


def test_override_converts_units_at_the_boundary(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "parameters:\n  delta_E: {value: 0.01, unit: 1/h, source: my fit}\n  k_Trej: 0.3\n"
    )
    table = load_default_parameters().with_overrides(load_overrides(f), origin="--params")
    assert table["delta_E"].value == pytest.approx(0.24)
    assert table["delta_E"].source == "my fit"
    assert table["k_Trej"].value == 0.3
    assert "--params" in table["k_Trej"].source


@pytest.mark.parametrize(
    "text, match",
    [
        ("k_Trej: 20\n", r"`k_Trej` = 20 .* outside its allowed range"),
        ("not_a_parameter: 1\n", r"unknown parameter `not_a_parameter`"),
        ("delta_E: {value: 1, unit: furlong}\n", r"`delta_E`: unknown unit 'furlong'"),
        ("delta_E: {value: 1, unit: g/L}\n", r"unit 'g/L' cannot be converted to '1/day'"),
        ("delta_E: .nan\n", r"`delta_E` = nan is not finite"),
        ("delta_E: abc\n", r"`delta_E` = 'abc' is not a number"),
        ("k_Trej: [1\n", r"is not valid YAML at line"),
        ("- 1\n- 2\n", r"must map parameter names to values"),
    ],
)
def test_bad_overrides_name_field_and_value(tmp_path, text, match):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ParameterError, match=match):
        load_default_parameters().with_overrides(load_overrides(f), origin="--params")


def test_missing_override_file():
    with pytest.raises(ParameterError, match="does not exist"):
        load_overrides("/nonexistent/params.yaml")
