"""Single-arm cohorts of virtual SLE patients: :func:`simulate_cohort`.

A cohort is drawn from the default refractory-SLE population
(:mod:`allocart.population.covariates`), simulated with the batched engine
(:mod:`allocart.population.virtual`), turned into clinical events by the calibrated link
functions (:mod:`allocart.population.events`), written as clinical records
(:mod:`allocart.population.emit`) and scored by the clinical library
(:mod:`allocart.population.scoring`). :class:`CohortResult` holds one row per patient, optional
daily time courses, the records of every patient and the summary printed by
``allocart cohort --json``.

Example
-------
>>> from allocart.population.cohort import simulate_cohort
>>> res = simulate_cohort("autologous-cd19", "1e6/kg", "flu-cy", n=20, seed=1)  # doctest: +SKIP
>>> res.summary()["doris_m3_rate"]  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocart.clinical.records import PatientRecords
from allocart.model.logistics import Logistics
from allocart.model.scenario import Scenario
from allocart.population.covariates import PopulationError
from allocart.population.emit import patient_records
from allocart.population.events import ClinicalEvents, derive_events
from allocart.population.links import LinkTable, load_links
from allocart.population.schedule import schedule_for
from allocart.population.scoring import Scorers, score_patient
from allocart.population.virtual import VirtualCohort, kinetics, population_table, simulate_virtual
from allocart.population.waiting import plan_waits, wait_outcome
from allocart.stats import rate_interval

__all__ = [
    "CohortResult",
    "simulate_cohort",
    "SUMMARY_KEYS",
    "DLT_REASONS",
    "dlt_reason_flags",
    "summarise",
    "cohort_frame",
]

#: Keys of ``CohortResult.summary()`` (and ``allocart cohort --json``), in issue order: a rate
#: in [0, 1] or a distribution ``{mean, sd, median, p05, p95}``.
SUMMARY_KEYS: tuple[str, ...] = (
    "car_t_tmax_days",
    "car_t_cmax_cells_per_ul",
    "car_t_persistence_days",
    "b_cell_aplasia_onset_days",
    "b_cell_aplasia_days",
    "b_cell_return_days",
    "anti_dsdna_negative_m3_rate",
    "c3_normal_m3_rate",
    "sledai2k_m3",
    "sledai2k_m6",
    "sri4_m3_rate",
    "sri4_m6_rate",
    "lldas_m6_rate",
    "doris_m3_rate",
    "doris_m6_rate",
    "flare_m6_rate",
    "crs_any_rate",
    "crs_grade_ge2_rate",
    "crs_grade_ge3_rate",
    "icans_any_rate",
    "neutropenia_grade_ge3_rate",
    "thrombocytopenia_grade_ge3_rate",
    "gvhd_any_rate",
    "igg_m6_fold_change",
    "dlt_rate",
    "dlt_haematological_rate",
    "dlt_crs_rate",
    "dlt_icans_rate",
    "dlt_infection_rate",
    "dlt_gvhd_rate",
    "dlt_other_rate",
    "serious_infection_rate",
    "anc_below_0p5_days",
)

#: DLT reason categories reported per cohort: the DLT rules of the clinical library, with
#: IEC-HS, death and other non-haematological events under "other".
DLT_REASONS: dict[str, tuple[str, ...]] = {
    "haematological": ("haematological",),
    "crs": ("crs",),
    "icans": ("icans",),
    "infection": ("infection",),
    "gvhd": ("gvhd",),
    "other": ("other", "iec_hs", "death"),
}


def dlt_reason_flags(reasons: Iterable[object], category: str) -> np.ndarray:
    """Whether each patient's ``dlt_reason`` (rules joined by "; ") falls in a reason category."""
    rules = set(DLT_REASONS[category])
    return np.array(
        [bool(rules & set(filter(None, str(r).split("; ")))) for r in reasons], dtype=bool
    )


def distribution(x: np.ndarray) -> dict[str, float | None]:
    """``{mean, sd, median, p05, p95, n}`` of the finite values of ``x`` (None when there are none)."""
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "sd": None, "median": None, "p05": None, "p95": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "median": float(np.median(v)),
        "p05": float(np.percentile(v, 5)),
        "p95": float(np.percentile(v, 95)),
        "n": int(v.size),
    }


