"""Plots of virtual cohorts and of the calibration (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_cohorts", "plot_calibration"]


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (matplotlib is loaded on demand)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders created, 110 dpi) and close it."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


def plot_cohorts(cohorts: Mapping[str, Any], path: str | Path) -> Path:
    """Compare cohorts (``label -> CohortResult`` with time courses of every patient).

    Panels: median and 10-90% band of CAR-T and B cells in blood and of anti-dsDNA relative to
    baseline over the first year, and the distribution of CAR-T persistence.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for k, (label, res) in enumerate(cohorts.items()):
        colour = f"C{k}"
        tc = res.timecourses
        base = res.patients.set_index("id")["anti_dsdna_baseline_iu_per_ml"]
        tc = tc.assign(
            dsdna_rel=tc["anti_dsdna_iu_per_ml"].to_numpy() / base.reindex(tc["id"]).to_numpy()
        )
        for ax, col, log in (
            (axes[0], "car_t_cells_per_ul", True),
            (axes[1], "b_cells_per_ul", True),
            (axes[2], "dsdna_rel", False),
        ):
            g = tc.groupby("time")[col]
            t = np.asarray(g.median().index)
            ax.plot(t, g.median().to_numpy(), color=colour, label=label)
            ax.fill_between(
                t, g.quantile(0.1).to_numpy(), g.quantile(0.9).to_numpy(), color=colour, alpha=0.12
            )
            if log:
                ax.set_yscale("log")
        pers = res.patients.loc[~res.patients["failed"], "car_t_persistence_days"].to_numpy()
        axes[3].hist(
            pers,
            bins=np.arange(0, 366, 10),
            histtype="step",
            color=colour,
            density=True,
            label=label,
        )
    axes[0].set_ylim(1e-2, 1e3)
    axes[1].set_ylim(1e-2, 1e3)
    axes[1].axhline(1.0, color="grey", lw=0.8, ls=":")
    titles = (
        "CAR-T in blood (cells/µL)",
        "CD19+ B cells (cells/µL)",
        "anti-dsDNA / baseline",
        "CAR-T persistence (days)",
    )
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(
            "days after infusion" if ax is not axes[3] else "last day above the qPCR LLOQ"
        )
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def plot_calibration(
    report: Mapping[str, Any], path: str | Path, ids: Sequence[str] | None = None
) -> Path:
    """Published value or range against the simulated study interval, one row per target."""
    plt = _pyplot()
    rows = [t for t in report["targets"] if ids is None or t["id"] in ids]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1))
    for y, t in enumerate(rows):
        lo, hi = t["study_interval_95"]
        plo, phi = t["published_interval"]
        # rates on their own 0-1 scale; other statistics relative to the largest value shown
        scale = (
            1.0
            if t["statistic"] == "rate"
            else (max(abs(hi), abs(phi), abs(t["simulated"])) or 1.0)
        )
        ax.plot(
            [lo / scale, hi / scale], [y, y], color="C0" if t["passed"] else "C3", lw=4, alpha=0.5
        )
        ax.plot([plo / scale, phi / scale], [y, y], color="k", marker="|", ms=10, lw=1.5)
        ax.plot([t["simulated"] / scale], [y], "o", color="C0" if t["passed"] else "C3", ms=4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([t["id"] for t in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rate, or value / largest of study bound, published bound and simulated value")
    ax.set_title("published (black) vs simulated study interval (bar) and value (dot)", fontsize=9)
    return _save(fig, path)
