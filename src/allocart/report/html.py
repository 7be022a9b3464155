"""The self-contained HTML report of a virtual trial run.

One file, no external resources and no scripts: figures are PNGs embedded as base64 ``data:``
URIs, tables are plain HTML, styles are inline. It opens the same offline, in any browser, and
can be mailed or archived with the run folder.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from allocart.report import figures as F
from allocart.trial.pools import arms_of
from allocart.trial.protocol import Protocol
from allocart.trial.store import atomic_write_text

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.meta{font-size:.85em;color:#444}code{font-size:.9em}
"""

#: Per-dose metrics shown in the main table: (metric, header, scale, decimals).
_DOSE_COLUMNS = (
    ("selected_pct", "selected %", 1, 1),
    ("patients_mean", "patients", 1, 2),
    ("dlts_mean", "DLTs", 1, 2),
    ("dlt_rate", "DLT %", 100, 1),
    ("crs_rate", "CRS %", 100, 1),
    ("crs_grade3_rate", "CRS ≥3 %", 100, 1),
    ("icans_rate", "ICANS %", 100, 1),
    ("icans_grade3_rate", "ICANS ≥3 %", 100, 1),
)

_TRIAL_COLUMNS = (
    ("no_selection_pct", "no dose selected %", 1, 1),
    ("sample_size_mean", "mean sample size", 1, 2),
    ("dlts_mean", "mean DLTs", 1, 2),
    ("early_stop_pct", "stopped early %", 1, 1),
    ("duration_months_mean", "duration to last decision (months)", 1, 1),
    ("duration_followup_months_mean", "duration to last endpoint (months)", 1, 1),
)


def _fmt(v: Any, scale: float = 1.0, dec: int = 2) -> str:
    try:
        x = float(v) * scale
    except (TypeError, ValueError):
        return html.escape(str(v))
    return "–" if not math.isfinite(x) else f"{x:.{dec}f}"


