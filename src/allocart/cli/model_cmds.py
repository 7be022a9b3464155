"""Commands of the mechanistic model: ``simulate``, ``export``, ``params``, ``products``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from allocart.cli.checks import check_seed
from allocart.cli.shared import (
    DOSE,
    JSON,
    PARAMS,
    PRODUCT,
    check_table_output,
    echo_json,
    echo_measurements,
    parameter_table,
)
from allocart.errors import ModelError
from allocart.files import atomic_write_text, check_output

if TYPE_CHECKING:  # the commands import the model on demand (fast --help)
    from allocart.model.parameters import ParameterTable
    from allocart.model.scenario import Scenario

export_app = typer.Typer(
    help="Export the model: SBML, mrgsolve, rxode2 and NONMEM for other tools, the equation "
    "listing.",
    no_args_is_help=True,
)


def _parse_redose(items: list[str]) -> list[tuple[float, str]]:
    out = []
    for item in items:
        day, sep, dose = item.partition(":")
        if not sep:
            raise ModelError(f"--redose: {item!r} must be DAY:DOSE, e.g. 90:3e8 or 90:1e6/kg")
        try:
            out.append((float(day), dose))
        except ValueError:
            raise ModelError(f"--redose: day {day!r} in {item!r} is not a number") from None
    return out


def simulate_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "1e6/kg",
    ld: Annotated[
        str, typer.Option(help="Lymphodepletion regimen or a regimen YAML file.")
    ] = "flu-cy",
    days: Annotated[float, typer.Option(help="Horizon in days after infusion.")] = 365.0,
    dt: Annotated[float, typer.Option(help="Output grid step in days.")] = 1.0,
    params: PARAMS = None,
    n: Annotated[int, typer.Option(help="Number of virtual patients.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of between-patient variability.")] = 0,
    typical: Annotated[
        bool, typer.Option("--typical", help="Simulate the typical patient.")
    ] = False,
    states: Annotated[
        bool, typer.Option("--states", help="Add the raw states (SBML species ids).")
    ] = False,
    redose: Annotated[
        list[str] | None, typer.Option(help="Later infusion DAY:DOSE (repeatable).")
    ] = None,
    redose_ld: Annotated[
        str | None, typer.Option(help="Lymphodepletion repeated before each redose.")
    ] = None,
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the solver.")] = 1e-8,
    out: Annotated[
        Path | None, typer.Option(help="Write the table to FILE (.csv or .parquet).")
    ] = None,
) -> None:
    """Simulate virtual patients and write a long table (id, time, one column per read-out)."""
    from rich.console import Console

    from allocart.cli.progress import ProgressBar
    from allocart.model.simulate import simulate, write_table

    check_table_output(out, ModelError)
    check_seed(seed, "--seed", ModelError)
    console = Console(stderr=True)
    with ProgressBar(
        f"simulating {n} virtual patients", total=max(n, 1), enabled=not typical
    ) as bar:
        sim = simulate(
            product,
            dose,
            ld,
            days=days,
            dt=dt,
            n=n,
            seed=seed,
            typical=typical,
            params=params,
            redose=_parse_redose(redose or []),
            redose_ld=redose_ld,
            rtol=rtol,
            progress=bar.callback(),
        )
    for i, reason in sim.failures:
        console.print(f"[yellow]warning: patient {i + 1} failed: {reason}[/yellow]")
    frame = sim.to_frame(states=states)
    if out is None:
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    path = write_table(frame, out)
    console.print(f"wrote {len(frame)} rows ({sim.n} patients x {len(sim.time)} times) to {path}")


def _export_inputs(
    out: Path,
    product: str,
    dose: str,
    ld: str,
    params: Path | None,
    redose: list[str] | None,
    days: float,
) -> tuple[Scenario, ParameterTable]:
    """Scenario and parameter table of an export command (overrides applied), once its
    ``--out`` is known to be writable."""
    from allocart.model.scenario import Scenario

    check_output(out, what="--out", error=ModelError)
    scenario = Scenario.create(product, dose, ld, days=days, redose=_parse_redose(redose or []))
    return scenario, parameter_table(params, "--params")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


_LD = Annotated[str, typer.Option("--ld", "--regimen", help="Lymphodepletion regimen.")]
_REDOSE = Annotated[list[str] | None, typer.Option(help="Later infusion DAY:DOSE (repeatable).")]
_DAYS = Annotated[float, typer.Option(help="Horizon in days after the infusion.")]


def export_sbml_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "1e6/kg",
    ld: _LD = "flu-cy",
    params: PARAMS = None,
    redose: _REDOSE = None,
    out: Annotated[Path, typer.Option(help="Output SBML file.")] = Path("model.xml"),
) -> None:
    """Write the typical patient's complete scenario (events included) as SBML Level 3."""
    import numpy as np

    from allocart.model.sbml import to_sbml
    from allocart.model.scenario import TYPICAL_WEIGHT_KG, build_batch, sample_parameters

    scenario, table = _export_inputs(out, product, dose, ld, params, redose, 365.0)
    batch = build_batch(
        scenario, sample_parameters(table, 1, 0, typical=True), np.array([TYPICAL_WEIGHT_KG])
    )
    _write_text(out, to_sbml(scenario, batch))
    typer.echo(f"wrote {out} (simulate from time 0, which is day {batch.t0:g})")


