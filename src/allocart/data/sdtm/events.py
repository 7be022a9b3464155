"""Events and questionnaires: AE (adverse events with grade, onset and resolution) and QS
(SLEDAI-2K items and the physician global assessment)."""

from __future__ import annotations

import math

from pydantic import ValidationError

from allocart.clinical.records import (
    SLEDAI_DESCRIPTORS,
    AdverseEvent,
    PgaAssessment,
    SledaiFinding,
)
from allocart.data.problems import Problem
from allocart.data.sdtm.cells import (
    date_problem,
    parse_dtc,
    pydantic_problem,
    sledai_descriptor,
    upper_cell,
)
from allocart.data.sdtm.codes import AE_CATEGORIES, AE_KNOWN, AE_SCALE, RELATEDNESS, SEV_GRADE
from allocart.data.sdtm.state import StudyReader
from allocart.data.tables import MISSING, number

__all__ = ["read_ae", "read_qs"]


def read_ae(reader: StudyReader) -> None:
    """AE: adverse events with grade, onset and resolution."""
    if "AE" in reader.doms:
        ae = reader.doms["AE"]
        sev_rows = 0
        for row, r in ae.rows():
            sid = r.get("USUBJID", "")
            start = reader.when_of(ae, row, r, "AESTDTC", sid)
            if start is None:
                continue
            end_text = r.get("AEENDTC", "")
            try:
                end = parse_dtc(end_text)
            except ValueError as exc:
                reader.probs.append(Problem(ae.file, row, "AEENDTC", date_problem(end_text, exc)))
                continue
            if isinstance(end, str):  # "partial"
                reader.partial.setdefault(f"{ae.file} AEENDTC", []).append(row)
                end = None
                reader.notes.append(
                    f"{ae.file} row {row}: partial AEENDTC {end_text!r} read as ongoing"
                )
            term = (r.get("AEDECOD", "") or r.get("AETERM", "")).strip()
            if not term:
                reader.probs.append(
                    Problem(ae.file, row, "AEDECOD", "neither AEDECOD nor AETERM names the event")
                )
                continue
            cat = (r.get("AECAT", "") or "").strip().lower()
            if cat not in AE_KNOWN:
                text = term.upper() + " " + upper_cell(r, "AETERM")
                guess = next(
                    (c for c, words in AE_CATEGORIES if any(w in text for w in words)), None
                )
                if guess is None:
                    guess = (
                        "infection"
                        if "INFECTIONS AND INFESTATIONS" in upper_cell(r, "AESOC")
                        else "other"
                    )
                cat = guess
            grade_text = r.get("AETOXGR", "")
            if grade_text not in MISSING:
                g = number(grade_text, ae.file, row, "AETOXGR", reader.probs)
                if math.isnan(g):
                    continue
                if g not in (1, 2, 3, 4, 5):
                    reader.probs.append(
                        Problem(ae.file, row, "AETOXGR", f"{grade_text!r} is not a grade 1-5")
                    )
                    continue
                grade, scale = int(g), AE_SCALE.get(cat, "ctcae-5.0")
            else:
                sev = upper_cell(r, "AESEV")
                if sev not in SEV_GRADE:
                    reader.probs.append(
                        Problem(
                            ae.file,
                            row,
                            "AETOXGR",
                            "no grade: AETOXGR is empty and AESEV "
                            + (f"{sev!r} is not MILD, MODERATE or SEVERE" if sev else "is empty"),
                        )
                    )
                    continue
                grade, scale = SEV_GRADE[sev], "other"
                sev_rows += 1
            try:
                reader.rec[sid]["adverse_events"].append(
                    AdverseEvent(
                        term=term,
                        category=cat,
                        grade=grade,
                        scale=scale,
                        start=reader.rec_time(sid, start),
                        end=None if end is None else reader.rec_time(sid, end),
                        relatedness=RELATEDNESS.get(upper_cell(r, "AEREL"), "unspecified"),
                        serious=upper_cell(r, "AESER") == "Y",
                    )
                )
            except ValidationError as exc:
                reader.probs.append(
                    pydantic_problem(
                        exc,
                        ae.file,
                        row,
                        {"end": "AEENDTC", "start": "AESTDTC", "term": "AEDECOD"},
                    )
                )
        if sev_rows:
            reader.notes.append(
                f"{ae.file}: {sev_rows} adverse event(s) have no AETOXGR; their grade is taken from AESEV "
                "(MILD 1, MODERATE 2, SEVERE 3, LIFE THREATENING 4, FATAL 5) with scale 'other'"
            )


