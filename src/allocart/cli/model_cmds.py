"""Commands of the mechanistic model: ``simulate``, ``export`` and ``bench engine``.

(Filled in by the model package; registered from :mod:`allocart.cli.app`.)
"""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the model's commands to the ``allocart`` application."""
    return None
