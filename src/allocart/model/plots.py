"""Plots of simulated patients (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_products"]

_PANELS = (
    ("car_t_cells_per_ul", "CAR-T in blood (cells/µL)", True),
    ("b_cells_per_ul", "CD19+ B cells (cells/µL)", True),
    ("anti_dsdna_iu_per_ml", "anti-dsDNA (IU/mL)", False),
    ("il6_pg_per_ml", "IL-6 (pg/mL)", True),
    ("anc_1e9_per_l", "ANC (×10⁹/L)", True),
    ("igg_g_per_l", "IgG (g/L)", False),
)


def plot_products(sims: Sequence, path: str | Path, *, title: str = "") -> Path:
    """Plot typical-patient (or population median and 90% band) trajectories of several
    simulations side by side and save a PNG.

    Parameters
    ----------
    sims : sequence of Simulation
        One per product or scenario; labelled by product name, dose and regimen.
    path : path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for sim in sims:
        label = f"{sim.scenario.product.name}, {sim.scenario.dose}, {sim.scenario.regimen.name}"
        for ax, (key, ylabel, log) in zip(axes.flat, _PANELS):
            y = sim.observables[key]
            med = np.median(y, axis=0)
            (line,) = ax.plot(sim.time, med, label=label, lw=1.6)
            if y.shape[0] > 1:
                lo, hi = np.percentile(y, [5, 95], axis=0)
                ax.fill_between(sim.time, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
            ax.set_ylabel(ylabel)
            ax.set_xlabel("days after infusion")
            if log:
                ax.set_yscale("log")
    for ax, (_, _, log) in zip(axes.flat, _PANELS):
        if log:
            # show five decades below the highest curve: deeper values are assay noise
            top = ax.dataLim.y1
            ax.set_ylim(max(ax.dataLim.y0, top * 1e-5, 1e-3), top * 2)
    axes.flat[1].axhline(1.0, color="grey", lw=0.8, ls=":")
    axes.flat[0].legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
