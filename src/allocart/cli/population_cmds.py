"""Commands of the virtual population: ``cohort`` and ``calibrate``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from allocart.cli.checks import check_seed
from allocart.cli.shared import DOSE, PARAMS, PRODUCT, check_table_output, echo_json
from allocart.errors import AllocartError
from allocart.files import check_output


def _clean(x: Any) -> Any:
    """JSON-safe values (NaN -> null)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def cohort_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "3e8",
    ld: Annotated[
        str, typer.Option(help="Lymphodepletion: flu-cy, cy-only, reduced, none or a YAML file.")
    ] = "flu-cy",
    n: Annotated[int, typer.Option(help="Number of virtual patients.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the virtual patients.")] = 0,
    params: PARAMS = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Also write the patient table (.csv or .parquet).")
    ] = None,
    gcsf_from_day: Annotated[
        float | None,
        typer.Option(
            help="Supportive care: G-CSF whenever ANC < 0.5 x 10^9/L from this day after infusion (e.g. 7)."
        ),
    ] = None,
) -> None:
    """Simulate a single-arm cohort of virtual SLE patients and summarise it.

    A dose of 0 cells is valid: with --ld none it is the untreated control, with flu-cy
    lymphodepletion alone.
    """
    from allocart.model.simulate import write_table
    from allocart.population.cohort import SUMMARY_KEYS, simulate_cohort

    check_table_output(out)
    check_seed(seed, "--seed")
    if gcsf_from_day is not None and not (gcsf_from_day >= 0):
        raise AllocartError(
            f"--gcsf-from-day: {gcsf_from_day!r} must be a day >= 0 after the infusion"
        )
    from allocart.cli.progress import ProgressBar

    with ProgressBar(f"solving {n} virtual patients", total=max(n, 1)) as bar:

        def solved(done: int, total: int) -> None:
            bar.update(done, total)
            if done >= total:  # the records are scored next (no count of that part)
                bar.update(done, description=f"scoring the records of {n} virtual patients")

        res = simulate_cohort(
            product,
            dose,
            ld,
            n=n,
            seed=seed,
            params=params,
            gcsf_from_day=gcsf_from_day,
            progress=solved,
        )
    summary = res.summary()
    if out is not None:
        write_table(res.patients, out)
    if summary["n_failed"]:
        typer.echo(
            f"warning: {summary['n_failed']} of {summary['n']} virtual patients failed in the solver "
            "and are left out of the summary",
            err=True,
        )
    if as_json:
        fields = ("mean", "sd", "median", "p05", "p95")
        doc = {
            k: ({f: summary[k][f] for f in fields} if isinstance(summary[k], dict) else summary[k])
            for k in SUMMARY_KEYS
        }
        doc.update({k: v for k, v in summary.items() if k.endswith("_ci95")})
        doc.update(n=summary["n"], n_failed=summary["n_failed"])
        echo_json(_clean(doc), indent=2)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{product} {dose} after {ld}: {summary['n']} virtual patients ({summary['n_failed']} failed)"
    )
    table.add_column("endpoint")
    table.add_column("value", justify="right")
    table.add_column("p05-p95 (rates: 95% CI)", justify="right")
    for k in SUMMARY_KEYS:
        v = summary[k]
        if isinstance(v, dict):
            if v["median"] is None:
                table.add_row(k, "-", "-")
            else:
                table.add_row(k, f"median {v['median']:.3g}", f"{v['p05']:.3g}-{v['p95']:.3g}")
        else:
            ci = summary.get(k[: -len("_rate")] + "_ci95")
            n_ok = summary["n"] - summary["n_failed"]
            table.add_row(
                k,
                "-" if v is None else f"{100 * v:.1f}% of {n_ok}",
                "" if ci is None else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f}%",
            )
    Console().print(table)


