"""Forward-sensitivity equations of the model, generated from its single definition.

For parameters ``theta`` (estimated per patient), the sensitivities ``S_j = dy/dtheta_j``
obey

``dS_j/dt = J(t, y, p) S_j + sum_q (df/dp_q)(t, y, p) D_jq``,  ``S_j(t0) = dy0/dtheta_j``

with ``J = df/dy`` and ``D_jq = dp_q/dtheta_j``. The parameters ``q`` that matter are the
estimated primary parameters and the derived parameters that depend on them
(:func:`parameter_closure`); ``D`` is a parameter-only matrix computed once per solve
(:func:`parameter_jacobian_function`). Everything here is differentiated symbolically by
sympy from :data:`allocart.model.equations.MODEL`; nothing restates an equation.

:func:`sensitivity_source` emits Python source of ``rhs_sens(t, z, p, D, dz)`` on the
augmented state ``z = [y, S_1, ..., S_K]`` (numba compiles it inside the sensitivity solver of
:mod:`allocart.engine.sensitivity`); the baseline and read-out derivatives are vectorised
NumPy functions.

References
----------
Hindmarsh AC, et al. SUNDIALS: Suite of nonlinear and differential/algebraic equation
solvers. ACM Trans Math Softw 2005;31:363-396 (CVODES forward sensitivity analysis).
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import sympy as sp

from allocart.engine.compile import kernel_cache_dir
from allocart.engine.sensitivity import sensitivity_kernel as _compile_sensitivity_kernel
from allocart.files import atomic_write_text
from allocart.model.codegen import (
    _cse,
    _inlined_odes,
    _loads,
    _printer,
    _source_header,
    _used_symbols,
    inline_intermediates,
    parameter_names,
)
from allocart.model.equations import MODEL, ModelDefinition

__all__ = [
    "parameter_closure",
    "sensitivity_source",
    "sensitivity_kernel",
    "parameter_jacobian_function",
    "initial_jacobian_function",
    "observable_jacobian_function",
]


def parameter_closure(primary: Sequence[str], model: ModelDefinition = MODEL) -> tuple[str, ...]:
    """The primary parameters ``primary`` and every derived parameter that depends on them.

    Parameters
    ----------
    primary : sequence of str
        Primary (table) parameter names.

    Returns
    -------
    tuple of str
        ``primary`` in the given order, then the dependent derived parameters in evaluation
        order.
    """
    dep = set(primary)
    out = list(primary)
    for name, expr in model.derived.items():
        if any(s.name in dep for s in expr.free_symbols):
            dep.add(name)
            out.append(name)
    return tuple(out)


@functools.lru_cache(maxsize=16)
def sensitivity_source(wrt: tuple[str, ...], kp: int = 8, model: ModelDefinition = MODEL) -> str:
    """Python source of the augmented right-hand side for sensitivities along ``wrt``.

    Parameters
    ----------
    wrt : tuple of str
        Full-vector parameter names ``q`` (primary or derived) whose partial derivatives
        ``df/dp_q`` enter the sensitivity equations, usually :func:`parameter_closure` of the
        estimated parameters.

    Returns
    -------
    str
        Source defining ``N_STATES``, ``N_PARAMS``, ``N_Q``, ``KP``, ``rhs_sens(t, z, p, D, dz)``,
        ``IF_STATE`` (index of the model's exact-decay state, -1 if none) and
        ``decay_rate(p)`` (its parameter-only decay rate).
        ``z`` and ``dz`` have length ``N_STATES * (1 + KP)``: the states, then the
        sensitivities with ``z[N_STATES + i * KP + j] = dy_i/dtheta_j`` for ``KP`` directions
        (the estimated parameters; extra directions may be zero); ``p`` is
        the full parameter vector (:func:`parameter_names` order) and ``D`` has shape
        ``(N_Q, KP)`` with ``D[q, j] = dp_q/dtheta_j``.
    """
    pnames = parameter_names(model)
    unknown = [q for q in wrt if q not in pnames]
    if unknown:
        raise ValueError(f"wrt: {', '.join(unknown)} are not model parameters")
    snames = model.state_names
    n = len(snames)
    ys = [sp.Symbol(s) for s in snames]
    qs = [sp.Symbol(q) for q in wrt]
    odes = _inlined_odes(model)
    exprs: list[sp.Expr] = list(odes)
    # Per state i, (index l, position in exprs) of each nonzero df_i/dy_l (Jacobian) and of
    # each nonzero df_i/dp_q (parameter derivative, q the index in wrt).
    jac_terms: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    par_terms: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, f in enumerate(odes):
        free = f.free_symbols
        for found, symbols in ((jac_terms[i], ys), (par_terms[i], qs)):
            for k, x in enumerate(symbols):
                if x in free:
                    d = sp.diff(f, x)
                    if d != 0:
                        found.append((k, len(exprs)))
                        exprs.append(d)
    repl, reduced, used = _cse(exprs)
    pr = _printer()
    lines = [
        *_source_header(n, len(pnames), f"N_Q = {len(wrt)}", f"KP = {kp}"),
        "",
        "",
        "def rhs_sens(t, z, p, D, dz):",
    ]
    lines += _loads(snames, used, lambda i: f"z[{i}]")
    lines += _loads(pnames, used, lambda i: f"p[{i}]")
    lines += [f"    {sym} = {pr.doprint(e)}" for sym, e in repl]
    for i in range(n):
        lines.append(f"    dz[{i}] = {pr.doprint(reduced[i])}")
    # Partial derivatives that are constants or single symbols are printed inline; the rest
    # become named locals so the per-direction loop below only multiplies and adds.
    names: dict[int, str] = {}
    for idx in range(n, len(exprs)):
        e = reduced[idx]
        if e.is_Number or e.is_Symbol:
            names[idx] = pr.doprint(e)
        else:
            names[idx] = f"_d{idx}"
            lines.append(f"    _d{idx} = {pr.doprint(e)}")
    # Sensitivities are stored direction-minor (z[N_STATES + i * KP + j]) and D as
    # D[q, j], so this loop over directions j runs the same arithmetic on contiguous data and
    # LLVM turns it into SIMD instructions.
    lines.append("    for j in range(KP):")
    for i in range(n):
        terms = [f"{names[idx]} * z[{n} + {l} * KP + j]" for l, idx in jac_terms[i]]
        terms += [f"{names[idx]} * D[{q}, j]" for q, idx in par_terms[i]]
        lines.append(f"        dz[{n} + {i} * KP + j] = " + (" + ".join(terms) if terms else "0.0"))
    # The model's stiff state (ModelDefinition.exact_decay) decays at a parameter-only rate;
    # its sensitivities obey the same linear decay, so the solver can integrate all of them in
    # exact-decay form (docs/engine.md, "Exact decay of the stiff state").
    if_state, lam_expr = -1, sp.Integer(0)
    if model.exact_decay is not None:
        if_state = snames.index(model.exact_decay)
        lam_expr = -sp.diff(odes[if_state], ys[if_state])
        if lam_expr.free_symbols & (set(ys) | {sp.Symbol("t")}):
            raise ValueError(f"{model.exact_decay}: decay rate depends on the state")
    lines += ["", "", f"IF_STATE = {if_state}", "", "", "def decay_rate(p):"]
    lines += _loads(pnames, _used_symbols([lam_expr]), lambda i: f"p[{i}]")
    lines.append(f"    return {pr.doprint(lam_expr)}")
    lines.append("")
    return "\n".join(lines)


def _full_expressions(model: ModelDefinition) -> dict[str, sp.Expr]:
    """Every derived parameter as an expression of primary parameters only."""
    env: dict[sp.Symbol, sp.Expr] = {}
    for name, expr in model.derived.items():
        env[sp.Symbol(name)] = expr.xreplace(env)
    return {k.name: v for k, v in env.items()}


def _matrix_function(rows: list[list[sp.Expr]]) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """``f(params) -> array (n, len(rows), len(rows[0]))`` evaluating sympy expressions.

    Zero entries cost nothing; the others are lambdified once, vectorised over patients.
    """
    entries = []
    for a, row in enumerate(rows):
        for b, e in enumerate(row):
            e = sp.sympify(e)
            if e != 0:
                args = tuple(sorted(x.name for x in e.free_symbols))
                entries.append(
                    (a, b, sp.lambdify([sp.Symbol(x) for x in args], e, modules="numpy"), args)
                )
    shape = (len(rows), len(rows[0]) if rows else 0)

    def f(params: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(params.values())))
        out = np.zeros((n,) + shape)
        for a, b, g, args in entries:
            out[:, a, b] = g(*(params[x] for x in args))
        return out

    return f


@functools.lru_cache(maxsize=16)
def parameter_jacobian_function(
    primary: tuple[str, ...], wrt: tuple[str, ...], model: ModelDefinition = MODEL
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """``f(params) -> dp_q/dp_s`` of shape (n, len(primary), len(wrt)), vectorised.

    Parameters
    ----------
    primary : tuple of str
        Primary parameters ``s`` (the estimated ones, natural scale).
    wrt : tuple of str
        Full-vector parameters ``q`` (usually :func:`parameter_closure` of ``primary``).
    """
    full = _full_expressions(model)
    return _matrix_function(
        [
            [
                sp.Integer(1)
                if q == s
                else (sp.diff(full[q], sp.Symbol(s)) if q in full else sp.Integer(0))
                for q in wrt
            ]
            for s in primary
        ]
    )


@functools.lru_cache(maxsize=16)
def initial_jacobian_function(
    wrt: tuple[str, ...], model: ModelDefinition = MODEL
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """``f(params) -> dy0/dp_q`` of shape (n, len(wrt), n_states), vectorised over patients."""
    return _matrix_function(
        [[sp.diff(model.initial[s], sp.Symbol(q)) for s in model.state_names] for q in wrt]
    )


@functools.lru_cache(maxsize=16)
def observable_jacobian_function(
    wrt: tuple[str, ...], names: tuple[str, ...] | None = None, model: ModelDefinition = MODEL
) -> Callable[[np.ndarray, dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``f(y, params) -> (g, dg/dy, dg/dp_q)`` for the read-outs ``names`` (default all).

    ``y`` has shape (n, n_times, n_states) and each parameter array shape (n,). Returns arrays
    of shapes (n, n_times, n_obs), (n, n_times, n_obs, n_states) and
    (n, n_times, n_obs, len(wrt)), read-outs in the order of ``names``.
    """
    snames = model.state_names
    ys = [sp.Symbol(s) for s in snames]
    qs = [sp.Symbol(q) for q in wrt]

    def lam(e):
        args = tuple(sorted(x.name for x in e.free_symbols))
        return sp.lambdify([sp.Symbol(a) for a in args], e, modules="numpy"), args

    specs = []
    chosen = [o for o in model.observables if names is None or o.name in names]
    if names is not None:
        chosen.sort(key=lambda o: names.index(o.name))
        missing = set(names) - {o.name for o in chosen}
        if missing:
            raise ValueError(f"names: {', '.join(sorted(missing))} are not model read-outs")
    for ob in chosen:
        g = inline_intermediates(ob.expr, model)
        dy = [(i, lam(sp.diff(g, y))) for i, y in enumerate(ys) if y in g.free_symbols]
        dq = [(i, lam(sp.diff(g, q))) for i, q in enumerate(qs) if q in g.free_symbols]
        specs.append((lam(g), [(i, d) for i, d in dy if d[0] is not None], dq))

    def f(
        y: np.ndarray, params: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, nt, _ = y.shape
        env: dict[str, np.ndarray] = {s: y[:, :, i] for i, s in enumerate(snames)}
        env.update({k: np.asarray(v, dtype=float)[:, None] for k, v in params.items()})
        val = np.zeros((n, nt, len(specs)))
        gy = np.zeros((n, nt, len(specs), len(snames)))
        gq = np.zeros((n, nt, len(specs), len(wrt)))
        with np.errstate(divide="ignore", invalid="ignore"):
            for o, ((fn, args), dys, dqs) in enumerate(specs):
                val[:, :, o] = fn(*(env[a] for a in args))
                for i, (fn_i, args_i) in dys:
                    gy[:, :, o, i] = fn_i(*(env[a] for a in args_i))
                for i, (fn_i, args_i) in dqs:
                    gq[:, :, o, i] = fn_i(*(env[a] for a in args_i))
        return val, gy, gq

    return f


def _source_key(wrt: tuple[str, ...], kp: int) -> str:
    """Hash of everything the generated source depends on: the model, ``wrt``, ``kp``, sympy
    and this generator."""
    text = (
        "\n".join(sp.srepr(e) for e in _inlined_odes(MODEL))
        + "|"
        + ",".join(wrt)
        + f"|{kp}|"
        + sp.__version__
        + "|"
        + Path(__file__).read_text(encoding="utf-8")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _cached_source(wrt: tuple[str, ...], kp: int) -> str:
    """The generated source, kept on disk: sympy's differentiation and CSE take seconds."""
    path = kernel_cache_dir() / f"sens_source_{_source_key(wrt, kp)}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    src = sensitivity_source(wrt, kp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, src)
    except OSError:  # read-only cache: regenerate next time
        pass
    return src


@functools.lru_cache(maxsize=16)
def sensitivity_kernel(wrt: tuple[str, ...], kp: int = 8) -> types.ModuleType:
    """Compiled sensitivity solver of the model for parameters ``wrt`` and ``kp`` directions.

    Parameters
    ----------
    wrt : tuple of str
        Full-vector parameter names (see :func:`sensitivity_source`).
    kp : int
        Sensitivity directions (the number of estimated parameters).

    Returns
    -------
    types.ModuleType
        The kernel for :func:`allocart.engine.sensitivity.solve_sensitivities`. The first call
        in a fresh cache generates the source (seconds) and numba compiles it (about a
        minute); later processes load both from the kernel cache.
    """
    return _compile_sensitivity_kernel(_cached_source(tuple(wrt), int(kp)))