def _rate(x: Any) -> float | None:
    v = np.asarray(x, dtype=float)
    return float(v.mean()) if v.size else None


def summarise(patients: pd.DataFrame) -> dict[str, Any]:
    """The cohort summary of a patient table (failed patients left out and counted).

    Each rate ``<name>_rate`` comes with ``<name>_ci95``, its 95% Wilson interval over the
    ``n - n_failed`` patients behind it.

    Rates need the month-3 and month-6 columns; a key whose column is absent (a cohort
    simulated without that month) is None.
    """
    ok = patients[~patients["failed"].astype(bool)]
    out: dict[str, Any] = {}

    def col(name: str) -> np.ndarray | None:
        return ok[name].to_numpy() if name in ok.columns else None

    for key in SUMMARY_KEYS:
        if key.endswith("_rate"):
            base = key[: -len("_rate")]
            if base == "crs_any":
                v = col("crs_grade")
                out[key] = None if v is None else _rate(v >= 1)
            elif base.startswith("crs_grade_ge"):
                g = int(base[-1])
                v = col("crs_grade")
                out[key] = None if v is None else _rate(v >= g)
            elif base == "icans_any":
                v = col("icans_grade")
                out[key] = None if v is None else _rate(v >= 1)
            elif base == "gvhd_any":
                v = col("gvhd_grade")
                out[key] = None if v is None else _rate(v >= 1)
            elif base.startswith("dlt_") and base[4:] in DLT_REASONS:
                v = col("dlt_reason")
                out[key] = None if v is None else _rate(dlt_reason_flags(v, base[4:]))
            elif base in ("neutropenia_grade_ge3", "thrombocytopenia_grade_ge3"):
                v = col(base.replace("_ge3", "_max"))
                out[key] = None if v is None else _rate(v >= 3)
            else:
                v = col(base)
                out[key] = None if v is None else _rate(v.astype(bool))
        else:
            v = col(key)
            out[key] = None if v is None else distribution(v)
    n_ok = int(len(ok))
    for key in SUMMARY_KEYS:
        if key.endswith("_rate") and out[key] is not None:
            out[key[: -len("_rate")] + "_ci95"] = rate_interval(int(round(out[key] * n_ok)), n_ok)
    out["n"] = int(len(patients))
    out["n_failed"] = int(patients["failed"].astype(bool).sum())
    return out


@dataclass(frozen=True)
class CohortResult:
    """A simulated single-arm cohort.

    Attributes
    ----------
    product, dose, ld : str
        The scenario as given.
    n, seed : int
    months : tuple of int
        Endpoint months.
    patients : pandas.DataFrame
        One row per virtual patient (see :func:`cohort_frame` for the columns).
    timecourses : pandas.DataFrame
        Daily time courses of the first ``timecourse_ids`` patients (long format).
    """

    product: str
    dose: str
    ld: str
    n: int
    seed: int
    months: tuple[int, ...]
    patients: pd.DataFrame
    timecourses: pd.DataFrame
    _records: tuple[PatientRecords, ...] = field(repr=False)

    def records(self, i: int) -> PatientRecords:
        """The clinical records of patient ``i`` (0-based), from which its scores were computed."""
        if isinstance(i, bool) or int(i) != i or not 0 <= int(i) < len(self._records):
            raise PopulationError(f"records: patient {i!r} is not in 0..{len(self._records) - 1}")
        return self._records[int(i)]

    def summary(self) -> dict[str, Any]:
        """The ``allocart cohort --json`` summary (:data:`SUMMARY_KEYS` with intervals, ``n``, ``n_failed``, scenario)."""
        out = summarise(self.patients)
        out.update(product=self.product, dose=self.dose, ld=self.ld, seed=self.seed)
        return out

    def _repr_html_(self) -> str:
        """A compact summary table for Jupyter: scenario, then the main rates with 95% intervals."""
        return cohort_html(self)


