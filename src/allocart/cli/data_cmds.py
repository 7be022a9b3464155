"""The ``data`` commands: check, convert and simulate patient datasets (NONMEM CSV, SDTM folder).

``allocart data check PATH`` lists what a dataset holds and every problem (file, row, column);
``allocart data convert SRC DEST`` reads one format and writes the other;
``allocart data simulate OUT`` exports virtual patients as data, with residual error and LLOQ;
``allocart data adam --dataset FILE|--run FOLDER --out DIR`` writes ADaM ADSL, ADAE and ADPC.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from allocart.cli.checks import check_seed
from allocart.errors import DataError
from allocart.files import check_output

data_app = typer.Typer(
    help="Patient datasets: check, convert, simulate (NONMEM CSV or SDTM folder), ADaM tables.",
    no_args_is_help=True,
)

_FORMAT_HELP = (
    "nonmem (a .csv file), sdtm (a folder of CSV tables) or xpt (a folder of SAS XPORT "
    "tables); default: from the path."
)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in items:
        if "=" not in text:
            raise DataError(f"{option}: {text!r} must be CODE=NAME, e.g. {option} 4=b_cells_per_ul")
        code, name = text.split("=", 1)
        out[code.strip()] = name.strip()
    return out


def _read_options(
    *,
    obs_column,
    time_unit,
    log_dv,
    obs_code,
    dose_cmt,
    sex_female_code,
    car_t_treatment,
    product,
    pc_code,
    lab_code,
):
    """The reading options of the command line as a NonmemSpec and SdtmOptions."""
    from allocart.data import NonmemSpec, SdtmOptions

    kw: dict[str, Any] = {
        "obs_column": obs_column,
        "time_unit": time_unit,
        "log_dv": log_dv,
        "sex_female_code": sex_female_code,
    }
    if obs_code:
        kw["observable_codes"] = _pairs(obs_code, "--obs-code")
    if dose_cmt:
        kw["dose_cmt"] = _pairs(dose_cmt, "--dose-cmt")
    opts = SdtmOptions(
        car_t_treatment=car_t_treatment,
        product=product,
        kinetic_codes=_pairs(pc_code, "--pc-code"),
        lab_aliases=_pairs(lab_code, "--lab-code"),
    )
    return NonmemSpec(**kw), opts


#: What a command that reads a dataset is given in place of the reading options: a function
#: of no arguments returning the (NonmemSpec, SdtmOptions) of its command line.
_ReadOptions = Callable[[], tuple[Any, Any]]

_FORMAT = typer.Option(None, "--format", "-f", help=_FORMAT_HELP)

#: The options of the commands that read a dataset: name -> (type, typer option), in the
#: order --help shows them.
_READ_OPTIONS: dict[str, tuple[Any, Any]] = {
    "car_t_treatment": (
        str,
        typer.Option(None, "--car-t-treatment", help="SDTM: EXTRT of the CAR-T product (day 0)."),
    ),
    "product": (
        str,
        typer.Option(None, "--product", help="SDTM: model product name for every subject."),
    ),
    "obs_column": (
        str,
        typer.Option(
            "DVID", "--obs-column", help="NONMEM: column of the observation type (DVID, CMT...)."
        ),
    ),
    "time_unit": (
        str,
        typer.Option("day", "--time-unit", help="NONMEM: unit of TIME (day, hour, week)."),
    ),
    "log_dv": (
        bool,
        typer.Option(False, "--log-dv", help="NONMEM: DV and LLOQ are natural logarithms."),
    ),
    "obs_code": (
        list[str],
        typer.Option(
            [], "--obs-code", help="NONMEM: CODE=READOUT observation-type mapping; repeatable."
        ),
    ),
    "dose_cmt": (
        list[str],
        typer.Option(
            [],
            "--dose-cmt",
            help="NONMEM: CODE=KIND dose compartment (car_t, fludarabine, cyclophosphamide).",
        ),
    ),
    "sex_female_code": (
        str,
        typer.Option(
            None, "--sex-female-code", help="NONMEM: value of a numeric SEX column meaning female."
        ),
    ),
    "pc_code": (
        list[str],
        typer.Option([], "--pc-code", help="SDTM: CODE=READOUT for a PC/CP test code; repeatable."),
    ),
    "lab_code": (
        list[str],
        typer.Option(
            [],
            "--lab-code",
            help="SDTM: CODE=TEST maps a site LB test code to a known test; repeatable.",
        ),
    ),
}


def _with_read_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the options of :data:`_READ_OPTIONS` in place of its ``read_options``.

    Typer takes a command's options from its signature, so the returned command lists them
    where ``command`` has the parameter ``read_options``, and calls ``command`` with
    ``read_options`` a function of no arguments returning :func:`_read_options` of them (a
    malformed ``CODE=NAME`` is reported when the command asks for the options).
    """
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "read_options":
            params.append(param)
            continue
        params += [
            inspect.Parameter(name, param.kind, default=option, annotation=kind)
            for name, (kind, option) in _READ_OPTIONS.items()
        ]

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name in _READ_OPTIONS}
        command(read_options=functools.partial(_read_options, **given), **kwargs)

    with_options.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    with_options.__annotations__ = {
        **{p.name: p.annotation for p in params},
        "return": signature.return_annotation,
    }
    return with_options


