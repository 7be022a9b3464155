"""SELENA-SLEDAI flare index: worked examples F1-F5 and the doubling option."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError

from .helpers import sledai_records


def patient(prev, cur, pga=(0.5, 0.5), pred=(0, 0), flare=(), weight=60.0, **extra):
    f0, l0 = sledai_records(0, prev)
    f1, l1 = sledai_records(30, cur)
    meds = []
    if pred[0]:
        meds.append(
            {
                "name": "prednisone",
                "category": "glucocorticoid",
                "start": -10,
                "end": 15,
                "dose": pred[0],
                "dose_unit": "mg",
            }
        )
    if pred[1]:
        meds.append(
            {
                "name": "prednisone",
                "category": "glucocorticoid",
                "start": 16,
                "dose": pred[1],
                "dose_unit": "mg",
            }
        )
    return {
        "patient_id": "P",
        "weight_kg": weight,
        "visits": [{"time": 0}, {"time": 30}],
        "sledai_findings": f0 + f1,
        "labs": l0 + l1,
        "pga": [{"time": 0, "value": pga[0]}, {"time": 30, "value": pga[1]}],
        "flare_findings": list(flare),
        "medications": meds + list(extra.pop("meds", [])),
        **extra,
    }


SEROLOGY = ["low_complement", "increased_dna_binding"]
SIX = ["low_complement", "increased_dna_binding", "rash"]
FOURTEEN = ["arthritis", "myositis", "rash", "low_complement", "increased_dna_binding"]
F1 = patient(
    SEROLOGY,
    SEROLOGY + ["arthritis"],
    pga=(0.5, 1.0),
    flare=[{"time": 25, "manifestation": "arthritis", "attribution": "sle"}],
)
F2 = patient(SIX, FOURTEEN)
F4 = patient(SEROLOGY, SEROLOGY, pred=(10, 40))
F5 = patient([], [], pga=(1.0, 2.6))


def category(p, **opts):
    return clinical.score("sfi", p, **opts)[0].value


@pytest.mark.parametrize(
    "p, expected",
    [
        (F1, "mild/moderate"),
        (F2, "severe"),
        (F4, "severe"),
        (F5, "severe"),
        (patient([], []), "none"),
    ],
    ids=["F1", "F2", "F4", "F5", "no-change"],
)
def test_worked_examples(p, expected):
    assert category(p) == expected


def test_pga_2_5_is_not_severe():
    assert category(patient([], [], pga=(1.0, 2.5))) == "mild/moderate"


def test_doubling_is_a_qualifier_by_default():
    p = patient([], [], pred=(5, 10))  # 10 mg/day = 0.17 mg/kg
    assert category(p) == "mild/moderate"
    assert category(p, doubling_standalone=True) == "severe"


def test_severe_manifestation_needs_more_treatment():
    nephritis = [{"time": 20, "manifestation": "nephritis", "attribution": "sle"}]
    assert category(patient([], [], flare=nephritis)) == "mild/moderate"
    assert category(patient([], [], pred=(5, 10), flare=nephritis)) == "severe"


def test_hospitalisation_and_new_immunosuppressant_are_severe():
    assert (
        category(patient([], [], hospitalisations=[{"start": 10, "end": 14, "reason": "sle"}]))
        == "severe"
    )
    cyc = [
        {
            "name": "cyclophosphamide",
            "category": "immunosuppressant",
            "start": 12,
            "indication": "sle",
        }
    ]
    assert category(patient([], [], meds=cyc)) == "severe"


def test_mg_per_kg_rule_needs_weight():
    with pytest.raises(ScoringError, match="weight_kg"):
        category(patient([], [], pred=(5, 10), weight=None))
