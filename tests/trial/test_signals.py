"""Ctrl-C and kill -9 on ``allocart run`` with pool processes: prompt exits, nothing lost, no orphans.

Real processes, no mocks of the machinery: each test starts the command
(``python -m tests.trial.slow_pools_cli run``, which is ``allocart run`` with the test-only cohort
stand-in taking ``ALLOCART_TEST_POOL_SECONDS`` per pool) with ``--workers 2``, in a session of its
own, and signals it as a terminal does: SIGINT to the whole process group, pool processes
included. Processes are found and checked in ``/proc`` (pid and start time, so that a reused pid
is not taken for a survivor). Waits poll against deadlines; a signal that came too late (the run
had already finished) is retried with slower pools. The resumed runs are made in this process
(``run_trial``, the same stand-in) and compared with an uninterrupted run.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from allocart.errors import DesignError
from allocart.trial.builtin import resolve_protocol
from allocart.trial.runner import MAIN_GUARD_MESSAGE, run_trial
from allocart.trial.store import RunFolder, process_alive, process_identity
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").is_file(), reason="finds processes through /proc (Linux)"
)

ROOT = Path(__file__).resolve().parents[2]
#: Bound on the exit after a signal; the exits measured take well under a second.
EXIT_WITHIN_S = 20.0


# --------------------------------------------------------------------------- processes in /proc
def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """The child processes of ``pid``: pid -> start time."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid and st[0] not in "ZX":
                out[int(entry.name)] = st[2]
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(procs: dict[int, int]) -> list[int]:
    """Those of ``procs`` (pid -> start time) that still run (zombies have ended)."""
    out = []
    for pid, started in procs.items():
        st = _stat(pid)
        if st is not None and st[0] not in "ZX" and st[2] == started:
            out.append(pid)
    return out


def _wait_gone(procs: dict[int, int], within: float) -> float:
    """Seconds until none of ``procs`` runs; fails after ``within``."""
    t0 = time.monotonic()
    while _alive(procs):
        if time.monotonic() - t0 > within:
            pytest.fail(f"still running {within} s later: {[_cmdline(p) for p in _alive(procs)]}")
        time.sleep(0.02)
    return time.monotonic() - t0


# --------------------------------------------------------------------------- the command
def _protocol_file(tmp: Path) -> Path:
    path = tmp / "small.yaml"
    path.write_text(yaml.safe_dump(small_dict()))  # 4 arms x 3 levels = 12 pools
    return path


#: As from a terminal: SIGINT delivered, even when the tests themselves run with it ignored (an
#: ignored signal stays ignored across exec; a default one does not). A small exec wrapper rather
#: than ``preexec_fn``, which would fork this multithreaded process.
_SIGINT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _start(protocol: Path, out: Path, pool_seconds: float, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _SIGINT_DEFAULT, "-m", "tests.trial.slow_pools_cli", "run"]
    cmd += [str(protocol), "--out", str(out), "--no-progress", "--quiet", "--workers", "2"]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "ALLOCART_TEST_POOL_SECONDS": str(pool_seconds), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job of a terminal
    )


def _saved_pools(out: Path) -> int:
    return len(list((out / "checkpoint" / "pools").glob("*.patients.parquet")))


def _run_until_a_pool_is_saved(
    protocol: Path, out: Path, pool_seconds: float = 1.5, **env: str
) -> tuple[subprocess.Popen, dict[int, int]] | None:
    """Start the command and return it once it saved a pool, with its pool processes; None if it
    finished first (the caller retries with slower pools)."""
    proc = _start(protocol, out, pool_seconds, **env)
    deadline = time.monotonic() + 180
    while _saved_pools(out) == 0:
        if proc.poll() is not None:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            return None
        assert time.monotonic() < deadline, "no pool saved in 180 s"
        time.sleep(0.02)
    workers = {pid: t for pid, t in _children(proc.pid).items() if "spawn_main" in _cmdline(pid)}
    assert len(workers) == 2, [_cmdline(p) for p in _children(proc.pid)]
    return proc, workers


