"""Residual-error models and the censored (M3) likelihood against hand computations."""

import math

import numpy as np
import pytest

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
    got = observation_loglik(np.array([lloq]), np.array([pred]), np.array([True]), np.array([1.0]),
                             np.array([sigma]), np.array([0.0]), np.array([0.0]), xp=np)
    assert got[0] == pytest.approx(hand, rel=EXACT)


def test_quantified_row_is_the_log_normal_density_by_hand():
    cv, y, pred = 0.15, 3.0, 2.5
    s = math.sqrt(math.log(1 + cv * cv))
    hand = -math.log(y * s * math.sqrt(2 * math.pi)) - (math.log(y) - math.log(pred)) ** 2 / (2 * s * s)
    got = observation_loglik(np.array([y]), np.array([pred]), np.array([False]), np.array([1.0]),
                             np.array([s]), np.array([0.0]), np.array([0.0]), xp=np)
    assert got[0] == pytest.approx(hand, rel=EXACT)


def test_combined_linear_error_and_its_censored_form_by_hand():
    a, b, y, pred, lloq = 0.2, 0.1, 1.4, 1.1, 0.5
    sd = math.sqrt(a * a + (b * pred) ** 2)
    dens = -math.log(sd * math.sqrt(2 * math.pi)) - (y - pred) ** 2 / (2 * sd * sd)
    cens = _phi_log((lloq - pred) / sd)
    got = observation_loglik(np.array([y, lloq]), np.array([pred, pred]), np.array([False, True]),
                             np.array([0.0, 0.0]), np.array([b, b]), np.array([a, a]), np.array([0.0, 0.0]), xp=np)
    assert got == pytest.approx([dens, cens], rel=EXACT)


def test_jax_and_numpy_forms_agree():
    import jax.numpy as jnp

    from allocart.fit.jaxmodel import enable_jax

    enable_jax()
    args = [np.array([0.1, 2.0, 0.3]), np.array([0.02, 2.5, 0.5]), np.array([True, False, False]),
            np.array([1.0, 1.0, 0.0]), np.array([0.3, 0.2, 0.1]), np.array([0.0, 0.1, 0.05]),
            np.array([1e-4, 1e-4, 0.0])]
    ref = observation_loglik(*args, xp=np)
    got = np.asarray(observation_loglik(*[jnp.asarray(a) for a in args], xp=jnp))
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("fields, match", [
    ({"model": "quadratic"}, "model"),
    ({"scale": "sqrt"}, "scale"),
    ({"model": "additive", "scale": "log", "sd": 1.0}, "log scale"),
    ({"model": "combined", "sd": 0.0}, "sd > 0"),
    ({"source": " "}, "source"),
])
def test_bad_rows_name_the_field(fields, match):
    base = dict(observable="b_cells_per_ul", model="proportional", scale="log", cv=0.1, sd=0.0, floor=0.0,
                unit="cells/uL", source="assumption: test")
    base.update(fields)
    with pytest.raises(FitError, match=match):
        ResidualModel(**base)


def test_overrides_from_yaml(tmp_path):
    p = tmp_path / "err.yaml"
    p.write_text("b_cells_per_ul: {model: combined, cv: 0.2, sd: 0.5, source: 'site assay validation'}\n")
    row = load_residual_models(p)["b_cells_per_ul"]
    assert (row.model, row.cv, row.sd, row.source) == ("combined", 0.2, 0.5, "site assay validation")
    p.write_text("nonsense_read_out: {cv: 0.2}\n")
    with pytest.raises(FitError, match="nonsense_read_out"):
        load_residual_models(p)
