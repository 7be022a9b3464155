"""Batched simulation of many virtual patients with per-patient adaptive steps.

See ``docs/engine.md`` for the methods, the step-size controller, event semantics and
measured performance.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, replace

import numba
import numpy as np

from allocart.engine.events import EventTable
from allocart.engine.status import (
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    STATUS_STEP_UNDERFLOW,
    STATUS_TEXT,
)
from allocart.errors import SolverError

__all__ = [
    "BatchResult",
    "solve_batch",
    "reduce_batch",
    "STATUS_OK",
    "STATUS_MAX_STEPS",
    "STATUS_NON_FINITE",
    "STATUS_STEP_UNDERFLOW",
    "STATUS_TEXT",
    "METHODS",
]

METHODS: tuple[str, ...] = ("dopri5",)
"""Integration methods by name; ``"auto"`` resolves to ``"dopri5"`` (see docs/engine.md)."""

DEFAULT_ATOL = 1e-9
"""Default absolute tolerance, in the model's state units."""


@dataclass(frozen=True)
class BatchResult:
    """Trajectories and diagnostics of a batch of patients.

    Attributes
    ----------
    t : numpy.ndarray, shape (n_times,)
        Output times in days.
    y : numpy.ndarray, shape (n_pat, n_times, n_states)
        State at each output time, after the events at that time. NaN after a failure.
    status : numpy.ndarray of int64, shape (n_pat,)
        ``STATUS_OK`` (0), ``STATUS_MAX_STEPS`` (1), ``STATUS_NON_FINITE`` (2) or
        ``STATUS_STEP_UNDERFLOW`` (3).
    n_steps : numpy.ndarray of int64, shape (n_pat,)
        Accepted steps.
    n_rejected : numpy.ndarray of int64, shape (n_pat,)
        Rejected steps.
    n_rhs : numpy.ndarray of int64, shape (n_pat,)
        Right-hand side evaluations (including finite-difference Jacobians).
    t_fail : numpy.ndarray of float64, shape (n_pat,)
        Time of failure in days, NaN for patients with status 0.
    """

    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    n_steps: np.ndarray
    n_rejected: np.ndarray
    n_rhs: np.ndarray
    t_fail: np.ndarray

    @property
    def n_pat(self) -> int:
        """Number of patients."""
        return int(self.y.shape[0])

    @property
    def ok(self) -> bool:
        """True if every patient finished."""
        return bool((self.status == STATUS_OK).all())

    def failures(self) -> list[tuple[int, str]]:
        """``(patient index, reason)`` for every patient that did not finish."""
        idx = np.nonzero(self.status != STATUS_OK)[0]
        return [
            (int(i), f"{STATUS_TEXT[int(self.status[i])]} at t = {self.t_fail[i]:.6g} d")
            for i in idx
        ]

    def raise_on_failure(self) -> None:
        """Raise :class:`~allocart.errors.SolverError` listing failed patients, if any."""
        fails = self.failures()
        if fails:
            shown = "; ".join(f"patient {i}: {why}" for i, why in fails[:5])
            more = f" (and {len(fails) - 5} more)" if len(fails) > 5 else ""
            raise SolverError(f"{len(fails)} of {self.n_pat} patients failed: {shown}{more}")