def export_mrgsolve_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "1e6/kg",
    ld: _LD = "flu-cy",
    params: PARAMS = None,
    redose: _REDOSE = None,
    days: _DAYS = 365.0,
    out: Annotated[
        Path, typer.Option(help="Model file (.cpp); the doses go to <stem>_doses.csv beside it.")
    ] = Path("model.cpp"),
) -> None:
    """Write the scenario as an mrgsolve model (.cpp) and its doses as a data set (CSV)."""
    from allocart.model.export import build_export, mrgsolve_doses_csv, to_mrgsolve

    if out.suffix != ".cpp":
        raise ModelError(
            f"--out: {str(out)!r} must end in .cpp (mrgsolve's mread reads <stem>.cpp)"
        )
    export = build_export(*_export_inputs(out, product, dose, ld, params, redose, days))
    doses = out.with_name(out.stem + "_doses.csv")
    _write_text(out, to_mrgsolve(export, doses_file=doses.name, stem=out.stem))
    _write_text(doses, mrgsolve_doses_csv(export))
    typer.echo(f"wrote {out} and {doses} (time 0 is day {export.t_offset_days:g})")


def export_rxode2_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "1e6/kg",
    ld: _LD = "flu-cy",
    params: PARAMS = None,
    redose: _REDOSE = None,
    days: _DAYS = 365.0,
    out: Annotated[Path, typer.Option(help="R file with the model and its event table.")] = Path(
        "model.R"
    ),
) -> None:
    """Write the scenario as an rxode2 model function and event table (R)."""
    from allocart.model.export import build_export, to_rxode2

    export = build_export(*_export_inputs(out, product, dose, ld, params, redose, days))
    _write_text(out, to_rxode2(export, file_name=out.name))
    typer.echo(f"wrote {out} (time 0 is day {export.t_offset_days:g})")


def export_nonmem_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "1e6/kg",
    ld: _LD = "flu-cy",
    params: PARAMS = None,
    redose: _REDOSE = None,
    days: _DAYS = 365.0,
    out: Annotated[
        Path, typer.Option(help="Control stream; the data set goes to <stem>.csv beside it.")
    ] = Path("model.ctl"),
) -> None:
    """Write the scenario as a NONMEM control stream (ADVAN13) and its data set (CSV)."""
    from allocart.model.export import build_export, nonmem_data_csv, to_nonmem

    if out.suffix.lower() == ".csv":
        raise ModelError(f"--out: {str(out)!r} is the control stream; the data set is <stem>.csv")
    export = build_export(*_export_inputs(out, product, dose, ld, params, redose, days))
    data = out.with_suffix(".csv")
    _write_text(out, to_nonmem(export, data_file=data.name))
    _write_text(data, nonmem_data_csv(export))
    typer.echo(f"wrote {out} and {data} (TIME 0 is day {export.t_offset_days:g})")


def export_equations_cmd(
    out: Annotated[Path, typer.Option(help="Output Markdown file.")] = Path("docs/equations.md"),
) -> None:
    """Write the equation listing (Markdown with LaTeX) generated from the model."""
    from allocart.model.listing import equations_markdown

    check_output(out, what="--out", error=ModelError)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(equations_markdown())
    typer.echo(f"wrote {out}")


