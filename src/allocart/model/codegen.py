"""Generate executable forms of the model from its single symbolic definition.

Everything here is derived from :data:`allocart.model.equations.MODEL`:

* :func:`rhs_source` -- Python source of ``rhs(t, y, p, dydt)`` using only ``math`` and
  arithmetic, with common subexpressions eliminated; compiled by numba inside the batched
  solver (:mod:`allocart.engine`) and run as plain Python by the SciPy reference.
* :func:`jax_rhs` -- a JAX vector field ``f(t, y, p) -> dy`` for the differentiable backend.
* :func:`derived_function`, :func:`initial_function`, :func:`observables_function` --
  vectorised NumPy functions for derived parameters, baseline states and assay read-outs.

The SBML export (:mod:`allocart.model.sbml`) and the documentation listing
(:mod:`allocart.model.listing`) use the same definition.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from allocart.model.equations import MODEL, ModelDefinition
from allocart.model.parameters import load_default_parameters

__all__ = [
    "parameter_names",
    "primary_parameter_names",
    "derived_parameter_names",
    "rhs_source",
    "rhs_source_lanes",
    "LANES",
    "rhs_python",
    "jax_rhs",
    "derived_function",
    "initial_function",
    "observables_function",
    "model_hash",
]


def primary_parameter_names() -> tuple[str, ...]:
    """Names of the parameters of the table, in table order."""
    return load_default_parameters().names


def derived_parameter_names(model: ModelDefinition = MODEL) -> tuple[str, ...]:
    return tuple(model.derived)


def parameter_names(model: ModelDefinition = MODEL) -> tuple[str, ...]:
    """Order of the solver's parameter vector: primary parameters, then derived ones."""
    return primary_parameter_names() + derived_parameter_names(model)


class _MathPrinter(PythonCodePrinter):
    """Python printer emitting ``math.*`` calls and float literals only (numba-friendly)."""

    def _print_Rational(self, expr: sp.Rational) -> str:
        return repr(float(expr))

    def _print_Integer(self, expr: sp.Integer) -> str:
        return repr(float(expr))

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.as_base_exp()
        if exp == sp.Rational(1, 2):
            return f"math.sqrt({self._print(base)})"
        if exp == -1:
            return f"(1.0/{self.parenthesize(base, 1000)})"
        if exp.is_Integer and 2 <= int(exp) <= 3:
            b = self.parenthesize(base, 1000)
            return "(" + "*".join([b] * int(exp)) + ")"
        return super()._print_Pow(expr, rational=rational)


def _printer() -> _MathPrinter:
    return _MathPrinter({"fully_qualified_modules": True, "standard": "python3"})


def _used_symbols(exprs: Sequence[sp.Expr]) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        out |= {s.name for s in e.free_symbols}
    return out


def _cse(exprs: Sequence[sp.Expr], prefix: str = "_c") -> tuple[list, list, set[str]]:
    """Common subexpressions of ``exprs``: (replacements, reduced expressions, symbols used).

    The replacements are named ``<prefix>0``, ``<prefix>1`` ...; the names used are those of
    the free symbols of both, which the generated source must load.
    """
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix), optimizations="basic")
    return repl, reduced, _used_symbols([e for _, e in repl] + list(reduced))


def _loads(
    names: Sequence[str], used: set[str], slot: Callable[[int], str], indent: str = "    "
) -> list[str]:
    """Source lines ``name = <slot(i)>`` for each name (the ``i``-th) that ``used`` holds."""
    return [f"{indent}{n} = {slot(i)}" for i, n in enumerate(names) if n in used]


def _source_header(n_states: int, n_params: int, *constants: str) -> list[str]:
    """First lines of a generated kernel module: ``import math``, sizes and ``constants``."""
    return ["import math", "", f"N_STATES = {n_states}", f"N_PARAMS = {n_params}", *constants]


def inline_intermediates(expr: sp.Expr, model: ModelDefinition = MODEL) -> sp.Expr:
    """``expr`` with every intermediate quantity replaced by its definition."""
    return expr.xreplace(_intermediate_map(model))


