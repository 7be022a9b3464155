"""The HTML report of a fit: estimates, diagnostics, forecasts and embedded plots.

One self-contained file (the PNGs are embedded as base64 data URIs), so it can be mailed or
archived as is.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from allocart.fit.result import FitResult

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.note{color:#555;font-size:13px}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _table(frame, floatfmt: str = "{:.4g}") -> str:
    cols = list(frame.columns)
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"]
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f"<td>{floatfmt.format(v)}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def write_report(result: FitResult, path: Path, *, forecast=None, plots: dict[str, Path] | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write ``report.html``."""
    import pandas as pd

    pb = result.problem
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>allocart fit: {html.escape(pb.source)}</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>Fit report</h1>",
             f"<p class='note'>Data: {html.escape(pb.source)} &middot; {pb.n} patient(s) &middot; "
             f"method {html.escape(result.method)} ({html.escape(result.level)}) &middot; "
             f"{result.seconds:.1f} s &middot; read-outs: {html.escape(', '.join(pb.observables))}</p>"]
    prm = pd.DataFrame([{"parameter": p.name, "unit": p.unit, "scale": p.transform, "table value": p.typical,
                         "prior sd (scale)": p.prior_sd, "source": p.source} for p in pb.params])
    parts += ["<h2>Estimated parameters and their population priors</h2>", _table(prm)]
    if result.population:
        pop = pd.DataFrame([{"parameter": k, **{kk: vv for kk, vv in v.items()}} for k, v in result.population.items()])
        parts += ["<h2>Population estimates (90% intervals)</h2>", _table(pop)]
    parts += ["<h2>Individual estimates</h2>", _table(result.estimates_frame())]
    d = {k: v for k, v in result.diagnostics.items() if k != "variables"}
    parts += ["<h2>Diagnostics</h2>", f"<pre>{html.escape(json.dumps(d, indent=1, default=str))}</pre>"]
    if "variables" in result.diagnostics:
        var = pd.DataFrame([{"variable": k, **v} for k, v in result.diagnostics["variables"].items()])
        parts.append(_table(var))
    if forecast is not None:
        parts += ["<h2>Forecasts (medians and 90% intervals over posterior draws)</h2>",
                  "<p class='note'>inf: beyond the forecast horizon. B-cell return: first day after the "
                  "nadir with B cells &ge; 1/uL; CAR-T persistence: last day with CAR-T &ge; 0.1/uL; flare: "
                  "latent SLE activity rising &ge; 0.25 above its running minimum by month 12.</p>",
                  _table(forecast.summary)]
    for title, p in (plots or {}).items():
        parts += [f"<h2>{html.escape(title)}</h2>", _img(p)]
    if extra:
        parts += ["<h2>Run</h2>", f"<pre>{html.escape(json.dumps(extra, indent=1, default=str))}</pre>"]
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path
