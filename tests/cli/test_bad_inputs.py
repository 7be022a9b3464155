"""Every bad input the command line refuses: exit status 2 and one line on stderr naming the field
or the file, never a traceback.

One case per refusal: protocol fields (schedule, doses, endpoints, name, simulation), design
options, clinical-record dates, file-level problems of every loader (not UTF-8, a folder, missing,
unreadable, too large, nested too deeply) and writer (an --out that cannot be written or that
exists where that is refused), and options checked before any work (--scheduler, --seed).
"""

from __future__ import annotations

import csv
import errno
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from allocart import files
from allocart.cli.app import main
from tests.helpers_cli import run_cli
from tests.trial.conftest import default_dict
from tests.trial.fake_cohort import fake_simulate_cohort

EXAMPLE_NONMEM = Path(__file__).resolve().parents[2] / "examples" / "data" / "example_nonmem.csv"
LATIN1 = "name: café\n".encode("latin-1")  # 0xe9: not UTF-8


def _protocol(tmp: Path, mutate: Callable[[dict], None] | None = None, name: str = "p.yaml") -> str:
    d = default_dict()
    d["simulation"].update(pool_size=20, replicates=5)
    if mutate is not None:
        mutate(d)
    path = tmp / name
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return str(path)


def _latin1(tmp: Path, name: str) -> str:
    path = tmp / name
    path.write_bytes(LATIN1)
    return str(path)


def _notes(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("not a folder\n")
    return path


def _nonmem_with_weight(tmp: Path, weight: str) -> str:
    with EXAMPLE_NONMEM.open(newline="") as fh:
        rows = list(csv.reader(fh))
    col = rows[0].index("WT")
    for row in rows[1:]:
        row[col] = weight
    path = tmp / f"wt{weight}.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return str(path)


def _records(tmp: Path, patient: dict, name: str = "records.json") -> str:
    path = tmp / name
    path.write_text(json.dumps(patient))
    return str(path)


def _deny_reading(monkeypatch):
    def denied(path, limit):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "_read_bytes", denied)


PATIENT = {
    "patient_id": "P1",
    "labs": [{"test": "PLAT", "value": 60, "unit": "10^9/L", "time": "2024-01-08"}],
}