@functools.lru_cache(maxsize=4)
def _intermediate_map(model: ModelDefinition) -> dict[sp.Symbol, sp.Expr]:
    full: dict[sp.Symbol, sp.Expr] = {}
    for name, expr in model.intermediates.items():
        full[sp.Symbol(name)] = expr.xreplace(full)
    return full


def _inlined_odes(model: ModelDefinition) -> list[sp.Expr]:
    """ODE right-hand sides with every intermediate substituted (for joint CSE)."""
    return [inline_intermediates(model.odes[s], model) for s in model.state_names]


@functools.lru_cache(maxsize=4)
def rhs_source(model: ModelDefinition = MODEL) -> str:
    """Python source of the right-hand side.

    The source defines ``N_STATES``, ``N_PARAMS`` and ``rhs(t, y, p, dydt)``, where ``y`` holds
    the states in :attr:`ModelDefinition.states` order and ``p`` the parameters in
    :func:`parameter_names` order. Common subexpressions are eliminated so one evaluation
    costs as few floating-point operations as the equations allow.
    """
    pr = _printer()
    pnames = parameter_names(model)
    snames = model.state_names
    repl, reduced, used = _cse(_inlined_odes(model))
    lines = [*_source_header(len(snames), len(pnames)), "", "", "def rhs(t, y, p, dydt):"]
    lines += _loads(snames, used, lambda i: f"y[{i}]")
    lines += _loads(pnames, used, lambda i: f"p[{i}]")
    for sym, e in repl:
        lines.append(f"    {sym} = {pr.doprint(e)}")
    for i, e in enumerate(reduced):
        lines.append(f"    dydt[{i}] = {pr.doprint(e)}")
    lines.append("")
    return "\n".join(lines)


LANES = 8
"""Patients per SIMD lane group of :func:`rhs_source_lanes` (one AVX-512 register of doubles;
on AVX2 machines LLVM splits each lane operation into two 4-wide instructions)."""

_VEXP = sp.Function("_vexp")
_VLOG = sp.Function("_vlog")


def _vectorisable(expr: sp.Expr) -> sp.Expr:
    """``expr`` with ``log`` and non-integer powers written with ``_vexp``/``_vlog``.

    libm's ``log`` and ``pow`` are opaque calls that stop LLVM from vectorising a loop over
    patients; ``_vexp``/``_vlog`` (defined in the solver's lane kernel) are branch-free
    arithmetic that it vectorises. ``b**e = exp(e*log(b))`` for ``b > 0`` (every power in the
    model has a positive base); a negative base gives NaN like ``pow`` does, which the solver
    treats as a failed stage. Square roots and small integer powers are left alone (they are
    native vector instructions or multiplications).
    """

    def is_general_pow(e: sp.Expr) -> bool:
        if not e.is_Pow:
            return False
        x = e.exp
        return not (x.is_Integer or x in (sp.S.Half, -sp.S.Half))

    out = expr.replace(lambda e: isinstance(e, sp.log), lambda e: _VLOG(e.args[0]))
    out = out.replace(is_general_pow, lambda e: _VEXP(e.exp * _VLOG(e.base)))
    return out.replace(lambda e: isinstance(e, sp.exp), lambda e: _VEXP(e.args[0]))