#: Rows of the notebook table: summary key and label.
_HTML_ROWS: tuple[tuple[str, str], ...] = (
    ("dlt_rate", "DLT"),
    ("crs_any_rate", "CRS, any grade"),
    ("crs_grade_ge3_rate", "CRS, grade >= 3"),
    ("icans_any_rate", "ICANS, any grade"),
    ("serious_infection_rate", "Serious infection"),
    ("sri4_m6_rate", "SRI-4, month 6"),
    ("doris_m3_rate", "DORIS remission, month 3"),
    ("doris_m6_rate", "DORIS remission, month 6"),
    ("lldas_m6_rate", "LLDAS, month 6"),
    ("flare_m6_rate", "Flare by month 6"),
)


def _pct_ci(ci: tuple[float, float] | None) -> str:
    return f" (95% CI {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%)" if ci else ""


def cohort_html(res: CohortResult) -> str:
    """HTML table of a cohort's scenario and main rates (with n and 95% Wilson intervals).

    With time to treatment in the patient table, the share infused and the days from
    enrolment to infusion (median, IQR) come first.
    """
    s = res.summary()
    esc = html.escape
    rows = [
        ("Scenario", f"{esc(res.product)}, {esc(res.dose)}, {esc(res.ld)} (seed {res.seed})"),
        ("Patients", f"{s['n']} ({s['n_failed']} failed)"),
    ]
    p = res.patients
    if "infused" in p.columns and len(p):
        infused = p["infused"].to_numpy(dtype=bool)
        k, n = int(infused.sum()), len(p)
        rows.append(("Infused", f"{k}/{n} = {100 * k / n:.0f}%{_pct_ci(rate_interval(k, n))}"))
        days = p.loc[infused, "enrol_to_infusion_days"].to_numpy(dtype=float)
        if days.size:
            q1, med, q3 = np.percentile(days, [25, 50, 75])
            rows.append(("Enrolment to infusion", f"median {med:.0f} days (IQR {q1:.0f}-{q3:.0f})"))
    n_ok = s["n"] - s["n_failed"]
    for key, label in _HTML_ROWS:
        v = s.get(key)
        if v is None:
            continue
        ci = s.get(key[: -len("_rate")] + "_ci95")
        rows.append((label, f"{100 * v:.0f}%{_pct_ci(ci)}, n = {n_ok}"))
    body = "".join(
        f"<tr><th style='text-align:left'>{esc(a)}</th><td>{b}</td></tr>" for a, b in rows
    )
    return f"<table class='allocart-cohort'><caption>Virtual cohort</caption>{body}</table>"


