"""``allocart sensitivity --scheduler``: batches of evaluations on a Dask cluster give the same
indices as in this process (the store and designs do not depend on where evaluations ran)."""

from __future__ import annotations

import pandas as pd
import pytest

from allocart.sensitivity import Ishigami, SensitivitySettings, run_sensitivity

distributed = pytest.importorskip("distributed")


def test_dask_cluster_gives_the_same_indices(tmp_path):
    settings = SensitivitySettings(sobol_n=64, morris_trajectories=6, resamples=50, batch=16)
    local = run_sensitivity(settings, tmp_path / "l", evaluator=Ishigami(), workers=1, report=None)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = run_sensitivity(
            settings,
            tmp_path / "r",
            evaluator=Ishigami(),
            scheduler=cluster.scheduler_address,
            report=None,
        )
    pd.testing.assert_frame_equal(local.sobol, remote.sobol)
    pd.testing.assert_frame_equal(local.morris, remote.morris)
    assert remote.evaluated_now == remote.evaluations
