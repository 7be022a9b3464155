"""Morris and Sobol stages through the code path that runs the model, on the Ishigami function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allocart.errors import SensitivityError
from allocart.report.sensitivity import write_sensitivity_report
from allocart.sensitivity import (
    Ishigami,
    SensitivitySettings,
    run_sensitivity,
    value_of_information,
)
from allocart.sensitivity.store import SensitivityStore

#: Ishigami (a = 7, b = 0.1) with N = 4096: 20480 evaluations, bootstrap over 500 resamples.
ISHIGAMI = SensitivitySettings(
    sobol_n=4096, sobol_top=3, morris_trajectories=20, resamples=500, batch=4096, seed=11
)


def test_ishigami_indices_within_their_bootstrap_intervals(tmp_path):
    res = run_sensitivity(ISHIGAMI, tmp_path / "i", evaluator=Ishigami(), workers=1, report=None)
    exact = Ishigami().analytic()
    np.testing.assert_allclose(exact["S1"], (0.314, 0.442, 0.0), atol=5e-4)  # the literature's
    np.testing.assert_allclose(exact["ST"], (0.558, 0.442, 0.244), atol=5e-4)
    s = res.sobol.set_index("parameter")
    for j, name in enumerate(("x1", "x2", "x3")):
        for idx in ("S1", "ST"):
            lo, hi = s.loc[name, f"{idx}_low"], s.loc[name, f"{idx}_high"]
            assert lo <= exact[idx][j] <= hi, (name, idx, lo, exact[idx][j], hi)
            assert hi - lo < 0.1  # the interval is informative, not vacuous
    # Morris ranks x1 first (its mu* is the largest in the literature, Campolongo et al. 2007)
    m = res.morris.set_index("parameter")["mu_star"]
    assert m.idxmax() == "x1"


def test_an_interrupted_run_resumes_to_the_same_indices(tmp_path, monkeypatch):
    settings = SensitivitySettings(sobol_n=64, morris_trajectories=10, resamples=50, batch=8)
    full = run_sensitivity(
        settings, tmp_path / "full", evaluator=Ishigami(), workers=1, report=None
    )
    calls = [0]
    real = Ishigami.__call__

    def interrupting(self, u):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(self, u)

    monkeypatch.setattr(Ishigami, "__call__", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run_sensitivity(settings, tmp_path / "cut", evaluator=Ishigami(), workers=1, report=None)
    monkeypatch.setattr(Ishigami, "__call__", real)
    key = {
        **settings.to_dict(),
        "evaluator": "Ishigami",
        "names": ("x1", "x2", "x3"),
        "outputs": ("y",),
    }
    with SensitivityStore(tmp_path / "cut", key, ("y",), fresh=False) as store:
        assert store.done("morris") == set(range(16))  # two whole batches of 8, nothing else
    again = run_sensitivity(
        settings, tmp_path / "cut", evaluator=Ishigami(), workers=1, report=None
    )
    assert again.evaluated_now == full.evaluations - 16
    pd.testing.assert_frame_equal(again.sobol, full.sobol)
    pd.testing.assert_frame_equal(again.morris, full.morris)


def test_other_settings_in_the_folder_are_refused(tmp_path):
    s = SensitivitySettings(sobol_n=16, morris_trajectories=4, resamples=20)
    run_sensitivity(s, tmp_path / "r", evaluator=Ishigami(), workers=1, report=None)
    other = SensitivitySettings(sobol_n=32, morris_trajectories=4, resamples=20)
    with pytest.raises(SensitivityError, match="other settings"):
        run_sensitivity(other, tmp_path / "r", evaluator=Ishigami(), workers=1, report=None)
    res = run_sensitivity(
        other,
        tmp_path / "r",
        evaluator=Ishigami(),
        workers=1,
        fresh=True,
        report=write_sensitivity_report,
    )
    assert (tmp_path / "r" / "report.html").read_text().count("<img") == 2
    assert res.evaluated_now == res.evaluations


@pytest.mark.parametrize(
    ("field", "value"),
    [("sobol_n", 48), ("patients", 1), ("resamples", True), ("batch", 0)],
)
def test_settings_are_checked_in_one_line(field, value):
    with pytest.raises(SensitivityError) as exc:
        SensitivitySettings(**{field: value})
    assert field in str(exc.value) and "\n" not in str(exc.value)


def test_value_of_information_ranks_by_the_largest_total_index_on_the_answer():
    rows = [
        ("p_select_level1", "a", 0.1),
        ("p_select_level1", "b", 0.6),
        ("doris_m6", "a", 0.7),
        ("doris_m6", "b", 0.2),
        ("b_cell_aplasia_days", "c", 0.99),  # not part of the answer
        ("doris_m6", "c", 0.05),
    ]
    sobol = pd.DataFrame(
        [
            {"output": o, "parameter": p, "ST": v, "ST_low": v - 0.1, "ST_high": v + 0.1, "S1": v}
            for o, p, v in rows
        ]
    )
    voi = value_of_information(sobol, ("p_select_level1", "doris_m6", "b_cell_aplasia_days"))
    assert list(voi["parameter"]) == ["a", "b", "c"]
    assert list(voi["output"]) == ["doris_m6", "p_select_level1", "doris_m6"]
    np.testing.assert_allclose(voi["mean_ST"], [0.4, 0.4, 0.05])
