"""The ``score`` command: score a JSON file of patient records with a clinical standard.

``allocart score STANDARD INPUT.json [--json] [--option NAME=VALUE ...]`` prints a table (or
JSON with ``--json``); ``allocart score STANDARD --schema`` prints the JSON Schema of the
input; ``allocart score --list`` lists the standards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from allocart.errors import ScoringError


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ScoringError(f"option {text!r} must be NAME=VALUE, e.g. --option window_days=30")
    name, raw = text.split("=", 1)
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    except RecursionError:
        raise ScoringError(
            f"option {name.strip()!r}: the value is nested too deeply; give a plain value"
        ) from None
    return name.strip(), value


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``score`` command to the ``allocart`` application."""

    @app.command("score")
    def score_command(
        standard: str = typer.Argument(
            None, help="Standard name, e.g. sledai2k, sri4, crs (see --list)."
        ),
        input_file: Path = typer.Argument(
            None, metavar="INPUT.json", help="Patient records (JSON)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
        schema: bool = typer.Option(
            False, "--schema", help="Print the JSON Schema of the input and exit."
        ),
        list_: bool = typer.Option(False, "--list", help="List the standards and exit."),
        option: list[str] = typer.Option(
            [], "--option", "-o", help="Standard option NAME=VALUE (JSON value); repeatable."
        ),
    ) -> None:
        """Score patient records with a clinical standard (SLE activity, response, CAR-T safety)."""
        from allocart import clinical

        if list_:
            if as_json:
                print(json.dumps(clinical.list_standards(), indent=2))
                return
            from rich.console import Console
            from rich.table import Table

            table = Table(title="Clinical standards")
            for col in ("name", "title", "source"):
                table.add_column(col)
            for s in clinical.list_standards():
                table.add_row(s["name"], s["title"], s["source"])
            Console().print(table)
            return
        if standard is None:
            raise ScoringError("give a STANDARD (see `allocart score --list`)")
        if schema:
            print(json.dumps(clinical.input_schema(standard), indent=2))
            return
        if input_file is None:
            raise ScoringError(
                f"give the INPUT.json file to score with {standard!r} (or --schema for its format)"
            )
        options = dict(_parse_option(o) for o in option)
        results = clinical.score(standard, input_file, **options)
        if as_json:
            print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        title = f"{results[0].variant}" if results else standard
        table = Table(title=title)
        for col in ("patient", "item", "day", "value", "flags"):
            table.add_column(col)
        for r in results:
            day = "" if r.day is None else f"{r.day:g}"
            table.add_row(r.patient_id, r.item, day, r.label, str(len(r.flags)) if r.flags else "")
        Console().print(table)
        if not results:
            print("no results (no scorable records)")
