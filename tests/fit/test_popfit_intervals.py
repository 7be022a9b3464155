"""Covariances of the population estimate in the two limits where they are known exactly."""

import numpy as np
import pytest

from allocart.fit.popfit_intervals import population_covariances


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
    return (
        np.array([mu0]),
        np.array([om0]),
        theta[:, None],
        np.broadcast_to(c, x.shape)[:, None, None].copy(),
    )


def test_linearised_reml_recovers_the_data_summaries_and_the_closed_form_estimate():
    from scipy import optimize

    from allocart.fit.popfit_intervals import LinearisedPopulation

    rng = np.random.default_rng(3)
    x = 0.3 + 0.6 * rng.standard_normal(20)
    prec = 10.0  # every patient's data: theta_i ~ N(x_i, 1/10)
    lin = LinearisedPopulation(*_one_dimensional(x, prec))
    assert np.allclose(lin.p[:, 0, 0], prec) and np.allclose(lin.b[:, 0], prec * x)
    # Equal precisions: the REML variance is the sample variance (n - 1) less the data variance.
    closed = np.sqrt(x.var(ddof=1) - 1.0 / prec)
    best = optimize.minimize_scalar(
        lambda a: -lin.reml(np.array([a])),
        bounds=(-5, 2),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert np.exp(best.x) == pytest.approx(closed, rel=1e-6)


def test_profile_interval_contains_the_estimate_and_widens_for_uninformative_data():
    from allocart.fit.popfit_intervals import LinearisedPopulation, omega_profile_intervals

    rng = np.random.default_rng(4)
    x = 0.5 * rng.standard_normal(15)
    informative = LinearisedPopulation(*_one_dimensional(x, 100.0))
    vague = LinearisedPopulation(*_one_dimensional(x, 2.0))
    est = np.sqrt(x.var(ddof=1) - 1.0 / 100.0)
    est_vague = np.sqrt(max(x.var(ddof=1) - 1.0 / 2.0, 0.02**2))
    r1 = omega_profile_intervals(informative, np.array([est]))
    r2 = omega_profile_intervals(vague, np.array([est_vague]))
    assert r1.method == ("profile",) and r2.method == ("profile",)
    lo1, hi1, lo2, hi2 = r1.lo, r1.hi, r2.lo, r2.hi
    assert lo1[0] < est < hi1[0]
    assert np.log(hi2[0] / lo2[0]) > np.log(hi1[0] / lo1[0])
    # Known individual parameters: close to the chi-square interval of a variance on n - 1 df.
    from scipy import stats

    chi_lo, chi_hi = stats.chi2.ppf([0.05, 0.95], 14)
    s = x.std(ddof=1)
    assert lo1[0] == pytest.approx(s * np.sqrt(14 / chi_hi), rel=0.1)
    assert hi1[0] == pytest.approx(s * np.sqrt(14 / chi_lo), rel=0.1)


class _Trap:
    """A REML surface with two local maxima in the second omega, whose deep one vanishes when
    the first omega is near the floor: ``l(a, y) = -(a - a0)^2 / (2 * 0.4^2) + log(w(a) phi_A(y)
    + exp(-D) phi_B(y))`` on ``a, y = log omega``. The profile of ``a`` started warm from the
    floor's maximiser (the shallow basin B) stays in B at the maximum, where its deviance is
    then ``2 D = 10``: no sign change, and the old root search raised ``ValueError``."""

    k = 2
    a0, y_deep, y_shallow, depth = -0.5, -1.0, 1.2, 5.0

    def reml(self, x):
        a, y = x
        w = 1.0 / (1.0 + np.exp(-(a + 2.5) * 8.0))
        deep = np.exp(-0.5 * ((y - self.y_deep) / 0.3) ** 2)
        shallow = np.exp(-0.5 * ((y - self.y_shallow) / 2.0) ** 2)
        return -0.5 * ((a - self.a0) / 0.4) ** 2 + np.log(
            w * deep + np.exp(-self.depth) * shallow + 1e-300
        )


def test_profile_is_not_stranded_by_a_warm_start():
    from scipy import stats

    from allocart.fit.popfit_intervals import omega_profile_intervals

    trap = _Trap()
    res = omega_profile_intervals(trap, np.exp([trap.a0, trap.y_deep]))  # the old code raised here
    assert res.method == ("profile", "profile")
    assert np.allclose(res.centre_deviance, 0.0, atol=1e-6)
    # In a, the profile is the quadratic: exp(a0 +- z * 0.4).
    z = stats.norm.ppf(0.95)
    assert res.lo[0] == pytest.approx(np.exp(trap.a0 - z * 0.4), rel=2e-3)
    assert res.hi[0] == pytest.approx(np.exp(trap.a0 + z * 0.4), rel=2e-3)
    assert res.lo[1] < np.exp(trap.y_deep) < res.hi[1]


def test_profile_restarts_when_it_finds_a_higher_likelihood():
    from allocart.fit.popfit_intervals import omega_profile_intervals

    trap = _Trap()
    # Started in the shallow basin: the maximisation stops there, the profile of y walks into the
    # deep basin (deviance < 0), and the search restarts from it.
    res = omega_profile_intervals(
        trap, np.exp([trap.a0, trap.y_shallow]), wald_se=np.array([0.4, 0.3])
    )
    assert res.restarts >= 1
    assert res.method[0] == "profile" and np.allclose(res.centre_deviance, 0.0, atol=1e-6)
    # The estimate handed in (the shallow point) is not inside the profile interval around the
    # true maximum: its interval is the labelled Wald one around it.
    assert res.method[1] == "wald" and "outside the profile interval" in res.note[1]
    assert res.lo[1] == pytest.approx(np.exp(trap.y_shallow - 1.6448536 * 0.3), rel=1e-6)


class _Gaussian:
    k = 1
    centre, sd = np.log(0.3), 0.2

    def reml(self, x):
        return -0.5 * ((x[0] - self.centre) / self.sd) ** 2


class _Cliff(_Gaussian):
    """Finite only near the maximum: no profile end can be bracketed."""

    def reml(self, x):
        return super().reml(x) if abs(x[0] - self.centre) < 0.1 else float("nan")


def test_wald_fallback_is_labelled_and_contains_the_estimate():
    from allocart.fit.popfit_intervals import omega_profile_intervals

    ok = omega_profile_intervals(_Gaussian(), np.array([0.3]))
    assert ok.method == ("profile",) and ok.note == ("",)
    assert ok.lo[0] == pytest.approx(0.3 * np.exp(-1.6448536 * 0.2), rel=2e-3)
    # No bracket: the Wald interval from the observed curvature (se 0.2 on log omega).
    cliff = omega_profile_intervals(_Cliff(), np.array([0.3]))
    assert (
        cliff.method == ("wald",)
        and "not finite" in cliff.note[0]
        and "observed curvature" in cliff.note[0]
    )
    assert cliff.lo[0] == pytest.approx(0.3 * np.exp(-1.6448536 * 0.2), rel=1e-3)
    assert cliff.hi[0] == pytest.approx(0.3 * np.exp(1.6448536 * 0.2), rel=1e-3)
    # The estimate outside the profile interval: Wald with the Fisher standard error given.
    far = omega_profile_intervals(_Gaussian(), np.array([2.0]), wald_se=np.array([0.25]))
    assert far.method == ("wald",) and "Fisher information" in far.note[0]
    assert far.lo[0] < 2.0 < far.hi[0]
    assert far.hi[0] == pytest.approx(2.0 * np.exp(1.6448536 * 0.25), rel=1e-7)


def test_reml_is_the_original_form_up_to_a_constant():
    """The centred form of the linearised REML likelihood equals the textbook form
    ``-1/2 logdet(I + P Omega) + 1/2 b'(Omega^-1 + P)^-1 b + mu'Mx - 1/2 mu'M mu - 1/2 logdet S``
    up to a constant, with a patient whose data say nothing about one parameter."""
    from allocart.fit.popfit_intervals import LinearisedPopulation

    rng = np.random.default_rng(5)
    n, k = 8, 3
    om0 = np.array([0.4, 0.6, 0.3])
    theta = 0.5 * rng.standard_normal((n, k))
    cov = np.empty((n, k, k))
    for i in range(n):
        a = rng.standard_normal((k, k))
        prec = a @ a.T * 5 + np.diag(1 / om0**2)
        if i == 0:
            prec[2, :] = prec[:, 2] = 0.0
            prec[2, 2] = 1 / om0[2] ** 2  # no data information on the third parameter
            theta[0, 2] = 0.0
        cov[i] = np.linalg.inv(prec)
    lin = LinearisedPopulation(np.zeros(k), om0, theta, cov)

    def textbook(log_omega):
        om2 = np.exp(2 * log_omega)
        a = np.eye(k) + lin.p * om2
        m = np.linalg.solve(a, lin.p)
        mx = np.linalg.solve(a, lin.b[:, :, None])[:, :, 0]
        g = np.linalg.solve(np.diag(1 / om2)[None] + lin.p, lin.b[:, :, None])[:, :, 0]
        s, r = m.sum(0), mx.sum(0)
        mu = np.linalg.solve(s, r)
        ll = (
            -0.5 * np.linalg.slogdet(a)[1].sum()
            + 0.5 * np.einsum("ni,ni->", lin.b, g)
            + mu @ r
            - 0.5 * mu @ s @ mu
        )
        return ll - 0.5 * np.linalg.slogdet(s)[1]

    diffs = [textbook(x) - lin.reml(x) for x in np.log(om0) + 0.7 * rng.standard_normal((6, k))]
    assert np.ptp(diffs) < 1e-8
