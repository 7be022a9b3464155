"""Helpers shared by the model tests."""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from allocart.model.codegen import inline_intermediates, parameter_names
from allocart.model.equations import MODEL


@functools.cache
def intermediate_fn(name: str):
    """Vectorised evaluation of a named intermediate quantity over a trajectory."""
    expr = inline_intermediates(sp.Symbol(name))
    args = sorted(s.name for s in expr.free_symbols)
    fn = sp.lambdify([sp.Symbol(a) for a in args], expr, "numpy")
    return fn, args


def evaluate_intermediate(name: str, sim) -> np.ndarray:
    """Value of intermediate ``name`` for every patient and time of a Simulation."""
    fn, args = intermediate_fn(name)
    env = {s: sim.states[:, :, i] for i, s in enumerate(MODEL.state_names)}
    pd = sim.batch.param_dict()
    env.update({k: v[:, None] for k, v in pd.items()})
    return np.broadcast_to(
        np.asarray(fn(*(env[a] for a in args)), dtype=float), sim.states.shape[:2]
    )


__all__ = ["evaluate_intermediate", "parameter_names"]
