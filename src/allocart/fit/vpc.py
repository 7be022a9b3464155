"""Visual predictive check as a table: binned observed percentiles against the percentiles of
data sets simulated from the fitted model.

Bins (per read-out, on time after the CAR-T infusion, days): when the read-out was sampled at
no more than ``max_bins`` distinct times (scheduled visits), one bin per time, with edges
halfway between consecutive times; otherwise ``max_bins`` bins holding equal numbers of
observations (edges at quantiles of the observation times, ties merged). The first bin
starts at the earliest and the last ends at the latest observation time.

Each of ``replicates`` simulated data sets repeats the whole study design: every patient's
doses, weight and observation rows, with parameters drawn from the fitted population (one
draw of the typical values and omegas per replicate where the fit has draws of them, which
carries their uncertainty; individual fits use the parameter table's prior), residual error
on the error scale, and values below the read-out's LLOQ set to it, as the data hold
censored rows. Per bin the 5th, 50th and 95th percentiles of each simulated data set are taken,
and the table gives their median and 90% interval across replicates next to the observed
percentiles (censored observations at their LLOQ).

Reference: Bergstrand M, Hooker AC, Wallin JE, Karlsson MO. Prediction-corrected visual
predictive checks for diagnosing nonlinear mixed-effects models. AAPS J 2011;13:143-151.
"""

from __future__ import annotations

import warnings

import numpy as np

from allocart.fit.predictive import (
    RowErrors,
    observable_lloq,
    population_draws,
    row_errors,
    row_predictions,
    to_error_scale,
)
from allocart.fit.residual import FitError
from allocart.fit.result import FitResult

__all__ = [
    "vpc_table",
    "MIN_REPLICATES",
    "time_bins",
    "VPC_COLUMNS",
    "PERCENTILES",
    "DEFAULT_REPLICATES",
    "DEFAULT_MAX_BINS",
]

PERCENTILES = (5, 50, 95)
"""Percentiles of the data compared (per bin)."""

DEFAULT_REPLICATES = 200
"""Simulated data sets."""

DEFAULT_MAX_BINS = 20
"""Most bins per read-out."""

MIN_REPLICATES = 20
"""Fewest simulated data sets accepted for the percentile bands of :func:`vpc_table`."""

VPC_COLUMNS = (
    "observable",
    "unit",
    "bin",
    "time_lo",
    "time_hi",
    "time_mid",
    "n_obs",
    "n_blq",
    "lloq",
    *(f"obs_p{p:02d}" for p in PERCENTILES),
    *(f"sim_p{p:02d}_{s}" for p in PERCENTILES for s in ("median", "lo", "hi")),
    "sim_blq_fraction_median",
)
"""Columns of :func:`vpc_table` (``sim_pXX_lo``/``_hi``: 5th and 95th percentiles across
replicates of the simulated ``XX``-th percentile)."""


def time_bins(times: np.ndarray, max_bins: int = DEFAULT_MAX_BINS) -> np.ndarray:
    """Bin edges (days) of observation ``times`` (see the module docstring).

    Returns
    -------
    ndarray (n_bins + 1,)
        Increasing edges; bin ``b`` holds ``edges[b] <= t < edges[b + 1]`` (the last bin
        includes its upper edge).
    """
    t = np.sort(np.asarray(times, dtype=float))
    if t.size == 0:
        raise FitError("vpc: no observation times to bin")
    distinct = np.unique(t)
    if distinct.size <= max_bins:
        mids = 0.5 * (distinct[1:] + distinct[:-1])
        return np.concatenate([[distinct[0]], mids, [distinct[-1]]])
    edges = np.unique(np.quantile(t, np.linspace(0.0, 1.0, max_bins + 1)))
    return edges if edges.size >= 2 else np.array([t[0], t[-1]])


def _bin_index(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, times, side="right") - 1
    return np.clip(idx, 0, edges.size - 2)


