"""simulate_cohort: the interface the virtual trial builds on, determinism, one scoring path."""

import math

import numpy as np
import pytest

from allocart.clinical import score
from allocart.errors import AllocartError
from allocart.model.scenario import Scenario
from allocart.population.cohort import SUMMARY_KEYS, simulate_cohort
from allocart.population.events import derive_events, sledai2k_fast
from allocart.population.links import load_links
from allocart.population.schedule import schedule_for
from allocart.population.virtual import kinetics, simulate_virtual

N = 40


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=N, seed=11, timecourse_ids=2)


def test_patient_table_has_the_interface_columns(cohort):
    p = cohort.patients
    # The interface, written out here on purpose: an independent statement of what the trial
    # reads, not the package's own column lists (allocart.trial.summary), which it checks.
    required = [
        "id",
        "age_years",
        "female",
        "weight_kg",
        "bsa_m2",
        "nephritis",
        "sledai2k_baseline",
        "crs_grade",
        "crs_onset_day",
        "icans_grade",
        "icans_onset_day",
        "neutropenia_grade_max",
        "thrombocytopenia_grade_max",
        "gvhd_grade",
        "dlt",
        "dlt_day",
        "dlt_reason",
        "car_t_cmax_cells_per_ul",
        "car_t_tmax_days",
        "car_t_persistence_days",
        "b_cell_aplasia_onset_days",
        "b_cell_aplasia_days",
        "b_cell_return_days",
        "igg_m6_fold_change",
        "failed",
    ]
    for m in (3, 6):
        required += [
            f"{k}_m{m}"
            for k in (
                "sri4",
                "doris",
                "lldas",
                "b_cell_aplasia",
                "anti_dsdna_negative",
                "c3_normal",
                "flare",
                "sledai2k",
            )
        ]
    assert [c for c in required if c not in p.columns] == []
    assert list(p["id"]) == list(range(N))
    assert p["crs_grade"].between(0, 5).all()
    # onset days are NaN exactly when there is no event
    assert (p["crs_onset_day"].isna() == (p["crs_grade"] == 0)).all()
    assert (p["dlt_day"].isna() == ~p["dlt"]).all()
    assert ((p["dlt_reason"] == "") == ~p["dlt"]).all()
    assert p["sledai2k_baseline"].ge(8).all()  # the population's inclusion criterion


def test_summary_keys_are_rates_or_distributions(cohort):
    s = cohort.summary()
    assert [k for k in SUMMARY_KEYS if k not in s] == []
    for k in SUMMARY_KEYS:
        if k.endswith("_rate"):
            assert 0.0 <= s[k] <= 1.0, k
        else:
            assert set(s[k]) >= {"mean", "sd", "median", "p05", "p95"}, k
            assert s[k]["p05"] <= s[k]["median"] <= s[k]["p95"], k


def test_same_seed_same_patients_other_seed_other_patients(cohort):
    again = simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=N, seed=11)
    cols = ["age_years", "crs_grade", "car_t_cmax_cells_per_ul", "sledai2k_m3", "dlt"]
    assert again.patients[cols].equals(cohort.patients[cols])
    other = simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=N, seed=12)
    assert not np.allclose(other.patients["age_years"], cohort.patients["age_years"])


def test_a_patient_does_not_depend_on_cohort_size(cohort):
    small = simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", n=N // 2, seed=11)
    # Patients are drawn in one block per stream, so a smaller cohort is not a prefix; but its
    # draws are reproducible on their own and the first patient's covariates are unchanged.
    assert small.patients["age_years"].iloc[0] == pytest.approx(
        cohort.patients["age_years"].iloc[0]
    )


def test_records_rescore_to_the_reported_values(cohort):
    # One path: scoring the emitted records again with the public API gives the same grades.
    for i in range(3):
        rec = cohort.records(i)
        crs = [r for r in score("crs", rec) if r.item == "worst"][0].value
        assert crs == cohort.patients["crs_grade"].iloc[i]
        s = {r.day: r.value for r in score("sledai2k", rec)}
        assert s[91.0] == cohort.patients["sledai2k_m3"].iloc[i]
    with pytest.raises(AllocartError, match="records"):
        cohort.records(N)


