"""The model as JAX functions, and a segment-wise diffrax solve for fitting.

Derived parameters, baseline states and assay read-outs are generated here with
``sympy.lambdify(..., modules="jax")`` from the single model definition
(:data:`allocart.model.equations.MODEL`); the vector field is
:func:`allocart.model.codegen.jax_rhs`. Nothing restates an equation.

Dosing events add amounts to states, so the solution has jumps at event times. The solve
integrates each interval between events separately (``diffeqsolve`` from one event time to the
next) and applies the jumps in between; observation times are clipped into each interval and the
read-outs taken from the interval that contains them, so every patient has arrays of the same
shape and a batch of patients can be ``vmap``-ed. Everything is float64.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import sympy as sp

from allocart.fit.residual import FitError
from allocart.model.codegen import (
    inline_intermediates,
    jax_rhs,
    parameter_names,
    primary_parameter_names,
)
from allocart.model.equations import MODEL

__all__ = ["enable_jax", "require_jax", "JaxModel", "jax_model", "OBSERVABLE_NAMES", "JAX_EXTRA"]

JAX_EXTRA = "pip install 'allocart[jax]'"
"""How to install the optional JAX stack (JAX, diffrax, NumPyro, ArviZ)."""


def require_jax(what: str, modules: tuple[str, ...] = (), *, argument: str | None = None) -> Any:
    """Import JAX (switched on by :func:`enable_jax`) and ``modules``, or raise a one-line
    :class:`~allocart.fit.residual.FitError` naming the optional extra.

    The default fitting path (posterior modes, Laplace approximations and the population point
    estimate on numba forward sensitivities) needs none of them; NUTS (``--method nuts``), the
    ``jax`` gradient backend and ``allocart bench fit`` do.

    Returns
    -------
    module
        ``jax``.
    """
    import importlib

    for name in ("jax", *modules):
        try:
            importlib.import_module(name)
        except ImportError:
            raise FitError(
                f"{what} needs {name}, which is not installed (part of the optional JAX extra): {JAX_EXTRA}",
                argument=argument,
            ) from None
    enable_jax()
    import jax

    return jax


def enable_jax() -> None:
    """Switch JAX to float64 and turn on the persistent compilation cache.

    The cache lives under ``$ALLOCART_CACHE_DIR/jax`` or ``.cache/jax`` in the working
    directory; compiling the model's gradient costs tens of seconds, loading it from the cache
    a fraction of that.

    Before JAX starts its CPU backend, XLA is asked to run each computation on one thread
    (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, added to
    ``XLA_FLAGS`` unless the user set those flags): the sampler's operations are tiny, and
    XLA's idle worker threads otherwise spin on the cores that the numba sensitivity solves
    called back from the sampler need, which made the NUTS benchmark 1.7 times slower
    (63 s against 36.5 s, docs/fitting.md).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags and "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (
            flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    import jax

    jax.config.update("jax_enable_x64", True)
    base = os.environ.get("ALLOCART_CACHE_DIR")
    cache = Path(base) / "jax" if base else Path(".cache") / "jax"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(cache.resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except OSError:  # read-only working directory: run without the cache
        pass


@functools.lru_cache(maxsize=1)
def _model():
    return MODEL


OBSERVABLE_NAMES: tuple[str, ...] = tuple(o.name for o in _model().observables)
"""Read-outs of the model, in definition order (``observables_function`` order)."""


class JaxModel:
    """JAX functions of one model: parameters -> baseline -> trajectories -> read-outs.

    Attributes
    ----------
    primary_names, param_names : tuple of str
        Primary parameters (table order) and the solver's full parameter vector order.
    """

    def __init__(self) -> None:
        import jax.numpy as jnp

        model = _model()
        self.primary_names = primary_parameter_names()
        self.param_names = parameter_names()
        self.state_names = model.state_names
        self.n_states = len(self.state_names)
        self.rhs = jax_rhs()
        pidx = {n: i for i, n in enumerate(self.param_names)}
        self._pidx = pidx
        derived = []
        for name, expr in model.derived.items():
            args = tuple(sorted(s.name for s in expr.free_symbols))
            derived.append(
                (name, sp.lambdify([sp.Symbol(a) for a in args], expr, modules="jax"), args)
            )
        self._derived = derived
        init = []
        for s in self.state_names:
            expr = model.initial[s]
            args = tuple(sorted(x.name for x in expr.free_symbols))
            init.append((sp.lambdify([sp.Symbol(a) for a in args], expr, modules="jax"), args))
        self._init = init
        obs = []
        for ob in model.observables:
            expr = inline_intermediates(ob.expr, model)
            args = tuple(sorted(x.name for x in expr.free_symbols))
            obs.append((sp.lambdify([sp.Symbol(a) for a in args], expr, modules="jax"), args))
        self._obs = obs
        self._jnp = jnp

    def full_parameters(self, primary):
        """Primary parameter vector (table order) -> full vector with derived parameters."""
        jnp = self._jnp
        env = {n: primary[i] for i, n in enumerate(self.primary_names)}
        out = []
        for name, fn, args in self._derived:
            env[name] = fn(*(env[a] for a in args))
            out.append(env[name])
        return jnp.concatenate([primary, jnp.stack(out)])

    def initial(self, p):
        """Pre-treatment steady state from the full parameter vector."""
        jnp = self._jnp
        env = {n: p[i] for i, n in enumerate(self.param_names)}
        return jnp.stack(
            [jnp.asarray(fn(*(env[a] for a in args)), dtype=p.dtype) for fn, args in self._init]
        )

    def observe(self, ys, p):
        """Read-outs at states ``ys`` of shape (n, n_states): array (n, n_observables)."""
        jnp = self._jnp
        env = {s: ys[:, i] for i, s in enumerate(self.state_names)}
        env.update({n: p[i] for i, n in enumerate(self.param_names)})
        cols = [
            jnp.broadcast_to(jnp.asarray(fn(*(env[a] for a in args)), dtype=ys.dtype), ys.shape[:1])
            for fn, args in self._obs
        ]
        return jnp.stack(cols, axis=1)

    def solve_observables(
        self,
        primary,
        t0,
        ev_time,
        ev_add,
        obs_time,
        *,
        rtol=1e-6,
        atol_scale=1e-3,
        max_steps=4096,
        forward_mode=False,
        return_ok=False,
    ):
        """Read-outs at ``obs_time`` for one patient.

        Parameters
        ----------
        primary : array (n_primary,)
            Primary parameters, internal units.
        t0 : float
            Start (days after infusion), before the first event.
        ev_time : array (n_events,)
            Event times in days, non-decreasing, each >= t0; padding events carry zero
            amounts and the last observation time.
        ev_add : array (n_events, n_states)
            Amount added to each state at each event (cells, mg/m2).
        obs_time : array (n_obs,)
            Observation times in days (padding repeats a real time).
        rtol : float
            Relative tolerance of the Tsit5 steps.
        atol_scale : float
            Multiplies the per-state absolute tolerances of the model definition.
        forward_mode : bool
            Differentiate in forward mode (``jax.jacfwd``; cheaper than reverse mode for a
            handful of parameters because no steps are stored for a backward pass).

        return_ok : bool
            Also return whether every segment's solve succeeded (``throw=False`` keeps a failed
            solve, e.g. one that ran out of ``max_steps``, from raising inside a sampler).

        Returns
        -------
        array (n_obs, n_observables)
            And, with ``return_ok``, a boolean scalar.
        """
        import diffrax
        import jax.numpy as jnp

        p = self.full_parameters(primary)
        y = self.initial(p)
        term = diffrax.ODETerm(lambda t, y, args: self.rhs(t, y, args))
        atol = jnp.asarray([s.atol for s in _model().states]) * atol_scale
        ctrl = diffrax.PIDController(rtol=rtol, atol=atol)
        bounds = jnp.concatenate(
            [jnp.asarray([t0]), ev_time, jnp.asarray([jnp.maximum(obs_time.max(), ev_time[-1])])]
        )
        out = jnp.zeros((obs_time.shape[0], self.n_states))
        n_seg = bounds.shape[0] - 1
        ok = jnp.asarray(True)
        adjoint = diffrax.ForwardMode() if forward_mode else diffrax.RecursiveCheckpointAdjoint()
        for k in range(n_seg):
            a, b = bounds[k], bounds[k + 1]
            if k > 0:
                y = y + ev_add[k - 1]
            ts = jnp.clip(obs_time, a, b)
            # A zero-length interval (events on the same day, padding) is stepped over.
            b_eff = jnp.maximum(b, a + 1e-9)
            sol = diffrax.diffeqsolve(
                term,
                diffrax.Tsit5(),
                a,
                b_eff,
                None,
                y,
                p,
                saveat=diffrax.SaveAt(ts=jnp.clip(ts, a, b_eff), t1=True),
                stepsize_controller=ctrl,
                max_steps=max_steps,
                throw=False,
                adjoint=adjoint,
            )
            last = k == n_seg - 1
            inside = (obs_time >= a) & ((obs_time <= b) if last else (obs_time < b))
            # SaveAt(ts=..., t1=True) stacks the requested times first and t1 last.
            out = jnp.where(inside[:, None], sol.ys[:-1], out)
            y = sol.ys[-1]
            ok = ok & (sol.result == diffrax.RESULTS.successful)
        obs = self.observe(out, p)
        return (obs, ok) if return_ok else obs


@functools.lru_cache(maxsize=1)
def jax_model() -> JaxModel:
    """The shared :class:`JaxModel` (building it lambdifies the model once)."""
    enable_jax()
    return JaxModel()
