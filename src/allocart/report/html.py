"""The self-contained HTML report of a virtual trial run.

One file, no external resources and no scripts: figures are PNGs embedded as base64 ``data:``
URIs, tables are plain HTML, styles are inline. It opens the same offline, in any browser, and
can be mailed or archived with the run folder.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from allocart.design import dose_transition_pathways
from allocart.files import atomic_write_text
from allocart.report import figures as F
from allocart.report import kit
from allocart.trial.display import MIN_RATE_N, dose_columns
from allocart.trial.intention import itt_table
from allocart.trial.pools import arms_of, yes_no_columns
from allocart.trial.protocol import ENDPOINTS, Protocol

__all__ = ["render_report", "write_report", "endpoint_label"]

#: Per-dose metrics shown in the main table: (metric, header, scale, decimals).
_DOSE_COLUMNS = dose_columns(
    "selected_pct",
    "patients_mean",
    "dlts_mean",
    "dlt_rate",
    "crs_rate",
    "crs_grade3_rate",
    "icans_rate",
    "icans_grade3_rate",
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


def _cell_text(row: Any, scale: float = 1.0, dec: int = 1, *, ci: bool = True) -> str:
    """The value of a table row and, below it, its 95% interval (when the row has one).

    A rate over fewer than :data:`MIN_RATE_N` patients is greyed and says its n.
    """
    if row is None:
        return "–"
    text = _fmt(row.get("value", float("nan")), scale, dec)
    lo, hi = row.get("ci_low", float("nan")), row.get("ci_high", float("nan"))
    if ci and text != "–" and _finite(lo) and _finite(hi):
        text += f"<span class='ci'>{_fmt(lo, scale, dec)}–{_fmt(hi, scale, dec)}</span>"
    n = row.get("n", float("nan"))
    if ci and text != "–" and _finite(n) and float(n) < MIN_RATE_N:
        text = f"<span class='few' title='only {int(n)} patients'>{text}<span class='ci'>n={int(n)}</span></span>"
    return text


def _cell(row: Any, scale: float = 1.0, dec: int = 1, *, ci: bool = True) -> str:
    """A table cell of :func:`_cell_text`."""
    return f"<td>{_cell_text(row, scale, dec, ci=ci)}</td>"


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _rows_by(frame: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    """Rows of a long table (one group) by their metric or endpoint name."""
    return {str(r[key]): r for r in frame.to_dict("records")}


def endpoint_label(column: str) -> str:
    """Words for an endpoint column such as ``doris_m6``: "DORIS remission at month 6"."""
    name, _, month = column.rpartition("_m")
    words = ENDPOINTS.get(name, name).split(" (")[0]
    return f"{words} at month {month}" if month.isdigit() and name else column


def _design_endpoint(protocol: Protocol) -> str:
    """What the design doses by, and the supportive care, in a sentence each."""
    d = protocol.design
    col = protocol.response_column
    if col:
        lag = round(int(col.rpartition("_m")[2]) * 365.25 / 12)
        eff = (
            f"Efficacy endpoint of the design: <b>{html.escape(endpoint_label(col))}</b> "
            f"(<code>{html.escape(col)}</code>), lowest acceptable rate {d.efficacy_target:g}; the "
            f"decision on each cohort waits for its last patient's assessment on day {lag}."
        )
    else:
        eff = (
            f"The design ({html.escape(d.name.upper())}) doses on DLT alone and uses no "
            "efficacy endpoint; response rates are reported, not used for decisions."
        )
    g = protocol.supportive_care.gcsf_from_day
    care = (
        f"Supportive care: G-CSF whenever ANC &lt; 0.5 × 10⁹/L from day {g} after the infusion, in every arm."
        if g is not None
        else "Supportive care: no G-CSF."
    )
    return f"<p class='meta' id='efficacy-endpoint'>{eff} {care}</p>"


def _img(png: bytes, alt: str, caption: str, fig_id: str) -> str:
    return kit.figure(png, alt, caption, fig_id)


def _dose_table(oc: pd.DataFrame, arm: int, extra: Sequence[tuple[str, str, float, int]]) -> str:
    d = oc[(oc["arm"] == arm) & oc["dose_level"].notna()]
    cols = [*_DOSE_COLUMNS, *extra]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in cols)
    rows = []
    for (lv, dose), g in d.groupby(["dose_level", "dose"], sort=True):
        by = _rows_by(g, "metric")
        treated = by.get("dlt_rate", {}).get("n", float("nan"))
        cells = "".join(
            _cell(by.get(m), s, k, ci=m.endswith(("_rate", "_pct"))) for m, _, s, k in cols
        )
        rows.append(
            f"<tr><td>{int(lv)}</td><td class='l'>{html.escape(str(dose))}</td>"
            f"<td>{_fmt(treated, 1, 0)}</td>{cells}</tr>"
        )
    return (
        f"<table><tr><th>level</th><th class='l'>dose</th><th>treated (n)</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )


def _trial_table(oc: pd.DataFrame, labels: dict[int, str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in _TRIAL_COLUMNS)
    rows = []
    for a, label in labels.items():
        by = _rows_by(oc[(oc["arm"] == a) & oc["dose_level"].isna()], "metric")
        cells = "".join(
            _cell(by.get(m), s, k, ci=m.endswith("_pct")) for m, _, s, k in _TRIAL_COLUMNS
        )
        rows.append(f"<tr><td class='l'>{html.escape(label)}</td>{cells}</tr>")
    return f"<table><tr><th class='l'>arm</th>{head}</tr>{''.join(rows)}</table>"


def _model_table(ep: pd.DataFrame, labels: dict[int, str], endpoints: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in endpoints)
    rows = []
    for a, label in labels.items():
        e = ep[ep["arm"] == a]
        for (lv, dose), g in e.groupby(["dose_level", "dose"], sort=True):
            by = _rows_by(g, "endpoint")
            cells = "".join(
                _cell(by.get(k), 100 if not k.startswith("sledai") else 1, 1) for k, _ in endpoints
            )
            fails = int(by.get("solver_failures", {}).get("value", 0))
            n = by.get("dlt", {}).get("n", float("nan"))
            rows.append(
                f"<tr><td class='l'>{html.escape(label)}</td><td>{int(lv)}</td>"
                f"<td class='l'>{html.escape(str(dose))}</td><td>{_fmt(n, 1, 0)}</td>{cells}"
                f"<td>{fails}</td></tr>"
            )
    return (
        f"<table><tr><th class='l'>arm</th><th>level</th><th class='l'>dose</th><th>patients (n)</th>"
        f"{head}<th>solver failures</th></tr>{''.join(rows)}</table>"
    )


#: Columns of the safety table: (endpoint, header, scale, decimals), in groups (group, columns).
_SAFETY_GROUPS: tuple[tuple[str, tuple[tuple[str, str, float, int], ...]], ...] = (
    ("", (("dlt", "DLT %", 100, 1),)),
    (
        "DLT by reason, %",
        tuple((f"dlt_{r}", h, 100, 1) for r, h in F.DLT_REASON_LABELS.items()),
    ),
    (
        "CRS, %",
        (("crs", "any", 100, 1), ("crs_grade2", "≥2", 100, 1), ("crs_grade3", "≥3", 100, 1)),
    ),
    ("ICANS, %", (("icans", "any", 100, 1), ("icans_grade3", "≥3", 100, 1))),
    ("", (("serious_infection", "serious infection (≥3) %", 100, 1),)),
    ("", (("anc_below_0p5_days_median", "median days ANC < 0.5", 1, 0),)),
)


def _safety_table(ep: pd.DataFrame, arm: int) -> str:
    """Per-dose toxicity of one arm over the pool: n, DLT, DLT by reason, CRS, ICANS, infection, ANC."""
    e = ep[ep["arm"] == arm]
    top = [
        "<th rowspan='2'>level</th><th rowspan='2' class='l'>dose</th>",
        "<th rowspan='2'>patients in pool (n)</th>",
    ]
    sub: list[str] = []
    for group, cols in _SAFETY_GROUPS:
        if group:
            top.append(f"<th colspan='{len(cols)}'>{html.escape(group)}</th>")
            sub.extend(f"<th>{html.escape(h)}</th>" for _, h, _, _ in cols)
        else:
            top.extend(f"<th rowspan='2'>{html.escape(h)}</th>" for _, h, _, _ in cols)
    rows = []
    for (lv, dose), g in e.groupby(["dose_level", "dose"], sort=True):
        by = _rows_by(g, "endpoint")
        dlt = by.get("dlt") or {}
        n = dlt.get("n", float("nan"))
        cells = []
        for _, cols in _SAFETY_GROUPS:
            for k, _, scale, dec in cols:
                if k == "dlt" and _finite(n) and _finite(dlt.get("value")):
                    events = round(float(dlt["value"]) * float(n))
                    text = _cell_text(dlt, scale, dec)
                    cells.append(f"<td>{text}<span class='ci'>{events}/{int(n)}</span></td>")
                else:
                    cells.append(_cell(by.get(k), scale, dec))
        rows.append(
            f"<tr><td>{int(lv)}</td><td class='l'>{html.escape(str(dose))}</td>"
            f"<td>{_fmt(n, 1, 0)}</td>{''.join(cells)}</tr>"
        )
    return (
        f"<table class='safety' id='safety-arm{arm}'><tr>{''.join(top)}</tr><tr>{''.join(sub)}</tr>"
        f"{''.join(rows)}</table>"
    )


def _safety_section(protocol: Protocol, tables: Any, labels: dict[int, str]) -> str:
    """The "Safety per dose" section: for each arm, its toxicity table and DLT-by-reason figure."""
    reps = protocol.simulation.replicates
    parts = [
        "<h2 id='safety'>Safety per dose</h2>",
        "<p>What the model says about each dose level of each arm, over every eligible virtual patient "
        "of its pool: rates in percent with their 95% Wilson interval below, the median days with ANC "
        "&lt; 0.5 × 10⁹/L with a distribution-free 95% interval. The DLT cell also gives patients with "
        "a DLT / patients in the pool. A patient whose DLT has two reasons counts under both, so the "
        "reasons may add up to more than the DLT rate; IEC-HS, death and other rules are grouped under "
        "“other”. Serious infection: an infection of CTCAE grade ≥ 3 (– where the simulation does not "
        f"report it). Rates among the patients the {reps} simulated trials treated, with their n and "
        "intervals, are in <code>operating_characteristics</code> (<code>dlt_&lt;reason&gt;_rate</code>, "
        "…).</p>",
    ]
    for a, label in labels.items():
        png = F.dlt_by_reason(tables, a, label)
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(_safety_table(tables.endpoints, a))
        parts.append(
            _img(
                png,
                f"DLT by reason, {label}",
                "The model's DLT rate per dose level stacked by reason (a patient with two reasons "
                "counts in both), and the rate of any DLT with its 95% interval (black).",
                f"fig-dlt_by_reason-arm{a}",
            )
        )
    return "".join(parts)


def _itt_outcomes(protocol: Protocol) -> list[str]:
    """Yes/no endpoints of the intention-to-treat table: the design's, then DORIS and SRI-4 last."""
    cols = yes_no_columns(protocol)
    out = [protocol.response_column] if protocol.response_column in cols else []
    for name in ("doris", "sri4"):
        mine = [c for c in cols if c.rpartition("_m")[0] == name]
        if mine:
            last = max(mine, key=lambda c: int(c.rpartition("_m")[2]))
            if last not in out:
                out.append(last)
    return out[:2]


