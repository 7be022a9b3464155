"""Configurable dose-limiting toxicity (DLT) rules, evaluated per patient.

No single published DLT definition exists for autoimmune CAR-T; the default rule set is the
template of elements that recur in CAR-T phase 1 protocols, every element switchable:

====================== ==========================================================================
Element                Default rule
====================== ==========================================================================
Window                 events *starting* on day 0 to 28 after infusion
Attribution            at least possibly related (unspecified relatedness counts)
CRS (ASTCT)            grade 4 any duration; grade >= 3 lasting more than 72 h
ICANS (ASTCT)          grade >= 3 (optionally: grade 3 lasting more than N hours)
IEC-HS                 grade >= 3
Infection (CTCAE)      grade 4-5 any duration; grade 3 lasting more than 72 h. Infection records
                       are graded from their attributes (``ctcae.infection_grade``); adverse
                       events of category ``infection`` keep their reported grade
Haematological         CTCAE grade 4 neutropenia or thrombocytopenia (from ANC/platelet values)
                       starting in the window and persisting beyond day 28; lymphopenia and
                       B-cell aplasia excluded (expected pharmacology)
Other non-haematol.    grade >= 3 lasting more than 72 h, excluding fever, expected
                       lymphodepletion toxicities, grade 3 infusion reactions resolving within
                       24 h, and lab abnormalities without clinical significance resolving
                       within 96 h
Acute GvHD (MAGIC)     overall grade >= II (allogeneic products)
Death                  any grade 5 event not clearly due to another cause
====================== ==========================================================================

Durations come from adverse-event records: a grade change is a new record, so the time at
grade >= 3 is the union of touching grade >= 3 records of the same event. The ICANS duration
(``icans_grade3_max_hours``) instead runs from the start of grade >= 3 until resolution to
grade <= 1: touching grade 2 records after it count. An infection record spans its own
``start``..``end``. A duration equal to the limit is not "more than" it (a grade 3 CRS
improving after exactly 72 h is not a DLT). An event still open has unbounded duration.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from allocart.clinical.ctcae import ctcae_grade, infection_grade
from allocart.clinical.gvhd import ROMAN, GvhdOptions, overall_grade, stage_organs
from allocart.clinical.records import AdverseEvent, Infection, LabResult, PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult
from allocart.clinical.timing import duration_hours, interval, require_day_zero

__all__ = ["DltOptions", "score_dlt"]

_RELATEDNESS = {"not_related": 0, "unlikely": 1, "possible": 2, "probable": 3, "definite": 4}
_OTHER_CAUSES = ("infection", "sle", "drug", "other", "damage")


class DltOptions(Options):
    """The DLT rule set (defaults: the template above)."""

    window_start_day: int = Field(0, description="First day of the DLT window (day 0 = infusion).")
    window_end_day: int = Field(
        28, ge=0, description="Last day of the window (28; some protocols 29)."
    )
    min_relatedness: Literal["unlikely", "possible", "probable", "definite"] = Field(
        "possible", description="Least relatedness to study treatment that counts."
    )
    unspecified_relatedness: Literal["count", "exclude"] = Field(
        "count", description="How events without relatedness count."
    )
    crs: bool = Field(True, description="Apply the CRS rule.")
    crs_grade3_max_hours: float | None = Field(
        72.0, ge=0, description="Grade >= 3 CRS lasting longer is a DLT; None: any grade 3."
    )
    icans: bool = Field(True, description="Apply the ICANS rule.")
    icans_min_grade: int = Field(3, ge=1, le=5)
    icans_grade3_max_hours: float | None = Field(
        None,
        ge=0,
        description="If set, grade 3 ICANS counts only when it lasts longer than this many hours, measured from the "
        "start of grade >= 3 until resolution to grade <= 1 (touching grade 2 records count; protocols' '72-hour "
        "rule': grade 3 not resolving to grade <= 1 within 72 h). None: any grade 3.",
    )
    iec_hs: bool = Field(True, description="Apply the IEC-HS rule.")
    iec_hs_min_grade: int = Field(3, ge=1, le=5)
    infection: bool = Field(
        True,
        description="Apply the infection rule (project template): infection records graded by CTCAE v5.0 "
        "'Infections and infestations', and adverse events of category 'infection' at their reported grade.",
    )
    infection_min_grade: int = Field(
        3,
        ge=1,
        le=5,
        description="CTCAE v5.0 grade an infection must reach to be considered (template: 3).",
    )
    infection_min_hours: float | None = Field(
        72.0,
        ge=0,
        description="An infection below grade 4 counts only when it lasts longer than this (hours, end - start; "
        "ongoing = unbounded); grade >= 4 always counts (template: as the 72 h rule for other grade 3 events). "
        "None: any duration.",
    )
    haematological: bool = Field(
        True, description="Apply the haematological rule (from laboratory values)."
    )
    haematological_terms: tuple[
        Literal["neutrophil_count_decreased", "platelet_count_decreased"], ...
    ] = (
        "neutrophil_count_decreased",
        "platelet_count_decreased",
    )
    haematological_persist_beyond_day: int = Field(
        28, ge=0, description="Grade 4 must persist beyond this day."
    )
    gvhd: bool = Field(True, description="Apply the acute GvHD rule (allogeneic products).")
    gvhd_min_grade: int = Field(
        2, ge=1, le=4, description="MAGIC overall grade (2 = II; some protocols 3 = III)."
    )
    other: bool = Field(True, description="Apply the other non-haematological rule.")
    other_min_grade: int = Field(3, ge=1, le=5)
    other_min_hours: float = Field(
        72.0,
        ge=0,
        description="Other events must last longer than this (72 h; some protocols 7 days).",
    )
    excluded_categories: tuple[str, ...] = Field(
        (
            "fever",
            "lymphopenia",
            "b_cell_aplasia",
            "hypogammaglobulinaemia",
            "neutropenia",
            "thrombocytopenia",
            "leukopenia",
            "anaemia",
        ),
        description="Adverse-event categories never counted by the 'other' rule (cytopenias come from laboratory values).",
    )
    exclude_expected_ld_toxicity: bool = True
    infusion_reaction_max_hours: float = Field(
        24.0, ge=0, description="Grade 3 infusion reactions resolving within this are excluded."
    )
    lab_abnormality_max_hours: float = Field(
        96.0,
        ge=0,
        description="Non-significant lab abnormalities resolving within this are excluded.",
    )
    death: bool = Field(True, description="Apply the death rule.")


def _related(event: AdverseEvent | Infection, opts: DltOptions) -> bool:
    """Whether an adverse event or infection is related enough to the study treatment to count."""
    if event.relatedness == "unspecified":
        return opts.unspecified_relatedness == "count"
    return _RELATEDNESS[event.relatedness] >= _RELATEDNESS[opts.min_relatedness]


def _counted(
    patient: PatientRecords,
    field: str,
    i: int,
    event: AdverseEvent | Infection,
    opts: DltOptions,
    considered: list[dict[str, Any]],
) -> bool:
    """Whether ``patient.<field>[i]`` counts (:func:`_related`); one that does not is noted in
    ``considered`` under the attribution rule."""
    if _related(event, opts):
        return True
    considered.append(
        {
            "rule": "attribution",
            "day": patient.calendar_day(event.start),
            "detail": f"{field}[{i}] ({event.term}) {event.relatedness}",
        }
    )
    return False


def _episodes(
    patient: PatientRecords, events: list[tuple[int, AdverseEvent]], min_grade: int
) -> list[dict[str, Any]]:
    """Union of touching records at >= min_grade: start, end (days), worst grade, records."""
    spans = sorted(
        (interval(patient, ae.start, ae.end) + (ae.grade, i))
        for i, ae in events
        if ae.grade >= min_grade
    )
    out: list[dict[str, Any]] = []
    for lo, hi, grade, i in spans:
        if out and lo <= out[-1]["end"]:
            out[-1]["end"] = max(out[-1]["end"], hi)
            out[-1]["grade"] = max(out[-1]["grade"], grade)
            out[-1]["records"].append(f"adverse_events[{i}]")
        else:
            out.append(
                {"start": lo, "end": hi, "grade": grade, "records": [f"adverse_events[{i}]"]}
            )
    for ep in out:
        # Date-only records end at the next midnight; durations count whole days end - start.
        ep["hours"] = (ep["end"] - ep["start"]) * 24.0
        if all(_date_only(patient, events, r) for r in ep["records"]):
            ep["hours"] -= 24.0
    return out


def _date_only(patient: PatientRecords, events: list[tuple[int, AdverseEvent]], ref: str) -> bool:
    from datetime import date, datetime

    index = int(ref.split("[")[1].rstrip("]"))
    ae = patient.adverse_events[index]
    return ae.end is not None and isinstance(ae.end, date) and not isinstance(ae.end, datetime)


def score_dlt(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Whether the patient had a DLT, with every qualifying and every considered event."""
    opts: Any = ctx.options
    require_day_zero(patient, "the DLT window")
    lo, hi = opts.window_start_day, opts.window_end_day
    in_window = lambda day: lo <= math.floor(day) <= hi  # noqa: E731
    dlts: list[dict[str, Any]] = []
    considered: list[dict[str, Any]] = []

    def note(rule: str, day: float, detail: str, is_dlt: bool) -> None:
        (dlts if is_dlt else considered).append(
            {"rule": rule, "day": math.floor(day), "detail": detail}
        )

    by_cat: dict[str, list[tuple[int, AdverseEvent]]] = {}
    for i, ae in enumerate(patient.adverse_events):
        if _counted(patient, "adverse_events", i, ae, opts, considered):
            by_cat.setdefault(ae.category, []).append((i, ae))

    if opts.crs:
        for ep in _episodes(patient, by_cat.get("crs", []), 3):
            if not in_window(ep["start"]):
                continue
            long = opts.crs_grade3_max_hours is None or ep["hours"] > opts.crs_grade3_max_hours
            is_dlt = ep["grade"] >= 4 or long
            note(
                "crs",
                ep["start"],
                f"CRS grade {ep['grade']} for {ep['hours']:g} h ({', '.join(ep['records'])})",
                is_dlt,
            )
    if opts.icans:
        for ep in _until_resolved(patient, by_cat.get("icans", []), opts.icans_min_grade):
            if not in_window(ep["start"]):
                continue
            long = opts.icans_grade3_max_hours is None or ep["hours"] > opts.icans_grade3_max_hours
            note(
                "icans",
                ep["start"],
                f"ICANS grade {ep['grade']} for {ep['hours']:g} h until grade <= 1 ({', '.join(ep['records'])})",
                ep["grade"] >= 4 or long,
            )
    if opts.iec_hs:
        for i, ae in by_cat.get("iec_hs", []):
            if ae.grade >= opts.iec_hs_min_grade and in_window(patient.day_of(ae.start)):
                note(
                    "iec_hs",
                    patient.day_of(ae.start),
                    f"IEC-HS grade {ae.grade} (adverse_events[{i}])",
                    True,
                )
    if opts.infection:
        _infection(patient, opts, by_cat.get("infection", []), in_window, note, considered)
    if opts.haematological:
        _haematological(patient, opts, in_window, note)
    if opts.gvhd:
        gopts = GvhdOptions()
        for i, a in enumerate(patient.gvhd):
            grade = overall_grade(stage_organs(patient, a, gopts))
            if in_window(patient.day_of(a.time)) and grade >= 1:
                note(
                    "gvhd",
                    patient.day_of(a.time),
                    f"acute GvHD grade {ROMAN[grade]} (gvhd[{i}])",
                    grade >= opts.gvhd_min_grade,
                )
        for i, ae in by_cat.get("gvhd", []):
            if in_window(patient.day_of(ae.start)):
                note(
                    "gvhd",
                    patient.day_of(ae.start),
                    f"acute GvHD grade {ROMAN[min(ae.grade, 4)]} (adverse_events[{i}])",
                    ae.grade >= opts.gvhd_min_grade,
                )
    if opts.other:
        _other(patient, opts, by_cat, in_window, note)
    if opts.death:
        for i, ae in enumerate(patient.adverse_events):
            if (
                ae.grade == 5
                and ae.relatedness != "not_related"
                and in_window(patient.day_of(ae.start))
            ):
                note(
                    "death",
                    patient.day_of(ae.start),
                    f"grade 5 {ae.term} (adverse_events[{i}])",
                    True,
                )
        for i, inf in enumerate(patient.infections):
            if (
                inf.fatal
                and inf.relatedness != "not_related"
                and in_window(patient.day_of(inf.start))
            ):
                note(
                    "death", patient.day_of(inf.start), f"fatal {inf.term} (infections[{i}])", True
                )
        d = patient.death
        if d is not None and in_window(patient.day_of(d.time)):
            note(
                "death",
                patient.day_of(d.time),
                f"death, cause {d.cause}",
                d.cause not in _OTHER_CAUSES,
            )

    flags = []
    if (
        patient.last_follow_up is not None
        and patient.calendar_day(patient.last_follow_up) < hi
        and not dlts
    ):
        flags.append(f"follow-up ends before day {hi}: DLT window not completed")
    return [
        ctx.result(
            patient,
            item="patient",
            value=bool(dlts),
            label="DLT" if dlts else "no DLT",
            components={"window_days": [lo, hi], "dlts": dlts, "considered": considered},
            flags=flags,
        )
    ]


