"""The HTML report of a fit: warnings, estimates, diagnostics, forecasts and embedded plots.

Built on the report kit (:mod:`allocart.report.kit`): one self-contained file (the PNGs written
by :mod:`allocart.fit.plots` embedded as data URIs, the kit's style sheet inline), so it can be
mailed or archived as is. The page is as wide as the kit's (CSS ``max-width``; the figures are
drawn at most :data:`allocart.fit.plots.MAX_WIDTH_PX` wide and scaled down to the page), tables
scroll inside the page rather than widen it, and every number a reader needs is in a table,
not in raw JSON. :func:`write_report` is what ``allocart fit`` passes to
:func:`allocart.fit.api.run_fit` as its ``report``.

A warning box at the top says what limits the intervals:

* they are conditional on the model parameters held at their typical values, whenever the
  parameter table gives any of those between-patient variability (the usual case: 5 of about
  80 varying parameters are estimated by default);
* the coverage check against known true values failed (:mod:`allocart.fit.coverage`, with
  ``allocart fit --truth FILE``);
* a patient's mode search or the population estimate did not converge (the patients named);
* the sampler's diagnostics fall short (NUTS);
* an omega interval is a Wald interval because its profile gave none, or reaches the end of
  the search range.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocart.fit.forecast import Forecast
from allocart.fit.result import FitResult
from allocart.report import kit

__all__ = [
    "write_report",
    "report_warnings",
    "fixed_varying_parameters",
    "patient_diagnostics_frame",
]

#: Rules of this report on top of the kit's style sheet: tables that scroll inside the page,
#: left-aligned first columns and text cells, rows of patients that did not converge, and the
#: red warning and green all-clear boxes.
_CSS = """
.wrap{max-width:100%;overflow-x:auto}
td:first-child,th:first-child{text-align:left}
td.text{text-align:left;max-width:420px}
tr.bad td{background:#fdecea}
.warning{border:2px solid #b71c1c;background:#fdecea;color:#5f0d0d;border-radius:4px}
.warning h2{margin:.2em 0 .4em;border:none;color:#b71c1c}
.warning li{margin:.3em 0}
.ok{border:2px solid #2e7d32;background:#edf7ee;padding:.6em 1em;margin:1em 0;border-radius:4px}
"""


def _figure(title: str, path: Path) -> str:
    """A PNG written by :mod:`allocart.fit.plots`, embedded with the kit, under its title."""
    path = Path(path)
    return f"<h2>{html.escape(title)}</h2>" + kit.figure(
        path.read_bytes(), alt=title, caption=f"{title} ({path.name}, written next to this report)"
    )


def _fmt(v: Any, floatfmt: str = "{:.4g}") -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "beyond horizon" if v > 0 else "-inf"
        return floatfmt.format(v)
    if v is None:
        return "n/a"
    return str(v)


def _table(
    frame: pd.DataFrame,
    floatfmt: str = "{:.4g}",
    text_cols: tuple[str, ...] = (),
    bad_rows: list[bool] | None = None,
    cls: str = "",
) -> str:
    cols = list(frame.columns)
    attr = f' class="{cls}"' if cls else ""
    out = [
        f'<div class="wrap"><table{attr}><tr>'
        + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        + "</tr>"
    ]
    for r, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for c, v in zip(cols, row):
            td = '<td class="text">' if c in text_cols else "<td>"
            cells.append(f"{td}{html.escape(_fmt(v, floatfmt))}</td>")
        tr = '<tr class="bad">' if bad_rows is not None and bad_rows[r] else "<tr>"
        out.append(tr + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def fixed_varying_parameters(result: FitResult) -> list[str]:
    """Parameters held at their typical values although the table gives them between-patient
    variability (product and assay parameters excluded: they are fixed by definition)."""
    est = set(result.param_names)
    return [
        r.name
        for r in result.problem.table.rows
        if r.iiv > 0 and r.name not in est and r.group not in ("product", "observation")
    ]


def report_warnings(result: FitResult, coverage: dict[str, Any] | None = None) -> list[str]:
    """The warnings of the report's warning box, as HTML fragments (empty when none)."""
    out: list[str] = []
    fixed = fixed_varying_parameters(result)
    if fixed:
        shown = ", ".join(fixed[:8]) + (f" and {len(fixed) - 8} more" if len(fixed) > 8 else "")
        out.append(
            f"<b>Intervals are conditional on {len(fixed)} fixed parameters.</b> Only "
            f"{', '.join(result.param_names)} are estimated; {html.escape(shown)} are held at their typical values "
            "although the parameter table gives them between-patient variability. The intervals and forecasts do "
            "not include that variability and are too narrow if these patients differ in them: in a simulation "
            "where all of them vary, far fewer than 90% of the 90% intervals contain the true values. Estimate "
            "more parameters (<code>--params</code>) or check coverage on simulated data (<code>--truth</code>)."
        )
    if coverage is not None and not coverage.get("passed", True):
        per = "; ".join(
            f"{html.escape(p)} {v['covered']}/{v['n']}"
            for p, v in coverage["per_parameter"].items()
        )
        out.append(
            f"<b>Coverage check failed.</b> Only {coverage['covered']} of {coverage['n']} individual "
            f"{coverage['level']:.0%} intervals contain the true value (expected about {coverage['expected']:.0f}; "
            f"probability of so few {coverage['p_value']:.1e} &lt; {coverage['alpha']:g}). Per parameter: {per}. "
            "Do not use these intervals as stated."
        )
    d = result.diagnostics
    bad = list(d.get("patients_not_converged") or [])
    if bad:
        out.append(
            f"<b>{len(bad)} patient(s) did not converge:</b> {html.escape(', '.join(map(str, bad)))}. "
            "Their estimates and intervals are where the mode search stopped."
        )
    if not d.get("population_converged", True):
        out.append(
            f"<b>The population estimate did not converge</b> in {d.get('iterations', '?')} EM steps."
        )
    if "max_r_hat" in d and not d.get("converged", True):
        rhat = d.get("max_r_hat")
        out.append(
            f"<b>The sampler has not converged:</b> {d.get('divergences', 0)} divergent transitions, max R-hat "
            f"{_fmt(rhat)}, min bulk ESS {_fmt(d.get('min_ess_bulk'), '{:.0f}')}. Run longer "
            "(<code>--warmup</code>, <code>--samples</code>)."
        )
    wald = [p for p, v in (result.population or {}).items() if v.get("omega_method") == "wald"]
    if wald:
        out.append(
            f"<b>Omega interval by Wald approximation</b> for {html.escape(', '.join(wald))}: the profile "
            "likelihood gave no interval around the estimate (see the population table's notes); the "
            "between-patient variability of these parameters is poorly determined by the data."
        )
    return out


def patient_diagnostics_frame(result: FitResult) -> pd.DataFrame:
    """One row per patient: converged, iterations, objective (or R-hat and ESS for NUTS) and
    shrinkage of each parameter."""
    d = result.diagnostics
    names = result.param_names
    if d.get("per_patient"):
        rows = []
        for r in d["per_patient"]:
            row = {
                "patient": r["id"],
                "converged": bool(r["converged"]),
                "iterations": int(r["iterations"]),
                "objective (-log posterior)": float(r["objective"]),
            }
            for p in names:
                row[f"shrinkage {p}"] = r["shrinkage"].get(p, float("nan"))
            rows.append(row)
        return pd.DataFrame(rows)
    # NUTS: per-patient R-hat and ESS from ArviZ, shrinkage from the draws
    var = d.get("variables", {})
    flat = result.flat_theta()
    th = result.problem.to_theta(flat)
    if result.omega is not None:
        prior_sd = np.mean(result.omega.reshape(-1, result.problem.k), axis=0)
    else:
        prior_sd = result.problem.prior_sd
    rows = []
    for i, sid in enumerate(result.problem.ids):
        mine = [v for k, v in var.items() if k.endswith(f"[{sid}]")]
        rh = [v["r_hat"] for v in mine if v.get("r_hat") is not None]
        es = [v["ess_bulk"] for v in mine if v.get("ess_bulk") is not None]
        row = {
            "patient": sid,
            "converged": bool(rh) and max(rh) < 1.05,
            "iterations": int(d.get("num_warmup", 0)) + int(d.get("num_samples", 0)),
            "max R-hat": max(rh) if rh else float("nan"),
            "min bulk ESS": min(es) if es else float("nan"),
        }
        for j, p in enumerate(names):
            row[f"shrinkage {p}"] = float(min(1.0, th[:, i, j].var() / prior_sd[j] ** 2))
        rows.append(row)
    return pd.DataFrame(rows)


def _population_frame(result: FitResult) -> pd.DataFrame:
    units = {p.name: p.unit for p in result.problem.params}
    rows = []
    for name, v in result.population.items():
        # point estimate: *_lo/_hi; NUTS: posterior quantiles *_q05/_q95
        t_lo, t_hi = (
            v.get("typical_lo", v.get("typical_q05")),
            v.get("typical_hi", v.get("typical_q95")),
        )
        o_lo, o_hi = v.get("omega_lo", v.get("omega_q05")), v.get("omega_hi", v.get("omega_q95"))
        rows.append(
            {
                "parameter": name,
                "unit": units.get(name, ""),
                "typical value": v["typical"],
                "90% CI": f"{_fmt(t_lo)} - {_fmt(t_hi)}",
                "table value": v.get("table_typical", float("nan")),
                "omega (SD, transformed scale)": v["omega"],
                "omega 90% CI": f"{_fmt(o_lo)} - {_fmt(o_hi)}",
                "omega interval method": v.get("omega_method", "posterior quantiles"),
                "Wald omega 90% CI": (
                    f"{_fmt(v['omega_wald_lo'])} - {_fmt(v['omega_wald_hi'])}"
                    if "omega_wald_lo" in v
                    else "n/a"
                ),
                "table omega": v.get("table_omega", float("nan")),
            }
        )
    return pd.DataFrame(rows)


def _estimates_frame(result: FitResult) -> pd.DataFrame:
    est = result.estimates_frame()
    est = est.assign(
        **{"90% interval": [f"{_fmt(a)} - {_fmt(b)}" for a, b in zip(est["q05"], est["q95"])]}
    )
    return est[
        ["id", "parameter", "unit", "estimate", "median", "90% interval", "table_value"]
    ].rename(columns={"id": "patient", "table_value": "table value"})


def _forecast_frame(summary: pd.DataFrame) -> pd.DataFrame:
    def trio(row: pd.Series, stem: str) -> str:
        keys = (f"{stem}_median", f"{stem}_q05", f"{stem}_q95")
        if not all(k in row for k in keys):
            return "n/a"
        return f"{_fmt(row[keys[0]], '{:.3g}')} ({_fmt(row[keys[1]], '{:.3g}')} - {_fmt(row[keys[2]], '{:.3g}')})"

    rows = []
    for _, r in summary.iterrows():
        row = {
            "patient": r["id"],
            "CAR-T persistence (day)": trio(r, "car_t_persistence_day"),
            "B-cell return (day)": trio(r, "b_cell_return_day"),
        }
        for m in ("m1", "m3", "m6", "m12"):
            if f"anti_dsdna_{m}_median" in r:
                row[f"anti-dsDNA {m.upper()} (IU/mL)"] = trio(r, f"anti_dsdna_{m}")
        row["P(flare by M12)"] = r.get("p_flare_by_month_12", float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _coverage_frame(coverage: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "parameter": p,
                "covered": v["covered"],
                "patients": v["n"],
                "share": v["covered"] / v["n"] if v["n"] else float("nan"),
            }
            for p, v in coverage["per_parameter"].items()
        ]
    )


def _kv_frame(d: dict[str, Any]) -> pd.DataFrame:
    def text(v: Any) -> str:
        return json.dumps(v, default=str) if isinstance(v, (list, tuple, dict)) else _fmt(v)

    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            rows += [{"setting": f"{k}.{kk}", "value": text(vv)} for kk, vv in v.items()]
        else:
            rows.append({"setting": k, "value": text(v)})
    return pd.DataFrame(rows)


def write_report(
    result: FitResult,
    path: Path,
    *,
    forecast: Forecast | None = None,
    plots: dict[str, Path] | None = None,
    extra: dict[str, Any] | None = None,
    coverage: dict[str, Any] | None = None,
) -> Path:
    """Write the HTML report of a fit (``report.html`` of ``allocart fit``).

    Parameters
    ----------
    result : FitResult
        The fit.
    path : Path
        The file written.
    forecast : Forecast, optional
        Forecasts of the patients (:func:`allocart.fit.forecast.forecast`): their table.
    plots : dict of str to Path, optional
        Title -> PNG file (:mod:`allocart.fit.plots`), embedded in this order.
    extra : dict, optional
        Settings of the run (options, timings), shown as a table.
    coverage : dict, optional
        The result of :func:`allocart.fit.coverage.individual_coverage`, when the true values
        are known: a table, and a warning if the check failed.

    Returns
    -------
    Path
        ``path``.
    """
    pb = result.problem
    d = result.diagnostics
    parts = [
        "<h1>Fit report</h1>",
        f"<p class='note'>Data: {html.escape(pb.source)} &middot; {pb.n} patient(s) &middot; "
        f"method {html.escape(result.method)} ({html.escape(result.level)}) &middot; "
        f"{result.seconds:.1f} s &middot; read-outs: {html.escape(', '.join(pb.observables))}</p>",
    ]
    warnings = report_warnings(result, coverage)
    if warnings:
        parts.append(
            '<div class="warning" role="alert"><h2>Read before using the intervals</h2><ul>'
            + "".join(f"<li>{w}</li>" for w in warnings)
            + "</ul></div>"
        )
    else:
        parts.append(
            '<div class="ok">No warnings: every patient converged and the intervals are not conditional '
            "on parameters that vary between patients.</div>"
        )
    prm = pd.DataFrame(
        [
            {
                "parameter": p.name,
                "unit": p.unit,
                "scale": p.transform,
                "table value": p.typical,
                "prior SD (scale)": p.prior_sd,
                "source": p.source,
            }
            for p in pb.params
        ]
    )
    parts += [
        "<h2>Estimated parameters and their population priors</h2>",
        _table(prm, text_cols=("source",)),
    ]
    if result.population:
        parts += [
            "<h2>Population estimates (90% intervals)</h2>",
            "<p class='note'>Typical value: Wald interval on the transformed scale. Omega (between-patient "
            "SD on the parameter's log or logit scale): profile-likelihood interval of the linearised REML "
            "likelihood, or a Wald interval on log omega where the profile gave none (column <i>omega "
            "interval method</i>; docs/fitting.md).</p>",
            _table(_population_frame(result)),
        ]
        notes = [
            (k, v.get("omega_note", ""))
            for k, v in result.population.items()
            if v.get("omega_note")
        ]
        if notes:
            parts.append(
                "<ul class='note'>"
                + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(n)}</li>" for k, n in notes)
                + "</ul>"
            )
    parts.append("<h2>Diagnostics per patient</h2>")
    summary = []
    if "iterations" in d and "per_patient" in d:
        summary.append(
            f"{'population estimate' if result.level == 'population' else 'mode search'}: "
            f"{d.get('iterations')} iterations, "
            f"{'converged' if d.get('population_converged', d.get('converged')) else 'NOT converged'}"
        )
    if "patients_converged" in d:
        summary.append(f"{d['patients_converged']} of {pb.n} patients converged")
    if "max_r_hat" in d:
        summary.append(
            f"{d.get('chains')} chains x {d.get('num_samples')} draws, {d.get('divergences')} divergent "
            f"transitions, max R-hat {_fmt(d.get('max_r_hat'))}, "
            f"min bulk ESS {_fmt(d.get('min_ess_bulk'), '{:.0f}')}"
        )
    if d.get("omega_interval_methods"):
        summary.append(
            "omega intervals: "
            + ", ".join(f"{k} {v}" for k, v in d["omega_interval_methods"].items())
        )
    parts.append(
        f"<p class='note'>{html.escape('; '.join(summary))}. Shrinkage: the share of the population "
        "variance the patient's posterior keeps (0: the data determine the parameter; 1: they say "
        "nothing and the estimate is the population's).</p>"
    )
    diag = patient_diagnostics_frame(result)
    parts.append(_table(diag, bad_rows=list(~diag["converged"].astype(bool)), cls="diagnostics"))
    if d.get("eta_shrinkage"):
        parts.append(
            "<p class='note'>Population eta-shrinkage (1 - SD of the patients' deviations / omega): "
            + html.escape(
                ", ".join(f"{k} {_fmt(v, '{:.0%}')}" for k, v in d["eta_shrinkage"].items())
            )
            + "</p>"
        )
    if coverage is not None:
        verdict = "passed" if coverage["passed"] else "FAILED"
        parts += [
            "<h2>Coverage of the individual intervals against the true values</h2>",
            f"<p class='note'>{coverage['covered']} of {coverage['n']} {coverage['level']:.0%} intervals contain "
            f"the true value (expected about {coverage['expected']:.0f}); check {verdict} (one-sided binomial "
            f"probability of so few: {coverage['p_value']:.2g}, threshold {coverage['alpha']:g}).</p>",
            _table(_coverage_frame(coverage), floatfmt="{:.0%}"),
        ]
    parts += ["<h2>Individual estimates</h2>", _table(_estimates_frame(result))]
    if forecast is not None:
        parts += [
            "<h2>Forecasts (medians and 90% intervals over posterior draws)</h2>",
            "<p class='note'>Beyond horizon: the event had not happened by the end of the forecast. B-cell "
            "return: first day after the nadir with B cells &ge; 1/uL; CAR-T persistence: last day with CAR-T "
            "&ge; 0.1/uL; flare: latent SLE activity rising &ge; 0.25 above its running minimum by month 12. "
            "All forecasts share the intervals' conditions above.</p>",
            _table(_forecast_frame(forecast.summary), floatfmt="{:.2f}"),
        ]
    for title, p in (plots or {}).items():
        parts.append(_figure(title, p))
    if extra:
        parts += ["<h2>Run</h2>", _table(_kv_frame(extra), text_cols=("value",))]
    path = Path(path)
    path.write_text(kit.page(f"allocart fit: {pb.source}", parts, css=_CSS), encoding="utf-8")
    return path
