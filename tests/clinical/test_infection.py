"""Infections graded from their attributes (CTCAE v5.0), the worst-grade row and the DLT infection rule."""

import itertools
import json

import pytest

from allocart import clinical
from allocart.cli.app import main
from allocart.clinical.ctcae import infection_grade
from allocart.clinical.records import Infection
from allocart.errors import ScoringError

ANTIMICROBIAL = ("none", "local", "oral", "iv")


def expected_grade(antimicrobial, invasive, life_threatening, fatal):
    """CTCAE v5.0 "Infections and infestations", written out row by row from the table."""
    if fatal:
        return 5  # death
    if life_threatening:
        return 4  # life-threatening consequences; urgent intervention indicated
    if antimicrobial == "iv" or invasive:
        return 3  # IV antibiotic, antifungal or antiviral intervention indicated; invasive intervention indicated
    if antimicrobial == "oral":
        return 2  # oral intervention indicated
    return 1  # localised; local intervention indicated


ALL_COMBINATIONS = list(
    itertools.product(ANTIMICROBIAL, (False, True), (False, True), (False, True))
)


@pytest.mark.parametrize("antimicrobial, invasive, life_threatening, fatal", ALL_COMBINATIONS)
def test_grade_of_every_attribute_combination(antimicrobial, invasive, life_threatening, fatal):
    inf = Infection(
        term="pneumonia",
        start=10,
        antimicrobial=antimicrobial,
        invasive_intervention=invasive,
        life_threatening=life_threatening,
        fatal=fatal,
    )
    assert infection_grade(inf) == expected_grade(antimicrobial, invasive, life_threatening, fatal)


@pytest.mark.parametrize(
    "attributes, grade",
    [
        ({}, 1),
        ({"antimicrobial": "local"}, 1),
        ({"antimicrobial": "oral"}, 2),
        ({"antimicrobial": "iv"}, 3),
        ({"invasive_intervention": True}, 3),
        ({"antimicrobial": "oral", "invasive_intervention": True}, 3),
        ({"life_threatening": True}, 4),
        ({"fatal": True}, 5),
    ],
    ids=["none", "local", "oral", "iv", "invasive", "oral+invasive", "life-threatening", "fatal"],
)
def test_ctcae_table_rows(attributes, grade):
    assert infection_grade(Infection(term="cellulitis", start=3, **attributes)) == grade


def test_record_defaults_validation_and_export():
    inf = Infection(term="urinary tract infection", start=4)
    assert (inf.antimicrobial, inf.invasive_intervention, inf.life_threatening, inf.fatal) == (
        "none",
        False,
        False,
        False,
    )
    assert (inf.relatedness, inf.attribution, inf.serious, inf.end) == (
        "unspecified",
        "infection",
        False,
        None,
    )
    assert clinical.Infection is Infection
    assert clinical.PatientRecords(patient_id="P").infections == ()
    for bad in (
        {"term": "", "start": 1},
        {"term": "x", "start": 5, "end": 3},
        {"term": "x", "start": 1, "antimicrobial": "im"},
        {"term": "x", "start": 1, "grade": 3},
    ):
        with pytest.raises(ValueError):
            Infection(**bad)


def test_malformed_infection_names_the_field():
    p = {"patient_id": "P", "infections": [{"term": "sepsis", "start": 5, "end": 2}]}
    with pytest.raises(ScoringError, match=r"infections\[0\]"):
        clinical.score("ctcae", p)


def test_infection_dates_need_infusion_when_mixed():
    p = {
        "patient_id": "P",
        "labs": [{"test": "PLAT", "value": 100, "unit": "10^9/L", "time": 3}],
        "infections": [{"term": "sepsis", "start": "2024-01-05"}],
    }
    with pytest.raises(ScoringError, match="infusion"):
        clinical.score("ctcae", p)
    rows = clinical.score("ctcae", {**p, "infusion": "2024-01-01"})
    assert [r.day for r in rows if r.item == "infection"] == [4.0]


def ctcae_rows(records, **opts):
    return clinical.score("ctcae", {"patient_id": "P", "infections": records}, **opts)


