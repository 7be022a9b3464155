"""Configurable DLT rules: worked examples T1-T8 and rule options."""

import pytest

from allocart import clinical
from allocart.errors import ScoringError


def ae(category, grade, start, end=None, term=None, **kw):
    scale = {
        "crs": "astct-2019",
        "icans": "astct-2019",
        "iec_hs": "astct-2023",
        "gvhd": "magic",
    }.get(category, "ctcae-5.0")
    return {
        "term": term or category,
        "category": category,
        "grade": grade,
        "scale": scale,
        "start": start,
        "end": end,
        "relatedness": "probable",
        **kw,
    }


def dlt(**patient):
    opts = patient.pop("opts", {})
    row = clinical.score("dlt", {"patient_id": "P", **patient}, **opts)[0]
    return row


T1 = {"adverse_events": [ae("crs", 3, 5, 6), ae("crs", 1, 6, 8)]}
T2 = {"adverse_events": [ae("crs", 3, 4, 8), ae("crs", 1, 8, 10)]}
T4 = {
    "labs": [{"test": "NEUT", "value": 300, "unit": "/uL", "time": d} for d in range(2, 36, 3)]
    + [{"test": "NEUT", "value": 300, "unit": "/uL", "time": 35}]
}
T5 = {"labs": [{"test": "LYM", "value": 0.1, "unit": "10^9/L", "time": d} for d in range(0, 61, 5)]}
T7 = {"weight_kg": 70, "gvhd": [{"time": 22, "stool_ml_per_day": 1100}]}
T8 = {"adverse_events": [ae("febrile_neutropenia", 3, 8, 10, term="Febrile neutropenia")]}


@pytest.mark.parametrize(
    "patient, expected",
    [(T1, False), (T2, True), (T4, True), (T5, False), (T7, True), (T8, False)],
    ids=[
        "T1-crs3-24h",
        "T2-crs3-96h",
        "T4-anc-beyond-28",
        "T5-lymphopenia",
        "T7-gvhd-III",
        "T8-fn-48h",
    ],
)
def test_worked_examples(patient, expected):
    assert dlt(**patient).value is expected


def test_t2_names_the_rule():
    row = dlt(**T2)
    assert (
        row.components["dlts"][0]["rule"] == "crs" and "96 h" in row.components["dlts"][0]["detail"]
    )


@pytest.mark.parametrize("hours, expected", [(72, False), (73, True)], ids=["72h", "73h"])
def test_crs_grade3_duration_boundary(hours, expected):
    assert dlt(adverse_events=[ae("crs", 3, 5.0, 5.0 + hours / 24)]).value is expected


def test_crs_grade4_any_duration_and_grade3_option():
    assert dlt(adverse_events=[ae("crs", 4, 5.0, 5.5)]).value is True
    assert (
        dlt(adverse_events=[ae("crs", 3, 5.0, 5.5)], opts={"crs_grade3_max_hours": None}).value
        is True
    )


def test_icans_rules():
    assert dlt(adverse_events=[ae("icans", 3, 7, 8)]).value is True
    assert (
        dlt(adverse_events=[ae("icans", 3, 7, 8)], opts={"icans_grade3_max_hours": 72}).value
        is False
    )
    assert dlt(adverse_events=[ae("icans", 2, 7, 12)]).value is False


def test_window_attribution_and_iec_hs():
    assert dlt(adverse_events=[ae("iec_hs", 3, 29, 35)]).value is False
    assert dlt(adverse_events=[ae("iec_hs", 3, 29, 35)], opts={"window_end_day": 29}).value is True
    assert dlt(adverse_events=[ae("crs", 4, 3, 5, relatedness="not_related")]).value is False


def test_t4_needs_values_beyond_day_28():
    labs = [{"test": "NEUT", "value": 300, "unit": "/uL", "time": d} for d in range(2, 29)]
    row = dlt(labs=labs)
    assert row.value is False and "not beyond day 28" in row.components["considered"][0]["detail"]


