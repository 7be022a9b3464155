"""The simulation-estimation study: summaries by hand, and the full study (slow)."""

import pytest

from allocart.fit.recovery import RecoveryConfig, summarise


def _rec(typical, lo, hi, omega, olo, ohi):
    return {
        "estimates": {
            "a": {
                "typical": typical,
                "typical_lo": lo,
                "typical_hi": hi,
                "omega": omega,
                "omega_lo": olo,
                "omega_hi": ohi,
            }
        }
    }


def test_summary_bias_and_coverage_by_hand():
    recs = [
        _rec(1.1, 0.9, 1.3, 0.3, 0.2, 0.4),
        _rec(0.8, 0.7, 0.95, 0.25, 0.1, 0.28),
        _rec(1.0, 0.8, 1.2, 0.2, 0.15, 0.35),
    ]
    params = summarise(recs, {"a": (1.0, 0.3)}, ["a"])
    assert set(params) == {"a", "omega_a"}
    assert params["a"]["bias"] == pytest.approx((1.1 + 0.8 + 1.0) / 3 - 1.0)
    assert params["a"]["coverage"] == pytest.approx(2 / 3)  # the second interval misses 1.0
    assert params["omega_a"]["bias"] == pytest.approx(0.25 / 0.3 - 1.0)
    assert params["omega_a"]["coverage"] == pytest.approx(
        2 / 3
    )  # the second omega interval misses 0.3


def test_config_rejects_a_one_patient_trial():
    from allocart.fit.residual import FitError

    with pytest.raises(FitError, match="^patients: 1 ") as e:
        RecoveryConfig(patients=1)
    assert e.value.argument == "patients"


@pytest.mark.slow
@pytest.mark.acceptance
def test_recovery_targets_over_100_replicates():
    """The acceptance check: |bias| <= 15% and 90% coverage in [80%, 97%] for every typical value
    and omega, over 100 replicates (Monte-Carlo SE of a coverage 3 points; ~4 min)."""
    from allocart.fit.jaxmodel import enable_jax
    from allocart.fit.recovery import run_recovery

    enable_jax()
    rep = run_recovery(RecoveryConfig(replicates=100))
    assert len(rep.params) == 10
    for name, v in rep.params.items():
        assert abs(v["bias"]) <= 0.15, (name, v)
        assert 0.80 <= v["coverage"] <= 0.97, (name, v)
