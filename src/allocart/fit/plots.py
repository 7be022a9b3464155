"""Goodness-of-fit plots, individual fits with forecast bands, and a visual predictive check.

All figures are matplotlib (Agg backend) written as PNG.

* :func:`plot_gof` -- observed against predicted (posterior point estimates) per read-out on
  log axes, and normalised residuals against time; censored rows drawn at their LLOQ as open
  triangles.
* :func:`plot_individual` -- each patient's data with the posterior median and 90% band of
  the forecast.
* :func:`plot_vpc` -- visual predictive check: the 5th, 50th and 95th percentiles of
  observations simulated from the fitted population (patients drawn from it, the data's own
  doses and weights, residual error and LLOQ censoring added) with the observed data on top.

Reference: Bergstrand M, Hooker AC, Wallin JE, Karlsson MO. Prediction-corrected visual
predictive checks for diagnosing nonlinear mixed-effects models. AAPS J 2011;13:143-151.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from allocart.fit.result import FitResult

__all__ = ["plot_gof", "plot_individual", "plot_vpc", "vpc_bands", "point_predictions"]

_LABEL = {
    "car_t_cells_per_ul": "CAR-T (cells/uL)", "b_cells_per_ul": "B cells (cells/uL)",
    "anti_dsdna_iu_per_ml": "anti-dsDNA (IU/mL)", "transgene_copies_per_ug": "transgene (copies/ug)",
    "c3_g_per_l": "C3 (g/L)", "c4_g_per_l": "C4 (g/L)", "car_pct_of_t": "CAR+ of T (%)",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def point_predictions(result: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of every observation row at each patient's point estimate: (n, n_rows), ok (n,)."""
    import jax
    import jax.numpy as jnp

    from allocart.fit.problem import patient_predictions

    pb = result.problem
    theta = pb.to_theta(result.mode)
    arr = {k: jnp.asarray(v) for k, v in pb.arrays().items()}
    f = jax.jit(jax.vmap(lambda th, a: patient_predictions(th, a, pb)))
    pred, ok = f(jnp.asarray(theta), arr)
    return np.asarray(pred), np.asarray(ok)


