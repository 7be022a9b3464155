"""Dose transition pathways: BOIN decisions equal the BOIN decision table, the 3+3 the classic
rules, row counts, and the enumerated pathways reproduce the exact 3+3 and the simulator."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.design import (
    BFBOIN,
    BOIN,
    BOIN12,
    CRM,
    TITEBOIN,
    Accrual,
    DoseData,
    ScenarioOutcomes,
    ThreePlusThree,
    decision_table,
    exact_oc_3plus3,
    simulate_oc,
)
from allocart.design.pathways import MAX_PATHWAY_ROWS, cohort_outcomes, dose_transition_pathways
from allocart.errors import DesignError


def test_boin_first_cohort_follows_reference_decision_table():
    """BOIN, target 0.3, cohorts of 3 (docs: shared reference dose-finding.md; lambda_e 0.236,
    lambda_d 0.359, elimination at 3/3): 0/3 escalate, 1/3 stay, 2/3 de-escalate, 3/3 eliminate
    the dose and those above and de-escalate."""
    t = dose_transition_pathways(BOIN(0.3), n_doses=5, cohorts=1, start_dose=2)
    got = t[["cohort_1_dlts", "cohort_1_decision", "cohort_1_next_dose"]].values.tolist()
    assert got == [[0, "escalate", 4], [1, "stay", 3], [2, "de-escalate", 2], [3, "eliminate", 2]]


def _table_action(row: dict, y: int) -> str:
    if row["eliminate_if_dlts_at_least"] is not None and y >= row["eliminate_if_dlts_at_least"]:
        return "eliminate"
    if y <= row["escalate_if_dlts_at_most"]:
        return "escalate"
    if y >= row["deescalate_if_dlts_at_least"]:
        return "de-escalate"
    return "stay"


@pytest.mark.parametrize("target", [0.25, 0.3])
def test_boin_every_decision_equals_decision_table(target):
    """Every decision of three cohorts from the middle of seven doses, wherever the table applies
    (neither end of the dose range nor a dose above an eliminated one)."""
    design = BOIN(target)
    table = {r["n"]: r for r in decision_table(design)}
    t = dose_transition_pathways(design, n_doses=7, cohorts=3, start_dose=3)
    checked = 0
    for rec in t.to_dict("records"):
        eliminated_from = 99
        for i in (1, 2, 3):
            c = f"cohort_{i}_"
            if pd.isna(rec[c + "dose"]):
                break
            dose, n, y = rec[c + "dose"], rec[c + "treated_at_dose"], rec[c + "dlts_at_dose"]
            expected = _table_action(table[n], y)
            if rec[c + "decision"] == "eliminate":
                eliminated_from = min(eliminated_from, dose)
            if 1 < dose < 7 and dose + 1 < eliminated_from and expected != "eliminate":
                assert rec[c + "decision"] == expected, (rec, i)
                step = {"escalate": 1, "stay": 0, "de-escalate": -1}[expected]
                assert rec[c + "next_dose"] == dose + step
                checked += 1
    assert checked > 100


def test_three_plus_three_classic_rules():
    t = dose_transition_pathways(ThreePlusThree(), n_doses=3, cohorts=2)
    rows = {
        (r["cohort_1_dlts"], None if pd.isna(r["cohort_2_dlts"]) else r["cohort_2_dlts"]): r
        for r in t.to_dict("records")
    }
    # 0/3: escalate; then 0/3 escalate, 1/3 stay, >= 2/3 de-escalate to expand dose 1.
    assert rows[0, 0]["cohort_1_decision"] == "escalate" and rows[0, 0]["cohort_2_next_dose"] == 3
    assert rows[0, 1]["cohort_2_decision"] == "stay" and rows[0, 1]["cohort_2_next_dose"] == 2
    for y in (2, 3):
        assert rows[0, y]["cohort_2_decision"] == "de-escalate"
        assert rows[0, y]["cohort_2_next_dose"] == 1
    # 1/3: three more at the same dose; <= 1/6 escalates, >= 2/6 stops with no dose (dose 1).
    assert rows[1, 0]["cohort_1_decision"] == "stay" and rows[1, 0]["cohort_2_dose"] == 1
    assert rows[1, 0]["cohort_2_treated_at_dose"] == 6
    assert rows[1, 0]["cohort_2_decision"] == "escalate"
    for y in (1, 2, 3):
        assert rows[1, y]["cohort_2_decision"] == "stop" and pd.isna(rows[1, y]["selected_dose"])
    # >= 2/3 at the lowest dose: stop, no dose recommended, and the branch ends.
    for y in (2, 3):
        assert rows[y, None]["cohort_1_decision"] == "stop"
        assert pd.isna(rows[y, None]["cohort_1_next_dose"])
    assert len(t) == 4 + 4 + 2


def test_three_plus_three_top_dose_declared_after_six():
    t = dose_transition_pathways(ThreePlusThree(), n_doses=1, cohorts=2)
    r = t[(t.cohort_1_dlts == 0) & (t.cohort_2_dlts == 1)].iloc[0]
    assert r["cohort_1_decision"] == "stay" and r["cohort_2_decision"] == "stop"
    assert r["selected_dose"] == 1


@pytest.mark.parametrize(
    "design",
    [BOIN(0.3), TITEBOIN(0.3), BFBOIN(0.3), CRM(0.3), BOIN12(0.35)],
    ids=lambda d: d.name,
)
def test_rows_are_product_of_outcome_counts(design):
    """From the middle of five doses no design ends within two cohorts, so every outcome pair is
    a row: 4 x 4 DLT counts, or 20 x 20 joint (response, DLT) counts for BOIN12."""
    t = dose_transition_pathways(design, n_doses=5, cohorts=2, start_dose=2)
    per = 20 if isinstance(design, BOIN12) else 4
    assert len(cohort_outcomes(design)) == per
    assert len(t) == per**2
    assert t["pathway"].tolist() == list(range(1, per**2 + 1))
    assert not t["cohort_2_decision"].isna().any()


def test_boin12_outcomes_are_joint_counts():
    outs = cohort_outcomes(BOIN12(0.35, cohort_size=2))
    cells = {
        (o.responses - o.responses_with_dlt, o.responses_with_dlt, o.dlts - o.responses_with_dlt)
        for o in outs
    }
    # Compositions of 2 into four cells: C(5, 3) = 10, all distinct and non-negative.
    assert len(outs) == len(cells) == math.comb(5, 3)
    assert all(min(c) >= 0 and sum(c) <= 2 for c in cells)


def test_three_plus_three_pathways_reproduce_exact_selection():
    """All pathways of a 3-dose 3+3 (at most 6 cohorts), weighted by their probability, give the
    exact selection probabilities of the enumeration in allocart.design.exact (to rounding)."""
    sc = ScenarioOutcomes(p_tox=(0.1, 0.25, 0.45))
    t = dose_transition_pathways(ThreePlusThree(), n_doses=3, cohorts=6, scenario=sc)
    assert t["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    ex = exact_oc_3plus3(ThreePlusThree(), sc)
    for j in range(3):
        p = t.loc[t.selected_dose == j + 1, "probability"].sum()
        assert 100 * p == pytest.approx(ex.selection_pct[j], abs=1e-9)
    assert 100 * t.loc[t.selected_dose.isna(), "probability"].sum() == pytest.approx(
        ex.no_selection_pct, abs=1e-9
    )


def _expected_patients(t: pd.DataFrame, n_doses: int, cohorts: int) -> np.ndarray:
    out = np.zeros(n_doses)
    for i in range(1, cohorts + 1):
        d = t[f"cohort_{i}_dose"]
        n = t[f"cohort_{i}_treated"]
        ok = d.notna()
        np.add.at(out, d[ok].astype(int).to_numpy() - 1, (n[ok] * t.probability[ok]).to_numpy())
    return out


# Trials small enough to enumerate whole: 3 cohorts of 3 on 4 doses (2 for BOIN12: 400 rows).
_SC = ScenarioOutcomes(p_tox=(0.08, 0.2, 0.35, 0.55), p_eff=(0.15, 0.3, 0.45, 0.5))
_SLOW_ACCRUAL = Accrual(per_month=0.01, dlt_window_months=1.0)  # follow-up always complete


@pytest.mark.parametrize(
    ("design", "accrual"),
    [
        (BOIN(0.25, n_cohorts=3), None),
        (TITEBOIN(0.25, n_cohorts=3), _SLOW_ACCRUAL),
        (BFBOIN(0.25, n_cohorts=3, backfill_cap=0), _SLOW_ACCRUAL),
        (CRM(0.25, n_cohorts=3), None),
        (BOIN12(0.35, n_cohorts=2), None),
    ],
    ids=lambda x: getattr(x, "name", "accrual"),
)
def test_enumerated_trial_matches_simulator(design, accrual):
    """A trial of ``n_cohorts`` cohorts enumerated whole: the expected patients per dose (and, for
    designs that name a selection, the selection probabilities) match 20,000 simulated trials on
    the compiled kernels within 4 Monte-Carlo SEs, so the pathways and the simulator take the
    same decisions."""
    k, c, n_sim = 4, design.n_cohorts, 20_000
    t = dose_transition_pathways(design, n_doses=k, cohorts=c, scenario=_SC)
    assert t["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    sim = simulate_oc(design, _SC, n_sim, 7, accrual=accrual)
    exp_n = _expected_patients(t, k, c)
    # Patients per dose are bounded by the trial size: SE <= (c * cohort size) / 2 / sqrt(n).
    se_n = c * design.cohort_size / 2 / math.sqrt(n_sim)
    assert sim.patients_per_dose == pytest.approx(exp_n, abs=4 * se_n)
    if not isinstance(design, BOIN12):
        for j in range(k):
            p = t.loc[t.selected_dose == j + 1, "probability"].sum()
            se = math.sqrt(max(p * (1 - p), 1e-4) / n_sim)
            assert sim.selection_pct[j] / 100 == pytest.approx(p, abs=4 * se)


def test_probability_requires_matching_scenario_and_bad_inputs():
    with pytest.raises(DesignError, match="`scenario`"):
        dose_transition_pathways(BOIN(0.3), 3, 1, scenario=ScenarioOutcomes((0.1, 0.2)))
    with pytest.raises(DesignError, match="`start_dose`"):
        dose_transition_pathways(BOIN(0.3), 3, 1, start_dose=3)
    with pytest.raises(DesignError, match="`cohorts`"):
        dose_transition_pathways(BOIN(0.3), 3, 0)
    with pytest.raises(DesignError, match="`cohorts`"):
        dose_transition_pathways(BOIN12(0.3), 3, 6)
    with pytest.raises(DesignError, match="`n_doses`"):
        dose_transition_pathways(BOIN(0.3), 0, 1)
    assert 20**5 > MAX_PATHWAY_ROWS


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["3+3", "boin", "tite-boin", "bf-boin"]),
    target=st.sampled_from([0.2, 0.25, 0.3]),
    n_doses=st.integers(1, 6),
    cohorts=st.integers(1, 3),
    start=st.integers(0, 5),
)
def test_pathways_are_consistent(name, target, n_doses, cohorts, start):
    """Any design, size and start: each branch's next dose is the dose of its next cohort, doses
    stay in range, and the cumulative counts add the cohorts up."""
    from allocart.design import make_design

    design = make_design(name, target=target)
    start = min(start, n_doses - 1)
    t = dose_transition_pathways(design, n_doses, cohorts, start_dose=start)
    for rec in t.to_dict("records"):
        assert rec["cohort_1_dose"] == start + 1
        for i in range(1, cohorts + 1):
            c = f"cohort_{i}_"
            if pd.isna(rec[c + "dose"]):
                break
            assert 1 <= rec[c + "dose"] <= n_doses
            assert 0 <= rec[c + "dlts"] <= rec[c + "treated"] <= rec[c + "treated_at_dose"]
            if i < cohorts and not pd.isna(rec[c + "next_dose"]):
                assert rec[f"cohort_{i + 1}_dose"] == rec[c + "next_dose"]


def test_pathways_from_data_continue_the_pathways_from_the_start():
    """Given the data of a first cohort (0/3 at dose 1, BOIN escalates to dose 2), the pathways of
    the next cohort are the second-cohort branches of the pathways from the start."""
    design = BOIN(0.25)
    full = dose_transition_pathways(design, n_doses=4, cohorts=2)
    branch = full[full.cohort_1_dlts == 0].reset_index(drop=True)
    data = DoseData(treated=(3, 0, 0, 0), dlts=(0, 0, 0, 0))
    cont = dose_transition_pathways(design, n_doses=4, cohorts=1, start_dose=1, data=data)
    for col in ("dose", "dlts", "treated_at_dose", "dlts_at_dose", "decision", "next_dose"):
        assert cont[f"cohort_1_{col}"].tolist() == branch[f"cohort_2_{col}"].tolist()


def test_pathways_from_data_use_cumulative_counts_and_n_cohorts():
    """1/3 then the next cohort at the same dose: decisions on 6 patients (decision table row
    n = 6); with n_cohorts = 2 the trial ends after it and selects by isotonic regression."""
    data = DoseData(treated=(3, 3, 0), dlts=(0, 1, 0))
    t = dose_transition_pathways(BOIN(0.3), n_doses=3, cohorts=1, start_dose=1, data=data)
    row6 = {r["n"]: r for r in decision_table(BOIN(0.3))}[6]
    for rec in t.to_dict("records"):
        assert rec["cohort_1_treated_at_dose"] == 6
        assert rec["cohort_1_decision"] == _table_action(row6, rec["cohort_1_dlts_at_dose"])
    short = BOIN(0.3, n_cohorts=2)
    data1 = DoseData(treated=(3, 0, 0), dlts=(0, 0, 0))
    t = dose_transition_pathways(short, n_doses=3, cohorts=1, start_dose=1, data=data1)
    assert set(t.cohort_1_decision) == {"end"}
    assert t.selected_dose.tolist() == [
        short.select(DoseData((3, 3, 0), (0, y, 0))) + 1 for y in range(4)
    ]


def test_pathways_from_data_refuse_pending_and_other_sizes():
    with pytest.raises(DesignError, match="`data`"):
        dose_transition_pathways(
            BOIN(0.3), 3, 1, data=DoseData((3, 0, 0), (0, 0, 0), pending=(1, 0, 0))
        )
    with pytest.raises(DesignError, match="`data`"):
        dose_transition_pathways(BOIN(0.3), 3, 1, data=DoseData((3, 0), (0, 0)))
