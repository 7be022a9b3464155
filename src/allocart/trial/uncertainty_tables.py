"""Tables and report section of a run's parameter study (:mod:`allocart.trial.uncertainty`).

``uncertainty_oc`` sets the operating characteristics of the protocol's own arm without and with
parameter uncertainty side by side; ``scenario_oc`` those of each parameter scenario.
:func:`study_section` renders both as a clearly separated section of ``report.html``, which
:func:`add_section` inserts into the report the run has written.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocart.files import atomic_write_text
from allocart.stats import wilson_interval
from allocart.trial.protocol import Protocol

__all__ = ["oc_table", "scenario_table", "study_section", "add_section", "study_summary_lines"]

_MC = "95% Monte-Carlo (Wilson)"
_SPREAD = "5-95% across parameter draws"
#: Per-dose read-outs of the pools reported per scenario, besides the design's response.
_READOUTS = ("doris_m6", "b_cell_aplasia_days", "car_t_persistence_days")


def _row(analysis: str, level: Any, dose: Any, metric: str, value: float, **kw: Any) -> dict:
    return {
        "analysis": analysis,
        "dose_level": level,
        "dose": dose,
        "metric": metric,
        "value": float(value),
        "lower": float(kw.get("lower", np.nan)),
        "upper": float(kw.get("upper", np.nan)),
        "interval": kw.get("interval", ""),
        "n": float(kw.get("n", np.nan)),
    }


def _pct(x: pd.Series, k: int) -> float:
    return float((x == k).mean() * 100)


def _selected_row(analysis: str, level: int, dose: Any, selected: pd.Series) -> dict:
    """Percent of trials that selected ``level``, with its Monte-Carlo (Wilson 95%) interval
    over the ``len(selected)`` replicate trials."""
    n_r = len(selected)
    p = _pct(selected, level)
    lo, hi = wilson_interval(p / 100, n_r)
    return _row(
        analysis,
        level,
        dose,
        "selected_pct",
        p,
        lower=lo * 100,
        upper=hi * 100,
        interval=_MC,
        n=n_r,
    )


def oc_table(
    protocol: Protocol,
    without: pd.DataFrame,
    with_u: pd.DataFrame,
    base_rates: pd.DataFrame,
    draw_rates: pd.DataFrame,
    plan: Any,
) -> pd.DataFrame:
    """Operating characteristics of arm 0 without and with parameter uncertainty (long form).

    Per dose level: ``selected_pct`` (without: with its Monte-Carlo interval; with: the 5-95%
    range of the per-draw percentages), ``true_dlt_prob`` and ``true_response_prob`` of the
    pools. Per trial (``dose_level`` null): ``no_selection_pct``, ``dlt_rate_per_trial``
    (mean, 5-95% of the replicate trials' DLT rates) and ``dlt_rate_per_trial_sd``.
    """
    rows: list[dict] = []
    for k, dose in enumerate(protocol.dose_levels, start=1):
        rows.append(_selected_row("without", k, dose, without["selected_level"]))
        per_draw = with_u.groupby("draw")["selected_level"].apply(lambda s, k=k: _pct(s, k))
        rows.append(
            _row(
                "with",
                k,
                dose,
                "selected_pct",
                _pct(with_u["selected_level"], k),
                lower=np.percentile(per_draw, 5),
                upper=np.percentile(per_draw, 95),
                interval=_SPREAD,
                n=len(with_u),
            )
        )
        for m in ("true_dlt_prob", "true_response_prob"):
            rows.append(_row("without", k, dose, m, base_rates[m].iloc[k - 1]))
            v = draw_rates.loc[draw_rates["dose_level"] == k, m].to_numpy(dtype=float)
            rows.append(
                _row(
                    "with",
                    k,
                    dose,
                    m,
                    v.mean(),
                    lower=np.percentile(v, 5),
                    upper=np.percentile(v, 95),
                    interval=_SPREAD,
                    n=plan.draws,
                )
            )
    for name, st in (("without", without), ("with", with_u)):
        rows.append(
            _row(name, None, None, "no_selection_pct", _pct(st["selected_level"], 0), n=len(st))
        )
        r = st["dlt_rate"].dropna().to_numpy(dtype=float)
        rows.append(
            _row(
                name,
                None,
                None,
                "dlt_rate_per_trial",
                r.mean(),
                lower=np.percentile(r, 5),
                upper=np.percentile(r, 95),
                interval="5-95% of replicate trials",
                n=r.size,
            )
        )
        rows.append(_row(name, None, None, "dlt_rate_per_trial_sd", r.std(ddof=1), n=r.size))
    out = pd.DataFrame(rows)
    out["dose_level"] = out["dose_level"].astype("Int64")
    return out


def scenario_table(
    protocol: Protocol, frames: Sequence[tuple[Any, pd.DataFrame, pd.DataFrame]]
) -> pd.DataFrame:
    """Per scenario and dose level: selection percent (Monte-Carlo interval), true DLT and
    response probabilities and the pools' read-outs (DORIS m6, B-cell aplasia days, CAR-T
    persistence days); per scenario: ``no_selection_pct`` and ``response_at_selected`` (the true
    response probability at the selected dose, over trials that selected one)."""
    rows = []
    for scen, st, rates in frames:
        base = {"scenario": scen.name, "label": scen.label}
        for k, dose in enumerate(protocol.dose_levels, start=1):
            rows.append({**base, **_selected_row("", k, dose, st["selected_level"])})
            r = rates.iloc[k - 1]
            for m in ("true_dlt_prob", "true_response_prob", *_READOUTS):
                if m in rates.columns:
                    rows.append({**base, **_row("", k, dose, m, r[m])})
        rows.append(
            {
                **base,
                **_row(
                    "", None, None, "no_selection_pct", _pct(st["selected_level"], 0), n=len(st)
                ),
            }
        )
        sel = st["selected_level"].to_numpy()
        chosen = sel[sel > 0]
        resp = rates["true_response_prob"].to_numpy(dtype=float)
        val = float(resp[chosen - 1].mean()) if chosen.size else np.nan
        rows.append({**base, **_row("", None, None, "response_at_selected", val, n=chosen.size)})
    out = pd.DataFrame(rows).drop(columns="analysis")
    out["dose_level"] = out["dose_level"].astype("Int64")
    return out


def _f(v: Any, scale: float = 1.0, dec: int = 1) -> str:
    try:
        x = float(v) * scale
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(x) else f"{x:.{dec}f}"


def _cell(r: pd.Series | None, scale: float = 1.0, dec: int = 1) -> str:
    if r is None:
        return "–"
    text = _f(r["value"], scale, dec)
    if np.isfinite(r["lower"]):
        text += f" ({_f(r['lower'], scale, dec)}–{_f(r['upper'], scale, dec)})"
    return text


def _pick(df: pd.DataFrame, **eq: Any) -> pd.Series | None:
    m = np.ones(len(df), dtype=bool)
    for k, v in eq.items():
        hit = df[k].isna() if v is None else (df[k] == v).fillna(False)
        m &= hit.to_numpy(dtype=bool)
    hit = df[m]
    return None if hit.empty else hit.iloc[0]


def _need(df: pd.DataFrame, **eq: Any) -> pd.Series:
    """The row that :func:`_pick` finds, for rows every study table holds."""
    r = _pick(df, **eq)
    if r is None:
        raise KeyError(f"no row with {eq} in the parameter-study table")
    return r


def study_section(protocol: Protocol, study: Any) -> str:
    """HTML of the parameter study: a separate section with its own heading and notes."""
    oc, sc = study.get("uncertainty_oc"), study.get("scenario_oc")
    resp = protocol.response_column or "response"
    out = [
        "<hr><section id='parameter-study'><h2>Parameter uncertainty and scenarios</h2>",
        "<p>Separate from the sections above, which assume the calibrated typical values. "
        "Tables <code>uncertainty_oc</code>, <code>scenario_oc</code>, "
        "<code>parameter_draws</code> and <code>uncertainty_replicates</code> of "
        "<code>results.duckdb</code> hold the numbers.</p>",
    ]
    if oc is not None:
        head = (
            "<tr><th>level</th><th>dose</th><th>selected % without</th><th>selected % with</th>"
            "<th>DLT % without</th><th>DLT % with</th>"
            f"<th>{html.escape(resp)} % without</th><th>{html.escape(resp)} % with</th></tr>"
        )
        body = []
        for k, dose in enumerate(protocol.dose_levels, start=1):
            cells = [
                _cell(_pick(oc, analysis=a, dose_level=k, metric=m), 100 if "prob" in m else 1)
                for m in ("selected_pct", "true_dlt_prob", "true_response_prob")
                for a in ("without", "with")
            ]
            body.append(
                f"<tr><td>{k}</td><td>{html.escape(dose)}</td>"
                + "".join(f"<td>{c}</td>" for c in cells)
                + "</tr>"
            )
        trial = [
            (
                label,
                _cell(_pick(oc, analysis="without", dose_level=None, metric=m), s, d),
                _cell(_pick(oc, analysis="with", dose_level=None, metric=m), s, d),
            )
            for label, m, s, d in (
                ("no dose selected %", "no_selection_pct", 1, 1),
                ("DLT rate per trial %, mean (5–95%)", "dlt_rate_per_trial", 100, 1),
                ("SD of the DLT rate per trial %", "dlt_rate_per_trial_sd", 100, 1),
            )
        ]
        draws = int(_need(oc, analysis="with", dose_level=1, metric="true_dlt_prob")["n"])
        out += [
            "<h3>Operating characteristics without and with parameter uncertainty</h3>",
            f"<p>With uncertainty, each of {draws} draws of the uncertain typical values "
            "(<code>uncertainty</code> in the parameter table) gets its own pools and replicate "
            "trials (a nested study). Without: Monte-Carlo 95% intervals; with: 5–95% range "
            "across the draws. DLT and response % are the pools' true rates.</p>",
            f"<table>{head}{''.join(body)}</table>",
            "<table><tr><th>per trial</th><th>without</th><th>with</th></tr>"
            + "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in trial)
            + "</table>",
        ]
    if sc is not None:
        names = list(dict.fromkeys(sc["scenario"]))
        labels = {n: sc.loc[sc["scenario"] == n, "label"].iloc[0] for n in names}
        head = (
            "<tr><th>level</th><th>dose</th>"
            + "".join(f"<th>{html.escape(labels[n])}: selected % / DORIS m6 %</th>" for n in names)
            + "</tr>"
        )
        body = []
        for k, dose in enumerate(protocol.dose_levels, start=1):
            cells = []
            for n in names:
                sel = _pick(sc, scenario=n, dose_level=k, metric="selected_pct")
                dor = _pick(sc, scenario=n, dose_level=k, metric="doris_m6")
                cells.append(
                    f"{_f(sel['value'] if sel is not None else None)} / {_f(dor['value'] if dor is not None else None, 100)}"
                )
            body.append(
                f"<tr><td>{k}</td><td>{html.escape(dose)}</td>"
                + "".join(f"<td>{c}</td>" for c in cells)
                + "</tr>"
            )
        none = "".join(
            f"<td>{_f(_need(sc, scenario=n, dose_level=None, metric='no_selection_pct')['value'])}</td>"
            for n in names
        )
        at_sel = "".join(
            f"<td>{_f(_need(sc, scenario=n, dose_level=None, metric='response_at_selected')['value'], 100)}</td>"
            for n in names
        )
        out += [
            "<h3>Parameter scenarios</h3>",
            "<p>The protocol's product, regimen and dose levels with each scenario's typical values, "
            "on the same virtual patients and replicate trials.</p>",
            f"<table>{head}{''.join(body)}"
            f"<tr><td colspan='2'>no dose selected %</td>{none}</tr>"
            f"<tr><td colspan='2'>{html.escape(resp)} % at the selected dose</td>{at_sel}</tr></table>",
        ]
    out.append("</section>")
    return "".join(out)


def add_section(report: Path, section: str) -> None:
    """Insert ``section`` before the end of the report's body (atomically)."""
    text = Path(report).read_text()
    i = text.rfind("</body>")
    text = text[:i] + section + text[i:] if i >= 0 else text + section
    atomic_write_text(Path(report), text)