# (id, build(tmp, monkeypatch) -> argv, words the one line must contain)
CASES: list[tuple[str, Callable[..., list[str]], list[str]]] = [
    # 1. schedule_days drive the visits: every endpoint month must be a visit
    (
        "endpoint-month-not-a-visit",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(schedule_days=[0, 7, 28, 91]))],
        ["endpoints[0].months", "day 183", "schedule_days"],
    ),
    # 2. dose levels
    (
        "dose-1e30",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(dose_levels=["3e8", "1e30"]))],
        ["dose_levels", "'1e30'"],
    ),
    (
        "dose-decreasing",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(dose_levels=["6e8", "3e8"]))],
        ["dose_levels", "'3e8'", "increase"],
    ),
    (
        "dose-mixed-units",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(dose_levels=["3e8", "1e6/kg"]))],
        ["dose_levels", "'1e6/kg'"],
    ),
    (
        "dose-per-kg-too-high",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(dose_levels=["1e6/kg", "3e9/kg"]))],
        ["dose_levels", "'3e9/kg'"],
    ),
    (
        "comparator-dose",
        lambda t, m: [
            "run",
            _protocol(t, lambda d: d["comparators"][0].update(dose_levels=["1e6/kg", "1e12/kg"])),
        ],
        ["comparators[0].dose_levels", "'1e12/kg'"],
    ),
    # 3. duplicate endpoints
    (
        "endpoint-twice",
        lambda t, m: [
            "run",
            _protocol(t, lambda d: d["endpoints"].append({"name": "doris", "months": [6]})),
        ],
        ["endpoints[5].name", "'doris'"],
    ),
    (
        "endpoint-month-twice",
        lambda t, m: ["run", _protocol(t, lambda d: d["endpoints"][0].update(months=[3, 6, 6]))],
        ["endpoints[0].months", "month 6"],
    ),
    # 4. protocol name
    (
        "name-outside-runs",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(name="../../x"))],
        ["name", "'../../x'"],
    ),
    (
        "name-too-long",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(name="n" * 101))],
        ["name", "nnnn"],
    ),
    # 5. BOIN12 needs responses
    (
        "boin12-oc-without-p-eff",
        lambda t, m: ["design", "oc", "--design", "boin12", "--p-tox", "0.1,0.2,0.3"],
        ["--p-eff"],
    ),
    (
        "boin12-next-without-responses",
        lambda t, m: [
            "design",
            "next",
            "--design",
            "boin12",
            "--current-dose",
            "1",
            "--treated",
            "3,0",
            "--dlts",
            "0,0",
        ],
        ["--responses"],
    ),
    (
        "design-oc-negative-seed",
        lambda t, m: ["design", "oc", "--p-tox", "0.1,0.2", "--seed", "-1"],
        ["--seed", "-1"],
    ),
    # 6. dates in clinical records are ISO strings
    (
        "numeric-infusion-date",
        lambda t, m: ["score", "ctcae", _records(t, {**PATIENT, "infusion": 20240105})],
        ["infusion", "20240105", "ISO 8601"],
    ),
    (
        "boolean-infusion-date",
        lambda t, m: ["score", "ctcae", _records(t, {**PATIENT, "infusion": True})],
        ["infusion", "True"],
    ),
    # 7. file-level problems: every loader
    (
        "protocol-not-utf8",
        lambda t, m: ["run", _latin1(t, "latin1.yaml")],
        ["protocol", "latin1.yaml", "not UTF-8"],
    ),
    (
        "params-not-utf8",
        lambda t, m: ["simulate", "--params", _latin1(t, "p.yaml")],
        ["--params", "p.yaml", "not UTF-8"],
    ),
    (
        "product-not-utf8",
        lambda t, m: ["simulate", "--product", _latin1(t, "prod.yaml")],
        ["--product", "prod.yaml", "not UTF-8"],
    ),
    (
        "regimen-not-utf8",
        lambda t, m: ["simulate", "--ld", _latin1(t, "ld.yaml")],
        ["--ld", "ld.yaml", "not UTF-8"],
    ),
    (
        "records-not-utf8",
        lambda t, m: ["score", "sledai2k", _latin1(t, "r.json")],
        ["r.json", "not UTF-8"],
    ),
    (
        "export-params-not-utf8",
        lambda t, m: [
            "export",
            "sbml",
            "--params",
            _latin1(t, "p.yaml"),
            "--out",
            str(t / "m.xml"),
        ],
        ["--params", "p.yaml"],
    ),
    (
        "protocol-product-file-not-utf8",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(product=_latin1(t, "prod.yaml")))],
        ["product", "prod.yaml", "not UTF-8"],
    ),
    (
        "records-folder",
        lambda t, m: ["score", "sledai2k", str((t / "dir.json").mkdir() or t / "dir.json")],
        ["dir.json", "is a folder"],
    ),
    (
        "protocol-folder",
        lambda t, m: ["run", str((t / "dir.yaml").mkdir() or t / "dir.yaml")],
        ["protocol", "dir.yaml", "is a folder"],
    ),
    (
        "records-missing",
        lambda t, m: ["score", "sledai2k", str(t / "none.json")],
        ["none.json", "does not exist"],
    ),
    (
        "params-missing",
        lambda t, m: ["simulate", "--params", str(t / "none.yaml")],
        ["--params", "none.yaml", "does not exist"],
    ),
    (
        "protocol-permission-denied",
        lambda t, m: (_deny_reading(m), ["run", _protocol(t)])[1],
        ["protocol", "p.yaml", "permission denied"],
    ),
    (
        "records-too-large",
        lambda t, m: (
            m.setattr(files, "MAX_TEXT_BYTES", 64),
            ["score", "sledai2k", _records(t, {**PATIENT, "age_years": 40})],
        )[1],
        ["records.json", "over the 64 bytes limit"],
    ),
    (
        "records-nested-deeply",
        lambda t, m: (
            t.joinpath("deep.json").write_text("[" * 5000 + "]" * 5000),
            ["score", "sledai2k", str(t / "deep.json")],
        )[1],
        ["deep.json", "nested"],
    ),
    (
        "protocol-nested-deeply",
        lambda t, m: (
            t.joinpath("deep.yaml").write_text("name: " + "[" * 5000 + "]" * 5000),
            ["run", str(t / "deep.yaml")],
        )[1],
        ["deep.yaml", "nested"],
    ),
    (
        "protocol-invalid-yaml",
        lambda t, m: (t.joinpath("b.yaml").write_text("name: [x\n"), ["run", str(t / "b.yaml")])[1],
        ["b.yaml", "not valid YAML"],
    ),
    (
        "score-option-nested-deeply",
        lambda t, m: ["score", "sledai2k", _records(t, PATIENT), "--option", "x=" + "[" * 5000],
        ["option", "'x'"],
    ),
    # 7. writers: an --out that cannot be written, or that exists where that is refused
    (
        "simulate-out-below-a-file",
        lambda t, m: ["simulate", "--out", str(_notes(t) / "x.csv")],
        ["--out", "notes.txt", "not a folder"],
    ),
    (
        "cohort-out-below-a-file",
        lambda t, m: ["cohort", "--n", "5", "--out", str(_notes(t) / "x.csv")],
        ["--out", "notes.txt"],
    ),
    (
        "export-sbml-out-below-a-file",
        lambda t, m: ["export", "sbml", "--out", str(_notes(t) / "m.xml")],
        ["--out", "notes.txt"],
    ),
    (
        "export-equations-out-below-a-file",
        lambda t, m: ["export", "equations", "--out", str(_notes(t) / "e.md")],
        ["--out", "notes.txt"],
    ),
    (
        "demo-out-a-file",
        lambda t, m: ["demo", "--out", str(_notes(t))],
        ["--out", "notes.txt", "not a folder"],
    ),
    (
        "calibrate-out-a-file",
        lambda t, m: ["calibrate", "--check", "--out", str(_notes(t))],
        ["--out", "notes.txt", "not a folder"],
    ),
    (
        "data-simulate-out-below-a-file",
        lambda t, m: ["data", "simulate", str(_notes(t) / "x.csv")],
        ["OUT", "notes.txt"],
    ),
    (
        "data-convert-dest-below-a-file",
        lambda t, m: ["data", "convert", str(EXAMPLE_NONMEM), str(_notes(t) / "sdtm")],
        ["DEST", "notes.txt"],
    ),
    (
        "run-out-below-a-file",
        lambda t, m: ["run", _protocol(t), "--out", str(_notes(t) / "run")],
        ["notes.txt", "not a folder"],
    ),
    (
        "run-out-is-a-file",
        lambda t, m: ["run", _protocol(t), "--out", str(_notes(t))],
        ["--out", "notes.txt", "is a file"],
    ),
    (
        "run-out-holds-other-files",
        lambda t, m: (_notes(t), ["run", _protocol(t, name="q.yaml"), "--out", str(t)])[1],
        ["--out", "not empty"],
    ),
    # 7. other values that gave tracebacks
    (
        "simulation-not-a-mapping",
        lambda t, m: [
            "run",
            _protocol(t, lambda d: d.update(simulation=[1, 2])),
            "--replicates",
            "3",
        ],
        ["simulation", "[1, 2]"],
    ),
    (
        "scheduler-bad-address",
        lambda t, m: ["run", _protocol(t), "--scheduler", "nonsense://host"],
        ["--scheduler", "'nonsense://host'"],
    ),
    ("simulate-negative-seed", lambda t, m: ["simulate", "--seed", "-1"], ["--seed", "-1"]),
    (
        "data-simulate-negative-seed",
        lambda t, m: ["data", "simulate", str(t / "x.csv"), "--seed", "-1"],
        ["--seed", "-1"],
    ),
    (
        "nonmem-weight-zero",
        lambda t, m: ["data", "convert", _nonmem_with_weight(t, "0"), str(t / "out.csv")],
        ["wt0.csv", "WT = 0"],
    ),
    (
        "nonmem-weight-negative",
        lambda t, m: ["data", "convert", _nonmem_with_weight(t, "-70"), str(t / "out.csv")],
        ["WT = -70"],
    ),
    (
        "nonmem-weight-zero-check",
        lambda t, m: ["data", "check", _nonmem_with_weight(t, "0")],
        ["wt0.csv", "problem"],
    ),
    (
        "product-name-too-long",
        lambda t, m: ["simulate", "--product", "p" * 300],
        ["--product", "300 characters"],
    ),
    (
        "product-path-too-long",
        lambda t, m: ["simulate", "--product", "p" * 300 + ".yaml"],
        ["--product", "too long"],
    ),
    (
        "protocol-product-name-too-long",
        lambda t, m: ["run", _protocol(t, lambda d: d.update(product="p" * 300))],
        ["product", "built-in product", "300 characters"],
    ),
]


@pytest.fixture
def no_model(monkeypatch):
    """Should a refusal come too late, the run meets the cohort stand-in instead of the model."""
    import allocart.population.cohort as cohort

    monkeypatch.setattr(cohort, "simulate_cohort", fake_simulate_cohort)


@pytest.mark.parametrize(("build", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(build, words, tmp_path, monkeypatch, capsys, no_model):
    monkeypatch.chdir(tmp_path)
    argv = build(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "build",
    [
        lambda t: ["run", _latin1(t, "latin1.yaml")],
        lambda t: ["run", _protocol(t), "--scheduler", "nonsense://host"],
        lambda t: ["score", "sledai2k", str((t / "dir.json").mkdir() or t / "dir.json")],
        lambda t: ["run", _protocol(t), "--out", str(_notes(t) / "run")],
    ],
    ids=["not-utf8", "scheduler", "folder", "out-below-a-file"],
)
def test_no_traceback_in_a_fresh_process(build, tmp_path):
    argv = build(tmp_path)
    proc = run_cli(argv, check=False, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
