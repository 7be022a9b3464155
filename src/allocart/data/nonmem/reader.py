"""Reading a NONMEM-style CSV into a validated Dataset, one row at a time.

Each row is a dose (:func:`_read_dose`: ``ADDL``/``II`` expanded), an observation
(:func:`_read_observation`: ``BLQ``, ``LLOQ``, ``--log-dv``) or skipped (``EVID`` 2, ``MDV``,
comment rows); covariates are taken per subject (:func:`_covariates`). Then each subject's times
are shifted so that its first CAR-T dose is day 0 (:func:`_shift_to_infusion`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from allocart.data.dataset import Dataset
from allocart.data.nonmem.spec import MAX_ADDL, TIME_FACTORS, NonmemSpec, code_text, exp_cell
from allocart.data.problems import Problem, raise_problems
from allocart.data.records import records_from_observations
from allocart.data.schema import (
    DOSE_COLUMNS,
    DOSE_KINDS,
    DOSE_UNITS,
    MAX_DAYS,
    OBSERVATION_COLUMNS,
)
from allocart.data.tables import FIRST_DATA_ROW, MISSING, column_list, number, read_text_table

__all__ = ["read_nonmem"]


@dataclass
class _Rows:
    """What the rows of one file have given so far."""

    name: str
    spec: NonmemSpec
    cols: set[str]
    probs: list[Problem] = field(default_factory=list)
    doses: list[tuple[str, float, str, float, str, int]] = field(default_factory=list)
    observations: list[tuple[str, float, str, float, float, bool, int]] = field(
        default_factory=list
    )
    covs: dict[str, dict[str, object]] = field(default_factory=dict)
    #: dose compartment -> rows, reported once per code
    unmapped: dict[str, list[int]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def cell(self, r: dict[str, str], column: str) -> str:
        """The text of ``column`` in row ``r`` (empty when the file has no such column)."""
        return r.get(column, "")

    def number_of(self, r: dict[str, str], column: str, row: int, required: bool = True) -> float:
        """The number in ``column`` (NaN and a problem when it is not one)."""
        return number(self.cell(r, column), self.name, row, column, self.probs, required=required)


def read_nonmem(path: str | Path, spec: NonmemSpec | None = None) -> Dataset:
    """Read a NONMEM-style CSV into a validated :class:`Dataset`.

    Parameters
    ----------
    path : path
        The CSV file.
    spec : NonmemSpec, optional
        Coding of observation types, compartments, units (defaults: what
        :func:`~allocart.data.write_nonmem` writes).

    Raises
    ------
    DataValidationError
        Listing every problem with file, row (file line) and column.
    """
    spec = spec or NonmemSpec()
    path = Path(path)
    name = str(path)
    raw = read_text_table(path)
    _check_columns(raw, spec, name)
    acc = _Rows(name=name, spec=spec, cols=set(raw.columns))
    id_col = "USUBJID" if "USUBJID" in acc.cols else "ID"
    for k, r in enumerate(raw.to_dict("records")):
        _read_row(acc, r, k + FIRST_DATA_ROW, id_col)
    acc.probs += _unmapped_problems(acc)
    raise_problems(acc.probs)

    dose_frame = pd.DataFrame(acc.doses, columns=[*DOSE_COLUMNS, "row"])
    obs_frame = pd.DataFrame(acc.observations, columns=[*OBSERVATION_COLUMNS, "row"])
    raise_problems(_shift_to_infusion(dose_frame, obs_frame, acc, id_col))

    subjects = pd.DataFrame([{"id": sid, **acc.covs[sid]} for sid in acc.order])
    ds = Dataset(
        subjects=subjects,
        doses=dose_frame.drop(columns="row"),
        observations=obs_frame.drop(columns="row"),
        source=name,
    )
    ds.validate()  # the tables, before the clinical records are derived from them
    ds = Dataset(
        subjects=ds.subjects,
        doses=ds.doses,
        observations=ds.observations,
        records=records_from_observations(ds.observations, ds.subjects),
        source=name,
    )
    return ds.validate()


def _check_columns(raw: pd.DataFrame, spec: NonmemSpec, name: str) -> None:
    """Raise the problems of missing required columns, then of a file without data rows."""
    probs: list[Problem] = []
    cols = set(raw.columns)
    for need in ("ID", "TIME", "DV"):
        if need not in cols:
            probs.append(
                Problem(
                    name,
                    1,
                    need,
                    f"required column {need} is missing; columns are {column_list(raw.columns)}",
                )
            )
    if "EVID" not in cols and "AMT" not in cols:
        probs.append(
            Problem(
                name,
                1,
                "EVID",
                "neither EVID nor AMT is present, so doses cannot be told from observations",
            )
        )
    obs_col = spec.obs_column
    if obs_col not in cols:
        alt = [c for c in ("DVID", "CMT", "TYPE", "OBSTYPE") if c in cols]
        probs.append(
            Problem(
                name,
                1,
                obs_col,
                f"observation-type column {obs_col} is missing"
                + (f"; pass --obs-column {alt[0]}" if alt else ""),
            )
        )
    raise_problems(probs)
    if raw.empty:
        raise_problems([Problem(name, None, None, "the file has a header but no data rows")])


def _read_row(acc: _Rows, r: dict[str, str], row: int, id_col: str) -> None:
    """One data row: its subject's covariates, then a dose, an observation, or nothing."""
    name, spec = acc.name, acc.spec
    if "C" in acc.cols and acc.cell(r, "C") not in MISSING:
        return
    sid = acc.cell(r, id_col)
    if sid in MISSING:
        acc.probs.append(Problem(name, row, id_col, "missing subject id"))
        return
    sid = code_text(sid) if id_col == "ID" else sid
    if sid not in acc.covs:
        acc.covs[sid] = {}
        acc.order.append(sid)
    _covariates(r, acc.cols, acc.covs[sid], spec, name, row, acc.probs)
    t = acc.number_of(r, "TIME", row)
    tf = TIME_FACTORS[spec.time_unit]
    if abs(t * tf) > MAX_DAYS:
        acc.probs.append(
            Problem(
                name,
                row,
                "TIME",
                f"{acc.cell(r, 'TIME')} {spec.time_unit}s lies more than 100 years from the "
                "infusion; check --time-unit",
            )
        )
        return
    evid = _event_id(acc, r, row)
    if evid == 1:
        _read_dose(acc, r, row, sid, t)
    elif evid == 0:
        _read_observation(acc, r, row, sid, t)