def plot_gof(result: FitResult, path: Path) -> Path:
    """Observed vs predicted and normalised residuals vs time, one row per fitted read-out."""
    plt = _plt()
    pb = result.problem
    pred, _ = point_predictions(result)
    err = pb.residual.arrays(pb.observables)
    n_o = len(pb.observables)
    fig, axes = plt.subplots(n_o, 2, figsize=(9, 3.0 * n_o), squeeze=False)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for k, name in enumerate(pb.observables):
        sel = pb.mask & (pb.row_k == k)
        obs, prd, cen, t = pb.value[sel], pred[sel], pb.censored[sel], times[sel]
        ax = axes[k, 0]
        fl = err["floor"][k]
        ax.loglog(prd[~cen] + fl, obs[~cen], "o", ms=3, alpha=0.6, label="quantified")
        if cen.any():
            ax.loglog(prd[cen] + fl, obs[cen], "v", mfc="none", ms=4, color="tab:red", label="below LLOQ (at LLOQ)")
        lo = max(min(np.min(prd + fl), np.min(obs)), 1e-6)
        hi = max(np.max(prd + fl), np.max(obs))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"predicted {_LABEL.get(name, name)}")
        ax.set_ylabel("observed")
        ax.legend(fontsize=7)
        ax = axes[k, 1]
        if err["log"][k] > 0:
            res = (np.log(np.maximum(obs, 1e-300)) - np.log(prd + fl)) / np.sqrt(err["b"][k] ** 2 + (err["a"][k] / (prd + fl)) ** 2)
        else:
            res = (obs - prd) / np.sqrt(err["a"][k] ** 2 + (err["b"][k] * prd) ** 2)
        ax.plot(t[~cen], res[~cen], "o", ms=3, alpha=0.6)
        ax.axhline(0, color="k", lw=0.8)
        for y in (-1.96, 1.96):
            ax.axhline(y, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("day after infusion")
        ax.set_ylabel("normalised residual")
        ax.set_title(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_individual(result: FitResult, bands, path: Path, max_patients: int = 12) -> Path:
    """Data and forecast bands per patient (rows) and read-out (columns)."""
    plt = _plt()
    pb = result.problem
    ids = pb.ids[:max_patients]
    n_o = len(pb.observables)
    fig, axes = plt.subplots(len(ids), n_o, figsize=(3.2 * n_o, 2.4 * len(ids)), squeeze=False)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for i, sid in enumerate(ids):
        for k, name in enumerate(pb.observables):
            ax = axes[i, k]
            b = bands[(bands["id"] == sid) & (bands["observable"] == name)] if len(bands) else bands
            if len(b):
                ax.fill_between(b["day"], b["q05"], b["q95"], alpha=0.3, color="tab:blue", lw=0)
                ax.plot(b["day"], b["q50"], color="tab:blue", lw=1)
            sel = pb.mask[i] & (pb.row_k[i] == k)
            t, v, c = times[i][sel], pb.value[i][sel], pb.censored[i][sel]
            ax.plot(t[~c], v[~c], "ko", ms=3)
            ax.plot(t[c], v[c], "v", color="tab:red", mfc="none", ms=4)
            ax.set_yscale("log")
            if i == 0:
                ax.set_title(_LABEL.get(name, name), fontsize=8)
            if k == 0:
                ax.set_ylabel(sid, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def vpc_bands(result: FitResult, *, n_sim: int = 200, seed: int = 0):
    """Percentiles of simulated observations under the fitted population, at the data's times.

    Virtual patients draw their parameters from the fitted population (typical values and
    omegas; for individual fits the table's prior), take the doses and weight of a randomly
    chosen real patient, and get residual error and censoring at the LLOQs seen in the data.

    Returns
    -------
    dict
        ``{observable: (times, q05, q50, q95)}``.
    """
    from allocart.fit.forecast import simulate_draws

    pb = result.problem
    rng = np.random.default_rng(seed)
    if result.typical is not None and result.omega is not None:
        c, d, _ = result.typical.shape
        pick = rng.integers(0, c * d, size=n_sim)
        mu = pb.to_theta(result.typical.reshape(c * d, -1)[pick])
        om = result.omega.reshape(c * d, -1)[pick]
    else:
        mu = np.tile(pb.prior_mean, (n_sim, 1))
        om = np.tile(pb.prior_sd, (n_sim, 1))
    theta = mu + om * rng.standard_normal(mu.shape)
    who = rng.integers(0, pb.n, size=n_sim)
    times = np.unique(pb.obs_time[pb.obs_time >= 0])
    err = pb.residual.arrays(pb.observables)
    sims = {name: np.full((n_sim, times.size), np.nan) for name in pb.observables}
    for i in np.unique(who):
        rows = np.flatnonzero(who == i)
        obs, status = simulate_draws(result, int(i), pb.to_natural(theta[rows]), times)
        for k, name in enumerate(pb.observables):
            y = obs[name]
            if err["log"][k] > 0:
                f = y + err["floor"][k]
                sd = np.sqrt(err["b"][k] ** 2 + (err["a"][k] / f) ** 2)
                y = f * np.exp(sd * rng.standard_normal(y.shape))
            else:
                sd = np.sqrt(err["a"][k] ** 2 + (err["b"][k] * y) ** 2)
                y = y + sd * rng.standard_normal(y.shape)
            lloq = np.nanmin(np.where(pb.censored & (pb.row_k == k) & pb.mask, pb.value, np.nan)) \
                if (pb.censored & (pb.row_k == k) & pb.mask).any() else np.nan
            if np.isfinite(lloq):
                y = np.where(y < lloq, lloq, y)  # censored simulated values sit at the LLOQ, like the data
            y[status != 0] = np.nan
            sims[name][rows] = y
    out = {}
    for name in pb.observables:
        q = np.nanquantile(sims[name], [0.05, 0.5, 0.95], axis=0)
        out[name] = (times, q[0], q[1], q[2])
    return out


def plot_vpc(result: FitResult, path: Path, *, n_sim: int = 200, seed: int = 0) -> Path:
    """Visual predictive check, one panel per fitted read-out."""
    plt = _plt()
    pb = result.problem
    bands = vpc_bands(result, n_sim=n_sim, seed=seed)
    n_o = len(pb.observables)
    fig, axes = plt.subplots(1, n_o, figsize=(3.6 * n_o, 3.2), squeeze=False)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    for k, name in enumerate(pb.observables):
        ax = axes[0, k]
        t, q05, q50, q95 = bands[name]
        ax.fill_between(t, q05, q95, alpha=0.25, color="tab:green", lw=0, label="simulated 5-95%")
        ax.plot(t, q50, color="tab:green", lw=1.2, label="simulated median")
        sel = pb.mask & (pb.row_k == k)
        tt, v, c = times[sel], pb.value[sel], pb.censored[sel]
        ax.plot(tt[~c], v[~c], "ko", ms=2.5, alpha=0.6, label="observed")
        ax.plot(tt[c], v[c], "v", color="tab:red", mfc="none", ms=3.5, label="below LLOQ")
        ax.set_yscale("log")
        ax.set_xlabel("day after infusion")
        ax.set_title(_LABEL.get(name, name), fontsize=9)
        if k == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
