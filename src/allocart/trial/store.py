"""The run folder: checkpoints, ``manifest.json``, ``results.duckdb`` and ``report.html``.

Layout::

    OUT/
      manifest.json          scenario, its hash, seed, package versions, timings, status
      results.duckdb         tables trials, patients, cohorts, endpoints, timecourses,
                             operating_characteristics
      report.html            self-contained report (figures embedded)
      checkpoint/
        protocol.json        the validated protocol the checkpoints belong to
        pools/<pool>.patients.parquet, <pool>.timecourses.parquet
        chunks/trials_<first>_<stop>.npz

``OUT/.lock`` is held (``fcntl.flock``) by the process writing the folder, for as long as it
lives; the kernel releases it when that process ends, however it ends. ``manifest.json`` says
``running`` while a run is under way and records its writer (pid, host, boot id, start time); a
``running`` manifest found by a process that could take the lock is stale (its writer was killed)
and the run resumes as an interrupted one.

Nothing is ever half-written: every file is written to a temporary name in the same folder,
flushed to disk and moved into place with :func:`os.replace` (atomic on POSIX), so an
interruption at any moment (Ctrl-C, ``kill -9``, power loss) leaves either the old file or the new
one. A rerun finds the completed pools and chunks and computes only the rest; since each is a
pure function of the protocol and the seed, the results are identical to an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pandas as pd

from allocart.errors import DesignError
from allocart.files import atomic_write_bytes, atomic_write_text
from allocart.trial.pools import PoolKey
from allocart.trial.protocol import Protocol
from allocart.trial.replicates import ChunkResult

__all__ = [
    "RunFolder",
    "package_versions",
    "process_identity",
    "process_alive",
]

_CHUNK_RE = re.compile(r"^trials_(\d+)_(\d+)\.npz$")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages whose behaviour the results depend on."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in (
        "allocart",
        "numpy",
        "scipy",
        "pandas",
        "numba",
        "pydantic",
        "duckdb",
        "matplotlib",
        "pyarrow",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "not installed"
    return out


def _boot_id() -> str | None:
    """This boot of the machine (Linux); pids and process start times are only unique within one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """State and start time (clock ticks after boot) of process ``pid`` from ``/proc`` (Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    return fields[0], int(fields[19])  # starttime is field 22


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What identifies a process beyond its (reusable) pid: host, boot id and start time.

    ``started_ticks`` (clock ticks after boot, from ``/proc/PID/stat``) and ``boot_id`` are
    ``None`` where ``/proc`` is missing.
    """
    pid = os.getpid() if pid is None else int(pid)
    stat = _proc_stat(pid)
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "started_ticks": stat[1] if stat else None,
    }


def process_alive(identity: dict[str, Any]) -> bool | None:
    """Whether the process of :func:`process_identity` still runs.

    ``False`` once it ended (or its pid now belongs to another process, or the machine rebooted);
    ``None`` if that cannot be told from here (another host).
    """
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if identity.get("host") != socket.gethostname():
        return None
    boot = _boot_id()
    if boot is not None and identity.get("boot_id") not in (None, boot):
        return False
    stat = _proc_stat(pid)
    if stat is not None:
        state, ticks = stat
        if state in ("Z", "X"):  # ended, not yet reaped
            return False
        return identity.get("started_ticks") in (None, ticks)
    if Path("/proc/self/stat").is_file():  # /proc works and has no such process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


