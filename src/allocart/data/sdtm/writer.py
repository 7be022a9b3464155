"""Writing a Dataset as SDTM tables (dm, ex, lb, pc, vs, ae, qs) that the reader reads back.

Tables are CSV files or SAS XPORT v5 files (``table_format="xpt"``, labelled, numeric variables
as numbers). Besides the findings, every table carries the standard variables: ``STUDYID``,
``DOMAIN``, ``USUBJID``, ``--SEQ``; DM ``SEX`` (``U`` when unknown), ``RFSTDTC`` (the infusion,
study day 1) and ``RFXSTDTC`` (first study treatment); and on each dated row ``--DY`` (study day,
no day 0), ``VISIT``/``VISITNUM`` and ``EPOCH`` (:mod:`allocart.data.sdtm.timing`; adverse
events: ``AESTDY``, ``AEENDY`` and the epoch of their onset, ``AESEV`` from the grade).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from allocart.clinical import units
from allocart.data.dataset import Dataset
from allocart.data.observables import OBSERVABLES
from allocart.data.sdtm.codes import PC_WRITE, RELATEDNESS_WRITE
from allocart.data.sdtm.timing import SubjectDates, epoch, study_day, visit
from allocart.data.sdtm.variables import DOMAIN_LABELS, is_numeric, variable_label
from allocart.data.times import format_iso, parse_iso, shift_days
from allocart.data.xpt import write_xpt
from allocart.errors import DataError

__all__ = ["TABLE_FORMATS", "write_sdtm"]

#: File types of the tables: ``csv`` or ``xpt`` (SAS XPORT v5).
TABLE_FORMATS = ("csv", "xpt")

#: AESEV of a grade (CTCAE/ASTCT 1-5; SDTM AESEV has MILD, MODERATE and SEVERE only).
_GRADE_SEVERITY = {1: "MILD", 2: "MODERATE", 3: "SEVERE", 4: "SEVERE", 5: "SEVERE"}

#: Each domain's date of collection (or of start) -> its study-day variable.
_DAY_OF = {
    "EX": ("EXSTDTC", "EXSTDY"),
    "LB": ("LBDTC", "LBDY"),
    "PC": ("PCDTC", "PCDY"),
    "VS": ("VSDTC", "VSDY"),
    "AE": ("AESTDTC", "AESTDY"),
    "QS": ("QSDTC", "QSDY"),
}


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e15 else str(int(v))


def write_sdtm(
    ds: Dataset,
    folder: str | Path,
    *,
    study_id: str = "ALLOCART",
    default_infusion: str = "2025-01-01",
    table_format: str = "csv",
) -> Path:
    """Write a Dataset as SDTM tables (dm, ex, lb, pc, vs, ae, qs) that :func:`read_sdtm` reads back.

    Dates are the infusion date plus the dataset's days (to the second); a subject without an
    ``infusion_date`` is given ``default_infusion``. Lab read-outs go to LB (in the analyte's
    internal unit), CAR-T kinetics to PC, censored rows as ``<LLOQ`` with ``--LLOQ``. Lab
    records that mirror no observation, vital signs, adverse events (``AECAT`` = category),
    SLEDAI findings and PGA of ``records`` are written too; SLEDAI finding end times and
    attributions are not SDTM QS variables and are not written.

    Parameters
    ----------
    ds : Dataset
    folder : path
        Output folder (created); a table of the other file type left there by an earlier
        export is removed, since the reader would read it.
    study_id : str
        ``STUDYID`` of every row.
    default_infusion : str
        ISO 8601 infusion date of subjects without one.
    table_format : {"csv", "xpt"}
        CSV files or SAS XPORT v5 files (``dm.xpt`` ...).

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    DataError
        On an unknown ``table_format``, or a value the XPORT format cannot hold (a text of
        over 200 bytes).
    """
    if table_format not in TABLE_FORMATS:
        raise DataError(f"table_format: {table_format!r} is not one of {', '.join(TABLE_FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dm, ex, lb, pc, vs, ae, qs = ([] for _ in range(7))
    subj = ds.subjects.set_index("id")
    dates: dict[str, SubjectDates] = {}
    for sid in ds.ids:
        s = subj.loc[sid]
        origin = parse_iso(_text(s["infusion_date"]) or default_infusion)
        midnight = datetime(origin.year, origin.month, origin.day)
        rec = ds.records.get(sid)
        base = {"STUDYID": study_id, "USUBJID": sid}

        def at(days: float, origin: datetime = origin) -> str:
            return format_iso(shift_days(origin, days))

        def rec_at(t: Any, midnight: datetime = midnight) -> str:
            if isinstance(t, float):
                return format_iso(shift_days(midnight, t))
            return format_iso(t if isinstance(t, datetime) else datetime(t.year, t.month, t.day))

        female = s["female"]
        sid_doses = ds.doses[ds.doses["id"] == sid]
        first = shift_days(origin, min([0.0, *sid_doses["time"].astype(float)]))
        dates[sid] = SubjectDates(reference=origin.date(), first_exposure=first.date())
        arm = _text(s["product"]) or "CAR-T"
        dm.append(
            {
                **base,
                "DOMAIN": "DM",
                "SUBJID": sid,
                "RFSTDTC": format_iso(origin),
                "RFXSTDTC": format_iso(first),
                "AGE": _num(s["age_years"]),
                "AGEU": "YEARS" if not math.isnan(s["age_years"]) else "",
                "SEX": "U" if pd.isna(female) else ("F" if female else "M"),
                "ARMCD": _arm_code(arm),
                "ARM": arm,
                "ACTARMCD": _arm_code(arm),
                "ACTARM": arm,
            }
        )
        for k, d in enumerate(sid_doses.itertuples(index=False), start=1):
            is_car = d.kind == "car_t"
            ex.append(
                {
                    **base,
                    "DOMAIN": "EX",
                    "EXSEQ": k,
                    "EXTRT": arm if is_car else d.kind.upper(),
                    "EXCAT": "CAR-T" if is_car else "LYMPHODEPLETION",
                    "EXSCAT": "" if is_car else (_text(s["ld"]) or ""),
                    "EXDOSE": _num(d.amount),
                    "EXDOSU": d.unit,
                    "EXSTDTC": at(d.time),
                }
            )
        # A lab record at the instant of a quantified LB observation is the same measurement:
        # its reference range and method go on the observation's LB row, written once.
        lab_at: dict[tuple[str, int], Any] = {}
        for lab in rec.labs if rec is not None else ():
            if lab.specimen is None or lab.analyte.specimen == "blood":
                t_obs = (parse_iso(rec_at(lab.time)) - origin).total_seconds()
                lab_at.setdefault((lab.code, round(t_obs)), lab)
        used: set[int] = set()
        for o in ds.observations[ds.observations["id"] == sid].itertuples(index=False):
            spec = OBSERVABLES[o.observable]
            if spec.domain == "LB":
                analyte = units.ANALYTES[units.analyte_key(spec.code, None)]
                v, q = o.value / spec.lab_factor, o.lloq / spec.lab_factor
                res = f"<{_num(q)}" if o.censored else _num(v)
                twin = None if o.censored else lab_at.get((spec.code, round(o.time * 86400)))
                if (
                    twin is not None
                    and twin.unit == analyte.unit
                    and math.isclose(twin.value, v, rel_tol=1e-9)
                ):
                    used.add(id(twin))
                    res = _num(twin.value)
                else:
                    twin = None
                lb.append(
                    {
                        **base,
                        "DOMAIN": "LB",
                        "LBTESTCD": spec.code,
                        "LBTEST": analyte.name,
                        "LBORRES": res,
                        "LBORRESU": analyte.unit,
                        "LBSTRESC": res,
                        "LBSTRESN": "" if o.censored else res,
                        "LBSTRESU": analyte.unit,
                        "LBSTNRLO": _num(twin.ref_low) if twin else "",
                        "LBSTNRHI": _num(twin.ref_high) if twin else "",
                        "LBSPEC": (twin.specimen or "") if twin else "",
                        "LBMETHOD": (twin.method or "") if twin else "",
                        "LBLLOQ": _num(q),
                        "LBDTC": at(o.time),
                    }
                )
            else:
                code, name, unit = PC_WRITE[o.observable]
                res = f"<{_num(o.lloq)}" if o.censored else _num(o.value)
                pc.append(
                    {
                        **base,
                        "DOMAIN": "PC",
                        "PCTESTCD": code,
                        "PCTEST": name,
                        "PCORRES": res,
                        "PCORRESU": unit,
                        "PCSTRESC": res,
                        "PCSTRESN": "" if o.censored else _num(o.value),
                        "PCSTRESU": unit,
                        "PCLLOQ": _num(o.lloq),
                        "PCDTC": at(o.time),
                    }
                )
        if rec is not None:
            for lab in rec.labs:
                if id(lab) in used:
                    continue  # the observation's LB row above carries this lab
                lb.append(
                    {
                        **base,
                        "DOMAIN": "LB",
                        "LBTESTCD": lab.test,
                        "LBTEST": lab.analyte.name,
                        "LBORRES": _num(lab.value),
                        "LBORRESU": lab.unit,
                        "LBSTRESC": _num(lab.value),
                        "LBSTRESN": _num(lab.value),
                        "LBSTRESU": lab.unit,
                        "LBSTNRLO": _num(lab.ref_low),
                        "LBSTNRHI": _num(lab.ref_high),
                        "LBSPEC": lab.specimen or "",
                        "LBMETHOD": lab.method or "",
                        "LBLLOQ": "",
                        "LBDTC": rec_at(lab.time),
                    }
                )
            for v in rec.vitals:
                vs.append(
                    {
                        **base,
                        "DOMAIN": "VS",
                        "VSTESTCD": v.test,
                        "VSORRES": _num(v.value),
                        "VSORRESU": v.unit,
                        "VSSTRESN": _num(v.value),
                        "VSSTRESU": v.unit,
                        "VSLOC": v.location or "",
                        "VSDTC": rec_at(v.time),
                    }
                )
            for a in rec.adverse_events:
                ae.append(
                    {
                        **base,
                        "DOMAIN": "AE",
                        "AETERM": a.term,
                        "AEDECOD": a.term,
                        "AECAT": a.category,
                        "AETOXGR": str(a.grade),
                        "AESEV": _GRADE_SEVERITY[a.grade],
                        "AESER": "Y" if a.serious else "N",
                        "AEREL": RELATEDNESS_WRITE[a.relatedness],
                        "AESTDTC": rec_at(a.start),
                        "AEENDTC": "" if a.end is None else rec_at(a.end),
                    }
                )
            for f in rec.sledai_findings:
                qs.append(
                    {
                        **base,
                        "DOMAIN": "QS",
                        "QSCAT": "SLEDAI-2K",
                        "QSTESTCD": f.descriptor.upper()[:8],
                        "QSTEST": f.descriptor,
                        "QSORRES": "Y" if f.present else "N",
                        "QSSTRESC": "Y" if f.present else "N",
                        "QSSTRESN": "" if f.joints is None else str(f.joints),
                        "QSSTRESU": "",
                        "QSDTC": rec_at(f.start),
                    }
                )
            for g in rec.pga:
                qs.append(
                    {
                        **base,
                        "DOMAIN": "QS",
                        "QSCAT": "PGA",
                        "QSTESTCD": "PGA",
                        "QSTEST": "Physician global assessment",
                        "QSORRES": _num(g.value),
                        "QSSTRESC": _num(g.value),
                        "QSSTRESN": _num(g.value),
                        "QSSTRESU": "mm" if g.scale == "0-100mm" else "",
                        "QSDTC": rec_at(g.time),
                    }
                )
        # Height and weight from the subject table unless the records carry them already;
        # BSA always: no clinical record produces a BSA vital sign.
        for code, column, unit, from_records in (
            ("HEIGHT", "height_cm", "cm", True),
            ("WEIGHT", "weight_kg", "kg", True),
            ("BSA", "bsa_m2", "m2", False),
        ):
            if math.isnan(s[column]) or (
                from_records and rec and any(v.code == code for v in rec.vitals)
            ):
                continue
            vs.append(
                {
                    **base,
                    "DOMAIN": "VS",
                    "VSTESTCD": code,
                    "VSORRES": _num(s[column]),
                    "VSORRESU": unit,
                    "VSSTRESN": _num(s[column]),
                    "VSSTRESU": unit,
                    "VSLOC": "",
                    "VSDTC": format_iso(midnight),
                }
            )
    for name, rows in (
        ("dm", dm),
        ("ex", ex),
        ("lb", lb),
        ("pc", pc),
        ("vs", vs),
        ("ae", ae),
        ("qs", qs),
    ):
        path = folder / f"{name}.{table_format}"
        for other in TABLE_FORMATS:  # a stale table from an earlier export would be read back
            stale = folder / f"{name}.{other}"
            if other != table_format and stale.exists():
                stale.unlink()
        if rows or name in ("dm", "ex"):
            frame = pd.DataFrame(rows)
            for i, col in enumerate(("STUDYID", "DOMAIN", "USUBJID")):
                if col in frame.columns:
                    frame.insert(i, col, frame.pop(col))
            seq = f"{name.upper()}SEQ"
            if rows and seq not in frame.columns:
                frame.insert(3, seq, frame.groupby("USUBJID").cumcount() + 1)
            frame = _with_timing(frame, name.upper(), dates)
            _write_table(frame, path, name.upper(), table_format)
        elif path.exists():
            path.unlink()
    return folder


def _text(value: Any) -> str | None:
    """A text cell of the subject table, None where missing (a row of a table whose column is
    all None reads back NaN)."""
    return None if value is None or pd.isna(value) else str(value)


def _arm_code(arm: str) -> str:
    """ARMCD of an arm: its name upper-cased, non-alphanumerics as ``_``, at most 20 characters."""
    return "".join(c if c.isalnum() else "_" for c in arm.upper())[:20]


def _with_timing(frame: pd.DataFrame, domain: str, dates: dict[str, SubjectDates]) -> pd.DataFrame:
    """``frame`` with the study day, visit and epoch of each dated row (see the module doc)."""
    if domain not in _DAY_OF or frame.empty:
        return frame
    dtc, dy = _DAY_OF[domain]
    when = [parse_iso(t) for t in frame[dtc]]
    ref = [dates[sid] for sid in frame["USUBJID"]]
    frame = frame.copy()
    frame[dy] = [study_day(w, d.reference) for w, d in zip(when, ref)]
    if domain == "AE":
        frame["AEENDY"] = [
            "" if not t else study_day(parse_iso(t), d.reference)
            for t, d in zip(frame["AEENDTC"], ref)
        ]
    else:
        visits = [visit(w, d) for w, d in zip(when, ref)]
        frame["VISIT"] = [v for v, _ in visits]
        frame["VISITNUM"] = [n for _, n in visits]
    frame["EPOCH"] = [epoch(w, d) for w, d in zip(when, ref)]
    return frame


def _write_table(frame: pd.DataFrame, path: Path, domain: str, table_format: str) -> None:
    """One domain as CSV, or as SAS XPORT v5 with the variables' labels and types."""
    if table_format == "csv":
        frame.to_csv(path, index=False)
        return
    cols = [str(c) for c in frame.columns]
    write_xpt(
        frame,
        path,
        name=domain,
        label=DOMAIN_LABELS[domain],
        labels={c: variable_label(domain, c) for c in cols},
        numeric=[c for c in cols if is_numeric(domain, c)],
    )
