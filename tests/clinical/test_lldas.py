"""LLDAS: worked examples L1-L5 and criterion-5 options."""

import pytest

from allocart import clinical

from .helpers import medication, sledai_records


def visit_patient(prev_items, items, pga=0.8, pred=7.5, meds=(), **visit):
    findings, labs = [], []
    for day, its in ((-90, prev_items), (0, items)):
        f, lab = sledai_records(day, its)
        findings += f
        labs += lab
    medications = list(meds)
    if pred:
        medications.append(medication("prednisolone", "glucocorticoid", -200, pred))
    flags = {"haemolytic_anaemia": False, "gi_activity": False, **visit}
    return {
        "patient_id": "P",
        "visits": [{"time": -90, **flags}, {"time": 0, **flags}],
        "sledai_findings": findings,
        "labs": labs,
        "pga": [{"time": -90, "value": pga}, {"time": 0, "value": pga}],
        "medications": medications,
    }


HCQ_MMF = [
    medication("hydroxychloroquine", "antimalarial", -400, 400),
    medication("MMF", "immunosuppressant", -400, 1, "g", frequency="bid"),
]
SEROLOGY = ["low_complement", "increased_dna_binding"]


def lldas(p, **opts):
    return clinical.score("lldas", p, **opts)[-1]


@pytest.mark.parametrize(
    "p, expected",
    [
        (visit_patient(SEROLOGY, SEROLOGY, meds=HCQ_MMF), True),
        (visit_patient(["proteinuria"], ["proteinuria"]), False),
        (visit_patient(["rash", "fever"], ["rash", "fever"]), False),
        (visit_patient([], ["alopecia"], pga=0.5, pred=0), False),
    ],
    ids=["L1", "L2-renal", "L4-fever-major", "L5-new-feature"],
)
def test_worked_examples(p, expected):
    assert lldas(p).value is expected


def test_l2_reports_major_organ_item():
    row = lldas(visit_patient(["proteinuria"], ["proteinuria"]))
    assert row.components["major_organ_items"] == ["proteinuria"]
    assert row.components["criteria"]["sledai_low_no_major_organ"] is False


@pytest.mark.parametrize(
    "pga, pred, expected",
    [(1.0, 7.5, True), (1.1, 7.5, False), (0.8, 8.0, False)],
    ids=["pga-1.0", "pga-1.1", "pred-8"],
)
def test_pga_and_steroid_boundaries(pga, pred, expected):
    assert lldas(visit_patient(SEROLOGY, SEROLOGY, pga=pga, pred=pred)).value is expected


@pytest.mark.parametrize(
    "dose, expected", [(25, True), (35, False)], ids=["mtx-25-weekly", "mtx-35-weekly"]
)
def test_methotrexate_cap_is_weekly(dose, expected):
    mtx = [medication("methotrexate", "immunosuppressant", -300, dose, frequency="weekly")]
    assert lldas(visit_patient([], [], meds=mtx)).value is expected


def test_investigational_drug_and_car_t_option():
    car_t = [
        {"name": "allogeneic CD19 CAR-T", "category": "car_t", "start": -60, "frequency": "once"}
    ]
    assert lldas(visit_patient([], [], meds=car_t)).value is True
    assert lldas(visit_patient([], [], meds=car_t), car_t_breaks_criterion_5=True).value is False
    trial = [{"name": "drug X", "category": "investigational", "start": -60}]
    assert lldas(visit_patient([], [], meds=trial)).value is False


def test_first_visit_and_missing_haemolysis():
    rows = clinical.score("lldas", visit_patient([], []))
    assert rows[0].evaluable is False
    p = visit_patient([], [], haemolytic_anaemia=None)
    assert lldas(p).value is True and any("haemolytic" in f for f in lldas(p).flags)
    assert lldas(p, missing_haemolysis_gi="not_evaluable").evaluable is False
