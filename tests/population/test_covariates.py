"""Covariate model (marginals, copula, inclusion), link functions and the schedule."""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from allocart.errors import AllocartError
from allocart.model.parameters import load_default_parameters
from allocart.model.scenario import sample_parameters
from allocart.population.covariates import covariate_parameters, load_covariate_model
from allocart.population.links import (
    crs_grade,
    crs_probabilities,
    gvhd_grade,
    icans_probabilities,
    load_links,
)
from allocart.population.schedule import month_day, schedule_for

N = 20000


@pytest.fixture(scope="module")
def cov():
    return load_covariate_model().sample(N, 3)


def test_marginals_match_their_rows(cov):
    spec = load_covariate_model().spec["covariates"]
    # log-normal median: standard error of a sample median ~ 1.25 sigma / sqrt(N) on the log scale
    for name in ("anti_dsdna_iu_per_ml", "c3_g_per_l", "b_cells_per_ul"):
        sigma = math.sqrt(math.log1p(spec[name]["cv"] ** 2))
        tol = 4 * 1.25 * sigma / math.sqrt(N)
        assert math.log(np.median(cov[name])) == pytest.approx(
            math.log(spec[name]["median"]), abs=tol
        )
    p = spec["female"]["p"]
    assert cov["female"].mean() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / N))


def test_gaussian_copula_gives_the_rank_correlation(cov):
    # Spearman rho of a Gaussian copula: (6/pi) asin(rho/2) (Kruskal 1958); clipping at the
    # ranges barely changes ranks. Tolerance: 4 standard errors of a rank correlation.
    rho = -0.4
    expected = 6 / math.pi * math.asin(rho / 2)
    got = spearmanr(cov["anti_dsdna_iu_per_ml"], cov["c3_g_per_l"]).statistic
    assert got == pytest.approx(expected, abs=4 / math.sqrt(N))


def test_every_patient_meets_the_inclusion_threshold_and_has_a_source(cov):
    assert (cov.sledai2k0 >= 8).all()
    assert cov.bsa_m2.min() > 1.0 and cov.weight_kg.min() > 30
    m = load_covariate_model()
    assert all(v.strip() for v in m.sources().values())


def test_mapped_covariates_set_model_parameters(cov):
    tab = load_default_parameters()
    prim = sample_parameters(tab, 50, 1)
    small = cov.subset(np.arange(50))
    out = covariate_parameters(small, prim, load_covariate_model())
    assert np.allclose(out["Ab0"], small["anti_dsdna_iu_per_ml"])
    # 1 cell/uL of blood is V_blood cells in blood, V_blood / f_blood in the whole body
    assert np.allclose(out["B_ss"] * out["f_blood_B"] / out["V_blood"], small["b_cells_per_ul"])
    assert (out["C3_norm"] > out["C3_0"]).all()


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"covariates": {"x": {"distribution": "gamma", "source": "s"}}}, "distribution"),
        ({"covariates": {"x": {"distribution": "bernoulli", "p": 1.5, "source": "s"}}}, "`p`"),
        ({"covariates": {"x": {"distribution": "normal", "mean": 1, "sd": 1}}}, "source"),
        (
            {
                "covariates": {"x": {"distribution": "normal", "mean": 1, "sd": 1, "source": "s"}},
                "correlations": [{"a": "x", "b": "y", "rho": 0.2}],
            },
            "unknown covariate",
        ),
    ],
)
def test_malformed_covariate_models_are_errors(spec, match):
    with pytest.raises(AllocartError, match=match):
        load_covariate_model(spec)


def test_crs_link_is_anchored_at_no_il6_rise():
    lk = load_links().values()
    fold = np.array([1.0, 10.0, 100.0])
    p = crs_probabilities(fold, lk)
    # Independent evaluation of the anchored link P(>= 1) = x^h / (x^h + x50^h).
    x = np.log10(fold)
    h = lk["crs_hill"]
    expected = x**h / (x**h + lk["crs_x50_1"] ** h)
    assert np.allclose(p[:, 0], expected)
    assert (p[0] == 0).all()  # no IL-6 rise, no CRS of any grade
    assert (np.diff(p, axis=1) <= 0).all()  # P(>= g) falls with g
    u = np.array([0.999, 1e-9, 0.5])
    assert list(crs_grade(fold, u, lk)) == [0, int((1e-9 < p[1]).sum()), int((0.5 < p[2]).sum())]
    q = icans_probabilities(np.array([1.0, 100.0]), np.array([0, 2]), lk)
    assert q[1, 0] > q[0, 0]
    assert (icans_probabilities(np.array([0.0]), np.array([3]), lk) == 0).all()


def test_gvhd_needs_a_tcr_positive_graft():
    lk = load_links().values()
    assert (gvhd_grade(np.zeros(5), np.full(5, 1e-9), lk) == 0).all()
    big = np.full(4, 1e12)
    assert list(gvhd_grade(big, np.array([0.1, 0.6, 0.8, 0.95]), lk)) == [1, 2, 3, 4]


def test_schedule_months_and_errors():
    s = schedule_for((3, 6))
    assert month_day(3) == 91 and month_day(6) == 183
    assert s.month_days == {3: 91, 6: 183} and s.horizon_days == 365
    assert 35 in s.safety_lab_days and s.baseline_day < -5
    with pytest.raises(AllocartError, match="months"):
        schedule_for(())
