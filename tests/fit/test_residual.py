"""Residual-error models and the censored (M3) likelihood against hand computations."""

import math

import numpy as np
import pytest

from allocart.data.residual_errors import residual_error_rows
from allocart.fit.residual import FitError, ResidualModel, load_residual_models, observation_loglik

#: Agreement of two evaluations of the same closed form (round-off only).
EXACT = 1e-12


def _phi_log(z: float) -> float:
    return math.log(0.5 * (1.0 + math.erf(z / math.sqrt(2.0))))


def test_default_table_has_a_sourced_row_per_read_out():
    from allocart.fit.jaxmodel import OBSERVABLE_NAMES

    tab = load_residual_models()
    assert set(tab.observables) == set(OBSERVABLE_NAMES)
    assert all(r.source.strip() for r in tab.rows)


def test_censored_row_is_the_probability_below_the_lloq_by_hand():
    # Log-normal proportional error, CV 25%: P(y < LLOQ) = Phi((log LLOQ - log f) / sigma).
    cv, lloq, pred = 0.25, 0.1, 0.06
    sigma = math.sqrt(math.log(1 + cv * cv))
    hand = _phi_log((math.log(lloq) - math.log(pred)) / sigma)
    got = observation_loglik(
        np.array([lloq]),
        np.array([pred]),
        np.array([True]),
        np.array([1.0]),
        np.array([sigma]),
        np.array([0.0]),
        np.array([0.0]),
        xp=np,
    )
    assert got[0] == pytest.approx(hand, rel=EXACT)


def test_quantified_row_is_the_log_normal_density_by_hand():
    cv, y, pred = 0.15, 3.0, 2.5
    s = math.sqrt(math.log(1 + cv * cv))
    hand = -math.log(y * s * math.sqrt(2 * math.pi)) - (math.log(y) - math.log(pred)) ** 2 / (
        2 * s * s
    )
    got = observation_loglik(
        np.array([y]),
        np.array([pred]),
        np.array([False]),
        np.array([1.0]),
        np.array([s]),
        np.array([0.0]),
        np.array([0.0]),
        xp=np,
    )
    assert got[0] == pytest.approx(hand, rel=EXACT)


def test_combined_linear_error_and_its_censored_form_by_hand():
    a, b, y, pred, lloq = 0.2, 0.1, 1.4, 1.1, 0.5
    sd = math.sqrt(a * a + (b * pred) ** 2)
    dens = -math.log(sd * math.sqrt(2 * math.pi)) - (y - pred) ** 2 / (2 * sd * sd)
    cens = _phi_log((lloq - pred) / sd)
    got = observation_loglik(
        np.array([y, lloq]),
        np.array([pred, pred]),
        np.array([False, True]),
        np.array([0.0, 0.0]),
        np.array([b, b]),
        np.array([a, a]),
        np.array([0.0, 0.0]),
        xp=np,
    )
    assert got == pytest.approx([dens, cens], rel=EXACT)


def test_jax_and_numpy_forms_agree():
    import jax.numpy as jnp

    from allocart.fit.jaxmodel import enable_jax

    enable_jax()
    args = [
        np.array([0.1, 2.0, 0.3]),
        np.array([0.02, 2.5, 0.5]),
        np.array([True, False, False]),
        np.array([1.0, 1.0, 0.0]),
        np.array([0.3, 0.2, 0.1]),
        np.array([0.0, 0.1, 0.05]),
        np.array([1e-4, 1e-4, 0.0]),
    ]
    ref = observation_loglik(*args, xp=np)
    got = np.asarray(observation_loglik(*[jnp.asarray(a) for a in args], xp=jnp))
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"model": "quadratic"}, "model"),
        ({"scale": "sqrt"}, "scale"),
        ({"model": "additive", "scale": "log", "sd": 1.0}, "log scale"),
        ({"model": "combined", "sd": 0.0}, "sd > 0"),
        ({"source": " "}, "source"),
    ],
)
def test_bad_rows_name_the_field(fields, match):
    base = dict(
        observable="b_cells_per_ul",
        model="proportional",
        scale="log",
        cv=0.1,
        sd=0.0,
        floor=0.0,
        unit="cells/uL",
        source="assumption: test",
    )
    base.update(fields)
    with pytest.raises(FitError, match=match):
        ResidualModel(**base)


