"""Property: no clinical-records JSON gives a traceback; every refusal is one line naming the field.

A patient with records of every kind (calendar times with an infusion date, or days after the
infusion) is changed in a few places (fields dropped, duplicated, retyped, renamed, wrong
units, non-finite, huge or negative numbers, wrong dates, nested structures) and random
patients are generated; :func:`allocart.clinical.load_patients`, :func:`allocart.clinical.score`
with every standard, the JSON file reader and, for a few inputs, ``allocart score`` either
accept them or raise a :class:`ScoringError` of one line naming a field.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart import clinical
from allocart.clinical import units
from allocart.clinical.records import BILAG_DOMAINS, PatientRecords
from allocart.clinical.registry import STANDARDS
from allocart.errors import ScoringError
from tests.clinical.helpers import FULL_ICE_ITEMS
from tests.properties import (
    check_cli_refusal,
    check_message,
    check_refusal,
    fast,
    field_names,
    mutated,
    names_in,
    numbers,
    run_main,
    scalars,
    slow,
    times,
    weird_values,
    written,
)

NAMES = field_names(PatientRecords) | {
    name for std in STANDARDS.values() for name in std.options.model_fields
}

_UNITS = sorted(
    {a.unit for a in units.ANALYTES.values()}
    | {u for a in units.ANALYTES.values() for u in a.factors}
    | {u for _, factors in units.VITALS.values() for u in factors}
    | {"mg", "g", "ug", "mg/kg", "mg/m2", "ug/kg/min", "IU", "cells", "mL"}
)
_TESTS = sorted({code for code, _ in units.ANALYTES} | set(units.VITALS) | {"ANC", "PLT", "BSA"})

#: Values of the records' own kinds for their fields: wrong dates, units, numbers.
HINTS = {
    **{k: times() for k in ("time", "start", "end", "last_follow_up", "infusion")},
    **{
        k: numbers()
        for k in (
            "value",
            "ref_low",
            "ref_high",
            "dose",
            "flow_l_min",
            "age_years",
            "weight_kg",
            "joints",
            "ice_score",
            "capd_score",
            "baseline_ice",
            "grade",
            "skin_bsa_percent",
            "stool_ml_per_day",
            "stool_episodes_per_day",
            "platelets_10e9_l",
            "hb_g_dl",
            "hb_fall_g_dl",
            "orientation",
            "naming",
        )
    },
    "unit": st.one_of(st.sampled_from(_UNITS), scalars(dates=False)),
    "dose_unit": st.one_of(st.sampled_from(_UNITS), scalars(dates=False)),
    "test": st.one_of(
        st.sampled_from(_TESTS), st.sampled_from(_TESTS).map(str.lower), scalars(dates=False)
    ),
    "specimen": st.sampled_from(["urine", "blood", "URINE", "serum", "", None, 3]),
}

CALENDAR = {
    "patient_id": "P-01",
    "infusion": "2024-01-05",
    "age_years": 34,
    "weight_kg": 61.5,
    "baseline_ice": 10,
    "last_follow_up": "2024-07-05",
    "visits": [
        {"time": "2024-01-01", "visit_id": "BASELINE", "baseline": True},
        {
            "time": "2024-04-05",
            "visit_id": "MONTH 3",
            "haemolytic_anaemia": False,
            "gi_activity": False,
        },
        {"time": "2024-07-05", "visit_id": "MONTH 6"},
    ],
    "labs": [
        {
            "test": "C3",
            "value": 62,
            "unit": "mg/dL",
            "ref_low": 90,
            "ref_high": 180,
            "time": "2024-01-01",
            "attribution": "sle",
        },
        {
            "test": "DSDNAAB",
            "value": 90,
            "unit": "IU/mL",
            "ref_high": 30,
            "time": "2024-01-01",
            "attribution": "sle",
            "method": "ELISA",
        },
        {"test": "NEUT", "value": 0.4, "unit": "10^9/L", "time": "2024-01-12"},
        {"test": "PLAT", "value": 60000, "unit": "/uL", "time": "2024-01-12"},
        {"test": "PROT", "value": 0.8, "unit": "g/24h", "specimen": "urine", "time": "2024-04-05"},
        {"test": "IGG", "value": 4.0, "unit": "g/L", "time": "2024-04-05"},
        {"test": "BILI", "value": 1.2, "unit": "mg/dL", "time": "2024-01-20"},
        {"test": "FERRITIN", "value": 2000, "unit": "ng/mL", "time": "2024-01-10"},
    ],
    "vitals": [
        {"test": "TEMP", "value": 38.6, "unit": "C", "time": "2024-01-06T10:00"},
        {"test": "SYSBP", "value": 85, "unit": "mmHg", "time": "2024-01-06T12:00"},
        {"test": "WEIGHT", "value": 61.5, "unit": "kg", "time": "2024-01-01"},
    ],
    "sledai_findings": [
        {"descriptor": "arthritis", "joints": 4, "start": "2024-01-01", "attribution": "sle"},
        {"descriptor": "rash", "start": "2024-01-01", "end": "2024-02-01", "attribution": "sle"},
    ],
    "pga": [{"time": "2024-01-01", "value": 2.0}, {"time": "2024-07-05", "value": 0.3}],
    "bilag": [{"time": "2024-01-01", "domains": {d: "C" for d in BILAG_DOMAINS}}],
    "flare_findings": [{"time": "2024-06-01", "manifestation": "arthritis", "attribution": "sle"}],
    "medications": [
        {
            "name": "prednisolone",
            "category": "glucocorticoid",
            "start": "2023-12-01",
            "end": "2024-02-01",
            "dose": 10,
            "dose_unit": "mg",
            "frequency": "daily",
            "indication": "sle",
        },
        {
            "name": "tocilizumab",
            "category": "tocilizumab",
            "start": "2024-01-07",
            "dose": 8,
            "dose_unit": "mg/kg",
            "frequency": "once",
        },
        {
            "name": "norepinephrine",
            "category": "vasopressor",
            "start": "2024-01-07T02:00",
            "end": "2024-01-07T20:00",
            "dose": 0.1,
            "dose_unit": "ug/kg/min",
            "frequency": "continuous",
        },
    ],
    "oxygen": [
        {"device": "nasal_cannula", "flow_l_min": 4, "start": "2024-01-07", "end": "2024-01-08"}
    ],
    "neuro": [
        {"time": "2024-01-09", "ice_score": 6},
        {
            "time": "2024-01-10",
            "ice_items": {**FULL_ICE_ITEMS},
        },
    ],
    "hlh": [{"time": "2024-01-10", "hepatomegaly": False, "splenomegaly": True}],
    "gvhd": [{"time": "2024-01-20", "skin_bsa_percent": 30, "stool_ml_per_day": 600}],
    "adverse_events": [
        {
            "term": "Cytokine release syndrome",
            "category": "crs",
            "grade": 2,
            "scale": "astct-2019",
            "start": "2024-01-06",
            "end": "2024-01-09",
            "relatedness": "probable",
        },
        {
            "term": "Neutropenia",
            "category": "neutropenia",
            "grade": 4,
            "scale": "ctcae-5.0",
            "start": "2024-01-10",
            "end": "2024-02-20",
        },
    ],
    "infections": [
        {"term": "pneumonia", "start": "2024-02-01", "end": "2024-02-10", "antimicrobial": "iv"}
    ],
    "hospitalisations": [{"start": "2024-01-05", "end": "2024-01-15", "reason": "crs"}],
    "death": None,
}


def _in_days(doc):
    """The same patient with every time in days after the infusion and no infusion date."""
    from datetime import date, datetime

    origin = datetime(2024, 1, 5)

    def walk(node, key=None):
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items() if k != "infusion"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if key in ("time", "start", "end", "last_follow_up") and isinstance(node, str):
            when = (
                datetime.fromisoformat(node)
                if "T" in node
                else datetime.combine(date.fromisoformat(node), datetime.min.time())
            )
            return (when - origin).total_seconds() / 86400.0
        return node

    return walk(doc)


DAYS = {**_in_days(CALENDAR), "patient_id": "P-02", "death": {"time": 200.0, "cause": "infection"}}
BASES = [CALENDAR, DAYS]


def test_the_bases_score_with_every_standard():
    for base in BASES:
        for name in STANDARDS:
            assert clinical.score(name, base) is not None


def _identifiers(doc, touched):
    ids = NAMES | touched | names_in(doc) | {"records", "patient", "record"}
    if isinstance(doc, str):  # a text is read as the path of a file
        ids |= {doc, str(Path(doc))}
    return ids


@st.composite
def _wrapped(draw, patients):
    """One patient, a list of them or ``{"patients": [...]}``."""
    how = draw(st.sampled_from(["one", "list", "patients"]))
    if how == "one":
        return patients[0]
    return patients if how == "list" else {"patients": patients}


@st.composite
def mutated_records(draw):
    base = draw(st.sampled_from(BASES))
    doc, touched = draw(mutated(base, NAMES, dates=False, hints=HINTS))
    patients = [doc]
    if draw(st.integers(0, 4)) == 0:  # a second patient, perhaps with the same id
        other = copy.deepcopy(draw(st.sampled_from(BASES)))
        patients.append(other)
    return draw(_wrapped(patients)), touched


@st.composite
def random_records(draw):
    """A patient whose record lists hold random entries with the records' field names."""
    base = draw(st.sampled_from(BASES))
    fields = draw(
        st.lists(st.sampled_from(sorted(PatientRecords.model_fields)), unique=True, max_size=4)
    )
    doc = {k: v for k, v in base.items() if k not in fields}
    entries = st.dictionaries(
        st.sampled_from(sorted(NAMES)), weird_values(NAMES, dates=False), max_size=6
    )
    for k in fields:
        doc[k] = draw(st.one_of(st.lists(entries, max_size=3), weird_values(NAMES, dates=False)))
    return draw(_wrapped([doc])), set(fields)


