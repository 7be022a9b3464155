"""BOIN12, TITE-BOIN and CRM on small deterministic cases."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from allocart.design import BOIN, BOIN12, CRM, TITEBOIN, Action, DoseData, indifference_skeleton


def test_boin12_benchmark_and_desirability():
    d = BOIN12(0.35, eff_lower=0.25)
    pt, pe = 0.35, 0.25
    ubar = 100 * pe * (1 - pt) + 40 * (1 - pt) * (1 - pe) + 60 * pt * pe
    assert d.benchmark_utility == pytest.approx(ubar + (100 - ubar) / 2)
    # 3 patients at a dose: 2 responders without DLT, 1 with neither: x = (2*100 + 40)/100.
    x = 2.4
    assert d.desirability(3, x) == pytest.approx(
        stats.beta.sf(d.benchmark_utility / 100, 1 + x, 1 + 3 - x)
    )


def test_boin12_decision_prefers_more_desirable_dose():
    d = BOIN12(0.35, eff_lower=0.25)
    # 0/3 DLT at dose 2 with 2 responses: escalation region; untried dose 3 scores 1 - u_b,
    # dose 2 scores higher, so the design stays.
    rec = d.recommend(DoseData((3, 3, 0), (0, 0, 0), (0, 2, 0)), 1)
    ds2 = d.desirability(3, 2.4)
    ds3 = d.desirability(0, 0.0)
    assert ds2 > ds3 and rec.next_dose == 1
    # No responses at dose 2: dose 3 is more desirable than dose 2.
    rec = d.recommend(DoseData((3, 3, 0), (0, 0, 0), (0, 0, 0)), 1)
    assert rec.action is Action.ESCALATE
    # 2/3 DLTs: de-escalate.
    assert d.recommend(DoseData((3, 3, 0), (0, 2, 0), (0, 0, 0)), 1).next_dose == 0


def test_tite_without_pending_equals_boin_advice():
    for treated, dlts, cur in [
        ((3, 6, 0), (0, 1, 0), 1),
        ((3, 3, 0), (0, 1, 0), 1),
        ((3, 3), (0, 3), 1),
    ]:
        a = BOIN(0.25).recommend(DoseData(treated, dlts), cur)
        b = TITEBOIN(0.25).recommend(DoseData(treated, dlts), cur)
        assert (a.action, a.next_dose) == (b.action, b.next_dose)


def test_tite_pending_uses_effective_sample_size_and_suspends():
    d = TITEBOIN(0.25)
    # 6 treated, 1 DLT, 2 pending with total standardised follow-up 1.0: ESS = 5, rate 0.2 > 0.197.
    rec = d.recommend(DoseData((6,), (1,), pending=(2,), followup=(1.0,)), 0)
    assert rec.action is Action.STAY
    rec = d.recommend(DoseData((6,), (1,), pending=(2,), followup=(1.2,)), 0)
    assert rec.action is Action.STAY  # top dose: cannot escalate
    rec = d.recommend(DoseData((6, 0), (1, 0), pending=(2, 0), followup=(1.2, 0)), 0)
    assert rec.action is Action.ESCALATE  # 1 / 5.2 = 0.192 <= 0.197
    rec = d.recommend(DoseData((3, 0), (0, 0), pending=(2, 0), followup=(0.5, 0)), 0)
    assert rec.action is Action.SUSPEND


def test_crm_posterior_matches_quadrature():
    d = CRM(0.25, skeleton=(0.05, 0.12, 0.25, 0.38, 0.5))
    n = np.array([3, 6, 3, 0, 0])
    y = np.array([0, 1, 2, 0, 0])
    post = d.posterior(n, y)
    sk = np.array(d.skeleton)
    sd = d.prior_sd

    def lik(a):
        p = sk ** math.exp(a)
        return np.prod(p**y * (1 - p) ** (n - y)) * stats.norm.pdf(a, 0, sd)

    z = integrate.quad(lik, -10 * sd, 10 * sd, epsabs=1e-13)[0]
    for j in range(5):
        m = (
            integrate.quad(
                lambda a, j=j: lik(a) * sk[j] ** math.exp(a), -10 * sd, 10 * sd, epsabs=1e-13
            )[0]
            / z
        )
        # Gauss-Legendre pieces split at the cut points: accurate to ~1e-12 (tests/design/test_crm.py).
        assert post["mean"][j] == pytest.approx(m, abs=1e-5)


def test_indifference_skeleton_centre():
    s = indifference_skeleton(0.25, 5)
    assert s[2] == pytest.approx(0.25) and all(np.diff(s) > 0)
