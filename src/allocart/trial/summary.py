"""Tables of a virtual trial run: trials, patients, cohorts, endpoints, time courses, OCs.

Everything here is computed from the replicate chunks and the pools, deterministically: the same
chunks and pools give the same tables, whatever order the chunks were computed in.

Operating characteristics (table ``operating_characteristics``, long format: one row per arm,
dose level and metric) are, per dose level:

* ``selected_pct``: percent of trials selecting the level;
* ``patients_mean``, ``dlts_mean``: mean number of patients treated, and with a DLT, at the level;
* ``<outcome>_rate``: proportion among all patients treated at the level in all trials: DLT
  (``dlt_rate``) and DLT by reason (``dlt_<reason>_rate``, see :data:`DLT_REASON_CATEGORIES`),
  CRS of any grade, grade >= 2 and grade >= 3, ICANS of any grade and of grade >= 3, serious
  infection (grade >= 3; when the pools report infections), every yes/no endpoint (e.g.
  ``doris_m6_rate``); ``<score>_mean`` for scores (SLEDAI-2K); ``anc_below_0p5_days_median``
  (median days with ANC < 0.5 x 10^9/L; when the pools report it);

and per trial (``dose_level`` null): ``no_selection_pct``, ``sample_size_mean``, ``dlts_mean``,
``early_stop_pct`` (fewer than the maximum sample size), ``duration_months_mean`` (first opening
to the decision on the last cohort) and ``duration_followup_months_mean`` (to the last patient's
last endpoint). Each row carries ``n``, the number behind it (trials for percentages of trials
and means over trials, treated patients for rates, means and medians over patients), its
Monte-Carlo standard error ``mc_se`` (binomial for percentages over trials, ``sd / sqrt(n)`` for
means, binomial over the patients treated for rates, which ignores the clustering of patients in
trials and so slightly understates it; none for medians) and a 95% interval ``ci_low`` ..
``ci_high`` (Wilson for rates and percentages, normal for means, distribution-free order
statistics for medians).

The ``endpoints`` table holds what the model says about each arm and dose level, over the whole
pool of eligible virtual patients (the "true" dose-toxicity and dose-efficacy relations the
trials try to learn): the same outcomes (rates named without the ``_rate`` suffix, e.g. ``dlt``,
``dlt_infection``, ``crs_grade2``, ``serious_infection``), the medians of the CAR-T and B-cell
kinetics and of the days with ANC < 0.5, with ``n``, binomial standard errors and 95% intervals
as above; and, when the pools carry time to treatment, the intention-to-treat rows of
:mod:`allocart.trial.intention` (``infused``, ``enrol_to_infusion_days_median``, each yes/no
endpoint among the enrolled, ``<endpoint>_enrolled``, and among the infused,
``<endpoint>_infused``).

A patient's DLT counts under every reason category one of its rules falls in
(``dlt_reason``: the rules that fired, joined by ``"; "``), so a patient with two reasons counts
in both and the reason rates may add up to more than the DLT rate; they add up to at least the
DLT rate when every DLT records its rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.stats import Z95 as _Z95
from allocart.stats import wilson_interval
from allocart.trial import replicates
from allocart.trial.intention import itt_endpoint_rows
from allocart.trial.pools import PoolKey, arms_of, score_columns, yes_no_columns
from allocart.trial.protocol import DAYS_PER_MONTH, Protocol
from allocart.trial.replicates import ChunkResult, decision_lag_months

__all__ = [
    "TrialTables",
    "build_tables",
    "oc_wide",
    "wilson_interval",
    "TABLES",
    "DLT_REASON_CATEGORIES",
]

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
    "infection_grade_max",
    "serious_infection",
    "anc_below_0p5_days",
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
    "enrol_to_infusion_days",
    "infused",
    "not_infused_reason",
)

#: DLT reason categories reported per dose, each with the clinical DLT rules (``dlt_reason``) it
#: collects; a rule not listed here (a rule the clinical library may add) counts under "other".
DLT_REASON_CATEGORIES: dict[str, tuple[str, ...]] = {
    "haematological": ("haematological",),
    "crs": ("crs",),
    "icans": ("icans",),
    "infection": ("infection",),
    "gvhd": ("gvhd",),
    "other": ("iec_hs", "other", "death"),
}

#: Two-sided 95% normal quantile.


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


def _finite(v: NDArray) -> NDArray[np.float64]:
    v = np.asarray(v, dtype=float)
    return v[np.isfinite(v)]


def _rate_stats(v: NDArray) -> dict[str, float]:
    """Proportion of the finite values, with n, binomial SE and the Wilson interval."""
    f = _finite(v)
    n = f.size
    p = float(f.mean()) if n else float("nan")
    lo, hi = wilson_interval(p, n)
    return {"value": p, "n": n, "mc_se": _binom_se(p, n), "ci_low": lo, "ci_high": hi}


def _mean_stats(v: NDArray) -> dict[str, float]:
    """Mean of the finite values, with n, SD/sqrt(n) and the normal 95% interval."""
    f = _finite(v)
    n = f.size
    m = float(f.mean()) if n else float("nan")
    se = float(f.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"value": m, "n": n, "mc_se": se, "ci_low": m - _Z95 * se, "ci_high": m + _Z95 * se}


def _median_stats(v: NDArray) -> dict[str, float]:
    """Median of the finite values, with n and a distribution-free 95% interval (order statistics)."""
    from scipy.stats import binom

    f = np.sort(_finite(v))
    n = f.size
    if n == 0:
        nan = float("nan")
        return {"value": nan, "n": 0, "mc_se": nan, "ci_low": nan, "ci_high": nan}
    # [x_(r), x_(n-r+1)] covers the median with probability 1 - 2 P(B <= r - 1) >= 95%, B ~ Bin(n, 1/2).
    r = max(int(binom.ppf(0.025, n, 0.5)), 1)
    return {
        "value": float(np.median(f)),
        "n": n,
        "mc_se": float("nan"),
        "ci_low": float(f[r - 1]),
        "ci_high": float(f[n - r]),
    }


_STATS = {"rate": _rate_stats, "mean": _mean_stats, "median": _median_stats}


def _common_columns(pools: dict[PoolKey, pd.DataFrame]) -> set[str]:
    """Columns every pool of the run has."""
    sets = [set(df.columns) for df in pools.values()]
    return set.intersection(*sets) if sets else set()


def _outcomes(protocol: Protocol, columns: set[str] | None = None) -> list[tuple[str, str]]:
    """(metric, how) of the per-patient outcomes summarised per dose.

    Serious infection and the days with ANC < 0.5 are included when the pools report them
    (``columns``: the pools' columns; None: assume they do).
    """
    has = (lambda c: True) if columns is None else columns.__contains__
    out = [("dlt", "rate")]
    out += [(f"dlt_{r}", "rate") for r in DLT_REASON_CATEGORIES]
    out += [
        ("crs", "rate"),
        ("crs_grade2", "rate"),
        ("crs_grade3", "rate"),
        ("icans", "rate"),
        ("icans_grade3", "rate"),
    ]
    if has("serious_infection") or has("infection_grade_max"):
        out.append(("serious_infection", "rate"))
    if has("anc_below_0p5_days"):
        out.append(("anc_below_0p5_days", "median"))
    out += [(c, "rate") for c in yes_no_columns(protocol)]
    out += [(c, "mean") for c in score_columns(protocol)]
    return out


def _metric_name(metric: str, how: str) -> str:
    """Row name of an outcome in the ``operating_characteristics`` table."""
    return f"{metric}_{how}"


def _endpoint_name(metric: str, how: str) -> str:
    """Row name of an outcome in the ``endpoints`` table (rates and means: the bare name)."""
    return f"{metric}_median" if how == "median" else metric


def _numeric(df: pd.DataFrame, column: str) -> NDArray[np.float64]:
    """A column as floats (missing values NaN); all NaN when the pool lacks it."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def _reason_categories(reason: str) -> set[str]:
    """Categories of one ``dlt_reason`` (rules joined by "; "); an unknown rule is "other"."""
    out = set()
    for rule in filter(None, (r.strip() for r in str(reason).split(";"))):
        cat = next((c for c, rules in DLT_REASON_CATEGORIES.items() if rule in rules), "other")
        out.add(cat)
    return out


def _reason_flags(df: pd.DataFrame) -> dict[str, NDArray[np.float64]]:
    """Per patient, 1.0 if a DLT fired for a rule of each category (NaN without ``dlt_reason``)."""
    n = len(df)
    if "dlt_reason" not in df.columns:
        return {c: np.full(n, np.nan) for c in DLT_REASON_CATEGORIES}
    codes, uniques = pd.factorize(df["dlt_reason"].fillna("").astype(str), sort=False)
    table = np.zeros((len(uniques) + 1, len(DLT_REASON_CATEGORIES)))  # last row: code -1
    for i, reason in enumerate(uniques):
        cats = _reason_categories(reason)
        table[i] = [c in cats for c in DLT_REASON_CATEGORIES]
    flags = table[codes] * df["dlt"].to_numpy(dtype=bool)[:, None]
    return {c: flags[:, j] for j, c in enumerate(DLT_REASON_CATEGORIES)}


def _outcome_values(
    df: pd.DataFrame, metric: str, reasons: dict[str, NDArray[np.float64]] | None = None
) -> NDArray[np.float64]:
    """Per-patient values of one outcome (NaN where the pool does not report it)."""
    if metric == "crs":
        return (df["crs_grade"].to_numpy() >= 1).astype(float)
    if metric == "crs_grade2":
        return (df["crs_grade"].to_numpy() >= 2).astype(float)
    if metric == "crs_grade3":
        return (df["crs_grade"].to_numpy() >= 3).astype(float)
    if metric == "icans":
        return (df["icans_grade"].to_numpy() >= 1).astype(float)
    if metric == "icans_grade3":
        return (df["icans_grade"].to_numpy() >= 3).astype(float)
    if metric.startswith("dlt_") and metric[4:] in DLT_REASON_CATEGORIES:
        return (reasons if reasons is not None else _reason_flags(df))[metric[4:]]
    if metric == "serious_infection":
        if "serious_infection" in df.columns:
            return _numeric(df, "serious_infection")
        grade = _numeric(df, "infection_grade_max")
        return np.where(np.isfinite(grade), (grade >= 3).astype(float), np.nan)
    if metric == "anc_below_0p5_days":
        return _numeric(df, metric)
    return df[metric].to_numpy(dtype=float)


def _pool_values(
    df: pd.DataFrame, outcomes: list[tuple[str, str]]
) -> dict[str, NDArray[np.float64]]:
    """Every outcome of every person of one pool (arrays over the pool's rows)."""
    reasons = _reason_flags(df)
    return {m: _outcome_values(df, m, reasons) for m, _ in outcomes}


def _concat(chunks: list[ChunkResult], name: str, arm: int | None = None) -> NDArray:
    arrs = [getattr(c, name) if arm is None else getattr(c, name)[arm] for c in chunks]
    return np.concatenate(arrs, axis=0)


def _arm_array(chunks: list[ChunkResult], name: str, arm: int) -> NDArray:
    """``<name>_arm`` of one arm when the runner gives each arm its own, else the shared one."""
    if all(hasattr(c, f"{name}_arm") for c in chunks):
        return _concat(chunks, f"{name}_arm", arm)
    return _concat(chunks, name)


def _calendar_counts(chunks: list[ChunkResult], arm: int) -> dict[str, NDArray[np.int64]]:
    """Per-trial counts of the runner's calendar (``n_enrolled``, ``n_infused``, ...) if it has them."""
    names = getattr(replicates, "COUNT_NAMES", ())
    if not names or not all(hasattr(c, "counts") for c in chunks):
        return {}
    counts = _concat(chunks, "counts", arm)
    return {n: counts[:, j].astype(np.int64) for j, n in enumerate(names)}


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
    n_trials, n_pat = _concat(chunks, "person").shape
    outcomes = _outcomes(protocol, _common_columns(pools))
    values = {key: _pool_values(df, outcomes) for key, df in pools.items()}
    resp_col = protocol.response_column
    endpoint_cols = [c for ep in protocol.endpoints for c in ep.columns()]
    trials, patients, cohorts, endpoints, tcs, ocs = [], [], [], [], [], []
    for arm in arms_of(protocol):
        a = arm.index
        k = len(arm.dose_levels)
        person, arrival, start = (_arm_array(chunks, n, a) for n in ("person", "arrival", "start"))
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
                metric_vals[m][mask] = values[PoolKey(a, level)][m][pid[mask]]
        from_pool = pd.concat(parts).sort_index()
        dlt_pat = metric_vals["dlt"]
        last_start = start[np.arange(n_trials), np.maximum(n_enrolled - 1, 0)]
        duration = np.where(n_enrolled > 0, last_start + lag, 0.0)
        duration_fu = np.where(n_enrolled > 0, last_start + follow, 0.0)
        if all(hasattr(c, "duration") for c in chunks):  # the runner's own calendar
            duration = _concat(chunks, "duration", a)
        if all(hasattr(c, "followup_end") for c in chunks):
            duration_fu = _concat(chunks, "followup_end", a)
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
                    **_calendar_counts(chunks, a),
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
            base: dict[str, Any] = {
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
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                }
            )
            for m, how in outcomes:
                stats = _STATS[how](values[key_][m][eligible])
                endpoints.append({**base, "endpoint": _endpoint_name(m, how), "kind": how, **stats})
            for m in (
                "car_t_cmax_cells_per_ul",
                "car_t_persistence_days",
                "b_cell_aplasia_days",
                "b_cell_return_days",
            ):
                stats = _median_stats(good[m].to_numpy(dtype=float))
                endpoints.append({**base, "endpoint": f"{m}_median", "kind": "median", **stats})
            if "infused" in good.columns:
                for r in itt_endpoint_rows(good, yes_no_columns(protocol)):
                    endpoints.append({**base, **r})
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

    def row(level: int | None, metric: str, stats: dict[str, float]) -> None:
        rows.append(
            {
                "arm": arm.index,
                "arm_label": arm.label,
                "dose_level": None if level is None else level + 1,
                "dose": None if level is None else arm.dose_levels[level],
                "metric": metric,
                "value": float(stats["value"]),
                "mc_se": float(stats["mc_se"]),
                "n": int(stats["n"]),
                "ci_low": float(stats["ci_low"]),
                "ci_high": float(stats["ci_high"]),
            }
        )

    def pct(v: NDArray[np.bool_]) -> dict[str, float]:
        st = _rate_stats(v)
        return {**st, **{f: 100 * st[f] for f in ("value", "mc_se", "ci_low", "ci_high")}}

    for level in range(k):
        row(level, "selected_pct", pct(sel == level))
        n_at = (dose == level).sum(axis=1)
        mask = lv == level
        y_at = np.bincount(
            np.nonzero(dose >= 0)[0][mask], weights=metric_vals["dlt"][mask], minlength=n_trials
        )
        row(level, "patients_mean", _mean_stats(n_at))
        row(level, "dlts_mean", _mean_stats(y_at))
        for m, how in outcomes:
            row(level, _metric_name(m, how), _STATS[how](metric_vals[m][mask]))

    row(None, "no_selection_pct", pct(sel < 0))
    row(None, "sample_size_mean", _mean_stats(n_enrolled))
    row(None, "dlts_mean", _mean_stats(n_dlt_trial))
    row(None, "early_stop_pct", pct(n_enrolled < n_max))
    row(None, "duration_months_mean", _mean_stats(duration))
    row(None, "duration_followup_months_mean", _mean_stats(duration_fu))
    return rows


def oc_wide(oc: pd.DataFrame, arm: int = 0) -> pd.DataFrame:
    """Per-dose operating characteristics of one arm as a wide table (rows: dose levels)."""
    d = oc[(oc["arm"] == arm) & oc["dose_level"].notna()]
    wide = d.pivot_table(index=["dose_level", "dose"], columns="metric", values="value", sort=False)
    wide = wide.reset_index()
    wide.columns.name = None
    return wide
