"""Tables of a virtual trial run: trials, patients, cohorts, endpoints, time courses, OCs.

Everything here is computed from the replicate chunks and the pools, deterministically: the same
chunks and pools give the same tables, whatever order the chunks were computed in.

Operating characteristics (table ``operating_characteristics``, long format: one row per arm,
dose level and metric) are, per dose level:

* ``selected_pct``: percent of trials selecting the level;
* ``patients_mean``, ``dlts_mean``: mean number of patients treated, and with a DLT, at the level;
* ``<outcome>_rate``: proportion among all patients treated at the level in all trials (DLT, CRS
  and ICANS of any grade and of grade >= 3, every yes/no endpoint, e.g. ``sri4_m3_rate``);
  ``<score>_mean`` for scores (SLEDAI-2K);

and per trial (``dose_level`` null): ``no_selection_pct``, ``sample_size_mean``, ``dlts_mean``,
``early_stop_pct`` (fewer than the maximum sample size), ``duration_months_mean`` (first opening
to the decision on the last cohort) and ``duration_followup_months_mean`` (to the last patient's
last endpoint). Each row carries its Monte-Carlo standard error ``mc_se``: binomial for
percentages over trials, ``sd / sqrt(n_trials)`` for means over trials, and binomial over the
patients treated for rates (which ignores the clustering of patients in trials and so slightly
understates it).

The ``endpoints`` table holds what the model says about each arm and dose level, over the whole
pool of eligible virtual patients (the "true" dose-toxicity and dose-efficacy relations the
trials try to learn), with binomial standard errors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.trial.pools import PoolKey, arms_of, score_columns, yes_no_columns
from allocart.trial.protocol import DAYS_PER_MONTH, Protocol
from allocart.trial.replicates import ChunkResult, decision_lag_months

__all__ = ["TrialTables", "build_tables", "oc_wide", "TABLES"]

#: Tables of ``results.duckdb``, in order.
TABLES = ("trials", "patients", "cohorts", "endpoints", "timecourses", "operating_characteristics")

#: Per-patient pool columns copied into the ``patients`` table (besides the endpoints).
_PATIENT_COLUMNS = (
    "dlt",
    "dlt_day",
    "dlt_reason",
    "crs_grade",
    "crs_onset_day",
    "icans_grade",
    "icans_onset_day",
    "gvhd_grade",
    "neutropenia_grade_max",
    "thrombocytopenia_grade_max",
    "age_years",
    "female",
    "weight_kg",
    "nephritis",
    "sledai2k_baseline",
    "car_t_cmax_cells_per_ul",
    "car_t_tmax_days",
    "car_t_persistence_days",
    "b_cell_aplasia_onset_days",
    "b_cell_aplasia_days",
    "b_cell_return_days",
)


@dataclasses.dataclass(frozen=True)
class TrialTables:
    """The six tables of a run (pandas DataFrames)."""

    trials: pd.DataFrame
    patients: pd.DataFrame
    cohorts: pd.DataFrame
    endpoints: pd.DataFrame
    timecourses: pd.DataFrame
    operating_characteristics: pd.DataFrame

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return [(name, getattr(self, name)) for name in TABLES]


def _binom_se(p: float, n: float) -> float:
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 and np.isfinite(p) else float("nan")


def _outcomes(protocol: Protocol) -> list[tuple[str, str]]:
    """(metric, how) of the per-patient outcomes summarised per dose."""
    out = [
        ("dlt", "rate"),
        ("crs", "rate"),
        ("crs_grade3", "rate"),
        ("icans", "rate"),
        ("icans_grade3", "rate"),
    ]
    out += [(c, "rate") for c in yes_no_columns(protocol)]
    out += [(c, "mean") for c in score_columns(protocol)]
    return out


def _outcome_values(df: pd.DataFrame, metric: str) -> NDArray[np.float64]:
    if metric == "crs":
        return (df["crs_grade"].to_numpy() >= 1).astype(float)
    if metric == "crs_grade3":
        return (df["crs_grade"].to_numpy() >= 3).astype(float)
    if metric == "icans":
        return (df["icans_grade"].to_numpy() >= 1).astype(float)
    if metric == "icans_grade3":
        return (df["icans_grade"].to_numpy() >= 3).astype(float)
    return df[metric].to_numpy(dtype=float)


def _concat(chunks: list[ChunkResult], name: str, arm: int | None = None) -> NDArray:
    arrs = [getattr(c, name) if arm is None else getattr(c, name)[arm] for c in chunks]
    return np.concatenate(arrs, axis=0)


def build_tables(
    protocol: Protocol,
    pools: dict[PoolKey, pd.DataFrame],
    timecourses: dict[PoolKey, pd.DataFrame],
    eligible: NDArray[np.int64],
    chunks: list[ChunkResult],
) -> TrialTables:
    """Assemble every table of the run from the pools and the replicate chunks (sorted by trial)."""
    chunks = sorted(chunks, key=lambda c: c.first)
    lag = decision_lag_months(protocol)
    follow = round(protocol.followup_months * DAYS_PER_MONTH) / DAYS_PER_MONTH
    cs = protocol.cohort_size
    person = _concat(chunks, "person")
    arrival = _concat(chunks, "arrival")
    start = _concat(chunks, "start")
    n_trials, n_pat = person.shape
    outcomes = _outcomes(protocol)
    resp_col = protocol.response_column
    endpoint_cols = [c for ep in protocol.endpoints for c in ep.columns()]
    trials, patients, cohorts, endpoints, tcs, ocs = [], [], [], [], [], []
    for arm in arms_of(protocol):
        a = arm.index
        k = len(arm.dose_levels)
        dose = _concat(chunks, "dose", a).astype(np.int64)
        sel = _concat(chunks, "selected", a)
        on = dose >= 0
        n_enrolled = on.sum(axis=1)
        t_idx, p_idx = np.nonzero(on)
        lv = dose[on]
        pid = eligible[person[on]]
        # Per-patient pool values, level by level, put back in patient order.
        wanted = [*_PATIENT_COLUMNS, *endpoint_cols]
        parts = []
        metric_vals = {m: np.empty(t_idx.size) for m, _ in outcomes}
        for level in range(k):
            df = pools[PoolKey(a, level)]
            mask = lv == level
            rows = df.iloc[pid[mask]]
            parts.append(
                rows[[c for c in wanted if c in rows.columns]].set_axis(np.flatnonzero(mask))
            )
            for m, _ in outcomes:
                metric_vals[m][mask] = _outcome_values(rows, m)
        from_pool = pd.concat(parts).sort_index()
        dlt_pat = metric_vals["dlt"]
        last_start = start[np.arange(n_trials), np.maximum(n_enrolled - 1, 0)]
        duration = np.where(n_enrolled > 0, last_start + lag, 0.0)
        duration_fu = np.where(n_enrolled > 0, last_start + follow, 0.0)
        n_dlt_trial = np.bincount(t_idx, weights=dlt_pat, minlength=n_trials)
        trials.append(
            pd.DataFrame(
                {
                    "arm": a,
                    "arm_label": arm.label,
                    "replicate": np.arange(n_trials),
                    "selected_level": sel + 1,
                    "selected_dose": [arm.dose_levels[s] if s >= 0 else "none" for s in sel],
                    "n_patients": n_enrolled,
                    "n_dlts": n_dlt_trial.astype(np.int64),
                    "n_cohorts": n_enrolled // cs,
                    "stopped_early": n_enrolled < protocol.max_sample_size,
                    "duration_months": duration,
                    "duration_followup_months": duration_fu,
                }
            )
        )
        start_m = start[on]
        pat = pd.DataFrame(
            {
                "arm": a,
                "replicate": t_idx,
                "patient": p_idx + 1,
                "cohort": p_idx // cs + 1,
                "dose_level": lv + 1,
                "dose": np.asarray(arm.dose_levels, dtype=object)[lv],
                "person": pid,
                "arrival_month": arrival[on],
                "start_month": start_m,
            }
        )
        pat = pd.concat([pat, from_pool.reset_index(drop=True)], axis=1)
        for name, day_col in (
            ("dlt", "dlt_day"),
            ("crs", "crs_onset_day"),
            ("icans", "icans_onset_day"),
        ):
            pat[f"{name}_month"] = start_m + pat[day_col].astype(float).to_numpy() / DAYS_PER_MONTH
        patients.append(pat)
        # Cohorts: one row per enrolled cohort, with the decision that followed it.
        c_first = np.arange(0, n_pat, cs)
        coh_on = on[:, c_first]
        ct, cc = np.nonzero(coh_on)
        c_level = dose[ct, c_first[cc]]
        pat_cohort = t_idx * (n_pat // cs) + p_idx // cs
        coh_id = ct * (n_pat // cs) + cc
        n_dlt_c = np.bincount(pat_cohort, weights=dlt_pat, minlength=n_trials * (n_pat // cs))[
            coh_id
        ]
        resp_pat = metric_vals[resp_col] if resp_col else np.zeros(t_idx.size)
        n_resp_c = np.bincount(pat_cohort, weights=resp_pat, minlength=n_trials * (n_pat // cs))[
            coh_id
        ]
        # Dose of the next cohort: -1 if the trial stopped, -2 after the last possible cohort.
        has_next = cc + 1 < n_pat // cs
        nxt = np.where(has_next, dose[ct, np.minimum(c_first[cc] + cs, n_pat - 1)], -2)
        action = np.select(
            [nxt == -2, nxt == -1, nxt > c_level, nxt < c_level],
            ["complete", "stop", "escalate", "de-escalate"],
            "stay",
        )
        c_start = start[ct, c_first[cc]]
        c_last = start[ct, np.minimum(c_first[cc] + cs - 1, n_pat - 1)]
        cohorts.append(
            pd.DataFrame(
                {
                    "arm": a,
                    "replicate": ct,
                    "cohort": cc + 1,
                    "dose_level": c_level + 1,
                    "dose": np.asarray(arm.dose_levels, dtype=object)[c_level],
                    "start_month": c_start,
                    "decision_month": c_last + lag,
                    "n": cs,
                    "dlts": n_dlt_c.astype(np.int64),
                    "responses": n_resp_c.astype(np.int64),
                    "next_action": action,
                }
            )
        )
        # Operating characteristics.
        ocs.extend(
            _oc_rows(
                arm,
                sel,
                dose,
                lv,
                metric_vals,
                outcomes,
                n_enrolled,
                n_dlt_trial,
                duration,
                duration_fu,
                protocol.max_sample_size,
            )
        )
        # What the model says per dose level, over the eligible pool.
        for level in range(k):
            key_ = PoolKey(a, level)
            df = pools[key_]
            good = df.iloc[eligible]
            base = {
                "arm": a,
                "arm_label": arm.label,
                "product": arm.product,
                "lymphodepletion": arm.lymphodepletion,
                "dose_level": level + 1,
                "dose": arm.dose_levels[level],
            }
            endpoints.append(
                {
                    **base,
                    "endpoint": "solver_failures",
                    "kind": "count",
                    "value": float(df["failed"].sum()),
                    "n": len(df),
                    "mc_se": 0.0,
                }
            )
            for m, how in outcomes:
                v = _outcome_values(good, m)
                val = float(np.mean(v))
                se = (
                    _binom_se(val, v.size)
                    if how == "rate"
                    else float(np.std(v, ddof=1) / np.sqrt(v.size))
                )
                endpoints.append(
                    {**base, "endpoint": m, "kind": how, "value": val, "n": v.size, "mc_se": se}
                )
            for m in (
                "car_t_cmax_cells_per_ul",
                "car_t_persistence_days",
                "b_cell_aplasia_days",
                "b_cell_return_days",
            ):
                v = good[m].to_numpy(dtype=float)
                endpoints.append(
                    {
                        **base,
                        "endpoint": f"{m}_median",
                        "kind": "median",
                        "value": float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan"),
                        "n": int(np.isfinite(v).sum()),
                        "mc_se": float("nan"),
                    }
                )
            tc = timecourses.get(key_)
            if tc is not None and len(tc):
                tcs.append(tc.assign(arm=a, dose_level=level + 1, dose=arm.dose_levels[level]))
    tc_all = (
        pd.concat(tcs, ignore_index=True)
        if tcs
        else pd.DataFrame(columns=["arm", "dose_level", "dose", "id", "time"])
    )
    if len(tc_all):
        lead = ["arm", "dose_level", "dose", "id", "time"]
        tc_all = tc_all[lead + [c for c in tc_all.columns if c not in lead]]
    return TrialTables(
        trials=pd.concat(trials, ignore_index=True),
        patients=pd.concat(patients, ignore_index=True),
        cohorts=pd.concat(cohorts, ignore_index=True),
        endpoints=pd.DataFrame(endpoints),
        timecourses=tc_all,
        operating_characteristics=pd.DataFrame(ocs),
    )


def _oc_rows(
    arm, sel, dose, lv, metric_vals, outcomes, n_enrolled, n_dlt_trial, duration, duration_fu, n_max
):
    n_trials = sel.size
    k = len(arm.dose_levels)
    rows = []

    def row(level: int | None, metric: str, value: float, se: float) -> None:
        rows.append(
            {
                "arm": arm.index,
                "arm_label": arm.label,
                "dose_level": None if level is None else level + 1,
                "dose": None if level is None else arm.dose_levels[level],
                "metric": metric,
                "value": float(value),
                "mc_se": float(se),
            }
        )

    for level in range(k):
        p = float(np.mean(sel == level))
        row(level, "selected_pct", 100 * p, 100 * _binom_se(p, n_trials))
        n_at = (dose == level).sum(axis=1)
        mask = lv == level
        y_at = np.bincount(
            np.nonzero(dose >= 0)[0][mask], weights=metric_vals["dlt"][mask], minlength=n_trials
        )
        row(
            level,
            "patients_mean",
            n_at.mean(),
            n_at.std(ddof=1) / np.sqrt(n_trials) if n_trials > 1 else np.nan,
        )
        row(
            level,
            "dlts_mean",
            y_at.mean(),
            y_at.std(ddof=1) / np.sqrt(n_trials) if n_trials > 1 else np.nan,
        )
        n_tot = int(mask.sum())
        for m, how in outcomes:
            v = metric_vals[m][mask]
            if n_tot == 0:
                row(level, f"{m}_{how}", np.nan, np.nan)
            elif how == "rate":
                val = float(v.mean())
                row(level, f"{m}_rate", val, _binom_se(val, n_tot))
            else:
                row(
                    level,
                    f"{m}_mean",
                    float(v.mean()),
                    float(v.std(ddof=1) / np.sqrt(n_tot)) if n_tot > 1 else np.nan,
                )

    def trial_mean(metric: str, v: NDArray) -> None:
        v = np.asarray(v, dtype=float)
        row(None, metric, v.mean(), v.std(ddof=1) / np.sqrt(n_trials) if n_trials > 1 else np.nan)

    p_none = float(np.mean(sel < 0))
    row(None, "no_selection_pct", 100 * p_none, 100 * _binom_se(p_none, n_trials))
    trial_mean("sample_size_mean", n_enrolled)
    trial_mean("dlts_mean", n_dlt_trial)
    p_early = float(np.mean(n_enrolled < n_max))
    row(None, "early_stop_pct", 100 * p_early, 100 * _binom_se(p_early, n_trials))
    trial_mean("duration_months_mean", duration)
    trial_mean("duration_followup_months_mean", duration_fu)
    return rows


def oc_wide(oc: pd.DataFrame, arm: int = 0) -> pd.DataFrame:
    """Per-dose operating characteristics of one arm as a wide table (rows: dose levels)."""
    d = oc[(oc["arm"] == arm) & oc["dose_level"].notna()]
    wide = d.pivot_table(index=["dose_level", "dose"], columns="metric", values="value", sort=False)
    wide = wide.reset_index()
    wide.columns.name = None
    return wide
