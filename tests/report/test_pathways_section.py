"""The run report shows the design's dose transition pathways, from the design's own rules."""

from __future__ import annotations

import re

import pytest

from allocart.design import dose_transition_pathways
from allocart.report.html import _pathways_section
from allocart.trial import resolve_protocol


@pytest.mark.parametrize(("scenario", "cohorts"), [("default", 1), ("default-3plus3", 2)])
def test_report_rows_are_the_design_pathways(scenario, cohorts):
    protocol = resolve_protocol(scenario)
    html = _pathways_section(protocol)
    table = dose_transition_pathways(protocol.make_design(), protocol.n_doses, cohorts=cohorts)
    rows = re.findall(r"<tr><td class='l'>(\d+)</td>(.*?)</tr>", html)
    assert len(rows) == len(table)
    decisions = [re.findall(r"<td class='l'>([^<]*)</td>", r[1]) for r in rows]
    col = 3 if "cohort_1_responses" in table else 2  # dose, DLTs / treated, [responses], decision
    assert [d[col] for d in decisions] == list(table["cohort_1_decision"])


def test_three_plus_three_first_cohort_follows_the_classic_rules():
    protocol = resolve_protocol("default-3plus3")
    table = dose_transition_pathways(protocol.make_design(), protocol.n_doses, cohorts=1)
    by_dlts = dict(zip(table["cohort_1_dlts"], table["cohort_1_decision"], strict=True))
    assert by_dlts[0] == "escalate"
    assert by_dlts[1] == "stay"  # three more at the same dose
    assert by_dlts[2] != "escalate" and by_dlts[3] != "escalate"
    html = _pathways_section(protocol)
    assert "<h2>Dose transition pathways</h2>" in html
