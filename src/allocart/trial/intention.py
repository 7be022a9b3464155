"""Intention-to-treat results: enrolled against infused patients, and the time to treatment.

A trial of a product that must be manufactured for each patient loses patients between
enrolment and infusion (failed manufacture, a severe flare while waiting; see
:mod:`allocart.population.waiting`) and infuses the others weeks later. Counting only the
infused patients hides both. For each arm and dose level, over every eligible virtual patient
of its pool (all of them enrolled), :func:`itt_endpoint_rows` gives rows of the ``endpoints``
table:

* ``infused``: share of the enrolled patients infused (95% Wilson interval, n = enrolled);
  ``not_infused_<reason>`` the share lost to each reason;
* ``enrol_to_infusion_days_median``, ``_q1``, ``_q3``: days from enrolment to infusion of the
  infused patients (median, quartiles);
* ``<endpoint>_enrolled``: the endpoint's rate among the enrolled, a patient not infused
  counting as a non-responder (intention to treat), and ``<endpoint>_infused`` its rate among
  the infused (as treated), each with its n and Wilson interval.

:func:`itt_table` puts them side by side, one row per arm and dose level, with the calendar time
to the trial's answer taken from the ``trials`` table (each replicate's ``duration_months``,
opening to the decision on the last cohort, as the runner computes it) and, when the runner
reports them (columns ``n_enrolled`` and ``n_infused``), the share of the trials' enrolled
patients who were infused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from allocart.model.logistics import NOT_INFUSED_REASONS
from allocart.stats import rate_interval

__all__ = ["itt_endpoint_rows", "itt_table", "ITT_COLUMNS"]

#: Two-sided 95% normal quantile (the ``endpoints`` table's other intervals use the same).

#: Columns of :func:`itt_table` besides the per-endpoint pairs.
ITT_COLUMNS = (
    "arm",
    "arm_label",
    "dose_level",
    "dose",
    "enrolled",
    "infused",
    "infused_share",
    "infused_ci_low",
    "infused_ci_high",
    "enrol_to_infusion_days_median",
    "enrol_to_infusion_days_q1",
    "enrol_to_infusion_days_q3",
    "time_to_answer_months_mean",
    "time_to_answer_months_median",
    "trial_infused_share",
)


def _rate_row(endpoint: str, hits: np.ndarray, n: int) -> dict[str, Any]:
    k = int(np.count_nonzero(hits))
    p = k / n if n else float("nan")
    ci = rate_interval(k, n)
    lo, hi = ci if ci is not None else (float("nan"), float("nan"))
    se = float(np.sqrt(p * (1 - p) / n)) if n else float("nan")
    return {
        "endpoint": endpoint,
        "kind": "rate",
        "value": p,
        "n": n,
        "mc_se": se,
        "ci_low": lo,
        "ci_high": hi,
    }


def _quantile_row(endpoint: str, v: np.ndarray, q: float) -> dict[str, Any]:
    nan = float("nan")
    value = float(np.quantile(v, q)) if v.size else nan
    kind = "median" if q == 0.5 else "quantile"
    return {
        "endpoint": endpoint,
        "kind": kind,
        "value": value,
        "n": int(v.size),
        "mc_se": nan,
        "ci_low": nan,
        "ci_high": nan,
    }


def itt_endpoint_rows(pool: pd.DataFrame, endpoints: Sequence[str]) -> list[dict[str, Any]]:
    """Intention-to-treat rows of one pool's enrolled (eligible) people.

    Parameters
    ----------
    pool : DataFrame
        The eligible rows of a pool, with ``infused``, ``enrol_to_infusion_days`` and
        ``not_infused_reason``.
    endpoints : sequence of str
        Yes/no endpoint columns (e.g. ``doris_m6``).

    Returns
    -------
    list of dict
        ``endpoint, kind, value, n, mc_se, ci_low, ci_high`` (see the module docstring).
    """
    n = len(pool)
    infused = pool["infused"].to_numpy(dtype=bool)
    rows = [_rate_row("infused", infused, n)]
    reason = pool["not_infused_reason"].astype(object).to_numpy()
    rows += [_rate_row(f"not_infused_{r}", reason == r, n) for r in NOT_INFUSED_REASONS]
    wait = pool["enrol_to_infusion_days"].to_numpy(dtype=float)[infused]
    wait = wait[np.isfinite(wait)]
    for name, q in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
        rows.append(_quantile_row(f"enrol_to_infusion_days_{name}", wait, q))
    for col in endpoints:
        if col not in pool.columns:
            continue
        hit = pool[col].to_numpy(dtype=bool)
        rows.append(_rate_row(f"{col}_enrolled", hit & infused, n))
        rows.append(_rate_row(f"{col}_infused", hit[infused], int(infused.sum())))
    return rows


def _trial_stats(trials: pd.DataFrame, arm: int) -> dict[str, float]:
    t = trials[trials["arm"] == arm] if "arm" in trials.columns else trials.iloc[0:0]
    nan = float("nan")
    out = {
        "time_to_answer_months_mean": nan,
        "time_to_answer_months_median": nan,
        "trial_infused_share": nan,
    }
    if "duration_months" in t.columns and len(t):
        d = t["duration_months"].to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        if d.size:
            out["time_to_answer_months_mean"] = float(d.mean())
            out["time_to_answer_months_median"] = float(np.median(d))
    if {"n_enrolled", "n_infused"} <= set(t.columns):
        enrolled = float(t["n_enrolled"].sum())
        if enrolled > 0:
            out["trial_infused_share"] = float(t["n_infused"].sum()) / enrolled
    return out


def itt_table(
    endpoints: pd.DataFrame,
    trials: pd.DataFrame,
    labels: Mapping[int, str],
    outcome_columns: Sequence[str],
) -> pd.DataFrame:
    """Intention-to-treat results side by side, one row per arm and dose level.

    Parameters
    ----------
    endpoints : DataFrame
        The run's ``endpoints`` table (with the rows of :func:`itt_endpoint_rows`).
    trials : DataFrame
        The run's ``trials`` table (``duration_months`` per replicate; ``n_enrolled`` and
        ``n_infused`` when the runner reports them).
    labels : mapping
        Arm index to label.
    outcome_columns : sequence of str
        Endpoints to show as ``<col>_enrolled`` / ``<col>_infused`` pairs (rate and interval).

    Returns
    -------
    DataFrame
        :data:`ITT_COLUMNS`, then ``<col>_enrolled``, ``<col>_enrolled_ci_low``,
        ``<col>_enrolled_ci_high`` and the same for ``_infused``; empty when the run has no
        time-to-treatment rows.
    """
    ep = endpoints[endpoints["endpoint"] == "infused"] if len(endpoints) else endpoints
    if not len(ep):
        return pd.DataFrame(columns=list(ITT_COLUMNS))
    rows = []
    for a, label in labels.items():
        e = endpoints[endpoints["arm"] == a]
        for (lv, dose), g in e.groupby(["dose_level", "dose"], sort=True):
            by = {r["endpoint"]: r for r in g.to_dict("records")}
            inf = by.get("infused")
            if inf is None:
                continue
            n = int(inf["n"])
            row: dict[str, Any] = {
                "arm": a,
                "arm_label": label,
                "dose_level": int(lv),
                "dose": dose,
                "enrolled": n,
                "infused": int(round(float(inf["value"]) * n)),
                "infused_share": float(inf["value"]),
                "infused_ci_low": float(inf["ci_low"]),
                "infused_ci_high": float(inf["ci_high"]),
            }
            for q in ("median", "q1", "q3"):
                r = by.get(f"enrol_to_infusion_days_{q}")
                row[f"enrol_to_infusion_days_{q}"] = float(r["value"]) if r else float("nan")
            row.update(_trial_stats(trials, a))
            for col in outcome_columns:
                for how in ("enrolled", "infused"):
                    r = by.get(f"{col}_{how}")
                    nan = float("nan")
                    row[f"{col}_{how}"] = float(r["value"]) if r else nan
                    row[f"{col}_{how}_n"] = int(r["n"]) if r else 0
                    row[f"{col}_{how}_ci_low"] = float(r["ci_low"]) if r else nan
                    row[f"{col}_{how}_ci_high"] = float(r["ci_high"]) if r else nan
            rows.append(row)
    return pd.DataFrame(rows)
