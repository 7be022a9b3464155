"""The VPC table: time bins, columns, observed percentiles against the data, and simulated
percentiles that bracket data simulated from the same model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.fit.residual import FitError
from allocart.fit.vpc import VPC_COLUMNS, time_bins, vpc_table


def test_scheduled_visits_get_one_bin_each():
    edges = time_bins(np.array([0.0, 7.0, 7.0, 14.0, 28.0, 28.0]), max_bins=10)
    np.testing.assert_allclose(edges, [0.0, 3.5, 10.5, 21.0, 28.0])


def test_many_times_get_equal_count_bins():
    t = np.arange(100.0)
    edges = time_bins(t, max_bins=4)
    counts = np.histogram(t, edges)[0]
    assert edges.size == 5 and counts.min() >= 24 and counts.max() <= 26


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=-10, max_value=400, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=15),
)
def test_every_time_falls_in_one_bin(times, max_bins):
    t = np.asarray(times)
    edges = time_bins(t, max_bins)
    assert np.all(np.diff(edges) > 0) or edges.size == 2
    assert edges.size - 1 <= max_bins
    assert edges[0] == t.min() and edges[-1] == t.max()


def test_table_columns_and_observed_percentiles(one_patient_outputs):
    result, paths, tables = one_patient_outputs
    vpc = pd.read_csv(paths["vpc_table"])
    assert tuple(vpc.columns) == VPC_COLUMNS
    assert set(vpc["observable"]) == set(result.problem.observables)
    sd = tables.sdtab
    assert vpc["n_obs"].sum() == len(sd)
    for row in vpc.itertuples():
        sel = (sd["OBSNAME"] == row.observable) & sd["TIME"].between(row.time_lo, row.time_hi)
        if row.bin < vpc.loc[vpc["observable"] == row.observable, "bin"].max():
            sel &= sd["TIME"] < row.time_hi
        assert sel.sum() == row.n_obs
        assert row.obs_p50 == pytest.approx(np.quantile(sd.loc[sel, "DV"], 0.5))
        assert row.sim_p50_lo <= row.sim_p50_median <= row.sim_p50_hi


def test_bad_options_are_refused(one_patient_outputs):
    result, _, _ = one_patient_outputs
    with pytest.raises(FitError, match="^replicates: 3 must be a whole number of at least 20") as e:
        vpc_table(result, replicates=3)
    assert e.value.argument == "replicates"
    with pytest.raises(FitError, match="^max_bins: 0 must be a whole number of at least 1") as e:
        vpc_table(result, max_bins=0)
    assert e.value.argument == "max_bins"
