"""The HTML report of a sensitivity run: tornado plots of the Sobol indices, the Morris screening,
and the value-of-information ranking (self-contained: figures inlined as PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from allocart.files import atomic_write_text  # noqa: E402
from allocart.report import kit  # noqa: E402

__all__ = ["render_sensitivity_report", "write_sensitivity_report", "OUTPUT_LABELS"]

#: Readable names of the outputs.
OUTPUT_LABELS = {
    "b_cell_aplasia_days": "B-cell aplasia (days)",
    "car_t_persistence_days": "CAR-T persistence (days)",
    "dlt_rate": "DLT rate",
    "doris_m6": "DORIS remission at month 6",
    "p_select_none": "P(no dose selected)",
}

# The sensitivity tables put their labels in the first column.
_CSS = "td:first-child,th:first-child{text-align:left}"


def _label(output: str) -> str:
    if output.startswith("p_select_level"):
        return f"P(dose level {output.removeprefix('p_select_level')} selected)"
    return OUTPUT_LABELS.get(output, output)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def tornado_figure(sobol: pd.DataFrame, outputs: list[str]) -> Any:
    """One panel per output: total (bar, bootstrap 95% interval) and first-order (dot) Sobol
    indices of each parameter, largest total at the top."""
    n = len(outputs)
    cols = 2 if n > 1 else 1
    rows = int(np.ceil(n / cols))
    k = sobol["parameter"].nunique()
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 0.35 * k * rows + 1.2 * rows))
    axes = np.atleast_1d(axes).ravel()
    for ax, out in zip(axes, outputs, strict=False):
        d = sobol[sobol["output"] == out].sort_values("ST", na_position="first")
        y = np.arange(len(d))
        st = d["ST"].to_numpy(dtype=float)
        err = np.vstack([st - d["ST_low"].to_numpy(), d["ST_high"].to_numpy() - st])
        ax.barh(y, st, xerr=np.nan_to_num(err), color="#4c78a8", alpha=0.8, label="total (ST)")
        ax.plot(d["S1"], y, "o", color="#e45756", label="first order (S1)")
        ax.set_yticks(y, d["parameter"])
        ax.axvline(0, color="#999", lw=0.8)
        ax.set_xlim(-0.05, 1.05)
        ax.set_title(_label(out), fontsize=10)
        ax.set_xlabel("Sobol index (share of variance), 95% bootstrap interval")
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def morris_figure(morris: pd.DataFrame, outputs: list[str]) -> Any:
    """Morris ``mu_star`` of every parameter, scaled by each output's largest (bars per output)."""
    m = morris[morris["output"].isin(outputs)].copy()
    m["scaled"] = m["mu_star"] / m.groupby("output")["mu_star"].transform("max").replace(0, np.nan)
    order = m.groupby("parameter")["scaled"].max().sort_values().index
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(order) + 1.5))
    h = 0.8 / max(len(outputs), 1)
    for i, out in enumerate(outputs):
        d = m[m["output"] == out].set_index("parameter").reindex(order)
        ax.barh(np.arange(len(order)) + i * h, d["scaled"].fillna(0), height=h, label=_label(out))
    ax.set_yticks(np.arange(len(order)) + 0.4 - h / 2, order)
    ax.set_xlabel("Morris mu* / largest mu* of the output")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _table(df: pd.DataFrame, cols: list[tuple[str, str, int]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in cols)
    body = []
    for r in df.to_dict("records"):
        cells = []
        for c, _, dec in cols:
            v = r[c]
            cells.append(
                f"<td>{v:.{dec}f}</td>"
                if isinstance(v, float | np.floating) and np.isfinite(v)
                else f"<td>{html.escape(str(v))}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_sensitivity_report(result: Any, settings: dict[str, Any]) -> str:
    """The report of a :class:`~allocart.sensitivity.run.SensitivityResult` as HTML."""
    outs = list(result.outputs)
    voi = result.voi.copy()
    voi["output"] = voi["output"].map(_label) if len(voi) else voi.get("output")
    sob = result.sobol.copy()
    sob["output"] = sob["output"].map(_label)
    screened = [p for p in result.parameters if p not in result.sobol_parameters]
    parts = [
        "<h1>Global sensitivity analysis</h1>",
        f"<p class='note'>Scenario <code>{html.escape(str(settings.get('scenario')))}</code>; "
        f"{len(result.parameters)} parameters screened by Morris "
        f"({settings.get('morris_trajectories')} trajectories), Sobol indices of the "
        f"{len(result.sobol_parameters)} most influential (N = {settings.get('sobol_n')}); "
        f"{result.evaluations} model evaluations of {result.patients_per_evaluation} virtual "
        f"patients each; intervals: 95% bootstrap ({settings.get('resamples')} resamples).</p>",
        "<h2>Value of information: what most changes the trial's answer</h2>",
        "<p>Parameters ranked by their largest total Sobol index on the probability that each "
        "dose is selected and on DORIS remission at month 6: the share of that answer's variance "
        "that would go if the parameter were known. Measure these first in the first patients "
        "(CAR-T kinetics for persistence and rejection, B-cell return for depletion).</p>",
        _table(
            voi,
            [
                ("rank", "rank", 0),
                ("parameter", "parameter", 0),
                ("score", "total index", 2),
                ("low", "low", 2),
                ("high", "high", 2),
                ("output", "on", 0),
                ("mean_ST", "mean over the answer", 2),
            ],
        ),
        "<h2>Sobol indices (tornado)</h2>",
        f"<img alt='Sobol indices' src='data:image/png;base64,{_png(tornado_figure(result.sobol, outs))}'>",
        _table(
            sob,
            [
                ("output", "output", 0),
                ("parameter", "parameter", 0),
                ("S1", "S1", 3),
                ("S1_low", "low", 3),
                ("S1_high", "high", 3),
                ("ST", "ST", 3),
                ("ST_low", "low", 3),
                ("ST_high", "high", 3),
            ],
        ),
        "<h2>Morris screening</h2>",
        f"<p>Not carried to the Sobol stage (held at their typical values): "
        f"{html.escape(', '.join(screened)) or 'none'}.</p>",
        f"<img alt='Morris mu*' src='data:image/png;base64,{_png(morris_figure(result.morris, outs))}'>",
    ]
    return kit.page("Sensitivity analysis", parts, css=_CSS)


def write_sensitivity_report(result: Any, settings: dict[str, Any], path: str | Path) -> Path:
    """Write the report atomically to ``path``."""
    return atomic_write_text(Path(path), render_sensitivity_report(result, settings))
