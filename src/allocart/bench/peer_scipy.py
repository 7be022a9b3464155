"""SciPy ``solve_ivp`` as a peer of the batched engine: one patient after another."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

__all__ = ["time_scipy"]


def time_scipy(
    rhs_py: Callable,
    param_matrix: np.ndarray,
    y0_matrix: np.ndarray,
    t_out: np.ndarray,
    rtol: float = 1e-6,
    atol: float | np.ndarray = 1e-9,
    *,
    events: list | None = None,
    method: str = "LSODA",
) -> tuple[float, np.ndarray]:
    """Simulate patients one after another with SciPy ``solve_ivp``.

    Parameters
    ----------
    rhs_py : callable
        The model's ``rhs(t, y, p, dydt)`` as plain Python (``math`` functions only).
    param_matrix : numpy.ndarray, shape (n_pat, n_params)
    y0_matrix : numpy.ndarray, shape (n_pat, n_states)
    t_out : numpy.ndarray
        Output times in days; integration starts at ``t_out[0]``.
    rtol : float
    atol : float or numpy.ndarray of shape (n_states,)
    events : list of (time, state, value), optional
        Bolus additions, applied to every patient by restarting the integration.
    method : str
        Any ``solve_ivp`` method.

    Returns
    -------
    patients_per_s : float
    trajectories : numpy.ndarray, shape (n_pat, n_times, n_states)
    """

    t_out = np.asarray(t_out, dtype=float)
    n_pat, n_states = y0_matrix.shape
    traj = np.empty((n_pat, t_out.size, n_states))
    events = sorted(events or [], key=lambda e: e[0])
    stops = [e[0] for e in events if t_out[0] < e[0] <= t_out[-1]]
    tic = time.perf_counter()
    for i in range(n_pat):
        p = param_matrix[i]
        buf = np.empty(n_states)

        def f(t, y, p=p, buf=buf):
            rhs_py(t, y, p, buf)
            return buf.copy()

        y = np.array(y0_matrix[i], dtype=float)
        t = t_out[0]
        traj[i, 0] = y
        for seg_end in stops + [t_out[-1]]:
            mask = (t_out > t) & (t_out <= seg_end)
            sol = solve_ivp(
                f,
                (t, seg_end),
                y,
                method=method,
                rtol=rtol,
                atol=atol,
                t_eval=t_out[mask] if mask.any() else None,
                dense_output=False,
            )
            y = sol.y[:, -1].copy()
            for te, s, v in events:
                if te == seg_end:
                    y[s] += v
            if mask.any():
                traj[i, mask] = sol.y.T
                if t_out[mask][-1] == seg_end:
                    traj[i, np.nonzero(mask)[0][-1]] = y
            t = seg_end
    elapsed = time.perf_counter() - tic
    return n_pat / elapsed, traj