def _simulate(result: FitResult, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Simulated observation rows (replicates, n, n_rows), read-out units, LLOQ applied."""
    pb = result.problem
    n, r = pb.row_t.shape
    mu, om = population_draws(result, replicates, rng)
    errs = row_errors(result)
    lloq = observable_lloq(result)
    sims = np.full((replicates, n, r), np.nan)
    for i in range(n):
        z = rng.standard_normal((replicates, pb.k))
        eps = rng.standard_normal((replicates, r))
        pred, ok = row_predictions(result, i, pb.to_natural(mu + om * z))
        e = RowErrors(errs.log[i], errs.b[i], errs.a[i], errs.floor[i])
        _, hf, sd = to_error_scale(pb.value[i], pred, e)
        h = hf + sd * eps
        with np.errstate(over="ignore"):
            y = np.where(e.log, np.exp(h), h)
        lim = lloq[pb.row_k[i]]
        y = np.where(np.isfinite(lim) & (y < lim), lim, y)
        y[~ok] = np.nan
        sims[:, i, :] = np.where(pb.mask[i], y, np.nan)
    return sims


def vpc_table(
    result: FitResult,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    max_bins: int = DEFAULT_MAX_BINS,
):
    """The VPC table of a fit: one row per read-out and time bin (:data:`VPC_COLUMNS`).

    Parameters
    ----------
    result : FitResult
    replicates : int
        Simulated data sets (at least 20).
    seed : int
        Seed of the simulations.
    max_bins : int
        Most bins per read-out (at least 1).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FitError
        If ``replicates`` or ``max_bins`` is out of range.
    """
    import pandas as pd

    if int(replicates) != replicates or replicates < MIN_REPLICATES:
        raise FitError(
            f"replicates: {replicates!r} must be a whole number of at least {MIN_REPLICATES}",
            argument="replicates",
        )
    if int(max_bins) != max_bins or max_bins < 1:
        raise FitError(
            f"max_bins: {max_bins!r} must be a whole number of at least 1", argument="max_bins"
        )
    pb = result.problem
    rng = np.random.default_rng(seed)
    sims = _simulate(result, int(replicates), rng)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    lloq = observable_lloq(result)
    q = np.asarray(PERCENTILES, dtype=float) / 100.0
    rows = []
    for k, name in enumerate(pb.observables):
        sel = pb.mask & (pb.row_k == k)
        t = times[sel]
        edges = time_bins(t, int(max_bins))
        b_obs = _bin_index(t, edges)
        obs = pb.value[sel]
        cens = pb.censored[sel]
        sim = sims[:, sel]
        for b in range(edges.size - 1):
            in_b = b_obs == b
            if not in_b.any():
                continue
            oq = np.quantile(obs[in_b], q)
            with warnings.catch_warnings():  # a replicate whose solves all failed: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                sq = np.nanquantile(sim[:, in_b], q, axis=1)  # (3, replicates)
            row = {
                "observable": name,
                "unit": pb.residual[name].unit,
                "bin": b + 1,
                "time_lo": float(edges[b]),
                "time_hi": float(edges[b + 1]),
                "time_mid": float(np.median(t[in_b])),
                "n_obs": int(in_b.sum()),
                "n_blq": int(cens[in_b].sum()),
                "lloq": float(lloq[k]),
            }
            for j, p in enumerate(PERCENTILES):
                row[f"obs_p{p:02d}"] = float(oq[j])
                med, lo, hi = np.nanquantile(sq[j], [0.5, 0.05, 0.95])
                row[f"sim_p{p:02d}_median"] = float(med)
                row[f"sim_p{p:02d}_lo"] = float(lo)
                row[f"sim_p{p:02d}_hi"] = float(hi)
            if np.isfinite(lloq[k]):
                frac = np.nanmean(sim[:, in_b] <= lloq[k], axis=1)
                row["sim_blq_fraction_median"] = float(np.nanmedian(frac))
            else:
                row["sim_blq_fraction_median"] = 0.0
            rows.append(row)
    return pd.DataFrame(rows, columns=list(VPC_COLUMNS))
