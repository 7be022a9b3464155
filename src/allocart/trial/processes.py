"""Pool processes of a run: one pool of virtual patients at a time per process, on this machine.

:func:`pools_in_processes` hands the pools of a run to ``workers`` processes started with
'spawn' and collects them as they complete. Ctrl-C stops them in order (see :class:`CtrlC`), a
process that dies is reported with its pool, and pool processes end with the process that
started them however it ends (see :func:`die_with_parent`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from allocart.errors import DesignError
from allocart.trial.pools import PoolKey, simulate_pool
from allocart.trial.protocol import Protocol

__all__ = [
    "pools_in_processes",
    "pool_task",
    "check_not_reimported",
    "die_with_parent",
    "MAIN_GUARD_MESSAGE",
    "TERMINATE_GRACE_S",
]

#: Seconds pool processes get to end after SIGTERM before they are killed (SIGKILL).
TERMINATE_GRACE_S = 3.0

#: What a script that calls :func:`run_trial` at its top level is told (see :func:`check_not_reimported`).
MAIN_GUARD_MESSAGE = (
    "run_trial() was called while a pool process was importing the main module: each pool process "
    "starts a new Python ('spawn'), which runs the top level of the script that started the run "
    'again; put the call under `if __name__ == "__main__":` (or pass workers=1)'
)

#: Name (prefix) of the pool processes, and the exit status of one that found itself calling
#: run_trial while importing the main module.
_WORKER_NAME = "allocart-pool"
_EXIT_MAIN_REIMPORT = 87


def pool_task(protocol: Protocol, arm: int, level: int) -> tuple[PoolKey, Any, Any]:
    """Simulate one pool (a Dask task: top-level, picklable arguments)."""
    key = PoolKey(arm, level)
    patients, tcs = simulate_pool(protocol, key)
    return key, patients, tcs


# --------------------------------------------------------------------------- pool processes
def pools_in_processes(
    protocol: Protocol,
    todo: list[PoolKey],
    workers: int,
    done: Callable[[PoolKey, Any, Any], None],
) -> None:
    """Simulate the pools ``todo`` in ``workers`` processes, calling ``done`` as each completes.

    Each process gets one pool at a time over its own pipe. On Ctrl-C (the first; see
    :class:`CtrlC`), on an error, or when a process dies, no further pool is handed out, the
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
    with CtrlC() as ctrl_c:
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
        f"workers: the process simulating pool {key.name} ended unexpectedly ({how}; out of "
        "memory?); the pools finished are saved: run again, with fewer workers",
        argument="workers",
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


class CtrlC:
    """Ctrl-C while pool processes run: the first asks to stop, the second kills them at once.

    Python's default handler raises :class:`KeyboardInterrupt` wherever the main thread happens
    to be, possibly in the middle of starting a process or of reading a result. Instead, the first
    SIGINT only sets :attr:`requested`; the loop of :func:`pools_in_processes` sees it within a
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

    def __enter__(self) -> CtrlC:
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
    die_with_parent(parent_pid)
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


def die_with_parent(parent_pid: int) -> None:
    """Make this pool process end when the process that started it ends, however that ends.

    A process whose parent dies is not told by default: it is re-parented and would go on
    simulating, holding its memory, as an orphan. Two mechanisms, because each has a blind spot:

    * Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ctypes) has the kernel kill this
      process the moment its parent dies, ``kill -9`` included, even while this process runs
      compiled code that holds the GIL. Its parent is the thread that started it, which stays
      in :func:`pools_in_processes` until the pool processes are stopped. It is set only now,
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


def check_not_reimported() -> None:
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
