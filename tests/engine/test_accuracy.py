"""Accuracy against independent references.

Tolerance policy: the solver controls the *local* error per step to ``rtol``; the global
error after a few hundred steps is typically 1-100x that. Each test names the bound it uses
and why.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from allocart.engine import OP_ADD, EventTable, solve_batch
from tests.engine.helpers import lotka_patients

#: "auto" resolves to "dopri5"; both spellings are checked.
METHODS = ["dopri5", "auto"]


@pytest.mark.parametrize("method", METHODS)
def test_exponential_decay_with_boluses(decay_kernel, method):
    # y' = -k y with boluses of size D at days 0 (before t0 -> applied at t0), 5 and 10.
    k = np.array([[0.3], [1.0], [4.0]])
    n = k.shape[0]
    doses = [(-1.0, 0, OP_ADD, 2.0), (5.0, 0, OP_ADD, 1.0), (10.0, 0, OP_ADD, 3.0)]
    ev = EventTable.from_lists([doses] * n)
    t_out = np.linspace(0.0, 20.0, 81)
    rtol = 1e-8
    res = solve_batch(
        decay_kernel,
        np.zeros((n, 1)),
        k,
        t_out,
        t0=0.0,
        events=ev,
        rtol=rtol,
        atol=1e-12,
        method=method,
    )
    assert res.ok
    for i in range(n):
        exact = np.zeros_like(t_out)
        for td, _, _, amt in doses:
            td = max(td, 0.0)
            exact += np.where(t_out >= td, amt * np.exp(-k[i, 0] * (t_out - td)), 0.0)
        # Global relative error of a smooth decay stays within ~100 rtol.
        np.testing.assert_allclose(res.y[i, :, 0], exact, rtol=100 * rtol, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
def test_linear_system_matches_matrix_exponential(linear2_kernel, method):
    rng = np.random.default_rng(1)
    n = 6
    params = np.column_stack(
        [
            -rng.uniform(0.5, 4.0, n),
            rng.uniform(0.0, 1.0, n),
            rng.uniform(0.0, 1.0, n),
            -rng.uniform(0.1, 2.0, n),
        ]
    )
    y0 = rng.uniform(0.5, 2.0, (n, 2))
    t0 = 1.0
    t_out = np.array([1.0, 1.3, 2.0, 3.7, 8.0, 15.0])
    rtol = 1e-9
    res = solve_batch(
        linear2_kernel, y0, params, t_out, t0=t0, rtol=rtol, atol=1e-13, method=method
    )
    assert res.ok
    for i in range(n):
        a = params[i].reshape(2, 2)
        exact = np.array([expm(a * (t - t0)) @ y0[i] for t in t_out])
        # Absolute error relative to the initial magnitude (states decay by up to e^-30).
        np.testing.assert_allclose(res.y[i], exact, rtol=0, atol=100 * rtol * np.abs(y0[i]).max())


def _scipy_ref(f, y0, t_out, t0):
    sol = solve_ivp(f, (t0, t_out[-1]), y0, method="DOP853", t_eval=t_out, rtol=1e-12, atol=1e-14)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("method", METHODS)
def test_lotka_volterra_per_patient_parameters(lotka_kernel, method):
    rng = np.random.default_rng(2)
    n = 8
    y0, params = lotka_patients(n, rng)
    t_out = np.linspace(0.0, 30.0, 61)
    rtol = 1e-8
    res = solve_batch(lotka_kernel, y0, params, t_out, t0=0.0, rtol=rtol, atol=1e-10, method=method)
    assert res.ok
    for i in range(n):
        a, b, c, d = params[i]
        ref = _scipy_ref(
            lambda t, y, a=a, b=b, c=c, d=d: [
                a * y[0] - b * y[0] * y[1],
                -c * y[1] + d * y[0] * y[1],
            ],
            y0[i],
            t_out,
            0.0,
        )
        # Oscillatory, ~5 periods: the phase error accumulates; 1000 rtol bounds it.
        np.testing.assert_allclose(res.y[i], ref, rtol=1000 * rtol, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_van_der_pol_mildly_stiff(vdp_kernel, method):
    mu = np.array([[1.0], [5.0]])
    y0 = np.array([[2.0, 0.0], [2.0, 0.0]])
    t_out = np.linspace(0.0, 20.0, 41)
    rtol = 1e-8
    res = solve_batch(vdp_kernel, y0, mu, t_out, t0=0.0, rtol=rtol, atol=1e-10, method=method)
    assert res.ok
    for i in range(2):
        m = mu[i, 0]
        ref = _scipy_ref(
            lambda t, y, m=m: [y[1], m * (1 - y[0] ** 2) * y[1] - y[0]], y0[i], t_out, 0.0
        )
        # Relaxation oscillation with fast jumps: 1e4 rtol of the amplitude (~2, ~8).
        scale = np.abs(ref).max(axis=0)
        np.testing.assert_allclose(res.y[i], ref, rtol=0, atol=1e4 * rtol * scale.max())


def test_tighter_tolerance_is_more_accurate(lotka_kernel):
    params = np.array([[1.0, 0.02, 0.5, 0.01]])
    y0 = np.array([[40.0, 9.0]])
    t_out = np.linspace(0, 20, 21)
    ref = _scipy_ref(
        lambda t, y: [y[0] - 0.02 * y[0] * y[1], -0.5 * y[1] + 0.01 * y[0] * y[1]],
        y0[0],
        t_out,
        0.0,
    )
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8):
        r = solve_batch(lotka_kernel, y0, params, t_out, t0=0.0, rtol=rtol, atol=1e-12)
        errs.append(np.abs(r.y[0] - ref).max())
    assert errs[0] > errs[1] > errs[2]
