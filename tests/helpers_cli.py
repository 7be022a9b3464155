"""The command line run as a user runs it: ``allocart`` in a fresh Python process.

Tests that must see what a process prints (no traceback, one ``error:`` line, exit codes) or
that kill it run :data:`CLI` with their arguments; :func:`run_cli` runs it to the end.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

#: ``allocart`` as a command of this interpreter (the package's entry module).
CLI = (sys.executable, "-m", "allocart.cli.app")


def run_cli(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``allocart <args>`` in a new process, waited for; stdout and stderr captured as text.

    ``kwargs`` go to :func:`subprocess.run` (``cwd``, ``timeout`` in seconds, ``env``).
    """
    return subprocess.run([*CLI, *args], capture_output=True, text=True, **kwargs)
