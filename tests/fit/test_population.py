"""Covariances of the population estimate in the two limits where they are known exactly."""

import numpy as np

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
