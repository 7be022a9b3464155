"""A test-only stand-in for ``simulate_cohort`` with the agreed interface.

It exists to test the runner's mechanics (paths, chunks, storage) without the cost of the
mechanistic model; outcomes are drawn from fixed per-dose probabilities, so tests can compare the
runner with :func:`allocart.design.simulate_oc` on a scenario of known probabilities. The shipped
runner never uses it.

DLTs record one or two rules in ``dlt_reason`` (joined by "; ", as the clinical library does).
With ``infections=True`` the pools also report ``infection_grade_max``, ``serious_infection`` and
``anc_below_0p5_days`` (shorter with G-CSF); without, they lack these columns, as a cohort
simulation that does not report them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

#: DLT and SRI-4 probabilities of the fake, by dose rank (flat cells; per-kg doses scale alike).
FAKE_DLT = {0: 0.05, 1: 0.15, 2: 0.35}
FAKE_RESPONSE = {0: 0.3, 1: 0.5, 2: 0.6}

#: ``dlt_reason`` of a patient with a DLT, by ``floor(8 u)`` of one of the patient's uniforms:
#: single rules, two rules in two categories, and two rules of the one category "other".
FAKE_REASONS = (
    "crs",
    "haematological",
    "haematological; infection",
    "icans",
    "infection",
    "gvhd",
    "iec_hs; death",
    "crs; other",
)


@dataclasses.dataclass(frozen=True)
class FakeCohort:
    patients: pd.DataFrame
    timecourses: pd.DataFrame


def _rank(dose: str) -> int:
    v = float(str(dose).split("/")[0])
    table = {3.0e8: 0, 4.5e8: 1, 6.0e8: 2, 0.5e6: 0, 1e6: 1, 2e6: 2}
    return table.get(v, 1)


def fake_simulate_cohort(
    product,
    dose,
    ld,
    n,
    seed,
    *,
    months=(3, 6),
    dlt_window_days=28,
    dlt_rules=None,
    params=None,
    progress=None,
    timecourse_ids=0,
    gcsf_from_day=None,
    visit_days=None,
    logistics=None,
    infections=False,
):
    r = _rank(dose)
    rng = np.random.default_rng([seed, 99])  # the same people at every dose: common uniforms
    u = rng.random((n, 8))
    shift = {"none": 0.1, "reduced": 0.05}.get(ld, 0.0) + (
        0.05 if product.startswith("autologous") else 0.0
    )
    dlt = u[:, 0] < FAKE_DLT[r]
    crs = np.where(u[:, 1] < 0.6, 1 + (u[:, 1] < 0.1).astype(int), 0)
    icans = (u[:, 2] < 0.1).astype(int)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "age_years": 20 + 30 * u[:, 3],
            "female": u[:, 4] < 0.9,
            "weight_kg": 70.0,
            "bsa_m2": 1.8,
            "nephritis": u[:, 5] < 0.4,
            "sledai2k_baseline": 12,
            "crs_grade": crs,
            "crs_onset_day": np.where(crs > 0, 1 + 5 * u[:, 6], np.nan),
            "icans_grade": icans,
            "icans_onset_day": np.where(icans > 0, 5 + 3 * u[:, 6], np.nan),
            "neutropenia_grade_max": 3,
            "thrombocytopenia_grade_max": 1,
            "gvhd_grade": 0,
            "dlt": dlt,
            "dlt_day": np.where(dlt, 1 + 26 * u[:, 7], np.nan),
            "dlt_reason": np.where(
                dlt, np.asarray(FAKE_REASONS)[(8 * u[:, 5]).astype(int) % 8], ""
            ),
            "car_t_cmax_cells_per_ul": 10.0 * (r + 1),
            "car_t_tmax_days": 9.0,
            "car_t_persistence_days": 40.0,
            "b_cell_aplasia_onset_days": 3.0,
            "b_cell_aplasia_days": 60.0,
            "b_cell_return_days": 90.0,
            "igg_m6_fold_change": 0.9,
            "failed": np.zeros(n, dtype=bool),
        }
    )
    if infections:
        grade = np.select([u[:, 6] < 0.1, u[:, 6] < 0.3], [3, 2], 0)
        df["infection_grade_max"] = grade
        df["serious_infection"] = grade >= 3
        days = np.floor(20 * u[:, 2]) + 4 * r
        df["anc_below_0p5_days"] = (
            days if gcsf_from_day is None else np.minimum(days, gcsf_from_day + 2)
        )
    df.loc[n - 1, "failed"] = n > 30  # one failed person in larger pools: must be excluded
    for m in months:
        resp = u[:, 3] < min(FAKE_RESPONSE[r] + 0.05 * (m == 6) - shift, 1.0)
        df[f"sri4_m{m}"] = resp
        df[f"doris_m{m}"] = resp & (u[:, 4] < 0.5)
        df[f"lldas_m{m}"] = resp & (u[:, 4] < 0.7)
        df[f"b_cell_aplasia_m{m}"] = m == 3
        df[f"anti_dsdna_negative_m{m}"] = resp
        df[f"c3_normal_m{m}"] = resp
        df[f"flare_m{m}"] = ~resp & (u[:, 5] < 0.1)
        df[f"sledai2k_m{m}"] = np.where(resp, 2, 10)
    t = np.arange(0, 184, 1.0)
    rows = []
    for i in range(min(timecourse_ids, n)):
        rows.append(
            pd.DataFrame(
                {
                    "id": i,
                    "time": t,
                    "car_t_cells_per_ul": 1 + 50 * (r + 1) * np.exp(-(((t - 9) / 6) ** 2)),
                    "b_cells_per_ul": 200 * (1 - np.exp(-np.maximum(t - 90, 0) / 30)) + 0.1,
                    "anti_dsdna_iu_per_ml": 200 * np.exp(-t / 60) + 10,
                    "c3_g_per_l": 0.7 + 0.3 * (1 - np.exp(-t / 30)),
                    "il6_pg_per_ml": 5.0,
                    "anc_1e9_per_l": 3.0,
                    "platelets_1e9_per_l": 200.0,
                    "sledai2k": np.where(
                        np.isin(t, [0, 28, 91, 183]), 12 * np.exp(-t / 60), np.nan
                    ),
                }
            )
        )
    tc = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(
            columns=[
                "id",
                "time",
                "car_t_cells_per_ul",
                "b_cells_per_ul",
                "anti_dsdna_iu_per_ml",
                "sledai2k",
            ]
        )
    )
    if progress is not None:
        progress(n, n)
    return FakeCohort(df, tc)
