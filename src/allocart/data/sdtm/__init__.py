"""CDISC SDTM tables (DM, EX, LB, PC or CP, AE, VS, QS) to and from a Dataset.

A study folder holds one table per domain, ``dm.xpt`` (SAS XPORT) or ``dm.csv`` (any case).
:func:`load_sdtm` reads what it can and reports, separately, the *problems* that stop a
CAR-T dataset from being built (each naming file, row and column) and *notes* on what was
left out; :func:`read_sdtm` returns the :class:`~allocart.data.Dataset` or raises the
problems. Row numbers count the header as row 1 (the first record is row 2).

Mapping
-------
DM   ``USUBJID`` -> subject; ``AGE``/``AGEU`` -> age (years); ``SEX`` F/M -> ``female``.
EX   Reference day: day 0 is each subject's first CAR-T administration (``EXSTDTC``). A row
     is CAR-T when ``EXTRT`` equals ``car_t_treatment`` (case-insensitive), or, without it,
     when ``EXCAT`` or ``EXTRT`` says CAR-T (``CAR-T``, ``CAR T``, ``CART``, names ending in
     ``-CEL``/``LEUCEL``) or ``EXDOSU`` is a cell count. Dose units: ``cells``, ``cells/kg``,
     optionally scaled (``10^6 cells/kg``). Fludarabine and cyclophosphamide rows are the
     lymphodepletion (mg/m2; mg with a known BSA is divided by it); ``EXSCAT`` of those rows
     names the regimen. A study without any CAR-T administration is refused with the
     treatments it does have. Subjects without one (screen failures, other arms) are left
     out, with a note.
LB   Tests of :data:`allocart.clinical.units.ANALYTES` (aliases: ANC -> NEUT, PLT -> PLAT,
     LYMPH -> LYM, DSDNA -> DSDNAAB, BCELL -> CD19, ...) become lab records in their internal
     unit (``LBSTRESN``/``LBSTRESU``, else ``LBORRES``/``LBORRESU``; reference range
     ``LBSTNRLO``/``LBSTNRHI``); those that are model read-outs (NEUT, LYM, PLAT, CD19, IGG,
     C3, C4, DSDNAAB, IL6) also become observations. ``<x`` results, or ``LBSTRESN`` below
     ``LBLLOQ``, are censored at the LLOQ.
PC/CP CAR-T kinetics: test codes :data:`KINETIC_CODES` (``CARTCELL`` cells/uL, ``CARTPCT``
     % of T cells, ``TRANSGEN`` transgene copies/ug DNA) with ``--LLOQ`` and ``<x`` censoring.
AE   ``AEDECOD`` (else ``AETERM``), grade ``AETOXGR`` (CTCAE, or ASTCT for CRS/ICANS/IEC-HS,
     MAGIC for GvHD by category); without ``AETOXGR`` the grade comes from ``AESEV`` (MILD 1,
     MODERATE 2, SEVERE 3, LIFE THREATENING 4, FATAL 5; scale "other"), with a note.
     Onset ``AESTDTC``, resolution ``AEENDTC``; ``AESER``, ``AEREL``; the category from
     ``AECAT`` when it is one of the record categories, else from the term.
VS   Vital signs of :data:`allocart.clinical.units.VITALS`; baseline (last on or before day 0,
     else first) ``WEIGHT``, ``HEIGHT`` and ``BSA`` are the subject's covariates.
QS   ``QSCAT`` containing SLEDAI: items named by SLEDAI-2K descriptor (``QSTESTCD`` or
     ``QSTEST``), present when ``QSORRES`` is Y/1/PRESENT (arthritis: ``QSSTRESN`` joints);
     SLEDAI form items count as attributed to SLE. ``QSTESTCD`` PGA: physician global
     assessment (``QSSTRESU`` mm -> 0-100 mm scale, else 0-3).

Dates may be partial in SDTM (``2014-03``); rows whose date a time axis needs but which is
partial are left out and listed in the notes, never guessed.
"""

from __future__ import annotations

from allocart.data.sdtm.codes import DOMAINS, KINETIC_CODES, LAB_ALIASES
from allocart.data.sdtm.options import SdtmOptions, SdtmStudy
from allocart.data.sdtm.reader import load_sdtm, read_sdtm
from allocart.data.sdtm.writer import write_sdtm

__all__ = [
    "DOMAINS",
    "KINETIC_CODES",
    "LAB_ALIASES",
    "SdtmOptions",
    "SdtmStudy",
    "load_sdtm",
    "read_sdtm",
    "write_sdtm",
]