def test_timecourses_of_the_first_patients(cohort):
    tc = cohort.timecourses
    assert set(tc["id"]) == {0, 1}
    # The read-outs written out here on purpose, independent of the cohort's own column list.
    assert {
        "time",
        "car_t_cells_per_ul",
        "b_cells_per_ul",
        "anti_dsdna_iu_per_ml",
        "c3_g_per_l",
        "il6_pg_per_ml",
        "anc_1e9_per_l",
        "platelets_1e9_per_l",
        "sledai2k",
    } <= set(tc.columns)
    visits = tc[(tc["id"] == 0) & tc["sledai2k"].notna()]
    assert list(visits["time"]) == [14, 28, 91, 183, 365]


def test_fast_sledai_matches_the_clinical_library(cohort):
    # The array form used by the calibration search reproduces the library's scores.
    lk = load_links().values()
    sched = schedule_for((3, 6))
    sc = Scenario.create("allogeneic-cd19cd20", "3e8", "flu-cy", days=float(sched.horizon_days))
    vc = simulate_virtual(sc, N, 11, sched, n_flare=int(lk["sledai_flare_descriptors"]))
    ev = derive_events(vc, lk, kinetics(vc), sc.product.gvhd_tcr_residual())
    fast = sledai2k_fast(vc, ev, lk)
    assert list(fast[:, 0]) == list(cohort.patients["sledai2k_baseline"])
    k3 = list(ev.visit_days).index(91)
    assert list(fast[:, k3]) == list(cohort.patients["sledai2k_m3"])
    assert list(ev.crs_grade) == list(cohort.patients["crs_grade"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "^n: 0"),
        ({"seed": -1}, "^seed: -1"),
        ({"months": (0,)}, "months"),
        ({"dlt_window_days": 0}, "dlt_window_days"),
        ({"dlt_rules": {"no_such_rule": 1}}, "dlt_rules"),
        ({"dose": "lots"}, "^dose: cannot read 'lots'"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    args = {
        "product": "autologous-cd19",
        "dose": "1e6/kg",
        "ld": "flu-cy",
        "n": 2,
        "seed": 1,
        **kwargs,
    }
    with pytest.raises(AllocartError, match=match):
        simulate_cohort(**args)


def test_months_argument_sets_endpoint_columns():
    res = simulate_cohort("autologous-cd19", "1e6/kg", "flu-cy", n=4, seed=3, months=(1, 12))
    assert "sri4_m1" in res.patients.columns and "doris_m12" in res.patients.columns
    assert res.summary()["sri4_m3_rate"] is None
    assert not math.isnan(res.patients["sledai2k_m12"].iloc[0])


def test_notebook_table_shows_the_summary(cohort):
    page = cohort._repr_html_()
    s = cohort.summary()
    assert page.startswith("<table") and page.endswith("</table>")
    assert f"{s['n']} ({s['n_failed']} failed)" in page
    lo, hi = s["dlt_ci95"]
    assert f"DLT</th><td>{100 * s['dlt_rate']:.0f}% (95% CI {100 * lo:.0f}-{100 * hi:.0f}%)" in page
    assert "Infused" not in page  # no time to treatment without logistics


def test_notebook_table_shows_who_was_infused():
    from allocart.model.logistics import default_logistics

    res = simulate_cohort(
        "autologous-cd19", "1e6/kg", "flu-cy", 6, 2, logistics=default_logistics("autologous")
    )
    k = int(res.patients["infused"].sum())
    med = float(np.median(res.patients.loc[res.patients["infused"], "enrol_to_infusion_days"]))
    page = res._repr_html_()
    assert f"<td>{k}/6 = " in page and f"median {med:.0f} days" in page
