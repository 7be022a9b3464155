"""DORIS 2021 remission, complete remission and drug-free remission: D1-D7."""

import pytest

from allocart import clinical

from .helpers import medication, sledai_records


def patient(items=(), pga=0.0, pred=0.0, hcq=False, other=(), serology_normal=False):
    findings, labs = sledai_records(0, items)
    if serology_normal:
        labs.append({"test": "C3", "value": 1.1, "unit": "g/L", "ref_low": 0.9, "time": 0})
    meds = list(other)
    if pred:
        meds.append(medication("prednisolone", "glucocorticoid", -100, pred))
    if hcq:
        meds.append(medication("hydroxychloroquine", "antimalarial", -400, 400))
    return {
        "patient_id": "P",
        "visits": [{"time": 0}],
        "sledai_findings": findings,
        "labs": labs,
        "pga": [{"time": 0, "value": pga}],
        "medications": meds,
    }


D1 = patient(["low_complement", "increased_dna_binding"], pga=0.4, pred=4, hcq=True)
D2 = patient(pga=0.5)
D4 = patient(["alopecia"], pga=0.3)
D5 = patient(pga=0.0, serology_normal=True)
D7 = patient(pga=0.3, pred=5)


def value(standard, p, **opts):
    return clinical.score(standard, p, **opts)[0].value


@pytest.mark.parametrize(
    "p, doris, drug_free",
    [
        (D1, True, False),
        (D2, False, False),
        (D4, False, False),
        (D5, True, True),
        (D7, True, False),
    ],
    ids=["D1", "D2", "D4", "D5", "D7"],
)
def test_worked_examples(p, doris, drug_free):
    assert value("doris", p) is doris
    assert value("drug-free-remission", p) is drug_free


def test_d1_records_serology_but_clinical_zero():
    row = clinical.score("doris", D1)[0]
    assert row.components["sledai2k"] == 4 and row.components["clinical_sledai"] == 0


def test_d5_is_also_complete_remission():
    assert value("doris-complete", D5) is True


def test_d7_strict_steroid_reading():
    assert value("doris", D7, prednisolone_inclusive=False) is False


def test_pga_inclusive_option():
    assert value("doris", D2, pga_inclusive=True) is True


def test_drug_free_antimalarial_option():
    p = patient(pga=0.0, hcq=True)
    assert value("drug-free-remission", p) is False
    assert value("drug-free-remission", p, antimalarials_allowed=True) is True


def test_drug_free_serology_option():
    p = patient(["low_complement"], pga=0.0)
    assert value("drug-free-remission", p) is True
    assert value("drug-free-remission", p, require_serology_negative=True) is False


def test_toxicity_steroids_option():
    dex = [medication("dexamethasone", "glucocorticoid", -1, 10, end=1, indication="toxicity")]
    p = patient(pga=0.0, other=dex)
    assert value("doris", p) is False
    assert value("doris", p, exclude_toxicity_steroids=True) is True


def test_stability_window():
    aza = [medication("azathioprine", "immunosuppressant", -10, 100)]
    p = patient(pga=0.0, other=aza)
    assert value("doris", p) is True
    assert value("doris", p, stable_days=90) is False
    assert value("doris-complete", patient(pga=0.0, other=aza, serology_normal=True)) is False


def test_glucocorticoid_equivalence():
    methylpred = [
        {
            "name": "methylprednisolone",
            "category": "glucocorticoid",
            "start": -10,
            "dose": 4,
            "dose_unit": "mg",
        }
    ]
    row = clinical.score("doris", patient(pga=0.0, other=methylpred))[0]
    assert row.components["prednisolone_mg_per_day"] == 5.0 and row.value is True
