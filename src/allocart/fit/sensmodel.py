"""Predictions of a fitting problem and their exact Jacobians by forward sensitivities (numba).

The same quantities as :func:`allocart.fit.problem.patient_predictions` (the JAX path), for a
batch of patients at once: the prediction of every observation row and its derivative with
respect to the estimated parameters on their transformed scale. The ODE and its sensitivity
equations are solved by :func:`allocart.engine.sensitivity.solve_sensitivities` (generated
from the single model definition); derived parameters, baseline states and read-outs are
differentiated symbolically (:mod:`allocart.model.sensitivity`) and chained here.

A gradient this way costs a few milliseconds per patient on one core, against tens to
hundreds of milliseconds for forward-mode JAX through diffrax, which is what makes NUTS of one
patient run in about a minute (``allocart bench fit``, docs/fitting.md).
:func:`jax_predictions` exposes it to JAX (NumPyro) as a differentiable function.
"""

from __future__ import annotations

import collections

import numpy as np

from allocart.engine.sensitivity import solve_sensitivities
from allocart.fit.problem import FitProblem
from allocart.model.codegen import derived_function, initial_function, parameter_names
from allocart.model.equations import MODEL
from allocart.model.sensitivity import (
    initial_jacobian_function,
    observable_jacobian_function,
    parameter_closure,
    parameter_jacobian_function,
    sensitivity_kernel,
)

__all__ = ["SensitivityModel", "sensitivity_model", "jax_predictions", "ATOL_SCALE"]

ATOL_SCALE = 1e-3
"""Multiplies the model's per-state absolute tolerances (as in the JAX path)."""


