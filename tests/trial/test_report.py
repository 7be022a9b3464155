"""The report's safety section and design statement (HTML structure; the browser test renders it).

Pools come from the test-only cohort stand-in, with and without the infection and neutrophil
columns.
"""

from __future__ import annotations

import functools
import re

import pytest

from allocart.report.figures import figure_ids
from allocart.report.html import _design_endpoint, endpoint_label, render_report
from allocart.trial.pools import arms_of
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort


def _render(tmp_path_factory, infections: bool) -> tuple[str, object]:
    import allocart.population.cohort as cohort

    d = small_dict(replicates=60)
    d["comparators"] = d["comparators"][:1]
    p = protocol_from_dict(d)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            cohort,
            "simulate_cohort",
            functools.partial(fake_simulate_cohort, infections=infections),
        )
        res = run_trial(
            p, tmp_path_factory.mktemp("rep") / "run", workers=1, progress=False, report=False
        )
    return render_report(p, res.tables), p


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return _render(tmp_path_factory, True)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    return _render(tmp_path_factory, False)


def _safety_tables(text: str) -> list[str]:
    return re.findall(r"<table class='safety' id='safety-arm\d+'>.*?</table>", text)


def test_safety_section_has_a_table_and_a_figure_per_arm(full):
    text, p = full
    arms = arms_of(p)
    assert "<h2 id='safety'>Safety per dose</h2>" in text
    section = text[text.index("<h2 id='safety'>") :]
    tables = _safety_tables(section)
    assert len(tables) == len(arms)
    for a, table in zip(arms, tables):
        assert f"id='safety-arm{a.index}'" in table
        for head in (
            "patients in pool (n)",
            "DLT %",
            "DLT by reason, %",
            "haematological",
            "infection",
            "GvHD",
            "other (IEC-HS, death, other)",
            "CRS, %",
            "ICANS, %",
            "≥2",
            "≥3",
            "serious infection (≥3) %",
            "median days ANC &lt; 0.5",
        ):
            assert head in table, head
        body = table.split("</tr>")[2:-1]  # two header rows
        assert len(body) == len(a.dose_levels)
        for row in body:
            assert row.count("<td") == 3 + 1 + 6 + 3 + 2 + 1 + 1
            assert re.search(r"<span class='ci'>\d+/\d+</span>", row)  # DLTs / patients
            assert "<span class='ci'>" in row  # intervals
        assert f'id="fig-dlt_by_reason-arm{a.index}"' in section
    ids = re.findall(r'<figure id="fig-([^"]+)">', text)
    assert sorted(ids) == sorted(figure_ids(len(arms)))


def test_missing_infection_columns_show_as_missing(full, bare):
    for text, has in ((full[0], True), (bare[0], False)):
        for table in _safety_tables(text):
            cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in table.split("</tr>")[2:-1]]
            last_two = [c[-2:] for c in cells]
            assert all((v != "–") == has for pair in last_two for v in pair), last_two


def test_the_report_states_the_efficacy_endpoint_and_supportive_care(full):
    text, p = full
    assert "id='efficacy-endpoint'" in text
    assert "DORIS remission at month 6" in text and "<code>doris_m6</code>" in text
    assert "lowest acceptable rate 0.3" in text
    assert "day 183" in text  # the decision waits for the month-6 assessment
    assert "G-CSF whenever ANC &lt; 0.5 × 10⁹/L from day 7" in text
    # The per-dose table gives the patients behind its rates.
    assert "treated (n)" in text


def test_design_statement_for_a_design_on_dlt_alone():
    d = small_dict()
    d["design"] = {"name": "boin", "target": 0.25}
    d["supportive_care"] = {"gcsf_from_day": None}
    text = _design_endpoint(protocol_from_dict(d))
    assert "doses on DLT alone" in text and "no G-CSF" in text


def test_endpoint_labels():
    assert endpoint_label("doris_m6") == "DORIS remission at month 6"
    assert endpoint_label("sri4_m3") == "SLE Responder Index 4 at month 3"
    assert endpoint_label("b_cell_aplasia_m3").startswith("B cells below")


def test_rates_over_few_patients_are_greyed_with_their_n():
    from allocart.report.html import MIN_RATE_N, _cell_text

    few = _cell_text({"value": 1 / 3, "ci_low": 0.06, "ci_high": 0.79, "n": 3}, 100, 1)
    assert "class='few'" in few and "n=3" in few
    enough = _cell_text({"value": 0.2, "ci_low": 0.1, "ci_high": 0.3, "n": MIN_RATE_N}, 100, 1)
    assert "few" not in enough and "20.0" in enough
