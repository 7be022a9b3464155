"""Safety tables: DLT by reason, CRS grade >= 2, serious infection, days of ANC < 0.5, n and 95% CIs.

Pools come from the test-only cohort stand-in, with and without the infection and neutrophil
columns; what is tested is the bookkeeping (per-reason counts, which rows and columns exist,
intervals around the values), never a model number.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from allocart.errors import DesignError
from allocart.trial.pools import arms_of
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from allocart.trial.summary import DLT_REASON_CATEGORIES, wilson_interval
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort
from tests.trial.logistics_cohort import simulate_cohort_with_logistics

REASONS = tuple(DLT_REASON_CATEGORIES)
NEW_RATES = (*(f"dlt_{r}" for r in REASONS), "crs_grade2")
INFECTION_COLUMNS = ("infection_grade_max", "serious_infection", "anc_below_0p5_days")


def _run(out, *, infections: bool, **changes):
    import allocart.population.cohort as cohort

    d = small_dict()
    d.update(changes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            cohort,
            "simulate_cohort",
            functools.partial(fake_simulate_cohort, infections=infections),
        )
        return run_trial(protocol_from_dict(d), out, workers=1, progress=False, report=False)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A run whose pools report infections and neutropenia days."""
    return _run(tmp_path_factory.mktemp("full") / "run", infections=True)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A run whose pools lack the infection and neutropenia columns."""
    return _run(tmp_path_factory.mktemp("bare") / "run", infections=False)


def _categories(reason: str) -> set[str]:
    out = set()
    for rule in filter(None, reason.split("; ")):
        out.add(next((c for c, rules in DLT_REASON_CATEGORIES.items() if rule in rules), "other"))
    return out


def test_categories_cover_the_clinical_rules():
    assert REASONS == ("haematological", "crs", "icans", "infection", "gvhd", "other")
    assert set(DLT_REASON_CATEGORIES["other"]) == {"iec_hs", "other", "death"}
    rules = [r for rs in DLT_REASON_CATEGORIES.values() for r in rs]
    assert len(rules) == len(set(rules))  # each rule in one category


def test_wilson_interval():
    lo, hi = wilson_interval(0.5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(0.0, 20)
    assert lo == 0.0 and 0 < hi < 0.2
    lo, hi = wilson_interval(1.0, 20)
    assert hi == 1.0 and 0.8 < lo < 1
    assert all(np.isnan(wilson_interval(0.3, 0)))


def test_dlt_by_reason_in_operating_characteristics_counts_each_reason(full):
    t = full.tables
    oc = t.operating_characteristics
    pat = t.patients
    for arm in arms_of(protocol_from_dict(small_dict())):
        for lv in range(1, len(arm.dose_levels) + 1):
            at = pat[(pat.arm == arm.index) & (pat.dose_level == lv)]
            rows = oc[(oc.arm == arm.index) & (oc.dose_level == lv)].set_index("metric")
            n = len(at)
            if n == 0:
                assert np.isnan(rows.loc["dlt_crs_rate", "value"])
                continue
            cats = at["dlt_reason"].where(at["dlt"], "").map(_categories)
            assert (cats[at["dlt"]].map(len) >= 1).all()  # every DLT of the stand-in has a reason
            for r in REASONS:
                row = rows.loc[f"dlt_{r}_rate"]
                assert row["n"] == n
                assert row["value"] * n == pytest.approx(cats.map(lambda c, r=r: r in c).sum())
            # A patient counts once per category of their reasons: the per-reason counts add up
            # to the number of (patient, category) pairs, at least the number of DLTs.
            total = sum(rows.loc[f"dlt_{r}_rate", "value"] * n for r in REASONS)
            assert total == pytest.approx(cats.map(len).sum())
            assert total >= rows.loc["dlt_rate", "value"] * n - 1e-9
            assert rows.loc["dlt_rate", "value"] * n == pytest.approx(at["dlt"].sum())


def test_a_patient_with_two_reasons_counts_in_both(full):
    pat = full.tables.patients
    two = pat[pat["dlt_reason"] == "haematological; infection"]
    one_other = pat[pat["dlt_reason"] == "iec_hs; death"]
    assert len(two) and len(one_other)
    oc = full.tables.operating_characteristics
    # Reconstruct the per-reason counts of one level and compare with the table.
    lv = int(two["dose_level"].iloc[0])
    arm = int(two["arm"].iloc[0])
    at = pat[(pat.arm == arm) & (pat.dose_level == lv)]
    rows = oc[(oc.arm == arm) & (oc.dose_level == lv)].set_index("metric")["value"] * len(at)
    reasons = at["dlt_reason"]
    haem = reasons.str.contains("haematological").sum()
    inf = reasons.str.contains("infection").sum()
    other = reasons.isin(["iec_hs; death", "crs; other"]).sum()  # "iec_hs; death" counts once
    assert rows["dlt_haematological_rate"] == pytest.approx(haem)
    assert rows["dlt_infection_rate"] == pytest.approx(inf)
    assert rows["dlt_other_rate"] == pytest.approx(other)


def test_endpoints_hold_the_pool_rates_by_reason_with_n_and_intervals(full):
    ep = full.tables.endpoints
    for col in ("n", "mc_se", "ci_low", "ci_high"):
        assert col in ep.columns
    names = set(ep["endpoint"])
    assert {*NEW_RATES, "serious_infection", "anc_below_0p5_days_median"} <= names
    assert {"dlt", "crs", "crs_grade3", "icans", "icans_grade3"} <= names  # kept
    for _, g in ep.groupby(["arm", "dose_level"]):
        rows = g.set_index("endpoint")
        n = rows.loc["dlt", "n"]
        assert n > 0 and (rows.loc[list(NEW_RATES), "n"] == n).all()
        assert rows.loc["serious_infection", "kind"] == "rate"
        assert rows.loc["anc_below_0p5_days_median", "kind"] == "median"
        rates = rows[rows["kind"] == "rate"]
        assert (
            (rates["ci_low"] <= rates["value"] + 1e-12)
            & (rates["value"] <= rates["ci_high"] + 1e-12)
        ).all()
        assert ((rates["ci_low"] >= 0) & (rates["ci_high"] <= 1)).all()
        for _, r in rates.iterrows():
            assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson_interval(r["value"], r["n"]))
        med = rows.loc["anc_below_0p5_days_median"]
        assert med["ci_low"] <= med["value"] <= med["ci_high"]
        # Any reason means a DLT; the reasons together cover every DLT.
        per_reason = rows.loc[[f"dlt_{r}" for r in REASONS], "value"]
        assert (per_reason <= rows.loc["dlt", "value"] + 1e-12).all()
        assert per_reason.sum() >= rows.loc["dlt", "value"] - 1e-12
        assert (
            rows.loc["crs_grade3", "value"]
            <= rows.loc["crs_grade2", "value"]
            <= rows.loc["crs", "value"]
        )


def test_operating_characteristics_carry_n_and_intervals(full):
    oc = full.tables.operating_characteristics
    for col in ("value", "mc_se", "n", "ci_low", "ci_high"):
        assert col in oc.columns
    reps = small_dict()["simulation"]["replicates"]
    per_dose = oc[oc.dose_level.notna()]
    metrics = set(per_dose["metric"])
    assert {f"{m}_rate" for m in NEW_RATES} | {
        "serious_infection_rate",
        "anc_below_0p5_days_median",
        "dlt_rate",
        "crs_rate",
        "crs_grade3_rate",
    } <= metrics
    sel = per_dose[per_dose.metric == "selected_pct"]
    assert (sel["n"] == reps).all()
    assert ((sel["ci_low"] <= sel["value"]) & (sel["value"] <= sel["ci_high"])).all()
    trial = oc[oc.dose_level.isna()]
    assert (trial["n"] == reps).all()
    rates = per_dose[per_dose.metric.str.endswith("_rate")]
    # Every rate of a level has the same n: the patients the trials treated there.
    for (arm, lv), g in rates.groupby(["arm", "dose_level"]):
        pts = oc[(oc.arm == arm) & (oc.dose_level == lv) & (oc.metric == "patients_mean")]
        assert (g["n"] == round(pts["value"].iloc[0] * reps)).all()
    ok = rates[rates["n"] > 0]
    assert ((ok["ci_low"] <= ok["value"] + 1e-12) & (ok["value"] <= ok["ci_high"] + 1e-12)).all()


def test_patients_table_has_the_infection_columns_when_the_pools_do(full, bare):
    for c in INFECTION_COLUMNS:
        assert c in full.tables.patients.columns
        assert c not in bare.tables.patients.columns
    pat = full.tables.patients
    assert (pat["serious_infection"] == (pat["infection_grade_max"] >= 3)).all()


def test_without_infection_columns_the_run_works_and_leaves_those_rows_out(bare):
    ep = bare.tables.endpoints
    oc = bare.tables.operating_characteristics
    assert "serious_infection" not in set(ep["endpoint"])
    assert "anc_below_0p5_days_median" not in set(ep["endpoint"])
    assert "serious_infection_rate" not in set(oc["metric"])
    assert {f"dlt_{r}" for r in REASONS} <= set(ep["endpoint"])
    assert {f"dlt_{r}_rate" for r in REASONS} <= set(oc["metric"])


def test_serious_infection_falls_back_on_the_infection_grade():
    from allocart.trial.summary import _outcome_values

    df = pd.DataFrame({"infection_grade_max": [0, 2, 3, 4, np.nan]})
    np.testing.assert_array_equal(
        _outcome_values(df, "serious_infection"), [0.0, 0.0, 1.0, 1.0, np.nan]
    )


def test_without_dlt_reason_the_reason_rates_are_missing_not_zero():
    from allocart.trial.summary import _outcome_values

    df = pd.DataFrame({"dlt": [True, False]})
    assert np.isnan(_outcome_values(df, "dlt_crs")).all()
    df = pd.DataFrame({"dlt": [True, False, True], "dlt_reason": ["crs; unknown_rule", "", "gvhd"]})
    assert list(_outcome_values(df, "dlt_crs")) == [1.0, 0.0, 0.0]
    assert list(_outcome_values(df, "dlt_other")) == [1.0, 0.0, 0.0]  # an unknown rule: other
    assert list(_outcome_values(df, "dlt_gvhd")) == [0.0, 0.0, 1.0]


def test_changing_supportive_care_never_reuses_pools(tmp_path):
    root = tmp_path / "run"
    with_gcsf = _run(root, infections=True, supportive_care={"gcsf_from_day": 3})
    with pytest.raises(DesignError, match="holds a run of scenario"):
        _run(root, infections=True, supportive_care={"gcsf_from_day": None})
    import allocart.population.cohort as cohort

    d = small_dict()
    d["supportive_care"] = {"gcsf_from_day": None}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            cohort, "simulate_cohort", functools.partial(fake_simulate_cohort, infections=True)
        )
        without = run_trial(
            protocol_from_dict(d), root, workers=1, progress=False, report=False, fresh=True
        )
    assert not without.resumed
    days = {
        name: r.tables.patients["anc_below_0p5_days"].max()
        for name, r in (("with", with_gcsf), ("without", without))
    }
    assert days["with"] < days["without"]  # the stand-in's neutropenia is shorter with G-CSF


# Intention to treat -----------------------------------------------------------------------------


def test_itt_rows_of_a_pool_count_non_infused_as_non_responders():
    from allocart.trial.intention import itt_endpoint_rows

    pool = pd.DataFrame(
        {
            "infused": [True] * 7 + [False] * 3,
            "enrol_to_infusion_days": [30, 31, 32, 33, 34, 35, 60, 20, 40, 10],
            "not_infused_reason": [None] * 7 + ["flare", "manufacturing_failure", "flare"],
            "doris_m6": [True, True, True, False, False, True, False, True, True, False],
        }
    )
    rows = {r["endpoint"]: r for r in itt_endpoint_rows(pool, ["doris_m6", "absent_m3"])}
    assert rows["infused"]["value"] == 0.7 and rows["infused"]["n"] == 10
    assert (rows["infused"]["ci_low"], rows["infused"]["ci_high"]) == pytest.approx(
        wilson_interval(0.7, 10), abs=1e-9
    )
    assert rows["not_infused_flare"]["value"] == 0.2
    assert rows["not_infused_manufacturing_failure"]["value"] == 0.1
    # Waits of the infused only: 30..35 and 60.
    assert rows["enrol_to_infusion_days_median"]["value"] == 33
    assert rows["enrol_to_infusion_days_q1"]["value"] == 31.5
    assert rows["enrol_to_infusion_days_q3"]["value"] == 34.5
    # Responders among the infused: 4 of 7; among the enrolled: the same 4 of 10 (the two
    # non-infused "responders" count as non-responders).
    assert rows["doris_m6_infused"]["value"] == pytest.approx(4 / 7)
    assert rows["doris_m6_infused"]["n"] == 7
    assert rows["doris_m6_enrolled"]["value"] == pytest.approx(0.4)
    assert rows["doris_m6_enrolled"]["n"] == 10
    assert "absent_m3_enrolled" not in rows


@pytest.fixture(scope="module")
def itt_run(tmp_path_factory):
    import allocart.population.cohort as cohort

    d = small_dict()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cohort, "simulate_cohort", simulate_cohort_with_logistics)
        out = tmp_path_factory.mktemp("itt") / "run"
        return run_trial(protocol_from_dict(d), out, workers=1, progress=False, report=False)


def test_itt_table_sets_the_autologous_arm_beside_the_off_the_shelf_one(itt_run):
    from allocart.trial.intention import itt_table

    tables = itt_run.tables
    protocol = protocol_from_dict(small_dict())
    labels = {a.index: a.label for a in arms_of(protocol)}
    t = itt_table(tables.endpoints, tables.trials, labels, ["doris_m6"])
    assert len(t) == sum(len(a.dose_levels) for a in arms_of(protocol))
    auto = t[t["arm"] == 1]
    allo = t[t["arm"] == 0]
    assert arms_of(protocol)[1].product.startswith("autologous")
    # Off the shelf: everyone infused after dispatch and conditioning (2 + 5 days).
    assert (allo["infused_share"] == 1).all() and (allo["enrol_to_infusion_days_median"] == 7).all()
    # Autologous: weeks of manufacture, a few release failures (5%, two attempts).
    assert (auto["enrol_to_infusion_days_median"] > 30).all()
    assert (auto["enrolled"] == 39).all()  # 40 people, one failed in the stand-in
    # Responders among the enrolled = responders among the infused, in counts.
    for _, r in t.iterrows():
        np.testing.assert_allclose(
            r["doris_m6_enrolled"] * r["enrolled"], r["doris_m6_infused"] * r["infused"]
        )
    # Calendar time to the answer: the runner's per-replicate duration, averaged.
    for a in (0, 1):
        dur = tables.trials.loc[tables.trials["arm"] == a, "duration_months"]
        assert t.loc[t["arm"] == a, "time_to_answer_months_mean"].iloc[0] == pytest.approx(
            dur.mean()
        )


def test_itt_share_matches_the_manufacturing_draws(itt_run):
    from allocart.model.logistics import AutologousSupply, Logistics, draw_logistics

    protocol = protocol_from_dict(small_dict())
    n = protocol.simulation.pool_size
    d = draw_logistics(Logistics(supply=AutologousSupply()), n, protocol.simulation.seed)
    eligible = np.arange(n - 1)  # the stand-in fails its last person in pools over 30
    expected = 1 - d.manufacturing_failed[eligible].mean()
    ep = itt_run.tables.endpoints
    rows = ep[(ep["arm"] == 1) & (ep["endpoint"] == "infused")]
    np.testing.assert_allclose(rows["value"], expected)
    assert (rows["n"] == eligible.size).all()


def test_trials_table_takes_the_runners_calendar_when_the_chunks_carry_it(monkeypatch):
    import dataclasses

    from allocart.trial import replicates, summary

    @dataclasses.dataclass
    class Shared:
        first: int
        person: np.ndarray

    @dataclasses.dataclass
    class PerArm(Shared):
        person_arm: np.ndarray
        counts: np.ndarray

    shared = [Shared(0, np.zeros((2, 3), dtype=int)), Shared(2, np.ones((1, 3), dtype=int))]
    got = summary._arm_array(shared, "person", 1)
    np.testing.assert_array_equal(got, [[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    assert summary._calendar_counts(shared, 0) == {}
    per_arm = [
        PerArm(0, np.zeros((1, 3), dtype=int), np.arange(6).reshape(2, 1, 3), np.ones((2, 1, 2))),
        PerArm(1, np.zeros((1, 3), dtype=int), np.arange(6).reshape(2, 1, 3), np.ones((2, 1, 2))),
    ]
    np.testing.assert_array_equal(summary._arm_array(per_arm, "person", 1), [[3, 4, 5], [3, 4, 5]])
    monkeypatch.setattr(replicates, "COUNT_NAMES", ("n_enrolled", "n_infused"), raising=False)
    counts = summary._calendar_counts(per_arm, 1)
    assert set(counts) == {"n_enrolled", "n_infused"}
    np.testing.assert_array_equal(counts["n_infused"], [1, 1])


def test_autologous_arm_infuses_fewer_and_answers_later(itt_run):
    """Off the shelf vs autologous on the trial calendar: weeks of manufacture make the
    autologous arm reach its answer later (the same design, calendar and outcome stand-in in
    both arms)."""
    cal = itt_run.calendar["calendar"]
    per_arm = cal.groupby("arm")
    duration = per_arm["duration_months"].mean()
    # The autologous wait (median ~38 days against 7 off the shelf) delays every cohort's
    # infusions and so every decision; 18 patients in cohorts of 3 is 6 decisions at least.
    assert duration[1] > duration[0] + 0.5
    trials = itt_run.tables.trials
    assert (trials.loc[trials.arm == 0, "duration_months"] > 0).all()
    # Share of the enrolled who are infused: all off the shelf, no more after manufacture
    # (release failures are rare at the default rates: tests/trial/test_pools.py raises them).
    ep = itt_run.tables.endpoints
    infused = ep[ep.endpoint == "infused"].groupby("arm")["value"].mean()
    assert infused[0] == 1.0
    assert infused[1] <= infused[0]


def test_a_small_lot_stock_lengthens_the_trial(tmp_path):
    """A product given as a YAML file with one lot of 3 doses and 90 days to replenish: after
    each cohort the next waits for a lot, so the trial lasts longer than with the built-in stock
    of 100 doses (the same design, calendar and outcome stand-in)."""
    import allocart.population.cohort as cohort
    from allocart.model import products

    text = (
        products._builtin_dir("products")
        .joinpath("allogeneic-cd19cd20.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "doses_per_lot: 50, lots_in_stock: 2, replenishment_days: 60",
            "doses_per_lot: 3, lots_in_stock: 1, replenishment_days: 90",
        )
    )
    assert "doses_per_lot: 3" in text
    path = tmp_path / "scarce.yaml"
    path.write_text(text.replace("name: allogeneic-cd19cd20", "name: scarce"), encoding="utf-8")
    runs = {}
    for label, product in (("stock", "allogeneic-cd19cd20"), ("scarce", str(path))):
        d = small_dict(replicates=60)
        d["product"], d["comparators"] = product, []
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cohort, "simulate_cohort", simulate_cohort_with_logistics)
            runs[label] = run_trial(
                protocol_from_dict(d), tmp_path / label, workers=1, progress=False, report=False
            )
    dur = {k: r.calendar["calendar"]["duration_months"].mean() for k, r in runs.items()}
    # Six cohorts of three: every cohort after the first waits for a lot (up to 3 months).
    assert dur["scarce"] > dur["stock"] + 3.0