def _haematological(patient: PatientRecords, opts: Any, in_window: Any, note: Any) -> None:
    codes = {"neutrophil_count_decreased": "NEUT", "platelet_count_decreased": "PLAT"}
    for term in opts.haematological_terms:
        labs = sorted(
            (
                lab
                for lab in patient.labs
                if lab.code == codes[term]
                and not lab.is_urine()
                and lab.attribution not in _OTHER_CAUSES
            ),
            key=lambda lab: patient.day_of(lab.time),
        )
        episode: list[float] = []
        # A final None closes the last episode.
        ordered: list[LabResult | None] = [*labs, None]
        for lab in ordered:
            if lab is not None and ctcae_grade(term, lab.std_value, lab.std_ref_low) == 4:
                episode.append(patient.day_of(lab.time))
                continue
            if episode and in_window(episode[0]):
                persists = math.floor(episode[-1]) > opts.haematological_persist_beyond_day
                note(
                    "haematological",
                    episode[0],
                    f"{term} grade 4 from day {math.floor(episode[0])} to day {math.floor(episode[-1])}"
                    + (
                        ""
                        if persists
                        else f" (not beyond day {opts.haematological_persist_beyond_day})"
                    ),
                    persists,
                )
            episode = []


def _until_resolved(
    patient: PatientRecords, events: list[tuple[int, AdverseEvent]], min_grade: int
) -> list[dict[str, Any]]:
    """Episodes from the start of grade >= ``min_grade`` until resolution to grade <= 1.

    Records are walked in order of start. An episode opens with a record at ``min_grade`` or
    above and takes in every touching record at grade >= 2 (grade 2 records after grade 3 are
    part of it); it ends at the start of the first touching record at grade <= 1, or where the
    touching records end. With ``min_grade`` 1 only a gap ends it. Returns start, end (days),
    worst grade, hours and records of each episode.
    """
    floor = min(min_grade, 2)
    spans = sorted((interval(patient, ae.start, ae.end) + (ae.grade, i)) for i, ae in events)
    out: list[dict[str, Any]] = []
    ep: dict[str, Any] | None = None
    for lo, hi, grade, i in spans:
        if ep is not None and lo <= ep["end"]:
            if grade >= floor:
                ep["end"] = max(ep["end"], hi)
                ep["grade"] = max(ep["grade"], grade)
                ep["records"].append(i)
                if grade >= min_grade:
                    ep["severe_end"] = max(ep["severe_end"], hi)
                continue
            # Resolved to grade <= 1 at the start of this record (a start, so no whole-day end).
            ep["resolved"] = lo >= ep["severe_end"]
            ep["end"] = max(lo, ep["severe_end"])
            out.append(ep)
            ep = None
            continue
        if ep is not None:
            out.append(ep)
            ep = None
        if grade >= min_grade:
            ep = {"start": lo, "end": hi, "severe_end": hi, "grade": grade, "records": [i]}
    if ep is not None:
        out.append(ep)
    for ep in out:
        ep["hours"] = (ep["end"] - ep["start"]) * 24.0
        if not ep.pop("resolved", False) and all(
            _date_only(patient, events, f"adverse_events[{i}]") for i in ep["records"]
        ):
            ep["hours"] -= 24.0
        ep["records"] = [f"adverse_events[{i}]" for i in ep.pop("records")]
        ep.pop("severe_end")
    return out