def test_ctcae_rows_per_infection_and_worst():
    infections = [
        {"term": "pneumonia", "start": 12, "antimicrobial": "iv"},
        {"term": "oral candidiasis", "start": 5, "antimicrobial": "oral"},
        {"term": "sepsis", "start": -3, "life_threatening": True},
    ]
    rows = ctcae_rows(infections)
    per = [r for r in rows if r.item == "infection"]
    assert [(r.day, r.value, r.components["record"]) for r in per] == [
        (-3.0, 4, "infections[2]"),
        (5.0, 2, "infections[1]"),
        (12.0, 3, "infections[0]"),
    ]
    assert (
        per[2].components["decided_by"] == ["antimicrobial=iv"]
        and per[2].label == "grade 3 (pneumonia)"
    )
    assert per[0].components["life_threatening"] is True
    worst = [r for r in rows if r.item == "infection (worst post-baseline)"]
    assert len(worst) == 1 and worst[0].value == 3  # the grade 4 sepsis is before day 0 (baseline)
    assert worst[0].components["records"] == ["infections[1]", "infections[0]"]
    assert worst[0].components["baseline_records"] == ["infections[2]"]
    assert [
        r
        for r in ctcae_rows(infections, baseline_before_day=-5)
        if "worst" in r.item and "infection" in r.item
    ][0].value == 4


def test_ctcae_worst_is_zero_without_infections_and_option_off():
    rows = ctcae_rows([])
    worst = [r for r in rows if r.item == "infection (worst post-baseline)"]
    assert len(worst) == 1 and worst[0].value == 0 and worst[0].evaluable
    rows = ctcae_rows([{"term": "pneumonia", "start": 3, "antimicrobial": "iv"}], infections=False)
    assert not [r for r in rows if r.item.startswith("infection")]


def test_ctcae_infections_independent_of_terms_and_lab_rows_unchanged():
    labs = [{"test": "NEUT", "value": 0.8, "unit": "10^9/L", "time": 6, "ref_low": 1.8}]
    inf = [{"term": "pneumonia", "start": 6, "antimicrobial": "iv"}]
    without = clinical.score(
        "ctcae", {"patient_id": "P", "labs": labs}, terms=("neutrophil_count_decreased",)
    )
    rows = clinical.score(
        "ctcae",
        {"patient_id": "P", "labs": labs, "infections": inf},
        terms=("neutrophil_count_decreased",),
    )
    lab_rows = [r for r in rows if not r.item.startswith("infection")]
    assert [(r.item, r.value) for r in lab_rows] == [
        (r.item, r.value) for r in without if not r.item.startswith("infection")
    ]
    assert [(r.item, r.value) for r in rows if r.item.startswith("infection")] == [
        ("infection", 3),
        ("infection (worst post-baseline)", 3),
    ]


def test_hypogammaglobulinaemia_lists_infection_records():
    p = {
        "patient_id": "P",
        "labs": [{"test": "IGG", "value": 3.0, "unit": "g/L", "time": 60}],
        "infections": [
            {"term": "sinusitis", "start": 40, "antimicrobial": "oral"},
            {"term": "zoster", "start": 70},
        ],
    }
    row = [r for r in clinical.score("ctcae", p) if r.item == "hypogammaglobulinaemia"][0]
    assert row.components["infections"] == ["infections[0] (sinusitis)"]


# ----------------------------------------------------------------------------- DLT


def dlt(records=(), **patient):
    opts = patient.pop("opts", {})
    return clinical.score(
        "dlt", {"patient_id": "P", "infections": list(records), **patient}, **opts
    )[0]


def inf(start, hours=None, **kw):
    end = None if hours is None else start + hours / 24
    return {
        "term": kw.pop("term", "pneumonia"),
        "start": start,
        "end": end,
        "relatedness": "possible",
        **kw,
    }


