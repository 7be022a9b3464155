"""``allocart data convert --format xpt`` and ``allocart data adam``: files pandas reads back,
and one-line refusals naming the flag."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from allocart.cli.app import main
from allocart.data import read_nonmem, read_sdtm
from tests.data.test_adam import make_run

EXAMPLE = Path(__file__).parents[2] / "examples" / "data" / "example_nonmem.csv"


def _sas(path: Path) -> pd.DataFrame:
    return pd.read_sas(path, format="xport", encoding="utf-8")


def test_convert_to_xpt_writes_sas_transport_tables(capsys, tmp_path):
    out = tmp_path / "sdtm"
    assert main(["data", "convert", str(EXAMPLE), str(out), "--format", "xpt"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert {p.suffix for p in out.iterdir()} == {".xpt"}
    dm = _sas(out / "dm.xpt")
    assert len(dm) == 6 and set(dm["SEX"]) <= {"F", "M", "U"}
    pc = _sas(out / "pc.xpt")
    assert {"PCDY", "VISIT", "VISITNUM", "EPOCH"} <= set(pc.columns) and (pc["PCDY"] != 0).all()
    assert read_sdtm(out) == read_nonmem(EXAMPLE)
    capsys.readouterr()
    assert main(["data", "check", str(out), "--format", "xpt"]) == 0
    assert "table DM: 6 rows" in capsys.readouterr().out
    # --to xpt says the same
    again = tmp_path / "again"
    assert main(["data", "convert", str(EXAMPLE), str(again), "--to", "xpt"]) == 0
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in out.iterdir())


def test_adam_from_a_dataset(capsys, tmp_path):
    out = tmp_path / "adam"
    assert main(["data", "adam", "--dataset", str(EXAMPLE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "adsl.xpt (6 rows)" in printed and "ADAE has no rows" in printed  # no AE records
    adsl = _sas(out / "adsl.xpt")
    assert len(adsl) == 6 and adsl["USUBJID"].is_unique
    assert {"TRT01P", "TRTSDT", "SAFFL", "AGE", "SEX", "ARM"} <= set(adsl.columns)
    adpc = _sas(out / "adpc.xpt")
    assert {"PARAMCD", "PARAM", "AVAL", "ADY", "ATPT"} <= set(adpc.columns) and len(adpc) > 0
    csv = tmp_path / "csv"
    assert (
        main(["data", "adam", "--dataset", str(EXAMPLE), "--out", str(csv), "--format", "csv"]) == 0
    )
    assert sorted(p.name for p in csv.iterdir()) == ["adae.csv", "adpc.csv", "adsl.csv"]


def test_adam_from_a_run_folder(capsys, tmp_path):
    run = make_run(tmp_path / "runs" / "mini")
    out = tmp_path / "adam"
    args = ["data", "adam", "--run", str(run), "--out", str(out), "--replicate", "1"]
    assert main(args) == 0
    adsl = _sas(out / "adsl.xpt")
    assert len(adsl) == 3 and set(adsl["REPLICAT"]) == {1.0}
    adae = _sas(out / "adae.xpt")
    assert set(adae["TRTEMFL"]) == {"Y"}


def test_adam_refusals_name_the_flag(capsys, tmp_path):
    out = str(tmp_path / "adam")
    assert main(["data", "adam", "--out", out]) == 2
    assert "--dataset FILE" in capsys.readouterr().err
    run = make_run(tmp_path / "run")
    assert main(["data", "adam", "--dataset", str(EXAMPLE), "--run", str(run), "--out", out]) == 2
    assert "give one of --dataset" in capsys.readouterr().err
    assert main(["data", "adam", "--dataset", str(EXAMPLE), "--out", out, "--format", "sas"]) == 2
    err = capsys.readouterr().err
    assert "--format: 'sas'" in err and len(err.strip().splitlines()) == 1
    assert main(["data", "adam", "--dataset", str(EXAMPLE), "--out", out, "--replicate", "0"]) == 2
    assert "--replicate: only with --run" in capsys.readouterr().err
    assert main(["data", "adam", "--run", str(tmp_path), "--out", out]) == 2
    assert "holds no results.duckdb" in capsys.readouterr().err