def _event_id(acc: _Rows, r: dict[str, str], row: int) -> int | None:
    """0 (observation), 1 (dose), or None for a row to skip (EVID 2, unreadable, refused)."""
    evid_text = acc.cell(r, "EVID") if "EVID" in acc.cols else ""
    if evid_text in MISSING:
        amt = acc.number_of(r, "AMT", row, required=False)
        evid = 1 if (not math.isnan(amt) and amt > 0) else 0
    else:
        e = number(evid_text, acc.name, row, "EVID", acc.probs)
        evid = -1 if math.isnan(e) else int(e)
    if evid in (3, 4):
        acc.probs.append(
            Problem(
                acc.name,
                row,
                "EVID",
                f"EVID {evid} (reset) is not supported: a patient's history cannot be reset; split the subject instead",
            )
        )
        return None
    if evid == 2 or evid == -1:
        return None
    if evid not in (0, 1):
        acc.probs.append(
            Problem(
                acc.name, row, "EVID", f"{evid} is not an event id; use 0 (observation) or 1 (dose)"
            )
        )
        return None
    return evid


def _read_dose(acc: _Rows, r: dict[str, str], row: int, sid: str, t: float) -> None:
    """A dose row (EVID 1): kind from CMT, amount and unit, additional doses ADDL every II."""
    name, spec, cols = acc.name, acc.spec, acc.cols
    cmt = code_text(acc.cell(r, "CMT"))
    kind = spec.dose_cmt.get(cmt)
    if kind is None:
        acc.unmapped.setdefault(cmt, []).append(row)
        return
    amt = acc.number_of(r, "AMT", row)
    if not math.isnan(amt) and amt <= 0:
        acc.probs.append(Problem(name, row, "AMT", f"dose amount {amt:g} must be positive"))
    unit = (
        acc.cell(r, "AMTU")
        if "AMTU" in cols and acc.cell(r, "AMTU") not in MISSING
        else spec.dose_units.get(kind, DOSE_UNITS[kind][0])
    )
    if unit not in DOSE_UNITS[kind]:
        acc.probs.append(
            Problem(
                name,
                row,
                "AMTU",
                f"{unit!r} is not a unit of a {kind} dose; use {' or '.join(DOSE_UNITS[kind])}",
            )
        )
    for c in ("SS", "RATE"):
        if c in cols and acc.cell(r, c) not in MISSING and acc.number_of(r, c, row) != 0:
            acc.probs.append(
                Problem(
                    name,
                    row,
                    c,
                    f"{c} = {acc.cell(r, c)} is not supported for cell or lymphodepletion doses (bolus doses only); set it to 0",
                )
            )
    addl = acc.number_of(r, "ADDL", row, required=False) if "ADDL" in cols else math.nan
    ii = acc.number_of(r, "II", row, required=False) if "II" in cols else math.nan
    times = [t]
    if not math.isnan(addl) and not (addl.is_integer() and 0 <= addl <= MAX_ADDL):
        acc.probs.append(
            Problem(
                name,
                row,
                "ADDL",
                f"ADDL = {acc.cell(r, 'ADDL')} must be a whole number of additional doses "
                f"from 0 to {MAX_ADDL}",
            )
        )
    elif not math.isnan(addl) and addl > 0:
        if math.isnan(ii) or ii <= 0:
            acc.probs.append(
                Problem(name, row, "II", f"ADDL = {addl:g} needs a positive dosing interval II")
            )
        else:
            times += [t + j * ii for j in range(1, int(addl) + 1)]
    tf = TIME_FACTORS[spec.time_unit]
    for tt in times:
        acc.doses.append((sid, tt * tf, kind, amt, unit, row))