def _interrupt(
    protocol: Path, out: Path, signals: int, **env: str
) -> tuple[subprocess.Popen, str, float, dict[int, int], dict[int, int]]:
    """Send SIGINT ``signals`` times (0.3 s apart) to the process group of a run that saved a pool.

    Returns the process, its standard error, the seconds from the last signal to its exit, its pool
    processes and all its children (pool processes, multiprocessing's resource tracker).
    """
    import shutil

    for pool_seconds in (1.5, 4.0, 10.0):
        started = _run_until_a_pool_is_saved(protocol, out, pool_seconds, **env)
        if started is not None:
            break
        shutil.rmtree(out)
    else:
        pytest.fail("every run finished before it could be interrupted")
    proc, workers = started
    children = _children(proc.pid)
    for k in range(signals):
        if k:
            time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the run did not exit within 120 s of Ctrl-C")
    return proc, err, time.monotonic() - t0, workers, children


# --------------------------------------------------------------------------- reference and resume
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the small protocol (the stand-in cohort, in this process)."""
    tmp = tmp_path_factory.mktemp("signals")
    protocol = _protocol_file(tmp)
    with pytest.MonkeyPatch.context() as mp:
        import allocart.population.cohort as cohort

        mp.setattr(cohort, "simulate_cohort", fake_simulate_cohort)
        res = run_trial(
            resolve_protocol(str(protocol)), tmp / "ref", workers=1, progress=False, report=False
        )
    return protocol, res.tables


def _resume(protocol: Path, out: Path, reference_tables) -> tuple[object, list[str]]:
    """Run again in this process; the results must equal the uninterrupted run's."""
    msgs: list[str] = []
    res = run_trial(
        resolve_protocol(str(protocol)),
        out,
        workers=1,
        progress=False,
        report=False,
        log=msgs.append,
    )
    assert res.resumed and res.manifest["status"] == "complete"
    for name, frame in reference_tables.items():
        pd.testing.assert_frame_equal(frame, getattr(res.tables, name), obj=name)
    return res, msgs


# --------------------------------------------------------------------------- tests
def test_ctrl_c_saves_the_finished_pools_stops_the_workers_and_the_rerun_resumes(
    reference, fake_cohort, tmp_path
):
    protocol, expected = reference
    out = tmp_path / "run"
    proc, err, took, workers, children = _interrupt(protocol, out, signals=1)
    assert proc.returncode == 130, err
    assert took < EXIT_WITHIN_S, f"exit {took:.1f} s after Ctrl-C"
    # One line: what was saved and how to resume; no traceback (the pool processes ignore the
    # SIGINT that reached them too).
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    m = re.fullmatch(
        r"interrupted: (\d+)/12 pools of virtual patients and 0/3 chunks of replicate trials are "
        r"saved in (.+); run the same command again to resume",
        lines[-1],
    )
    assert m and len(lines) == 1, err
    saved = int(m.group(1))
    assert saved >= 1 and saved == _saved_pools(out) and m.group(2) == str(out)
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "interrupted"
    assert man["saved"] == {"pools": saved, "pools_total": 12, "chunks": 0, "chunks_total": 3}
    assert not _alive(workers), "pool processes outlived the run"
    _wait_gone(children, within=10)
    res, msgs = _resume(protocol, out, expected)
    assert res.manifest["resumed_from"] == {"pools": saved, "chunks": 0}
    assert res.manifest["previous_run"]["status"] == "interrupted"
    assert not res.manifest["previous_run"]["stale"]


