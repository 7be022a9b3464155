"""Reading an SDTM study folder: every domain family in turn, the subjects' records, and the
CAR-T dataset when nothing stops it (see :mod:`allocart.data.sdtm` for the mapping)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from allocart.data.dataset import Dataset
from allocart.data.problems import DataValidationError, Problem, one_line
from allocart.data.records import make_patient_records
from allocart.data.schema import DOSE_COLUMNS, OBSERVATION_COLUMNS, SUBJECT_COLUMNS
from allocart.data.sdtm.cells import infer_ld
from allocart.data.sdtm.events import read_ae, read_qs
from allocart.data.sdtm.exposure import read_ex
from allocart.data.sdtm.findings import read_kinetics, read_lb, read_vs
from allocart.data.sdtm.options import SdtmOptions, SdtmStudy
from allocart.data.sdtm.state import StudyReader
from allocart.data.sdtm.subjects import read_dm
from allocart.data.times import format_iso
from allocart.errors import DataError
from allocart.model.products import list_products

__all__ = ["load_sdtm", "read_sdtm"]


def summarise(reader: StudyReader) -> None:
    """Notes on absent domains and partial dates; problems of rows of unknown subjects."""
    wanted = {
        "LB": "labs (B cells, anti-dsDNA, complement, IgG, blood counts)",
        "PC": "CAR-T kinetics (PC or CP)",
        "VS": "vital signs and body weight",
        "AE": "adverse events",
        "QS": "SLEDAI-2K and PGA",
    }
    absent = [
        f"{d} ({what})"
        for d, what in wanted.items()
        if d not in reader.doms and not (d == "PC" and "CP" in reader.doms)
    ]
    if absent:
        reader.notes.append(f"{reader.folder}: domains absent: {'; '.join(absent)}")
    for key, rows in reader.partial.items():
        shown = ", ".join(map(str, rows[:8])) + (" ..." if len(rows) > 8 else "")
        reader.notes.append(
            f"{key}: {len(rows)} row(s) with a partial or missing date are left out (rows {shown}); "
            "complete the dates to use them"
        )
    for file, rows in reader.unknown_subject.items():
        shown = ", ".join(map(str, rows[:8])) + (" ..." if len(rows) > 8 else "")
        reader.probs.append(
            Problem(
                file,
                rows[0],
                "USUBJID",
                f"{len(rows)} row(s) belong to subjects not in DM (rows {shown})",
            )
        )


def make_records(reader: StudyReader) -> None:
    """Subjects' covariates and clinical records."""
    for sid in reader.order:
        b = reader.baseline.get(sid, {})
        reader.subjects[sid]["weight_kg"] = b.get("WEIGHT", (None, math.nan))[1]
        reader.subjects[sid]["height_cm"] = b.get("HEIGHT", (None, math.nan))[1]
        reader.subjects[sid]["bsa_m2"] = b.get("BSA", (None, math.nan))[1]
    for sid in reader.order:
        try:
            reader.records[sid] = make_patient_records(
                sid,
                reader.reference.get(sid),
                reader.subjects[sid]["age_years"],
                reader.subjects[sid]["weight_kg"],
                **reader.rec[sid],
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "records"
            reader.probs.append(
                Problem(
                    str(reader.folder),
                    None,
                    "USUBJID",
                    f"subject {sid!r}: `{field}`: {err['msg'].removeprefix('Value error, ')}",
                )
            )

    known_products = {str(getattr(p, "name", p)) for p in list_products()}
    unknown = sorted(
        {p for s, p in reader.product.items() if p is not None and p not in known_products}
    )
    if unknown and reader.opts.product is None:
        reader.notes.append(
            f"CAR-T product(s) {', '.join(map(repr, unknown))} are not model products "
            f"({', '.join(sorted(known_products))}); a fit needs one: pass --product NAME"
        )


def build(reader: StudyReader) -> Dataset | None:
    """The dataset, when nothing stops it."""
    dataset = None
    dose_rows = []
    for sid, when, kind, amount, unit, row, _ in reader.doses:
        if sid not in reader.reference:
            continue
        if unit == "mg":  # lymphodepletion in mg: per m2 of body surface
            bsa = reader.subjects.get(sid, {}).get("bsa_m2", math.nan)
            if math.isnan(bsa):
                reader.probs.append(
                    Problem(
                        reader.doms["EX"].file,
                        row,
                        "EXDOSU",
                        f"{kind} dose in mg but subject {sid!r} has no BSA "
                        "(VS BSA); give the dose in mg/m2",
                    )
                )
                continue
            amount, unit = amount / bsa, "mg/m2"
        dose_rows.append((sid, reader.obs_time(sid, when), kind, amount, unit))
    if not reader.probs:
        ids = [s for s in reader.order if s in reader.reference]
        subj = pd.DataFrame(
            [
                {
                    **{k: v for k, v in reader.subjects[s].items() if k != "arm"},
                    "product": reader.product.get(s),
                    "ld": reader.ld_name.get(s)
                    or infer_ld({k for (i, _, k, *_r) in reader.doses if i == s}),
                    "infusion_date": format_iso(reader.reference[s]),
                }
                for s in ids
            ],
            columns=list(SUBJECT_COLUMNS),
        )
        dataset = Dataset(
            subjects=subj,
            doses=pd.DataFrame(dose_rows, columns=list(DOSE_COLUMNS)),
            observations=pd.DataFrame(
                reader.observations,
                columns=list(OBSERVATION_COLUMNS),
            ),
            records={s: reader.records[s] for s in ids if s in reader.records},
            source=str(reader.folder),
        )
        reader.probs += dataset.problems()
        if reader.probs:
            dataset = None
    return dataset


def load_sdtm(folder: str | Path, options: SdtmOptions | None = None, **kwargs: Any) -> SdtmStudy:
    """Read an SDTM study folder: records of every subject, and the dataset if it can be built.

    Parameters
    ----------
    folder : path
        Folder with ``dm.xpt``/``dm.csv``, ``ex``, ``lb``, ``pc`` or ``cp``, ``ae``, ``vs``, ``qs``.
    options : SdtmOptions, optional
        Or its fields as keyword arguments (``car_t_treatment="..."``).

    Returns
    -------
    SdtmStudy

    Raises
    ------
    DataError
        Only when the folder does not exist or a table cannot be read at all.
    """
    opts = options or SdtmOptions(**kwargs)
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no such folder; give the folder holding the SDTM tables (dm.xpt, ex.xpt, ...)"
        )
    reader = StudyReader(folder, opts)
    for step in (read_dm, read_ex, read_lb, read_kinetics, read_vs, read_ae, read_qs):
        step(reader)
    summarise(reader)
    make_records(reader)
    dataset = build(reader)
    return SdtmStudy(
        folder=str(folder),
        files={k: str(p) for k, p in reader.paths.items()},
        rows={k: len(d.frame) for k, d in reader.doms.items()},
        records=reader.records,
        dataset=dataset,
        problems=tuple(reader.probs),
        notes=tuple(one_line(n) for n in reader.notes),
    )


def read_sdtm(folder: str | Path, options: SdtmOptions | None = None, **kwargs: Any) -> Dataset:
    """Read an SDTM study folder into a validated CAR-T :class:`Dataset`.

    Raises
    ------
    DataValidationError
        Listing every problem (file, row, column), e.g. a study without a CAR-T
        administration in EX.
    """
    study = load_sdtm(folder, options, **kwargs)
    if study.problems:
        raise DataValidationError(study.problems)
    assert study.dataset is not None  # no problems means a dataset was built
    return study.dataset
