"""Jupyter display of a trial run (``RunResult._repr_html_``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from allocart.trial.display import selection_rows
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import allocart.population.cohort as cohort

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cohort, "simulate_cohort", fake_simulate_cohort)
        return run_trial(
            protocol_from_dict(small_dict()),
            tmp_path_factory.mktemp("display") / "run",
            workers=1,
            progress=False,
        )


def _tables(text: str) -> list[list[list[str]]]:
    root = ET.fromstring(text)  # well formed: every value escaped
    return [
        [["".join(c.itertext()) for c in tr] for tr in table.iter("tr")]
        for table in root.iter("table")
    ]


def test_run_html_shows_folder_arms_and_selection_probabilities(result):
    text = result._repr_html_()
    info, arms, selection = _tables(text)
    info = dict(info)
    assert info["Run folder"] == str(result.folder.root)
    assert info["Report"] == str(result.report) and info["Results"] == str(result.results)
    assert info["Replicate trials"] == str(result.manifest["replicates"])
    assert info["Seed"] == str(result.manifest["seed"])
    assert info["Status"] == result.manifest["status"]
    assert [r[0] for r in arms[1:]] == [a["label"] for a in result.manifest["arms"]]
    assert [r[3] for r in arms[1:]] == [
        ", ".join(a["dose_levels"]) for a in result.manifest["arms"]
    ]
    oc = result.tables.operating_characteristics
    sel = oc[oc["metric"] == "selected_pct"]
    none = oc[oc["metric"] == "no_selection_pct"]
    body = selection[1:]
    assert len(body) == len(sel) + len(none)
    for r in sel.itertuples():
        row = next(x for x in body if x[0] == r.arm_label and x[1] == str(int(r.dose_level)))
        assert row[2] == str(r.dose)
        assert row[3] == f"{r.value:.1f}%"
        assert row[4] == f"{r.ci_low:.1f}%–{r.ci_high:.1f}%"
    # per arm, the selection probabilities of its dose levels and of none add up to 100%
    for label in {x[0] for x in body}:
        total = sum(float(x[3].rstrip("%")) for x in body if x[0] == label)
        assert total == pytest.approx(100.0, abs=0.05 * 4)  # four values rounded to 0.1
    assert "<script" not in text


def test_selection_rows_of_an_empty_table():
    import pandas as pd

    assert selection_rows(pd.DataFrame()) == []


def test_dose_columns_give_each_metrics_format_in_the_order_asked():
    from allocart.trial.display import DOSE_METRICS, dose_columns

    assert dose_columns("dlt_rate", "selected_pct") == (
        ("dlt_rate", "DLT %", 100, 1),
        ("selected_pct", "selected %", 1, 1),
    )
    for m, (_, scale, _) in DOSE_METRICS.items():  # rates in percent, the rest as they are
        assert scale == (100 if m.endswith("_rate") else 1)
    with pytest.raises(KeyError):
        dose_columns("no_such_metric")