def cohort_frame(
    vc: VirtualCohort,
    ev: ClinicalEvents,
    kin: Mapping[str, np.ndarray],
    scored: Sequence[Mapping[str, Any]],
    months: Sequence[int],
    links: Mapping[str, float],
) -> pd.DataFrame:
    """One row per patient: covariates, library scores, kinetic and serological read-outs."""
    cov = vc.covariates
    n = vc.n
    cols: dict[str, Any] = {
        "id": np.arange(n),
        "age_years": cov["age_years"],
        "female": cov["female"].astype(bool),
        "weight_kg": cov.weight_kg,
        "bsa_m2": cov.bsa_m2,
        "nephritis": cov["lupus_nephritis"].astype(bool),
        "anti_dsdna_baseline_iu_per_ml": vc.baseline["anti_dsdna_iu_per_ml"],
        "c3_baseline_g_per_l": vc.baseline["c3_g_per_l"],
        "prednisone_baseline_mg_per_day": cov["prednisone_mg_per_day"],
        "cells_infused": vc.cells_infused,
    }
    keys = [
        "sledai2k_baseline",
        "crs_grade",
        "crs_onset_day",
        "icans_grade",
        "icans_onset_day",
        "neutropenia_grade_max",
        "thrombocytopenia_grade_max",
        "infection_grade_max",
        "gvhd_grade",
        "dlt",
        "dlt_day",
        "dlt_reason",
    ]
    for k in keys:
        cols[k] = [s[k] for s in scored]
    cols["serious_infection"] = np.array(
        [s["infection_grade_max"] >= 3 for s in scored], dtype=bool
    )
    # Days with ANC < 0.5 x 10^9/L from the infusion on (NaN for failed patients).
    anc = vc.obs["anc_1e9_per_l"]
    cols["anc_below_0p5_days"] = np.where(
        vc.failed, np.nan, (np.nan_to_num(anc, nan=np.inf) < 0.5).sum(1).astype(float)
    )
    d28 = min(28, anc.shape[1] - 1)
    cols["anc_below_0p5_d28"] = np.where(
        vc.failed, False, np.nan_to_num(anc[:, d28], nan=np.inf) < 0.5
    )
    b_lim = links["b_aplasia_below_per_ul"]
    for m in months:
        day = vc.schedule.month_days[m]
        for k in ("sri4", "doris", "lldas", "flare"):
            cols[f"{k}_m{m}"] = np.array([bool(s[f"{k}_m{m}"]) for s in scored])
        cols[f"sledai2k_m{m}"] = np.array([int(s[f"sledai2k_m{m}"]) for s in scored])
        cols[f"b_cell_aplasia_m{m}"] = vc.obs["b_cells_per_ul"][:, day] < b_lim
        cols[f"anti_dsdna_negative_m{m}"] = (
            vc.obs["anti_dsdna_iu_per_ml"][:, day] <= links["anti_dsdna_uln_iu_per_ml"]
        )
        cols[f"c3_normal_m{m}"] = vc.obs["c3_g_per_l"][:, day] >= links["c3_lln_g_per_l"]
    cols.update({k: v for k, v in kin.items()})
    m6 = vc.schedule.month_days.get(6, 183)
    igg6 = vc.obs["igg_g_per_l"][:, min(m6, vc.obs["igg_g_per_l"].shape[1] - 1)]
    cols["igg_m6_fold_change"] = igg6 / vc.baseline["igg_g_per_l"]
    cols["failed"] = vc.failed.astype(bool)
    df = pd.DataFrame(cols)
    bad = df["failed"].to_numpy()
    if bad.any():
        for m in months:
            for k in ("b_cell_aplasia", "anti_dsdna_negative", "c3_normal"):
                df.loc[bad, f"{k}_m{m}"] = False
    return df


def _timecourses(vc: VirtualCohort, scored: Sequence[Mapping[str, Any]], k: int) -> pd.DataFrame:
    k = min(int(k), vc.n)
    cols = [
        "id",
        "time",
        "car_t_cells_per_ul",
        "b_cells_per_ul",
        "anti_dsdna_iu_per_ml",
        "c3_g_per_l",
        "il6_pg_per_ml",
        "anc_1e9_per_l",
        "platelets_1e9_per_l",
        "sledai2k",
    ]
    if k <= 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    nt = vc.time.size
    frame: dict[str, Any] = {"id": np.repeat(np.arange(k), nt), "time": np.tile(vc.time, k)}
    for c in cols[2:-1]:
        frame[c] = vc.obs[c][:k].reshape(-1)
    sled = np.full((k, nt), np.nan)
    for i in range(k):
        for d, v in scored[i]["sledai2k_by_day"].items():
            if 0 <= d < nt:
                sled[i, d] = v
    frame["sledai2k"] = sled.reshape(-1)
    return pd.DataFrame(frame)