def _check(case, standard):
    doc, touched = case
    ids = _identifiers(doc, touched)
    check_refusal(lambda: clinical.load_patients(doc), ids, ScoringError)
    check_refusal(lambda: clinical.score(standard, doc), ids, ScoringError)


def _check_file(case, standard):
    doc, touched = case
    with written("records.json", json.dumps(doc)) as path:
        ids = _identifiers(doc, touched) | {"records.json"}
        check_refusal(lambda: clinical.score(standard, path), ids, ScoringError)


def _check_cli(case, standard):
    doc, touched = case
    with written("records.json", json.dumps(doc)) as path:
        code, err = run_main(["score", standard, str(path), "--json"])
    check_cli_refusal(code, err, _identifiers(doc, touched) | {"records.json"})


STANDARD = st.sampled_from(sorted(STANDARDS))

#: JSON number texts Python reads oddly or not at all.
_JSON_NUMBERS = (
    "1" * 5000,
    "-" + "9" * 4400,
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-0",
    "1E-400",
    "0." + "0" * 5000 + "1",
)


@st.composite
def record_texts(draw):
    """A patient's JSON with a number replaced by an odd number text, cut short, or with bytes added."""
    text = json.dumps(draw(st.sampled_from(BASES)))
    op = draw(st.sampled_from(["number", "number", "cut", "append"]))
    if op == "number":
        spans = [m.span() for m in re.finditer(r"(?<=[:\[,] )-?\d+(?:\.\d+)?", text)]
        start, end = draw(st.sampled_from(spans))
        return text[:start] + draw(st.sampled_from(_JSON_NUMBERS)) + text[end:]
    if op == "cut":
        return text[: draw(st.integers(0, len(text) - 1))]
    return text + draw(st.sampled_from(["}", "]", ",", "\x00", " x", "\ufeff"]))