class RunFolder:
    """A run folder and its checkpoints.

    Parameters
    ----------
    root : path
        The folder (created if missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.checkpoint = self.root / "checkpoint"
        self.pools_dir = self.checkpoint / "pools"
        self.chunks_dir = self.checkpoint / "chunks"
        self._lock_fh: Any = None
        #: Set by :meth:`claim`: the manifest an earlier run left saying ``running`` although its
        #: process had ended (killed, or the machine went down); ``None`` otherwise.
        self.stale: dict[str, Any] | None = None

    # ------------------------------------------------------------------ files
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def results_path(self) -> Path:
        return self.root / "results.duckdb"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"

    # ------------------------------------------------------------------ ownership
    def claim(self, protocol: Protocol, *, fresh: bool = False) -> bool:
        """Make the folder hold this protocol's run; return whether earlier work was found.

        Raises
        ------
        DesignError
            If the folder holds another protocol's run and ``fresh`` is false, or is a file.
        """
        if self.root.exists() and not self.root.is_dir():
            raise DesignError(f"out: {str(self.root)!r} is a file, not a folder", argument="out")
        self._lock()
        # We hold the lock, so whoever wrote a `running` manifest is no longer running.
        previous = self._read_manifest_quietly()
        self.stale = previous if previous and previous.get("status") == "running" else None
        saved = self.checkpoint / "protocol.json"
        found = False
        if saved.is_file():
            old = json.loads(saved.read_text())
            if old.get("hash") != protocol.hash():
                if not fresh:
                    raise DesignError(
                        f"out: {str(self.root)!r} holds a run of scenario {old.get('name')!r} with other "
                        f"settings (hash {str(old.get('hash'))[:12]}, this one {protocol.hash()[:12]}); give "
                        "another folder, or start afresh (`fresh`; --fresh) to replace it",
                        argument="out",
                    )
                self.clear()
            elif fresh:
                self.clear()
            else:
                found = True
        elif self.root.is_dir() and any(self.root.iterdir()):
            # A folder without our checkpoint: only our own outputs may be replaced.
            foreign = [
                p.name
                for p in self.root.iterdir()
                if p.name not in ("manifest.json", "results.duckdb", "report.html", "checkpoint")
                and not p.name.startswith(".")
            ]
            if foreign:
                raise DesignError(
                    f"out: {str(self.root)!r} is not empty and holds no run ({', '.join(sorted(foreign)[:3])}); "
                    "give an empty or new folder",
                    argument="out",
                )
            self.clear()
        self.pools_dir.mkdir(parents=True, exist_ok=True)
        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        self._remove_temporaries()
        record = {"name": protocol.name, "hash": protocol.hash(), "protocol": protocol.to_dict()}
        atomic_write_text(saved, json.dumps(record, indent=1, sort_keys=True))
        return found

    def _lock(self) -> None:
        """Hold an advisory lock on the folder for the life of this process (released even by kill -9).

        ``fcntl.flock`` on ``OUT/.lock``; the file also records who holds it. Where the file
        system has no locks (some network mounts) the recorded holder decides: the folder is busy
        while that process is alive.
        """
        if self._lock_fh is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fh = open(path, "a+")  # noqa: SIM115 - held open on purpose; not inherited by children
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None  # type: ignore[assignment]
        locked = False
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:  # held by a live process
                fh.close()
                raise DesignError(self._busy_message(self._holder()), argument="out") from None
            except OSError:  # no locks on this file system: fall back to the recorded holder
                pass
        if not locked:
            holder = self._holder()
            if holder and holder.get("pid") != os.getpid() and process_alive(holder) is not False:
                fh.close()
                raise DesignError(self._busy_message(holder), argument="out")
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(process_identity()))
        fh.flush()
        self._lock_fh = fh

    def _holder(self) -> dict[str, Any] | None:
        try:
            holder = json.loads((self.root / ".lock").read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def _busy_message(self, holder: dict[str, Any] | None) -> str:
        who = ""
        if holder and holder.get("pid"):
            who = f" (pid {holder['pid']} on {holder.get('host', '?')})"
        return (
            f"out: another run is writing to {str(self.root)!r}{who}; wait for it "
            "or give another folder"
        )

    def _read_manifest_quietly(self) -> dict[str, Any] | None:
        try:
            man = self.read_manifest()
        except (OSError, ValueError):
            return None
        return man if isinstance(man, dict) else None

    def release(self) -> None:
        """Release the folder lock."""
        fh = self._lock_fh
        if fh is not None:
            try:  # the record goes first, so that no reader takes a finished run for a live one
                fh.seek(0)
                fh.truncate()
            except OSError:  # pragma: no cover - the lock goes with the file anyway
                pass
            fh.close()
            self._lock_fh = None

    def _remove_temporaries(self) -> None:
        """Temporary files an interrupted run left behind (never complete by construction)."""
        for folder in (self.root, self.checkpoint, self.pools_dir, self.chunks_dir):
            for p in folder.glob(".*.tmp*"):
                if p.is_file():
                    p.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove this run's files (never anything else)."""
        for name in ("manifest.json", "results.duckdb", "report.html"):
            (self.root / name).unlink(missing_ok=True)
        if self.checkpoint.is_dir():
            shutil.rmtree(self.checkpoint)

    # ------------------------------------------------------------------ pools
    def _pool_paths(self, key: PoolKey) -> tuple[Path, Path]:
        return (
            self.pools_dir / f"{key.name}.patients.parquet",
            self.pools_dir / f"{key.name}.timecourses.parquet",
        )

    def has_pool(self, key: PoolKey) -> bool:
        return all(p.is_file() for p in self._pool_paths(key))

    def save_pool(self, key: PoolKey, patients: pd.DataFrame, timecourses: pd.DataFrame) -> None:
        """Store a pool; the time courses first, so that the patients file marks completion."""
        p_pat, p_tc = self._pool_paths(key)
        for df, path in ((timecourses, p_tc), (patients, p_pat)):
            buf = io.BytesIO()
            df.to_parquet(buf, index=False)
            atomic_write_bytes(path, buf.getvalue())

    def load_pool(self, key: PoolKey) -> tuple[pd.DataFrame, pd.DataFrame]:
        p_pat, p_tc = self._pool_paths(key)
        return pd.read_parquet(p_pat), pd.read_parquet(p_tc)

    # ------------------------------------------------------------------ chunks
    def _chunk_path(self, first: int, stop: int) -> Path:
        return self.chunks_dir / f"trials_{first:08d}_{stop:08d}.npz"

    def done_chunks(self) -> set[tuple[int, int]]:
        out = set()
        for p in self.chunks_dir.glob("trials_*.npz"):
            m = _CHUNK_RE.match(p.name)
            if m:
                out.add((int(m.group(1)), int(m.group(2))))
        return out

    def save_chunk(self, chunk: ChunkResult) -> None:
        atomic_write_bytes(self._chunk_path(chunk.first, chunk.stop), chunk.to_bytes())

    def load_chunk(self, first: int, stop: int) -> ChunkResult:
        return ChunkResult.from_bytes(self._chunk_path(first, stop).read_bytes())

    # ------------------------------------------------------------------ outputs
    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=1, default=str))

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        return json.loads(self.manifest_path.read_text())

    def write_results(self, tables: list[tuple[str, pd.DataFrame]]) -> Path:
        """Write ``results.duckdb`` under a temporary name, then move it into place."""
        import duckdb

        tmp = self.root / f".results.duckdb.tmp{os.getpid()}"
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            for name, df in tables:
                con.register("frame", df)
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')
                con.unregister("frame")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.results_path)
        return self.results_path
