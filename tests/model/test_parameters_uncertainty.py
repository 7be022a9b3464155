"""Uncertainty of typical values in the parameter table: the stated ranges, the quantile
functions against SciPy's distributions, overrides from YAML, and a property test that no
uncertainty mapping gives anything but a valid row or a one-line refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from allocart.errors import ParameterError
from allocart.model.parameters import (
    UNCERTAINTY_DISTRIBUTIONS,
    load_default_parameters,
    load_overrides,
    typical_value_quantiles,
    uncertain_names,
)
from allocart.sensitivity.posterior import posterior_overrides, write_posterior_overrides
from tests.properties import check_refusal, fast, numbers, weird_values

U = np.array([1e-6, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 - 1e-6])

#: The allogeneic, rejection and persistence rows of the table (host immunity to the graft,
#: NKG2A arming, CAR-T memory and exhaustion).
ALLO = (
    "phi_NKG2A k_NKG2A K_NKG2A e_HLAE rho_H H0 k_H0 delta_H K_G k_Trej k_NKrej rho_C C0 k_C0 "
    "delta_C k_Crej delta_X rho_M nu_M"
).split()


def test_every_allogeneic_assumption_states_a_plausible_range_with_its_reason():
    tab = load_default_parameters()
    for name in ALLO:
        row = tab[name]
        if row.is_assumption:
            assert row.uncertainty is not None, name
        if row.uncertainty is not None:
            assert len(row.uncertainty.reason) > 20, name
            assert row.uncertainty.basis in ("assumption", "interval", "posterior")
    host = [r for r in tab.rows if r.group == "host" and r.is_assumption]
    stated = {r.name for r in host if r.uncertainty is not None}
    # every assumption about host immunity to the graft, except the NK/T recovery rates and
    # blood shares of the host's own cells, which are not about the graft
    assert {r.name for r in host} - stated <= {"theta_NPhi", "r_K", "f_blood_T", "f_blood_K"}


def test_quantiles_match_scipy():
    tab = load_default_parameters()
    lognormal = tab["k_Trej"]  # median 0.2, CV 0.5, truncated to [0, 10] (no mass lost)
    sigma = math.sqrt(math.log1p(0.25))
    expect = stats.lognorm(s=sigma, scale=0.2).ppf(U)
    got = typical_value_quantiles(tab, ["k_Trej"], U[:, None])[:, 0]
    np.testing.assert_allclose(got, expect, rtol=1e-9)
    assert lognormal.uncertainty.quantile(np.array([0.5]), 0.2, 0, 10)[0] == pytest.approx(0.2)
    got = typical_value_quantiles(tab, ["k_NKrej"], U[:, None])[:, 0]  # loguniform 0.1-1
    np.testing.assert_allclose(got, stats.loguniform(0.1, 1.0).ppf(U), rtol=1e-9)
    got = typical_value_quantiles(tab, ["e_HLAE"], U[:, None])[:, 0]  # uniform 0.5-0.95
    np.testing.assert_allclose(got, stats.uniform(0.5, 0.45).ppf(U), rtol=1e-9)


def test_normal_is_truncated_to_the_allowed_range():
    tab = load_default_parameters().with_overrides(
        {"e_HLAE": {"uncertainty": {"dist": "normal", "sd": 0.3, "reason": "wide test spread"}}}
    )
    row = tab["e_HLAE"]  # 0.8 in [0, 1]
    got = typical_value_quantiles(tab, ["e_HLAE"], U[:, None])[:, 0]
    a, b = (0 - 0.8) / 0.3, (1 - 0.8) / 0.3
    np.testing.assert_allclose(got, stats.truncnorm(a, b, loc=0.8, scale=0.3).ppf(U), rtol=1e-7)
    assert row.source == load_default_parameters()["e_HLAE"].source  # only the spread changed


def test_overrides_from_yaml_replace_or_remove_the_uncertainty(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "k_Trej": {
                        "uncertainty": {
                            "dist": "loguniform",
                            "low": 0.05,
                            "high": 0.8,
                            "reason": "r",
                        }
                    },
                    "k_NKrej": {"uncertainty": None},
                    "k_mat": {"uncertainty": {"dist": "lognormal", "cv": 0.3, "reason": "x" * 5}},
                }
            }
        )
    )
    tab = load_default_parameters().with_overrides(load_overrides(f), origin="--params")
    assert tab["k_Trej"].uncertainty.dist == "loguniform"
    assert tab["k_Trej"].uncertainty.basis == "assumption"
    assert tab["k_NKrej"].uncertainty is None
    assert "k_mat" in uncertain_names(tab)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"dist": "beta", "reason": "r"}, ["dist", "beta"]),
        ({"dist": "lognormal", "reason": "r"}, ["cv"]),
        ({"dist": "loguniform", "low": 0, "high": 1, "reason": "r"}, ["low"]),
        ({"dist": "uniform", "low": -1, "high": 1, "reason": "r"}, ["allowed range"]),
        ({"dist": "uniform", "low": 0.1, "high": 0.5, "reason": ""}, ["reason"]),
        ({"dist": "normal", "sd": "wide", "reason": "r"}, ["sd"]),
        ({"dist": "normal", "sd": 0.1, "reason": "r", "shape": 2}, ["shape"]),
        ({"dist": "empirical", "draws": [0.1], "reason": "r"}, ["draws"]),
        ("wide", ["mapping"]),
    ],
)
def test_bad_uncertainty_is_refused_in_one_line(spec, words):
    with pytest.raises(ParameterError) as exc:
        load_default_parameters().with_overrides({"k_Trej": {"uncertainty": spec}})
    msg = str(exc.value)
    assert "k_Trej" in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_posterior_draws_become_empirical_uncertainties(tmp_path):
    draws = np.random.default_rng(3).lognormal(np.log(0.3), 0.2, size=2500)
    path = write_posterior_overrides({"k_Trej": draws}, tmp_path / "post.yaml", reason="fit x")
    tab = load_default_parameters().with_overrides(load_overrides(path), origin="--params")
    row = tab["k_Trej"]
    assert row.value == pytest.approx(
        np.median(draws[np.linspace(0, 2499, 1000).round().astype(int)])
    )
    assert row.uncertainty.dist == "empirical" and row.uncertainty.basis == "posterior"
    kept = np.asarray(row.uncertainty.draws)
    np.testing.assert_allclose(
        typical_value_quantiles(tab, ["k_Trej"], U[1:-1, None])[:, 0], np.quantile(kept, U[1:-1])
    )
    with pytest.raises(Exception, match="not a parameter"):
        posterior_overrides({"k_nope": draws})


_SPECS = st.fixed_dictionaries(
    {},
    optional={
        "dist": st.one_of(st.sampled_from(sorted(UNCERTAINTY_DISTRIBUTIONS)), weird_values()),
        "cv": st.one_of(numbers(), weird_values()),
        "sd": st.one_of(numbers(), weird_values()),
        "low": st.one_of(numbers(), weird_values()),
        "high": st.one_of(numbers(), weird_values()),
        "draws": st.one_of(st.lists(numbers(), max_size=5), weird_values()),
        "basis": st.one_of(
            st.sampled_from(["posterior", "interval", "assumption"]), weird_values()
        ),
        "reason": st.one_of(st.just("stated"), weird_values()),
        "extra": weird_values(),
    },
)


@fast(100)
@given(spec=st.one_of(_SPECS, weird_values()), name=st.sampled_from(["k_Trej", "e_HLAE", "K_G"]))
def test_property_any_uncertainty_mapping_is_a_row_or_a_one_line_refusal(spec, name):
    def apply():
        tab = load_default_parameters().with_overrides({name: {"uncertainty": spec}})
        if tab[name].uncertainty is not None:
            v = typical_value_quantiles(tab, [name], U[:, None])
            assert np.all(np.isfinite(v)), v
            assert np.all((v >= tab[name].lower) & (v <= tab[name].upper))
        return tab

    check_refusal(apply, [name, "uncertainty"], ParameterError)
