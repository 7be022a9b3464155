"""Property: no parameter-scenario YAML file gives a traceback; each is a scenario or a one-line
refusal naming the file's field, parameter or the option ``parameter_scenarios``.

A valid scenario file (label, description and parameters, numbers and ``{value, unit}``
mappings) is changed in a few places (fields dropped, retyped, renamed, wrong values, unknown
fields, YAML tokens of other types), and random documents are written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from allocart.errors import DesignError
from allocart.trial.parameter_scenarios import load_parameter_scenario
from tests.properties import check_refusal, fast, mutated, names_in, weird_values, yaml_text

BASE = {
    "label": "very fast rejection",
    "description": "rejection hazards five times the typical",
    "parameters": {"k_Trej": 1.0, "k_NKrej": {"value": 0.0625, "unit": "1/h"}, "rho_H": 1.2},
}


def _load(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(text)
        return load_parameter_scenario(str(path))


def _NAMED(message: str) -> bool:  # noqa: N802 - a predicate used as a constant
    """Every refusal starts from the option that names the file."""
    return "parameter_scenarios" in message


def test_the_base_scenario_loads():
    s = _load(yaml.safe_dump(BASE))
    assert s.overrides()["k_NKrej"] == {"unit": "1/h", "value": 0.0625}


@fast(100)
@given(data=st.data())
def test_property_mutated_scenario_files(data):
    doc, _ = data.draw(mutated(BASE, names_in(BASE)))
    text = yaml.safe_dump(doc, allow_unicode=True)
    check_refusal(lambda: _load(text), _NAMED, DesignError)


@fast(60)
@given(data=st.data())
def test_property_scenario_text_with_foreign_tokens(data):
    text = data.draw(yaml_text(yaml.safe_dump(BASE)))
    check_refusal(lambda: _load(text), _NAMED, DesignError)


@fast(60)
@given(doc=weird_values(("label", "parameters", "k_Trej")))
def test_property_random_documents(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    check_refusal(lambda: _load(text), _NAMED, DesignError)
