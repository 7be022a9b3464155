"""The forward-sensitivity solver: sensitivities against finite differences of the states,
states against the engine behind ``simulate``, batch independence and failure isolation."""

import numpy as np
import pytest

#: Parameters differentiated: an expansion rate, an elimination rate that enters a derived
#: parameter (p_PB, p_LL) and a baseline that sets derived parameters *and* initial states.
WRT_PRIMARY = ("rho_E", "k_Ab", "B_ss")
OBS = np.array([0.0, 3.0, 10.0, 28.0, 90.0, 200.0])
#: Relative step of the central differences: truncation error ~step^2 ~ 1e-6 of the
#: sensitivity, solver noise ~rtol/step = 1e-8.
FD_STEP = 1e-3
#: Agreement of the normalised sensitivities p * dy/dp with central differences, relative to
#: each state's size (max over time of |y|): a wrong or missing Jacobian entry shows up at
#: 1e-3 or more, the differences' own error is ~1e-6.
SENS_TOL = 1e-5
#: The same relative to the sensitivity's own size, for states it moves by more than 0.1%.
SENS_RTOL = 1e-3
#: States of this solver (DOPRI5, rtol 1e-8) against the lane kernel behind ``simulate``
#: (rtol 1e-8): both within their tolerance of the truth.
STATE_TOL = 1e-5


def _inputs(params_full, n=1, obs=OBS):
    """Solver inputs of a typical allogeneic patient with full parameters ``params_full``."""
    from allocart.model.codegen import derived_function, initial_function, parameter_names
    from allocart.model.equations import MODEL
    from allocart.model.sensitivity import (
        initial_jacobian_function,
        parameter_closure,
        parameter_jacobian_function,
    )
    from allocart.model.simulate import simulate

    b = simulate("allogeneic-cd19", typical=True, days=10.0).batch
    names = parameter_names()
    prim_names = names[: len(names) - len(MODEL.derived)]
    prim = np.tile(params_full[: len(prim_names)], (n, 1))
    env = {k: prim[:, i] for i, k in enumerate(prim_names)}
    env.update(derived_function()(env))
    full = np.stack([np.broadcast_to(env[k], (n,)) for k in names], axis=1)
    env = {k: full[:, i] for i, k in enumerate(names)}
    wrt = parameter_closure(WRT_PRIMARY)
    dq = parameter_jacobian_function(WRT_PRIMARY, wrt)(env)
    y0 = initial_function()(env)
    s0 = np.einsum("mkq,mqs->mks", dq, initial_jacobian_function(wrt)(env))
    ns = len(MODEL.state_names)
    n_ev = b.event_time.shape[1]
    add = np.zeros((n, n_ev, ns))
    for j in range(n_ev):
        add[:, j, b.event_state[0, j]] += b.event_value[0, j]
    return dict(
        wrt=wrt,
        y0=y0,
        s0=s0,
        params=full,
        dparams=dq,
        t0=np.full(n, b.t0),
        ev_time=np.tile(b.event_time[0], (n, 1)),
        ev_add=add,
        ev_add_s=np.zeros((n, n_ev, 3, ns)),
        obs_time=np.tile(obs, (n, 1)),
    )


def _solve(inp, rtol):
    from allocart.engine.sensitivity import solve_sensitivities
    from allocart.model.equations import MODEL
    from allocart.model.sensitivity import sensitivity_kernel

    atol = np.array([s.atol for s in MODEL.states]) * 1e-3
    i = dict(inp)
    wrt = i.pop("wrt")
    kernel = sensitivity_kernel(tuple(wrt), i["s0"].shape[1])
    return solve_sensitivities(kernel, **i, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def typical():
    from allocart.model.simulate import simulate

    return simulate("allogeneic-cd19", typical=True, days=10.0).batch.params[0]


def test_sensitivities_match_central_differences(typical):
    from allocart.model.codegen import parameter_names

    names = parameter_names()
    res = _solve(_inputs(typical), rtol=1e-11)
    assert res.status[0] == 0
    for j, p in enumerate(WRT_PRIMARY):
        i = names.index(p)
        up, dn = typical.copy(), typical.copy()
        h = FD_STEP * typical[i]
        up[i] += h
        dn[i] -= h
        fd = (_solve(_inputs(up), 1e-11).y[0] - _solve(_inputs(dn), 1e-11).y[0]) / (2 * h)
        s = typical[i] * res.s[0, :, j, :]
        fd = typical[i] * fd
        size = np.abs(res.y[0]).max(axis=0) + 1e-300
        err = (np.abs(s - fd).max(axis=0) / size).max()
        assert err < SENS_TOL, (p, err)
        moved = np.abs(fd).max(axis=0) > 1e-3 * size
        assert moved.any()
        rel = (np.abs(s - fd).max(axis=0)[moved] / np.abs(fd).max(axis=0)[moved]).max()
        assert rel < SENS_RTOL, (p, rel)


def test_states_match_the_engine(typical):
    from allocart.model.simulate import simulate

    sim = simulate("allogeneic-cd19", typical=True, days=200.0, rtol=1e-8)
    res = _solve(_inputs(typical), rtol=1e-8)
    idx = np.searchsorted(sim.time, OBS)
    assert np.allclose(sim.time[idx], OBS)
    ref = sim.states[0][idx]
    scale = np.abs(ref).max(axis=0) + 1e-30
    assert (np.abs(res.y[0] - ref) / scale).max() < STATE_TOL


def test_batch_is_bitwise_independent_and_a_failure_is_isolated(typical):
    one = _solve(_inputs(typical), 1e-6)
    inp = _inputs(typical, n=3)
    inp["params"][1, :] = np.nan  # patient 1 cannot be integrated
    three = _solve(inp, 1e-6)
    assert list(three.status) == [0, 2, 0]
    for k in (0, 2):
        assert np.array_equal(three.y[k], one.y[0]) and np.array_equal(three.s[k], one.s[0])


#: At rtol 1e-6 over a year, states and normalised sensitivities against the same solve at
#: rtol 1e-11, relative to each state's size: measured 7e-6 and 3e-5; 1e-4 is the budget of a
#: fit's gradient (residual CVs of 8% and more).
LOOSE_TOL = 1e-4


def test_exact_decay_phase_keeps_sensitivities_accurate(typical):
    from allocart.model.codegen import parameter_names

    year = np.array([0.0, 10.0, 28.0, 90.0, 200.0, 300.0, 365.0])
    loose = _solve(_inputs(typical, obs=year), 1e-6)
    tight = _solve(_inputs(typical, obs=year), 1e-11)
    # The exact decay of IL-6 is active: 618 steps without it, ~410 with it (measured).
    assert loose.n_steps[0] < 500
    size = np.abs(tight.y[0]).max(axis=0) + 1e-300
    assert (np.abs(loose.y[0] - tight.y[0]).max(axis=0) / size).max() < LOOSE_TOL
    names = parameter_names()
    for j, p in enumerate(WRT_PRIMARY):
        pv = typical[names.index(p)]
        err = np.abs(pv * (loose.s[0, :, j, :] - tight.s[0, :, j, :])).max(axis=0) / size
        assert err.max() < LOOSE_TOL, (p, err.max())
