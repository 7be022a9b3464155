"""Goodness-of-fit plots, individual fits with forecast bands, and a visual predictive check.

All figures are matplotlib (Agg backend) written as PNG, at most :data:`MAX_WIDTH_PX` pixels
wide so that the report (max. 1400 px) shows them at their own size. Every axis is labelled
with its quantity and unit, and log axes are clipped to the data (:func:`log_limits`), so a
forecast band that decays to 1e-65 does not squash the data into a line.

* :func:`gof_figure` / :func:`plot_gof` -- observed against predicted (posterior point
  estimates) per read-out on log axes, and normalised residuals against time; censored rows
  drawn at their LLOQ as open triangles.
* :func:`individual_figure` / :func:`plot_individual` -- each patient's data with the posterior
  median and 90% band of the forecast.
* :func:`vpc_figure` / :func:`plot_vpc` -- visual predictive check drawn from the VPC table
  (:mod:`allocart.fit.vpc`): binned observed 5th, 50th and 95th percentiles against the
  medians and 90% intervals of the same percentiles in data sets simulated from the fitted
  population, with the observed data on top.

The ``*_figure`` functions return the matplotlib figure (tests read its axes); the ``plot_*``
functions build and save it.

Reference: Bergstrand M, Hooker AC, Wallin JE, Karlsson MO. Prediction-corrected visual
predictive checks for diagnosing nonlinear mixed-effects models. AAPS J 2011;13:143-151.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from allocart.fit.result import FitResult
from allocart.fit.sensmodel import sensitivity_model
from allocart.fit.vpc import vpc_table

__all__ = [
    "plot_gof",
    "plot_individual",
    "plot_vpc",
    "gof_figure",
    "individual_figure",
    "vpc_figure",
    "point_predictions",
    "log_limits",
    "scale_axis",
    "axis_label",
    "MAX_WIDTH_PX",
    "DPI",
]

DPI = 100
MAX_WIDTH_PX = 1360
"""Widest figure in pixels (the report's page is at most 1400 px wide)."""

_MAX_WIDTH_IN = MAX_WIDTH_PX / DPI
_COLS = 4
"""Panels per row."""

TIME_LABEL = "time after CAR-T infusion (days)"

_NAME = {
    "car_t_cells_per_ul": "CAR-T",
    "b_cells_per_ul": "B cells",
    "anti_dsdna_iu_per_ml": "anti-dsDNA",
    "transgene_copies_per_ug": "transgene",
    "c3_g_per_l": "C3",
    "c4_g_per_l": "C4",
    "car_pct_of_t": "CAR+ of T",
    "igg_g_per_l": "IgG",
    "il6_pg_per_ml": "IL-6",
    "anc_1e9_per_l": "ANC",
    "lymphocytes_1e9_per_l": "lymphocytes",
    "platelets_1e9_per_l": "platelets",
    "sle_activity": "latent SLE activity",
}
_UNIT = {
    "car_t_cells_per_ul": "cells/uL",
    "b_cells_per_ul": "cells/uL",
    "anti_dsdna_iu_per_ml": "IU/mL",
    "transgene_copies_per_ug": "copies/ug DNA",
    "c3_g_per_l": "g/L",
    "c4_g_per_l": "g/L",
    "car_pct_of_t": "% of T cells",
    "igg_g_per_l": "g/L",
    "il6_pg_per_ml": "pg/mL",
    "anc_1e9_per_l": "1e9/L",
    "lymphocytes_1e9_per_l": "1e9/L",
    "platelets_1e9_per_l": "1e9/L",
    "sle_activity": "relative to baseline, 1",
}
_BAND_ORDER = (
    "car_t_cells_per_ul",
    "b_cells_per_ul",
    "anti_dsdna_iu_per_ml",
    "c3_g_per_l",
    "sle_activity",
)


def axis_label(name: str, unit: str | None = None) -> str:
    """``"CAR-T (cells/uL)"``: the read-out's name and unit (the residual table's unit if the
    read-out is not known here)."""
    u = _UNIT.get(name) or unit or "1"
    return f"{_NAME.get(name, name)} ({u})"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_limits(
    observed, lloq: float | None = None, model=None, *, decades: float = 6.0
) -> tuple[float, float] | None:
    """Limits of a log axis that show the data and not the model's extinct tails.

    Lower limit: a third of the smallest of the positive observations and the assay's LLOQ,
    never more than ``decades`` below the upper limit; without observations, 1e-3 of the
    model's largest value. Upper limit: three times the largest observation or model median.
    ``None`` when there is nothing positive to show.
    """
    obs = np.asarray(observed, dtype=float).ravel()
    obs = obs[np.isfinite(obs) & (obs > 0)]
    mod = np.asarray(model if model is not None else [], dtype=float).ravel()
    mod = mod[np.isfinite(mod) & (mod > 0)]
    if obs.size == 0 and mod.size == 0:
        return None
    top = max(obs.max() if obs.size else 0.0, mod.max() if mod.size else 0.0)
    hi = 3.0 * top
    if obs.size:
        low = obs.min()
        if lloq is not None and np.isfinite(lloq) and lloq > 0:
            low = min(low, lloq)
        lo = low / 3.0
    else:
        lo = 1e-3 * top
    lo = max(lo, hi * 10.0 ** (-decades))
    if not lo < hi:
        lo, hi = hi / 10.0, hi
    return float(lo), float(hi)


def scale_axis(ax, axis: str, observed, lloq: float | None = None, model=None) -> str:
    """Set the scale and limits of ``ax``'s ``axis`` ("x" or "y") for read-out values.

    Values spanning more than a factor of 20 (with the LLOQ): log scale, limits from
    :func:`log_limits`, no labels on the minor ticks. Narrower ranges (complement, IgG): a
    linear scale 20% around the data, where a log axis would only show crowded minor labels.
    Returns the scale chosen.
    """
    from matplotlib.ticker import NullFormatter

    obs = np.asarray(observed, dtype=float).ravel()
    pos = obs[np.isfinite(obs) & (obs > 0)]
    ref = pos if pos.size else np.asarray(model if model is not None else [], dtype=float).ravel()
    ref = ref[np.isfinite(ref) & (ref > 0)]
    if lloq is not None and pos.size:
        ref = np.append(ref, lloq)
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_lim = ax.set_xlim if axis == "x" else ax.set_ylim
    if ref.size and ref.max() / ref.min() < 20.0:
        set_scale("linear")
        set_lim(0.8 * ref.min(), 1.2 * ref.max())
        return "linear"
    set_scale("log")
    lim = log_limits(observed, lloq, model)
    if lim is not None:
        set_lim(lim)
    (ax.xaxis if axis == "x" else ax.yaxis).set_minor_formatter(NullFormatter())
    return "log"


def _lloq(result: FitResult) -> dict[str, float | None]:
    """The smallest LLOQ of each fitted read-out in the data (censored rows hold their LLOQ)."""
    pb = result.problem
    out: dict[str, float | None] = {}
    for k, name in enumerate(pb.observables):
        sel = pb.censored & pb.mask & (pb.row_k == k)
        out[name] = float(pb.value[sel].min()) if sel.any() else None
    return out


def _grid(n_panels: int, width_in: float, height_in: float):
    plt = _plt()
    cols = min(_COLS, max(n_panels, 1))
    rows = int(np.ceil(n_panels / cols))
    w = min(width_in * cols, _MAX_WIDTH_IN)
    fig, axes = plt.subplots(rows, cols, figsize=(w, height_in * rows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _save(fig, path: Path) -> Path:
    plt = _plt()
    width_px = fig.get_figwidth() * DPI
    if width_px > MAX_WIDTH_PX + 0.5:  # a figure built here never is; a safeguard for the report
        fig.set_size_inches(MAX_WIDTH_PX / DPI, fig.get_figheight() * MAX_WIDTH_PX / width_px)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def point_predictions(result: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of every observation row at each patient's point estimate: (n, n_rows), ok (n,).

    Solved by the numba sensitivity model (no JAX needed).
    """

    pb = result.problem
    theta = pb.to_theta(result.mode)
    pred, _, ok = sensitivity_model(pb).evaluate(theta)
    return np.where(ok[:, None], pred, np.nan), ok


def gof_figure(result: FitResult, pred: np.ndarray):
    """Observed vs predicted and normalised residuals vs time: two panels per fitted read-out.

    ``pred``: predictions of every row at the point estimates, (n, n_rows).
    """
    pb = result.problem
    err = pb.residual.arrays(pb.observables)
    lloq = _lloq(result)
    n_o = len(pb.observables)
    fig, axes = _grid(2 * n_o, 3.4, 2.9)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for k, name in enumerate(pb.observables):
        sel = pb.mask & (pb.row_k == k) & np.isfinite(pred)
        obs, prd, cen, t = pb.value[sel], pred[sel], pb.censored[sel], times[sel]
        label = axis_label(name, pb.residual[name].unit)
        ax = axes[2 * k]
        fl = err["floor"][k]
        x = np.maximum(prd, 0.0) + fl
        ax.plot(x[~cen], obs[~cen], "o", ms=3, alpha=0.6, label="quantified")
        if cen.any():
            ax.plot(
                x[cen],
                obs[cen],
                "v",
                mfc="none",
                ms=4,
                color="tab:red",
                label="below LLOQ (at LLOQ)",
            )
        both = np.concatenate([obs, x])
        scale_axis(ax, "x", both, lloq[name])
        scale_axis(ax, "y", both, lloq[name])
        lim = ax.get_xlim()
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel(f"predicted {label}", fontsize=8)
        ax.set_ylabel(f"observed {label}", fontsize=8)
        ax.set_title(_NAME.get(name, name), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
        ax = axes[2 * k + 1]
        with np.errstate(all="ignore"):
            if err["log"][k] > 0:
                res = (np.log(np.maximum(obs, 1e-300)) - np.log(x)) / np.sqrt(
                    err["b"][k] ** 2 + (err["a"][k] / x) ** 2
                )
            else:
                res = (obs - prd) / np.sqrt(err["a"][k] ** 2 + (err["b"][k] * prd) ** 2)
        ax.plot(t[~cen], res[~cen], "o", ms=3, alpha=0.6)
        ax.axhline(0, color="k", lw=0.8)
        for y in (-1.96, 1.96):
            ax.axhline(y, color="grey", lw=0.6, ls=":")
        fin = res[~cen][np.isfinite(res[~cen])]
        top = min(max(4.0, float(np.max(np.abs(fin))) * 1.1) if fin.size else 4.0, 10.0)
        ax.set_ylim(-top, top)
        beyond = int(np.sum(np.abs(fin) > top))
        if beyond:
            ax.text(
                0.98,
                0.02,
                f"{beyond} beyond +-{top:g} not shown",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=6,
                color="tab:red",
            )
        ax.set_xlabel(TIME_LABEL, fontsize=8)
        ax.set_ylabel("normalised residual (SD units)", fontsize=8)
        ax.set_title(f"{_NAME.get(name, name)}: residuals", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_gof(result: FitResult, path: Path) -> Path:
    """:func:`gof_figure` at the point estimates, saved as PNG."""
    pred, _ = point_predictions(result)
    return _save(gof_figure(result, pred), path)


def _individual_observables(result: FitResult, bands) -> list[str]:
    """At most four read-outs for the individual panels: those with forecast bands first."""
    pb = result.problem
    have = set(bands["observable"]) if len(bands) else set()
    first = [o for o in _BAND_ORDER if o in pb.observables and o in have]
    rest = [o for o in pb.observables if o not in first]
    return (first + rest)[:_COLS]


def individual_figure(result: FitResult, bands, max_patients: int = 12):
    """Data and forecast bands per patient (rows) and read-out (columns, at most four)."""
    plt = _plt()
    pb = result.problem
    ids = pb.ids[:max_patients]
    names = _individual_observables(result, bands)
    lloq = _lloq(result)
    n_o = len(names)
    fig, axes = plt.subplots(
        len(ids), n_o, figsize=(min(3.4 * n_o, _MAX_WIDTH_IN), 2.4 * len(ids)), squeeze=False
    )
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for i, sid in enumerate(ids):
        for c, name in enumerate(names):
            k = pb.observables.index(name)
            ax = axes[i, c]
            b = bands[(bands["id"] == sid) & (bands["observable"] == name)] if len(bands) else bands
            if len(b):
                ax.fill_between(
                    b["day"],
                    b["q05"],
                    b["q95"],
                    alpha=0.3,
                    color="tab:blue",
                    lw=0,
                    label="forecast 90%",
                )
                ax.plot(b["day"], b["q50"], color="tab:blue", lw=1, label="forecast median")
            sel = pb.mask[i] & (pb.row_k[i] == k)
            t, v, cz = times[i][sel], pb.value[i][sel], pb.censored[i][sel]
            ax.plot(t[~cz], v[~cz], "ko", ms=3, label="observed")
            ax.plot(t[cz], v[cz], "v", color="tab:red", mfc="none", ms=4, label="below LLOQ")
            scale_axis(ax, "y", v, lloq[name], b["q50"] if len(b) else None)
            ax.set_ylabel(axis_label(name, pb.residual[name].unit), fontsize=7)
            ax.set_xlabel(TIME_LABEL, fontsize=7)
            ax.set_title(f"{sid}: {_NAME.get(name, name)}", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and c == 0:
                ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_individual(result: FitResult, bands, path: Path, max_patients: int = 12) -> Path:
    """:func:`individual_figure`, saved as PNG."""
    return _save(individual_figure(result, bands, max_patients), path)


def vpc_figure(result: FitResult, table):
    """Visual predictive check drawn from the VPC table (:func:`allocart.fit.vpc.vpc_table`),
    one panel per fitted read-out: the simulated 5th, 50th and 95th percentiles (median line,
    90% interval shaded) and the observed percentiles (black lines) at each bin's median time,
    with the observations on top."""
    pb = result.problem
    lloq = _lloq(result)
    fig, axes = _grid(len(pb.observables), 3.4, 2.9)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for k, name in enumerate(pb.observables):
        ax = axes[k]
        tab = table[table["observable"] == name].sort_values("time_mid")
        t = tab["time_mid"].to_numpy(dtype=float)
        for p, color in ((5, "tab:blue"), (50, "tab:red"), (95, "tab:blue")):
            lab = (
                "simulated median: 90% PI"
                if p == 50
                else ("simulated 5/95th: 90% PI" if p == 5 else None)
            )
            ax.fill_between(
                t,
                tab[f"sim_p{p:02d}_lo"],
                tab[f"sim_p{p:02d}_hi"],
                alpha=0.2,
                color=color,
                lw=0,
                label=lab,
            )
            ax.plot(t, tab[f"sim_p{p:02d}_median"], color=color, lw=0.8, ls="--")
            ax.plot(
                t,
                tab[f"obs_p{p:02d}"],
                color="k",
                lw=1.2 if p == 50 else 0.8,
                label="observed 5/50/95th" if p == 50 else None,
            )
        sel = pb.mask & (pb.row_k == k)
        tt, v, c = times[sel], pb.value[sel], pb.censored[sel]
        ax.plot(tt[~c], v[~c], "o", color="grey", ms=2, alpha=0.5, label="observed")
        ax.plot(tt[c], v[c], "v", color="tab:red", mfc="none", ms=3.5, label="below LLOQ")
        # The simulated intervals widen the axis, except extinct tails (a tenth of the
        # smallest observation and below), which would squash the data.
        lows = tab["sim_p05_lo"].to_numpy(dtype=float)
        pos = v[v > 0]
        if pos.size:
            lows = lows[lows >= pos.min() / 10.0]
        shown = np.concatenate([v, lows, tab["sim_p95_hi"].to_numpy(dtype=float)])
        scale_axis(ax, "y", shown, lloq[name], tab["sim_p50_median"].to_numpy(dtype=float))
        ax.set_xlabel(TIME_LABEL, fontsize=8)
        ax.set_ylabel(axis_label(name, pb.residual[name].unit), fontsize=8)
        ax.set_title(_NAME.get(name, name), fontsize=9)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_vpc(result: FitResult, path: Path, *, table=None, n_sim: int = 200, seed: int = 0) -> Path:
    """:func:`vpc_figure` of ``table`` (default: :func:`allocart.fit.vpc.vpc_table` with
    ``n_sim`` replicates), saved as PNG."""
    if table is None:
        table = vpc_table(result, replicates=n_sim, seed=seed)
    return _save(vpc_figure(result, table), path)