@pytest.mark.parametrize(
    "record, opts, expected",
    [
        (inf(5, 48, antimicrobial="iv"), {}, False),
        (inf(5, 72, antimicrobial="iv"), {}, False),
        (inf(5, 96, antimicrobial="iv"), {}, True),
        (inf(5, None, antimicrobial="iv"), {}, True),
        (inf(5, 96, invasive_intervention=True), {}, True),
        (inf(5, 12, life_threatening=True), {}, True),
        (inf(5, 2, fatal=True), {}, True),
        (inf(5, 240, antimicrobial="oral"), {}, False),
        (inf(30, 96, antimicrobial="iv"), {}, False),
        (inf(-2, 96, antimicrobial="iv"), {}, False),
        (inf(5, 96, antimicrobial="iv", relatedness="not_related"), {}, False),
        (inf(5, 96, antimicrobial="iv", relatedness="unlikely"), {}, False),
        (inf(5, 96, antimicrobial="iv", relatedness="unspecified"), {}, True),
        (
            inf(5, 96, antimicrobial="iv", relatedness="unspecified"),
            {"unspecified_relatedness": "exclude"},
            False,
        ),
        (inf(5, 96, antimicrobial="iv"), {"infection": False}, False),
        (inf(5, 12, life_threatening=True), {"infection": False}, False),
        (inf(5, 48, antimicrobial="iv"), {"infection_min_hours": None}, True),
        (inf(5, 48, antimicrobial="iv"), {"infection_min_hours": 24}, True),
        (inf(5, 96, antimicrobial="iv"), {"infection_min_grade": 4}, False),
        (inf(5, 96, antimicrobial="oral"), {"infection_min_grade": 2}, True),
        (inf(30, 96, antimicrobial="iv"), {"window_end_day": 30}, True),
    ],
    ids=[
        "g3-48h",
        "g3-72h",
        "g3-96h",
        "g3-ongoing",
        "invasive-96h",
        "g4-12h",
        "g5",
        "g2-10d",
        "day-30",
        "day-minus-2",
        "not-related",
        "unlikely",
        "unspecified",
        "unspecified-excluded",
        "option-off",
        "g4-option-off",
        "any-duration",
        "min-24h",
        "min-grade-4",
        "min-grade-2",
        "window-30",
    ],
)
def test_dlt_infection_rule(record, opts, expected):
    row = dlt([record], opts=opts)
    assert row.value is expected
    if expected:
        assert {d["rule"] for d in row.components["dlts"]} <= {"infection", "death"}
        assert any(d["rule"] == "infection" for d in row.components["dlts"])


def test_dlt_infection_details():
    row = dlt([inf(5, 48, antimicrobial="iv")])
    [c] = row.components["considered"]
    assert c["rule"] == "infection" and c["day"] == 5
    assert (
        "pneumonia (infections[0]) grade 3 for 48 h" in c["detail"]
        and "not longer than 72 h" in c["detail"]
    )
    row = dlt([inf(5, 48, antimicrobial="iv", relatedness="not_related")])
    assert row.components["considered"] == [
        {"rule": "attribution", "day": 5, "detail": "infections[0] (pneumonia) not_related"}
    ]
    assert dlt([inf(5, 48, antimicrobial="oral")]).components["considered"] == []


def test_dlt_calendar_dates_count_whole_days():
    record = {
        "term": "pneumonia",
        "start": "2024-01-05",
        "end": "2024-01-09",
        "antimicrobial": "iv",
    }
    row = dlt([record], infusion="2024-01-01")
    assert row.value is True and "for 96 h" in row.components["dlts"][0]["detail"]
    assert dlt([{**record, "end": "2024-01-08"}], infusion="2024-01-01").value is False


def test_fatal_infection_is_also_a_death():
    row = dlt([inf(9, 1, fatal=True)])
    assert {d["rule"] for d in row.components["dlts"]} == {"infection", "death"}
    assert dlt(death={"time": 12, "cause": "infection"}).value is False
    assert dlt(death={"time": 12, "cause": "crs"}).value is True


def ae(grade, start, end, term="Pneumonia", **kw):
    return {
        "term": term,
        "category": "infection",
        "grade": grade,
        "scale": "ctcae-5.0",
        "start": start,
        "end": end,
        "relatedness": "probable",
        **kw,
    }


@pytest.mark.parametrize(
    "event, expected",
    [
        (ae(3, 10, 12), False),
        (ae(3, 10, 15), True),
        (ae(4, 10, 10.5), True),
        (ae(2, 10, 20), False),
    ],
    ids=["g3-48h", "g3-120h", "g4-12h", "g2"],
)
def test_infection_adverse_events_use_the_infection_rule(event, expected):
    row = dlt(adverse_events=[event])
    assert row.value is expected
    rules = {d["rule"] for d in row.components["dlts"] + row.components["considered"]}
    assert "other" not in rules
    if event["grade"] >= 3:
        assert rules == {"infection"}


