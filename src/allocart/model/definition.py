"""The structure of a model definition: states, read-outs, and the definition that holds them.

:mod:`allocart.model.equations` builds the one :data:`~allocart.model.equations.MODEL` of these;
code generation, sensitivities, exports and the documentation read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

__all__ = ["ModelDefinition", "Observable", "State", "smooth_pos"]


@dataclass(frozen=True)
class State:
    """One state variable of the ODE system.

    Attributes
    ----------
    name : str
        Identifier, also the SBML species id.
    unit : str
        Internal unit.
    description : str
        What the state means.
    atol : float
        Absolute tolerance of the solver for this state, in its unit.
    group : str
        Part of the model the state belongs to.
    """

    name: str
    unit: str
    description: str
    atol: float
    group: str


@dataclass(frozen=True)
class Observable:
    """An observation function: what an assay reads from the states."""

    name: str
    unit: str
    description: str
    expr: sp.Expr


@dataclass(frozen=True, eq=False)
class ModelDefinition:
    """The complete symbolic model.

    Attributes
    ----------
    states : tuple of State
        In solver order.
    derived : dict
        Parameters computed from primary parameters (steady-state solutions and
        normalisers), in evaluation order; each maps a name to a sympy expression of primary
        and earlier derived parameters.
    initial : dict
        Baseline value of each state as an expression of parameters.
    intermediates : dict
        Named algebraic quantities of states and parameters (recognition, antigen load,
        stimulation, rejection hazard...), in evaluation order.
    odes : dict
        Time derivative of each state.
    observables : tuple of Observable
        Assay read-outs.
    exact_decay : str or None
        A state whose own decay rate depends on parameters only and that is the model's fast
        mode once the therapy's dynamics have settled; the SIMD lane solver integrates it in
        exact-decay form when its explicit step is stability-limited (``docs/engine.md``).
    """

    states: tuple[State, ...]
    derived: dict[str, sp.Expr]
    initial: dict[str, sp.Expr]
    intermediates: dict[str, sp.Expr]
    odes: dict[str, sp.Expr]
    observables: tuple[Observable, ...]
    descriptions: dict[str, str] = field(default_factory=dict)
    exact_decay: str | None = None

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def state_index(self, name: str) -> int:
        return self.state_names.index(name)


def smooth_pos(x: sp.Expr, eps: sp.Expr) -> sp.Expr:
    """Smooth positive part, ``(x + sqrt(x**2 + eps**2)) / 2``.

    Replaces ``max(0, x)``: kinks make adaptive solvers reject steps and break gradients.
    The error against ``max(0, x)`` is at most ``eps / 2`` (at x = 0).
    """
    return (x + sp.sqrt(x**2 + eps**2)) / 2