def read_qs(reader: StudyReader) -> None:
    """QS: SLEDAI-2K items and the physician global assessment."""
    if "QS" in reader.doms:
        qs = reader.doms["QS"]
        unused = set()
        for row, r in qs.rows():
            code = upper_cell(r, "QSTESTCD")
            sid = r.get("USUBJID", "")
            if code in ("PGA", "PHGA", "PHYSGA"):
                when = reader.when_of(qs, row, r, "QSDTC", sid)
                if when is None:
                    continue
                value = number(
                    r.get("QSSTRESN", "") or r.get("QSORRES", ""),
                    qs.file,
                    row,
                    "QSSTRESN",
                    reader.probs,
                )
                if math.isnan(value):
                    continue
                scale = "0-100mm" if "MM" in upper_cell(r, "QSSTRESU") else "0-3"
                try:
                    reader.rec[sid]["pga"].append(
                        PgaAssessment(time=reader.rec_time(sid, when), value=value, scale=scale)
                    )
                except ValidationError as exc:
                    reader.probs.append(pydantic_problem(exc, qs.file, row, {"value": "QSSTRESN"}))
                continue
            if "SLEDAI" not in upper_cell(r, "QSCAT"):
                unused.add(upper_cell(r, "QSCAT") or "(no QSCAT)")
                continue
            desc = sledai_descriptor(code, r.get("QSTEST", ""))
            if desc is None:
                reader.probs.append(
                    Problem(
                        qs.file,
                        row,
                        "QSTESTCD",
                        f"{code!r} ({r.get('QSTEST', '')!r}) is not a SLEDAI-2K descriptor; "
                        f"use one of {', '.join(SLEDAI_DESCRIPTORS)}",
                    )
                )
                continue
            when = reader.when_of(qs, row, r, "QSDTC", sid)
            if when is None:
                continue
            res = upper_cell(r, "QSORRES") or upper_cell(r, "QSSTRESC")
            present = res in ("Y", "YES", "1", "PRESENT", "TRUE") or (
                desc == "arthritis" and res not in ("N", "NO", "0", "ABSENT", "FALSE", "")
            )
            if (
                res not in ("Y", "YES", "1", "PRESENT", "TRUE", "N", "NO", "0", "ABSENT", "FALSE")
                and not present
            ):
                reader.probs.append(
                    Problem(qs.file, row, "QSORRES", f"{res!r} must be Y or N (present or absent)")
                )
                continue
            joints = None
            if desc == "arthritis" and present:
                if r.get("QSSTRESN", "") in MISSING:
                    reader.probs.append(
                        Problem(
                            qs.file,
                            row,
                            "QSSTRESN",
                            "a present arthritis item needs the number of "
                            "inflamed joints in QSSTRESN",
                        )
                    )
                    continue
                j = number(r.get("QSSTRESN", ""), qs.file, row, "QSSTRESN", reader.probs)
                if math.isnan(j):
                    continue
                joints = int(j)
            try:
                reader.rec[sid]["sledai_findings"].append(
                    SledaiFinding(
                        descriptor=desc,
                        start=reader.rec_time(sid, when),
                        present=present,
                        attribution="sle",
                        joints=joints,
                    )
                )
            except ValidationError as exc:
                reader.probs.append(pydantic_problem(exc, qs.file, row, {"joints": "QSSTRESN"}))
        if unused:
            reader.notes.append(f"{qs.file}: questionnaires not used: {', '.join(sorted(unused))}")