def _chosen_levels(oc: pd.DataFrame, itt: pd.DataFrame) -> pd.Series:
    """Whether each row of ``itt`` is its arm's dose level selected most often by the trials."""
    sel = oc[(oc["metric"] == "selected_pct") & oc["dose_level"].notna()]
    best = {
        int(a): int(
            g.sort_values(["value", "dose_level"], ascending=[False, True]).iloc[0]["dose_level"]
        )
        for a, g in sel.groupby("arm")
    }
    return pd.Series(
        [
            best.get(int(a), 1) == int(lv)
            for a, lv in zip(itt["arm"], itt["dose_level"], strict=True)
        ],
        index=itt.index,
    )


def _itt_cell(r: Any, key: str) -> str:
    row = {"value": r[key], "ci_low": r[f"{key}_ci_low"], "ci_high": r[f"{key}_ci_high"]}
    if f"{key}_n" in r:
        row["n"] = r[f"{key}_n"]
    return _cell(row, 100, 1)


def _itt_section(protocol: Protocol, tables: Any, labels: dict[int, str]) -> str:
    """Time to treatment and intention to treat: the table per arm and dose level, and its figure."""
    outcomes = _itt_outcomes(protocol)
    itt = itt_table(tables.endpoints, tables.trials, labels, outcomes)
    head = "<h2 id='intention-to-treat'>Time to treatment and intention to treat</h2>"
    if not len(itt):  # a run folder written before pools carried time to treatment
        return head + "<p>The pools of this run carry no time to treatment.</p>"
    itt = itt.assign(chosen=_chosen_levels(tables.operating_characteristics, itt))
    has_trial_share = bool(itt["trial_infused_share"].notna().any())
    top = (
        "<th rowspan='2' class='l'>arm</th><th rowspan='2'>level</th><th rowspan='2' class='l'>dose</th>"
        "<th rowspan='2'>enrolled (n)</th><th rowspan='2'>infused %</th>"
        "<th rowspan='2'>enrolment to infusion, days: median (IQR)</th>"
        + "".join(f"<th colspan='2'>{html.escape(endpoint_label(c))}, %</th>" for c in outcomes)
        + "<th rowspan='2'>time to answer, months (mean)</th>"
        + ("<th rowspan='2'>infused in the trials %</th>" if has_trial_share else "")
    )
    sub = "".join("<th>enrolled</th><th>infused</th>" for _ in outcomes)
    rows = []
    for _, r in itt.iterrows():
        inf = {
            "value": r["infused_share"],
            "ci_low": r["infused_ci_low"],
            "ci_high": r["infused_ci_high"],
            "n": r["enrolled"],
        }
        wait = (
            f"{_fmt(r['enrol_to_infusion_days_median'], 1, 0)} "
            f"({_fmt(r['enrol_to_infusion_days_q1'], 1, 0)}–{_fmt(r['enrol_to_infusion_days_q3'], 1, 0)})"
        )
        cells = "".join(
            _itt_cell(r, f"{c}_{how}") for c in outcomes for how in ("enrolled", "infused")
        )
        trial = f"<td>{_fmt(r['trial_infused_share'], 100, 1)}</td>" if has_trial_share else ""
        rows.append(
            f"<tr><td class='l'>{html.escape(str(r['arm_label']))}</td><td>{int(r['dose_level'])}</td>"
            f"<td class='l'>{html.escape(str(r['dose']))}</td><td>{int(r['enrolled'])}</td>"
            f"{_cell(inf, 100, 1)}<td>{wait}</td>{cells}"
            f"<td>{_fmt(r['time_to_answer_months_mean'], 1, 1)}</td>{trial}</tr>"
        )
    table = f"<table id='itt-table'><tr>{top}</tr><tr>{sub}</tr>{''.join(rows)}</table>"
    text = (
        "<p>Every eligible virtual patient of each pool is enrolled; the product's logistics "
        "(<code>logistics:</code> of the product, docs/logistics.md) decide when, and whether, "
        "the patient is infused: an off-the-shelf product after dispatch and conditioning, an "
        "autologous one after leukapheresis, manufacture and shipping, with release failures "
        "(re-manufactured or not) and flares of the untreated disease meanwhile (a severe one "
        "ends the patient's participation). Outcomes among the <i>enrolled</i> count a patient "
        "not infused as a non-responder (intention to treat); among the <i>infused</i> they "
        "are as treated. Rates in percent with their 95% Wilson interval below. Time to answer: "
        "months from the trial's opening to the decision on its last cohort, averaged over the "
        f"{protocol.simulation.replicates} simulated trials.</p>"
    )
    first = outcomes[0] if outcomes else None
    shown = (
        f" and {endpoint_label(first)} among the enrolled and among the infused (95% CI)"
        if first
        else ""
    )
    fig = _img(
        F.time_to_treatment(itt, first, endpoint_label(first) if first else ""),
        "Time to treatment and intention to treat",
        "Per arm, at the dose level its trials select most often: share of enrolled patients "
        "infused (95% CI), days from enrolment to infusion (median, IQR)" + shown + ".",
        "fig-time_to_treatment",
    )
    return head + text + table + fig


