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
ends (``kill -9`` included; see :func:`~allocart.trial.processes.die_with_parent`), and a ``running`` manifest left by a
process that no longer runs is taken for an interrupted run and resumed.
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

import pandas as pd

from allocart.errors import AllocartError, DesignError
from allocart.trial.calendar_tables import CALENDAR_TABLES, calendar_tables
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
from allocart.trial.processes import (
    MAIN_GUARD_MESSAGE,
    check_not_reimported,
    pool_task,
    pools_in_processes,
)
from allocart.trial.protocol import Protocol
from allocart.trial.replicates import (
    ChunkResult,
    Product,
    chunk_ranges,
    product_infusion,
    simulate_chunk,
)
from allocart.trial.store import RunFolder, package_versions, process_identity
from allocart.trial.summary import TABLES, TrialTables, build_tables
from allocart.trial.uncertainty import parameter_study

__all__ = [
    "RunResult",
    "RunInterrupted",
    "run_trial",
    "pool_task",
    "chunk_task",
    "MAIN_GUARD_MESSAGE",
    "ReportWriter",
    "connect_scheduler",
]

#: Writes the report of a finished run: ``writer(protocol, tables, path, manifest=...)``. The
#: report layer provides it (:func:`allocart.report.html.write_report`); the trial layer never
#: imports the report layer.
ReportWriter = Callable[..., Any]

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "10s"


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
    calendar : dict of str to DataFrame
        The calendar tables (``calendar``: one row per arm and replicate; ``calendar_summary``:
        one row per arm), also in ``results.duckdb``.
    """

    folder: RunFolder
    manifest: dict[str, Any]
    tables: TrialTables
    resumed: bool
    calendar: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)

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
def chunk_task(
    protocol: Protocol,
    sources: list[PoolOutcomes],
    first: int,
    stop: int,
    products: list[Product | None] | None = None,
) -> ChunkResult:
    """Simulate one chunk of replicate trials (a Dask task)."""
    return simulate_chunk(protocol, list(sources), first, stop, products)


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
    report: ReportWriter | None = None,
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
    report : callable, optional
        Writes ``report.html`` from the finished run (the report layer's
        :func:`allocart.report.html.write_report`, which ``allocart run`` passes); default: no
        report.
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
    check_not_reimported()
    say = log or (lambda msg: None)
    n_workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise DesignError(f"workers: {workers!r} must be at least 1", argument="workers")
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
    report: ReportWriter | None,
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
        tables, cal = _read_tables(folder)
        return RunResult(folder, manifest, tables, True, cal)
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
        stale_manifest = folder.stale
        base["previous_run"] = {
            "status": previous,
            "stale": stale_manifest is not None,
            "pid": (
                (stale_manifest.get("writer") or {}).get("pid")
                if stale_manifest is not None
                else None
            ),
        }
    folder.write_manifest({**base, "status": "running", "writer": process_identity()})
    timings: dict[str, float] = {}
    try:
        client = connect_scheduler(scheduler) if scheduler else None
        try:
            with _progress(progress) as prog:
                t0 = time.perf_counter()
                pools, tcs = _run_pools(protocol, folder, keys, client, prog, n_workers)
                timings["pools_s"] = time.perf_counter() - t0
                eligible = eligible_people(pools)
                sources = pool_outcomes(protocol, pools, eligible)
                products = [
                    product_infusion(pools[PoolKey(arm.index, protocol.start_dose - 1)], eligible)
                    for arm in arms_of(protocol)
                ]
                t0 = time.perf_counter()
                _run_chunks(protocol, folder, ranges, sources, products, client, prog)
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
        cal = calendar_tables(protocol, chunks)
        folder.write_results([*tables.items(), *cal.items()])
        timings["tables_s"] = time.perf_counter() - t0
        study.write(folder.results_path)
        if report:
            t0 = time.perf_counter()
            report(protocol, tables, folder.report_path, manifest=base)
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
    return RunResult(folder, manifest, tables, resumed, cal)


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


def connect_scheduler(address: str, error: type[AllocartError] = DesignError) -> Any:
    """A Dask client of the scheduler at ``address`` (waiting :data:`CONNECT_TIMEOUT`).

    Parameters
    ----------
    address : str
        The scheduler's address (``tcp://127.0.0.1:8786``).
    error : type of AllocartError
        The error class of the caller's layer (trials: ``DesignError``).

    Raises
    ------
    AllocartError
        Of class ``error``, naming ``scheduler``: without the ``dask`` extra, or when the
        scheduler does not answer.
    """
    try:
        from distributed import Client  # loaded on demand: dask is an optional extra
    except ImportError:  # pragma: no cover - dask is an optional extra
        raise error(
            "scheduler: needs dask.distributed; install allocart[dask]", argument="scheduler"
        ) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise error(
            f"scheduler: cannot reach the Dask scheduler at {address!r} ({exc})",
            argument="scheduler",
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
        pools_in_processes(protocol, todo, workers, done)
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
    products: list[Product | None],
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
            folder.save_chunk(simulate_chunk(protocol, sources, a, b, products))
            prog.advance(task, b - a)
        return

    def save(chunk: ChunkResult) -> None:
        folder.save_chunk(chunk)
        prog.advance(task, chunk.stop - chunk.first)

    shared = client.scatter(sources, broadcast=True)
    futures = [
        client.submit(chunk_task, protocol, shared, a, b, products, pure=False) for a, b in todo
    ]
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


def _read_tables(folder: RunFolder) -> tuple[TrialTables, dict[str, pd.DataFrame]]:
    import duckdb

    con = duckdb.connect(str(folder.results_path), read_only=True)
    try:
        frames = {name: con.execute(f'SELECT * FROM "{name}"').df() for name in TABLES}
        cal = {name: con.execute(f'SELECT * FROM "{name}"').df() for name in CALENDAR_TABLES}
    finally:
        con.close()
    return TrialTables(**frames), cal
