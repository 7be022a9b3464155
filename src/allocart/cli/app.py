"""Entry point of the ``allocart`` command.

Each command lives in its own module next to this one and holds no logic of its own: it
parses options, calls the public API and prints. Heavy imports happen inside commands so
that ``allocart --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from allocart.errors import AllocartError

app = typer.Typer(
    name="allocart",
    help="Model-informed design and analysis of allogeneic CAR-T trials in autoimmune disease.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks against peer tools, measured in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# Command registration: each module adds its commands to `app` or `bench_app`.
from allocart.cli import model_cmds  # noqa: E402
from allocart.cli import score_cmd  # noqa: E402

model_cmds.register(app, bench_app)
score_cmd.register(app, bench_app)
from allocart.cli import design_cmd  # noqa: E402
design_cmd.register(app, bench_app)
from allocart.cli import population_cmds  # noqa: E402
population_cmds.register(app, bench_app)
from allocart.cli import trial_cmds; trial_cmds.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import data_cmds; data_cmds.register(app, bench_app)  # noqa: E402, E702
from allocart.cli import fit_cmds; fit_cmds.register(app, bench_app)  # noqa: E402, E702


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line and turn user errors into one clear line (exit status 2)."""
    try:
        app(args=argv, standalone_mode=False)
    except AllocartError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        return 130
    except typer.Exit as exc:  # raised by --help and explicit exits
        return int(exc.exit_code or 0)
    except Exception as exc:  # usage errors (missing argument, bad option) carry their own formatting
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