def _pathways_section(protocol: Protocol) -> str:
    """Dose transition pathways of the protocol's design: what a safety board is shown."""
    design = protocol.make_design()
    # BOIN12 outcomes are joint response/DLT counts (20 per cohort of 3): one cohort is a
    # readable table; DLT-only designs show two cohorts (16 rows).
    cohorts = 1 if protocol.design.name == "boin12" else 2
    table = dose_transition_pathways(design, protocol.n_doses, cohorts=cohorts)
    doses = dict(enumerate(protocol.dose_levels, start=1))
    head = ["pathway"]
    for i in range(1, cohorts + 1):
        head += [f"cohort {i}: dose", "DLTs / treated"]
        if f"cohort_{i}_responses" in table:
            head.append("responses")
        head += ["decision", "next dose"]
    rows = []
    for _, r in table.iterrows():
        cells = [str(int(r["pathway"]))]
        for i in range(1, cohorts + 1):
            c = f"cohort_{i}_"
            if pd.isna(r[c + "dose"]):
                cells += ["", ""] + ([""] if c + "responses" in table else []) + ["", ""]
                continue
            cells.append(kit.escape(str(doses.get(int(r[c + "dose"]), r[c + "dose"]))))
            cells.append(f"{int(r[c + 'dlts'])} / {int(r[c + 'treated'])}")
            if c + "responses" in table:
                cells.append(str(int(r[c + "responses"])))
            cells.append(kit.escape(str(r[c + "decision"])))
            nxt = r[c + "next_dose"]
            cells.append("" if pd.isna(nxt) else kit.escape(str(doses.get(int(nxt), nxt))))
        rows.append("<tr>" + "".join(f"<td class='l'>{x}</td>" for x in cells) + "</tr>")
    header = "".join(f"<th class='l'>{kit.escape(h)}</th>" for h in head)
    return (
        "<h2>Dose transition pathways</h2>"
        f"<p>The decisions of the design ({kit.escape(protocol.design.name)}) for every possible "
        f"outcome of the first {'cohort' if cohorts == 1 else f'{cohorts} cohorts'}, from the "
        "starting dose, as a safety board sees them before the trial; computed by the design's "
        "own rules (<code>allocart design pathways</code> gives longer sequences).</p>"
        f"<table class='pathways'><tr>{header}</tr>{''.join(rows)}</table>"
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
        + _design_endpoint(protocol)
    )
    versions = manifest.get("versions", {})
    ver = ", ".join(f"{html.escape(k)} {html.escape(str(v))}" for k, v in versions.items())
    body = [
        f"<h1>{html.escape(protocol.title or protocol.name)}</h1>",
        meta,
        "<h2>Per dose level</h2>",
        "<p>Selection, exposure and safety in the simulated trials; rates are among the patients the trials treated at the "
        "level, <i>treated (n)</i> in all trials together (a dose rarely reached has few patients and a wide uncertainty), "
        "with the 95% Wilson interval below each rate and percentage (it ignores the clustering of patients in trials); "
        f"a rate over fewer than {MIN_RATE_N} patients is greyed and shows its n.</p>",
        _dose_table(tables.operating_characteristics, 0, extra),
        "<h2>Per trial</h2>",
        f"<p>Over {protocol.simulation.replicates} simulated trials per arm; percentages with their 95% Wilson interval.</p>",
        _trial_table(tables.operating_characteristics, labels),
        fig_html["operating_characteristics"],
        _safety_section(protocol, tables, labels),
        fig_html["escalation_paths"],
        fig_html["car_t_expansion"],
        fig_html["b_cells"],
        fig_html["serology_and_activity"],
        fig_html["swimmer"],
        fig_html["product_comparison"],
        _itt_section(protocol, tables, labels),
        _pathways_section(protocol),
        "<h2>What the model says per arm and dose level</h2>",
        "<p>Rates in percent over every eligible virtual patient of the pool (the relations the trials try to learn), "
        "with the 95% Wilson interval below each.</p>",
        _model_table(tables.endpoints, labels, model_eps),
        f"<p class='meta'>{ver}</p>",
    ]
    return kit.page(protocol.title or protocol.name, body)


def write_report(
    protocol: Protocol, tables: Any, path: str | Path, *, manifest: dict[str, Any] | None = None
) -> Path:
    """Render the report and write it atomically to ``path``."""
    return atomic_write_text(Path(path), render_report(protocol, tables, manifest))
