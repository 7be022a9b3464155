"""Entry point of the ``allocart`` command.

Each command lives in its own module next to this one and holds no logic of its own: it
parses options, calls the public API and prints. Heavy imports happen inside commands so
that ``allocart --help`` stays fast.
"""

from __future__ import annotations

import errno
import functools
import inspect
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from allocart.cli import (
    data_cmds,
    design_cmd,
    explore_cmd,
    fit_cmds,
    model_cmds,
    population_cmds,
    score_cmd,
    sensitivity_cmd,
    trial_cmds,
)
from allocart.errors import AllocartError

if TYPE_CHECKING:
    import click
    from typer._click.exceptions import ClickException as _VendoredClickException

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
for _module in (
    model_cmds,
    score_cmd,
    design_cmd,
    population_cmds,
    trial_cmds,
    data_cmds,
    fit_cmds,
    explore_cmd,
    sensitivity_cmd,
):
    _module.register(app, bench_app)


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


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def _command_params(argv: list[str]) -> list[Any]:
    """Parameters (click objects) of the command that ``argv`` invokes, [] if none is found."""
    # Typer may ship its own copy of click: look for a group's ``commands``, not its class.
    command: Any = typer.main.get_command(app)
    for token in argv:
        if not isinstance(getattr(command, "commands", None), dict):
            break
        sub = command.commands.get(token)
        if sub is None:
            if token.startswith("-"):
                continue
            break
        command = sub
    return list(getattr(command, "params", []))


def _in_flags(message: str, argument: str | None, argv: list[str]) -> str:
    """The library's message with its Python argument name replaced by the command's flag.

    Library errors name the argument a Python caller passed (``dose``); on the command line
    the same error names the option the user typed (``--dose``). ``argument`` is the
    ``AllocartError.argument`` the library set; a name that is not an option of the invoked
    command (a positional argument, a field inside a file) is left as it is.
    """
    if not argument:
        return message
    options = [p for p in _command_params(argv) if getattr(p, "opts", None)]
    # The option of that name, else the longest whose name the library extends with a unit
    # (``weight_kg`` for ``--weight``; ``n_doses`` is ``--n-doses``, never ``--n``).
    exact = [p for p in options if p.name == argument]
    prefix = [p for p in options if argument.startswith(f"{p.name}_")]
    chosen = exact or sorted(prefix, key=lambda p: len(p.name), reverse=True)
    if not chosen:
        return message
    flags = [o for o in chosen[0].opts if o.startswith("--")] or list(chosen[0].opts)
    pattern = rf"(?<![\w-]){re.escape(argument)}(?![\w])"
    return re.sub(pattern, max(flags, key=len), message, count=1)


def main(argv: list[str] | None = None) -> int:
    """Run the command line and turn user errors into one clear line (exit status 2)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, standalone_mode=False)
    except AllocartError as exc:
        print(f"error: {_in_flags(_one_line(exc), exc.argument, args)}", file=sys.stderr)
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


def _usage_errors() -> tuple[type[click.ClickException] | type[_VendoredClickException], ...]:
    """Click's exception class, and the copy of it that newer Typer releases ship and raise."""
    import click

    classes: list[type[click.ClickException] | type[_VendoredClickException]] = [
        click.ClickException
    ]
    try:
        from typer._click.exceptions import ClickException as vendored
    except ImportError:  # Typer releases that use click itself
        pass
    else:
        classes.append(vendored)
    return tuple(classes)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
