"""Commands ``allocart fit``, ``allocart validate recovery`` and ``allocart bench fit``.

Thin layer over :mod:`allocart.fit`: parse options, call the API, print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from allocart.cli.shared import JSON, echo_json, echo_measurements, parameter_table

__all__ = ["register"]


def fit_cmd(
    data: Annotated[Path, typer.Argument(help="NONMEM CSV file or folder of SDTM tables.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="nonmem or sdtm (default: from the path).")
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(
            help="Parameters to estimate, comma-separated "
            "(default rho_E,delta_E,k_Trej,k_mat,k_Ab)."
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="map (posterior mode + Laplace; population point estimate) or nuts.")
    ] = "map",
    level: Annotated[
        str, typer.Option(help="auto, individual (table priors) or population.")
    ] = "auto",
    chains: Annotated[int, typer.Option(help="NUTS chains.")] = 4,
    warmup: Annotated[int, typer.Option(help="NUTS warm-up iterations per chain.")] = 150,
    samples: Annotated[int, typer.Option(help="NUTS draws per chain.")] = 150,
    observables: Annotated[
        str | None,
        typer.Option(help="Read-outs to fit, comma-separated (default: all in the data)."),
    ] = None,
    horizon: Annotated[float, typer.Option(help="Forecast horizon, days after infusion.")] = 365.0,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and the forecast draws.")] = 0,
    model_params: Annotated[
        Path | None, typer.Option("--model-params", help="YAML overrides of the parameter table.")
    ] = None,
    error_model: Annotated[
        Path | None,
        typer.Option("--error-model", help="YAML overrides of the residual-error table."),
    ] = None,
    plots: Annotated[
        bool, typer.Option(help="Write the plots (and embed them in the report).")
    ] = True,
    backend: Annotated[
        str,
        typer.Option(
            help="Gradients: sensitivity (numba forward sensitivities) or jax "
            "(forward-mode through diffrax; needs the jax extra)."
        ),
    ] = "sensitivity",
    npde_simulations: Annotated[
        int,
        typer.Option(
            "--npde-simulations",
            help="Simulated replicates per patient for the NPDE of sdtab1 (as many again "
            "for their decorrelation).",
        ),
    ] = 500,
    vpc_replicates: Annotated[
        int, typer.Option("--vpc-replicates", help="Simulated data sets of vpc.csv and vpc.png.")
    ] = 200,
    vpc_bins: Annotated[
        int, typer.Option("--vpc-bins", help="Most time bins per read-out in vpc.csv.")
    ] = 20,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="CSV of true parameter values (id, one column per "
            "parameter) of simulated data: check the intervals' coverage.",
        ),
    ] = None,
) -> None:
    """Fit the model to patient data: posterior, diagnostics, forecasts and an HTML report.

    The default (--method map) needs no JAX; --method nuts and --backend jax need the optional
    extra: pip install 'allocart[jax]'.
    """
    # The fit modules load NumPyro/JAX and compiled kernels: imported when the command runs, so
    # that `allocart --help` stays fast.
    from allocart.data.formats import read_dataset
    from allocart.fit.api import FitOptions, parse_observables, parse_params, run_fit
    from allocart.fit.coverage import read_truth
    from allocart.fit.residual import load_residual_models
    from allocart.report.fit import write_report

    opts = FitOptions(
        params=parse_params(params),
        method=method.strip().lower(),
        level=level.strip().lower(),
        chains=chains,
        warmup=warmup,
        samples=samples,
        seed=seed,
        observables=parse_observables(observables),
        horizon=horizon,
        backend=backend.strip().lower(),
        npde_simulations=npde_simulations,
        vpc_replicates=vpc_replicates,
        vpc_bins=vpc_bins,
    )
    opts.check_dependencies()  # NUTS without JAX: one line, before the data are read
    ds = read_dataset(data, fmt)
    table = parameter_table(model_params, "--model-params")
    residual = load_residual_models(error_model)
    truth_frame = None
    if truth is not None:
        truth_frame = read_truth(truth)
    paths = run_fit(
        ds,
        out,
        opts,
        table=table,
        residual=residual,
        plots=plots,
        truth=truth_frame,
        echo=lambda s: print(s, file=sys.stderr),
        report=write_report,
    )
    for name, p in paths.items():
        typer.echo(f"{name:16s} {p}")


def recovery_cmd(
    replicates: Annotated[int, typer.Option(help="Simulated trials.")] = 100,
    patients: Annotated[int, typer.Option(help="Patients per trial.")] = 15,
    params: Annotated[
        str | None, typer.Option(help="Estimated parameters, comma-separated.")
    ] = None,
    product: Annotated[
        str, typer.Option(help="CAR-T product of the simulated trials.")
    ] = "allogeneic-cd19",
    seed: Annotated[int, typer.Option(help="Seed of the first trial.")] = 2024,
    as_json: JSON = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report here.")
    ] = None,
) -> None:
    """Simulation-estimation study: relative bias and 90% coverage per population parameter."""
    from allocart.fit.api import parse_params
    from allocart.fit.recovery import RecoveryConfig, run_recovery

    cfg = RecoveryConfig(
        replicates=replicates,
        patients=patients,
        params=parse_params(params),
        product=product,
        seed=seed,
    )
    rep = run_recovery(cfg, progress=lambda i, n: print(f"replicate {i}/{n}", file=sys.stderr))
    doc = rep.to_json()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1, default=str))
    if as_json:
        echo_json({k: v for k, v in doc.items() if k != "per_replicate"}, default=str)
        return
    typer.echo(
        f"{replicates} trials of {patients} patients ({product}); 90% intervals "
        f"(Monte-Carlo SE of a coverage: {doc['coverage_monte_carlo_se']:.0%})"
    )
    typer.echo(f"{'parameter':16s} {'bias':>8s} {'coverage':>9s}")
    for p, v in doc["params"].items():
        typer.echo(f"{p:16s} {v['bias']:+8.1%} {v['coverage']:9.0%}")
    typer.echo(
        "targets (|bias| <= 15%, coverage 80-97% for every typical value and omega): "
        + ("met" if doc["passed"] else "NOT met")
    )


def bench_fit_cmd(
    chains: Annotated[int, typer.Option(help="NUTS chains.")] = 4,
    warmup: Annotated[int, typer.Option(help="Warm-up iterations per chain.")] = 150,
    samples: Annotated[int, typer.Option(help="Draws per chain.")] = 150,
    seed: Annotated[int, typer.Option(help="Seed of the simulated patient.")] = 7,
    backend: Annotated[str, typer.Option(help="sensitivity or jax.")] = "sensitivity",
    as_json: JSON = False,
) -> None:
    """Individual NUTS fit of one simulated patient (target: <= 60 s with 4 chains)."""
    from allocart.bench.fit import run_fit_bench

    res = run_fit_bench(
        chains=chains, warmup=warmup, samples=samples, seed=seed, backend=backend.strip().lower()
    )
    if as_json:
        echo_json(res, default=str)
        return
    echo_measurements(res)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``fit``, ``validate recovery`` and ``bench fit``.

    ``validate`` is a command group; if another module has registered it already, the
    ``recovery`` command joins that group.
    """
    app.command("fit")(fit_cmd)
    validate = None
    for group in app.registered_groups:
        if group.name == "validate":
            validate = group.typer_instance
    if validate is None:
        validate = typer.Typer(
            help="Validation studies of the model and its fitting.", no_args_is_help=True
        )
        app.add_typer(validate, name="validate")
    validate.command("recovery")(recovery_cmd)
    bench_app.command("fit")(bench_fit_cmd)
