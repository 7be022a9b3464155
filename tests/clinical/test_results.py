"""Rows every scorer shares: grade labels, the closing death and worst rows, verdict rows."""

from __future__ import annotations

import pytest

from allocart.clinical.records import PatientRecords
from allocart.clinical.results import Context, Options, died_of, grade_label


def _ctx() -> Context:
    return Context(standard="crs", variant="test variant", source="test source", options=Options())


def _patient(death: dict | None = None) -> PatientRecords:
    return PatientRecords.model_validate(
        {"patient_id": "P1", **({} if death is None else {"death": death})}
    )


@pytest.mark.parametrize(
    "grade, syndrome, phase, expected",
    [
        (0, "CRS", "", "no CRS"),
        (3, "CRS", "", "grade 3"),
        (0, "ICAHT", "early", "no early ICAHT"),
        (2, "ICAHT", "late", "late grade 2"),
        (0, "IEC-HS", "", "no IEC-HS"),
    ],
)
def test_grade_label(grade: int, syndrome: str, phase: str, expected: str) -> None:
    assert grade_label(grade, syndrome, phase) == expected


def test_worst_rows_without_death_carry_the_worst_grade() -> None:
    rows = _ctx().worst_rows(
        _patient(), 2, cause="crs", syndrome="CRS", components={"n": 1}, flags=["a", "a"]
    )
    assert [r.item for r in rows] == ["worst"]
    assert (rows[0].value, rows[0].label, rows[0].components) == (2, "grade 2", {"n": 1})
    assert rows[0].flags == ("a",)


def test_worst_rows_death_from_the_syndrome_is_grade_5() -> None:
    patient = _patient({"time": 12, "cause": "icans"})
    assert died_of(patient, "icans") and not died_of(patient, "crs")
    rows = _ctx().worst_rows(patient, 3, cause="icans", syndrome="ICANS")
    assert [(r.item, r.value, r.label) for r in rows] == [
        ("death", 5, "grade 5 (death due to ICANS)"),
        ("worst", 5, "grade 5"),
    ]
    assert rows[0].day == 12.0
    other = _ctx().worst_rows(patient, 0, cause="crs", syndrome="CRS")
    assert [(r.item, r.value, r.label) for r in other] == [("worst", 0, "no CRS")]


@pytest.mark.parametrize(
    "criteria, expected", [({"a": True, "b": True}, True), ({"a": True, "b": False}, False)]
)
def test_verdict_is_met_only_when_every_criterion_holds(
    criteria: dict[str, bool], expected: bool
) -> None:
    row = _ctx().verdict(
        _patient(),
        time=30.0,
        criteria=criteria,
        labels=("responder", "non-responder"),
        components={"criteria": criteria},
        flags=[],
        variant="SRI-4",
    )
    assert (row.item, row.value, row.day, row.variant) == ("visit", expected, 30.0, "SRI-4")
    assert row.label == ("responder" if expected else "non-responder")
