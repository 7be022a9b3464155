"""ADAE, the adverse-event analysis table: one row per adverse event.

Variables (ADaM OCCDS): ``STUDYID``, ``USUBJID``, ``AESEQ``, ``AETERM``, ``AEDECOD``,
``AECAT``, ``AETOXGR`` (grade, text as in SDTM) and ``ATOXGRN`` (numeric), ``AESEV`` (MILD for
grade 1, MODERATE for 2, SEVERE for 3 and above), ``AETOXSC`` (grading scale), ``AESER``,
``AEREL``, ``ASTDT``/``ASTDY`` and ``AENDT``/``AENDY`` (dates and study days of onset and end,
day 1 = the infusion day, no day 0), ``TRTEMFL``, and from ADSL ``TRTA``, ``TRTSDT``,
``SAFFL``.

Treatment-emergent (``TRTEMFL`` = ``Y``): onset on or after the infusion day. An event without
an onset day is counted treatment-emergent, the conservative reading of the ADaM convention
for missing onsets (the virtual trial's worst grades are outcomes after the infusion).
"""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd

from allocart.data.adam.inputs import AdamInput
from allocart.data.sdtm.codes import RELATEDNESS_WRITE

__all__ = ["ADAE_COLUMNS", "GRADE_SEVERITY", "build_adae"]

#: AESEV of a grade (SDTM AESEV has MILD, MODERATE and SEVERE only).
GRADE_SEVERITY = {1: "MILD", 2: "MODERATE", 3: "SEVERE", 4: "SEVERE", 5: "SEVERE"}

ADAE_COLUMNS = (
    "STUDYID",
    "USUBJID",
    "AESEQ",
    "AETERM",
    "AEDECOD",
    "AECAT",
    "AETOXGR",
    "ATOXGRN",
    "AESEV",
    "AETOXSC",
    "AESER",
    "AEREL",
    "ASTDT",
    "ASTDY",
    "AENDT",
    "AENDY",
    "TRTEMFL",
    "TRTA",
    "TRTSDT",
    "SAFFL",
)


def _study_day(days_after_infusion_day: float) -> float:
    """Study day (1 = infusion day, no day 0) of a time in days after the infusion day."""
    if math.isnan(days_after_infusion_day):
        return math.nan
    whole = math.floor(days_after_infusion_day)
    return float(whole + 1 if whole >= 0 else whole)


def build_adae(data: AdamInput, adsl: pd.DataFrame) -> pd.DataFrame:
    """ADAE of ``data`` (one row per adverse event), with ADSL's treatment variables.

    Rows are in ADSL's subject order, then by onset (events without one last), then term;
    ``AESEQ`` numbers each subject's events from 1 in that order.
    """
    subj = adsl.set_index("USUBJID").to_dict("index")
    order = {sid: i for i, sid in enumerate(adsl["USUBJID"])}
    events = data.events.assign(_subject=data.events["USUBJID"].map(order))
    events = events.sort_values(
        ["_subject", "start_day", "AEDECOD"], kind="stable", na_position="last"
    ).reset_index(drop=True)
    seqs = events.groupby("_subject", sort=False).cumcount() + 1
    rows = []
    for seq, e in zip(seqs, events.itertuples(index=False)):
        s = subj[e.USUBJID]
        start, end = float(e.start_day), float(e.end_day)
        grade = int(e.grade)
        rows.append(
            {
                "STUDYID": data.study_id,
                "USUBJID": e.USUBJID,
                "AESEQ": int(seq),
                "AETERM": e.AETERM,
                "AEDECOD": e.AEDECOD,
                "AECAT": e.AECAT,
                "AETOXGR": str(grade),
                "ATOXGRN": grade,
                "AESEV": GRADE_SEVERITY[grade],
                "AETOXSC": e.scale,
                "AESER": "Y" if e.serious else "N",
                "AEREL": RELATEDNESS_WRITE.get(e.relatedness, ""),
                "ASTDT": None
                if math.isnan(start)
                else s["TRTSDT"] + timedelta(days=math.floor(start)),
                "ASTDY": _study_day(start),
                "AENDT": None if math.isnan(end) else s["TRTSDT"] + timedelta(days=math.floor(end)),
                "AENDY": _study_day(end),
                "TRTEMFL": "Y" if math.isnan(start) or start >= 0 else "N",
                "TRTA": s["TRT01A"],
                "TRTSDT": s["TRTSDT"],
                "SAFFL": s["SAFFL"],
            }
        )
    return pd.DataFrame(rows, columns=list(ADAE_COLUMNS))
