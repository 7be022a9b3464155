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

Steps 2 and 3 run in this process or, with ``scheduler``, as tasks on an existing Dask cluster.
Either way each pool and chunk is a pure function of the protocol, so the results do not depend
on where or in which order they were computed, nor on interruptions.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from allocart.errors import DesignError
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
from allocart.trial.store import RunFolder, package_versions
from allocart.trial.summary import TrialTables, build_tables

__all__ = ["RunResult", "run_trial", "pool_task", "chunk_task"]

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "10s"


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
        If ``out`` holds another run, or the scheduler cannot be reached.
    """
    say = log or (lambda msg: None)
    n_workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise DesignError(f"--workers: {workers!r} must be at least 1")
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
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
    folder.write_manifest({**base, "status": "running"})
    timings: dict[str, float] = {}
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
    finally:
        if client is not None:
            client.close()
    t0 = time.perf_counter()
    chunks = [folder.load_chunk(a, b) for a, b in ranges]
    tables = build_tables(protocol, pools, tcs, eligible, chunks)
    folder.write_results(tables.items())
    timings["tables_s"] = time.perf_counter() - t0
    if report:
        from allocart.report.html import write_report

        t0 = time.perf_counter()
        write_report(protocol, tables, folder.report_path, manifest=base)
        timings["report_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    n_failed = int(tables.endpoints.query("endpoint == 'solver_failures'")["value"].sum())
    manifest = {
        **base,
        "status": "complete",
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
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
    if client is None and workers > 1 and len(todo) > 1:
        # Scoring is Python code, one patient at a time: separate processes use every core.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as ex:
            futs = [ex.submit(pool_task, protocol, k.arm, k.level) for k in todo]
            for fut in as_completed(futs):
                key, patients, tc = fut.result()
                folder.save_pool(key, patients, tc)
                pools[key], tcs[key] = patients, tc
                prog.advance(task, n)
    elif client is None:
        for key in todo:
            seen = [0]

            def bump(done: int, total: int, seen: list[int] = seen) -> None:
                prog.advance(task, max(done - seen[0], 0))
                seen[0] = max(seen[0], done)

            patients, tc = simulate_pool(protocol, key, progress=bump)
            prog.advance(task, n - seen[0])
            folder.save_pool(key, patients, tc)
            pools[key], tcs[key] = patients, tc
    else:
        from distributed import as_completed

        futures = [client.submit(pool_task, protocol, k.arm, k.level, pure=False) for k in todo]
        for fut in as_completed(futures):
            key, patients, tc = fut.result()
            folder.save_pool(key, patients, tc)
            pools[key], tcs[key] = patients, tc
            prog.advance(task, n)
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
    from distributed import as_completed

    shared = client.scatter(sources, broadcast=True)
    futures = [client.submit(chunk_task, protocol, shared, a, b, pure=False) for a, b in todo]
    for fut in as_completed(futures):
        chunk = fut.result()
        folder.save_chunk(chunk)
        prog.advance(task, chunk.stop - chunk.first)


def _read_tables(folder: RunFolder) -> TrialTables:
    import duckdb

    from allocart.trial.summary import TABLES

    con = duckdb.connect(str(folder.results_path), read_only=True)
    try:
        frames = {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES}
    finally:
        con.close()
    return TrialTables(**frames)