def _img(png: bytes, alt: str, caption: str, fig_id: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{fig_id}"><img class="figure" alt="{html.escape(alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _dose_table(oc: pd.DataFrame, arm: int, extra: list[tuple[str, str, float, int]]) -> str:
    d = oc[(oc["arm"] == arm) & oc["dose_level"].notna()]
    cols = [*_DOSE_COLUMNS, *extra]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in cols)
    rows = []
    for (lv, dose), g in d.groupby(["dose_level", "dose"], sort=True):
        val = g.set_index("metric")["value"]
        cells = "".join(f"<td>{_fmt(val.get(m, float('nan')), s, k)}</td>" for m, _, s, k in cols)
        rows.append(
            f"<tr><td>{int(lv)}</td><td class='l'>{html.escape(str(dose))}</td>{cells}</tr>"
        )
    return f"<table><tr><th>level</th><th class='l'>dose</th>{head}</tr>{''.join(rows)}</table>"


def _trial_table(oc: pd.DataFrame, labels: dict[int, str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in _TRIAL_COLUMNS)
    rows = []
    for a, label in labels.items():
        d = oc[(oc["arm"] == a) & oc["dose_level"].isna()].set_index("metric")["value"]
        cells = "".join(
            f"<td>{_fmt(d.get(m, float('nan')), s, k)}</td>" for m, _, s, k in _TRIAL_COLUMNS
        )
        rows.append(f"<tr><td class='l'>{html.escape(label)}</td>{cells}</tr>")
    return f"<table><tr><th class='l'>arm</th>{head}</tr>{''.join(rows)}</table>"


def _model_table(ep: pd.DataFrame, labels: dict[int, str], endpoints: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in endpoints)
    rows = []
    for a, label in labels.items():
        e = ep[ep["arm"] == a]
        for (lv, dose), g in e.groupby(["dose_level", "dose"], sort=True):
            val = g.set_index("endpoint")["value"]
            cells = "".join(
                f"<td>{_fmt(val.get(k, float('nan')), 100 if not k.startswith('sledai') else 1, 1)}</td>"
                for k, _ in endpoints
            )
            fails = int(val.get("solver_failures", 0))
            rows.append(
                f"<tr><td class='l'>{html.escape(label)}</td><td>{int(lv)}</td>"
                f"<td class='l'>{html.escape(str(dose))}</td>{cells}<td>{fails}</td></tr>"
            )
    return (
        f"<table><tr><th class='l'>arm</th><th>level</th><th class='l'>dose</th>{head}"
        f"<th>solver failures</th></tr>{''.join(rows)}</table>"
    )


def render_report(protocol: Protocol, tables: Any, manifest: dict[str, Any] | None = None) -> str:
    """The report as an HTML string."""
    manifest = manifest or {}
    arms = arms_of(protocol)
    labels = {a.index: a.label for a in arms}
    eff = protocol.response_column or next(
        (c for ep in protocol.endpoints if ep.name == "sri4" for c in ep.columns()), "dlt"
    )
    months = sorted({m for ep in protocol.endpoints for m in ep.months})
    extra = []
    for ep in protocol.endpoints:
        for m in ep.months:
            if ep.name == "sledai2k":
                extra.append((f"sledai2k_m{m}_mean", f"SLEDAI-2K m{m}", 1, 1))
            elif ep.name in ("sri4", "doris"):
                extra.append((f"{ep.name}_m{m}_rate", f"{ep.name.upper()} m{m} %", 100, 1))
    model_eps = [
        ("dlt", "DLT %"),
        ("crs", "CRS %"),
        ("crs_grade3", "CRS ≥3 %"),
        ("icans", "ICANS %"),
    ]
    model_eps += [
        (f"{n}_m{m}", f"{n.upper()} m{m} %")
        for n in ("sri4", "doris")
        for m in months
        if any(e.name == n for e in protocol.endpoints)
    ]
    panels = [("dlt", "DLT"), ("crs", "CRS, any grade"), ("icans", "ICANS, any grade")]
    panels += [
        (f"{n}_m{m}", f"{n.upper()} at month {m}")
        for n in ("sri4", "doris")
        for m in months
        if any(e.name == n for e in protocol.endpoints)
    ]
    figs = [
        (
            "operating_characteristics",
            F.operating_characteristics(tables, eff),
            "Operating characteristics",
            f"Percent of {protocol.simulation.replicates} simulated trials selecting each dose "
            f"level, with the model's DLT and {eff} rates over the virtual-patient pool; mean patients and DLTs per level.",
        ),
        (
            "escalation_paths",
            F.escalation_paths(tables),
            "Dose-escalation paths",
            "Left: dose level of each cohort in the first simulated trials (jittered). Right: share of trials treating each "
            "cohort at each level.",
        ),
        (
            "car_t_expansion",
            F.car_t_expansion(tables),
            "CAR-T expansion",
            "CAR-T cells in blood of sampled virtual patients per dose level (thin) and their median (thick).",
        ),
        (
            "b_cells",
            F.b_cells(tables),
            "B-cell depletion and return",
            "CD19+ B cells in blood of sampled virtual patients per dose level.",
        ),
        (
            "serology_and_activity",
            F.serology_and_activity(tables),
            "anti-dsDNA and SLEDAI-2K over time",
            "anti-dsDNA (left) and SLEDAI-2K at the study visits (right) of sampled virtual patients.",
        ),
        (
            "swimmer",
            F.swimmer(tables, 0, protocol.followup_months),
            "Swimmer plot",
            "Patients of the first simulated trial: time on study coloured by dose level, with DLT, CRS (grade) and ICANS.",
        ),
        (
            "product_comparison",
            F.product_comparison(tables, labels, panels),
            "Product and regimen comparison",
            "The model's rates per dose level for every arm, on the same virtual patients, and the dose each arm's trials "
            "select under the same design.",
        ),
    ]
    fig_html = {
        fid: f"<h2>{html.escape(title)}</h2>" + _img(png, title, cap, f"fig-{fid}")
        for fid, png, title, cap in figs
    }
    d = protocol.design
    meta = (
        f"<p class='meta'>Scenario <code>{html.escape(protocol.name)}</code> (hash "
        f"<code>{html.escape(protocol.hash()[:12])}</code>), seed {protocol.simulation.seed}, "
        f"{protocol.simulation.replicates} replicate trials, {protocol.simulation.pool_size} virtual patients per arm and "
        f"dose level. Product <code>{html.escape(protocol.product)}</code>, lymphodepletion "
        f"<code>{html.escape(protocol.lymphodepletion)}</code>, doses {', '.join(map(html.escape, protocol.dose_levels))}; "
        f"design {html.escape(d.name.upper())} (DLT target {d.target:g}"
        + (
            f", lowest acceptable {html.escape(str(d.efficacy_endpoint))} rate {d.efficacy_target:g}"
            if d.efficacy_target
            else ""
        )
        + f"), cohorts of {protocol.cohort_size}, at most {protocol.max_sample_size} patients, "
        f"{protocol.dlt.window_days}-day DLT window, accrual {protocol.accrual.per_month:g}/month.</p>"
    )
    versions = manifest.get("versions", {})
    ver = ", ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in versions.items())
    body = [
        f"<h1>{html.escape(protocol.title or protocol.name)}</h1>",
        meta,
        "<h2>Per dose level</h2>",
        "<p>Selection, exposure and safety in the simulated trials; rates are among the patients the trials treated at the "
        "level (a dose rarely reached has few patients and a wide uncertainty).</p>",
        _dose_table(tables.operating_characteristics, 0, extra),
        "<h2>Per trial</h2>",
        _trial_table(tables.operating_characteristics, labels),
        fig_html["operating_characteristics"],
        fig_html["escalation_paths"],
        fig_html["car_t_expansion"],
        fig_html["b_cells"],
        fig_html["serology_and_activity"],
        fig_html["swimmer"],
        fig_html["product_comparison"],
        "<h2>What the model says per arm and dose level</h2>",
        "<p>Rates over every eligible virtual patient of the pool (the relations the trials try to learn).</p>",
        _model_table(tables.endpoints, labels, model_eps),
        f"<p class='meta'>{ver}</p>",
    ]
    title = html.escape(protocol.title or protocol.name)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='icon' href='data:,'><style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )


def write_report(
    protocol: Protocol, tables: Any, path: str | Path, *, manifest: dict[str, Any] | None = None
) -> Path:
    """Render the report and write it atomically to ``path``."""
    return atomic_write_text(Path(path), render_report(protocol, tables, manifest))