def _as_2d(name: str, arr, n_cols: int, col_label: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != n_cols:
        raise SolverError(
            f"{name} must have shape (n_pat, {n_cols}) ({col_label} = {n_cols}), got shape "
            f"{a.shape}"
        )
    return np.ascontiguousarray(a)


@dataclass(frozen=True)
class _Problem:
    """Validated input of a batch in the kernels' dtypes (see :func:`solve_batch`)."""

    y0: np.ndarray
    params: np.ndarray
    t_out: np.ndarray
    t0: np.ndarray
    events: EventTable
    rtol: float
    atol: np.ndarray
    max_steps: int
    h_max: float

    @property
    def n_pat(self) -> int:
        return int(self.y0.shape[0])

    def rows(self, start: int, stop: int) -> _Problem:
        """The problem of patients ``start:stop``."""
        return replace(
            self,
            y0=self.y0[start:stop],
            params=self.params[start:stop],
            t0=self.t0[start:stop],
            events=self.events.rows(start, stop),
        )

    def kernel_args(self, start: int, stop: int) -> tuple:
        """The kernels' ``problem`` tuple for patients ``start:stop`` (views, no copies)."""
        ev = self.events
        return (
            self.y0[start:stop],
            self.params[start:stop],
            self.t0[start:stop],
            self.t_out,
            ev.time[start:stop],
            ev.state[start:stop],
            ev.op[start:stop],
            ev.value[start:stop],
            self.rtol,
            self.atol,
            self.max_steps,
            self.h_max,
        )


def _prepare(
    kernel, y0, params, t_out, t0, events, rtol, atol, max_steps, method, h_max
) -> _Problem:
    """Validate user input and convert it to the kernel's dtypes; raises early."""
    if not isinstance(kernel, types.ModuleType) or not hasattr(kernel, "solve_all"):
        raise SolverError("kernel must be a module returned by allocart.engine.build_kernel")
    n_states = int(kernel.N_STATES)
    n_params = int(kernel.N_PARAMS)
    y0 = _as_2d("y0", y0, n_states, "N_STATES")
    n_pat = y0.shape[0]
    params = _as_2d("params", params, n_params, "N_PARAMS")
    if params.shape[0] != n_pat:
        raise SolverError(
            f"params has {params.shape[0]} rows but y0 has {n_pat}; give one row per patient"
        )
    if not np.isfinite(y0).all():
        r, c = np.argwhere(~np.isfinite(y0))[0]
        raise SolverError(f"y0[{r}, {c}] = {y0[r, c]} is not finite")
    t_out = np.ascontiguousarray(np.asarray(t_out, dtype=np.float64))
    if t_out.ndim != 1 or t_out.size == 0:
        raise SolverError(f"t_out must be a non-empty 1-D array, got shape {t_out.shape}")
    if not np.isfinite(t_out).all():
        raise SolverError("t_out contains NaN or inf")
    if t_out.size > 1 and (np.diff(t_out) < 0).any():
        k = int(np.nonzero(np.diff(t_out) < 0)[0][0])
        raise SolverError(
            f"t_out must be sorted; t_out[{k}] = {t_out[k]} > t_out[{k + 1}] = {t_out[k + 1]}"
        )
    t0a = np.asarray(t0, dtype=np.float64)
    if t0a.ndim == 0:
        t0a = np.full(n_pat, float(t0a))
    elif t0a.shape != (n_pat,):
        raise SolverError(f"t0 must be a float or shape ({n_pat},), got shape {t0a.shape}")
    t0a = np.ascontiguousarray(t0a)
    if not np.isfinite(t0a).all():
        raise SolverError("t0 contains NaN or inf")
    if n_pat and t0a.max() > t_out[0]:
        k = int(np.argmax(t0a))
        raise SolverError(f"t0[{k}] = {t0a[k]} is after the first output time {t_out[0]}")
    rtol = float(rtol)
    if not (np.isfinite(rtol) and rtol > 0.0):
        raise SolverError(f"rtol must be a positive finite number, got {rtol}")
    if rtol < 1e-14:
        raise SolverError(f"rtol = {rtol} is below what double precision can deliver (1e-14)")
    atol_a = np.asarray(atol, dtype=np.float64)
    if atol_a.ndim == 0:
        atol_a = np.full(n_states, float(atol_a))
    elif atol_a.shape != (n_states,):
        raise SolverError(f"atol must be a scalar or shape ({n_states},), got shape {atol_a.shape}")
    if not (np.isfinite(atol_a).all() and (atol_a >= 0).all()):
        raise SolverError(f"atol must be finite and >= 0, got {atol_a.tolist()}")
    if (atol_a == 0).any() and rtol == 0:  # pragma: no cover - rtol > 0 checked above
        raise SolverError("atol and rtol cannot both be zero")
    atol_a = np.ascontiguousarray(atol_a)
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
        raise SolverError(f"max_steps must be a positive integer, got {max_steps!r}")
    if method == "auto":
        method = "dopri5"
    if method not in METHODS:
        raise SolverError(f"method must be 'auto' or one of {sorted(METHODS)}, got {method!r}")
    if h_max is None:
        h_max = np.inf
    h_max = float(h_max)
    if not h_max > 0:
        raise SolverError(f"h_max must be > 0, got {h_max}")
    if events is None:
        events = EventTable.empty(n_pat)
    elif not isinstance(events, EventTable):
        raise SolverError(f"events must be an EventTable or None, got {type(events).__name__}")
    if events.n_pat != n_pat:
        raise SolverError(f"events has {events.n_pat} rows but y0 has {n_pat}")
    live = np.isfinite(events.time)
    if (live & ((events.state < 0) | (events.state >= n_states))).any():
        r, c = np.argwhere(live & ((events.state < 0) | (events.state >= n_states)))[0]
        raise SolverError(
            f"events.state[{r}, {c}] = {events.state[r, c]} is not a state index "
            f"(0..{n_states - 1})"
        )
    return _Problem(y0, params, t_out, t0a, events, rtol, atol_a, int(max_steps), h_max)


def _lane_groups(kernel, n_pat: int) -> int:
    """Lane groups to run: one per thread (they share the patients dynamically), but no
    more than there are patients to fill them."""
    lanes = int(kernel.LANES)
    return int(max(1, min(numba.get_num_threads(), -(-n_pat // lanes))))


def _use_lanes(kernel, lanes) -> bool:
    """Whether to run the SIMD lane kernel; validates an explicit request."""
    has = hasattr(kernel, "solve_all_lanes")
    if lanes is None:
        return has
    if not isinstance(lanes, (bool, np.bool_)):
        raise SolverError(f"lanes must be True, False or None, got {lanes!r}")
    if lanes and not has:
        raise SolverError(
            "lanes=True needs a kernel built with lanes_source (build_kernel(..., lanes_source=...))"
        )
    return bool(lanes)


def _run_kernel(
    kernel,
    problem: _Problem,
    n_threads: int | None,
    chunk_size: int | None,
    progress: Callable[[int, int], None] | None = None,
    lanes: bool = False,
) -> BatchResult:
    """Run the per-patient or lane kernel over ``problem`` in chunks of ``chunk_size``."""
    n_pat, n_states = problem.y0.shape
    n_times = problem.t_out.shape[0]
    y = np.empty((n_pat, n_times, n_states))
    status = np.zeros(n_pat, np.int64)
    n_acc = np.zeros(n_pat, np.int64)
    n_rej = np.zeros(n_pat, np.int64)
    n_rhs = np.zeros(n_pat, np.int64)
    t_fail = np.full(n_pat, np.nan)
    if chunk_size is None:
        chunk_size = n_pat
    chunk_size = max(1, int(chunk_size))
    old_threads = numba.get_num_threads()
    # Patients differ in cost (events, failures); small dynamic chunks balance the threads.
    old_chunk = numba.get_parallel_chunksize()
    try:
        if n_threads is not None:
            numba.set_num_threads(int(n_threads))
        numba.set_parallel_chunksize(1 if lanes else 4)
        for a in range(0, n_pat, chunk_size):
            b = min(n_pat, a + chunk_size)
            args = problem.kernel_args(a, b)
            results = (y[a:b], status[a:b], n_acc[a:b], n_rej[a:b], n_rhs[a:b], t_fail[a:b])
            if lanes:
                kernel.solve_all_lanes(args, _lane_groups(kernel, b - a), results)
            else:
                kernel.solve_all(args, results)
            if progress is not None:
                progress(b, n_pat)
    finally:
        numba.set_parallel_chunksize(old_chunk)
        numba.set_num_threads(old_threads)
    return BatchResult(problem.t_out.copy(), y, status, n_acc, n_rej, n_rhs, t_fail)


def solve_batch(
    kernel: types.ModuleType,
    y0,
    params,
    t_out,
    *,
    t0,
    events: EventTable | None = None,
    rtol: float = 1e-6,
    atol=DEFAULT_ATOL,
    max_steps: int = 100_000,
    method: str = "auto",
    n_threads: int | None = None,
    chunk_size: int | None = None,
    h_max: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    lanes: bool | None = None,
) -> BatchResult:
    """Simulate a batch of patients, each with its own adaptive step size.

    Parameters
    ----------
    kernel : module
        Result of :func:`allocart.engine.build_kernel`.
    y0 : array_like, shape (n_pat, n_states)
        Initial states at ``t0``.
    params : array_like, shape (n_pat, n_params)
        Parameter vector of each patient.
    t_out : array_like, shape (n_times,)
        Sorted output times in days, ``t_out[0] >= t0``.
    t0 : float or array_like of shape (n_pat,)
        Start time in days.
    events : EventTable, optional
        Discrete state changes. Output at time ``t`` is the state after all events at ``t``.
        Events before ``t0`` act at ``t0``; events after ``t_out[-1]`` are ignored.
    rtol : float
        Relative tolerance of the local error (per step, RMS norm over states).
    atol : float or array_like of shape (n_states,)
        Absolute tolerance in state units.
    max_steps : int
        Attempted steps (accepted + rejected) allowed per patient.
    method : {"auto", "dopri5"}
        ``"dopri5"``: explicit Dormand-Prince 5(4); ``"auto"`` is ``"dopri5"``, which measured
        fastest for models whose fastest mode is a few per day (docs/engine.md).
    n_threads : int, optional
        numba threads for this call (restored afterwards); default: numba's current setting.
    chunk_size : int, optional
        Patients per kernel call; default all. Results do not depend on it.
    h_max : float, optional
        Largest step in days; default unbounded.
    progress : callable(done, total), optional
        Called after each chunk with the number of patients done.
    lanes : bool, optional
        Run DOPRI5 on SIMD lane groups of ``kernel.LANES`` patients (same method, controller
        and events; docs/engine.md, "SIMD lanes"). Default: whenever the kernel was built with
        a ``lanes_source``. ``False`` forces the per-patient kernel.

    Returns
    -------
    BatchResult
        Per-patient failures are reported in ``status`` (they never raise and never affect
        other patients); call :meth:`BatchResult.raise_on_failure` to make them errors.

    Raises
    ------
    SolverError
        On malformed input (shapes, unsorted ``t_out``, non-finite ``y0``, ``rtol <= 0``...).

    Notes
    -----
    Each patient is integrated independently, so results are bitwise identical whatever the
    batch size, chunk size or number of threads (for a given ``lanes`` setting: the lane and
    per-patient kernels round differently and agree to about 1e-9 relative).
    """
    problem = _prepare(kernel, y0, params, t_out, t0, events, rtol, atol, max_steps, method, h_max)
    use_lanes = _use_lanes(kernel, lanes)
    # numba.config sets its settings from the environment at import, out of sight of mypy.
    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if n_threads is not None and (int(n_threads) < 1 or int(n_threads) > most):
        raise SolverError(f"n_threads must be between 1 and {most}, got {n_threads}")
    return _run_kernel(kernel, problem, n_threads, chunk_size, progress, lanes=use_lanes)


def reduce_batch(
    kernel: types.ModuleType,
    y0,
    params,
    t_out,
    *,
    t0,
    reducer: Callable[[BatchResult], np.ndarray],
    events: EventTable | None = None,
    chunk_size: int = 4096,
    progress: Callable[[int, int], None] | None = None,
    **solve_kwargs,
) -> np.ndarray:
    """Simulate patients in chunks and keep only per-patient summaries.

    Memory stays bounded by ``chunk_size * n_times * n_states`` doubles, so a million patients
    never hold all trajectories at once.

    Parameters
    ----------
    kernel, y0, params, t_out, t0, events
        As in :func:`solve_batch`.
    reducer : callable
        ``reducer(chunk: BatchResult) -> array`` with one row per patient of the chunk
        (shape ``(n_chunk, ...)``), e.g. peak expansion and time of peak. The chunk's
        ``status`` tells which rows failed.
    chunk_size : int
        Patients simulated per chunk.
    progress : callable(done, total), optional
        Called after each chunk.
    **solve_kwargs
        ``rtol``, ``atol``, ``max_steps``, ``method``, ``n_threads``, ``h_max``, ``lanes``.

    Returns
    -------
    numpy.ndarray, shape (n_pat, ...)
        The reducer's rows, concatenated in patient order.
    """
    if not callable(reducer):
        raise SolverError(f"reducer must be callable, got {type(reducer).__name__}")
    if isinstance(chunk_size, bool) or int(chunk_size) < 1:
        raise SolverError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    n_threads = solve_kwargs.pop("n_threads", None)
    lanes = solve_kwargs.pop("lanes", None)
    unknown = set(solve_kwargs) - {"rtol", "atol", "max_steps", "method", "h_max"}
    if unknown:
        raise SolverError(f"reduce_batch got unexpected arguments: {sorted(unknown)}")
    problem = _prepare(
        kernel,
        y0,
        params,
        t_out,
        t0,
        events,
        solve_kwargs.get("rtol", 1e-6),
        solve_kwargs.get("atol", DEFAULT_ATOL),
        solve_kwargs.get("max_steps", 100_000),
        solve_kwargs.get("method", "auto"),
        solve_kwargs.get("h_max"),
    )
    use_lanes = _use_lanes(kernel, lanes)
    n_pat = problem.n_pat
    rows = []
    for a in range(0, n_pat, chunk_size):
        b = min(n_pat, a + chunk_size)
        res = _run_kernel(kernel, problem.rows(a, b), n_threads, None, lanes=use_lanes)
        r = np.asarray(reducer(res))
        if r.ndim == 0 or r.shape[0] != b - a:
            raise SolverError(
                f"reducer must return one row per patient of the chunk ({b - a}), got shape "
                f"{r.shape}"
            )
        rows.append(r)
        if progress is not None:
            progress(b, n_pat)
    if not rows:
        return np.empty((0,))
    return np.concatenate(rows, axis=0)
