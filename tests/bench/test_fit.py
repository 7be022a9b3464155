"""The fit benchmark (:mod:`allocart.bench.fit`): argument checks and one short NUTS run."""

import pytest

from allocart.bench.fit import TARGET_SECONDS, run_fit_bench
from allocart.errors import FitError


def test_an_unknown_backend_is_refused_by_its_argument_name():
    with pytest.raises(FitError, match=r"^backend: 'numpy' is not one of") as info:
        run_fit_bench(backend="numpy")
    assert info.value.argument == "backend"


@pytest.mark.slow
def test_a_short_run_reports_timings_and_the_sampler_diagnostics():
    pytest.importorskip("numpyro")
    res = run_fit_bench(chains=1, warmup=30, samples=30, seed=7)
    assert res["seconds_total"] >= res["seconds_fit"] > 0
    assert res["seconds_total"] >= res["seconds_setup"] > 0
    assert res["target_met"] == (res["seconds_total"] <= TARGET_SECONDS)
    assert res["chains"] == 1 and res["samples_per_chain"] == 30
    assert res["observations"] > 0
    covered, n = map(int, res["true_values_in_90pct_interval"].split("/"))
    assert n == len(res["parameters"].split(",")) and 0 <= covered <= n
