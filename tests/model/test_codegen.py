"""Generated forms agree with the symbolic definition and with each other."""

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from allocart.model.codegen import inline_intermediates, parameter_names, rhs_python, rhs_source
from allocart.model.equations import MODEL
from allocart.model.listing import equations_markdown
from allocart.model.parameters import load_default_parameters
from allocart.model.scenario import Scenario, build_batch, sample_parameters

# Round-off of ~50-term sums evaluated in different orders.
RHS_RTOL = 1e-10


@pytest.fixture(scope="module")
def points():
    table = load_default_parameters()
    primary = sample_parameters(table, 5, np.random.default_rng(11))
    batch = build_batch(Scenario.create("allogeneic-cd19cd20", "3e8", "flu-cy"), primary)
    rng = np.random.default_rng(12)
    # perturb states away from steady state so every term is exercised
    ys = batch.y0 * rng.uniform(0.3, 1.7, batch.y0.shape) + rng.uniform(0, 1e9, batch.y0.shape) * (
        batch.y0 == 0
    )
    return ys, batch.params


def _symbolic_rhs(y, p):
    subs = {sp.Symbol(n): float(v) for n, v in zip(MODEL.state_names, y)}
    subs.update({sp.Symbol(n): float(v) for n, v in zip(parameter_names(), p)})
    return np.array(
        [float(inline_intermediates(MODEL.odes[s]).xreplace(subs)) for s in MODEL.state_names]
    )


def test_generated_rhs_matches_symbolic_definition(points):
    ys, ps = points
    rhs = rhs_python()
    dy = np.empty(len(MODEL.states))
    for y, p in zip(ys[:2], ps[:2]):
        rhs(0.0, y, p, dy)
        ref = _symbolic_rhs(y, p)
        np.testing.assert_allclose(dy, ref, rtol=RHS_RTOL, atol=1e-12 * np.abs(ref).max())


def test_jax_rhs_matches_generated_rhs(points):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from allocart.model.codegen import jax_rhs

    f = jax_rhs()
    rhs = rhs_python()
    dy = np.empty(len(MODEL.states))
    for y, p in zip(*points):
        rhs(0.0, y, p, dy)
        np.testing.assert_allclose(
            np.asarray(f(0.0, jax.numpy.asarray(y), jax.numpy.asarray(p))),
            dy,
            rtol=RHS_RTOL,
            atol=1e-12 * np.abs(dy).max(),
        )


def test_rhs_source_uses_only_math_and_arithmetic():
    src = rhs_source()
    assert "import math" in src and "numpy" not in src and "sympy" not in src
    assert f"N_STATES = {len(MODEL.states)}" in src


def test_documentation_listing_is_generated_and_current():
    committed = Path(__file__).resolve().parents[2] / "docs" / "equations.md"
    assert committed.read_text() == equations_markdown(), "run `allocart export equations`"
