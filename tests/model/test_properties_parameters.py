"""Property: no parameter-overrides YAML (``--params``) gives a traceback; every refusal is one line
naming the parameter.

Valid override files (plain numbers, and mappings with value, unit, iiv and source, with or
without the top-level ``parameters`` key) are changed in a few places (entries dropped,
duplicated, retyped, renamed; wrong units; NaN, infinite, huge, negative numbers; nested
structures) and random files are generated; :func:`load_overrides`, applying the overrides
to the parameter table and building the patients of a scenario from the table (sampled
parameters, derived parameters, baseline) either succeed or raise a :class:`ParameterError`
of one line naming a parameter or the file.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from allocart.errors import ParameterError
from allocart.model.codegen import parameter_names
from allocart.model.parameters import KNOWN_UNITS, load_default_parameters, load_overrides
from allocart.model.scenario import Scenario, build_batch, sample_parameters
from tests.properties import (
    check_message,
    check_refusal,
    fast,
    mutated,
    names_in,
    numbers,
    scalars,
    slow,
    weird_values,
    written,
    yaml_text,
)

TABLE = load_default_parameters()
SCENARIO = Scenario.create("allogeneic-cd19cd20", "1e6/kg", "flu-cy")
NAMES = set(TABLE.names) | {"parameters", "value", "unit", "iiv", "source"}

BASES = [
    {"parameters": {"k_Trej": 0.3, "delta_E": {"value": 0.004, "unit": "1/h", "source": "my fit"}}},
    {
        "k_Trej": 0.3,
        "EC50_A": {"value": 0.5, "unit": "1e9 cells", "iiv": 0.4},
        "theta_Phi": {"value": 25, "unit": "%"},
    },
    {
        name: {"value": TABLE[name].value, "unit": TABLE[name].unit, "iiv": TABLE[name].iiv}
        for name in TABLE.names[:12]
    },
]

HINTS = {
    "value": numbers(),
    "iiv": numbers(),
    "unit": st.one_of(st.sampled_from(sorted(KNOWN_UNITS)), scalars()),
    "source": scalars(),
    **{name: numbers() for name in TABLE.names},
}


@st.composite
def mutated_overrides(draw):
    return draw(mutated(draw(st.sampled_from(BASES)), NAMES, hints=HINTS))


@st.composite
def random_overrides(draw):
    """Parameters (known and not) mapped to numbers, mappings of the override fields, or anything."""
    entry = st.one_of(
        numbers(),
        st.fixed_dictionaries(
            {},
            optional={
                "value": numbers(),
                "unit": HINTS["unit"],
                "iiv": numbers(),
                "source": scalars(),
            },
        ),
        weird_values(NAMES),
    )
    key = st.one_of(st.sampled_from(sorted(TABLE.names)), st.text(max_size=8))
    doc = draw(st.dictionaries(key, entry, max_size=5))
    if draw(st.booleans()):
        doc = {"parameters": doc}
    return doc, set()


def _check(doc, touched, what: str = "--params") -> None:
    # a refusal names an override, the file, or a derived parameter the overrides make impossible
    ids = set(parameter_names()) | touched | names_in(doc) | {"params.yaml"}
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    ids |= names_in(yaml.safe_load(text))  # YAML may read a key otherwise (U+0085 as a space)
    with written("params.yaml", text) as path:
        overrides, _ = check_refusal(lambda: load_overrides(path), ids, ParameterError)
        if overrides is None:
            return
        table, _ = check_refusal(
            lambda: TABLE.with_overrides(overrides, origin=what), ids, ParameterError
        )
        if table is None:
            return

        def patients():
            build_batch(SCENARIO, sample_parameters(table, 1, 0, typical=True), np.array([70.0]))
            build_batch(SCENARIO, sample_parameters(table, 8, 0), np.full(8, 70.0))

        check_refusal(patients, ids, ParameterError)


@st.composite
def override_texts(draw):
    """An override file's YAML with one value replaced by an odd YAML token."""
    base = draw(st.sampled_from(BASES))
    return draw(yaml_text(yaml.safe_dump(base, sort_keys=False)))


def _check_text(text: str) -> None:
    ids = set(parameter_names()) | NAMES | {"params.yaml"}
    with written("params.yaml", text) as path:
        overrides, _ = check_refusal(lambda: load_overrides(path), ids, ParameterError)
        if overrides is not None:
            check_refusal(
                lambda: TABLE.with_overrides(overrides, origin="--params"),
                ids | names_in(overrides),
                ParameterError,
            )


@given(override_texts())
@fast(60)
def test_override_texts(text):
    _check_text(text)


@pytest.mark.slow
@given(override_texts())
@slow(1000)
def test_override_texts_long(text):
    _check_text(text)


@given(mutated_overrides())
@fast(200)
def test_mutated_overrides(case):
    _check(*case)


@given(random_overrides())
@fast(100)
def test_random_overrides(case):
    _check(*case)


@pytest.mark.slow
@given(mutated_overrides())
@slow(3000)
def test_mutated_overrides_long(case):
    _check(*case)


@pytest.mark.slow
@given(random_overrides())
@slow(2000)
def test_random_overrides_long(case):
    _check(*case)


@pytest.mark.parametrize(
    "text, says",
    [
        ("'': 1\n", "unknown parameter ''"),
        ('"k\\rT": 1\n', "unknown parameter 'k\\rT'"),
        ("delta_E: {value: 0.1, 3: x, foo: 1}\n", "unknown field(s) 3, `foo`"),
        ("delta_E: " + "9" * 400 + "\n", "`delta_E` = 999999999999... (400 digits) is not finite"),
        (
            "delta_E: {value: 0.1, iiv: 1.0e+300}\n",
            "iiv = 1e+300 must be a coefficient of variation from 0 to 10",
        ),
    ],
    ids=[
        "empty-name",
        "name-with-line-break",
        "fields-of-mixed-types",
        "value-400-digits",
        "iiv-1e300",
    ],
)
def test_inputs_that_gave_tracebacks_or_nameless_lines(text, says):
    with written("params.yaml", text) as path:
        with pytest.raises(ParameterError) as exc:
            TABLE.with_overrides(load_overrides(path), origin="--params")
    check_message(str(exc.value), [says])
