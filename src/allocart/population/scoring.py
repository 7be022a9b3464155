"""Scoring virtual patients' records with the clinical library.

:func:`score_patient` runs the standards the cohort reports (SLEDAI-2K, SRI-4, LLDAS, DORIS
2021, SELENA flare index, ASTCT CRS and ICANS, CTCAE v5.0 cytopenias, MAGIC acute GvHD and the
configurable DLT rules) on one patient's :class:`~allocart.clinical.records.PatientRecords`,
through the same registry entries that ``allocart score`` uses for real patients, and reduces
the result rows to the cohort's per-patient endpoints.

The registry's options objects and contexts are built once per cohort (:class:`Scorers`), so
scoring costs only the standards' own work per patient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from allocart.clinical.records import PatientRecords
from allocart.clinical.registry import get_standard
from allocart.clinical.results import Context
from allocart.errors import ScoringError

__all__ = ["Scorers", "score_patient", "STANDARDS_USED"]

#: Registry names of the standards scored for every virtual patient.
STANDARDS_USED = (
    "sledai2k",
    "sri4",
    "lldas",
    "doris",
    "sfi",
    "crs",
    "icans",
    "ctcae",
    "gvhd",
    "dlt",
)


@dataclass(frozen=True)
class Scorers:
    """One registry context per standard (options validated once).

    Parameters
    ----------
    dlt_rules : mapping, optional
        Options of the DLT standard (:class:`allocart.clinical.dlt.DltOptions`); the DLT window
        end defaults to ``dlt_window_days``.
    """

    contexts: dict[str, tuple[Any, Context]]

    @classmethod
    def create(
        cls, dlt_window_days: int = 28, dlt_rules: Mapping[str, Any] | None = None
    ) -> Scorers:
        out: dict[str, tuple[Any, Context]] = {}
        for name in STANDARDS_USED:
            std = get_standard(name)
            opts: dict[str, Any] = {}
            if name == "dlt":
                opts = {"window_end_day": int(dlt_window_days), **dict(dlt_rules or {})}
            if name == "ctcae":
                opts = {"terms": ("neutrophil_count_decreased", "platelet_count_decreased")}
            try:
                options = std.options(**opts)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(str(x) for x in e["loc"])
                raise ScoringError(
                    f"dlt_rules: option `{where}` = {e.get('input')!r}: {e['msg']}; valid options: "
                    f"{', '.join(std.options.model_fields)}"
                ) from None
            out[name] = (
                std,
                Context(standard=std.name, variant=std.variant, source=std.source, options=options),
            )
        return cls(out)

    def run(self, name: str, patient: PatientRecords):
        std, ctx = self.contexts[name]
        return std.scorer(patient, ctx)


def _by_day(rows: Sequence[Any]) -> dict[int, Any]:
    return {int(math.floor(r.day)): r for r in rows if r.item == "visit" and r.day is not None}


def score_patient(
    patient: PatientRecords, scorers: Scorers, month_days: Mapping[int, int]
) -> dict[str, Any]:
    """Per-patient endpoints from the clinical library.

    Returns
    -------
    dict
        ``sledai2k_baseline``; for every month ``m``: ``sledai2k_m{m}``, ``sri4_m{m}``,
        ``lldas_m{m}``, ``doris_m{m}``, ``flare_m{m}`` (a SELENA flare index flare at any visit up
        to month ``m``); ``crs_grade``, ``crs_onset_day``, ``icans_grade``, ``icans_onset_day``,
        ``neutropenia_grade_max``, ``thrombocytopenia_grade_max``, ``infection_grade_max`` (CTCAE
        grade of the worst infection, 0 without one),
        ``gvhd_grade``, ``dlt``, ``dlt_day``, ``dlt_reason``; and ``sledai2k_by_day``.
    """
    out: dict[str, Any] = {}
    sledai = scorers.run("sledai2k", patient)
    base = [r for r in sledai if r.day is not None and r.day < 0]
    out["sledai2k_baseline"] = int(base[0].value) if base else -1
    s_day = _by_day(sledai)
    out["sledai2k_by_day"] = {d: int(r.value) for d, r in s_day.items()}
    sri = _by_day(scorers.run("sri4", patient))
    lldas = _by_day(scorers.run("lldas", patient))
    doris = _by_day(scorers.run("doris", patient))
    sfi = _by_day(scorers.run("sfi", patient))
    for m, day in month_days.items():
        out[f"sledai2k_m{m}"] = int(s_day[day].value) if day in s_day else -1
        out[f"sri4_m{m}"] = bool(sri[day].value) if day in sri and sri[day].evaluable else False
        out[f"lldas_m{m}"] = (
            bool(lldas[day].value) if day in lldas and lldas[day].evaluable else False
        )
        out[f"doris_m{m}"] = (
            bool(doris[day].value) if day in doris and doris[day].evaluable else False
        )
        out[f"flare_m{m}"] = any(
            r.value in ("mild/moderate", "severe") for d, r in sfi.items() if 0 < d <= day
        )
    crs = scorers.run("crs", patient)
    worst = [r for r in crs if r.item == "worst"][0]
    out["crs_grade"] = int(worst.value)
    onset = worst.components.get("onset_day")
    out["crs_onset_day"] = float(onset) if onset is not None and out["crs_grade"] > 0 else math.nan
    icans = scorers.run("icans", patient)
    out["icans_grade"] = int([r for r in icans if r.item == "worst"][0].value)
    graded = [r for r in icans if r.item == "assessment" and r.value and r.day is not None]
    out["icans_onset_day"] = float(math.floor(min(r.day for r in graded))) if graded else math.nan
    ctcae = scorers.run("ctcae", patient)
    for term, key in (
        ("neutrophil_count_decreased", "neutropenia_grade_max"),
        ("platelet_count_decreased", "thrombocytopenia_grade_max"),
    ):
        rows = [r for r in ctcae if r.item == f"{term} (worst post-baseline)"]
        out[key] = int(rows[0].value) if rows and rows[0].value is not None else 0
    inf = [r for r in ctcae if r.item == "infection (worst post-baseline)"]
    out["infection_grade_max"] = int(inf[0].value) if inf and inf[0].value is not None else 0
    out["gvhd_grade"] = int([r for r in scorers.run("gvhd", patient) if r.item == "worst"][0].value)
    dlt = scorers.run("dlt", patient)[0]
    out["dlt"] = bool(dlt.value)
    hits = dlt.components.get("dlts", [])
    out["dlt_day"] = float(min(h["day"] for h in hits)) if hits else math.nan
    out["dlt_reason"] = "; ".join(sorted({h["rule"] for h in hits})) if hits else ""
    return out
