"""Writing a Dataset as SDTM tables (dm, ex, lb, pc, vs, ae, qs) that the reader reads back."""

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
from allocart.data.times import format_iso, parse_iso, shift_days

__all__ = ["write_sdtm"]


def _num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e15 else str(int(v))


def write_sdtm(
    ds: Dataset,
    folder: str | Path,
    *,
    study_id: str = "ALLOCART",
    default_infusion: str = "2025-01-01",
) -> Path:
    """Write a Dataset as SDTM CSV tables (dm, ex, lb, pc, vs, ae, qs) that :func:`read_sdtm` reads back.

    Dates are the infusion date plus the dataset's days (to the second); a subject without an
    ``infusion_date`` is given ``default_infusion``. Lab read-outs go to LB (in the analyte's
    internal unit), CAR-T kinetics to PC, censored rows as ``<LLOQ`` with ``--LLOQ``. Lab
    records that mirror no observation, vital signs, adverse events (``AECAT`` = category),
    SLEDAI findings and PGA of ``records`` are written too; SLEDAI finding end times and
    attributions are not SDTM QS variables and are not written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dm, ex, lb, pc, vs, ae, qs = ([] for _ in range(7))
    subj = ds.subjects.set_index("id")
    for sid in ds.ids:
        s = subj.loc[sid]
        origin = parse_iso(s["infusion_date"] or default_infusion)
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
        dm.append(
            {
                **base,
                "DOMAIN": "DM",
                "SUBJID": sid,
                "RFXSTDTC": format_iso(origin),
                "AGE": _num(s["age_years"]),
                "AGEU": "YEARS" if not math.isnan(s["age_years"]) else "",
                "SEX": "" if pd.isna(female) else ("F" if female else "M"),
                "ARM": s["product"] or "CAR-T",
            }
        )
        for k, d in enumerate(ds.doses[ds.doses["id"] == sid].itertuples(index=False), start=1):
            is_car = d.kind == "car_t"
            ex.append(
                {
                    **base,
                    "DOMAIN": "EX",
                    "EXSEQ": k,
                    "EXTRT": (s["product"] or "CAR-T") if is_car else d.kind.upper(),
                    "EXCAT": "CAR-T" if is_car else "LYMPHODEPLETION",
                    "EXSCAT": "" if is_car else (s["ld"] or ""),
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
        path = folder / f"{name}.csv"
        if rows or name in ("dm", "ex"):
            frame = pd.DataFrame(rows)
            for i, col in enumerate(("STUDYID", "DOMAIN", "USUBJID")):
                if col in frame.columns:
                    frame.insert(i, col, frame.pop(col))
            seq = f"{name.upper()}SEQ"
            if rows and seq not in frame.columns:
                frame.insert(3, seq, frame.groupby("USUBJID").cumcount() + 1)
            frame.to_csv(path, index=False)
        elif path.exists():
            path.unlink()  # a stale table from an earlier export would be read back
    return folder
