"""EX: day 0 (each subject's first CAR-T administration) and the CAR-T and lymphodepletion doses."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from allocart.clinical import units
from allocart.data.problems import Problem
from allocart.data.sdtm.cells import date_problem, parse_dtc, upper_cell
from allocart.data.sdtm.codes import CAR_T_TEXT, CELL_UNIT, LD_DRUGS
from allocart.data.sdtm.state import StudyReader
from allocart.data.tables import MISSING, column_list, number

__all__ = ["ex_dose", "ex_start", "read_ex"]


def read_ex(reader: StudyReader) -> None:
    """EX: day 0 (the first CAR-T administration) and the doses."""
    other_treatments: set[str] = set()
    if "EX" not in reader.doms:
        reader.probs.append(
            Problem(
                str(reader.folder / "ex.xpt"),
                None,
                None,
                "no EX table (ex.xpt or ex.csv): day 0 is the CAR-T infusion recorded in EX, and the doses come from it",
            )
        )
    else:
        ex = reader.doms["EX"]
        for col in ("USUBJID", "EXTRT", "EXSTDTC"):
            if not ex.has(col):
                reader.probs.append(
                    Problem(
                        ex.file,
                        1,
                        col,
                        f"required column {col} is missing; columns are {column_list(ex.frame.columns)}",
                    )
                )
        if all(ex.has(c) for c in ("USUBJID", "EXTRT", "EXSTDTC")):
            want = (
                None
                if reader.opts.car_t_treatment is None
                else reader.opts.car_t_treatment.strip().upper()
            )
            car_rows = []
            for row, r in ex.rows():
                trt = upper_cell(r, "EXTRT")
                if want is not None:
                    is_car = trt == want
                else:
                    is_car = bool(
                        CAR_T_TEXT.search(trt)
                        or CAR_T_TEXT.search(upper_cell(r, "EXCAT"))
                        or CELL_UNIT.match(upper_cell(r, "EXDOSU").replace(" ", "") or "-")
                    )
                if is_car:
                    car_rows.append((row, r))
                    continue
                kind = next((k for name, k in LD_DRUGS.items() if name in trt), None)
                if kind is None:
                    other_treatments.add(trt or "(empty)")
                    continue
                ex_dose(reader, row, r, kind)
                if (
                    upper_cell(r, "EXCAT") == "LYMPHODEPLETION"
                    and r.get("EXSCAT", "") not in MISSING
                ):
                    reader.ld_name[r["USUBJID"]] = r["EXSCAT"]
            if not car_rows:
                values = sorted(set(ex.frame["EXTRT"].map(lambda v: str(v).strip().upper())) - {""})
                shown = ", ".join(values[:20]) + (" ..." if len(values) > 20 else "")
                how = (
                    f"no EXTRT equals {reader.opts.car_t_treatment!r}"
                    if want is not None
                    else "no row names a CAR-T product (EXTRT or EXCAT with CAR-T, -CEL or LEUCEL) or gives a dose in cells"
                )
                reader.probs.append(
                    Problem(
                        ex.file,
                        None,
                        "EXTRT",
                        f"EX has no CAR-T administration ({how}): EXTRT values are {shown}; "
                        "day 0 of a CAR-T dataset is the infusion; pass --car-t-treatment NAME to name the CAR-T product",
                    )
                )
            for row, r in car_rows:
                sid = r["USUBJID"]

                def incomplete(w: str | None, raw: str | None = r.get("EXSTDTC")) -> str:
                    return (
                        f"the CAR-T infusion date {raw!r} is {'missing' if w is None else 'partial'}; "
                        "day 0 needs a complete date"
                    )

                when = ex_start(reader, row, r, incomplete)
                if when is None:
                    continue
                ex_dose(reader, row, r, "car_t", when=when)
                if sid not in reader.reference or when < reader.reference[sid]:
                    reader.reference[sid] = when
                    trt = r.get("EXTRT", "").strip()
                    reader.product[sid] = reader.opts.product or (
                        None if trt.upper() in ("CAR-T", "CAR T") else trt
                    )
            if other_treatments:
                reader.notes.append(
                    f"{ex.file}: treatments that are neither CAR-T nor lymphodepletion are not modelled: "
                    + ", ".join(sorted(other_treatments))
                )
    for sid in list(reader.reference):
        if sid not in reader.subjects and "DM" in reader.doms:
            reader.probs.append(
                Problem(
                    reader.doms["EX"].file,
                    None,
                    "USUBJID",
                    f"subject {sid!r} has EX rows but is not in DM",
                )
            )
    untreated = [s for s in reader.order if s not in reader.reference]
    if reader.reference and untreated:
        reader.notes.append(
            f"{len(untreated)} DM subject(s) have no CAR-T administration in EX and are left out of the dataset: "
            + ", ".join(untreated[:10])
            + (" ..." if len(untreated) > 10 else "")
        )


def ex_start(
    reader: StudyReader, row: int, r: dict[str, str], incomplete: Callable[[None | str], str]
) -> datetime | None:
    """EXSTDTC of an EX row as a complete date-time, or None with a problem appended.

    ``incomplete`` words the problem for a missing (``None``) or ``"partial"`` date.
    """
    ex = reader.doms["EX"]
    try:
        when = parse_dtc(r.get("EXSTDTC", ""))
    except ValueError as exc:
        reader.probs.append(Problem(ex.file, row, "EXSTDTC", date_problem(r.get("EXSTDTC"), exc)))
        return None
    if when is None or isinstance(when, str):  # the only string is "partial"
        reader.probs.append(Problem(ex.file, row, "EXSTDTC", incomplete(when)))
        return None
    return when


def ex_dose(
    reader: StudyReader, row: int, r: dict[str, str], kind: str, when: datetime | None = None
) -> None:
    """Append one EX dose row to ``doses``; ``when`` is its start if already parsed."""
    ex = reader.doms["EX"]
    sid = r["USUBJID"]
    if when is None:
        when = ex_start(
            reader,
            row,
            r,
            lambda _w: f"the {kind} dose date {r.get('EXSTDTC')!r} is missing or partial",
        )
        if when is None:
            return
    amount = number(r.get("EXDOSE", ""), ex.file, row, "EXDOSE", reader.probs)
    if math.isnan(amount):
        return
    unit_raw = r.get("EXDOSU", "")
    text = (
        unit_raw.strip()
        .upper()
        .replace(" ", "")
        .replace("X10", "10")
        .replace("10E", "10^")
        .replace("10*", "10^")
    )
    if kind == "car_t":
        m = CELL_UNIT.match(text)
        if not m:
            reader.probs.append(
                Problem(
                    ex.file,
                    row,
                    "EXDOSU",
                    f"{unit_raw!r} is not a CAR-T dose unit; use cells, cells/kg, "
                    "10^6 cells or 10^6 cells/kg",
                )
            )
            return
        exp = int(m.group("exp") or 0)
        if exp > 15:  # 10^6 cells is usual; 10^400 overflows
            reader.probs.append(
                Problem(
                    ex.file,
                    row,
                    "EXDOSU",
                    f"{unit_raw!r}: 10^{exp} cells is not a plausible dose unit; use cells, "
                    "cells/kg, 10^6 cells or 10^6 cells/kg",
                )
            )
            return
        amount *= 10.0**exp
        unit = "cells/kg" if m.group("kg") else "cells"
    else:
        spelled = units.canonical_unit_spelling(unit_raw)
        if spelled in ("mg/m2", "mg/m^2"):
            unit = "mg/m2"
        elif spelled == "mg":
            unit = "mg"
        else:
            reader.probs.append(
                Problem(
                    ex.file,
                    row,
                    "EXDOSU",
                    f"{unit_raw!r} is not a unit of a {kind} dose; use mg/m2 (or mg with VS BSA)",
                )
            )
            return
    if not amount > 0:
        reader.probs.append(
            Problem(ex.file, row, "EXDOSE", f"{kind} dose {amount:g} must be positive")
        )
        return
    reader.doses.append((sid, when, kind, amount, unit, row, unit_raw))