def _check_text(text, standard):
    with written("records.json", text) as path:
        check_refusal(
            lambda: clinical.score(standard, path), NAMES | {"records.json"}, ScoringError
        )


@given(mutated_records(), STANDARD)
@fast(300)
def test_mutated_records(case, standard):
    _check(case, standard)


@given(random_records(), STANDARD)
@fast(150)
def test_random_records(case, standard):
    _check(case, standard)


@given(mutated_records(), STANDARD)
@fast(40)
def test_mutated_record_files(case, standard):
    _check_file(case, standard)


@given(record_texts(), STANDARD)
@fast(40)
def test_record_texts(text, standard):
    _check_text(text, standard)


@given(mutated_records(), STANDARD)
@fast(10)
def test_cli_score_refuses_in_one_line(case, standard):
    _check_cli(case, standard)


@pytest.mark.slow
@given(mutated_records(), STANDARD)
@slow(4000)
def test_mutated_records_long(case, standard):
    _check(case, standard)


@pytest.mark.slow
@given(random_records(), STANDARD)
@slow(2000)
def test_random_records_long(case, standard):
    _check(case, standard)


@pytest.mark.slow
@given(mutated_records(), STANDARD)
@slow(500)
def test_mutated_record_files_long(case, standard):
    _check_file(case, standard)


@pytest.mark.slow
@given(record_texts(), STANDARD)
@slow(1000)
def test_record_texts_long(text, standard):
    _check_text(text, standard)


@pytest.mark.slow
@given(mutated_records(), STANDARD)
@slow(100)
def test_cli_score_refuses_in_one_line_long(case, standard):
    _check_cli(case, standard)


@pytest.mark.parametrize(
    "patient, says",
    [
        ({"patient_id": "A", "visits": [{"time": 10**400}]}, "visits[0].time"),
        (
            {
                "patient_id": "A",
                "labs": [
                    {
                        "test": "PLAT",
                        "value": 1,
                        "unit": "10^9/L",
                        "time": "9999-12-31T23:59:59-14:00",
                    }
                ],
            },
            "labs[0].time",
        ),
        ({"patient_id": "A", "\r": None}, "`['\\r']` = None"),
        ({"patient_id": "A", "": 1}, "`['']` = 1"),
    ],
    ids=["time-10**400", "time-zone-past-9999", "key-with-line-break", "empty-key"],
)
def test_inputs_that_gave_tracebacks_or_nameless_lines(patient, says):
    with pytest.raises(ScoringError) as exc:
        clinical.load_patients(patient)
    check_message(str(exc.value), [says])