def test_other_events_and_exclusions():
    assert dlt(adverse_events=[ae("other", 3, 10, 15, term="Transaminitis")]).value is True
    assert (
        dlt(
            adverse_events=[ae("other", 3, 10, 15, term="Mucositis", expected_ld_toxicity=True)]
        ).value
        is False
    )
    assert dlt(adverse_events=[ae("fever", 3, 10, 15)]).value is False
    assert dlt(adverse_events=[ae("infusion_reaction", 3, 0, 0.5)]).value is False
    assert (
        dlt(
            adverse_events=[ae("other", 3, 10, 15, term="Transaminitis")],
            opts={"other_min_hours": 168},
        ).value
        is False
    )


def test_gvhd_grade_option_and_death():
    assert dlt(**T7, opts={"gvhd_min_grade": 4}).value is False
    assert dlt(death={"time": 12, "cause": "crs"}).value is True
    assert dlt(death={"time": 12, "cause": "infection"}).value is False


def test_needs_day_zero():
    with pytest.raises(ScoringError, match="infusion"):
        dlt(adverse_events=[ae("crs", 4, "2024-01-05", "2024-01-06")])
    assert (
        dlt(infusion="2024-01-01", adverse_events=[ae("crs", 4, "2024-01-05", "2024-01-06")]).value
        is True
    )


@pytest.mark.parametrize(
    "events, expected_hours",
    [
        ([ae("icans", 3, 7, 8), ae("icans", 2, 8, 10.5), ae("icans", 1, 10.5, 12)], 84),
        ([ae("icans", 3, 7, 8), ae("icans", 2, 8, 10)], 72),
        ([ae("icans", 3, 7, 8), ae("icans", 1, 8, 10)], 24),
        ([ae("icans", 3, 7, 10.5), ae("icans", 1, 10.5, 12)], 84),
        (
            [
                ae("icans", 2, 5, 7),
                ae("icans", 3, 7, 8),
                ae("icans", 2, 8, 9),
                ae("icans", 1, 9, 10),
            ],
            48,
        ),
        ([ae("icans", 3, 7, 8), ae("icans", 2, 9, 12)], 24),
    ],
    ids=[
        "3-2-1",
        "3-2-end-of-records",
        "3-1-direct",
        "3-1-direct-long",
        "2-3-2-1",
        "grade-2-after-a-gap",
    ],
)
def test_icans_duration_runs_until_grade_1(events, expected_hours):
    row = dlt(adverse_events=events, opts={"icans_grade3_max_hours": 72})
    [noted] = row.components["dlts"] + row.components["considered"]
    assert (
        noted["rule"] == "icans" and f"for {expected_hours:g} h until grade <= 1" in noted["detail"]
    )
    assert row.value is (expected_hours > 72)


def test_icans_grade_2_bridge_makes_one_episode():
    events = [
        ae("icans", 3, 7, 8),
        ae("icans", 2, 8, 9),
        ae("icans", 3, 9, 10),
        ae("icans", 1, 10, 11),
    ]
    row = dlt(adverse_events=events, opts={"icans_grade3_max_hours": 48})
    [noted] = row.components["dlts"]
    assert "for 72 h" in noted["detail"] and "adverse_events[2]" in noted["detail"]
    assert (
        dlt(
            adverse_events=events[:2] + [ae("icans", 2, 9, None)],
            opts={"icans_grade3_max_hours": 72},
        ).value
        is True
    )


def test_icans_duration_with_dates_and_default_rule():
    events = [
        ae("icans", 3, "2024-01-05", "2024-01-06"),
        ae("icans", 2, "2024-01-06", "2024-01-09"),
        ae("icans", 1, "2024-01-09", "2024-01-10"),
    ]
    row = dlt(infusion="2024-01-01", adverse_events=events, opts={"icans_grade3_max_hours": 72})
    assert row.value is True and "for 96 h" in row.components["dlts"][0]["detail"]
    assert dlt(adverse_events=[ae("icans", 3, 7, 8), ae("icans", 1, 8, 10)]).value is True
    assert (
        dlt(
            adverse_events=[ae("icans", 4, 7, 7.5), ae("icans", 1, 7.5, 10)],
            opts={"icans_grade3_max_hours": 72},
        ).value
        is True
    )
