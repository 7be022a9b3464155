"""The ``allocart data`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from allocart.cli.app import main
from allocart.data import read_nonmem, read_sdtm, write_nonmem

PILOT = Path(__file__).parents[2] / ".." / "shared" / "data" / "sdtm-cdiscpilot01"


@pytest.fixture
def nonmem_file(tmp_path):
    from tests.data.conftest import hand_dataset

    return write_nonmem(hand_dataset(with_clinical=False), tmp_path / "trial.csv")


def test_check_ok(capsys, nonmem_file):
    assert main(["data", "check", str(nonmem_file)]) == 0
    out = capsys.readouterr().out
    assert (
        "dataset: 2 subjects" in out
        and "b_cells_per_ul: 2 observations (1 below LLOQ)" in out
        and "ok: no problems" in out
    )
    assert main(["data", "check", str(nonmem_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["format"] == "nonmem"
        and report["problems"] == []
        and report["dataset"]["subjects"] == 2
    )


def test_check_lists_problems_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,EVID,AMT,CMT,DV,MDV,DVID\n1,0,1,1e6,1,.,1,.\n1,zero,0,.,.,4,0,4\n")
    assert main(["data", "check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"problem: {bad}, row 3, column TIME: 'zero' is not a number" in captured.out
    assert captured.err.strip() == f"error: {bad}: 1 problem(s), listed above"


def test_convert_both_ways(capsys, tmp_path, nonmem_file):
    sdtm = tmp_path / "sdtm"
    assert main(["data", "convert", str(nonmem_file), str(sdtm)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert read_sdtm(sdtm) == read_nonmem(nonmem_file)
    back = tmp_path / "back.csv"
    assert main(["data", "convert", str(sdtm), str(back)]) == 0
    assert read_nonmem(back) == read_nonmem(nonmem_file)
    assert (
        main(["data", "convert", str(nonmem_file), str(tmp_path / "x.txt"), "--to", "nonmem"]) == 2
    )
    assert "must end in .csv" in capsys.readouterr().err


def test_simulate_exports_data(capsys, tmp_path):
    out = tmp_path / "sim.csv"
    assert (
        main(
            ["data", "simulate", str(out), "--n", "2", "--days", "28", "--sample-days", "0,7,14,28"]
        )
        == 0
    )
    ds = read_nonmem(out)
    assert ds.ids == ("SIM-001", "SIM-002") and sorted(set(ds.observations["time"])) == [
        0,
        7,
        14,
        28,
    ]
    assert main(["data", "simulate", str(out), "--sample-days", "a,b"]) == 2
    assert "--sample-days" in capsys.readouterr().err


def test_pilot_study_one_line_error_no_traceback(capsys, tmp_path):
    if not (PILOT / "dm.xpt").is_file():
        pytest.skip(
            f"the CDISC pilot SDTM tables are not at {PILOT.resolve()} (shared/ beside the repository)"
        )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "allocart.cli.app",
            "data",
            "convert",
            str(PILOT),
            str(tmp_path / "p.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "EX has no CAR-T administration" in res.stderr and "--car-t-treatment" in res.stderr
    assert main(["data", "check", str(PILOT)]) == 2
    out = capsys.readouterr().out
    assert "records: 306 subjects" in out and "adverse_events 1165" in out


def test_site_codes_from_the_command_line(capsys, tmp_path):
    import pandas as pd

    folder = tmp_path / "site"
    folder.mkdir()
    pd.DataFrame([{"USUBJID": "S1", "SEX": "M"}]).to_csv(folder / "dm.csv", index=False)
    pd.DataFrame(
        [
            {
                "USUBJID": "S1",
                "EXTRT": "KYV-101",
                "EXDOSE": "1e8",
                "EXDOSU": "cells",
                "EXSTDTC": "2024-05-06",
            }
        ]
    ).to_csv(folder / "ex.csv", index=False)
    pd.DataFrame(
        [
            {
                "USUBJID": "S1",
                "PCTESTCD": "VCNQPCR",
                "PCORRES": "1200",
                "PCORRESU": "copies/ug",
                "PCDTC": "2024-05-13",
            },
            {
                "USUBJID": "S1",
                "PCTESTCD": "CD19CNT",
                "PCORRES": "3",
                "PCORRESU": "cells/uL",
                "PCDTC": "2024-05-13",
            },
        ]
    ).to_csv(folder / "pc.csv", index=False)
    assert main(["data", "check", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"]["observations"] == {}
    assert any("VCNQPCR" in n for n in report["notes"])
    out = tmp_path / "kyv.csv"
    args = [
        "data",
        "convert",
        str(folder),
        str(out),
        "--pc-code",
        "VCNQPCR=transgene_copies_per_ug",
        "--pc-code",
        "CD19CNT=b_cells_per_ul",
        "--product",
        "autologous-cd19",
    ]
    assert main(args) == 0
    ds = read_nonmem(out)
    assert set(ds.observations["observable"]) == {"transgene_copies_per_ug", "b_cells_per_ul"}
    assert ds.subjects["product"].item() == "autologous-cd19"
    assert main(["data", "check", str(folder), "--pc-code", "X=cd4"]) == 2
    assert "not a PC/CP read-out" in capsys.readouterr().err


def test_check_and_convert_take_the_same_reading_options(capsys, tmp_path):
    """Every reading option reaches the reader in both commands."""
    from allocart.data import write_sdtm
    from tests.data.conftest import hand_dataset

    site = tmp_path / "site.csv"
    # hours, read-outs coded by compartment, a log DV, SEX 2 = female
    site.write_text(
        "ID,TIME,EVID,AMT,CMT,DV,MDV,SEX\n1,0,1,1e6,7,.,1,2\n1,168,0,.,5,4.605170185988092,0,2\n"
    )
    nonmem = [
        "--time-unit",
        "hour",
        "--obs-column",
        "CMT",
        "--obs-code",
        "5=b_cells_per_ul",
        "--dose-cmt",
        "7=car_t",
        "--log-dv",
        "--sex-female-code",
        "2",
    ]
    assert main(["data", "check", str(site), "--json", *nonmem]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"]["doses"] == {"car_t": 1}
    assert report["dataset"]["observations"] == {"b_cells_per_ul": {"n": 1, "censored": 0}}
    out = tmp_path / "out.csv"
    assert main(["data", "convert", str(site), str(out), *nonmem]) == 0
    ds = read_nonmem(out)
    (obs,) = ds.observations.itertuples(index=False)
    assert (obs.time, obs.observable) == (7.0, "b_cells_per_ul")
    assert obs.value == pytest.approx(100.0, rel=1e-12)  # exp of the log DV
    assert bool(ds.subjects["female"].item()) is True
    capsys.readouterr()
    for command in (["check", str(site)], ["convert", str(site), str(out)]):
        assert main(["data", *command, "--lab-code", "Q=NOPE"]) == 2
        assert "--lab-code Q=NOPE: 'NOPE' is not a known test code" in capsys.readouterr().err
    study = write_sdtm(hand_dataset(with_clinical=False), tmp_path / "sdtm")
    assert main(["data", "check", str(study), "--json", "--car-t-treatment", "NOPE"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert any("no EXTRT equals 'NOPE'" in p for p in report["problems"])
    assert main(["data", "convert", str(study), str(out), "--car-t-treatment", "NOPE"]) == 2
    assert "no EXTRT equals 'NOPE'" in capsys.readouterr().err
