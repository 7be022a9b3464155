"""Replicates on a Dask cluster (2 worker processes) give results identical to in-process.

The real model runs on the workers: pools and chunks are tasks, and each is a pure function of
the protocol and the seed.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from allocart.errors import DesignError
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from tests.trial.conftest import small_dict

distributed = pytest.importorskip("distributed")


def _protocol(**sim):
    d = small_dict(pool_size=20, replicates=200, chunk_size=40, timecourse_patients=2, **sim)
    d["comparators"] = d["comparators"][:1]
    return protocol_from_dict(d)


def _cluster():
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )


def _run(protocol, out, **where):
    """The run of ``protocol`` into ``out`` in this process (``workers``) or on a cluster
    (``scheduler``), without progress bar or report."""
    return run_trial(protocol, out, progress=False, report=False, **where)


def _same(local, remote) -> None:
    for name, frame in local.tables.items():
        pd.testing.assert_frame_equal(frame, getattr(remote.tables, name), obj=name)


@pytest.mark.slow
def test_local_cluster_of_two_processes_gives_identical_results(tmp_path):
    protocol = _protocol()
    local = _run(protocol, tmp_path / "local", workers=1)
    with _cluster() as cluster:
        remote = _run(protocol, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert remote.manifest["scheduler"] == cluster.scheduler_address
    _same(local, remote)


def test_replicate_chunks_on_a_local_cluster_give_identical_results(tmp_path):
    """The fast variant: pools from the in-process run (copied checkpoints), trials on 2 workers."""
    protocol = _protocol()
    local = _run(protocol, tmp_path / "local", workers=1)
    pools = tmp_path / "dask" / "checkpoint" / "pools"
    shutil.copytree(tmp_path / "local" / "checkpoint" / "pools", pools)
    (tmp_path / "dask" / "checkpoint" / "protocol.json").write_bytes(
        (tmp_path / "local" / "checkpoint" / "protocol.json").read_bytes()
    )
    with _cluster() as cluster:
        client = distributed.Client(cluster)
        remote = _run(protocol, tmp_path / "dask", scheduler=cluster.scheduler_address)
        # Every chunk ran on the workers, none in this process.
        assert remote.manifest["resumed_from"] == {"pools": 3 * 2, "chunks": 0}
        client.close()
    _same(local, remote)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    import allocart.trial.runner as runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(
        DesignError, match="^scheduler: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"
    ):
        run_trial(
            _protocol(), tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False, report=False
        )


def test_connect_scheduler_raises_the_callers_error_naming_scheduler(monkeypatch):
    import allocart.trial.runner as runner
    from allocart.errors import SensitivityError

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(
        SensitivityError, match="^scheduler: cannot reach .*'tcp://127.0.0.1:9'"
    ) as e:
        runner.connect_scheduler("tcp://127.0.0.1:9", SensitivityError)
    assert e.value.argument == "scheduler"
