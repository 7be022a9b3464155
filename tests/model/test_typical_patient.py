"""The typical patient behaves as a pharmacologist expects (model-spec §11, Mackensen 2022)."""

import numpy as np
import pytest

from allocart.model.simulate import simulate


def _metrics(product):
    sim = simulate(product, "1e6/kg", "flu-cy", typical=True, days=365, dt=0.25)
    t = sim.time
    car = sim.observables["car_t_cells_per_ul"][0]
    b = sim.observables["b_cells_per_ul"][0]
    ab = sim.observables["anti_dsdna_iu_per_ml"][0]
    t_peak = t[np.argmax(car)]
    aplasia = t[np.argmax(b < 1)] if (b < 1).any() else np.inf
    back = t[(t > aplasia) & (b >= 1)]
    cleared = t[(t > t_peak) & (car < 1)]
    return dict(
        t_peak=t_peak,
        aplasia=aplasia,
        back=back[0] if len(back) else np.inf,
        cleared=cleared[0] if len(cleared) else np.inf,
        ab=ab,
        t=t,
    )


@pytest.fixture(scope="module")
def auto():
    return _metrics("autologous-cd19")


def test_autologous_cd19_peak_aplasia_and_return(auto):
    assert 7 <= auto["t_peak"] <= 14
    assert auto["aplasia"] <= 14
    assert 60 <= auto["back"] <= 180


def test_autologous_cd19_anti_dsdna_falls(auto):
    ab, t = auto["ab"], auto["t"]
    m3 = ab[np.searchsorted(t, 90)]
    assert m3 < 0.5 * ab[0]
    assert ab[np.searchsorted(t, 180)] < ab[0]


def test_hla_intact_allogeneic_is_cleared_clearly_earlier(auto):
    allo = _metrics("allogeneic-cd19")
    assert allo["cleared"] <= auto["cleared"] - 14
    assert allo["back"] < auto["back"]
