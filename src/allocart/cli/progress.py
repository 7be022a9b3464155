"""Progress bars of long commands, drawn on stderr so that stdout (tables, ``--json``) stays clean.

A bar is drawn only when stderr is an interactive terminal, as Rich decides (a pipe, a file or
``TERM=dumb`` turns it off; ``TTY_COMPATIBLE=1 TTY_INTERACTIVE=1`` forces it on), and the command
was not asked to be quiet. Updates
from the work are throttled: at most one every ``min_interval`` seconds reaches Rich, except a
change of stage and the last step, so a callback called once per patient or per trial block
costs nothing measurable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressBar"]


class ProgressBar:
    """A transient Rich progress bar on stderr for one long command.

    Use as a context manager; :meth:`update` (or the ``(done, total)`` callback from
    :meth:`callback`) moves it, :meth:`stage` starts a new stage with its own total. When
    disabled every method does nothing.

    Parameters
    ----------
    description : str
        What the bar is counting, e.g. ``"simulating 400 patients"``.
    total : int, optional
        Steps of the first stage; None draws a pulsing bar with the elapsed time.
    enabled : bool
        False turns the bar off whatever stderr is (``--quiet``).
    min_interval : float
        Seconds between two updates passed on to Rich.
    """

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        enabled: bool = True,
        min_interval: float = 0.1,
    ) -> None:
        self._description = description
        self._total = total
        self._min_interval = float(min_interval)
        self._last = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            console = Console(stderr=True)
            enabled = console.is_interactive
        self.enabled = enabled
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                refresh_per_second=5,
            )

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total)
            self._last = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int | None = None, description: str | None = None) -> None:
        """``done`` of ``total`` steps, throttled.

        ``total`` None keeps the current total; a new total starts a new stage (the elapsed
        time and the estimate restart); a new ``description`` is shown at once.
        """
        if self._progress is None or self._task is None:
            return
        if total is not None and total != self._total:
            self.stage(self._description if description is None else description, total, done)
            return
        now = time.monotonic()
        renamed = False
        if description is not None and description != self._description:
            self._description = description
            renamed = True
        finished = self._total is not None and done >= self._total
        if not (renamed or finished) and now - self._last < self._min_interval:
            return
        self._last = now
        self._progress.update(self._task, completed=done, description=self._description)

    def stage(self, description: str, total: int | None = None, done: int = 0) -> None:
        """Start a new stage: a new description and total (not throttled)."""
        self._description = description
        self._total = total
        if self._progress is None or self._task is None:
            return
        self._last = time.monotonic()
        self._progress.reset(self._task, total=total, completed=done, description=description)

    def callback(self) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` function for the library's long calls."""
        return lambda done, total: self.update(int(done), int(total))
