"""Interrupting ``allocart run`` (kill -9, Ctrl-C) and running it again gives identical results.

Real processes, the real model, a small protocol: each run is a separate ``allocart run``, the
interrupted one is killed at a random moment of its work (the moment is reported on failure).
``test_signals.py`` checks the pool processes under Ctrl-C and kill -9 (with the stand-in cohort).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers_cli import CLI
from tests.trial.conftest import small_dict
from tests.trial.run_results import operating_characteristics as _oc


def _protocol_file(tmp: Path) -> Path:
    d = small_dict(pool_size=20, replicates=600, chunk_size=20, timecourse_patients=2)
    d["comparators"] = d["comparators"][:1]  # one comparator: several pools, still quick
    path = tmp / "small.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _cmd(protocol: Path, out: Path) -> list[str]:
    args = ["run", str(protocol), "--out", str(out), "--no-progress", "--quiet", "--workers", "1"]
    return [*CLI, *args]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from allocart.population.cohort import simulate_cohort

    # Compiled kernels on disk first, so that the reference time is that of a run, not of a compilation.
    simulate_cohort("allogeneic-cd19cd20", "3e8", "flu-cy", 2, 1)
    tmp = tmp_path_factory.mktemp("interrupt")
    protocol = _protocol_file(tmp)
    out = tmp / "uninterrupted"
    t0 = time.perf_counter()
    proc = subprocess.run(_cmd(protocol, out), capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    return protocol, _oc(out), wall


def test_kill_9_at_a_random_moment_then_rerun_gives_identical_results(reference, tmp_path):
    protocol, expected, wall = reference
    out = tmp_path / "killed"
    rng = random.SystemRandom()
    moments = []
    interrupted = False
    for _ in range(4):
        # A kill that came too late is retried earlier: the run had exited, or it had already
        # written its complete manifest and was only shutting down when the signal arrived.
        moment = rng.uniform(0.15, 0.85) * wall * (0.5 ** len(moments))
        moments.append(round(moment, 2))
        proc = subprocess.Popen(
            _cmd(protocol, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(moment)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            man = out / "manifest.json"
            if not man.exists() or json.loads(man.read_text())["status"] != "complete":
                interrupted = True
                break
        shutil.rmtree(out, ignore_errors=True)
    assert interrupted, f"never interrupted before completion (moments {moments} s of {wall:.1f} s)"
    assert proc.returncode == -signal.SIGKILL
    rerun = subprocess.run(_cmd(protocol, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(expected, _oc(out), obj=f"OC after kill -9 at {moments[-1]} s")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_and_the_rerun_resumes(reference, tmp_path, workers):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once a pool is saved: exit
    130 within seconds, the finished pools kept, the manifest 'interrupted', and the rerun gives
    the uninterrupted results. With 2 workers the pools are simulated in pool processes."""
    protocol, expected, wall = reference
    out = tmp_path / "interrupted"
    cmd = _cmd(protocol, out)
    cmd[cmd.index("--workers") + 1] = str(workers)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As from a terminal: SIGINT delivered, even when the tests themselves run with it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pools = out / "checkpoint" / "pools"
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and not list(pools.glob("*.patients.parquet"))
    ):
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - t0
    if proc.returncode == 0:
        pytest.fail(f"the run finished before Ctrl-C could reach it ({wall:.1f} s)")
    assert proc.returncode == 130, err
    assert took < 20, f"exit {took:.1f} s after Ctrl-C"
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted: ") and line.endswith(
        "run the same command again to resume"
    )
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "interrupted"
    assert man["saved"]["pools"] == len(list(pools.glob("*.patients.parquet"))) >= 1
    rerun = subprocess.run(_cmd(protocol, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    pd.testing.assert_frame_equal(expected, _oc(out))
