"""Run a virtual trial end to end: pools, replicate trials, tables, report.

:func:`run_trial` is what ``allocart run`` calls. It

1. claims the run folder (:class:`~allocart.trial.store.RunFolder`), finding any earlier,
   interrupted work on the same protocol;
2. simulates and scores the missing pools of virtual patients (one per arm and dose level,
   :mod:`allocart.trial.pools`), storing each as it completes;
3. simulates the missing chunks of replicate trials (:mod:`allocart.trial.replicates`), storing
   each as it completes;
4. assembles the tables (:mod:`allocart.trial.summary`), writes ``results.duckdb``, the report
   and ``manifest.json``.

Steps 2 and 3 run in this process or, with ``scheduler``, as tasks on an existing Dask cluster;
without it, pools run in ``workers`` processes of this machine. Either way each pool and chunk is a
pure function of the protocol, so the results do not depend on where or in which order they were
computed, nor on interruptions.

Interruptions. Ctrl-C (SIGINT) stops a run within seconds: queued pools are dropped, the pool
processes are terminated, every pool and chunk finished so far is saved, ``manifest.json`` says
``interrupted`` and :class:`RunInterrupted` (a :class:`KeyboardInterrupt`) tells what was saved.
A second Ctrl-C kills the pool processes at once. Pool processes end with this process however it
ends (``kill -9`` included; see :func:`_die_with_parent`), and a ``running`` manifest left by a
process that no longer runs is taken for an interrupted run and resumed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from allocart.errors import DesignError
from allocart.trial.display import run_html
from allocart.trial.pools import (
    PoolKey,
    PoolOutcomes,
    arms_of,
    eligible_people,
    pool_keys,
    pool_outcomes,
    simulate_pool,
)
from allocart.trial.protocol import Protocol
from allocart.trial.replicates import ChunkResult, chunk_ranges, simulate_chunk
from allocart.trial.store import RunFolder, package_versions, process_identity
from allocart.trial.uncertainty import parameter_study
from allocart.trial.summary import TrialTables, build_tables

__all__ = [
    "RunResult",
    "RunInterrupted",
    "run_trial",
    "pool_task",
    "chunk_task",
    "MAIN_GUARD_MESSAGE",
]

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "10s"

#: Seconds pool processes get to end after SIGTERM before they are killed (SIGKILL).
TERMINATE_GRACE_S = 3.0

#: What a script that calls :func:`run_trial` at its top level is told (see :func:`_check_not_reimported`).
MAIN_GUARD_MESSAGE = (
    "run_trial() was called while a pool process was importing the main module: each pool process "
    "starts a new Python ('spawn'), which runs the top level of the script that started the run "
    'again; put the call under `if __name__ == "__main__":` (or pass workers=1)'
)

#: Name (prefix) of the pool processes, and the exit status of one that found itself calling
#: run_trial while importing the main module.
_WORKER_NAME = "allocart-pool"
_EXIT_MAIN_REIMPORT = 87


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; what was finished is saved and the same call resumes from it.

    Attributes
    ----------
    folder : Path
    pools, pools_total : int
        Pools of virtual patients saved, and in all.
    chunks, chunks_total : int
        Chunks of replicate trials saved, and in all.
    """

    def __init__(
        self, folder: Path, pools: int, pools_total: int, chunks: int, chunks_total: int
    ) -> None:
        self.folder = Path(folder)
        self.pools, self.pools_total = pools, pools_total
        self.chunks, self.chunks_total = chunks, chunks_total
        super().__init__(
            f"interrupted: {pools}/{pools_total} pools of virtual patients and {chunks}/{chunks_total} "
            f"chunks of replicate trials are saved in {self.folder}"
        )


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run produced.

    Attributes
    ----------
    folder : RunFolder
    manifest : dict
        Contents of ``manifest.json``.
    tables : TrialTables
    resumed : bool
        Whether earlier work on the same protocol was found and reused.
    """

    folder: RunFolder
    manifest: dict[str, Any]
    tables: TrialTables
    resumed: bool

    @property
    def report(self) -> Path:
        return self.folder.report_path

    @property
    def results(self) -> Path:
        return self.folder.results_path

    def _repr_html_(self) -> str:
        """Jupyter display: run folder and files, arms, selection probabilities."""
        return run_html(
            self.folder, self.manifest, self.tables.operating_characteristics, self.resumed
        )


# --------------------------------------------------------------------------- tasks (also on Dask)
def pool_task(protocol: Protocol, arm: int, level: int) -> tuple[PoolKey, Any, Any]:
    """Simulate one pool (a Dask task: top-level, picklable arguments)."""
    key = PoolKey(arm, level)
    patients, tcs = simulate_pool(protocol, key)
    return key, patients, tcs


def chunk_task(
    protocol: Protocol, sources: list[PoolOutcomes], first: int, stop: int
) -> ChunkResult:
    """Simulate one chunk of replicate trials (a Dask task)."""
    return simulate_chunk(protocol, list(sources), first, stop)


# --------------------------------------------------------------------------- progress
class _Quiet:
    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def update(self, *a: Any, **k: Any) -> None:
        pass

    def advance(self, *a: Any, **k: Any) -> None:
        pass


@contextmanager
def _progress(show: bool) -> Iterator[Any]:
    if not show:
        yield _Quiet()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as prog:
        yield prog


# --------------------------------------------------------------------------- the run
def run_trial(
    protocol: Protocol,
    out: str | Path,
    *,
    scheduler: str | None = None,
    fresh: bool = False,
    workers: int | None = None,
    progress: bool = True,
    report: bool = True,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the virtual trial ``protocol`` into the folder ``out``, resuming earlier work.

    Parameters
    ----------
    protocol : Protocol
    out : path
        Run folder.
    scheduler : str, optional
        Address of a Dask scheduler (e.g. ``tcp://127.0.0.1:8786``) to run pools and chunks on;
        default: in this process.
    fresh : bool
        Discard earlier work in ``out`` (including another protocol's run).
    workers : int, optional
        Without ``scheduler``: processes simulating pools at once (default: the number of CPUs;
        1 keeps everything in this process).
    progress : bool
        Show progress bars on standard error.
    report : bool
        Write ``report.html``.
    log : callable, optional
        Receives one-line status messages.

    Returns
    -------
    RunResult

    Raises
    ------
    DesignError
        If ``out`` holds another run or another process is writing to it, the scheduler cannot
        be reached, or a script calls this at its top level while pool processes import it.
    RunInterrupted
        On Ctrl-C (a :class:`KeyboardInterrupt`): finished pools and chunks are saved, the
        manifest says ``interrupted``, and the same call resumes.
    """
    _check_not_reimported()
    say = log or (lambda msg: None)
    n_workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise DesignError(f"--workers: {workers!r} must be at least 1")
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    folder = RunFolder(Path(out))
    try:
        return _run(
            protocol, folder, scheduler, fresh, n_workers, progress, report, say, t_start, started
        )
    finally:
        folder.release()


