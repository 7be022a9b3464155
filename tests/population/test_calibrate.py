"""Calibration targets, the comparison rule, weighting, and the committed calibration."""

import json

import numpy as np
import pytest
from scipy.stats import binom

from allocart.cli.app import main
from allocart.errors import AllocartError
from allocart.model.products import list_products, list_regimens
from allocart.population import calibrate as cal
from allocart.population.links import load_calibrated, load_links


def test_targets_load_with_sources_and_known_scenarios():
    ts = cal.load_targets()
    assert len(ts.targets) >= 30
    for t in ts.targets:
        assert t.source.strip() and t.tag in ("R", "U", "D"), t.id
    for c in ts.cohorts.values():
        assert c.product in list_products() and c.ld in list_regimens()
    assert ts.not_simulated and all(x["reason"] for x in ts.not_simulated)


def test_malformed_target_file_is_an_error(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("cohorts: {a: {product: autologous-cd19, dose: 1e6/kg, ld: flu-cy}}\n"
                   "targets: [{id: x, cohort: b, quantity: crs_any, statistic: rate, value: 0.5, n: 5, source: s}]\n")
    with pytest.raises(AllocartError, match="cohort 'b'"):
        cal.load_targets(bad)


def _spec():
    return cal.CohortSpec("c", "c", "autologous-cd19", "1e6/kg", "flu-cy")


def test_rate_rule_is_the_exact_binomial_study_interval():
    t = cal.Target(id="x", cohort="c", quantity="q", statistic="rate", n=5, source="s", tag="R", value=1.0)
    rng = np.random.default_rng(0)
    # 5/5 is inside the 95% interval of studies of 5 when P(5/5) = p^5 >= 2.5% (p >= 0.478).
    hi = cal.compare(t, _spec(), (np.arange(1000) < 600).astype(float), rng)
    lo = cal.compare(t, _spec(), (np.arange(1000) < 400).astype(float), rng)
    assert hi.passed and not lo.passed
    assert hi.study_interval[1] == binom.ppf(0.975, 5, 0.6) / 5 == 1.0
    assert lo.reason.startswith("unexplained")


def test_mean_rule_uses_resampled_studies_of_the_published_size():
    rng = np.random.default_rng(1)
    v = rng.normal(100.0, 30.0, 4000)
    t = cal.Target(id="x", cohort="c", quantity="q", statistic="mean", n=5, source="s", tag="R", value=110.0)
    r = cal.compare(t, _spec(), v, rng)
    # reference: the mean of 5 draws has SD 30/sqrt(5) = 13.4, so the interval is 100 +/- 26
    # (tolerance 3: Monte-Carlo error of 2.5% quantiles from 2000 resamples)
    assert r.study_interval[0] == pytest.approx(100 - 1.96 * 30 / 5**0.5, abs=3)
    assert r.study_interval[1] == pytest.approx(100 + 1.96 * 30 / 5**0.5, abs=3)
    assert r.passed
    assert r.mc_interval[0] < r.simulated < r.mc_interval[1]


def test_tilt_weights_match_the_published_mean_and_stay_close_to_equal():
    x = np.random.default_rng(2).integers(8, 25, 500).astype(float)
    w = cal.tilt_weights(x, 12.0)
    assert (w * x).sum() == pytest.approx(12.0, abs=1e-9)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    with pytest.raises(AllocartError, match="outside"):
        cal.tilt_weights(x, 40.0)


def test_calibrated_file_holds_exactly_the_calibrated_link_parameters():
    data = load_calibrated()
    wanted = {r.name for r in load_links(calibrated=False).rows if r.calibrate}
    assert set(data["links"]) == wanted
    for k, v in data["links"].items():
        assert load_links()[k] == v["value"] and "allocart calibrate" in v["source"]


def test_calibrate_check_passes_on_the_committed_calibration(tmp_path, capsys):
    rc = main(["calibrate", "--check", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    report = json.loads((tmp_path / "calibration.json").read_text())
    assert report["unexplained_failures"] == []
    ids = {t["id"] for t in report["targets"]}
    assert ids == {t.id for t in cal.load_targets().targets}
    for t in report["targets"]:
        assert t["source"] and t["mc_interval_95"] is not None
        if not t["passed"]:
            assert t["reason"]
    # Every miss carries its reason (checked above); the five recorded misses are allowed, so a
    # change that loses a met target fails here.
    assert report["passed"] >= len(report["targets"]) - 5
    html = (tmp_path / "calibration.html").read_text()
    assert "erlangen_b_return_mean" in html and "Reference rows not simulated" in html
