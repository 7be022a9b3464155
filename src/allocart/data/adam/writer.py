"""Building the ADaM tables (ADSL, ADAE, ADPC) and writing them as SAS XPORT v5 or CSV.

Dates (``TRTSDT``, ``ASTDT``, ``ADT`` ...) are written in XPORT as SAS dates (days since
1960-01-01, format ``DATE9.``) and in CSV as ISO 8601 dates.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd

from allocart.data.adam.adae import build_adae
from allocart.data.adam.adpc import build_adpc
from allocart.data.adam.adsl import build_adsl
from allocart.data.adam.inputs import AdamInput
from allocart.data.sdtm.variables import variable_label
from allocart.data.xpt import write_xpt
from allocart.errors import DataError

__all__ = ["ADAM_FORMATS", "ADAM_TABLES", "build_adam", "write_adam"]

#: The tables, in writing order, with their labels.
ADAM_TABLES = {
    "ADSL": "Subject-Level Analysis Dataset",
    "ADAE": "Adverse Events Analysis Dataset",
    "ADPC": "PK Concentrations Analysis Dataset",
}

#: File types: ``xpt`` (SAS XPORT v5) or ``csv``.
ADAM_FORMATS = ("xpt", "csv")

#: SAS dates count days from this date.
SAS_EPOCH = date(1960, 1, 1)

#: Variables copied from SDTM (DM into every table, AE into ADAE), which keep their SDTM labels.
_FROM_SDTM = {
    "DM": ("STUDYID", "USUBJID", "SUBJID", "AGE", "AGEU", "SEX", "ARM", "ARMCD", "ACTARM"),
    "AE": ("AESEQ", "AETERM", "AEDECOD", "AETOXGR", "AESEV", "AESER", "AEREL"),
}

_LABELS = {
    **{
        name: variable_label(domain, name) for domain, names in _FROM_SDTM.items() for name in names
    },
    "TRT01P": "Planned Treatment for Period 01",
    "TRT01A": "Actual Treatment for Period 01",
    "TRTSDT": "Date of First Exposure to Treatment",
    "TRTEDT": "Date of Last Exposure to Treatment",
    "SAFFL": "Safety Population Flag",
    "ITTFL": "Intent-To-Treat Population Flag",
    "WEIGHTBL": "Baseline Weight (kg)",
    "LDREGIM": "Lymphodepletion Regimen",
    "REPLICAT": "Virtual Trial Replicate",
    "DOSELVL": "Dose Level",
    "DLTFL": "Dose-Limiting Toxicity Flag",
    "AECAT": "Category for Adverse Event",
    "ATOXGRN": "Analysis Toxicity Grade (N)",
    "AETOXSC": "Toxicity Grading Scale",
    "ASTDT": "Analysis Start Date",
    "ASTDY": "Analysis Start Relative Day",
    "AENDT": "Analysis End Date",
    "AENDY": "Analysis End Relative Day",
    "TRTEMFL": "Treatment Emergent Analysis Flag",
    "TRTA": "Actual Treatment",
    "ASEQ": "Analysis Sequence Number",
    "PARAMCD": "Parameter Code",
    "PARAM": "Parameter",
    "AVAL": "Analysis Value",
    "AVALC": "Analysis Value (C)",
    "AVALU": "Analysis Value Unit",
    "LLOQ": "Lower Limit of Quantitation",
    "BLQFL": "Below Lower Limit of Quant Flag",
    "ADT": "Analysis Date",
    "ADY": "Analysis Relative Day",
    "ATPT": "Analysis Timepoint",
    "ATPTN": "Analysis Timepoint (N)",
    "ARELTM": "Actual Relative Time",
    "ARELTMU": "Actual Relative Time Unit",
    "AVISIT": "Analysis Visit",
    "AVISITN": "Analysis Visit (N)",
}


def build_adam(data: AdamInput) -> dict[str, pd.DataFrame]:
    """ADSL, ADAE and ADPC of ``data`` (keys of :data:`ADAM_TABLES`)."""
    adsl = build_adsl(data)
    return {"ADSL": adsl, "ADAE": build_adae(data, adsl), "ADPC": build_adpc(data, adsl)}


def write_adam(
    tables: dict[str, pd.DataFrame], folder: str | Path, table_format: str = "xpt"
) -> dict[str, Path]:
    """Write the tables as ``adsl.xpt`` ... (or ``.csv``) in ``folder`` (created).

    An empty table is written as a CSV header, but not as XPORT: a transport file without
    records is valid SAS, yet ``pandas.read_sas`` cannot read it; it is left out (and a stale
    file of that name removed).

    Returns
    -------
    dict of str to Path
        Table name -> file written (tables left out are absent).

    Raises
    ------
    DataError
        On an unknown ``table_format``, or a value the XPORT format cannot hold.
    """
    if table_format not in ADAM_FORMATS:
        raise DataError(
            f"format: {table_format!r} is not one of {', '.join(ADAM_FORMATS)}", argument="format"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        dates = [c for c in frame.columns if str(c).endswith("DT")]  # ADaM: *DT is a date
        path = folder / f"{name.lower()}.{table_format}"
        if table_format == "xpt" and frame.empty:
            path.unlink(missing_ok=True)
            continue
        if table_format == "csv":
            for c in dates:
                frame[c] = frame[c].map(lambda v: v.isoformat() if isinstance(v, date) else "")
            frame.to_csv(path, index=False)
        else:
            for c in dates:
                frame[c] = frame[c].map(
                    lambda v: float((v - SAS_EPOCH).days) if isinstance(v, date) else math.nan
                )
            numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
            write_xpt(
                frame,
                path,
                name=name,
                label=ADAM_TABLES.get(name, ""),
                labels={c: _LABELS.get(c, "") for c in frame.columns},
                numeric=numeric + [c for c in dates if c not in numeric],
                formats={c: "DATE9" for c in dates},
            )
        out[name] = path
    return out
