"""Entry point of the ``allocart`` command.

Each command lives in its own module next to this one and holds no logic of its own: it
parses options, calls the public API and prints. Heavy imports happen inside commands so
that ``allocart --help`` stays fast.
"""

from __future__ import annotations

import errno
import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

import typer

from allocart.errors import AllocartError

app = typer.Typer(
    name="allocart",
    help="Model-informed design and analysis of allogeneic CAR-T trials in autoimmune disease.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Benchmarks against peer tools, measured in the same run.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

# Command registration: each module adds its commands to `app` or `bench_app`.
from allocart.cli import (
    model_cmds,  # noqa: E402
    score_cmd,  # noqa: E402
)

model_cmds.register(app, bench_app)
score_cmd.register(app, bench_app)
from allocart.cli import design_cmd  # noqa: E402

design_cmd.register(app, bench_app)
from allocart.cli import population_cmds  # noqa: E402

population_cmds.register(app, bench_app)
from allocart.cli import trial_cmds

trial_cmds.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import data_cmds

data_cmds.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import fit_cmds

fit_cmds.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import explore_cmd  # noqa: E402

explore_cmd.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import sensitivity_cmd  # noqa: E402

sensitivity_cmd.register(app, bench_app)  # noqa: E402, E702


#: Checks of options that several commands share, by parameter name, run before the command:
#: a value these refuse ends the command with one line (exit 2) before any work starts.
def _option_checks() -> dict[str, Callable[[Any], None]]:
    from allocart.cli.checks import check_scheduler_address

    return {"scheduler": check_scheduler_address}


def _with_option_checks(callback: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        checks = _option_checks()
        for name in names:
            checks[name](kwargs.get(name))
        return callback(*args, **kwargs)

    return checked


def _install_option_checks(group: typer.Typer) -> None:
    """Wrap every command of ``group`` (and its sub-groups) that takes a checked option."""
    checked = set(_option_checks())
    for info in group.registered_commands:
        if info.callback is None:
            continue
        names = [n for n in inspect.signature(info.callback).parameters if n in checked]
        if names:
            info.callback = _with_option_checks(info.callback, names)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _install_option_checks(sub.typer_instance)


_install_option_checks(app)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line and turn user errors into one clear line (exit status 2)."""
    try:
        app(args=argv, standalone_mode=False)
    except AllocartError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file or folder the command could not read or write (e.g. an --out below a file, or
        # in a folder without write permission): one line naming it, as allocart.files words it.
        if exc.filename is None:
            raise
        from allocart.files import os_error_message

        # A missing file or a folder given as a file is what a reader meets; the rest, a writer.
        writing = exc.errno not in (errno.ENOENT, errno.EISDIR)
        print(f"error: {_one_line(os_error_message(exc, None, writing=writing))}", file=sys.stderr)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        return 130
    except typer.Exit as exc:  # raised by --help and explicit exits
        return int(exc.exit_code or 0)
    except (
        Exception
    ) as exc:  # usage errors (missing argument, bad option) carry their own formatting
        if isinstance(exc, _usage_errors()):
            exc.show()
            return exc.exit_code
        raise
    return 0


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's exception class, and the copy of it that newer Typer releases ship and raise."""
    import click

    classes: list[type[BaseException]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as vendored
    except ImportError:  # Typer releases that use click itself
        pass
    else:
        classes.append(vendored)
    return tuple(classes)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