def test_a_second_ctrl_c_kills_the_workers_at_once(tmp_path):
    protocol = _protocol_file(tmp_path)
    out = tmp_path / "run"
    # Pool processes that ignore SIGTERM, and 60 s before they would be killed after the first
    # Ctrl-C: only the second Ctrl-C can end the run soon.
    proc, err, took, workers, children = _interrupt(
        protocol, out, signals=2, ALLOCART_TEST_STUBBORN="1", ALLOCART_TEST_TERMINATE_GRACE_S="60"
    )
    assert proc.returncode == 130, err
    assert took < EXIT_WITHIN_S, f"exit {took:.1f} s after the second Ctrl-C"
    assert "run the same command again to resume" in err.strip().splitlines()[-1]
    assert not _alive(workers)
    _wait_gone(children, within=10)
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_an_error_in_a_pool_process_stops_the_others_and_keeps_the_finished_pools(tmp_path):
    protocol = _protocol_file(tmp_path)
    out = tmp_path / "run"
    proc = _start(protocol, out, 0.5, ALLOCART_TEST_FAIL_DOSE="4.5e8")
    children: dict[int, int] = {}
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 180:
        children.update(_children(proc.pid))
        time.sleep(0.02)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.strip().splitlines()[-1] == "error: test: the pool of dose 4.5e8 fails"
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "failed" and "4.5e8" in man["error"]
    # Pools are handed out arm by arm, dose by dose: the first (3.0e8, 0.5 s) was saved long
    # before the second failed (after 1.5 s); the queued ones were never started.
    assert 1 <= man["saved"]["pools"] == _saved_pools(out) < 12
    _wait_gone(children, within=10)


@pytest.mark.slow
def test_ctrl_c_kills_workers_that_ignore_sigterm_after_the_grace_period(tmp_path):
    protocol = _protocol_file(tmp_path)
    out = tmp_path / "run"
    proc, err, took, workers, _ = _interrupt(
        protocol, out, signals=1, ALLOCART_TEST_STUBBORN="1", ALLOCART_TEST_TERMINATE_GRACE_S="2"
    )
    assert proc.returncode == 130, err
    assert 1.5 < took < EXIT_WITHIN_S
    assert not _alive(workers)


def test_kill_9_leaves_no_worker_and_the_next_start_takes_the_run_as_interrupted(
    reference, fake_cohort, tmp_path
):
    protocol, expected = reference
    out = tmp_path / "run"
    started = None
    for pool_seconds in (1.5, 4.0, 10.0):
        started = _run_until_a_pool_is_saved(protocol, out, pool_seconds)
        if started is not None:
            break
    assert started is not None, "every run finished before it could be killed"
    proc, workers = started
    children = _children(proc.pid)  # pool processes and multiprocessing's resource tracker
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    gone = _wait_gone(children, within=10)
    assert gone < 10
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "running" and man["writer"]["pid"] == proc.pid  # as kill -9 left it
    assert process_alive(man["writer"]) is False
    res, msgs = _resume(protocol, out, expected)
    assert any("ended without finishing; taking it as interrupted" in m for m in msgs), msgs
    assert res.manifest["previous_run"] == {"status": "interrupted", "stale": True, "pid": proc.pid}


_ORPHAN = """
import multiprocessing as mp, os, sys, time
from pathlib import Path

def pool_process(parent, ready):
    from allocart.trial.processes import die_with_parent as _die_with_parent
    sys.platform = "darwin"  # as where there is no prctl: only the watching thread is left
    _die_with_parent(parent)
    Path(ready).write_text(str(os.getpid()))
    while True:
        sum(range(10**6))  # busy, in Python code

if __name__ == "__main__":
    ready = sys.argv[1]
    mp.get_context("spawn").Process(target=pool_process, args=(os.getpid(), ready)).start()
    while not os.path.exists(ready):
        time.sleep(0.02)
    os.kill(os.getpid(), 9)
"""


