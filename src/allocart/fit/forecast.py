"""Forecasts per patient from posterior draws: the simulator run on each draw.

For every patient, each posterior draw of the estimated parameters (the other parameters at
their typical values, the patient's own doses and weight) is simulated by the batched engine
(:func:`allocart.model.simulate.solve`) on a daily grid. From the trajectories:

* **CAR-T persistence**: the last day with CAR-T in blood at or above
  :data:`CAR_T_DETECTION` (the flow LLOQ); "beyond the horizon" if still detectable then.
* **B-cell return**: the first day after the nadir with B cells at or above
  :data:`B_RETURN` per uL (model-spec §8.6: reconstitution is the first time after the nadir
  above 1/uL); "beyond the horizon" if they have not returned.
* **anti-dsDNA course**: the posterior median and 90% band of anti-dsDNA on every day.
* **flare by month 12**: the latent SLE activity ``I`` rises by at least
  :data:`FLARE_RISE` above its running minimum within 365 days.

Medians and 90% intervals are quantiles over the draws; probabilities are shares of draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from allocart.fit.result import FitResult
from allocart.model.codegen import (
    derived_function,
    initial_function,
    observables_function,
    parameter_names,
)
from allocart.model.equations import MODEL
from allocart.model.scenario import PatientBatch
from allocart.model.simulate import solve

__all__ = [
    "CAR_T_DETECTION",
    "B_RETURN",
    "FLARE_RISE",
    "FLARE_BY_DAY",
    "Forecast",
    "forecast",
    "simulate_draws",
    "patient_batch",
]

CAR_T_DETECTION = 0.1
"""CAR-T cells/uL regarded as detectable [assumption: flow-cytometry LLOQ, as in allocart.data]."""

B_RETURN = 1.0
"""B cells/uL marking B-cell return [model-spec §8.6: aplasia < 1 cell/uL, assay floor]."""

FLARE_RISE = 0.25
"""Rise of latent SLE activity counted as a flare [assumption: a SELENA-SLEDAI increase of >= 3
points (SFI mild/moderate flare, Buyon 2005) with the model's link clinical SLEDAI = S_clin,0 * I
and a typical baseline clinical SLEDAI S_clin,0 = 12 (model-spec §8.6): 3 / 12 = 0.25]."""

FLARE_BY_DAY = 365.0
"""Flare window: month 12."""

_QUANTILES = (0.05, 0.5, 0.95)


def patient_batch(result: FitResult, i: int, theta_natural: np.ndarray):
    """A :class:`allocart.model.scenario.PatientBatch` of patient ``i`` for each parameter draw.

    ``theta_natural`` has shape (S, k): natural values of the estimated parameters.
    """

    pb = result.problem
    s = theta_natural.shape[0]
    names = pb.table.names
    prim = {n: np.full(s, pb.base[i, j]) for j, n in enumerate(names)}
    for j, p in enumerate(pb.params):
        prim[p.name] = np.asarray(theta_natural[:, j], dtype=float)
    derived = derived_function()(prim)
    allp = {**prim, **derived}
    params = np.stack([allp[n] for n in parameter_names()], axis=1)
    y0 = initial_function()(allp)
    ev: list[tuple[float, int, float]] = []
    i_e, i_m = MODEL.state_index("E"), MODEL.state_index("M")
    f_e0 = float(pb.base[i, names.index("f_E0")])
    for j in range(pb.ev_time.shape[1]):
        t = float(pb.ev_time[i, j])
        for st in np.flatnonzero(pb.ev_drug[i, j]):
            ev.append((t, int(st), float(pb.ev_drug[i, j, st])))
        if pb.ev_cells[i, j] > 0:
            ev.append((t, i_e, f_e0 * float(pb.ev_cells[i, j])))
            ev.append((t, i_m, (1 - f_e0) * float(pb.ev_cells[i, j])))
    ev.sort(key=lambda e: e[0])
    m = len(ev)
    et = np.tile(np.array([e[0] for e in ev]), (s, 1))
    es = np.tile(np.array([e[1] for e in ev], dtype=np.int64), (s, 1))
    eo = np.zeros((s, m), dtype=np.int64)
    evv = np.tile(np.array([e[2] for e in ev]), (s, 1))
    return PatientBatch(
        params=params,
        y0=y0,
        t0=float(pb.t0[i]),
        event_time=et,
        event_state=es,
        event_op=eo,
        event_value=evv,
        weight_kg=np.full(s, pb.weight_kg[i]),
    )


def simulate_draws(result: FitResult, i: int, theta_natural: np.ndarray, days: np.ndarray):
    """Read-outs of patient ``i`` under each draw: ``{observable: (S, n_days)}`` and solver status."""

    batch = patient_batch(result, i, theta_natural)
    res = solve(batch, np.asarray(days, dtype=float))
    obs = observables_function()(res.y, batch.param_dict())
    return obs, np.asarray(res.status)


@dataclass(frozen=True, eq=False)
class Forecast:
    """Forecasts of a cohort.

    Attributes
    ----------
    days : ndarray (n_days,)
    summary : pandas.DataFrame
        One row per patient: persistence and B-cell return (median, q05, q95, probability
        of the event within the horizon), anti-dsDNA at months 1, 3, 6, 12, flare probability.
    bands : pandas.DataFrame
        Long table ``id, day, observable, q05, q50, q95`` of predicted read-outs.
    draws : int
    """

    days: np.ndarray
    summary: pd.DataFrame
    bands: pd.DataFrame
    draws: int
    horizon: float


def _event_day(mask_rows: np.ndarray, days: np.ndarray, first: bool) -> np.ndarray:
    """First or last day where ``mask_rows`` (S, T) is True; NaN if never."""
    any_ = mask_rows.any(axis=1)
    if first:
        idx = np.argmax(mask_rows, axis=1)
    else:
        idx = mask_rows.shape[1] - 1 - np.argmax(mask_rows[:, ::-1], axis=1)
    out = days[idx].astype(float)
    out[~any_] = np.nan
    return out


def _q(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    q = np.quantile(x, _QUANTILES)
    return float(q[0]), float(q[1]), float(q[2])


def forecast(
    result: FitResult, *, horizon: float = 365.0, draws: int = 200, seed: int = 0
) -> Forecast:
    """Forecast every patient of a fit from ``draws`` posterior draws (fewer if fewer exist)."""
    import pandas as pd

    days = np.arange(0.0, float(horizon) + 0.5, 1.0)
    flat = result.flat_theta()
    rng = np.random.default_rng(seed)
    take = rng.choice(flat.shape[0], size=min(draws, flat.shape[0]), replace=False)
    rows, bands = [], []
    for i, sid in enumerate(result.problem.ids):
        th = flat[take, i, :]
        obs, status = simulate_draws(result, i, th, days)
        ok = status == 0
        car = obs["car_t_cells_per_ul"][ok]
        bc = obs["b_cells_per_ul"][ok]
        ab = obs["anti_dsdna_iu_per_ml"][ok]
        act = obs["sle_activity"][ok]
        detect = car >= CAR_T_DETECTION
        persist = _event_day(detect, days, first=False)
        beyond_p = detect[:, -1]
        persist_c = np.where(beyond_p, np.inf, persist)
        nadir = np.argmin(bc, axis=1)
        after = (np.arange(days.size)[None, :] > nadir[:, None]) & (bc >= B_RETURN)
        was_low = bc.min(axis=1) < B_RETURN
        ret = _event_day(after, days, first=True)
        ret = np.where(was_low, ret, 0.0)
        ret_c = np.where(np.isnan(ret), np.inf, ret)
        win = days <= FLARE_BY_DAY
        rise = act[:, win] - np.minimum.accumulate(act[:, win], axis=1)
        flare = rise.max(axis=1) >= FLARE_RISE
        row: dict[str, Any] = {
            "id": sid,
            "draws": int(ok.sum()),
            "failed_draws": int((~ok).sum()),
        }
        for name, x in (("car_t_persistence_day", persist_c), ("b_cell_return_day", ret_c)):
            q = np.quantile(x, _QUANTILES) if x.size else [np.nan] * 3
            row[f"{name}_q05"], row[f"{name}_median"], row[f"{name}_q95"] = (float(v) for v in q)
        row["p_car_t_detectable_at_horizon"] = float(beyond_p.mean()) if beyond_p.size else np.nan
        row["p_b_cells_returned_by_horizon"] = (
            float(np.isfinite(ret_c).mean()) if ret_c.size else np.nan
        )
        for m_, d in (("m1", 30), ("m3", 90), ("m6", 180), ("m12", 365)):
            if d <= horizon:
                (
                    row[f"anti_dsdna_{m_}_q05"],
                    row[f"anti_dsdna_{m_}_median"],
                    row[f"anti_dsdna_{m_}_q95"],
                ) = _q(ab[:, int(d)])
        row["p_flare_by_month_12"] = float(flare.mean()) if flare.size else np.nan
        rows.append(row)
        for name in (
            "car_t_cells_per_ul",
            "b_cells_per_ul",
            "anti_dsdna_iu_per_ml",
            "c3_g_per_l",
            "sle_activity",
        ):
            v = obs[name][ok]
            if v.size == 0:
                continue
            q = np.quantile(v, _QUANTILES, axis=0)
            bands.append(
                pd.DataFrame(
                    {
                        "id": sid,
                        "day": days,
                        "observable": name,
                        "q05": q[0],
                        "q50": q[1],
                        "q95": q[2],
                    }
                )
            )
    # inf in a quantile means "beyond the horizon" (kept as inf: the event did not happen in time)
    summary = pd.DataFrame(rows)
    band = (
        pd.concat(bands, ignore_index=True)
        if bands
        else pd.DataFrame(columns=["id", "day", "observable", "q05", "q50", "q95"])
    )
    return Forecast(
        days=days, summary=summary, bands=band, draws=int(take.size), horizon=float(horizon)
    )
