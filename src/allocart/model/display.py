"""HTML display of results in Jupyter (``_repr_html_``): small tables and an inline SVG sketch.

Plain HTML strings with every value escaped; no script and nothing loaded from outside, so a
notebook shows them offline and a trusted or untrusted notebook renders them alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["html_table", "simulation_html", "sparkline_svg", "READOUTS"]

#: Read-outs of a simulation, as (label, observable, statistic over time, unit):
#: ``max``, ``argmax`` (day of the maximum), ``min`` or ``last``.
READOUTS: tuple[tuple[str, str, str, str], ...] = (
    ("CAR-T peak (Cmax)", "car_t_cells_per_ul", "max", "cells/µL"),
    ("CAR-T peak day (Tmax)", "car_t_cells_per_ul", "argmax", "day"),
    ("B-cell nadir", "b_cells_per_ul", "min", "cells/µL"),
    ("IL-6 peak", "il6_pg_per_ml", "max", "pg/mL"),
    ("ANC nadir", "anc_1e9_per_l", "min", "×10⁹/L"),
    ("Platelet nadir", "platelets_1e9_per_l", "min", "×10⁹/L"),
    ("anti-dsDNA at the horizon", "anti_dsdna_iu_per_ml", "last", "IU/mL"),
)

_STYLE = "border-collapse:collapse;font-size:12px;margin:2px 0"
_CELL = "padding:1px 10px 1px 0;text-align:left"


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}" if math.isfinite(v) else "–"
    return str(v)


def html_table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """An HTML table of ``rows`` (floats to 3 significant digits, every cell escaped)."""
    out = [f'<table style="{_STYLE}">']
    if header is not None:
        cells = "".join(f'<th style="{_CELL}">{html.escape(str(h))}</th>' for h in header)
        out.append(f"<thead><tr>{cells}</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        cells = "".join(f'<td style="{_CELL}">{html.escape(_fmt(v))}</td>' for v in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def sparkline_svg(
    t: np.ndarray,
    y: np.ndarray,
    *,
    label: str,
    log: bool = True,
    width: int = 220,
    height: int = 60,
    decades: float = 5.0,
) -> str:
    """An inline SVG line of ``y`` over ``t`` with its label (no axes: a sketch of the shape).

    On a log scale, values are shown down to ``decades`` below the maximum and clipped there.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & np.isfinite(t)
    points = ""
    if ok.any() and np.ptp(t[ok]) > 0:
        v = y[ok]
        if log:
            top = max(v.max(), 1e-300)
            v = np.log10(np.clip(v, top * 10**-decades, None))
        lo, hi = float(v.min()), float(v.max())
        span = hi - lo if hi > lo else 1.0
        x = 2 + (t[ok] - t[ok].min()) / np.ptp(t[ok]) * (width - 4)
        yy = height - 4 - (v - lo) / span * (height - 18)
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, yy))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(label)}">'
        f'<text x="2" y="11" font-size="10" fill="#333">{html.escape(label)}</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/></svg>'
    )


def _stat(y: np.ndarray, t: np.ndarray, stat: str) -> np.ndarray:
    """Per-patient statistic of ``y`` (n, n_times) over time (NaN for a row without values)."""
    finite = np.isfinite(y).any(axis=1)
    z = np.where(np.isfinite(y), y, np.nan)
    out = np.full(y.shape[0], np.nan)
    if not finite.any():
        return out
    zf = z[finite]
    if stat == "max":
        out[finite] = np.nanmax(zf, axis=1)
    elif stat == "argmax":
        out[finite] = t[np.nanargmax(zf, axis=1)]
    elif stat == "min":
        out[finite] = np.nanmin(zf, axis=1)
    else:  # last
        out[finite] = zf[:, -1]
    return out


def simulation_html(sim: Any) -> str:
    """The HTML of a :class:`~allocart.model.simulate.Simulation`: scenario, read-outs, sketch.

    One patient: the read-outs' values; several: median [5th-95th percentile] over the
    patients, with the number of failed solves.
    """
    sc = sim.scenario
    redoses = ", ".join(f"day {d:g}: {dose}" for d, dose in sc.redoses) if sc.redoses else "none"
    if sc.redoses and sc.redose_regimen is not None:
        redoses += f" (after {sc.redose_regimen.name})"
    failed = int(np.count_nonzero(np.asarray(sim.status) != 0))
    scenario_rows = [
        ("Product", sc.product.name),
        ("Dose", str(sc.dose)),
        ("Lymphodepletion", sc.regimen.name),
        ("Redoses", redoses),
        ("Horizon", f"{sc.days:g} days"),
        ("Patients", f"{sim.n}" + (f" ({failed} failed solves)" if failed else "")),
    ]
    ok = np.asarray(sim.status) == 0
    readouts = []
    for label, key, stat, unit in READOUTS:
        if key not in sim.observables:
            continue
        v = _stat(np.asarray(sim.observables[key])[ok], sim.time, stat)
        v = v[np.isfinite(v)]
        if v.size == 0:
            text = "–"
        elif sim.n == 1:
            text = _fmt(float(v[0]))
        else:
            lo, med, hi = np.percentile(v, [5, 50, 95])
            text = f"{_fmt(float(med))} [{_fmt(float(lo))}–{_fmt(float(hi))}]"
        readouts.append((label, text, unit))
    head = "Value" if sim.n == 1 else "Median [5–95%]"
    sketches = ""
    for key, label in (("car_t_cells_per_ul", "CAR-T"), ("b_cells_per_ul", "B cells")):
        if key in sim.observables and ok.any():
            y = np.median(np.asarray(sim.observables[key])[ok], axis=0)
            sketches += sparkline_svg(sim.time, y, label=f"{label} (log, median)")
    return (
        '<div class="allocart-simulation">'
        f"<strong>Simulation</strong>: {html.escape(sc.product.name)}, "
        f"{html.escape(str(sc.dose))}, {html.escape(sc.regimen.name)}"
        '<div style="display:flex;gap:24px;align-items:flex-start">'
        f"<div>{html_table(scenario_rows)}</div>"
        f"<div>{html_table(readouts, ('Read-out', head, 'Unit'))}</div>"
        f"<div>{sketches}</div>"
        "</div></div>"
    )