@data_app.command("check")
@_with_read_options
def check_cmd(
    path: Path = typer.Argument(..., help="NONMEM .csv file or SDTM folder."),
    fmt: str = _FORMAT,
    *,
    read_options: _ReadOptions,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a dataset: print what it holds, the notes, and every problem (exit 2 if any)."""
    from allocart.data import DataValidationError, detect_format, load_sdtm, read_nonmem

    kind = detect_format(path, fmt)
    spec, opts = read_options()
    report: dict[str, Any] = {"path": str(path), "format": kind, "notes": [], "problems": []}
    if kind in ("sdtm", "xpt"):  # a folder of SDTM tables, CSV or SAS XPORT
        study = load_sdtm(path, opts)
        report["tables"] = {d: {"file": study.files[d], "rows": study.rows[d]} for d in study.files}
        report["records"] = {
            "subjects": len(study.records),
            **{
                k: sum(len(getattr(r, k)) for r in study.records.values())
                for k in ("labs", "vitals", "adverse_events", "sledai_findings", "pga")
            },
        }
        report["notes"] = list(study.notes)
        report["problems"] = [str(p) for p in study.problems]
        if study.dataset is not None:
            report["dataset"] = study.dataset.summary()
    else:
        try:
            ds = read_nonmem(path, spec)
            report["dataset"] = ds.summary()
        except DataValidationError as exc:
            report["problems"] = [str(p) for p in exc.problems]
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if report["problems"]:
        # one line on stderr and exit status 2, as for every user error
        raise DataError(f"{path}: {len(report['problems'])} problem(s), listed above")


def _print_report(report: dict[str, Any]) -> None:
    print(f"{report['path']} ({report['format']})")
    for d, t in report.get("tables", {}).items():
        print(f"  table {d}: {t['rows']} rows ({t['file']})")
    if "records" in report:
        r = report["records"]
        print(
            f"  records: {r['subjects']} subjects, "
            + ", ".join(f"{k} {v}" for k, v in r.items() if k != "subjects")
        )
    ds = report.get("dataset")
    if ds:
        print(
            f"  dataset: {ds['subjects']} subjects; doses "
            + ", ".join(f"{k} {v}" for k, v in ds["doses"].items())
        )
        for name, c in ds["observations"].items():
            print(f"    {name}: {c['n']} observations ({c['censored']} below LLOQ)")
    for n in report["notes"]:
        print(f"  note: {n}")
    for p in report["problems"]:
        print(f"  problem: {p}")
    if not report["problems"]:
        print("ok: no problems")


@data_app.command("convert")
@_with_read_options
def convert_cmd(
    source: Path = typer.Argument(..., help="Input: NONMEM .csv file or SDTM folder."),
    dest: Path = typer.Argument(..., help="Output: .csv file (NONMEM) or folder (SDTM)."),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help="Input format: nonmem or sdtm (default: from SOURCE); xpt: write DEST as SDTM "
        "SAS XPORT tables (the input's format then comes from SOURCE).",
    ),
    to: str = typer.Option(
        None, "--to", help="Output format: nonmem, sdtm or xpt (default: from DEST)."
    ),
    *,
    read_options: _ReadOptions,
) -> None:
    """Read a dataset in one format and write it in another (or the same, normalised)."""
    from allocart.data import read_dataset, write_dataset

    if fmt is not None and fmt.strip().lower() == "xpt" and to is None:
        # SAS XPORT names how the SDTM tables are written; any SDTM folder is read either way
        fmt, to = None, "xpt"
    spec, opts = read_options()
    _check_dest(dest, to, "DEST")
    ds = read_dataset(source, fmt, nonmem=spec, sdtm=opts)
    out = write_dataset(ds, dest, to)
    s = ds.summary()
    print(
        f"wrote {out}: {s['subjects']} subjects, {len(ds.doses)} doses, {len(ds.observations)} observations"
    )


@data_app.command("simulate")
def simulate_cmd(
    out: Path = typer.Argument(..., help="Output: .csv file (NONMEM) or folder (SDTM)."),
    to: str = _FORMAT,
    product: str = typer.Option("allogeneic-cd19cd20", "--product", help="Product name or YAML."),
    dose: str = typer.Option("1e6/kg", "--dose", help="CAR-T dose: 1e6/kg or 3e8."),
    ld: str = typer.Option("flu-cy", "--ld", help="Lymphodepletion regimen."),
    n: int = typer.Option(6, "--n", help="Number of virtual patients."),
    days: float = typer.Option(365.0, "--days", help="Follow-up, days after infusion."),
    seed: int = typer.Option(0, "--seed", help="Seed of the between-patient variability."),
    noise_seed: int = typer.Option(1, "--noise-seed", help="Seed of the residual error."),
    sample_days: str = typer.Option(
        None, "--sample-days", help="Comma-separated sampling days (default: typical schedule)."
    ),
) -> None:
    """Simulate virtual patients and export them as data (sparse samples, residual error, LLOQ)."""
    from allocart.data import DEFAULT_SAMPLE_DAYS, dataset_from_simulation, write_dataset
    from allocart.model.simulate import simulate

    check_seed(seed, "--seed", DataError)
    check_seed(noise_seed, "--noise-seed", DataError)
    _check_dest(out, to, "OUT")

    if sample_days is None:
        days_list = DEFAULT_SAMPLE_DAYS
    else:
        try:
            days_list = tuple(float(x) for x in sample_days.split(","))
        except ValueError:
            raise DataError(
                f"--sample-days: {sample_days!r} must be numbers separated by commas, e.g. 0,7,28"
            ) from None
    from allocart.cli.progress import ProgressBar

    with ProgressBar(f"simulating {n} virtual patients", total=max(n, 1)) as bar:
        sim = simulate(product, dose, ld, days=days, n=n, seed=seed, progress=bar.callback())
    ds = dataset_from_simulation(sim, sample_days=days_list, seed=noise_seed)
    path = write_dataset(ds, out, to)
    print(
        f"wrote {path}: {len(ds)} subjects, {len(ds.observations)} observations "
        f"({int(ds.observations['censored'].sum())} below LLOQ)"
    )


def _check_dest(dest: Path, fmt: str | None, what: str) -> None:
    """Check before any work that ``dest`` can be written: a .csv (NONMEM) or a folder (SDTM)."""
    kind = (fmt or "").strip().lower() or ("nonmem" if dest.suffix.lower() == ".csv" else "sdtm")
    check_output(dest, what=what, folder=kind in ("sdtm", "xpt"), error=DataError)


@data_app.command("adam")
@_with_read_options
def adam_cmd(
    dataset: Path = typer.Option(
        None, "--dataset", help="Patient dataset: NONMEM .csv file or SDTM folder."
    ),
    run: Path = typer.Option(
        None, "--run", help="Run folder of a virtual trial (holding results.duckdb)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder of adsl, adae and adpc."),
    table_format: str = typer.Option("xpt", "--format", help="xpt (SAS XPORT v5) or csv."),
    study_id: str = typer.Option("ALLOCART", "--study-id", help="STUDYID of the tables."),
    replicate: list[int] = typer.Option(
        [], "--replicate", help="--run: replicate trial to take (0-based); repeatable; default all."
    ),
    *,
    read_options: _ReadOptions,
) -> None:
    """Write CDISC ADaM tables (ADSL, ADAE, ADPC) of a patient dataset or of a virtual trial."""
    from allocart.data import read_dataset
    from allocart.data.adam import (
        ADAM_FORMATS,
        adam_input_from_dataset,
        adam_input_from_run,
        build_adam,
        write_adam,
    )

    if (dataset is None) == (run is None):
        raise DataError("give one of --dataset FILE (a patient dataset) or --run FOLDER (a run)")
    if replicate and run is None:
        raise DataError("--replicate: only with --run (a virtual trial's replicate trials)")
    table_format = table_format.strip().lower()
    if table_format not in ADAM_FORMATS:
        raise DataError(f"--format: {table_format!r} is not one of {', '.join(ADAM_FORMATS)}")
    check_output(out, what="--out", folder=True, error=DataError)
    if dataset is not None:
        spec, opts = read_options()
        data = adam_input_from_dataset(read_dataset(dataset, nonmem=spec, sdtm=opts), study_id)
    else:
        data = adam_input_from_run(run, study_id, replicates=replicate or None)
    tables = build_adam(data)
    paths = write_adam(tables, out, table_format)
    print(
        f"wrote {out}: "
        + ", ".join(
            f"{paths[name].name} ({len(frame)} rows)"
            if name in paths
            else f"{name} has no rows (no file: pandas cannot read an empty XPORT file)"
            for name, frame in tables.items()
        )
    )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``data`` command group to the ``allocart`` application."""
    app.add_typer(data_app, name="data")