def _run(
    protocol: Protocol,
    folder: RunFolder,
    scheduler: str | None,
    fresh: bool,
    n_workers: int,
    progress: bool,
    report: bool,
    say: Callable[[str], None],
    t_start: float,
    started: str,
) -> RunResult:
    resumed = folder.claim(protocol, fresh=fresh)
    manifest = folder.read_manifest()
    if (
        resumed
        and manifest
        and manifest.get("status") == "complete"
        and folder.results_path.is_file()
        and (folder.report_path.is_file() or not report)
    ):
        say(f"{folder.root}: this run is already complete")
        return RunResult(folder, manifest, _read_tables(folder), True)
    keys = pool_keys(protocol)
    ranges = chunk_ranges(protocol.simulation.replicates, protocol.simulation.chunk_size)
    pools_before = sum(folder.has_pool(k) for k in keys)
    chunks_before = len(set(ranges) & folder.done_chunks())
    previous = manifest.get("status") if resumed and manifest else None
    if resumed and folder.stale is not None:
        # The manifest says running, yet we hold the folder's lock: its writer ended without
        # saying so (kill -9, a crash, the machine went down). Its saved work is as good as any.
        writer = folder.stale.get("writer") or {}
        previous = "interrupted"
        say(
            f"{folder.root}: the run started {folder.stale.get('started_utc', '?')} (pid "
            f"{writer.get('pid', '?')}) ended without finishing; taking it as interrupted"
        )
    if resumed and (pools_before or chunks_before):
        say(
            f"resuming: {pools_before}/{len(keys)} pools and {chunks_before}/{len(ranges)} chunks of trials already done"
        )
    base = {
        "scenario": protocol.to_dict(),
        "scenario_name": protocol.name,
        "scenario_hash": protocol.hash(),
        "seed": protocol.simulation.seed,
        "replicates": protocol.simulation.replicates,
        "versions": package_versions(),
        "scheduler": scheduler or f"in-process ({n_workers} pool processes)",
        "started_utc": started,
        "resumed_from": {"pools": pools_before, "chunks": chunks_before},
    }
    if previous is not None:
        # The status the earlier run left ('interrupted' also for a stale 'running'), and its pid.
        stale = folder.stale is not None
        base["previous_run"] = {
            "status": previous,
            "stale": stale,
            "pid": (folder.stale.get("writer") or {}).get("pid") if stale else None,
        }
    folder.write_manifest({**base, "status": "running", "writer": process_identity()})
    timings: dict[str, float] = {}
    try:
        client = _connect(scheduler) if scheduler else None
        try:
            with _progress(progress) as prog:
                t0 = time.perf_counter()
                pools, tcs = _run_pools(protocol, folder, keys, client, prog, n_workers)
                timings["pools_s"] = time.perf_counter() - t0
                eligible = eligible_people(pools)
                sources = pool_outcomes(protocol, pools, eligible)
                t0 = time.perf_counter()
                _run_chunks(protocol, folder, ranges, sources, client, prog)
                timings["trials_s"] = time.perf_counter() - t0
                study = parameter_study(  # uncertainty: true and parameter_scenarios
                    protocol,
                    folder.checkpoint,
                    sources[0],
                    [folder.load_chunk(a, b) for a, b in ranges],
                    client=client,
                    prog=prog,
                )
        finally:
            if client is not None:
                client.close()
        t0 = time.perf_counter()
        chunks = [folder.load_chunk(a, b) for a, b in ranges]
        tables = build_tables(protocol, pools, tcs, eligible, chunks)
        folder.write_results(tables.items())
        timings["tables_s"] = time.perf_counter() - t0
        study.write(folder.results_path)
        if report:
            from allocart.report.html import write_report

            t0 = time.perf_counter()
            write_report(protocol, tables, folder.report_path, manifest=base)
            timings["report_s"] = time.perf_counter() - t0
            study.add_to_report(protocol, folder.report_path)
    except BaseException as exc:
        stopped = isinstance(exc, (KeyboardInterrupt, SystemExit))
        saved = _record_stop(
            folder, base, keys, ranges, exc, "interrupted" if stopped else "failed"
        )
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, RunInterrupted):
            raise RunInterrupted(folder.root, *saved) from None
        raise
    timings["total_s"] = time.perf_counter() - t_start
    n_failed = int(tables.endpoints.query("endpoint == 'solver_failures'")["value"].sum())
    manifest = {
        **base,
        "status": "complete",
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "pools": {
            "count": len(keys),
            "pool_size": protocol.simulation.pool_size,
            "eligible_people": int(eligible.size),
            "solver_failures": n_failed,
        },
        "arms": [dataclasses.asdict(a) for a in arms_of(protocol)],
        "files": {
            "results": folder.results_path.name,
            "report": folder.report_path.name if report else None,
        },
    }
    folder.write_manifest(manifest)
    return RunResult(folder, manifest, tables, resumed)


