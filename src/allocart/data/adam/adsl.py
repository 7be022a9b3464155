"""ADSL, the subject-level analysis table: one row per subject.

Variables (ADaM IG 1.3): ``STUDYID``, ``USUBJID``, ``SUBJID``, ``AGE``, ``AGEU``, ``SEX``,
``ARM``/``ARMCD``, ``ACTARM``, ``TRT01P``/``TRT01A`` (planned and actual treatment: product
and dose), ``TRTSDT``/``TRTEDT`` (date of the CAR-T infusion: one administration, so start and
end), ``SAFFL`` (infused), ``ITTFL`` (enrolled: every subject), ``WEIGHTBL`` (baseline weight,
kg), and the input's extra columns (``LDREGIM``; for a virtual trial ``REPLICAT``,
``DOSELVL``, ``DLTFL``).
"""

from __future__ import annotations

import pandas as pd

from allocart.data.adam.inputs import SUBJECT_COLUMNS, AdamInput

__all__ = ["build_adsl"]


def _code(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text).upper())[:20]


def build_adsl(data: AdamInput) -> pd.DataFrame:
    """ADSL of ``data``: one row per subject, in the order of ``data.subjects``.

    Examples
    --------
    >>> import datetime, pandas as pd
    >>> from allocart.data.adam.inputs import AdamInput, EVENT_COLUMNS, SAMPLE_COLUMNS
    >>> s = pd.DataFrame([{"USUBJID": "S1", "SUBJID": "1", "AGE": 40.0, "SEX": "F",
    ...     "ARM": "X", "TRT01P": "X 1e6 cells/kg", "TRTSDT": datetime.date(2025, 1, 6),
    ...     "TRTSTM": 0.0, "SAFFL": "Y", "WEIGHTBL": 60.0}])
    >>> adsl = build_adsl(AdamInput("ST", s, pd.DataFrame(columns=EVENT_COLUMNS),
    ...     pd.DataFrame(columns=SAMPLE_COLUMNS)))
    >>> adsl[["USUBJID", "TRT01A", "SAFFL", "ITTFL"]].values.tolist()
    [['S1', 'X 1e6 cells/kg', 'Y', 'Y']]
    """
    s = data.subjects.reset_index(drop=True)
    extra = [c for c in s.columns if c not in SUBJECT_COLUMNS]
    adsl = pd.DataFrame(
        {
            "STUDYID": data.study_id,
            "USUBJID": s["USUBJID"].astype(str),
            "SUBJID": s["SUBJID"].astype(str),
            "AGE": s["AGE"].astype(float),
            "AGEU": ["YEARS" if a == a else "" for a in s["AGE"].astype(float)],
            "SEX": s["SEX"],
            "ARM": s["ARM"],
            "ARMCD": s["ARM"].map(_code),
            "ACTARM": s["ARM"],
            "TRT01P": s["TRT01P"],
            "TRT01A": s["TRT01P"].where(s["SAFFL"] == "Y", ""),
            "TRTSDT": s["TRTSDT"],
            "TRTEDT": s["TRTSDT"],
            "SAFFL": s["SAFFL"],
            "ITTFL": "Y",
            "WEIGHTBL": s["WEIGHTBL"].astype(float),
        }
    )
    for col in extra:
        adsl[col] = s[col].to_numpy()
    return adsl
