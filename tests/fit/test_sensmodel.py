"""The sensitivity backend of the fit: predictions against the JAX path, Jacobians against
finite differences, the JAX wrapper's gradient, and the memory of repeated points."""

import numpy as np
import pytest

#: Predictions of the two backends (numba DOPRI5 and diffrax Tsit5, both rtol 1e-6 with the
#: same absolute tolerances): measured 1.4e-6 apart; 1e-4 is a hundred times the solvers' own
#: error and a thousand times below the smallest assay CV.
PRED_RTOL = 1e-4
#: Central differences on the transformed scale: truncation ~step^2 = 1e-6, noise from the
#: adaptive step sequence ~rtol/step = 1e-3 of the prediction's scale at most.
FD_STEP = 1e-3
#: Jacobian against the differences, relative to the Jacobian's norm per row.
JAC_RTOL = 2e-2


@pytest.fixture(scope="module")
def model(one_patient):
    from allocart.fit.sensmodel import sensitivity_model

    _, _, pb, true = one_patient
    return pb, true, sensitivity_model(pb)


def test_predictions_match_the_jax_backend(model):
    import jax
    import jax.numpy as jnp

    from allocart.fit.problem import patient_predictions

    pb, true, sm = model
    theta = true + 0.05
    pred, jac, ok = sm.evaluate(theta[None])
    arr = {k: jnp.asarray(v[0]) for k, v in pb.arrays().items()}
    ref, ok_ref = jax.jit(lambda th: patient_predictions(th, arr, pb))(jnp.asarray(theta))
    m = pb.mask[0]
    assert ok[0] and bool(ok_ref)
    assert pred[0][m] == pytest.approx(np.asarray(ref)[m], rel=PRED_RTOL)


def _central_differences(sm, theta, j):
    """d prediction / d theta_j of one patient by central differences of step FD_STEP."""
    e = np.zeros(theta.size)
    e[j] = FD_STEP
    return (sm.evaluate((theta + e)[None])[0][0] - sm.evaluate((theta - e)[None])[0][0]) / (
        2 * FD_STEP
    )


def test_jacobian_matches_central_differences(model):
    pb, true, sm = model
    theta = true - 0.1
    _, jac, ok = sm.evaluate(theta[None])
    assert ok[0]
    m = pb.mask[0]
    for j in range(pb.k):
        fd = _central_differences(sm, theta, j)
        scale = np.abs(jac[0][m, j]).max()
        assert scale > 0, pb.param_names[j]
        assert np.abs(jac[0][m, j] - fd[m]).max() <= JAC_RTOL * scale, pb.param_names[j]


def test_jax_wrapper_gradient_and_vmap(model):
    import jax
    import jax.numpy as jnp

    from allocart.fit.sensmodel import jax_predictions

    pb, true, sm = model
    predict = jax_predictions(sm)
    w = jnp.asarray(np.where(pb.mask[0], 1.0 / np.maximum(np.abs(pb.value[0]), 1e-3), 0.0))

    def f(th):
        pred, ok = predict(th, jnp.asarray(0))
        return jnp.sum(w * pred) * ok

    thetas = np.stack([true, true + 0.03, true - 0.02])
    grads = np.asarray(jax.jit(jax.vmap(jax.grad(f)))(jnp.asarray(thetas)))
    for r, th in enumerate(thetas):
        _, jac, _ = sm.evaluate(th[None])
        assert np.allclose(grads[r], np.asarray(w) @ jac[0], rtol=1e-12, atol=0)


def test_repeated_points_come_from_memory(model, monkeypatch):
    pb, true, sm = model
    theta = np.stack([true + 0.011, true + 0.012])
    first = sm.evaluate(theta, np.array([0, 0]))
    calls = []
    original = sm._solve
    monkeypatch.setattr(sm, "_solve", lambda th, ix: calls.append(len(th)) or original(th, ix))
    again = sm.evaluate(theta[::-1], np.array([0, 0]))
    assert calls == []
    for a, b in zip(first, again):
        assert np.array_equal(a[::-1], b)
    sm.evaluate(np.stack([true + 0.011, true + 0.013, true + 0.013]), np.array([0, 0, 0]))
    assert calls == [1]  # one new point, asked for twice, solved once


#: A patient and a point where a mode search of a simulated 15-patient cohort went (cohort
#: seed 15, the first patient, as made by ``allocart data simulate --n 15 --seed 15``); theta is
#: rho_E, delta_E, k_Trej, k_mat, k_Ab on the log scale, 2-5 prior SDs from the typical values.
#: CAR-T cells are gone early and the patient rests at an equilibrium for most of the year.
#: With only the states in the error control, the steps there grew beyond the stability limit
#: of the blood-count modes and the platelet sensitivities came out at 5e19 (true: ~1e-6).
RESTING_THETA = np.array([0.38558051, -3.5017519, -3.53418187, -3.56775471, -3.52206117])


@pytest.fixture(scope="module")
def resting_patient():
    from allocart.data import DEFAULT_SAMPLE_DAYS, dataset_from_simulation
    from allocart.fit.problem import build_problem
    from allocart.fit.sensmodel import sensitivity_model
    from allocart.model.simulate import simulate

    sim = simulate("allogeneic-cd19cd20", "1e6/kg", "flu-cy", days=365.0, n=15, seed=15)
    ds = dataset_from_simulation(sim, sample_days=DEFAULT_SAMPLE_DAYS, seed=1)
    pb = build_problem(ds.subset([ds.ids[0]]))
    return pb, sensitivity_model(pb)


def test_jacobian_stays_right_where_the_patient_rests_at_equilibrium(resting_patient):
    pb, sm = resting_patient
    assert pb.param_names == ("rho_E", "delta_E", "k_Trej", "k_mat", "k_Ab")
    pred, jac, ok = sm.evaluate(RESTING_THETA[None])
    assert ok[0]
    m = pb.mask[0]
    for j in range(pb.k):
        fd = _central_differences(sm, RESTING_THETA, j)
        # Per row, against the prediction's own size: the differences' noise is ~rtol/step.
        size = np.abs(pred[0][m]) + np.abs(fd[m]) + 1e-12
        assert (np.abs(jac[0][m, j] - fd[m]) / size).max() <= JAC_RTOL, pb.param_names[j]
