"""Options, inputs and outputs that several commands share, declared once.

Each alias is an ``Annotated`` type that Typer reads as the option's declaration; the command
gives the default in its own signature, so one declaration serves commands whose defaults
differ (``--dose 1e6/kg`` for ``simulate``, ``3e8`` for ``cohort``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from allocart.errors import AllocartError, FileError
from allocart.files import check_output

if TYPE_CHECKING:  # the model is imported when a command runs (fast --help)
    from allocart.model.parameters import ParameterTable

__all__ = [
    "DOSE",
    "JSON",
    "PARAMS",
    "PRODUCT",
    "QUIET",
    "check_table_output",
    "echo_json",
    "echo_measurements",
    "parameter_table",
]

#: ``--product``: a built-in product's name or a product YAML file.
PRODUCT = Annotated[str, typer.Option(help="Built-in product or a product YAML file.")]
#: ``--dose``: cells per kg (``1e6/kg``) or flat cells (``3e8``).
DOSE = Annotated[str, typer.Option(help="Cells per kg (1e6/kg) or flat cells (3e8).")]
#: ``--params``: a YAML file of overrides of the parameter table.
PARAMS = Annotated[Path | None, typer.Option(help="YAML file of parameter overrides.")]
#: ``--json``: print the command's result as JSON instead of text.
JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
#: ``--quiet``: print only where a run's results are.
QUIET = Annotated[bool, typer.Option("--quiet", help="Print only where the results are.")]


def check_table_output(out: Path | None, error: type[AllocartError] = FileError) -> None:
    """Refuse an ``--out`` table that is neither CSV nor Parquet, or cannot be written.

    Parameters
    ----------
    out : pathlib.Path or None
        The ``--out`` file of a command writing a table; ``None`` (print it) passes.
    error : type of AllocartError
        The error class the command raises (a file error by default).

    Raises
    ------
    AllocartError
        Of class ``error``, one line naming ``--out``, before any work starts.
    """
    if out is None:
        return
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise error(f"--out: {str(out)!r} must end in .csv or .parquet")
    check_output(out, what="--out", error=error)


def echo_json(value: Any, indent: int = 1, default: Any = None) -> None:
    """Print ``value`` as JSON on standard output (the ``--json`` form of a command's result).

    Parameters
    ----------
    value : Any
        JSON-serialisable result.
    indent : int
        Spaces per nesting level.
    default : callable or None
        Conversion of values ``json`` cannot serialise (``str`` for paths and dates).
    """
    typer.echo(json.dumps(value, indent=indent, default=default))


def echo_measurements(result: dict[str, Any]) -> None:
    """Print a benchmark's measurements, one ``name value`` line each (floats to 4 digits).

    Parameters
    ----------
    result : dict
        Measurement name to value, in the order printed.
    """
    for k, v in result.items():
        typer.echo(f"{k:28s} {v:,.4g}" if isinstance(v, float) else f"{k:28s} {v}")


def parameter_table(params: Path | None, flag: str) -> ParameterTable:
    """The default parameter table with the overrides of a command's YAML file applied.

    Parameters
    ----------
    params : pathlib.Path or None
        YAML file of parameter overrides; ``None`` keeps the table's values.
    flag : str
        The option naming the file (``"--params"``), which its errors name.

    Returns
    -------
    ParameterTable
        Values, units and sources of :mod:`allocart.model.parameters`, overrides applied.
    """
    from allocart.model.parameters import load_default_parameters, load_overrides

    table = load_default_parameters()
    if params is not None:
        table = table.with_overrides(load_overrides(params), origin=flag)
    return table