def test_infection_adverse_events_keep_their_typed_grade_and_option_off():
    row = dlt(adverse_events=[ae(4, 10, 10.5)])
    assert "pneumonia (adverse_events[0]) grade 4" in row.components["dlts"][0]["detail"]
    assert dlt(adverse_events=[ae(4, 10, 10.5)], opts={"infection": False}).value is False
    assert dlt(adverse_events=[ae(3, 10, 15, expected_ld_toxicity=True)]).value is False
    grade5 = dlt(adverse_events=[ae(5, 10, 10)])
    assert {d["rule"] for d in grade5.components["dlts"]} == {"infection", "death"}


def test_other_rule_unchanged_for_other_categories():
    row = dlt(
        adverse_events=[
            {
                "term": "Transaminitis",
                "category": "other",
                "grade": 3,
                "scale": "ctcae-5.0",
                "start": 10,
                "end": 15,
                "relatedness": "probable",
            }
        ]
    )
    assert row.value is True and row.components["dlts"][0]["rule"] == "other"


# ----------------------------------------------------------------------------- JSON round trip


PATIENT = {
    "patient_id": "P1",
    "infusion": "2024-03-01",
    "infections": [
        {
            "term": "pneumonia",
            "start": "2024-03-08",
            "end": "2024-03-14",
            "antimicrobial": "iv",
            "relatedness": "possible",
            "serious": True,
        },
        {"term": "oral herpes", "start": 40, "antimicrobial": "oral"},
    ],
}


def test_json_round_trip_of_patient_records(tmp_path):
    [p] = clinical.load_patients(PATIENT)
    dumped = p.model_dump(mode="json")
    path = tmp_path / "patients.json"
    path.write_text(json.dumps({"patients": [dumped]}))
    [back] = clinical.load_patients(path)
    assert back == p and back.infections[0].antimicrobial == "iv" and back.infections[0].serious
    assert [infection_grade(i) for i in back.infections] == [3, 2]


def test_score_command_reads_infections(tmp_path, capsys):
    path = tmp_path / "patients.json"
    path.write_text(json.dumps([PATIENT]))
    assert main(["score", "ctcae", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    infection_rows = [
        (r["item"], r["value"], r["day"]) for r in rows if r["item"].startswith("infection")
    ]
    assert infection_rows == [
        ("infection", 3, 7.0),
        ("infection", 2, 40.0),
        ("infection (worst post-baseline)", 3, None),
    ]
    assert main(["score", "dlt", str(path), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["value"] is True and row["components"]["dlts"][0]["rule"] == "infection"
    assert main(["score", "ctcae", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "Infection" in schema["$defs"] and "infections" in schema["x-uses"]


# ----------------------------------------------------------------------------- property


def test_grade_is_in_range_and_monotone_in_every_attribute():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    attrs = st.fixed_dictionaries(
        {
            "antimicrobial": st.sampled_from(ANTIMICROBIAL),
            "invasive_intervention": st.booleans(),
            "life_threatening": st.booleans(),
            "fatal": st.booleans(),
        }
    )
    # One step up in one attribute: a stronger antimicrobial route, or a flag set. Every "at least
    # as severe" combination is reached by such steps, so this is monotonicity in every attribute.
    steps = st.sampled_from(
        ("local", "oral", "iv", "invasive_intervention", "life_threatening", "fatal")
    )

    @hypothesis.given(attrs, steps)
    @hypothesis.settings(max_examples=500, deadline=None, derandomize=True)
    def check(a, step):
        grade = infection_grade(Infection(term="x", start=1, **a))
        assert 1 <= grade <= 5
        if step in ANTIMICROBIAL:
            if ANTIMICROBIAL.index(step) <= ANTIMICROBIAL.index(a["antimicrobial"]):
                return
            b = {**a, "antimicrobial": step}
        else:
            b = {**a, step: True}
        raised = infection_grade(Infection(term="x", start=1, **b))
        assert 1 <= raised <= 5 and raised >= grade

    check()
