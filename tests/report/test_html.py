"""The report's time-to-treatment and intention-to-treat section (HTML structure and values).

Pools come from the test-only cohort stand-in with the waits and manufacturing outcomes the
products' logistics draw (:mod:`tests.trial.logistics_cohort`): what is tested is that the
section shows the run's own numbers, never a model number.
"""

from __future__ import annotations

import re

import pytest

from allocart.report.html import _itt_outcomes, endpoint_label, render_report
from allocart.trial.intention import itt_table
from allocart.trial.pools import arms_of
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from tests.trial.conftest import small_dict
from tests.trial.logistics_cohort import simulate_cohort_with_logistics


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import allocart.population.cohort as cohort

    d = small_dict(replicates=60)
    d["comparators"] = d["comparators"][:1]  # allogeneic (arm 0) against autologous (arm 1)
    p = protocol_from_dict(d)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cohort, "simulate_cohort", simulate_cohort_with_logistics)
        res = run_trial(
            p, tmp_path_factory.mktemp("itt") / "run", workers=1, progress=False, report=False
        )
    return render_report(p, res.tables), p, res.tables


def _section(page: str) -> str:
    start = page.index("id='intention-to-treat'")
    return page[start : page.index("<h2", start + 10)]


def test_section_sets_the_arms_side_by_side_with_a_figure(report):
    page, p, tables = report
    sec = _section(page)
    assert "id='itt-table'" in sec and 'id="fig-time_to_treatment"' in sec
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/]{500,}', sec)
    labels = [a.label for a in arms_of(p)]
    assert arms_of(p)[1].product.startswith("autologous")
    for label in labels:
        assert label in sec
    # One row per arm and dose level.
    n_rows = sum(len(a.dose_levels) for a in arms_of(p))
    assert sec.count("<tr>") == 2 + n_rows
    for col in _itt_outcomes(p):
        assert endpoint_label(col) in sec


def test_section_shows_the_runs_numbers(report):
    page, p, tables = report
    sec = _section(page)
    labels = {a.index: a.label for a in arms_of(p)}
    itt = itt_table(tables.endpoints, tables.trials, labels, _itt_outcomes(p))
    auto = itt[itt["arm"] == 1].iloc[0]
    wait = (
        f"{auto['enrol_to_infusion_days_median']:.0f} "
        f"({auto['enrol_to_infusion_days_q1']:.0f}–{auto['enrol_to_infusion_days_q3']:.0f})"
    )
    assert wait in sec
    assert f"<td>{100 * auto['infused_share']:.1f}<span class='ci'>" in sec
    assert "<td>7 (7–7)</td>" in sec  # off the shelf: 2 days dispatch + 5 conditioning
    dur = tables.trials.loc[tables.trials["arm"] == 0, "duration_months"].mean()
    assert f"<td>{dur:.1f}</td>" in sec


def test_outcomes_of_the_section_are_the_designs_then_doris_and_sri4():
    p = protocol_from_dict(small_dict())
    got = _itt_outcomes(p)
    assert got[0] == p.response_column and len(got) == 2
    assert got[1].startswith("sri4_m")