def _read_observation(acc: _Rows, r: dict[str, str], row: int, sid: str, t: float) -> None:
    """An observation row (EVID 0): read-out, value, LLOQ, censoring (BLQ or below LLOQ)."""
    name, spec, cols = acc.name, acc.spec, acc.cols
    tf = TIME_FACTORS[spec.time_unit]
    blq_text = acc.cell(r, "BLQ") if "BLQ" in cols else ""
    blq = (
        number(blq_text, name, row, "BLQ", acc.probs, required=False)
        if blq_text not in MISSING
        else 0.0
    )
    mdv_text = acc.cell(r, "MDV") if "MDV" in cols else ""
    mdv = (
        number(mdv_text, name, row, "MDV", acc.probs, required=False)
        if mdv_text not in MISSING
        else 0.0
    )
    if mdv == 1 and blq != 1:
        return
    obs_col = spec.obs_column
    code = acc.cell(r, obs_col)
    observable = spec.observable_of(code)
    if observable is None:
        acc.probs.append(
            Problem(
                name,
                row,
                obs_col,
                f"observation type {code!r} is not mapped to a read-out; known codes: "
                + ", ".join(f"{c}={o}" for c, o in spec.observable_codes.items())
                + " (pass --obs-code CODE=READOUT)",
            )
        )
        return
    lloq = acc.number_of(r, "LLOQ", row, required=False) if "LLOQ" in cols else math.nan
    if spec.log_dv and not math.isnan(lloq):
        lloq = exp_cell(lloq, name, row, "LLOQ", acc.probs)
        if math.isnan(lloq):
            return
    if blq == 1:
        if math.isnan(lloq):
            acc.probs.append(
                Problem(name, row, "LLOQ", "a below-LLOQ row (BLQ = 1) needs its LLOQ")
            )
            return
        acc.observations.append((sid, t * tf, observable, lloq, lloq, True, row))
        return
    if blq not in (0, 1):
        acc.probs.append(Problem(name, row, "BLQ", f"{blq_text!r} must be 0 or 1"))
        return
    dv = acc.number_of(r, "DV", row)
    if math.isnan(dv):
        return
    if spec.log_dv:
        dv = exp_cell(dv, name, row, "DV", acc.probs)
        if math.isnan(dv):
            return
    if dv < 0:
        acc.probs.append(Problem(name, row, "DV", f"{dv:g} is negative; {observable} cannot be"))
        return
    if not math.isnan(lloq) and dv < lloq:
        # A value reported below its own LLOQ is censored, as the M3 method treats it.
        acc.observations.append((sid, t * tf, observable, lloq, lloq, True, row))
        return
    acc.observations.append((sid, t * tf, observable, dv, lloq, False, row))


