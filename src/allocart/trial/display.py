"""HTML display of a trial run in Jupyter (``RunResult._repr_html_``).

The run folder and its files, the arms (product, lymphodepletion, dose levels) and the
probability that the design selects each dose level (or none), with 95% intervals over the
replicate trials, read from the run's operating-characteristics table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from allocart.model.display import html_table

__all__ = ["run_html", "selection_rows", "DOSE_METRICS", "MIN_RATE_N", "dose_columns"]

#: How a per-dose operating characteristic is shown, on the command line and in the report:
#: column header, scale (100: a rate shown in percent) and decimals, by metric.
DOSE_METRICS: dict[str, tuple[str, int, int]] = {
    "selected_pct": ("selected %", 1, 1),
    "patients_mean": ("patients", 1, 2),
    "dlts_mean": ("DLTs", 1, 2),
    "dlt_rate": ("DLT %", 100, 1),
    "crs_rate": ("CRS %", 100, 1),
    "crs_grade3_rate": ("CRS ≥3 %", 100, 1),
    "icans_rate": ("ICANS %", 100, 1),
    "icans_grade3_rate": ("ICANS ≥3 %", 100, 1),
    "sri4_m3_rate": ("SRI-4 m3 %", 100, 1),
    "sri4_m6_rate": ("SRI-4 m6 %", 100, 1),
    "doris_m3_rate": ("DORIS m3 %", 100, 1),
    "doris_m6_rate": ("DORIS m6 %", 100, 1),
}

#: A rate over fewer patients than this is not shown as a number alone: its interval is too
#: wide to read a value from (e.g. one DLT in 3 patients of a dose reached once in 2000 trials).
MIN_RATE_N = 10


def dose_columns(*metrics: str) -> tuple[tuple[str, str, int, int], ...]:
    """``(metric, header, scale, decimals)`` of each of ``metrics`` (:data:`DOSE_METRICS`)."""
    return tuple((m, *DOSE_METRICS[m]) for m in metrics)


def _pct(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{x:.1f}%" if math.isfinite(x) else "–"


def selection_rows(oc: pd.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """Rows (arm, dose level, dose, selected %, 95% interval) of the selection probabilities.

    One row per arm and dose level (``selected_pct``), then the arm's ``no_selection_pct``
    as dose level "none", in the table's order of arms.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    if oc is None or oc.empty or "metric" not in oc.columns:
        return rows
    for arm in pd.unique(oc["arm"]):
        sub = oc[oc["arm"] == arm]
        label = str(sub["arm_label"].iloc[0]) if "arm_label" in sub.columns else str(arm)
        sel = sub[sub["metric"] == "selected_pct"].sort_values("dose_level")
        for r in sel.itertuples(index=False):
            level = "–" if pd.isna(r.dose_level) else f"{int(r.dose_level)}"
            rows.append(
                (label, level, str(r.dose), _pct(r.value), f"{_pct(r.ci_low)}–{_pct(r.ci_high)}")
            )
        for r in sub[sub["metric"] == "no_selection_pct"].itertuples(index=False):
            rows.append((label, "none", "–", _pct(r.value), f"{_pct(r.ci_low)}–{_pct(r.ci_high)}"))
    return rows


def run_html(folder: Any, manifest: Mapping[str, Any], oc: pd.DataFrame, resumed: bool) -> str:
    """The HTML of a trial run: folder and files, arms, selection probabilities.

    Parameters
    ----------
    folder : RunFolder
        The run folder (its ``root``, ``report_path`` and ``results_path`` are shown).
    manifest : mapping
        Contents of ``manifest.json``.
    oc : pandas.DataFrame
        The run's operating-characteristics table.
    resumed : bool
        Whether earlier work was reused.
    """
    scen = manifest.get("scenario") or {}
    title = scen.get("title") or manifest.get("scenario_name") or "virtual trial"
    info = [
        ("Run folder", str(folder.root)),
        ("Scenario", str(manifest.get("scenario_name", "–"))),
        ("Replicate trials", str(manifest.get("replicates", "–"))),
        ("Seed", str(manifest.get("seed", "–"))),
        ("Status", str(manifest.get("status", "–")) + (" (resumed)" if resumed else "")),
        ("Results", str(folder.results_path)),
        ("Report", str(folder.report_path)),
    ]
    arms = [
        (
            str(a.get("label", a.get("index", ""))),
            str(a.get("product", "")),
            str(a.get("lymphodepletion", "")),
            ", ".join(str(d) for d in a.get("dose_levels", [])),
        )
        for a in manifest.get("arms") or []
    ]
    return (
        '<div class="allocart-run">'
        f"<strong>Virtual trial run</strong>: {html.escape(str(title))}"
        f"{html_table(info)}"
        f"<div><em>Arms</em>{html_table(arms, ('Arm', 'Product', 'Lymphodepletion', 'Dose levels'))}</div>"
        "<div><em>Selection probabilities over the replicate trials</em>"
        f"{html_table(selection_rows(oc), ('Arm', 'Dose level', 'Dose', 'Selected', '95% interval'))}"
        "</div></div>"
    )
