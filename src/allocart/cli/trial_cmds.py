"""Commands ``allocart run``, ``allocart scenarios`` and ``allocart bench run``.

Parsing and printing only; the logic lives in :mod:`allocart.trial`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from allocart.cli.shared import JSON, QUIET, echo_json
from allocart.errors import DesignError


def _fmt(v: Any, scale: float = 1.0, dec: int = 1) -> str:
    if v is None:
        return "-"
    try:
        x = float(v) * scale
    except (TypeError, ValueError):
        return str(v)
    return "-" if not math.isfinite(x) else f"{x:.{dec}f}"


#: Metrics of the per-dose table printed after a run (formats: allocart.trial.display).
_METRICS = (
    "selected_pct",
    "patients_mean",
    "dlts_mean",
    "dlt_rate",
    "crs_rate",
    "icans_rate",
    "sri4_m3_rate",
    "sri4_m6_rate",
    "doris_m3_rate",
    "doris_m6_rate",
)


def _rate_text(row: Any, scale: float, dec: int) -> str:
    """A rate for the table, "–" when over fewer than MIN_RATE_N patients (their n: see the
    report)."""
    from allocart.trial.display import MIN_RATE_N

    try:
        n = float(row.get("n")) if row is not None else math.nan
    except (TypeError, ValueError):
        n = math.nan
    if row is None or (math.isfinite(n) and n < MIN_RATE_N):
        return "–"
    return _fmt(row.get("value"), scale, dec)


def _print_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from allocart.trial.display import MIN_RATE_N, dose_columns

    oc = result.tables.operating_characteristics
    console = Console(width=max(Console().width, 160))
    for arm, g in oc.groupby("arm", sort=True):
        label = str(g["arm_label"].iloc[0])
        per = g[g["dose_level"].notna()]
        table = Table(title=label if arm == 0 else f"comparator: {label}", title_justify="left")
        table.add_column("level", justify="right")
        table.add_column("dose")
        table.add_column("treated (n)", justify="right")
        cols = [c for c in dose_columns(*_METRICS) if c[0] in set(per["metric"])]
        for _, head, _, _ in cols:
            table.add_column(head, justify="right")
        for (lv, dose), d in per.groupby(["dose_level", "dose"], sort=True):
            rows = {r["metric"]: r for r in d.to_dict("records")}
            dlt = rows.get("dlt_rate")
            treated = dlt.get("n", float("nan")) if dlt is not None else float("nan")
            cells = [
                _rate_text(rows.get(m), s, k)
                if m.endswith("_rate")
                else _fmt(rows.get(m, {}).get("value"), s, k)
                for m, _, s, k in cols
            ]
            table.add_row(str(int(lv)), str(dose), _fmt(treated, 1, 0), *cells)
        console.print(table)
        console.print(
            f"  rates over every patient treated at the level in all trials; '–' where fewer than "
            f"{MIN_RATE_N} were (95% intervals in the report)"
        )
        t = g[g["dose_level"].isna()].set_index("metric")["value"]
        console.print(
            f"  no dose selected {_fmt(t.get('no_selection_pct'))}%, mean sample size "
            f"{_fmt(t.get('sample_size_mean'), dec=2)}, mean duration {_fmt(t.get('duration_months_mean'))} months "
            f"to the last decision, {_fmt(t.get('duration_followup_months_mean'))} months to the last endpoint"
        )
        cal = getattr(result, "calendar", {}).get("calendar_summary")
        if cal is not None and len(cal[cal["arm"] == arm]):
            c = cal[cal["arm"] == arm].iloc[0]
            console.print(
                f"  calendar: {_fmt(c['n_enrolled_mean'], dec=1)} enrolled and "
                f"{_fmt(c['n_infused_mean'], dec=1)} infused per trial, duration "
                f"{_fmt(c['duration_months_mean'])} months (10-90%: {_fmt(c['duration_months_p10'])}-"
                f"{_fmt(c['duration_months_p90'])}), {_fmt(c['patient_months_mean'])} patient-months"
            )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``run`` and ``scenarios`` to ``app`` and ``run`` to ``bench_app``."""

    @app.command("run")
    def run_cmd(
        scenario: Annotated[
            str | None,
            typer.Argument(
                help="Protocol YAML file or built-in scenario name (see `allocart scenarios`); default: default."
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="Run folder (default: runs/<scenario name>).")
        ] = None,
        replicates: Annotated[
            int | None, typer.Option(help="Replicate trials (overrides the protocol).")
        ] = None,
        scheduler: Annotated[
            str | None,
            typer.Option(
                help="Address of a Dask scheduler to run on (e.g. tcp://127.0.0.1:8786); default: in-process."
            ),
        ] = None,
        fresh: Annotated[
            bool, typer.Option("--fresh", help="Discard earlier work in the run folder.")
        ] = False,
        workers: Annotated[
            int | None,
            typer.Option(
                help="Processes simulating virtual patients at once without --scheduler (default: CPUs)."
            ),
        ] = None,
        no_progress: Annotated[
            bool, typer.Option("--no-progress", help="Hide the progress bars.")
        ] = False,
        quiet: QUIET = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the manifest as JSON.")
        ] = False,
        uncertainty: Annotated[
            bool | None,
            typer.Option(
                "--uncertainty/--no-uncertainty",
                help="Also run the nested study with parameter uncertainty (overrides the protocol's `uncertainty`).",
            ),
        ] = None,
    ) -> None:
        """Simulate a virtual trial many times and write results.duckdb, report.html and manifest.json.

        Interrupted runs resume: run the same command again.
        """
        import sys

        try:
            from allocart.report.html import write_report
            from allocart.trial import resolve_protocol, run_trial
            from allocart.trial.runner import RunInterrupted
        except KeyboardInterrupt:  # Ctrl-C while starting: nothing done yet
            raise SystemExit(130) from None

        if replicates is not None and replicates < 1:
            raise DesignError(f"--replicates: {replicates!r} must be at least 1")
        protocol = resolve_protocol(scenario, overrides={"replicates": replicates})
        if uncertainty is not None:
            protocol = protocol.model_copy(update={"uncertainty": uncertainty})
        folder = out if out is not None else Path("runs") / protocol.name
        try:
            result = run_trial(
                protocol,
                folder,
                scheduler=scheduler,
                fresh=fresh,
                workers=workers,
                progress=not (no_progress or quiet or as_json),
                report=write_report,
                log=None if (quiet or as_json) else (lambda msg: print(msg, file=sys.stderr)),
            )
        except KeyboardInterrupt as exc:
            # Completed pools and chunks are on disk (RunInterrupted says how many); exit status 130.
            what = str(exc) if isinstance(exc, RunInterrupted) else f"interrupted ({folder})"
            print(f"{what}; run the same command again to resume", file=sys.stderr)
            raise SystemExit(130) from None
        if as_json:
            echo_json(result.manifest, default=str)
            return
        if not quiet:
            _print_summary(result)
            from allocart.trial.uncertainty_tables import study_summary_lines

            for line in study_summary_lines(result.results, protocol.dose_levels):
                typer.echo(line)  # with parameter uncertainty or scenarios
        typer.echo(f"results: {result.results.resolve()}")
        typer.echo(f"report:  {result.report.resolve()}")

    @app.command("scenarios")
    def scenarios_cmd(
        as_json: JSON = False,
    ) -> None:
        """List the built-in trial scenarios (`allocart run NAME`)."""
        from allocart.trial import list_scenarios

        items = list_scenarios()
        if as_json:
            echo_json(items)
            return
        width = max(len(k) for k in items)
        for name, title in items.items():
            typer.echo(f"{name:<{width}}  {title}")

    @bench_app.command("run")
    def bench_run_cmd(
        scenario: Annotated[str, typer.Argument(help="Scenario to time.")] = "default",
        repeats: Annotated[int, typer.Option(help="Timed runs, each in a fresh folder.")] = 1,
        replicates: Annotated[
            int | None, typer.Option(help="Replicate trials (default: the protocol's).")
        ] = None,
        as_json: JSON = False,
        uncertainty: Annotated[
            bool,
            typer.Option(
                "--uncertainty",
                help="Time the run without and with parameter uncertainty (the nested study).",
            ),
        ] = False,
    ) -> None:
        """Time `allocart run` on the default scenario (target: 60 s on 2 cores)."""
        from allocart.bench.run import run_bench

        if uncertainty:  # without, then with parameter uncertainty, side by side
            pair = [
                run_bench(scenario, repeats=repeats, replicates=replicates, uncertainty=u)
                for u in (False, True)
            ]
            if as_json:
                echo_json({"without": pair[0], "with": pair[1]})
                return
            for name, r in zip(("without", "with"), pair, strict=True):
                typer.echo(
                    f"allocart run {r['scenario']} {name} parameter uncertainty: best "
                    f"{r['best_s']:.1f} s of {', '.join(f'{w:.1f}' for w in r['wall_s'])}"
                )
            return
        res = run_bench(scenario, repeats=repeats, replicates=replicates)
        if as_json:
            echo_json(res)
            return
        typer.echo(
            f"allocart run {res['scenario']}: {res['replicates']} replicate trials, {res['pools']} pools of "
            f"{res['pool_size']} virtual patients ({res['virtual_patients']} simulated and scored), "
            f"{res['cpu_count']} CPUs"
        )
        typer.echo(
            f"wall time (s), each run in a fresh folder: {', '.join(f'{w:.1f}' for w in res['wall_s'])}"
        )
        typer.echo(
            "stages of the best run (s): "
            + ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in res["stages_s"].items())
        )
        verdict = "meets" if res["meets_target"] else "MISSES"
        typer.echo(f"best {res['best_s']:.1f} s: {verdict} the target of {res['target_s']:.0f} s")