def _unmapped_problems(acc: _Rows) -> list[Problem]:
    """One problem per dose compartment that maps to no dose kind."""
    probs = []
    for cmt, rows in acc.unmapped.items():
        shown = ", ".join(map(str, rows[:5])) + (
            f" ... ({len(rows)} rows)" if len(rows) > 5 else ""
        )
        probs.append(
            Problem(
                acc.name,
                rows[0],
                "CMT",
                f"dose compartment {cmt!r} (rows {shown}) is not mapped to a dose kind; "
                "mapped: "
                + ", ".join(f"{c}={k}" for c, k in acc.spec.dose_cmt.items())
                + "; pass --dose-cmt CODE=KIND (KIND: "
                + ", ".join(DOSE_KINDS)
                + ")",
            )
        )
    return probs


def _shift_to_infusion(
    dose_frame: pd.DataFrame, obs_frame: pd.DataFrame, acc: _Rows, id_col: str
) -> list[Problem]:
    """Shift each subject's times in place so that its first CAR-T dose is day 0.

    Returns the problems of subjects without a CAR-T dose.
    """
    probs = []
    for sid in acc.order:
        d = dose_frame[(dose_frame["id"] == sid) & (dose_frame["kind"] == "car_t")]
        if d.empty:
            kinds = sorted(set(dose_frame.loc[dose_frame["id"] == sid, "kind"]))
            probs.append(
                Problem(
                    acc.name,
                    None,
                    id_col,
                    f"subject {sid!r} has no CAR-T dose (EVID 1 in CMT {acc.spec.cmt_of('car_t')}); "
                    f"its doses are: {', '.join(kinds) or 'none'}; times count from the CAR-T infusion, so "
                    "add it or map its compartment with --dose-cmt CODE=car_t",
                )
            )
            continue
        t0 = float(d["time"].min())
        if t0 != 0.0:
            dose_frame.loc[dose_frame["id"] == sid, "time"] -= t0
            obs_frame.loc[obs_frame["id"] == sid, "time"] -= t0
    return probs


_COVARIATES = {"WT": "weight_kg", "HT": "height_cm", "BSA": "bsa_m2", "AGE": "age_years"}

#: Possible covariate values (those :meth:`Dataset.validate` and the clinical records accept): a
#: value outside is reported with its row and column, not passed on to the records.
_COVARIATE_LIMITS = {
    "WT": (0.2, 400.0, "kg"),
    "HT": (20.0, 260.0, "cm"),
    "BSA": (0.05, 4.0, "m2"),
    "AGE": (0.0, 130.0, "years"),
}
_TEXT_COVARIATES = {"PRODUCT": "product", "LD": "ld", "INFDATE": "infusion_date"}


def _covariates(
    r: dict,
    cols: set[str],
    out: dict[str, object],
    spec: NonmemSpec,
    file: str,
    row: int,
    probs: list[Problem],
) -> None:
    for col, key in _COVARIATES.items():
        if col in cols and key not in out and r.get(col, "") not in MISSING:
            v = number(r[col], file, row, col, probs)
            if math.isnan(v):
                continue
            lo, hi, unit = _COVARIATE_LIMITS[col]
            if not lo <= v <= hi:
                probs.append(
                    Problem(
                        file,
                        row,
                        col,
                        f"{col} = {r[col]} is impossible; it must lie between {lo:g} and "
                        f"{hi:g} {unit}",
                    )
                )
                out[key] = math.nan  # reported once per subject
                continue
            out[key] = v
    for col, key in _TEXT_COVARIATES.items():
        if col in cols and key not in out and r.get(col, "") not in MISSING:
            out[key] = r[col]
    if "female" in out:
        return
    if "FEMALE" in cols and r.get("FEMALE", "") not in MISSING:
        flag = code_text(r["FEMALE"])
        if flag not in ("0", "1"):
            probs.append(Problem(file, row, "FEMALE", f"{r['FEMALE']!r} must be 0 or 1"))
        else:
            out["female"] = flag == "1"
    elif "SEX" in cols and r.get("SEX", "") not in MISSING:
        sex = code_text(r["SEX"]).upper()
        if spec.sex_female_code is not None:
            out["female"] = sex == code_text(spec.sex_female_code).upper()
        elif sex in ("F", "FEMALE"):
            out["female"] = True
        elif sex in ("M", "MALE"):
            out["female"] = False
        else:
            probs.append(
                Problem(
                    file,
                    row,
                    "SEX",
                    f"{r['SEX']!r} is ambiguous; use F/M, a FEMALE 0/1 column, "
                    "or pass --sex-female-code CODE",
                )
            )