def simulate_cohort(
    product: str,
    dose: str,
    ld: str,
    n: int,
    seed: int,
    *,
    months: tuple[int, ...] = (3, 6),
    dlt_window_days: int = 28,
    dlt_rules: dict | None = None,
    params: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    timecourse_ids: int = 0,
    links: LinkTable | None = None,
    model_overrides: Mapping[str, float] | None = None,
    gcsf_from_day: float | None = None,
    visit_days: Sequence[int] | None = None,
    logistics: Logistics | None = None,
) -> CohortResult:
    """Simulate a single-arm cohort of ``n`` virtual SLE patients and score it.

    Parameters
    ----------
    product : str
        Built-in product (``allocart products``) or a product YAML file.
    dose : str
        ``"3e8"`` (flat cells) or ``"1e6/kg"``.
    ld : str
        Lymphodepletion regimen: ``flu-cy``, ``cy-only``, ``reduced``, ``none`` or a YAML file.
    n : int
        Number of virtual patients.
    seed : int
        Seed; the same seed gives the same patients on every machine.
    months : tuple of int
        Endpoint months (visit day ``round(m * 365.25 / 12)``).
    dlt_window_days : int
        Last day of the DLT window.
    dlt_rules : dict, optional
        Options of the clinical library's DLT standard (``allocart score --list``).
    params : path, optional
        Parameter-override YAML (applied after the calibrated values).
    progress : callable, optional
        ``progress(done, total)`` during the solve.
    timecourse_ids : int
        Keep daily time courses of the first this many patients.
    links : LinkTable, optional
        Link parameters (default: the calibrated table).
    model_overrides : mapping, optional
        Model parameter values applied before ``params`` (used by the calibration).
    gcsf_from_day : float, optional
        Supportive care: G-CSF whenever ANC < ``ANC_gcsf`` (0.5 x 10^9/L) from this day after
        the infusion (e.g. 7); None (default), no G-CSF.
    visit_days : sequence of int, optional
        Post-infusion study visits (days >= 1; a trial protocol's ``schedule_days`` without
        day 0), each endpoint month's day among them. None (default): weeks 2 and 4, months 3,
        6 and 12 and the endpoint months (see :func:`allocart.population.schedule.schedule_for`).
    logistics : Logistics, optional
        Time to treatment (e.g. ``load_product(name).time_to_treatment()``): each patient is
        enrolled a drawn wait before the infusion, the untreated disease flares meanwhile, and
        the patient table gains ``enrol_to_infusion_days``, ``infused``, ``not_infused_reason``,
        ``flares_waiting``, ``sle_activity_lymphodepletion``, ``sle_activity_max_waiting`` and
        ``manufacturing_attempts`` (:mod:`allocart.population.waiting`). None (default): every
        patient is infused at enrolment, as treated, and the table has none of these columns.

    Returns
    -------
    CohortResult

    Raises
    ------
    AllocartError
        On an unknown product or regimen, a malformed dose, bad months, window or DLT rules.
    """
    if (
        isinstance(timecourse_ids, bool)
        or int(timecourse_ids) != timecourse_ids
        or timecourse_ids < 0
    ):
        raise PopulationError(f"timecourse_ids: {timecourse_ids!r} must be a whole number >= 0")
    sched = schedule_for(months, dlt_window_days, visit_days)
    months_t = tuple(sched.month_days)
    scorers = Scorers.create(dlt_window_days, dlt_rules)
    table = population_table(params, model_overrides=model_overrides)
    lk = (links or load_links()).values()
    scenario = Scenario.create(
        product, dose, ld, days=float(sched.horizon_days), gcsf_from_day=gcsf_from_day
    )
    plan = None if logistics is None else plan_waits(scenario, logistics, int(n), int(seed))
    vc = simulate_virtual(
        scenario,
        n,
        seed,
        sched,
        table=table,
        n_flare=int(lk["sledai_flare_descriptors"]),
        progress=progress,
        waiting=plan if plan is not None and plan.has_events else None,
    )
    kin = kinetics(vc, aplasia_below=lk["b_aplasia_below_per_ul"])
    ev = derive_events(vc, lk, kin, scenario.product.gvhd_tcr_residual())
    records = tuple(patient_records(vc, ev, i, lk) for i in range(vc.n))
    scored = [score_patient(r, scorers, sched.month_days) for r in records]
    patients = cohort_frame(vc, ev, kin, scored, months_t, lk)
    if plan is not None:
        waited = wait_outcome(
            plan, vc.pre_time, vc.pre_obs.get("sle_activity"), vc.baseline["sle_activity"]
        )
        for name, values in waited.columns().items():
            patients[name] = values
    return CohortResult(
        product=str(product),
        dose=str(dose),
        ld=str(ld),
        n=vc.n,
        seed=int(seed),
        months=months_t,
        patients=patients,
        timecourses=_timecourses(vc, scored, timecourse_ids),
        _records=records,
    )