def test_without_prctl_the_parent_watch_still_ends_an_orphan(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    ready = tmp_path / "ready"
    proc = subprocess.run(
        [sys.executable, str(script), str(ready)], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(ready.read_text())
    st = _stat(pid)
    gone = _wait_gone({pid: st[2]} if st else {}, within=10)
    assert gone < 10


_SCRIPT = """
import sys
from allocart.trial import resolve_protocol, run_trial
{patch}
{call}
"""
_CALL = (
    "run_trial(resolve_protocol(sys.argv[1]), sys.argv[2], workers=2, progress=False, report=False)"
)
_PATCH = (
    "import allocart.population.cohort as c\n"
    "from tests.trial.fake_cohort import fake_simulate_cohort\n"
    "c.simulate_cohort = fake_simulate_cohort"
)


def _script(tmp: Path, guarded: bool) -> Path:
    call = f'if __name__ == "__main__":\n    {_CALL}' if guarded else _CALL
    path = tmp / ("guarded.py" if guarded else "unguarded.py")
    path.write_text(textwrap.dedent(_SCRIPT).format(patch=_PATCH, call=call))
    return path


def _run_script(script: Path, protocol: Path, out: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(script), str(protocol), str(out)],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_script_calling_run_trial_without_the_main_guard_gets_one_clear_line(tmp_path):
    protocol = _protocol_file(tmp_path)
    proc = _run_script(_script(tmp_path, guarded=False), protocol, tmp_path / "run")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"allocart.errors.DesignError: {MAIN_GUARD_MESSAGE}", proc.stderr
    assert 'if __name__ == "__main__":' in last
    assert "another run is writing" not in proc.stderr
    man = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert man["status"] == "failed" and "__main__" in man["error"]


@pytest.mark.slow
def test_the_same_script_with_the_main_guard_runs(tmp_path):
    protocol = _protocol_file(tmp_path)
    proc = _run_script(_script(tmp_path, guarded=True), protocol, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "complete"


# --------------------------------------------------------------------------- the folder's writer
def test_a_live_writer_is_named_and_a_dead_one_is_recognised(small_protocol, tmp_path):
    first = RunFolder(tmp_path / "run")
    first.claim(small_protocol)
    with pytest.raises(DesignError, match=rf"another run is writing to .* \(pid {os.getpid()} "):
        RunFolder(tmp_path / "run").claim(small_protocol)
    me = process_identity()
    assert process_alive(me) is True
    assert process_alive({**me, "started_ticks": (me["started_ticks"] or 0) + 1}) is False
    assert process_alive({**me, "host": me["host"] + "-elsewhere"}) is None
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert process_alive({**me, "pid": int(done.stdout), "started_ticks": None}) is False
    first.release()


def test_without_file_locks_the_recorded_writer_decides(small_protocol, tmp_path, monkeypatch):
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    root = tmp_path / "run"
    root.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / ".lock").write_text(json.dumps(process_identity(sleeper.pid)))
        with pytest.raises(DesignError, match=rf"is writing to .* \(pid {sleeper.pid} "):
            RunFolder(root).claim(small_protocol)
    finally:
        sleeper.kill()
        sleeper.wait()
    folder = RunFolder(root)
    folder.claim(small_protocol)  # its writer has ended
    assert json.loads((root / ".lock").read_text())["pid"] == os.getpid()
    folder.release()


def test_a_running_manifest_without_its_writer_is_taken_as_interrupted(
    fake_cohort, small_protocol, tmp_path
):
    root = tmp_path / "run"
    run_trial(small_protocol, root, workers=1, progress=False, report=False)
    man = json.loads((root / "manifest.json").read_text())
    (root / "results.duckdb").unlink()
    ghost = {**process_identity(), "pid": 2**22 + 1}  # beyond pid_max: never a live process
    (root / "manifest.json").write_text(json.dumps({**man, "status": "running", "writer": ghost}))
    msgs: list[str] = []
    res = run_trial(small_protocol, root, workers=1, progress=False, report=False, log=msgs.append)
    assert res.manifest["status"] == "complete"
    assert res.manifest["previous_run"] == {
        "status": "interrupted",
        "stale": True,
        "pid": 2**22 + 1,
    }
    assert any("ended without finishing" in m for m in msgs)
