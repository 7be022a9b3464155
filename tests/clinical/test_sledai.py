"""SLEDAI-2K, clinical SLEDAI, SELENA and hybrid variants: worked examples S1-S7 and boundaries."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError


def finding(descriptor, start=0, end=None, **kw):
    return {"descriptor": descriptor, "start": start, "end": end, "attribution": "sle", **kw}


def lab(test, value, unit, time=0, **kw):
    return {"test": test, "value": value, "unit": unit, "time": time, "attribution": "sle", **kw}


def total(standard, patient, **opts):
    rows = clinical.score(standard, {"patient_id": "P", "visits": [{"time": 0}], **patient}, **opts)
    return rows[-1]


S1 = {
    "sledai_findings": [
        finding("arthritis", joints=4),
        finding("rash", start=-90, end=0),
        finding("mucosal_ulcers"),
    ],
    "labs": [
        lab("C3", 0.62, "g/L", ref_low=0.90, ref_high=1.8),
        lab("DSDNAAB", 85, "IU/mL", ref_high=30),
        lab("PROT", 1.2, "g/24h", time=-90, specimen="urine"),
        lab("PROT", 1.2, "g/24h", specimen="urine"),
    ],
}
S4 = {
    "sledai_findings": [finding("seizure", start=-6)],
    "labs": [lab("C4", 0.08, "g/L", ref_low=0.10)],
}
S5 = {
    "labs": [
        lab("WBC", 1.1, "10^9/L", attribution="lymphodepletion"),
        lab("PLAT", 60, "10^9/L", attribution="lymphodepletion"),
        lab("C3", 0.5, "g/L", ref_low=0.9),
    ],
    "vitals": [{"test": "TEMP", "value": 38.9, "unit": "C", "time": 0, "attribution": "crs"}],
}
S7 = {
    "sledai_findings": S4["sledai_findings"] + [finding("pleurisy", start=-25, end=-20)],
    "labs": S4["labs"],
}


@pytest.mark.parametrize(
    "patient, standard, opts, expected",
    [
        (S1, "sledai2k", {}, 16),
        (S1, "clinical-sledai", {}, 12),
        (S4, "sledai2k", {}, 10),
        (S4, "clinical-sledai", {}, 8),
        (S5, "sledai2k", {}, 2),
        (S5, "clinical-sledai", {}, 0),
        (S7, "sledai2k", {}, 10),
        (S7, "sledai2k", {"window_days": 30}, 12),
    ],
    ids=["S1", "S1-clinical", "S4", "S4-clinical", "S5", "S5-clinical", "S7-10day", "S7-30day"],
)
def test_worked_examples(patient, standard, opts, expected):
    assert total(standard, patient, **opts).value == expected


def test_s1_items_and_evidence():
    row = total("sledai2k", S1)
    assert row.components["items"] == {
        "arthritis": 4,
        "proteinuria": 4,
        "rash": 2,
        "mucosal_ulcers": 2,
        "low_complement": 2,
        "increased_dna_binding": 2,
    }
    assert row.variant == "SLEDAI-2K, 10-day window"
    assert row.options["window_days"] == 10


def test_s2_persistent_proteinuria_scores_in_2k_not_in_selena():
    s2 = {"labs": [lab("PROT", 0.8, "g/24h", time=t, specimen="urine") for t in (-180, -90, 0)]}
    assert total("sledai2k", s2).value == 4
    assert total("selena-sledai", s2).value == 0
    assert total("hybrid-sledai", s2).value == 4


def test_selena_proteinuria_increase_above_half_gram_scores():
    p = {
        "labs": [
            lab("PROT", 0.8, "g/24h", time=-90, specimen="urine"),
            lab("PROT", 1.4, "g/24h", specimen="urine"),
        ]
    }
    assert total("selena-sledai", p).value == 4


def test_s7_variant_records_window():
    assert total("sledai2k", S7, window_days=30).variant == "SLEDAI-2K, 30-day window"


@pytest.mark.parametrize(
    "record, expected",
    [
        (lab("RBC", 5, "/hpf", specimen="urine"), 0),
        (lab("RBC", 6, "/hpf", specimen="urine"), 4),
        (lab("WBC", 5, "/hpf", specimen="urine"), 0),
        (lab("WBC", 6, "cells/hpf", specimen="urine"), 4),
        (lab("PROT", 0.5, "g/24h", specimen="urine"), 0),
        (lab("PROT", 501, "mg/24h", specimen="urine"), 4),
        (lab("PLAT", 100, "10^9/L"), 0),
        (lab("PLAT", 99, "10^9/L"), 1),
        (lab("PLAT", 99000, "/uL"), 1),
        (lab("WBC", 3.0, "10^9/L"), 0),
        (lab("WBC", 2.9, "x10^9/L"), 1),
        (lab("PROTCRT", 56.6, "mg/mmol", specimen="urine"), 4),
        (lab("PROTCRT", 50, "mg/mmol", specimen="urine"), 0),
        (lab("PROTCRT", 500, "mg/g", specimen="urine"), 0),
    ],
    ids=[
        "rbc-5",
        "rbc-6",
        "urine-wbc-5",
        "urine-wbc-6",
        "prot-0.5",
        "prot-501mg",
        "plt-100",
        "plt-99",
        "plt-99000-per-uL",
        "wbc-3.0",
        "wbc-2.9",
        "upcr-56.6-mg-mmol",
        "upcr-50-mg-mmol",
        "upcr-500-mg-g",
    ],
)
def test_laboratory_boundaries(record, expected):
    assert total("sledai2k", {"labs": [record]}).value == expected


@pytest.mark.parametrize(
    "value, unit, expected",
    [(38.0, "C", 0), (38.1, "degC", 1), (100.4, "F", 0), (100.6, "°F", 1)],
    ids=["38.0C", "38.1C", "100.4F", "100.6F"],
)
def test_fever_boundary(value, unit, expected):
    p = {
        "vitals": [{"test": "TEMP", "value": value, "unit": unit, "time": 0, "attribution": "sle"}]
    }
    assert total("sledai2k", p).value == expected


@pytest.mark.parametrize(
    "standard, joints, expected",
    [
        ("sledai2k", 2, 4),
        ("sledai2k", 1, 0),
        ("selena-sledai", 2, 0),
        ("selena-sledai", 3, 4),
        ("hybrid-sledai", 2, 0),
    ],
    ids=["2k-2joints", "2k-1joint", "selena-2joints", "selena-3joints", "hybrid-2joints"],
)
def test_arthritis_cut_off_follows_variant(standard, joints, expected):
    assert (
        total(standard, {"sledai_findings": [finding("arthritis", joints=joints)]}).value
        == expected
    )


def test_arthritis_cut_off_option_overrides_variant():
    p = {"sledai_findings": [finding("arthritis", joints=2)]}
    assert total("sledai2k", p, arthritis_min_joints=3).value == 0


def test_upcr_can_be_refused():
    p = {"labs": [lab("PROTCRT", 900, "mg/g", specimen="urine")]}
    assert total("sledai2k", p).value == 4
    assert total("sledai2k", p, accept_upcr=False).value == 0


@pytest.mark.parametrize("day, expected", [(-10, 2), (-11, 0)], ids=["day-10-in", "day-11-out"])
def test_window_edges(day, expected):
    assert total("sledai2k", {"sledai_findings": [finding("rash", start=day)]}).value == expected


def test_any_low_value_in_window_scores():
    labs = [lab("C3", v, "mg/dL", time=t, ref_low=90) for t, v in ((-8, 120), (-4, 80), (0, 110))]
    assert total("sledai2k", {"labs": labs}).value == 2


def test_attribution_rules():
    unspecified = {"sledai_findings": [{"descriptor": "rash", "start": 0}]}
    row = total("sledai2k", unspecified)
    assert row.value == 2 and any("unspecified" in f for f in row.flags)
    assert total("sledai2k", unspecified, unattributed="exclude").value == 0
    damage = {"sledai_findings": [finding("alopecia", attribution="damage")]}
    assert total("sledai2k", damage).value == 0


def test_complement_without_limit_is_an_error():
    with pytest.raises(ScoringError, match=r"labs\[0\].*C3.*ref_low"):
        total("sledai2k", {"labs": [lab("C3", 0.5, "g/L")]})


def test_visit_based_standard_needs_visits():
    with pytest.raises(ScoringError, match="no `visits`"):
        clinical.score("sledai2k", {"patient_id": "P"})


def test_calendar_dates_and_all_weights():
    findings = [
        {
            "descriptor": d,
            "start": "2024-03-01",
            "attribution": "sle",
            **({"joints": 4} if d == "arthritis" else {}),
        }
        for d in clinical.records.SLEDAI_DESCRIPTORS
    ]
    rows = clinical.score(
        "sledai2k",
        {"patient_id": "P", "visits": [{"time": "2024-03-05"}], "sledai_findings": findings},
    )
    assert rows[0].value == 105
