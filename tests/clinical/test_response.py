"""SRI-k and BICLA: worked examples R1-R5 and B1-B5."""

import pytest

from allocart import clinical
from allocart.clinical.records import BILAG_DOMAINS

from .helpers import sledai_records

WEEK52 = 364


def bilag(time, **grades):
    return {"time": time, "domains": {d: grades.get(d, "E") for d in BILAG_DOMAINS}}


def patient(base_items, visit_items, base_bilag, visit_bilag, pga0, pga1, meds=()):
    f0, l0 = sledai_records(0, base_items)
    f1, l1 = sledai_records(WEEK52, visit_items)
    return {
        "patient_id": "P",
        "visits": [
            {"time": 0, "visit_id": "BASELINE", "baseline": True},
            {"time": WEEK52, "visit_id": "WEEK 52"},
        ],
        "sledai_findings": f0 + f1,
        "labs": l0 + l1,
        "bilag": [bilag(0, **base_bilag), bilag(WEEK52, **visit_bilag)],
        "pga": [{"time": 0, "value": pga0}, {"time": WEEK52, "value": pga1}],
        "medications": list(meds),
    }


TWELVE = ["arthritis", "rash", "mucosal_ulcers", "low_complement", "increased_dna_binding"]
SIX = ["arthritis", "low_complement"]
R1_BASE = {
    "musculoskeletal": "B",
    "mucocutaneous": "B",
    "haematological": "C",
    "cardiorespiratory": "D",
}
R1_VISIT = {
    "musculoskeletal": "D",
    "mucocutaneous": "C",
    "haematological": "C",
    "cardiorespiratory": "D",
}
R1 = patient(TWELVE, SIX, R1_BASE, R1_VISIT, 1.8, 1.0)
R2 = patient(TWELVE, SIX, R1_BASE, {**R1_VISIT, "renal": "A"}, 1.8, 1.0)
R4 = patient(TWELVE, SIX, R1_BASE, R1_VISIT, 1.0, 1.2)
R4_BOUNDARY = patient(TWELVE, SIX, R1_BASE, R1_VISIT, 1.0, 1.3)
FOURTEEN = ["arthritis", "myositis", "rash", "mucosal_ulcers", "low_complement"]
EIGHT = ["arthritis", "rash", "mucosal_ulcers"]
R5 = patient(
    FOURTEEN,
    EIGHT,
    {"haematological": "C", "cardiorespiratory": "D"},
    {"haematological": "B", "cardiorespiratory": "B"},
    2.0,
    1.0,
)


def responder(standard, p, **opts):
    rows = clinical.score(standard, p, **opts)
    assert len(rows) == 1 and rows[0].evaluable
    return rows[0].value


@pytest.mark.parametrize(
    "standard, p, expected",
    [
        ("sri4", R1, True),
        ("sri6", R1, True),
        ("sri7", R1, False),
        ("sri4", R2, False),
        ("sri4", R4, True),
        ("sri4", R4_BOUNDARY, False),
        ("sri4", R5, False),
    ],
    ids=[
        "R1-sri4",
        "R1-sri6",
        "R1-sri7",
        "R2-new-A",
        "R4-pga+0.2",
        "R4-pga+0.3-boundary",
        "R5-two-new-B",
    ],
)
def test_sri_worked_examples(standard, p, expected):
    assert responder(standard, p) is expected


def test_sri_components_explain_the_decision():
    row = clinical.score("sri4", R2)[0]
    assert row.components["new_bilag_a"] == ["renal"]
    assert row.components["sledai_reduction"] == 6
    assert row.variant.startswith("SRI-4 on SLEDAI-2K")


def test_sri_rescue_medication_is_failure():
    p = patient(
        TWELVE,
        SIX,
        R1_BASE,
        R1_VISIT,
        1.8,
        1.0,
        meds=[{"name": "rituximab", "category": "biologic", "start": 100, "indication": "sle"}],
    )
    assert responder("sri4", p) is False


def test_sri_missing_bilag_is_not_evaluable():
    p = {**R1, "bilag": R1["bilag"][:1]}
    row = clinical.score("sri4", p)[0]
    assert row.evaluable is False and "BILAG at the visit" in row.label


B1 = patient(
    FOURTEEN,
    ["arthritis", "rash", "low_complement", "increased_dna_binding"],
    {"musculoskeletal": "A", "mucocutaneous": "B", "renal": "C"},
    {"musculoskeletal": "B", "mucocutaneous": "C", "renal": "C"},
    2.0,
    1.5,
)
B2 = patient(
    FOURTEEN,
    ["arthritis", "rash", "low_complement", "increased_dna_binding"],
    {"musculoskeletal": "A", "mucocutaneous": "B", "renal": "C"},
    {"musculoskeletal": "A", "mucocutaneous": "C", "renal": "C"},
    2.0,
    1.5,
)
TEN = ["arthritis", "rash", "mucosal_ulcers", "low_complement"]
B4 = patient(TEN, SIX, {"musculoskeletal": "B"}, {"musculoskeletal": "C"}, 1.0, 1.4)
B5 = patient(
    FOURTEEN,
    ["arthritis", "rash", "low_complement", "increased_dna_binding"],
    {"musculoskeletal": "A", "mucocutaneous": "B"},
    {"musculoskeletal": "B", "mucocutaneous": "C"},
    2.0,
    1.5,
    meds=[
        {
            "name": "mycophenolate mofetil",
            "category": "immunosuppressant",
            "start": 140,
            "indication": "sle",
            "dose": 1000,
            "dose_unit": "mg",
            "frequency": "bid",
        }
    ],
)


@pytest.mark.parametrize(
    "p, expected",
    [(B1, True), (B2, False), (B4, False), (B5, False)],
    ids=["B1", "B2-A-not-improved", "B4-pga+0.4", "B5-treatment-failure"],
)
def test_bicla_worked_examples(p, expected):
    assert responder("bicla", p) is expected


def test_bicla_sledai_worsening_fails():
    p = patient(SIX, TWELVE, {"musculoskeletal": "B"}, {"musculoskeletal": "C"}, 1.0, 1.0)
    assert responder("bicla", p) is False


@pytest.mark.parametrize(
    "pga0, pga1, expected",
    [
        (1.0, 1.0, True),
        (2.0, 2.1, True),
        (1.0, 1.1, False),
        (2.0, 2.2, False),
        (1.0, 1.2, False),
        (0.0, 0.0, True),
        (0.0, 0.1, False),
        (1.5, 1.0, True),
    ],
    ids=[
        "unchanged",
        "+5pct",
        "+10pct-1.0",
        "+10pct-2.0",
        "+20pct",
        "zero-unchanged",
        "from-zero",
        "improved",
    ],
)
def test_bicla_relative_pga_rule_is_strict(pga0, pga1, expected):
    p = patient(TEN, SIX, {"musculoskeletal": "B"}, {"musculoskeletal": "C"}, pga0, pga1)
    assert responder("bicla", p, pga_rule="relative") is expected


@pytest.mark.parametrize("pga1, expected", [(1.2, True), (1.3, False)], ids=["+0.2", "+0.3"])
def test_bicla_absolute_pga_rule_is_strict(pga1, expected):
    p = patient(TEN, SIX, {"musculoskeletal": "B"}, {"musculoskeletal": "C"}, 1.0, pga1)
    assert responder("bicla", p) is expected