def study_summary_lines(results: Path, dose_levels: Sequence[str]) -> list[str]:
    """Terminal lines of the parameter study stored in ``results`` (none when there is none):
    selection percentages per dose level without and with parameter uncertainty, and per
    scenario."""
    import duckdb

    con = duckdb.connect(str(results), read_only=True)
    try:
        names = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        oc = con.execute("SELECT * FROM uncertainty_oc").df() if "uncertainty_oc" in names else None
        sc = con.execute("SELECT * FROM scenario_oc").df() if "scenario_oc" in names else None
    finally:
        con.close()
    lines = []
    if oc is not None:
        lines.append("  selected % without / with parameter uncertainty (5-95% across draws):")
        for k, dose in enumerate(dose_levels, start=1):
            a = _pick(oc, analysis="without", dose_level=k, metric="selected_pct")
            b = _pick(oc, analysis="with", dose_level=k, metric="selected_pct")
            lines.append(f"    level {k} ({dose}): {_cell(a)} / {_cell(b)}")
    if sc is not None:
        lines.append("  selected % per parameter scenario:")
        for name in dict.fromkeys(sc["scenario"]):
            cells = [
                _f(_need(sc, scenario=name, dose_level=k, metric="selected_pct")["value"])
                for k in range(1, len(dose_levels) + 1)
            ]
            lines.append(f"    {name}: {' / '.join(cells)}")
    return lines
