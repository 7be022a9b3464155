"""Command ``allocart explore``: the interactive explorer in a local web page.

Parsing and printing only; the app lives in :mod:`allocart.explore`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from allocart.errors import AllocartError

#: What a user without the optional extra is told.
NEEDS_DASH = "allocart explore needs Dash: pip install 'allocart[explore]'"


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``explore`` to ``app`` (``bench_app`` gets nothing)."""

    @app.command("explore")
    def explore_cmd(
        host: Annotated[
            str, typer.Option(help="Address to listen on (loopback: this machine only).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port of the page.")] = 8050,
        no_browser: Annotated[
            bool, typer.Option("--no-browser", help="Do not open the page in a web browser.")
        ] = False,
        product: Annotated[
            str, typer.Option(help="Initial product (built-in name or product YAML file).")
        ] = "allogeneic-cd19cd20",
        dose: Annotated[
            str, typer.Option(help="Initial dose: cells per kg (1e6/kg) or flat cells (3e8).")
        ] = "1e6/kg",
        ld: Annotated[str, typer.Option(help="Initial lymphodepletion regimen.")] = "flu-cy",
        n: Annotated[
            int, typer.Option(help="Virtual patients of the cohort band and rates.")
        ] = 100,
        seed: Annotated[int, typer.Option(help="Seed of the virtual patients.")] = 1,
    ) -> None:
        """Explore the model in a local web page: product, dose, lymphodepletion and redose in,
        typical patient, cohort band and CRS/ICANS/DLT/remission rates out."""
        try:
            from allocart.explore.app import serve
        except ImportError as exc:
            if (exc.name or "").split(".")[0] in ("dash", "plotly", "flask"):
                raise AllocartError(NEEDS_DASH) from None
            raise
        from allocart.explore.compute import Choice

        try:
            choice = Choice(product=product, dose=dose, ld=ld, n=n, seed=seed)
        except AllocartError as exc:
            text = str(exc)
            for name in ("n", "seed"):  # the library names its arguments; here, the flags
                if text.startswith(f"{name}:"):
                    raise AllocartError(f"--{text}") from None
            raise
        serve(host, port, open_browser=not no_browser, initial=choice)
