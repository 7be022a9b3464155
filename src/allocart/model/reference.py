"""Reference solution of a patient batch with SciPy's ``solve_ivp``.

Independent of the batched engine (different integrator, plain-Python right-hand side), so
it serves as the accuracy reference in tests and as the SciPy peer in benchmarks.
Integration restarts at every dosing event, like the engine.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from allocart.model.codegen import rhs_python
from allocart.model.equations import MODEL
from allocart.model.scenario import PatientBatch

__all__ = ["solve_reference", "default_atol"]


def default_atol(scale: float = 1.0) -> np.ndarray:
    """Per-state absolute tolerances (state units) from the model definition."""
    return np.array([s.atol for s in MODEL.states]) * scale


def solve_reference(
    batch: PatientBatch,
    t_out: np.ndarray,
    *,
    method: str = "LSODA",
    rtol: float = 1e-8,
    atol: np.ndarray | float | None = None,
    patients: range | list[int] | None = None,
) -> np.ndarray:
    """Solve selected patients of ``batch`` with SciPy.

    Returns
    -------
    ndarray, shape (n_selected, n_times, n_states)
        States after any event at the same time (right-continuous).
    """
    rhs = rhs_python()
    n_states = batch.y0.shape[1]
    atol_v = (
        default_atol() if atol is None else np.broadcast_to(np.asarray(atol, float), (n_states,))
    )
    t_out = np.asarray(t_out, dtype=float)
    sel = range(batch.n) if patients is None else patients
    out = np.full((len(sel), len(t_out), n_states), np.nan)
    for k, i in enumerate(sel):
        p = batch.params[i]
        dy = np.empty(n_states)

        def f(t: float, y: np.ndarray, p: np.ndarray = p, dy: np.ndarray = dy) -> np.ndarray:
            rhs(t, y, p, dy)
            return dy.copy()

        y = batch.y0[i].copy()
        t = batch.t0
        ev_t = batch.event_time[i]
        ev = [
            (ev_t[j], batch.event_state[i, j], batch.event_op[i, j], batch.event_value[i, j])
            for j in range(len(ev_t))
            if np.isfinite(ev_t[j])
        ]
        breaks = sorted({e[0] for e in ev if e[0] <= t_out[-1]} | {float(t_out[-1])})
        ej = 0
        for tb in breaks:
            # apply events at or before the current time
            while ej < len(ev) and ev[ej][0] <= t:
                _apply(y, ev[ej])
                ej += 1
            if tb > t:
                mask = (t_out >= t) & (t_out < tb)
                teval = np.append(t_out[mask], tb)
                sol = solve_ivp(f, (t, tb), y, method=method, rtol=rtol, atol=atol_v, t_eval=teval)
                if not sol.success:
                    break
                out[k, mask] = sol.y[:, :-1].T
                y = sol.y[:, -1].copy()
                t = tb
            # events exactly at tb apply before recording outputs at tb (right-continuous)
            while ej < len(ev) and ev[ej][0] <= t:
                _apply(y, ev[ej])
                ej += 1
            at = t_out == t
            if at.any():
                out[k, at] = y
    return out


def _apply(y: np.ndarray, ev: tuple) -> None:
    _, s, op, v = ev
    if op == 0:
        y[s] += v
    elif op == 1:
        y[s] *= v
    else:
        y[s] = v