def _hoist_parameter_terms(
    exprs: Sequence[sp.Expr], params: set[sp.Symbol]
) -> tuple[list[sp.Expr], list[tuple[sp.Symbol, sp.Expr]]]:
    """Replace the largest subexpressions that depend on parameters only by new symbols.

    Returns the rewritten expressions and ``(symbol, expression)`` pairs. Such terms (products
    of rate constants, ``1/K_ss``, products of antigen-escape factors...) are the same at
    every evaluation of one patient, so the lane solver computes them once per patient.
    Within a sum or product the parameter-only operands are grouped into one term.
    """
    table: dict[sp.Expr, sp.Symbol] = {}

    def sym_for(e: sp.Expr) -> sp.Symbol:
        if e not in table:
            table[e] = sp.Symbol(f"_k{len(table)}")
        return table[e]

    def const(e: sp.Expr) -> bool:
        return e.free_symbols <= params

    def walk(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        if const(e):
            return sym_for(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            fixed = [a for a in e.args if const(a)]
            rest = [walk(a) for a in e.args if not const(a)]
            group = e.func(*fixed)
            # A lone parameter, possibly negated or scaled, costs nothing to keep.
            trivial = group.is_Atom or (
                group.is_Mul
                and len(group.args) == 2
                and group.args[0].is_Number
                and group.args[1].is_Symbol
            )
            if fixed and not trivial:
                return e.func(sym_for(group), *rest)
            return e.func(*fixed, *rest)
        return e.func(*[walk(a) for a in e.args])

    out = [walk(e) for e in exprs]
    return out, [(v, k) for k, v in table.items()]


@functools.lru_cache(maxsize=4)
def rhs_source_lanes(
    model: ModelDefinition = MODEL, lanes: int = LANES, exact_decay: str | None = "model"
) -> str:
    """Python source of the right-hand side for a group of ``lanes`` patients at once.

    Defines ``LANES``, the workspace offsets ``LANE_P``, ``LANE_T``, ``LANE_Y``, ``LANE_D``
    and ``rhs_lanes(w)``. ``w`` is one flat float64 array holding, for the lane group,
    parameter ``q`` of lane ``l`` at ``w[LANE_P + q * LANES + l]``, the time of lane ``l`` at
    ``w[LANE_T + l]``, state ``i`` at ``w[LANE_Y + i * LANES + l]``, and receives
    ``dy_i/dt`` at ``w[LANE_D + i * LANES + l]``.

    Why one array at constant offsets: the body is a single loop over lanes with no
    cross-lane terms, which LLVM turns into vector instructions only if it can prove that the
    stores do not overlap the loads. With separate arrays (or rows with run-time strides) it
    would need run-time overlap checks, and it refuses those for an 8-iteration loop; with
    constant offsets into one array the independence is evident at compile time. The lane
    solver of :mod:`allocart.engine` keeps its whole lane state in that array.

    ``log`` and general powers call ``_vexp``/``_vlog``, which the lane kernel provides (see
    :func:`_vectorisable`). ``N_STATES`` and ``N_PARAMS`` come from :func:`rhs_source`, which
    is compiled alongside. Since lanes never mix, a patient's derivative never depends on the
    other patients of its group.
    Parameter-only subexpressions are computed once per patient by ``pre_lanes(w)`` into
    ``N_LANE_CONST`` rows at ``LANE_C`` (see :func:`_hoist_parameter_terms`); ``LANE_END`` is
    the first offset after the blocks the right-hand side uses.

    ``exact_decay`` names a state whose own decay rate ``-d f_i / d y_i`` depends on parameters
    only (``"model"``, the default, takes ``model.exact_decay``: IL-6 clearance, the model's
    one fast mode in the quiet phase); ``pre_lanes`` writes
    that rate to ``LANE_LAM`` and ``IF_STATE`` is its index (-1 with ``exact_decay=None``).
    The lane solver integrates that state in exact-decay form once its explicit step is
    stability-limited (see ``docs/engine.md``).
    """
    if int(lanes) != lanes or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
    lanes = int(lanes)
    pr = _MathPrinter(
        {"fully_qualified_modules": True, "standard": "python3", "allow_unknown_functions": True}
    )
    pnames = parameter_names(model)
    snames = model.state_names
    clash = {"w", "l"} & (set(pnames) | set(snames))
    if clash:
        raise ValueError(f"names {sorted(clash)} clash with the lane source's own variables")
    n_p, n_s = len(pnames), len(snames)
    psyms = {sp.Symbol(n) for n in pnames}
    odes, consts = _hoist_parameter_terms(_inlined_odes(model), psyms)
    n_c = len(consts)
    off_p = 0
    off_t = n_p * lanes
    off_y = off_t + lanes
    off_d = off_y + n_s * lanes
    off_c = off_d + n_s * lanes
    off_lam = off_c + n_c * lanes
    off_end = off_lam + lanes
    if_state = -1
    lam_expr = sp.Integer(0)
    if exact_decay == "model":
        exact_decay = model.exact_decay
    if exact_decay is not None:
        if exact_decay not in snames:
            raise ValueError(f"exact_decay: no state {exact_decay!r}")
        if_state = snames.index(exact_decay)
        ysyms = {sp.Symbol(n) for n in snames} | {sp.Symbol("t")}
        lam_expr = -sp.diff(_inlined_odes(model)[if_state], sp.Symbol(exact_decay))
        if lam_expr.free_symbols & ysyms:
            raise ValueError(f"{exact_decay}: decay rate depends on the state")

    def loads(used: set[str], with_states: bool) -> list[str]:
        body = []
        if with_states and "t" in used:
            body.append(f"t = w[{off_t} + l]")
        if with_states:
            body += _loads(snames, used, lambda i: f"w[{off_y + i * lanes} + l]", "")
        return body + _loads(pnames, used, lambda i: f"w[{off_p + i * lanes} + l]", "")

    # Once per patient: the parameter-only terms.
    cexprs = [_vectorisable(e) for _, e in consts]
    crepl, creduced, cused = _cse(cexprs, "_q")
    pre = loads(cused, False)
    pre += [f"{sym} = {pr.doprint(e)}" for sym, e in crepl]
    pre += [f"w[{off_c + c * lanes} + l] = {pr.doprint(e)}" for c, e in enumerate(creduced)]
    pre_names = {b.split(" = ")[0] for b in pre}
    pre += [
        b for b in loads(_used_symbols([lam_expr]), False) if b.split(" = ")[0] not in pre_names
    ]
    pre.append(f"w[{off_lam} + l] = {pr.doprint(_vectorisable(lam_expr))}")
    # Every evaluation.
    odes = [_vectorisable(e) for e in odes]
    repl, reduced, used = _cse(odes)
    body = loads(used, True)
    for c, (sym, _) in enumerate(consts):
        if sym.name in used:
            body.append(f"{sym} = w[{off_c + c * lanes} + l]")
    body += [f"{sym} = {pr.doprint(e)}" for sym, e in repl]
    body += [f"w[{off_d + i * lanes} + l] = {pr.doprint(e)}" for i, e in enumerate(reduced)]
    text = "\n".join(pre + body)
    leftover = sorted(
        {w for w in text.replace("(", " ").split() if w.startswith("math.")} - {"math.sqrt"}
    )
    if leftover or "**" in text:
        # Anything else would be a scalar libm call in the middle of the vector loop.
        raise ValueError(
            f"lane right-hand side has non-vectorisable operations: {leftover or '**'}"
        )
    lines = [
        f"LANES = {lanes}",
        f"LANE_P = {off_p}",
        f"LANE_T = {off_t}",
        f"LANE_Y = {off_y}",
        f"LANE_D = {off_d}",
        f"LANE_C = {off_c}",
        f"N_LANE_CONST = {n_c}",
        f"LANE_LAM = {off_lam}",
        f"IF_STATE = {if_state}",
        f"LANE_END = {off_end}",
        "",
        "",
        "def pre_lanes(w):",
        "    for l in range(LANES):",
    ]
    lines += ["        " + b for b in pre] or ["        pass"]
    lines += ["", "", "def rhs_lanes(w):", "    for l in range(LANES):"]
    lines += ["        " + b for b in body]
    lines.append("")
    return "\n".join(lines)


def model_hash(model: ModelDefinition = MODEL) -> str:
    """A short hash of the generated right-hand side (changes whenever the equations do)."""
    return hashlib.sha256(rhs_source(model).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def rhs_python(
    model: ModelDefinition = MODEL,
) -> Callable[[float, np.ndarray, np.ndarray, np.ndarray], None]:
    """The generated right-hand side as a plain Python function (for SciPy and tests)."""
    namespace: dict[str, object] = {}
    exec(compile(rhs_source(model), "<allocart-rhs>", "exec"), namespace)  # noqa: S102
    return namespace["rhs"]  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def jax_rhs(model: ModelDefinition = MODEL) -> Callable:
    """The right-hand side as a JAX function ``f(t, y, p) -> dy`` (differentiable)."""
    import jax.numpy as jnp
    from sympy.printing.numpy import JaxPrinter

    pr = JaxPrinter({"fully_qualified_modules": True})
    pnames = parameter_names(model)
    snames = model.state_names
    repl, reduced, used = _cse(_inlined_odes(model))
    lines = ["import jax", "import jax.numpy", "", "def rhs(t, y, p):"]
    lines += _loads(snames, used, lambda i: f"y[{i}]")
    lines += _loads(pnames, used, lambda i: f"p[{i}]")
    lines += [f"    {s} = {pr.doprint(e)}" for s, e in repl]
    outs = [pr.doprint(e) for e in reduced]
    lines.append("    return jax.numpy.stack([" + ", ".join(outs) + "]).astype(y.dtype)")
    namespace: dict[str, object] = {"jnp": jnp}
    exec(compile("\n".join(lines) + "\n", "<allocart-rhs-jax>", "exec"), namespace)  # noqa: S102
    return namespace["rhs"]  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def _derived_lambdas(
    model: ModelDefinition = MODEL,
) -> tuple[tuple[str, Callable, tuple[str, ...]], ...]:
    out = []
    for name, expr in model.derived.items():
        args = tuple(sorted(s.name for s in expr.free_symbols))
        fn = sp.lambdify([sp.Symbol(a) for a in args], expr, modules="numpy")
        out.append((name, fn, args))
    return tuple(out)


def derived_function(
    model: ModelDefinition = MODEL,
) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Return ``f(primary) -> derived``, vectorised over arrays of patients."""
    lambdas = _derived_lambdas(model)

    def f(primary: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = dict(primary)
        derived = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, fn, args in lambdas:
                val = np.asarray(fn(*(env[a] for a in args)), dtype=float)
                env[name] = derived[name] = val
        return derived

    return f


@functools.lru_cache(maxsize=4)
def initial_function(
    model: ModelDefinition = MODEL,
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """Return ``f(params) -> y0`` with shape (n, n_states), the pre-treatment steady state."""
    fns = []
    for s in model.state_names:
        expr = model.initial[s]
        args = tuple(sorted(x.name for x in expr.free_symbols))
        fns.append((sp.lambdify([sp.Symbol(a) for a in args], expr, modules="numpy"), args))

    def f(params: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(params.values())))
        cols = [
            np.broadcast_to(np.asarray(fn(*(params[a] for a in args)), dtype=float), (n,))
            for fn, args in fns
        ]
        return np.stack(cols, axis=1)

    return f


@functools.lru_cache(maxsize=4)
def observables_function(
    model: ModelDefinition = MODEL,
) -> Callable[[np.ndarray, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Return ``f(y, params) -> {observable: array}``.

    ``y`` has shape (n, n_times, n_states); each parameter array has shape (n,). Results have
    shape (n, n_times).
    """
    snames = model.state_names
    fns = []
    for ob in model.observables:
        expr = inline_intermediates(ob.expr, model)
        args = tuple(sorted(x.name for x in expr.free_symbols))
        fns.append(
            (ob.name, sp.lambdify([sp.Symbol(a) for a in args], expr, modules="numpy"), args)
        )

    def f(y: np.ndarray, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, np.ndarray] = {s: y[:, :, i] for i, s in enumerate(snames)}
        env.update({k: np.asarray(v, dtype=float)[:, None] for k, v in params.items()})
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, fn, args in fns:
                out[name] = np.broadcast_to(
                    np.asarray(fn(*(env[a] for a in args)), dtype=float), y.shape[:2]
                ).copy()
        return out

    return f
