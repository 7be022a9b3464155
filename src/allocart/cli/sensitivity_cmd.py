"""Commands ``allocart sensitivity`` and ``allocart bench sensitivity``.

Parsing and printing only; the logic lives in :mod:`allocart.sensitivity`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from allocart.cli.shared import JSON, QUIET, echo_json
from allocart.errors import SensitivityError


def _f(v: float, dec: int = 2) -> str:
    return "-" if v is None or not math.isfinite(float(v)) else f"{float(v):.{dec}f}"


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``sensitivity`` to ``app`` and ``sensitivity`` to ``bench_app``."""

    @app.command("sensitivity")
    def sensitivity_cmd(
        scenario: Annotated[
            str,
            typer.Argument(help="Protocol YAML file or built-in scenario (`allocart scenarios`)."),
        ] = "default",
        out: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/sensitivity"),
        param: Annotated[
            list[str] | None,
            typer.Option(
                "--param",
                help="Analyse this parameter (repeat); default: every assumption with a stated range, plus the rejection hazards.",
            ),
        ] = None,
        output: Annotated[
            list[str] | None,
            typer.Option(
                "--output", help="Analyse this output (repeat); default: all (see --list)."
            ),
        ] = None,
        params: Annotated[
            Path | None,
            typer.Option(help="Parameter overrides YAML, e.g. uncertainties or posterior draws."),
        ] = None,
        patients: Annotated[
            int, typer.Option(help="Virtual patients per dose level and evaluation.")
        ] = 12,
        trials: Annotated[int, typer.Option(help="Replicate trials per evaluation.")] = 200,
        dose_level: Annotated[
            int | None, typer.Option(help="1-based reference dose level (default: the middle one).")
        ] = None,
        morris_trajectories: Annotated[int, typer.Option(help="Morris trajectories.")] = 6,
        sobol_n: Annotated[int, typer.Option(help="Sobol base sample N (a power of 2).")] = 64,
        sobol_top: Annotated[
            int, typer.Option(help="Parameters carried into the Sobol stage.")
        ] = 5,
        resamples: Annotated[
            int, typer.Option(help="Bootstrap resamples of the intervals.")
        ] = 1000,
        seed: Annotated[int, typer.Option(help="Seed of the designs and bootstraps.")] = 20240607,
        scheduler: Annotated[
            str | None,
            typer.Option(help="Address of a Dask scheduler to run on (e.g. tcp://127.0.0.1:8786)."),
        ] = None,
        workers: Annotated[
            int | None, typer.Option(help="Processes without --scheduler (default: CPUs).")
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Discard earlier work in --out.")
        ] = False,
        list_: Annotated[
            bool,
            typer.Option("--list", help="List the parameters with a stated range and the outputs."),
        ] = False,
        quiet: QUIET = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the indices as JSON.")] = False,
    ) -> None:
        """Morris screening and Sobol indices of the trial's outputs over the virtual population.

        Interrupted runs resume: run the same command again.
        """
        import sys

        from allocart.cli.progress import ProgressBar
        from allocart.report.sensitivity import write_sensitivity_report
        from allocart.sensitivity import SensitivitySettings, run_sensitivity
        from allocart.sensitivity.run import cohort_evaluator, default_parameters

        try:
            settings = SensitivitySettings(
                scenario=scenario,
                parameters=tuple(param) if param else None,
                outputs=tuple(output) if output else None,
                params=str(params) if params is not None else None,
                patients=patients,
                trials=trials,
                dose_level=dose_level,
                morris_trajectories=morris_trajectories,
                sobol_n=sobol_n,
                sobol_top=sobol_top,
                resamples=resamples,
                seed=seed,
            )
        except SensitivityError as exc:
            raise SensitivityError("--" + str(exc).replace("_", "-", 1)) from None
        if list_:
            ev = cohort_evaluator(settings)
            default = set(default_parameters(ev.table))
            for r in ev.table.rows:
                if r.uncertainty is not None:
                    u = r.uncertainty
                    spread = ", ".join(
                        f"{k} {v:g}"
                        for k, v in u.to_dict().items()
                        if k in ("cv", "sd", "low", "high")
                    )
                    mark = "*" if r.name in default else " "
                    typer.echo(
                        f"{mark} {r.name:<10} {u.dist:<10} {spread:<28} {r.unit:<8} {u.basis}"
                    )
            typer.echo("(* analysed by default)  outputs: " + ", ".join(ev.outputs))
            return
        show = not (quiet or as_json)
        with ProgressBar("model evaluations", enabled=show) as bar:
            try:
                res = run_sensitivity(
                    settings,
                    out,
                    report=write_sensitivity_report,
                    scheduler=scheduler,
                    fresh=fresh,
                    workers=workers,
                    progress=lambda stage, done, total: bar.update(
                        done, total, description=f"{stage}: model evaluations"
                    ),
                )
            except KeyboardInterrupt:
                print(
                    f"interrupted: the completed evaluations are saved in {out}; run the same "
                    "command again to resume",
                    file=sys.stderr,
                )
                raise SystemExit(130) from None
        if as_json:
            echo_json(res.to_json(), default=str)
            return
        if not quiet:
            typer.echo(
                f"{res.evaluations} model evaluations ({res.evaluated_now} now, "
                f"{res.patients_per_evaluation} virtual patients each) in {res.seconds:.0f} s"
            )
            typer.echo("value of information (largest total Sobol index on the trial's answer):")
            for r in res.voi.head(10).to_dict("records"):
                typer.echo(
                    f"  {r['rank']:>2}. {r['parameter']:<10} ST {_f(r['score'])} "
                    f"({_f(r['low'])}-{_f(r['high'])}) on {r['output']}"
                )
        typer.echo(f"results: {(Path(out) / 'sensitivity.duckdb').resolve()}")
        typer.echo(f"report:  {(Path(out) / 'report.html').resolve()}")

    @bench_app.command("sensitivity")
    def bench_sensitivity_cmd(
        evaluations: Annotated[int, typer.Option(help="Timed model evaluations.")] = 6,
        patients: Annotated[int, typer.Option(help="Virtual patients per dose level.")] = 12,
        as_json: JSON = False,
    ) -> None:
        """Time model evaluations of `allocart sensitivity` (target: the default run in 10 minutes)."""
        from allocart.bench.sensitivity import bench_sensitivity
        from allocart.sensitivity import SensitivitySettings

        if evaluations < 1:
            raise SensitivityError(f"--evaluations: {evaluations!r} must be at least 1")
        res = bench_sensitivity(
            evaluations=evaluations, settings=SensitivitySettings(patients=patients)
        )
        if as_json:
            echo_json(res)
            return
        typer.echo(
            f"allocart sensitivity {res['scenario']}: {res['parameters']} parameters, "
            f"{res['outputs']} outputs, {res['patients_per_evaluation']} virtual patients and "
            f"{res['trials_per_evaluation']} trials per evaluation"
        )
        typer.echo(
            f"{res['evaluations_per_s']:.3f} model evaluations/s, {res['patients_per_s']:.1f} "
            f"patients/s in one process, wall clock (warm-up {res['warmup_s']:.1f} s); per CPU "
            f"second: {res['evaluations_per_cpu_s']:.3f} evaluations, "
            f"{res['patients_per_cpu_s']:.1f} patients"
        )
        verdict = "meets" if res["meets_target"] else "MISSES"
        typer.echo(
            f"default run: {res['default_run_evaluations']} evaluations, about "
            f"{res['projected_s']:.0f} s on {res['cpu_count']} free CPUs: {verdict} the target of "
            f"{res['target_s']:.0f} s"
        )
