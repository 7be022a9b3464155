"""Findings: LB (lab records and lab read-outs), PC/CP (CAR-T kinetics) and VS (vital signs,
baseline weight, height and BSA)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from pydantic import ValidationError

from allocart.clinical import units
from allocart.clinical.records import LabResult, VitalSign
from allocart.data.observables import OBSERVABLES
from allocart.data.problems import Problem
from allocart.data.sdtm.cells import censor_problem, censor_text, pydantic_problem, upper_cell
from allocart.data.sdtm.codes import KINETIC_UNITS
from allocart.data.sdtm.state import Domain, StudyReader
from allocart.data.tables import MISSING, number

__all__ = ["kinetic_row", "lb_row", "read_kinetics", "read_lb", "read_vs"]


def _rows_to_read(
    reader: StudyReader,
    dom: Domain,
    known: Callable[[str, dict[str, str]], bool],
    unused: set[str],
    aliases: Mapping[str, str] | None = None,
) -> Iterator[tuple[int, dict[str, str], str, str, datetime]]:
    """The rows of a findings domain to read: (row, cells, test code, USUBJID, time).

    Rows marked NOT DONE are skipped, and so are rows without a usable time
    (:meth:`StudyReader.when_of` says why); a test code (after ``aliases``) that ``known``
    refuses for its row is added to ``unused``.
    """
    name = dom.name
    for row, r in dom.rows():
        if upper_cell(r, f"{name}STAT") == "NOT DONE":
            continue
        code = upper_cell(r, f"{name}TESTCD")
        if aliases is not None:
            code = aliases.get(code, code)
        if not known(code, r):
            unused.add(code)
            continue
        sid = r.get("USUBJID", "")
        when = reader.when_of(dom, row, r, f"{name}DTC", sid)
        if when is None:
            continue
        yield row, r, code, sid, when


def _lb_spec(r: dict[str, str]) -> str | None:
    return r.get("LBSPEC", "") or None


def read_lb(reader: StudyReader) -> None:
    """LB: lab records and lab read-outs."""
    unused_tests: set[str] = set()
    if "LB" in reader.doms:
        lb = reader.doms["LB"]
        for row, r, code, sid, when in _rows_to_read(
            reader,
            lb,
            lambda code, r: units.analyte_key(code, _lb_spec(r)) in units.ANALYTES,
            unused_tests,
            reader.lab_alias,
        ):
            lb_row(reader, row, r, sid, code, _lb_spec(r), when)
        if unused_tests:
            reader.notes.append(
                f"{lb.file}: tests without an allocart analyte are not used: {', '.join(sorted(unused_tests))}"
            )


def lb_row(
    reader: StudyReader,
    row: int,
    r: dict[str, str],
    sid: str,
    code: str,
    spec: str | None,
    when: datetime,
) -> None:
    """One LB row of a known analyte: a lab record, and an observation if it is a read-out."""
    lb = reader.doms["LB"]
    use_std = r.get("LBSTRESN", "") not in MISSING or r.get("LBSTRESC", "") not in MISSING
    num_col, text_col, ucol = (
        ("LBSTRESN", "LBSTRESC", "LBSTRESU") if use_std else ("LBORRES", "LBORRES", "LBORRESU")
    )
    unit = r.get(ucol, "")
    censored_at = None
    value = math.nan
    num_text = r.get(num_col, "")
    try:
        value = float(num_text) if num_text not in MISSING else math.nan
    except ValueError:
        if use_std:  # LBSTRESN is numeric by definition
            reader.probs.append(Problem(lb.file, row, num_col, f"{num_text!r} is not a number"))
            return
    if math.isnan(value):
        txt = r.get(text_col, "")
        censored_at = censor_text(txt)
        if censored_at is not None and not math.isfinite(censored_at):
            reader.probs.append(Problem(lb.file, row, text_col, censor_problem(txt)))
            return
        if censored_at is None:
            if txt not in MISSING:
                reader.notes.append(
                    f"{lb.file} row {row}: {code} result {txt!r} is not a number and is not used"
                )
            return
    try:
        units.convert(code, spec, 1.0, unit)
    except ValueError as exc:
        reader.probs.append(Problem(lb.file, row, ucol, str(exc)))
        return
    lloq_text = r.get("LBLLOQ", "")
    lloq = (
        number(lloq_text, lb.file, row, "LBLLOQ", reader.probs, required=False)
        if lloq_text not in MISSING
        else math.nan
    )
    if censored_at is not None:
        lloq = censored_at
    elif not math.isnan(lloq) and value < lloq:
        censored_at = lloq
    if censored_at is None:
        ref_low = (
            number(r.get("LBSTNRLO", ""), lb.file, row, "LBSTNRLO", reader.probs, required=False)
            if use_std
            else math.nan
        )
        ref_high = (
            number(r.get("LBSTNRHI", ""), lb.file, row, "LBSTNRHI", reader.probs, required=False)
            if use_std
            else math.nan
        )
        try:
            lab = LabResult(
                test=code,
                value=value,
                unit=unit,
                time=reader.rec_time(sid, when),
                specimen=spec,
                ref_low=None if math.isnan(ref_low) else ref_low,
                ref_high=None if math.isnan(ref_high) else ref_high,
                method=r.get("LBMETHOD", "") or None,
            )
        except ValidationError as exc:
            reader.probs.append(
                pydantic_problem(
                    exc,
                    lb.file,
                    row,
                    {
                        "value": num_col,
                        "unit": ucol,
                        "ref_low": "LBSTNRLO",
                        "ref_high": "LBSTNRHI",
                    },
                )
            )
            return
        reader.rec[sid]["labs"].append(lab)
    key = units.analyte_key(code, spec)
    observable = next(
        (o.name for o in OBSERVABLES.values() if o.domain == "LB" and (o.code, "blood") == key),
        None,
    )
    if observable is None or sid not in reader.reference:
        return
    factor = OBSERVABLES[observable].lab_factor
    t = reader.obs_time(sid, when)

    def conv(v: float) -> float:
        return units.convert(code, spec, v, unit) * factor

    if censored_at is not None:
        reader.observations.append((sid, t, observable, conv(censored_at), conv(censored_at), True))
    else:
        reader.observations.append(
            (
                sid,
                t,
                observable,
                conv(value),
                math.nan if math.isnan(lloq) else conv(lloq),
                False,
            )
        )


def read_kinetics(reader: StudyReader) -> None:
    """PC and CP: CAR-T kinetics."""
    for dname in ("PC", "CP"):
        if dname not in reader.doms:
            continue
        dom = reader.doms[dname]
        unused: set[str] = set()
        for row, r, code, sid, when in _rows_to_read(
            reader, dom, lambda code, _: code in reader.kinetic, unused
        ):
            if sid in reader.reference:
                kinetic_row(reader, dom, row, r, sid, reader.kinetic[code], when)
        if unused:
            reader.notes.append(
                f"{dom.file}: test codes not mapped to a read-out: {', '.join(sorted(unused))} "
                "(map one with --pc-code CODE=READOUT)"
            )


def kinetic_row(
    reader: StudyReader,
    dom: Domain,
    row: int,
    r: dict[str, str],
    sid: str,
    observable: str,
    when: datetime,
) -> None:
    """One PC or CP row of a known read-out: an observation (censored below the LLOQ)."""
    dname, t = dom.name, reader.obs_time(sid, when)
    use_std = (
        r.get(f"{dname}STRESN", "") not in MISSING or r.get(f"{dname}STRESC", "") not in MISSING
    )
    vcol, ucol, ccol = (
        (f"{dname}STRESN", f"{dname}STRESU", f"{dname}STRESC")
        if use_std
        else (f"{dname}ORRES", f"{dname}ORRESU", f"{dname}ORRES")
    )
    unit = r.get(ucol, "")
    factor = KINETIC_UNITS[observable].get(units.canonical_unit_spelling(unit))
    if factor is None:
        reader.probs.append(
            Problem(
                dom.file,
                row,
                ucol,
                f"{unit!r} is not a unit of {observable}; use one of "
                f"{', '.join(KINETIC_UNITS[observable])}",
            )
        )
        return
    lloq_text = r.get(f"{dname}LLOQ", "")
    lloq = (
        number(lloq_text, dom.file, row, f"{dname}LLOQ", reader.probs, required=False)
        if lloq_text not in MISSING
        else math.nan
    )
    text = r.get(vcol, "")
    cens = censor_text(r.get(ccol, "")) if text in MISSING or vcol.endswith("ORRES") else None
    if cens is not None and not math.isfinite(cens):
        reader.probs.append(Problem(dom.file, row, ccol, censor_problem(r.get(ccol, ""))))
        return
    if cens is None and text in MISSING and upper_cell(r, ccol) in ("BLQ", "<LLOQ", "BQL", "NQ"):
        if math.isnan(lloq):
            reader.probs.append(
                Problem(
                    dom.file,
                    row,
                    f"{dname}LLOQ",
                    f"result {r.get(ccol)!r} is below the LLOQ but {dname}LLOQ is empty",
                )
            )
            return
        cens = lloq
    if cens is not None:
        reader.observations.append((sid, t, observable, cens * factor, cens * factor, True))
        return
    if text in MISSING:
        return
    value = number(text, dom.file, row, vcol, reader.probs)
    if math.isnan(value):
        return
    if value < 0:
        reader.probs.append(Problem(dom.file, row, vcol, f"{value:g} is negative"))
        return
    if not math.isnan(lloq) and value < lloq:
        reader.observations.append((sid, t, observable, lloq * factor, lloq * factor, True))
        return
    reader.observations.append((sid, t, observable, value * factor, lloq * factor, False))


def read_vs(reader: StudyReader) -> None:
    """VS: vital signs and baseline weight, height and BSA."""
    if "VS" in reader.doms:
        vs = reader.doms["VS"]
        unused: set[str] = set()
        for row, r, code, sid, when in _rows_to_read(
            reader, vs, lambda code, _: code in units.VITALS or code == "BSA", unused
        ):
            use_std = r.get("VSSTRESN", "") not in MISSING
            vcol, ucol = ("VSSTRESN", "VSSTRESU") if use_std else ("VSORRES", "VSORRESU")
            value = number(r.get(vcol, ""), vs.file, row, vcol, reader.probs)
            if math.isnan(value):
                continue
            unit = r.get(ucol, "")
            if code == "BSA":
                if units.canonical_unit_spelling(unit or "m2") not in ("m2", "m^2"):
                    reader.probs.append(
                        Problem(vs.file, row, ucol, f"BSA unit {unit!r} must be m2")
                    )
                    continue
                std = value
            else:
                try:
                    v = VitalSign(
                        test=code,
                        value=value,
                        unit=unit,
                        time=reader.rec_time(sid, when),
                        location=r.get("VSLOC", "") or None,
                    )
                except ValidationError as exc:
                    reader.probs.append(
                        pydantic_problem(
                            exc, vs.file, row, {"value": vcol, "unit": ucol, "test": "VSTESTCD"}
                        )
                    )
                    continue
                reader.rec[sid]["vitals"].append(v)
                std = v.std_value
            if code in ("WEIGHT", "HEIGHT", "BSA"):
                t = reader.obs_time(sid, when) if sid in reader.reference else 0.0
                prev = reader.baseline.setdefault(sid, {}).get(code)
                # baseline: the last value on or before day 0, else the first after it
                score = (0, t) if t <= 1e-9 else (1, -t)
                if prev is None or score > prev[0]:
                    reader.baseline[sid][code] = (score, std)
        if unused:
            reader.notes.append(f"{vs.file}: vital signs not used: {', '.join(sorted(unused))}")