def params_cmd(
    as_json: JSON = False,
) -> None:
    """Print the parameter table: name, value, unit, variability, range, source."""
    from dataclasses import asdict

    from allocart.model.parameters import load_default_parameters

    rows = load_default_parameters().rows
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("name", "value", "unit", "iiv", "source", title="allocart parameters")
    for r in rows:
        t.add_row(r.name, f"{r.value:g}", r.unit, f"{r.iiv:g}", r.source)
    Console().print(t)


def products_cmd() -> None:
    """List the built-in products and lymphodepletion regimens."""
    from allocart.model.products import list_products, list_regimens, load_product, load_regimen

    typer.echo("products:")
    for name in list_products():
        p = load_product(name)
        typer.echo(
            f"  {name:28s} {p.origin:10s} targets={'+'.join(p.targets)} edits={','.join(p.edits) or '-'}"
        )
    typer.echo("lymphodepletion regimens:")
    for name in list_regimens():
        typer.echo(f"  {name:28s} {load_regimen(name).description}")


def demo_cmd(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    n: Annotated[int, typer.Option(help="Virtual patients of the index product.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed.")] = 2026,
) -> None:
    """Representative run: the allogeneic CD19/CD20 product against autologous CD19."""
    from rich.console import Console

    from allocart.model.plots import plot_products
    from allocart.model.simulate import simulate, write_table

    check_output(out, what="--out", folder=True, error=ModelError)
    check_seed(seed, "--seed", ModelError)
    console = Console(stderr=True)
    with console.status("simulating virtual patients..."):
        index = simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=n, seed=seed, rtol=1e-6)
        auto = simulate("autologous-cd19", "1e6/kg", "flu-cy", typical=True)
        allo = simulate("allogeneic-cd19", "1e6/kg", "flu-cy", typical=True)
    out.mkdir(parents=True, exist_ok=True)
    table = write_table(index.to_frame(), out / "allogeneic-cd19cd20_3e8_flu-cy.csv")
    plot = plot_products(
        [index, auto, allo],
        out / "products.png",
        title=f"Allogeneic CD19/CD20 CAR-T (median and 90% band of {n} virtual patients) vs typical patients",
    )
    car = index.observables["car_t_cells_per_ul"]
    b = index.observables["b_cells_per_ul"]
    console.print(
        f"median CAR-T peak {np.median(car.max(axis=1)):.1f} cells/uL on day "
        f"{np.median(index.time[car.argmax(axis=1)]):.0f}; B-cell aplasia (<1/uL) in "
        f"{np.mean((b < 1).any(axis=1)):.0%} of patients"
    )
    typer.echo(f"table: {table}")
    typer.echo(f"plot:  {plot}")


def bench_engine_cmd(
    n: Annotated[int, typer.Option(help="Virtual patients.")] = 2000,
    days: Annotated[float, typer.Option(help="Horizon in days.")] = 365.0,
    seed: Annotated[int, typer.Option(help="Seed of the virtual patients.")] = 1,
    as_json: JSON = False,
) -> None:
    """allocart vs libRoadRunner (exported SBML) vs SciPy LSODA on the same patients."""
    import sys

    from allocart.bench.engine import EngineBenchConfig, run_engine_bench

    if n < 1:
        raise ModelError(f"--n: {n!r} must be at least 1")
    check_seed(seed, "--seed", ModelError)
    res = run_engine_bench(
        EngineBenchConfig(n=n, days=days, seed=seed),
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    if as_json:
        echo_json(res)
        return
    echo_measurements(res)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the model's commands to the ``allocart`` application."""
    app.command("simulate")(simulate_cmd)
    app.command("demo")(demo_cmd)
    app.command("params")(params_cmd)
    app.command("products")(products_cmd)
    export_app.command("sbml")(export_sbml_cmd)
    export_app.command("mrgsolve")(export_mrgsolve_cmd)
    export_app.command("rxode2")(export_rxode2_cmd)
    export_app.command("nonmem")(export_nonmem_cmd)
    export_app.command("equations")(export_equations_cmd)
    app.add_typer(export_app, name="export")
    bench_app.command("engine")(bench_engine_cmd)