def _infection(
    patient: PatientRecords,
    opts: Any,
    events: list[tuple[int, AdverseEvent]],
    in_window: Any,
    note: Any,
    considered: list[dict[str, Any]],
) -> None:
    """The infection rule: infection records graded by CTCAE v5.0 and infection adverse events."""

    def judge(day: float, grade: int, hours: float, what: str) -> None:
        if grade < opts.infection_min_grade or not in_window(day):
            return
        long = opts.infection_min_hours is None or hours > opts.infection_min_hours
        detail = f"{what} grade {grade} for {hours:g} h"
        if grade < 4 and not long:
            detail += f" (not longer than {opts.infection_min_hours:g} h)"
        note("infection", day, detail, grade >= 4 or long)

    for i, inf in enumerate(patient.infections):
        if not _counted(patient, "infections", i, inf, opts, considered):
            continue
        hours = duration_hours(patient, inf.start, inf.end)
        judge(
            patient.day_of(inf.start), infection_grade(inf), hours, f"{inf.term} (infections[{i}])"
        )
    groups: dict[str, list[tuple[int, AdverseEvent]]] = {}
    for i, ae in events:
        groups.setdefault(ae.term.strip().lower(), []).append((i, ae))
    for term, group in groups.items():
        for ep in _episodes(patient, group, opts.infection_min_grade):
            what = f"{term} ({', '.join(ep['records'])})"
            first = patient.adverse_events[int(ep["records"][0].split("[")[1].rstrip("]"))]
            if opts.exclude_expected_ld_toxicity and first.expected_ld_toxicity:
                if in_window(ep["start"]):
                    note(
                        "infection",
                        ep["start"],
                        f"{what} grade {ep['grade']} (expected lymphodepletion toxicity)",
                        False,
                    )
                continue
            judge(ep["start"], ep["grade"], ep["hours"], what)