class SensitivityModel:
    """Predictions and Jacobians of one problem's observation rows.

    Parameters
    ----------
    problem : FitProblem
    rtol : float
        Relative tolerance of the solve.
    """

    def __init__(self, problem: FitProblem, rtol: float = 1e-6) -> None:

        self.problem = problem
        self.rtol = float(rtol)
        est = problem.param_names
        self.wrt = parameter_closure(est)
        self.primary_names = problem.table.names
        self.param_names = parameter_names()
        self._est_idx = np.array([self.primary_names.index(p) for p in est])
        self._logit = np.array([p.transform == "logit" for p in problem.params])
        self._derived = derived_function()
        self._initial = initial_function()
        self._dq = parameter_jacobian_function(tuple(est), self.wrt)
        self._dy0 = initial_jacobian_function(self.wrt)
        self._obs = observable_jacobian_function(self.wrt, tuple(problem.observables))
        self._memo: collections.OrderedDict = collections.OrderedDict()
        self._atol = np.array([s.atol for s in MODEL.states]) * ATOL_SCALE
        self._i_e = MODEL.state_index("E")
        self._i_m = MODEL.state_index("M")
        self._fe0 = est.index("f_E0") if "f_E0" in est else -1
        self._i_fe0 = self.primary_names.index("f_E0")
        # Compile (or load) now, not inside the first evaluation.
        self._kernel = sensitivity_kernel(self.wrt, len(est))

    MEMO_SIZE = 256
    """Results kept for repeated points (patient, theta)."""

    def evaluate(self, theta: np.ndarray, index: np.ndarray | None = None):
        """Predictions and Jacobians of patients ``index`` at ``theta``, from memory where the
        same patient was evaluated at the same point before.

        Vectorised NUTS chains step in lockstep: a chain whose trajectory has finished repeats
        the same point until the others finish, so about a third of the points of a 4-chain
        run are repeats (docs/fitting.md). Results are identical either way.

        Parameters
        ----------
        theta : ndarray (m, k)
            Estimated parameters on the transformed scale, one row per patient of ``index``.
        index : ndarray (m,) of int, optional
            Patients (positions in the problem); default all, in order.

        Returns
        -------
        pred : ndarray (m, n_rows)
        jac : ndarray (m, n_rows, k)
            ``d pred / d theta``.
        ok : ndarray (m,) of bool
            The solve succeeded and everything is finite.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        idx = np.arange(self.problem.n) if index is None else np.asarray(index, dtype=int)
        keys = [(int(i), th.tobytes()) for i, th in zip(idx, theta)]
        todo = [r for r, key in enumerate(keys) if key not in self._memo]
        # Rows repeated within this call are solved once.
        first: dict[tuple, int] = {}
        for r in todo:
            first.setdefault(keys[r], r)
        rows = list(first.values())
        if rows:
            pred, jac, ok = self._solve(theta[rows], idx[rows])
            for a, r in enumerate(rows):
                self._memo[keys[r]] = (pred[a], jac[a], ok[a])
        m, k = theta.shape
        n_rows = self.problem.row_t.shape[1]
        pred = np.empty((m, n_rows))
        jac = np.empty((m, n_rows, k))
        ok = np.empty(m, dtype=bool)
        for r, key in enumerate(keys):
            pred[r], jac[r], ok[r] = self._memo[key]
            self._memo.move_to_end(key)
        while len(self._memo) > self.MEMO_SIZE:
            self._memo.popitem(last=False)
        return pred, jac, ok

    def _solve(self, theta: np.ndarray, idx: np.ndarray):
        """:meth:`evaluate` without memory: one batched sensitivity solve."""
        # A sampler's trial point far in the tails overflows the transforms or the derived
        # parameters; such a patient comes back not ok (its likelihood -inf), so numpy's
        # warnings would only repeat that on the terminal.
        with np.errstate(all="ignore"):
            return self._solve_batch(theta, idx)

    def _solve_batch(self, theta: np.ndarray, idx: np.ndarray):

        pb = self.problem
        m, k = theta.shape
        nat = pb.to_natural(theta)
        dnat = np.where(self._logit, nat * (1 - nat), nat)  # d natural / d theta
        prim = pb.base[idx].copy()
        prim[:, self._est_idx] = nat
        env = {name: prim[:, i] for i, name in enumerate(self.primary_names)}
        env.update(self._derived(env))
        full = np.empty((m, len(self.param_names)))
        for i, name in enumerate(self.param_names):
            full[:, i] = env[name]
        env = {name: full[:, i] for i, name in enumerate(self.param_names)}
        dq = self._dq(env) * dnat[:, :, None]  # (m, k, n_q)
        y0 = self._initial(env)
        s0 = np.einsum("mkq,mqs->mks", dq, self._dy0(env))
        cells = pb.ev_cells[idx]
        fe0 = prim[:, self._i_fe0][:, None]
        add = pb.ev_drug[idx].copy()
        add[:, :, self._i_e] += fe0 * cells
        add[:, :, self._i_m] += (1 - fe0) * cells
        add_s = np.zeros(add.shape[:2] + (k, add.shape[2]))
        if self._fe0 >= 0:
            add_s[:, :, self._fe0, self._i_e] = cells * dnat[:, None, self._fe0]
            add_s[:, :, self._fe0, self._i_m] = -cells * dnat[:, None, self._fe0]
        res = solve_sensitivities(
            self._kernel,
            y0,
            s0,
            full,
            dq,
            pb.t0[idx],
            pb.ev_time[idx],
            add,
            add_s,
            pb.obs_time[idx],
            rtol=self.rtol,
            atol=self._atol,
        )
        val, gy, gq = self._obs(res.y, env)
        dobs = np.einsum("ntos,ntks->ntok", gy, res.s) + np.einsum("ntoq,nkq->ntok", gq, dq)
        rows = np.arange(m)[:, None]
        rt, ro = pb.row_t[idx], pb.row_k[idx]
        pred = val[rows, rt, ro]
        jac = dobs[rows, rt, ro]
        mask = pb.mask[idx]
        ok = (
            (res.status == 0)
            & np.all(np.isfinite(np.where(mask, pred, 0.0)), axis=1)
            & np.all(np.isfinite(np.where(mask[:, :, None], jac, 0.0)), axis=(1, 2))
        )
        return pred, jac, ok


def sensitivity_model(problem: FitProblem, rtol: float = 1e-6) -> SensitivityModel:
    """The :class:`SensitivityModel` of ``problem`` (built once per problem and tolerance).

    It is kept on the problem object itself, so it lives exactly as long as the problem.
    """
    per = problem.__dict__.get("_sensitivity_models")
    if per is None:
        per = {}
        object.__setattr__(problem, "_sensitivity_models", per)  # frozen dataclass: a private cache
    if float(rtol) not in per:
        per[float(rtol)] = SensitivityModel(problem, rtol)
    return per[float(rtol)]


def jax_predictions(model: SensitivityModel):
    """``f(theta, index) -> (pred, ok)`` for JAX, differentiable in ``theta``.

    ``theta`` has shape (k,) and ``index`` is the patient's position (an integer array of
    shape ()); ``ok`` is 1.0 where the solve succeeded and 0.0 where it failed (``pred`` is
    then 0 with a zero derivative, so the caller masks it without NaN reaching a gradient). The value comes from a host callback into the numba solver; the derivative is
    the sensitivity Jacobian of the same solve (a ``custom_jvp`` whose tangent is linear in
    the tangent of ``theta``, so reverse mode, which NumPyro's NUTS uses, works by
    transposition). Under ``vmap`` (vectorised chains) the callback receives the whole batch
    and solves it in parallel threads.
    """
    import jax
    import jax.numpy as jnp

    pb = model.problem
    n_rows, k = pb.row_t.shape[1], pb.k

    def host(theta, index):
        theta = np.asarray(theta, dtype=float)
        index = np.asarray(index)
        batch = theta.shape[:-1]
        th = theta.reshape(-1, k)
        ix = np.broadcast_to(index, batch).reshape(-1).astype(int)
        pred, jac, ok = model.evaluate(th, ix)
        pred = np.where(ok[:, None], pred, 0.0)
        jac = np.where(ok[:, None, None], jac, 0.0)
        return (
            pred.reshape(batch + (n_rows,)),
            jac.reshape(batch + (n_rows, k)),
            ok.astype(float).reshape(batch),
        )

    def call(theta, index):
        batch = theta.shape[:-1]
        shapes = (
            jax.ShapeDtypeStruct(batch + (n_rows,), jnp.float64),
            jax.ShapeDtypeStruct(batch + (n_rows, k), jnp.float64),
            jax.ShapeDtypeStruct(batch, jnp.float64),
        )
        return jax.pure_callback(host, shapes, theta, index, vmap_method="broadcast_all")

    @jax.custom_jvp
    def predict(theta, index):
        pred, _, ok = call(theta, index)
        return pred, ok

    @predict.defjvp
    def predict_jvp(primals, tangents):
        theta, index = primals
        dtheta, _ = tangents
        pred, jac, ok = call(theta, index)
        return (pred, ok), (jnp.einsum("...rk,...k->...r", jac, dtheta), jnp.zeros_like(ok))

    return predict
