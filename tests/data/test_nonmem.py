"""NONMEM-style CSV: round trips, codings, and problems named by file, row and column."""

from __future__ import annotations

import pandas as pd
import pytest

from allocart.data import OBSERVABLES, DataValidationError, NonmemSpec, read_nonmem, write_nonmem
from allocart.errors import DataError

from .conftest import hand_dataset

HEADER = "ID,TIME,EVID,AMT,CMT,DV,MDV,DVID,BLQ,LLOQ,WT,SEX\n"


def _write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "d.csv"
    path.write_text(header + body)
    return path


def test_round_trip_hand(tmp_path):
    ds = hand_dataset(with_clinical=False)  # NONMEM carries no AE/QS records
    back = read_nonmem(write_nonmem(ds, tmp_path / "nm.csv"))
    assert back == ds, back.differences(ds)
    assert back.source == str(tmp_path / "nm.csv")


def test_round_trip_simulated(tmp_path, simulated):
    _, ds = simulated
    assert read_nonmem(write_nonmem(ds, tmp_path / "sim.csv")) == ds


@pytest.mark.parametrize(
    "spec",
    [
        NonmemSpec(time_unit="hour"),
        NonmemSpec(log_dv=True),
        NonmemSpec(
            obs_column="CMT",
            observable_codes={str(10 + i): o for i, o in enumerate(OBSERVABLES)},
        ),
    ],
)
def test_round_trip_other_codings(tmp_path, spec):
    ds = hand_dataset(with_clinical=False)
    assert read_nonmem(write_nonmem(ds, tmp_path / "nm.csv", spec), spec) == ds


def test_hours_are_converted_and_times_shifted_to_the_infusion(tmp_path):
    # A dataset whose clock starts at lymphodepletion: CAR-T at 120 h.
    path = _write(
        tmp_path,
        "1,0,1,25,2,.,1,.,.,.,70,F\n"
        "1,120,1,3e8,1,.,1,.,.,.,70,F\n"
        "1,288,0,.,.,0.5,0,4,1,1,70,F\n"
        "1,288,0,.,.,52,0,5,0,10,70,F\n"
        "1,300,0,.,.,.,1,5,.,.,70,F\n",
    )
    ds = read_nonmem(path, NonmemSpec(time_unit="hour"))
    assert list(ds.doses["time"]) == [-5.0, 0.0] and list(ds.doses["unit"]) == ["mg/m2", "cells"]
    obs = ds.observations
    assert list(obs["time"]) == [7.0, 7.0]  # the MDV=1 row is no observation
    b = obs[obs["observable"] == "b_cells_per_ul"].iloc[0]
    assert b["censored"] and b["value"] == 1.0 and b["lloq"] == 1.0
    assert bool(ds.subjects["female"].iloc[0]) and ds.subjects["weight_kg"].iloc[0] == 70.0


def test_addl_is_expanded(tmp_path):
    # fludarabine on days -5, -4, -3 written as one row with two additional doses a day apart
    path = _write(
        tmp_path,
        "1,-5,1,25,2,.,1,2,1\n1,0,1,1e6,1,.,1,.,.\n",
        header="ID,TIME,EVID,AMT,CMT,DV,MDV,ADDL,II\n",
    )
    units = {"car_t": "cells/kg", "fludarabine": "mg/m2", "cyclophosphamide": "mg/m2"}
    ds = read_nonmem(path, NonmemSpec(obs_column="CMT", dose_units=units))
    assert list(ds.doses["time"]) == [-5.0, -4.0, -3.0, 0.0]
    assert ds.doses["unit"].iloc[-1] == "cells/kg"


def test_problems_name_file_row_and_column(tmp_path):
    path = _write(
        tmp_path,
        "1,0,1,1e6,1,.,1,.,.,.,70,M\n"
        "1,x,0,.,.,3,0,4,0,1,70,M\n"  # row 3: TIME not a number
        "1,5,0,.,.,3,0,99,0,1,70,M\n"  # row 4: unknown DVID
        "1,6,3,.,.,.,.,.,.,.,70,M\n"  # row 5: EVID 3
        "1,7,0,.,.,.,0,4,1,.,70,M\n"  # row 6: BLQ without LLOQ
        "2,0,1,1e6,7,.,1,.,.,.,70,2\n",
    )  # row 7: unmapped CMT and numeric SEX
    with pytest.raises(DataValidationError) as err:
        read_nonmem(path)
    where = {(p.row, p.column) for p in err.value.problems}
    assert {(3, "TIME"), (4, "DVID"), (5, "EVID"), (6, "LLOQ"), (7, "CMT"), (7, "SEX")} <= where
    assert all(p.file == str(path) for p in err.value.problems)
    text = str(err.value)
    assert f"{path}, row 3, column TIME: 'x' is not a number" in text
    assert "--obs-code" in " ".join(str(p) for p in err.value.problems)


def test_missing_columns_and_no_car_t(tmp_path):
    with pytest.raises(DataValidationError, match="required column DV is missing"):
        read_nonmem(_write(tmp_path, "1,0\n", header="ID,TIME\n"))
    with pytest.raises(
        DataValidationError, match=r"observation-type column DVID is missing; pass --obs-column CMT"
    ):
        read_nonmem(_write(tmp_path, "1,0,1,5,1,.\n", header="ID,TIME,EVID,AMT,CMT,DV\n"))
    with pytest.raises(DataValidationError, match="a header but no data rows"):
        read_nonmem(_write(tmp_path, ""))
    # a study of another drug: doses exist, but none is CAR-T
    path = _write(tmp_path, "1,0,1,25,2,.,1,.,.,.,70,F\n1,1,0,.,.,3,0,10,0,.,70,F\n")
    with pytest.raises(
        DataValidationError, match=r"subject '1' has no CAR-T dose .* its doses are: fludarabine"
    ):
        read_nonmem(path)


def test_spec_and_file_errors(tmp_path):
    with pytest.raises(DataError, match="not a read-out"):
        NonmemSpec(observable_codes={"1": "cd4"})
    with pytest.raises(DataError, match="no such file"):
        read_nonmem(tmp_path / "absent.csv")
    frame = pd.DataFrame({"ID": [1]})
    frame.to_csv(tmp_path / "t.txt", index=False)
    with pytest.raises(DataError, match="unknown table format"):
        read_nonmem(tmp_path / "t.txt")
