"""Covariances of the population estimate in the two limits where they are known exactly."""

import numpy as np
import pytest

from allocart.fit.population import population_covariances


def test_fully_informative_patients_give_the_textbook_variances():
    omega = np.array([0.3, 0.5])
    n = 15
    mu_cov, log_om_cov = population_covariances(omega, np.zeros((n, 2, 2)))
    # Known individual parameters: var(mean) = omega^2 / n, var(log sd) = 1 / (2n).
    assert np.allclose(mu_cov, np.diag(omega**2 / n), rtol=1e-12)
    assert np.allclose(log_om_cov, np.eye(2) / (2 * n), rtol=1e-12)


def test_half_informative_patients_double_the_variance_of_the_mean():
    omega = np.array([0.3, 0.5])
    n = 12
    cov = np.broadcast_to(np.diag(omega**2 / 2), (n, 2, 2))
    mu_cov, log_om_cov = population_covariances(omega, cov)
    # Each patient's data variance equals omega^2: M_i = Omega^-1 / 2.
    assert np.allclose(mu_cov, np.diag(2 * omega**2 / n), rtol=1e-12)
    # Fisher information of log omega: 2 omega^4 n (1 / (2 omega^2))^2 = n / 2.
    assert np.allclose(log_om_cov, np.eye(2) * 2 / n, rtol=1e-12)


def test_an_uninformative_patient_adds_nothing():
    omega = np.array([0.4])
    base = np.zeros((10, 1, 1))
    with_flat = np.concatenate([base, np.diag(omega**2)[None]])
    a = population_covariances(omega, base)
    b = population_covariances(omega, with_flat)
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])


def _one_dimensional(x, prec, mu0=0.0, om0=0.5):
    """Patients' modes and Laplace variances under N(mu0, om0^2) for data x_i with precision P."""
    c = 1.0 / (prec + 1.0 / om0**2)
    theta = c * (prec * x + mu0 / om0**2)
    return np.array([mu0]), np.array([om0]), theta[:, None], np.broadcast_to(c, x.shape)[:, None, None].copy()


def test_linearised_reml_recovers_the_data_summaries_and_the_closed_form_estimate():
    from scipy import optimize

    from allocart.fit.population import _LinearisedPopulation

    rng = np.random.default_rng(3)
    x = 0.3 + 0.6 * rng.standard_normal(20)
    prec = 10.0  # every patient's data: theta_i ~ N(x_i, 1/10)
    lin = _LinearisedPopulation(*_one_dimensional(x, prec))
    assert np.allclose(lin.p[:, 0, 0], prec) and np.allclose(lin.b[:, 0], prec * x)
    # Equal precisions: the REML variance is the sample variance (n - 1) less the data variance.
    closed = np.sqrt(x.var(ddof=1) - 1.0 / prec)
    best = optimize.minimize_scalar(lambda a: -lin.reml(np.array([a])), bounds=(-5, 2), method="bounded",
                                    options={"xatol": 1e-10})
    assert np.exp(best.x) == pytest.approx(closed, rel=1e-6)


def test_profile_interval_contains_the_estimate_and_widens_for_uninformative_data():
    from allocart.fit.population import _LinearisedPopulation, omega_profile_intervals

    rng = np.random.default_rng(4)
    x = 0.5 * rng.standard_normal(15)
    informative = _LinearisedPopulation(*_one_dimensional(x, 100.0))
    vague = _LinearisedPopulation(*_one_dimensional(x, 2.0))
    lo1, hi1 = omega_profile_intervals(informative, np.array([0.5]))
    lo2, hi2 = omega_profile_intervals(vague, np.array([0.5]))
    est = np.sqrt(x.var(ddof=1) - 1.0 / 100.0)
    assert lo1[0] < est < hi1[0]
    assert np.log(hi2[0] / lo2[0]) > np.log(hi1[0] / lo1[0])
    # Known individual parameters: close to the chi-square interval of a variance on n - 1 df.
    from scipy import stats

    chi_lo, chi_hi = stats.chi2.ppf([0.05, 0.95], 14)
    s = x.std(ddof=1)
    assert lo1[0] == pytest.approx(s * np.sqrt(14 / chi_hi), rel=0.1)
    assert hi1[0] == pytest.approx(s * np.sqrt(14 / chi_lo), rel=0.1)