def test_overrides_from_yaml(tmp_path):
    p = tmp_path / "err.yaml"
    p.write_text(
        "b_cells_per_ul: {model: combined, cv: 0.2, sd: 0.5, source: 'site assay validation'}\n"
    )
    row = load_residual_models(p)["b_cells_per_ul"]
    assert (row.model, row.cv, row.sd, row.source) == (
        "combined",
        0.2,
        0.5,
        "site assay validation",
    )
    p.write_text("nonsense_read_out: {cv: 0.2}\n")
    with pytest.raises(
        FitError, match="^error_model err.yaml: unknown read-out `nonsense_read_out`"
    ) as e:
        load_residual_models(p)
    assert e.value.argument == "error_model"


def test_numpy_derivatives_equal_jax_derivatives():
    """The closed-form first and second derivatives (the mode search's, without JAX) against
    JAX's forward-mode derivatives of the same likelihood: log and linear scales, proportional,
    additive and combined errors, censored rows, and a negative prediction (zero derivative)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from allocart.fit.residual import observation_loglik_derivatives

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    n = 400
    log = (rng.random(n) < 0.6).astype(float)
    b = np.where(rng.random(n) < 0.8, rng.uniform(0.05, 0.4, n), 0.0)
    a = np.where((log == 0) | (rng.random(n) < 0.5), rng.uniform(0.05, 1.0, n), 0.0)
    b = np.where((log > 0) & (b == 0), 0.1, b)
    floor = np.where(log > 0, 1e-3, 0.0)
    pred = np.exp(rng.normal(0.0, 1.5, n))
    pred[:3] = -0.5  # below zero counts as zero
    value = np.abs(pred) * np.exp(rng.normal(0.0, 0.5, n)) + 0.01
    cens = rng.random(n) < 0.3
    ll, d1, d2 = observation_loglik_derivatives(value, pred, cens, log, b, a, floor)

    def f(p):
        return observation_loglik(value, jnp.maximum(p, 0.0), cens, log, b, a, floor, xp=jnp)

    ones = jnp.ones(n)
    l0, j1 = jax.jvp(f, (jnp.asarray(pred),), (ones,))
    j2 = jax.jvp(lambda p: jax.jvp(f, (p,), (ones,))[1], (jnp.asarray(pred),), (ones,))[1]
    assert np.allclose(ll, l0, rtol=1e-10, atol=1e-10)
    assert np.allclose(
        d1, j1, rtol=1e-8, atol=1e-10
    )  # log Phi far in the tail: SciPy and JAX differ by 1e-9
    assert np.allclose(d2, j2, rtol=1e-5, atol=1e-8)  # r (z + r) cancels in that tail
    assert np.all(d1[:3] == 0.0) and np.all(d2[:3] == 0.0)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"a: [1,", "not valid YAML at line 1"),
        (b"x: 2024-02-30\n", "not a valid date"),
        ("x: caf\xe9".encode("latin-1"), "not UTF-8"),
    ],
)
def test_error_model_file_problems_are_one_line(tmp_path, content, match):
    from allocart.fit.residual import load_residual_models

    path = tmp_path / "errors.yaml"
    path.write_bytes(content)
    with pytest.raises(FitError, match=match) as info:
        load_residual_models(path)
    msg = str(info.value)
    assert msg.startswith("error_model: file") and len(msg.splitlines()) == 1
    assert info.value.argument == "error_model"


def test_default_table_is_the_data_layers_table_of_assay_errors():
    # One source of the read-outs' errors: the fit's default models are the rows that also give
    # simulated datasets their error (allocart.data.residual_errors), field for field.
    table = load_residual_models()
    rows = residual_error_rows()
    assert set(table.observables) == set(rows)
    for name, row in rows.items():
        m = table[name]
        assert (m.model, m.scale, m.cv, m.sd, m.floor, m.unit, m.source) == (
            row["model"],
            row["scale"],
            row["cv"],
            row["sd"],
            row["floor"],
            row["unit"],
            row["source"],
        )
