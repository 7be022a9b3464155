"""The calibration report: ``calibration.json`` and ``calibration.html`` (built on :mod:`allocart.report.kit`)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from allocart.files import atomic_write_text
from allocart.population.calibrate.evaluation import (
    UNINFORMATIVE_RATE_SPAN,
    CalibrationReport,
    _fmt,
)
from allocart.report import kit

__all__ = ["write_report"]

# The result column (the ninth) is green when a target is met, red when not, grey when met but
# uninformative; the other cells read left to right.
_CSS = (
    "td,th{text-align:left}tr.pass td:nth-child(9){background:#d8f5d8}"
    "tr.fail td:nth-child(9){background:#f8d0d0}"
    "tr.pass.uninformative td:nth-child(9){background:#eeeeee}"
)


def write_report(report: CalibrationReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``calibration.json`` and ``calibration.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "calibration.json"
    atomic_write_text(jpath, json.dumps(report.to_dict(), indent=2, default=float))
    rows = []
    for r in report.results:
        t = r.target
        cls = "pass" if r.passed else "fail"
        mc = "-" if r.mc_interval is None else f"{_fmt(r.mc_interval[0])}-{_fmt(r.mc_interval[1])}"
        st = (
            "-"
            if r.study_interval is None
            else f"{_fmt(r.study_interval[0])}-{_fmt(r.study_interval[1])}"
        )
        if not r.informative:
            cls += " uninformative"
        info = (
            "yes"
            if r.informative
            else f"<b>uninformative</b>: {html.escape(r.uninformative_reason)}"
        )
        rows.append(
            f"<tr class='{cls}'><td>{html.escape(t.id)}</td><td>{html.escape(r.cohort.product)} {html.escape(r.cohort.dose)} "
            f"{html.escape(r.cohort.ld)}</td><td>{html.escape(t.statistic)} of {html.escape(t.quantity)}</td>"
            f"<td>{t.n}</td><td>{html.escape(t.describe())} ({html.escape(t.tag)})</td><td>{_fmt(r.simulated)}</td>"
            f"<td>{mc}</td><td>{st}</td><td>{'pass' if r.passed else 'FAIL'}</td><td>{info}</td>"
            f"<td>{html.escape(t.source)}</td><td>{html.escape(r.reason)}</td></tr>"
        )
    ns = "".join(
        f"<li><b>{html.escape(x.get('quantity', ''))}</b> ({html.escape(x.get('source', ''))}): "
        f"{html.escape(x.get('reason', ''))}</li>"
        for x in report.not_simulated
    )
    params = "".join(
        f"<li><code>{html.escape(k)}</code> = {v:g}</li>"
        for k, v in {**report.links, **report.model}.items()
    )
    body = f"""<h1>Calibration report</h1>
<p><b>{html.escape(report.headline())}</b>; {report.passed - report.passed_uninformative} met targets can discriminate.
{report.n} virtual patients per cohort (before selection), seed {report.seed}. A target passes when the published
value or range lies inside its acceptance interval: the 95% interval of the statistic in simulated studies of the
published size n (study interval). A met target is marked uninformative when it cannot discriminate: its acceptance interval
holds every possible value, a rate target is met by every true rate over more than
{UNINFORMATIVE_RATE_SPAN:g} of 0-1 (0 of 3 by any rate up to 0.71), or a median or mean is of one patient or no
narrower than the spread of single patients. MC interval: 95% bootstrap interval of the simulated value.</p>
<table><tr><th>target</th><th>scenario</th><th>statistic</th><th>n</th><th>published</th><th>simulated</th>
<th>MC 95%</th><th>acceptance (study 95%)</th><th>result</th><th>informative</th><th>source</th>
<th>reason if unmet</th></tr>
{"".join(rows)}</table>
<h2>Calibrated values</h2><ul>{params}</ul>
<h2>Reference rows not simulated</h2><ul>{ns}</ul>
"""
    hpath = atomic_write_text(
        out / "calibration.html", kit.page("allocart calibration report", [body], css=_CSS)
    )
    return jpath, hpath