def _record_stop(
    folder: RunFolder,
    base: dict[str, Any],
    keys: tuple[PoolKey, ...],
    ranges: list[tuple[int, int]],
    exc: BaseException,
    status: str,
) -> tuple[int, int, int, int]:
    """Write the manifest of a run that stopped early; return (pools, of, chunks, of) saved."""
    pools = sum(folder.has_pool(k) for k in keys)
    chunks = len(set(ranges) & folder.done_chunks())
    man = {
        **base,
        "status": status,
        "stopped_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "saved": {
            "pools": pools,
            "pools_total": len(keys),
            "chunks": chunks,
            "chunks_total": len(ranges),
        },
    }
    if status == "failed":
        man["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    folder.write_manifest(man)
    return pools, len(keys), chunks, len(ranges)


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is an optional extra
        raise DesignError("--scheduler: needs dask.distributed; install allocart[dask]") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise DesignError(
            f"--scheduler: cannot reach the Dask scheduler at {address!r} ({exc})"
        ) from None


def _run_pools(
    protocol: Protocol,
    folder: RunFolder,
    keys: tuple[PoolKey, ...],
    client: Any,
    prog: Any,
    workers: int,
) -> tuple[dict[PoolKey, Any], dict[PoolKey, Any]]:
    n = protocol.simulation.pool_size
    task = prog.add_task("virtual patients", total=len(keys) * n)
    pools, tcs = {}, {}
    todo = []
    for key in keys:
        if folder.has_pool(key):
            pools[key], tcs[key] = folder.load_pool(key)
            prog.advance(task, n)
        else:
            todo.append(key)

    def done(key: PoolKey, patients: Any, tc: Any) -> None:
        folder.save_pool(key, patients, tc)
        pools[key], tcs[key] = patients, tc
        prog.advance(task, n)

    if client is None and workers > 1 and len(todo) > 1:
        # Scoring is Python code, one patient at a time: separate processes use every core.
        _pools_in_processes(protocol, todo, workers, done)
    elif client is None:
        for key in todo:
            seen = [0]

            def bump(k: int, total: int, seen: list[int] = seen) -> None:
                prog.advance(task, max(k - seen[0], 0))
                seen[0] = max(seen[0], k)

            patients, tc = simulate_pool(protocol, key, progress=bump)
            prog.advance(task, -seen[0])
            done(key, patients, tc)
    else:
        futures = [client.submit(pool_task, protocol, k.arm, k.level, pure=False) for k in todo]
        _collect_dask(client, futures, lambda res: done(*res))
    return pools, tcs


def _run_chunks(
    protocol: Protocol,
    folder: RunFolder,
    ranges: list[tuple[int, int]],
    sources: list[PoolOutcomes],
    client: Any,
    prog: Any,
) -> None:
    done = folder.done_chunks()
    task = prog.add_task("replicate trials", total=protocol.simulation.replicates)
    todo = []
    for a, b in ranges:
        if (a, b) in done:
            prog.advance(task, b - a)
        else:
            todo.append((a, b))
    if client is None:
        for a, b in todo:
            folder.save_chunk(simulate_chunk(protocol, sources, a, b))
            prog.advance(task, b - a)
        return

    def save(chunk: ChunkResult) -> None:
        folder.save_chunk(chunk)
        prog.advance(task, chunk.stop - chunk.first)

    shared = client.scatter(sources, broadcast=True)
    futures = [client.submit(chunk_task, protocol, shared, a, b, pure=False) for a, b in todo]
    _collect_dask(client, futures, save)


def _collect_dask(client: Any, futures: list[Any], save: Callable[[Any], None]) -> None:
    """Save each Dask task's result as it completes; on Ctrl-C or an error, save the finished
    ones not yet saved and cancel the rest."""
    from distributed import as_completed

    saved: set[str] = set()
    try:
        for fut in as_completed(futures):
            save(fut.result())
            saved.add(fut.key)
    except BaseException:
        client.cancel([f for f in futures if f.status == "pending"])
        for fut in futures:
            if fut.key not in saved and fut.status == "finished":
                try:
                    save(fut.result(timeout=10))
                except Exception:  # noqa: BLE001 - keep what can be kept
                    pass
        raise


# --------------------------------------------------------------------------- pool processes
def _pools_in_processes(
    protocol: Protocol,
    todo: list[PoolKey],
    workers: int,
    done: Callable[[PoolKey, Any, Any], None],
) -> None:
    """Simulate the pools ``todo`` in ``workers`` processes, calling ``done`` as each completes.

    Each process gets one pool at a time over its own pipe. On Ctrl-C (the first; see
    :class:`_CtrlC`), on an error, or when a process dies, no further pool is handed out, the
    pools already finished are passed to ``done``, and every process is terminated (SIGTERM, then
    SIGKILL after :data:`TERMINATE_GRACE_S`); then the interruption or error is raised.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # a fresh interpreter: no fork of a process that holds threads
    queue = list(todo)
    procs: list[Any] = []
    conns: list[Any] = []
    busy: dict[int, PoolKey] = {}
    with _CtrlC() as ctrl_c:
        try:
            for i in range(min(workers, len(todo))):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(
                    target=_pool_worker,
                    args=(theirs, os.getpid()),
                    name=f"{_WORKER_NAME}-{i + 1}",
                    daemon=True,
                )
                procs.append(proc)
                ctrl_c.processes.append(proc)
                with ctrl_c.ignored():  # the new process starts with Ctrl-C ignored
                    proc.start()
                theirs.close()
                conns.append(ours)
                busy[i] = queue.pop(0)
                _send(ours, proc, busy[i], protocol)
            while busy and not ctrl_c.requested:
                ready = set(
                    wait([conns[i] for i in busy] + [procs[i].sentinel for i in busy], 0.25)
                )
                for i in list(busy):
                    if conns[i] in ready or procs[i].sentinel in ready:
                        _receive(i, conns[i], procs[i], busy, done)
                        if queue and not ctrl_c.requested:
                            busy[i] = queue.pop(0)
                            _send(conns[i], procs[i], busy[i], protocol)
            if ctrl_c.requested:
                _drain(conns, procs, busy, done)
        except BaseException:
            if ctrl_c.count < 2:  # after a second Ctrl-C nothing waits
                _drain(conns, procs, busy, done)
            raise
        finally:
            _stop_processes(procs)
            for conn in conns:
                conn.close()
    if ctrl_c.requested:
        raise KeyboardInterrupt


def _drain(
    conns: list[Any],
    procs: list[Any],
    busy: dict[int, PoolKey],
    done: Callable[[PoolKey, Any, Any], None],
) -> None:
    """Keep the pools that finished meanwhile: results already in the pipes (never waits for one)."""
    for i in list(busy):
        try:
            if conns[i].poll(0):
                _receive(i, conns[i], procs[i], busy, done)
        except Exception:  # noqa: BLE001 - this pool is lost; the others are kept
            pass


def _send(conn: Any, proc: Any, key: PoolKey, protocol: Protocol) -> None:
    """Hand pool ``key`` to a pool process."""
    try:
        conn.send((protocol, key.arm, key.level))
    except OSError:  # the process is gone (broken pipe)
        raise _died(proc, key) from None


def _receive(
    i: int,
    conn: Any,
    proc: Any,
    busy: dict[int, PoolKey],
    done: Callable[[PoolKey, Any, Any], None],
) -> None:
    """Take the reply of pool process ``i`` (or notice its death) and pass its pool to ``done``."""
    key = busy[i]
    try:
        status, payload = conn.recv()
    except (EOFError, OSError):
        raise _died(proc, key) from None
    if status == "error":
        exc, remote_tb = payload
        raise exc from _RemoteTraceback(remote_tb)
    del busy[i]
    done(*payload)


def _died(proc: Any, key: PoolKey) -> DesignError:
    """The error for a pool process that ended while simulating pool ``key``."""
    proc.join(1.0)
    code = proc.exitcode
    if code == _EXIT_MAIN_REIMPORT:
        return DesignError(MAIN_GUARD_MESSAGE)
    how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return DesignError(
        f"--workers: the process simulating pool {key.name} ended unexpectedly ({how}; out of "
        "memory?); the pools finished are saved: run again, with fewer --workers"
    )


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a pool process."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _stop_processes(procs: list[Any]) -> None:
    """Terminate the pool processes (SIGTERM), kill those still there after the grace period."""
    for proc in procs:
        if proc.pid is not None and proc.exitcode is None:
            proc.terminate()
    deadline = time.monotonic() + TERMINATE_GRACE_S
    for proc in procs:
        if proc.pid is not None:
            proc.join(max(deadline - time.monotonic(), 0.0))
    for proc in procs:
        if proc.pid is not None and proc.exitcode is None:
            proc.kill()
            proc.join(5.0)


class _CtrlC:
    """Ctrl-C while pool processes run: the first asks to stop, the second kills them at once.

    Python's default handler raises :class:`KeyboardInterrupt` wherever the main thread happens
    to be, possibly in the middle of starting a process or of reading a result. Instead, the first
    SIGINT only sets :attr:`requested`; the loop of :func:`_pools_in_processes` sees it within a
    quarter of a second and stops in order. A second SIGINT (say, while the processes are being
    terminated) kills them (SIGKILL) and raises :class:`KeyboardInterrupt` at once: it never
    waits. Installed only in the main thread and only over Python's default handler; a handler of
    the caller's, or an ignored SIGINT, is left alone.
    """

    def __init__(self) -> None:
        self.count = 0
        self.processes: list[Any] = []
        self._previous: Any = None
        self._main = threading.current_thread() is threading.main_thread()
        self._active = False

    @property
    def requested(self) -> bool:
        return self.count > 0

    def __enter__(self) -> _CtrlC:
        if self._main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)
            self._active = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1:
            return
        for proc in self.processes:
            if proc.pid is not None and proc.exitcode is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        raise KeyboardInterrupt

    @contextmanager
    def ignored(self) -> Iterator[None]:
        """SIGINT ignored in this process while a child is started, which inherits that.

        A Ctrl-C at the terminal reaches every process of the foreground group, pool processes
        included; they must leave it to this process, also while they are still starting up
        (importing modules), before their own code can ignore it.
        """
        if not self._main:
            yield
            return
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, before)


def _pool_worker(conn: Any, parent_pid: int) -> None:
    """Main loop of a pool process: simulate the pools it is sent, one at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(parent_pid)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or is gone
            return
        if task is None:
            return
        try:
            reply: tuple[str, Any] = ("ok", pool_task(*task))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
            import traceback

            reply = ("error", (exc, traceback.format_exc()))
        try:
            conn.send(reply)
        except (OSError, EOFError):
            return
        except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", (RuntimeError(f"{type(exc).__name__}: {exc}"), "")))


def _die_with_parent(parent_pid: int) -> None:
    """Make this pool process end when the process that started it ends, however that ends.

    A process whose parent dies is not told by default: it is re-parented and would go on
    simulating, holding its memory, as an orphan. Two mechanisms, because each has a blind spot:

    * Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ctypes) has the kernel kill this
      process the moment its parent dies, ``kill -9`` included, even while this process runs
      compiled code that holds the GIL. Its parent is the thread that started it, which stays
      in :func:`_pools_in_processes` until the pool processes are stopped. It is set only now,
      after the start, so a parent that died before is caught by comparing ``getppid()``.
    * Everywhere (macOS, Windows, and Linux should prctl be unavailable): a daemon thread waits on
      multiprocessing's parent sentinel, a pipe whose writing end only the parent holds; the
      kernel closes it when the parent dies, the wait returns, and the thread ends the process
      with ``os._exit``. It needs the GIL for that, so it may wait for the running compiled call
      to return. A ``getppid()`` check every second backs it up.
    """
    import multiprocessing as mp

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 # pragma: no cover - no prctl: the thread below remains
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    parent = mp.parent_process()

    def watch() -> None:
        from multiprocessing.connection import wait

        while True:
            if parent is not None and wait([parent.sentinel], 1.0):
                break
            if parent is None:
                time.sleep(1.0)
            if os.getppid() != parent_pid:
                break
        os._exit(1)

    threading.Thread(target=watch, name="allocart-parent-watch", daemon=True).start()


def _check_not_reimported() -> None:
    """Refuse to run while a new process imports the main module of the one that started it.

    Pool processes are started with 'spawn': a new interpreter that imports the main module of
    the parent (as ``__mp_main__``) before it can run anything. A script that calls
    :func:`run_trial` at its top level, not under ``if __name__ == "__main__":``, would thus start
    another run in every pool process (which then found the run folder locked, a misleading
    error). multiprocessing marks a process that is still importing its parent's main module with
    ``_inheriting`` (its own check for this situation reads the same flag). A pool process of ours
    (known by its name, which is set before the import) ends quietly with an exit status that its
    parent turns into :data:`MAIN_GUARD_MESSAGE`; any other process raises it.
    """
    import multiprocessing as mp

    current = mp.current_process()
    if not getattr(current, "_inheriting", False):
        return
    if current.name.startswith(_WORKER_NAME):
        raise SystemExit(_EXIT_MAIN_REIMPORT)
    raise DesignError(MAIN_GUARD_MESSAGE)


def _read_tables(folder: RunFolder) -> TrialTables:
    import duckdb

    from allocart.trial.summary import TABLES

    con = duckdb.connect(str(folder.results_path), read_only=True)
    try:
        frames = {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES}
    finally:
        con.close()
    return TrialTables(**frames)
