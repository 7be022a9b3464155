"""ADPC, the pharmacokinetic-concentration analysis table of the CAR-T kinetics: one row per
sample.

Variables (ADaM, ADPC of the ADaM IG for non-compartmental analysis): ``STUDYID``,
``USUBJID``, ``ASEQ``, ``PARAMCD``/``PARAM`` (test code and name with unit:
``CARTCELL``, ``CAR-T cells (cells/uL)``), ``AVAL`` (the value; missing below the LLOQ),
``AVALC`` (the value as text, ``<LLOQ`` below it), ``AVALU``, ``LLOQ``, ``BLQFL``, ``ADT``
(date of the sample), ``ADY`` (study day, 1 = infusion day, no day 0), ``ATPT``/``ATPTN``
(nominal time point: the planned sampling day nearest the sample, in days after the
infusion), ``ARELTM``/``ARELTMU`` (actual time after the infusion, days), ``AVISIT``/
``AVISITN`` (the SDTM visit), and from ADSL ``TRTA``, ``TRTSDT``, ``SAFFL``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd

from allocart.data.adam.inputs import AdamInput
from allocart.data.observables import OBSERVABLES
from allocart.data.sdtm.codes import PC_WRITE
from allocart.data.sdtm.timing import SubjectDates, study_day, visit
from allocart.data.simulated import DEFAULT_SAMPLE_DAYS

__all__ = ["ADPC_COLUMNS", "build_adpc"]

ADPC_COLUMNS = (
    "STUDYID",
    "USUBJID",
    "ASEQ",
    "PARAMCD",
    "PARAM",
    "AVAL",
    "AVALC",
    "AVALU",
    "LLOQ",
    "BLQFL",
    "ADT",
    "ADY",
    "ATPT",
    "ATPTN",
    "ARELTM",
    "ARELTMU",
    "AVISIT",
    "AVISITN",
    "TRTA",
    "TRTSDT",
    "SAFFL",
)


def _text(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e15 else str(int(v))


def build_adpc(data: AdamInput, adsl: pd.DataFrame) -> pd.DataFrame:
    """ADPC of ``data`` (one row per kinetic sample), with ADSL's treatment variables."""
    subj = adsl.set_index("USUBJID").to_dict("index")
    start_time = dict(zip(data.subjects["USUBJID"], data.subjects["TRTSTM"]))
    rows = []
    samples = data.samples.sort_values(["USUBJID", "observable", "time_days"], kind="stable")
    for sid, group in samples.groupby("USUBJID", sort=False):
        s = subj[sid]
        infusion = datetime(s["TRTSDT"].year, s["TRTSDT"].month, s["TRTSDT"].day) + timedelta(
            seconds=float(start_time[sid])
        )
        dates = SubjectDates(reference=s["TRTSDT"], first_exposure=s["TRTSDT"])
        for seq, r in enumerate(group.itertuples(index=False), start=1):
            code, name, unit = PC_WRITE[r.observable]
            when = infusion + timedelta(seconds=round(float(r.time_days) * 86400.0))
            nominal = min(DEFAULT_SAMPLE_DAYS, key=lambda d: (abs(d - r.time_days), d))
            avisit, avisitn = visit(when, dates)
            lloq = float(r.lloq)
            rows.append(
                {
                    "STUDYID": data.study_id,
                    "USUBJID": sid,
                    "ASEQ": seq,
                    "PARAMCD": code,
                    "PARAM": f"{name} ({OBSERVABLES[r.observable].unit})",
                    "AVAL": math.nan if r.censored else float(r.value),
                    "AVALC": f"<{_text(lloq)}" if r.censored else _text(r.value),
                    "AVALU": unit,
                    "LLOQ": lloq,
                    "BLQFL": "Y" if r.censored else "N",
                    "ADT": when.date(),
                    "ADY": study_day(when, dates.reference),
                    "ATPT": f"DAY {nominal:g} POST-INFUSION",
                    "ATPTN": float(nominal),
                    "ARELTM": float(r.time_days),
                    "ARELTMU": "DAYS",
                    "AVISIT": avisit,
                    "AVISITN": avisitn,
                    "TRTA": s["TRT01A"],
                    "TRTSDT": s["TRTSDT"],
                    "SAFFL": s["SAFFL"],
                }
            )
    return pd.DataFrame(rows, columns=list(ADPC_COLUMNS))
