"""A test-only cohort stand-in whose outcomes depend on the typical values it is given.

It wraps :func:`tests.trial.fake_cohort.fake_simulate_cohort` (fixed per-dose probabilities) and
makes the DLT probability, B-cell aplasia and CAR-T persistence scale with the rejection hazard
``k_Trej`` and DORIS remission with ``nu_a``, so that tests of the nested study and of the
sensitivity analysis see parameter effects of known direction without the mechanistic model's
cost. ``k_NKrej`` has no effect (a parameter the analysis must find inert).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.trial.fake_cohort import FAKE_DLT, _rank, fake_simulate_cohort

#: Typical values of the parameters the stand-in reads.
K_TREJ, NU_A = 0.2, 0.007


def fake_uncertain_cohort(product, dose, ld, n, seed, *, model_overrides=None, **kw):
    keep = ("months", "dlt_window_days", "dlt_rules", "progress", "timecourse_ids")
    keep += ("gcsf_from_day", "visit_days")
    res = fake_simulate_cohort(product, dose, ld, n, seed, **{k: kw[k] for k in keep if k in kw})
    over = dict(model_overrides or {})
    k = float(over.get("k_Trej", K_TREJ))
    nu = float(over.get("nu_a", NU_A))
    u = np.random.default_rng([seed, 7]).random((n, 3))
    df = res.patients.copy()
    p_dlt = min(FAKE_DLT[_rank(dose)] * (K_TREJ / k) ** 1.5, 0.95)
    df["dlt"] = u[:, 0] < p_dlt
    df["dlt_day"] = np.where(df["dlt"], 1 + 26 * u[:, 1], np.nan)
    df["b_cell_aplasia_days"] = 60.0 * (K_TREJ / k) * (1 + 0.1 * u[:, 1])
    df["car_t_persistence_days"] = 80.0 * (K_TREJ / k)
    for m in (3, 6):
        if f"doris_m{m}" in df.columns:
            df[f"doris_m{m}"] = u[:, 2] < min(0.5 * (NU_A / nu) ** 0.5, 1.0)
    return dataclasses.replace(res, patients=df)
