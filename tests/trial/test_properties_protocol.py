"""Property: no protocol YAML gives a traceback; every refusal is one line naming the field.

Valid protocols (the built-in scenarios) are changed in a few places (fields dropped,
duplicated, retyped, renamed, given wrong values, nested) and random documents are generated;
:func:`protocol_from_dict`, :func:`load_protocol` and, for a few inputs, ``allocart run`` up to
validation either accept them or raise a :class:`DesignError` of one line naming a field.
The default suite runs a few hundred inputs; the ``slow`` suite thousands.
"""

from __future__ import annotations

from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from allocart.clinical.dlt import DltOptions
from allocart.errors import DesignError
from allocart.trial.builtin import list_scenarios, scenario_path
from allocart.trial.protocol import Protocol, load_protocol, protocol_from_dict
from tests.properties import (
    check_cli_refusal,
    check_message,
    check_refusal,
    fast,
    field_names,
    mutated,
    names_in,
    run_main,
    slow,
    weird_values,
    written,
    yaml_text,
)

NAMES = field_names(Protocol) | set(DltOptions.model_fields)
TEXTS = [scenario_path(name).read_text() for name in list_scenarios()]
BASES = [yaml.safe_load(text) for text in TEXTS]


def _identifiers(doc, touched: set[str]) -> set[str]:
    ids = NAMES | touched | names_in(doc)
    if not isinstance(doc, dict):
        ids |= {"mapping"}
    return ids


@st.composite
def mutated_protocols(draw):
    base = draw(st.sampled_from(BASES))
    return draw(mutated(base, NAMES))


@st.composite
def random_protocols(draw):
    """A mapping of protocol fields (some required ones missing) to random values."""
    base = draw(st.sampled_from(BASES))
    fields = draw(st.lists(st.sampled_from(sorted(Protocol.model_fields)), unique=True))
    doc = {k: v for k, v in base.items() if k not in fields}
    for k in fields:
        doc[k] = draw(weird_values(NAMES))
    return doc, set(fields)


def _check(doc, touched):
    ids = _identifiers(doc, touched)
    protocol, _ = check_refusal(lambda: protocol_from_dict(doc), ids, DesignError)
    if protocol is not None:  # what the run derives first: its key and the design
        check_refusal(lambda: (protocol.hash(), protocol.make_design()), ids, DesignError)


def _check_file(doc, touched, raw_tail: str = ""):
    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return
    # YAML may read a key otherwise than it was written (U+0085 as a space)
    ids = _identifiers(doc, touched) | names_in(yaml.safe_load(text)) | {"protocol.yaml"}
    with written("protocol.yaml", text + raw_tail) as path:
        check_refusal(lambda: load_protocol(path), ids, DesignError)
        check_refusal(
            lambda: load_protocol(path, overrides={"replicates": 3, "seed": 1}), ids, DesignError
        )


@given(mutated_protocols())
@fast(300)
def test_mutated_protocols(case):
    _check(*case)


@given(random_protocols())
@fast(100)
def test_random_protocols(case):
    _check(*case)


@given(mutated_protocols(), st.sampled_from(["", "\nname: again\n", "\n: x\n", "\n&a [*a]\n"]))
@fast(60)
def test_mutated_protocol_files(case, tail):
    _check_file(*case, raw_tail=tail)


@st.composite
def protocol_texts(draw):
    """A built-in scenario's YAML (comments and all) with one value replaced by an odd YAML token."""
    return draw(yaml_text(draw(st.sampled_from(TEXTS))))


def _check_text(text: str) -> None:
    with written("protocol.yaml", text) as path:
        check_refusal(lambda: load_protocol(path), NAMES | {"protocol.yaml"}, DesignError)


@given(protocol_texts())
@fast(60)
def test_protocol_texts(text):
    _check_text(text)


class _Validated(Exception):
    """Raised in place of the run once the protocol is valid."""


def _cli(doc) -> tuple[int, str]:
    with (
        written("protocol.yaml", yaml.safe_dump(doc, sort_keys=False)) as path,
        mock.patch("allocart.trial.run_trial", side_effect=_Validated),
    ):
        try:
            return run_main(["run", str(path), "--out", str(path.parent / "run")])
        except _Validated:
            return 0, ""


def _check_cli(case):
    doc, touched = case
    try:
        yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    code, err = _cli(doc)
    ids = _identifiers(doc, touched) | names_in(yaml.safe_load(yaml.safe_dump(doc)))
    check_cli_refusal(code, err, ids | {"protocol.yaml"})


@given(mutated_protocols())
@fast(15)
def test_cli_run_refuses_in_one_line(case):
    _check_cli(case)


@pytest.mark.slow
@given(mutated_protocols())
@slow(3000)
def test_mutated_protocols_long(case):
    _check(*case)


@pytest.mark.slow
@given(random_protocols())
@slow(2000)
def test_random_protocols_long(case):
    _check(*case)


@pytest.mark.slow
@given(mutated_protocols(), st.sampled_from(["", "\nname: again\n", "\n: x\n", "\n&a [*a]\n"]))
@slow(1000)
def test_mutated_protocol_files_long(case, tail):
    _check_file(*case, raw_tail=tail)


@pytest.mark.slow
@given(protocol_texts())
@slow(1000)
def test_protocol_texts_long(text):
    _check_text(text)


@pytest.mark.slow
@given(mutated_protocols())
@slow(200)
def test_cli_run_refuses_in_one_line_long(case):
    _check_cli(case)


def _with(change):
    doc = yaml.safe_load(TEXTS[0])
    change(doc)
    return doc


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d.update({1: 2}), "[1]: a field name must be text"),
        (lambda d: d.update({"": 2}), "['']: unknown field"),
        (lambda d: d.update({"a\rb": 2}), "['a\\rb']: unknown field"),
        (lambda d: d["accrual"].update({"\x1e": 1}), "accrual['\\x1e']: unknown field"),
        (lambda d: d["design"].update({3: 2}), "design[3]: a field name must be text"),
        (lambda d: d["dlt"].update(rules={1: True}), "dlt.rules[1]"),
        (lambda d: d.update(dose_levels=["3e8", 10**400]), "dose_levels: dose 1000000"),
    ],
    ids=[
        "int-key",
        "empty-key",
        "key-with-line-break",
        "key-control-char",
        "nested-int-key",
        "rule-int-key",
        "dose-10**400",
    ],
)
def test_inputs_that_gave_tracebacks_or_nameless_lines(change, says):
    with pytest.raises(DesignError) as exc:
        protocol_from_dict(_with(change))
    check_message(str(exc.value), [says])