def calibrate_cmd(
    check: Annotated[
        bool, typer.Option("--check", help="Check the committed calibration instead of fitting.")
    ] = False,
    out: Annotated[
        Path, typer.Option(help="Folder of the report (calibration.html, calibration.json).")
    ] = Path("runs/calibration"),
    n: Annotated[int | None, typer.Option(help="Virtual patients per target cohort.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the target cohorts.")] = None,
) -> None:
    """Fit the population to the published targets (or --check the fit) and write the report.

    Each target line gives the published study size n, the acceptance interval (the 95%
    interval of the statistic in simulated studies of that size) and, for a target that cannot
    discriminate, why it is uninformative; the summary counts the met targets that are.
    """
    from rich.console import Console

    from allocart.cli.progress import ProgressBar
    from allocart.population import calibrate as cal

    console = Console(stderr=True)
    n_ = cal.DEFAULT_N if n is None else n
    seed_ = cal.DEFAULT_SEED if seed is None else seed
    if n_ < 20:
        raise AllocartError(
            f"--n: {n_!r} is too few virtual patients per cohort for Monte-Carlo intervals; use 20 or more"
        )
    check_seed(seed_, "--seed")
    check_output(out, what="--out", folder=True)
    targets = cal.load_targets()
    with ProgressBar("calibrate --check" if check else "calibrate") as bar:
        # Without a bar (stderr not a terminal) each cohort is one line on stderr instead.
        def say(message: str) -> None:
            if not bar.enabled:
                console.print(message)

        def steps(what: str, done: int, total: int) -> None:
            bar.update(done, total, description=what)

        fitted = None
        if not check:
            fitted = cal.fit(targets, n=n_, seed=seed_, progress=say, steps=steps)
            cal.write_calibrated(
                fitted,
                target_ids=[t.id for t in targets.targets],
                n=n_,
                seed=seed_,
                model=cal.load_calibrated_model(),
            )
            say("fitted: " + ", ".join(f"{k}={v:g}" for k, v in fitted.items()))
        report = cal.evaluate(
            targets, n=n_, seed=seed_, progress=lambda s: say(f"evaluating {s}"), steps=steps
        )
    if fitted is not None and bar.enabled:
        console.print("fitted: " + ", ".join(f"{k}={v:g}" for k, v in fitted.items()))
    from allocart.report.calibration import write_report

    jpath, hpath = write_report(report, out)
    for line in report_lines(report):
        typer.echo(line)
    typer.echo(f"{report.headline()}; report: {hpath} and {jpath}")
    bad = report.unexplained
    if check and bad:
        raise AllocartError(
            f"calibration check failed: {len(bad)} target(s) unmet without a recorded reason: "
            + ", ".join(r.target.id for r in bad)
            + "; run `allocart calibrate` to refit"
        )


def _interval(x: tuple[float, float] | None) -> str:
    def fmt(v: float) -> str:
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"

    return "-" if x is None else f"{fmt(x[0])}-{fmt(x[1])}"


def report_lines(report: Any) -> list[str]:
    """One line per target: result, id, published value and study size n, simulated value,
    acceptance interval, and why the target is uninformative or unmet."""
    lines = []
    for r in report.results:
        mark = "pass" if r.passed else "FAIL"
        sim = "-" if r.simulated is None else f"{r.simulated:.3g}"
        line = (
            f"{mark:4s}  {r.target.id:24s} n={r.target.n:<4d} published {r.target.describe():>14s}  "
            f"simulated {sim:>7s}  acceptance {_interval(r.study_interval):>13s}"
        )
        if not r.informative:
            line += f"  uninformative: {r.uninformative_reason}"
        if not r.passed:
            line += f"  ({r.reason})"
        lines.append(line)
    return lines


def bench_cohort_cmd(
    product: PRODUCT = "allogeneic-cd19cd20",
    dose: DOSE = "3e8",
    ld: Annotated[str, typer.Option(help="Lymphodepletion regimen.")] = "flu-cy",
    n: Annotated[
        int, typer.Option(help="Virtual patients (a trial's pool per dose level is about 400).")
    ] = 400,
    repeats: Annotated[int, typer.Option(help="Timed repetitions (the best is reported).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the measurement as JSON.")] = False,
) -> None:
    """Time simulate_cohort (solve, records and clinical scoring) for one pool of patients."""
    import os
    import time

    from allocart.population.cohort import simulate_cohort

    if repeats < 1:
        raise AllocartError(f"--repeats: {repeats!r} must be at least 1")
    simulate_cohort(product, dose, ld, n=8, seed=0)  # loads the compiled kernel
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        simulate_cohort(product, dose, ld, n=n, seed=r + 1)
        times.append(time.perf_counter() - t0)
    best = min(times)
    result = {
        "product": product,
        "dose": dose,
        "ld": ld,
        "n": n,
        "seconds_best": best,
        "seconds_all": times,
        "patients_per_second": n / best,
        "cpus": os.cpu_count(),
    }
    if as_json:
        echo_json(result, indent=2)
    else:
        typer.echo(
            f"simulate_cohort {product} {dose} {ld}, n={n}: best {best:.2f} s of {repeats} "
            f"({n / best:.0f} patients/s on {os.cpu_count()} CPUs)"
        )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the population commands to the ``allocart`` application."""
    app.command("cohort")(cohort_cmd)
    app.command("calibrate")(calibrate_cmd)
    bench_app.command("cohort")(bench_cohort_cmd)
