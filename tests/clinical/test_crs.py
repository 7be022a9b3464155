"""ASTCT CRS grading: worked examples C1-C8 and options."""

import pytest

from allocart import clinical


def temp(value, time=1.5, **kw):
    return {"test": "TEMP", "value": value, "unit": "C", "time": time, **kw}


def sbp(value, time=1.5):
    return {"test": "SYSBP", "value": value, "unit": "mmHg", "time": time}


def pressor(name, start=1.4, end=1.6):
    return {"name": name, "category": "vasopressor", "start": start, "end": end}


def o2(device, flow=None, start=1.4, end=1.6, **kw):
    return {"device": device, "flow_l_min": flow, "start": start, "end": end, **kw}


def worst(vitals=(), meds=(), oxygen=(), **opts):
    p = {
        "patient_id": "P",
        "vitals": list(vitals),
        "medications": list(meds),
        "oxygen": list(oxygen),
    }
    return clinical.score("crs", p, **opts)[-1].value


@pytest.mark.parametrize(
    "vitals, meds, oxygen, expected",
    [
        ([temp(38.6), sbp(120)], [], [], 1),
        ([temp(39.0), sbp(85)], [], [o2("nasal_cannula", 2)], 2),
        ([temp(38.9), sbp(80)], [pressor("norepinephrine"), pressor("vasopressin")], [], 3),
        ([temp(38.5), sbp(75)], [pressor("norepinephrine"), pressor("phenylephrine")], [], 4),
        ([temp(37.9), sbp(85)], [], [], 0),
        ([temp(38.3)], [], [o2("nasal_cannula", 6)], 2),
        ([temp(38.3)], [], [o2("nasal_cannula", 7)], 3),
    ],
    ids=["C1", "C2", "C4-vasopressin-not-second", "C5", "C7-no-fever", "C8-6L", "C8-7L"],
)
def test_worked_examples(vitals, meds, oxygen, expected):
    assert worst(vitals, meds, oxygen) == expected


@pytest.mark.parametrize(
    "value, expected", [(38.0, 1), (37.99, 0), (100.4, 1)], ids=["38.0C", "37.99C", "100.4F"]
)
def test_fever_threshold_is_inclusive(value, expected):
    unit = "F" if value > 50 else "C"
    assert worst([{"test": "TEMP", "value": value, "unit": unit, "time": 1}]) == expected


def test_c7_flags_hypotension_without_fever():
    rows = clinical.score("crs", {"patient_id": "P", "vitals": [temp(37.9), sbp(85)]})
    assert any("without fever" in f for f in rows[0].flags)


@pytest.mark.parametrize(
    "device, expected", [("cpap", 4), ("face_mask", 3), ("non_rebreather", 3), ("blow_by", 2)]
)
def test_oxygen_devices(device, expected):
    assert worst([temp(38.5)], oxygen=[o2(device)]) == expected


def test_low_flow_face_mask_option():
    assert worst([temp(38.5)], oxygen=[o2("face_mask", 4)]) == 3
    assert worst([temp(38.5)], oxygen=[o2("face_mask", 4)], low_flow_face_mask_grade=2) == 2


def test_oxygen_for_another_cause_is_excluded():
    assert (
        worst([temp(38.5)], oxygen=[o2("high_flow_nasal_cannula", 40, attribution="infection")])
        == 1
    )


def test_infectious_fever_is_not_crs():
    assert worst([temp(39.0, attribution="infection")]) == 0


def test_fever_not_required_after_tocilizumab():
    vitals = [temp(38.8, time=1.5), temp(37.0, time=2.5), sbp(80, time=2.5)]
    meds = [
        pressor("norepinephrine", 2.4, 2.6),
        {"name": "tocilizumab", "category": "tocilizumab", "start": 1.8, "frequency": "once"},
    ]
    rows = clinical.score("crs", {"patient_id": "P", "vitals": vitals, "medications": meds})
    assert [r.value for r in rows if r.item.startswith("day")] == [1, 3]
    untreated = clinical.score(
        "crs", {"patient_id": "P", "vitals": vitals, "medications": meds[:1]}
    )
    assert untreated[-1].value == 1


def test_hypotension_threshold_option():
    assert worst([temp(38.5), sbp(95)]) == 1
    assert worst([temp(38.5), sbp(95)], sbp_below=100) == 2


def test_death_due_to_crs_is_grade_5():
    p = {"patient_id": "P", "vitals": [temp(39.5)], "death": {"time": 6, "cause": "crs"}}
    assert clinical.score("crs", p)[-1].value == 5


def test_timepoint_resolution_separates_measurements():
    vitals = [temp(38.5, time=1.25), sbp(80, time=1.75)]
    assert worst(vitals) == 2
    assert worst(vitals, resolution="timepoint") == 1
