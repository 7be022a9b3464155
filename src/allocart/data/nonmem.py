"""NONMEM-style datasets (one CSV, one row per dose or observation) to and from a Dataset.

Columns read (case-insensitive; ``.`` or empty = missing):

=========  ==========================================================================
``ID``     subject (``USUBJID``, when present, gives the subject id instead)
``TIME``   time, in :attr:`NonmemSpec.time_unit` (days by default)
``EVID``   0 observation, 1 dose, 2 other event (skipped); 3 and 4 (resets) are refused.
           Without EVID a row is a dose when AMT > 0, else an observation.
``AMT``    dose amount, in ``AMTU`` (default unit per dose kind, :attr:`NonmemSpec.dose_units`)
``CMT``    dose compartment -> dose kind (:attr:`NonmemSpec.dose_cmt`)
``DV``     observed value (natural scale, or natural log with ``log_dv``; one whose exp
           overflows is refused)
``MDV``    1 = no observation on this row (skipped unless ``BLQ`` = 1)
``DVID``   observation type -> read-out (:attr:`NonmemSpec.observable_codes`; the column is
           :attr:`NonmemSpec.obs_column`, e.g. ``CMT``); codes may also be read-out names
``BLQ``    1 = below the LLOQ (censored; the value becomes ``LLOQ``)
``LLOQ``   lower limit of quantification, in the read-out's unit
``ADDL``,  additional doses (0 to 1000) every ``II`` (expanded); ``SS`` and ``RATE`` other
``II``     than 0 are refused (steady state and zero-order input have no meaning for cells)
``C``      comment flag: rows with a non-empty ``C`` (other than ``.``) are skipped
=========  ==========================================================================

Covariates, first non-missing value per subject: ``WT`` (kg), ``HT`` (cm), ``BSA`` (m2),
``AGE`` (years), ``FEMALE`` (0/1) or ``SEX`` (``F``/``M``; numeric codes need
:attr:`NonmemSpec.sex_female_code`), ``PRODUCT``, ``LD``, ``INFDATE`` (ISO date of the
infusion).

Times are shifted per subject so that the first CAR-T dose is day 0 (the dataset
convention); a subject without a CAR-T dose is an error naming the compartments seen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from allocart.data.dataset import (
    DOSE_COLUMNS,
    DOSE_KINDS,
    DOSE_UNITS,
    MAX_DAYS,
    OBSERVABLES,
    OBSERVATION_COLUMNS,
    Dataset,
    Problem,
    raise_problems,
    records_from_observations,
)
from allocart.data.tables import FIRST_DATA_ROW, MISSING, column_list, number, read_text_table
from allocart.errors import DataError

__all__ = ["NonmemSpec", "read_nonmem", "write_nonmem"]

_TIME_FACTORS = {"day": 1.0, "hour": 1.0 / 24.0, "week": 7.0}

#: Most additional doses one row may give (``ADDL``): far above any CAR-T or lymphodepletion
#: schedule, and a bound on the rows a typing slip (ADDL = 1e9) expands to.
MAX_ADDL = 1000


def _default_codes() -> dict[str, str]:
    return {str(i + 1): name for i, name in enumerate(OBSERVABLES)}


@dataclass(frozen=True)
class NonmemSpec:
    """How a NONMEM dataset codes its rows (the defaults are what :func:`write_nonmem` writes).

    Attributes
    ----------
    time_unit : {"day", "hour", "week"}
        Unit of ``TIME`` (and ``II``).
    obs_column : str
        Column giving the observation type (``DVID``, or ``CMT`` for datasets that code
        read-outs by compartment).
    observable_codes : mapping of str to str
        Observation-type code (as text, e.g. ``"3"``) -> read-out name. Default: 1..12 in
        the order of :data:`allocart.data.OBSERVABLES`.
    dose_cmt : mapping of str to str
        Dose compartment code -> dose kind (``car_t``, ``fludarabine``, ``cyclophosphamide``).
    dose_units : mapping of str to str
        Unit of AMT per dose kind when there is no ``AMTU`` column.
    log_dv : bool
        ``DV`` (and ``LLOQ``) hold natural logarithms.
    sex_female_code : str or None
        Value of a numeric ``SEX`` column that means female (e.g. ``"1"`` or ``"2"``).
    """

    time_unit: str = "day"
    obs_column: str = "DVID"
    observable_codes: Mapping[str, str] = field(default_factory=_default_codes)
    dose_cmt: Mapping[str, str] = field(
        default_factory=lambda: {"1": "car_t", "2": "fludarabine", "3": "cyclophosphamide"}
    )
    dose_units: Mapping[str, str] = field(
        default_factory=lambda: {
            "car_t": "cells",
            "fludarabine": "mg/m2",
            "cyclophosphamide": "mg/m2",
        }
    )
    log_dv: bool = False
    sex_female_code: str | None = None

    def __post_init__(self) -> None:
        if self.time_unit not in _TIME_FACTORS:
            raise DataError(
                f"--time-unit: {self.time_unit!r} is not one of {', '.join(_TIME_FACTORS)}"
            )
        for code, name in self.observable_codes.items():
            if name not in OBSERVABLES:
                raise DataError(
                    f"observation code {code!r} maps to {name!r}, not a read-out; use one of {', '.join(OBSERVABLES)}"
                )
        for code, kind in self.dose_cmt.items():
            if kind not in DOSE_KINDS:
                raise DataError(
                    f"dose compartment {code!r} maps to {kind!r}; use one of {', '.join(DOSE_KINDS)}"
                )
        for kind, unit in self.dose_units.items():
            if kind not in DOSE_UNITS or unit not in DOSE_UNITS[kind]:
                raise DataError(
                    f"dose unit of {kind!r}: {unit!r} is not one of {DOSE_UNITS.get(kind, ())}"
                )
        object.__setattr__(self, "obs_column", self.obs_column.upper())

    def observable_of(self, code: str) -> str | None:
        code = _code(code)
        if code in self.observable_codes:
            return self.observable_codes[code]
        return code if code in OBSERVABLES else None

    def code_of(self, observable: str) -> str:
        for code, name in self.observable_codes.items():
            if name == observable:
                return code
        return observable

    def cmt_of(self, kind: str) -> str:
        for code, k in self.dose_cmt.items():
            if k == kind:
                return code
        return kind


def _code(text: str) -> str:
    s = str(text).strip()
    try:  # "3.0" and "3" are the same code
        f = float(s)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return s


def _exp(value: float, file: str, row: int, column: str, probs: list[Problem]) -> float:
    """``exp(value)`` of a log-scale cell (``--log-dv``); NaN and a problem when it overflows."""
    try:
        return math.exp(value)
    except OverflowError:
        probs.append(
            Problem(
                file,
                row,
                column,
                f"{value:g} is too large for a natural logarithm: exp({value:g}) exceeds the "
                f"largest number; is {column} on the log scale (--log-dv)?",
            )
        )
        return math.nan


def read_nonmem(path: str | Path, spec: NonmemSpec | None = None) -> Dataset:
    """Read a NONMEM-style CSV into a validated :class:`Dataset`.

    Parameters
    ----------
    path : path
        The CSV file.
    spec : NonmemSpec, optional
        Coding of observation types, compartments, units (defaults: what :func:`write_nonmem`
        writes).

    Raises
    ------
    DataValidationError
        Listing every problem with file, row (file line) and column.
    """
    spec = spec or NonmemSpec()
    path = Path(path)
    name = str(path)
    raw = read_text_table(path)
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
        probs.append(Problem(name, None, None, "the file has a header but no data rows"))
    raise_problems(probs)

    tf = _TIME_FACTORS[spec.time_unit]
    get = lambda r, c: r.get(c, "")
    id_col = "USUBJID" if "USUBJID" in cols else "ID"
    doses: list[tuple[str, float, str, float, str, int]] = []
    observations: list[tuple[str, float, str, float, float, bool, int]] = []
    covs: dict[str, dict[str, object]] = {}
    unmapped: dict[str, list[int]] = {}  # dose compartment -> rows, reported once per code
    order: list[str] = []
    for k, r in enumerate(raw.to_dict("records")):
        row = k + FIRST_DATA_ROW
        if "C" in cols and get(r, "C") not in MISSING:
            continue
        sid = get(r, id_col)
        if sid in MISSING:
            probs.append(Problem(name, row, id_col, "missing subject id"))
            continue
        sid = _code(sid) if id_col == "ID" else sid
        if sid not in covs:
            covs[sid] = {}
            order.append(sid)
        _covariates(r, cols, covs[sid], spec, name, row, probs)
        t = number(get(r, "TIME"), name, row, "TIME", probs)
        if abs(t * tf) > MAX_DAYS:
            probs.append(
                Problem(
                    name,
                    row,
                    "TIME",
                    f"{get(r, 'TIME')} {spec.time_unit}s lies more than 100 years from the "
                    "infusion; check --time-unit",
                )
            )
            continue
        evid_text = get(r, "EVID") if "EVID" in cols else ""
        if evid_text in MISSING:
            amt = number(get(r, "AMT"), name, row, "AMT", probs, required=False)
            evid = 1 if (not math.isnan(amt) and amt > 0) else 0
        else:
            e = number(evid_text, name, row, "EVID", probs)
            evid = -1 if math.isnan(e) else int(e)
        if evid in (3, 4):
            probs.append(
                Problem(
                    name,
                    row,
                    "EVID",
                    f"EVID {evid} (reset) is not supported: a patient's history cannot be reset; split the subject instead",
                )
            )
            continue
        if evid == 2 or evid == -1:
            continue
        if evid not in (0, 1):
            probs.append(
                Problem(
                    name, row, "EVID", f"{evid} is not an event id; use 0 (observation) or 1 (dose)"
                )
            )
            continue
        if evid == 1:
            cmt = _code(get(r, "CMT"))
            kind = spec.dose_cmt.get(cmt)
            if kind is None:
                unmapped.setdefault(cmt, []).append(row)
                continue
            amt = number(get(r, "AMT"), name, row, "AMT", probs)
            if not math.isnan(amt) and amt <= 0:
                probs.append(Problem(name, row, "AMT", f"dose amount {amt:g} must be positive"))
            unit = (
                get(r, "AMTU")
                if "AMTU" in cols and get(r, "AMTU") not in MISSING
                else spec.dose_units.get(kind, DOSE_UNITS[kind][0])
            )
            if unit not in DOSE_UNITS[kind]:
                probs.append(
                    Problem(
                        name,
                        row,
                        "AMTU",
                        f"{unit!r} is not a unit of a {kind} dose; use {' or '.join(DOSE_UNITS[kind])}",
                    )
                )
            for c in ("SS", "RATE"):
                if (
                    c in cols
                    and get(r, c) not in MISSING
                    and number(get(r, c), name, row, c, probs) != 0
                ):
                    probs.append(
                        Problem(
                            name,
                            row,
                            c,
                            f"{c} = {get(r, c)} is not supported for cell or lymphodepletion doses (bolus doses only); set it to 0",
                        )
                    )
            addl = (
                number(get(r, "ADDL"), name, row, "ADDL", probs, required=False)
                if "ADDL" in cols
                else math.nan
            )
            ii = (
                number(get(r, "II"), name, row, "II", probs, required=False)
                if "II" in cols
                else math.nan
            )
            times = [t]
            if not math.isnan(addl) and not (addl.is_integer() and 0 <= addl <= MAX_ADDL):
                probs.append(
                    Problem(
                        name,
                        row,
                        "ADDL",
                        f"ADDL = {get(r, 'ADDL')} must be a whole number of additional doses "
                        f"from 0 to {MAX_ADDL}",
                    )
                )
            elif not math.isnan(addl) and addl > 0:
                if math.isnan(ii) or ii <= 0:
                    probs.append(
                        Problem(
                            name, row, "II", f"ADDL = {addl:g} needs a positive dosing interval II"
                        )
                    )
                else:
                    times += [t + j * ii for j in range(1, int(addl) + 1)]
            for tt in times:
                doses.append((sid, tt * tf, kind, amt, unit, row))
            continue
        # observation
        blq_text = get(r, "BLQ") if "BLQ" in cols else ""
        blq = (
            number(blq_text, name, row, "BLQ", probs, required=False)
            if blq_text not in MISSING
            else 0.0
        )
        mdv_text = get(r, "MDV") if "MDV" in cols else ""
        mdv = (
            number(mdv_text, name, row, "MDV", probs, required=False)
            if mdv_text not in MISSING
            else 0.0
        )
        if mdv == 1 and blq != 1:
            continue
        code = get(r, obs_col)
        observable = spec.observable_of(code)
        if observable is None:
            probs.append(
                Problem(
                    name,
                    row,
                    obs_col,
                    f"observation type {code!r} is not mapped to a read-out; known codes: "
                    + ", ".join(f"{c}={o}" for c, o in spec.observable_codes.items())
                    + " (pass --obs-code CODE=READOUT)",
                )
            )
            continue
        lloq = (
            number(get(r, "LLOQ"), name, row, "LLOQ", probs, required=False)
            if "LLOQ" in cols
            else math.nan
        )
        if spec.log_dv and not math.isnan(lloq):
            lloq = _exp(lloq, name, row, "LLOQ", probs)
            if math.isnan(lloq):
                continue
        if blq == 1:
            if math.isnan(lloq):
                probs.append(
                    Problem(name, row, "LLOQ", "a below-LLOQ row (BLQ = 1) needs its LLOQ")
                )
                continue
            observations.append((sid, t * tf, observable, lloq, lloq, True, row))
            continue
        if blq not in (0, 1):
            probs.append(Problem(name, row, "BLQ", f"{blq_text!r} must be 0 or 1"))
            continue
        dv = number(get(r, "DV"), name, row, "DV", probs)
        if math.isnan(dv):
            continue
        if spec.log_dv:
            dv = _exp(dv, name, row, "DV", probs)
            if math.isnan(dv):
                continue
        if dv < 0:
            probs.append(Problem(name, row, "DV", f"{dv:g} is negative; {observable} cannot be"))
            continue
        if not math.isnan(lloq) and dv < lloq:
            # A value reported below its own LLOQ is censored, as the M3 method treats it.
            observations.append((sid, t * tf, observable, lloq, lloq, True, row))
            continue
        observations.append((sid, t * tf, observable, dv, lloq, False, row))
    for cmt, rows in unmapped.items():
        shown = ", ".join(map(str, rows[:5])) + (
            f" ... ({len(rows)} rows)" if len(rows) > 5 else ""
        )
        probs.append(
            Problem(
                name,
                rows[0],
                "CMT",
                f"dose compartment {cmt!r} (rows {shown}) is not mapped to a dose kind; "
                "mapped: "
                + ", ".join(f"{c}={k}" for c, k in spec.dose_cmt.items())
                + "; pass --dose-cmt CODE=KIND (KIND: "
                + ", ".join(DOSE_KINDS)
                + ")",
            )
        )
    raise_problems(probs)

    # shift each subject's times so that the first CAR-T infusion is day 0
    dose_frame = pd.DataFrame(doses, columns=[*DOSE_COLUMNS, "row"])
    obs_frame = pd.DataFrame(observations, columns=[*OBSERVATION_COLUMNS, "row"])
    for sid in order:
        d = dose_frame[(dose_frame["id"] == sid) & (dose_frame["kind"] == "car_t")]
        if d.empty:
            kinds = sorted(set(dose_frame.loc[dose_frame["id"] == sid, "kind"]))
            probs.append(
                Problem(
                    name,
                    None,
                    id_col,
                    f"subject {sid!r} has no CAR-T dose (EVID 1 in CMT {spec.cmt_of('car_t')}); "
                    f"its doses are: {', '.join(kinds) or 'none'}; times count from the CAR-T infusion, so "
                    "add it or map its compartment with --dose-cmt CODE=car_t",
                )
            )
            continue
        t0 = float(d["time"].min())
        if t0 != 0.0:
            dose_frame.loc[dose_frame["id"] == sid, "time"] -= t0
            obs_frame.loc[obs_frame["id"] == sid, "time"] -= t0
    raise_problems(probs)

    subjects = pd.DataFrame([{"id": sid, **covs[sid]} for sid in order])
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
        v = _code(r["FEMALE"])
        if v not in ("0", "1"):
            probs.append(Problem(file, row, "FEMALE", f"{r['FEMALE']!r} must be 0 or 1"))
        else:
            out["female"] = v == "1"
    elif "SEX" in cols and r.get("SEX", "") not in MISSING:
        v = _code(r["SEX"]).upper()
        if spec.sex_female_code is not None:
            out["female"] = v == _code(spec.sex_female_code).upper()
        elif v in ("F", "FEMALE"):
            out["female"] = True
        elif v in ("M", "MALE"):
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


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "."
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e15 else str(int(v))


def write_nonmem(ds: Dataset, path: str | Path, spec: NonmemSpec | None = None) -> Path:
    """Write a Dataset as a NONMEM-style CSV that :func:`read_nonmem` reads back unchanged.

    ``ID`` is 1..n in subject order and ``USUBJID`` keeps the subject id; doses come before
    observations at the same time (a sample at the infusion time is taken after it, as
    ``dataset_from_simulation`` samples). Missing values are written as ``.``. Clinical
    records other than the mirrored labs are not part of the format (use SDTM for them).
    """
    spec = spec or NonmemSpec()
    path = Path(path)
    tf = _TIME_FACTORS[spec.time_unit]
    rows: list[dict[str, object]] = []
    subj = ds.subjects.set_index("id")
    for n, sid in enumerate(ds.ids, start=1):
        s = subj.loc[sid]
        cov = {
            "WT": _fmt(s["weight_kg"]),
            "HT": _fmt(s["height_cm"]),
            "BSA": _fmt(s["bsa_m2"]),
            "AGE": _fmt(s["age_years"]),
            "FEMALE": "." if pd.isna(s["female"]) else str(int(bool(s["female"]))),
            "PRODUCT": s["product"] or ".",
            "LD": s["ld"] or ".",
            "INFDATE": s["infusion_date"] or ".",
        }
        events: list[tuple[float, int, dict[str, object]]] = []
        for d in ds.doses[ds.doses["id"] == sid].itertuples(index=False):
            events.append(
                (
                    d.time,
                    0,
                    {
                        "EVID": 1,
                        "AMT": _fmt(d.amount),
                        "AMTU": d.unit,
                        "CMT": spec.cmt_of(d.kind),
                        "DV": ".",
                        "MDV": 1,
                        "DVID": ".",
                        "BLQ": ".",
                        "LLOQ": ".",
                    },
                )
            )
        for o in ds.observations[ds.observations["id"] == sid].itertuples(index=False):
            value, lloq = o.value, o.lloq
            if spec.log_dv:
                value, lloq = (
                    math.log(value) if value > 0 else math.nan,
                    math.log(lloq) if lloq > 0 else math.nan,
                )
            code = spec.code_of(o.observable)
            events.append(
                (
                    o.time,
                    1,
                    {
                        "EVID": 0,
                        "AMT": ".",
                        "AMTU": ".",
                        "CMT": code if spec.obs_column == "CMT" else ".",
                        "DV": _fmt(value),
                        "MDV": 0,
                        "DVID": code if spec.obs_column != "CMT" else ".",
                        "BLQ": int(bool(o.censored)),
                        "LLOQ": _fmt(lloq),
                    },
                )
            )
        events.sort(key=lambda e: (e[0], e[1]))
        for t, _, e in events:
            rows.append({"ID": n, "USUBJID": sid, "TIME": _fmt(t / tf), **e, **cov})
    cols = [
        "ID",
        "USUBJID",
        "TIME",
        "EVID",
        "AMT",
        "AMTU",
        "CMT",
        "DV",
        "MDV",
        "DVID",
        "BLQ",
        "LLOQ",
        "WT",
        "HT",
        "BSA",
        "AGE",
        "FEMALE",
        "PRODUCT",
        "LD",
        "INFDATE",
    ]
    if spec.obs_column not in cols:
        cols.insert(cols.index("DVID"), spec.obs_column)
        for r in rows:
            r[spec.obs_column] = r.pop("DVID")
        cols.remove("DVID")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=cols)
    frame.to_csv(path, index=False)
    return path