def _other(
    patient: PatientRecords,
    opts: Any,
    by_cat: dict[str, list[tuple[int, AdverseEvent]]],
    in_window: Any,
    note: Any,
) -> None:
    special = {"crs", "icans", "iec_hs", "gvhd", "infection"}
    groups: dict[tuple[str, str], list[tuple[int, AdverseEvent]]] = {}
    for cat, events in by_cat.items():
        if cat in special:
            continue
        for i, ae in events:
            groups.setdefault((cat, ae.term.strip().lower()), []).append((i, ae))
    for (cat, term), events in groups.items():
        for ep in _episodes(patient, events, opts.other_min_grade):
            if not in_window(ep["start"]):
                continue
            first = patient.adverse_events[int(ep["records"][0].split("[")[1].rstrip("]"))]
            detail = f"{term} grade {ep['grade']} for {ep['hours']:g} h"
            if cat in opts.excluded_categories:
                note("other", ep["start"], detail + f" (category {cat} excluded)", False)
            elif opts.exclude_expected_ld_toxicity and first.expected_ld_toxicity:
                note("other", ep["start"], detail + " (expected lymphodepletion toxicity)", False)
            elif (
                cat == "infusion_reaction"
                and ep["grade"] == 3
                and ep["hours"] <= opts.infusion_reaction_max_hours
            ):
                note("other", ep["start"], detail + " (infusion reaction resolved quickly)", False)
            elif (
                cat == "lab_abnormality"
                and not first.clinically_significant
                and ep["hours"] <= opts.lab_abnormality_max_hours
            ):
                note(
                    "other",
                    ep["start"],
                    detail + " (lab abnormality without clinical significance)",
                    False,
                )
            else:
                note(
                    "other",
                    ep["start"],
                    detail,
                    ep["hours"] > opts.other_min_hours or ep["grade"] >= 5,
                )
