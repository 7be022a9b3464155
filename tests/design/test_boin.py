"""BOIN boundaries, elimination and next-dose advice."""

import numpy as np
import pytest
from scipy import stats

from allocart.design import BOIN, Action, DoseData, elimination_boundary, select_mtd
from allocart.errors import DesignError

# Boundaries printed in the reference (three decimals).
REFERENCE = {
    0.15: (0.118, 0.179),
    0.20: (0.157, 0.238),
    0.25: (0.197, 0.298),
    0.30: (0.236, 0.359),
    0.33: (0.260, 0.395),
    0.35: (0.276, 0.419),
    0.40: (0.316, 0.480),
}


@pytest.mark.parametrize("target", sorted(REFERENCE))
def test_boundaries_match_reference_table(target):
    d = BOIN(target)
    assert round(d.lambda_e, 3) == REFERENCE[target][0]
    assert round(d.lambda_d, 3) == REFERENCE[target][1]


@pytest.mark.parametrize("target", [0.2, 0.25, 0.3, 0.33])
def test_elimination_equals_exact_beta_posterior(target):
    n_max = 30
    got = elimination_boundary(target, n_max)
    for n in range(3, n_max + 1):
        # Independent computation: smallest y with Pr(p > target | y, n) > 0.95 under Beta(1, 1).
        ys = [y for y in range(n + 1) if 1 - stats.beta.cdf(target, y + 1, n - y + 1) > 0.95]
        assert got[n] == (ys[0] if ys else -1)
    assert (got[:3] == -1).all()


def test_count_boundaries_target_030():
    b = BOIN(0.3).boundaries(12)
    assert b["escalate"][[3, 6, 9, 12]].tolist() == [0, 1, 2, 2]
    assert b["deescalate"][[3, 6, 9, 12]].tolist() == [2, 3, 4, 5]
    assert b["eliminate"][[3, 6, 9, 12]].tolist() == [3, 4, 5, 7]


def test_next_dose_advice():
    d = BOIN(0.25)
    assert d.recommend(DoseData((3, 6, 0), (0, 1, 0)), 1).action is Action.ESCALATE
    assert d.recommend(DoseData((3, 3, 0), (0, 1, 0)), 1).action is Action.DEESCALATE
    rec = d.recommend(DoseData((3, 3, 0), (0, 3, 0)), 1)
    assert rec.action is Action.ELIMINATE and rec.eliminated == (1, 2) and rec.next_dose == 0
    assert d.recommend(DoseData((3,), (3,)), 0).action is Action.STOP


def test_select_mtd_isotonic_and_ties():
    elim = elimination_boundary(0.3, 30)
    # Observed rates 0, 0.5, 0.33 violate monotonicity; PAVA pools doses 2 and 3.
    assert select_mtd(0.3, [3, 6, 6], [0, 3, 2], elim) == 1
    assert select_mtd(0.3, [3, 3, 0], [3, 0, 0], elim) is None


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"target": 1.2}, "target"),
        ({"target": 0.0}, "target"),
        ({"target": 0.25, "cohort_size": 0}, "cohort_size"),
        ({"target": 0.25, "p_saf": 0.3}, "p_saf"),
        ({"target": 0.25, "n_cohorts": -1}, "n_cohorts"),
    ],
)
def test_bad_input_raises_design_error(kwargs, field):
    with pytest.raises(DesignError, match=field):
        BOIN(**kwargs)


def test_dose_data_validation():
    with pytest.raises(DesignError, match="dlts"):
        DoseData((3, 3), (0,))
    with pytest.raises(DesignError, match="exceed"):
        DoseData((3,), (4,))
    with pytest.raises(DesignError, match="current_dose"):
        BOIN(0.25).recommend(DoseData((3,), (0,)), 3)
    assert np.asarray(DoseData((3,), (0,)).pending).tolist() == [0]
