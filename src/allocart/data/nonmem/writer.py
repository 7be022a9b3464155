"""Writing a Dataset as a NONMEM-style CSV that :func:`~allocart.data.read_nonmem` reads back."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from allocart.data.dataset import Dataset
from allocart.data.nonmem.spec import TIME_FACTORS, NonmemSpec

__all__ = ["write_nonmem"]


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
    tf = TIME_FACTORS[spec.time_unit]
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
