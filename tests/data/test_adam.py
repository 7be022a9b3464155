"""ADaM ADSL, ADAE and ADPC from a dataset and from a run folder; XPT and CSV files."""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from allocart.clinical.records import AdverseEvent, PatientRecords
from allocart.data import Dataset
from allocart.data.adam import (
    adam_input_from_dataset,
    adam_input_from_run,
    build_adam,
    write_adam,
)
from allocart.errors import DataError

#: SAS dates count days from 1960-01-01.
SAS_EPOCH = date(1960, 1, 1)


def test_adsl_has_one_row_per_subject(hand):
    tables = build_adam(adam_input_from_dataset(hand, "CART-01"))
    adsl = tables["ADSL"]
    assert len(adsl) == len(hand) and adsl["USUBJID"].is_unique
    assert adsl["USUBJID"].tolist() == list(hand.ids)
    row = adsl.set_index("USUBJID").loc["P-01"]
    assert row["STUDYID"] == "CART-01" and row["SEX"] == "F" and row["AGE"] == 34.0
    assert row["TRTSDT"] == date(2025, 3, 3) and row["SAFFL"] == "Y" and row["ITTFL"] == "Y"
    assert row["TRT01P"] == "allogeneic-cd19cd20 1e+06 cells/kg" == row["TRT01A"]
    assert row["WEIGHTBL"] == 61.5 and row["LDREGIM"] == "flu-cy"
    assert adsl.set_index("USUBJID").loc["P-02", "SEX"] == "U"


def test_adae_flags_treatment_emergent_events_and_grades(hand):
    r = hand.records["P-01"]
    before = AdverseEvent(
        term="Nausea", category="other", grade=1, scale="ctcae-5.0", start=-2.0, end=-1.0
    )
    records = {
        **hand.records,
        "P-01": PatientRecords(**{**r.model_dump(), "adverse_events": (before, *r.adverse_events)}),
    }
    ds = Dataset(hand.subjects, hand.doses, hand.observations, records, "hand")
    adae = build_adam(adam_input_from_dataset(ds))["ADAE"].set_index("AETERM")
    assert list(adae["AESEQ"]) == [1, 2, 3]  # in order of onset
    crs = adae.loc["Cytokine release syndrome"]
    # onset 1 day after the infusion day: study day 2, end day 4 after: study day 5
    assert (crs["ASTDY"], crs["AENDY"], crs["ASTDT"]) == (2, 5, date(2025, 3, 4))
    assert (crs["AETOXGR"], crs["ATOXGRN"], crs["AESEV"], crs["AESER"]) == ("2", 2, "MODERATE", "Y")
    assert crs["TRTEMFL"] == "Y" and crs["AEREL"] == "DEFINITE"
    assert adae.loc["Neutropenia", "AESEV"] == "SEVERE"
    nausea = adae.loc["Nausea"]
    assert nausea["TRTEMFL"] == "N" and nausea["ASTDY"] == -2  # no day 0 before day 1 either
    assert (adae["ASTDY"] != 0).all()


def test_adpc_rows_are_the_kinetic_samples(hand):
    adpc = build_adam(adam_input_from_dataset(hand))["ADPC"]
    pc = hand.observations[
        hand.observations["observable"].isin(
            ["car_t_cells_per_ul", "car_pct_of_t", "transgene_copies_per_ug"]
        )
    ]
    assert len(adpc) == len(pc) == 5
    assert set(adpc["PARAMCD"]) == {"CARTCELL", "CARTPCT", "TRANSGEN"}
    assert (adpc["ADY"] != 0).all()
    cens = adpc[adpc["BLQFL"] == "Y"].iloc[0]
    assert math.isnan(cens["AVAL"]) and cens["AVALC"] == "<50" and cens["LLOQ"] == 50.0
    tg = adpc[(adpc["PARAMCD"] == "TRANSGEN") & (adpc["BLQFL"] == "N")].iloc[0]
    assert tg["AVAL"] == 15234.75 and tg["ADY"] == 8 and tg["ATPT"] == "DAY 7 POST-INFUSION"
    assert tg["PARAM"] == "CAR transgene (copies/ug)" and tg["AVISIT"] == "DAY 8"
    # P-02 was infused at 09:30; 8 hours later is still the infusion day, study day 1
    p2 = adpc[adpc["USUBJID"] == "P-02"].iloc[0]
    assert p2["ADY"] == 1 and p2["ARELTM"] == pytest.approx(1 / 3)


def test_adam_xpt_files_are_read_by_pandas(tmp_path, hand):
    paths = write_adam(build_adam(adam_input_from_dataset(hand)), tmp_path / "adam")
    assert sorted(p.name for p in paths.values()) == ["adae.xpt", "adpc.xpt", "adsl.xpt"]
    adsl = pd.read_sas(paths["ADSL"], format="xport", encoding="utf-8")
    assert len(adsl) == 2 and {"USUBJID", "TRT01P", "TRTSDT", "SAFFL", "AGE", "SEX"} <= set(
        adsl.columns
    )
    # a SAS date: days since 1960-01-01
    assert adsl["TRTSDT"].iloc[0] == (date(2025, 3, 3) - SAS_EPOCH).days
    adae = pd.read_sas(paths["ADAE"], format="xport", encoding="utf-8")
    assert {"TRTEMFL", "AESEV", "AETOXGR", "ASTDY"} <= set(adae.columns)
    adpc = pd.read_sas(paths["ADPC"], format="xport", encoding="utf-8")
    assert {"PARAM", "PARAMCD", "AVAL", "ADY", "ATPT"} <= set(adpc.columns)
    csv = write_adam(build_adam(adam_input_from_dataset(hand)), tmp_path / "csv", "csv")
    assert pd.read_csv(csv["ADSL"])["TRTSDT"].tolist() == ["2025-03-03", "2025-04-07"]
    with pytest.raises(DataError, match="^format: 'sas7bdat' is not one of xpt, csv"):
        write_adam({}, tmp_path / "x", "sas7bdat")


def test_an_empty_table_is_not_written_as_xpt(tmp_path, hand):
    no_events = Dataset(hand.subjects, hand.doses, hand.observations, {}, "hand")
    tables = build_adam(adam_input_from_dataset(no_events))
    assert tables["ADAE"].empty
    stale = tmp_path / "adam" / "adae.xpt"
    stale.parent.mkdir()
    stale.write_bytes(b"from an earlier export")
    paths = write_adam(tables, tmp_path / "adam")
    # pandas.read_sas cannot read a transport file without records: none is written
    assert set(paths) == {"ADSL", "ADPC"} and not stale.exists()
    csv = write_adam(tables, tmp_path / "csv", "csv")
    assert list(pd.read_csv(csv["ADAE"]).columns)[:3] == ["STUDYID", "USUBJID", "AESEQ"]


# ----------------------------------------------------------------------------- run folders


def make_run(folder, *, timecourses: bool = True):
    """A run folder whose ``results.duckdb`` holds the tables and columns of a finished run
    (docs/trial.md): one arm, two replicate trials of three patients at two dose levels."""
    folder.mkdir(parents=True)
    trials = pd.DataFrame({"arm": [0, 0], "arm_label": ["allo", "allo"], "replicate": [0, 1]})
    patients = pd.DataFrame(
        {
            "arm": 0,
            "replicate": [0, 0, 0, 1, 1, 1],
            "patient": [1, 2, 3, 1, 2, 3],
            "cohort": 1,
            "dose_level": [1, 1, 2, 1, 1, 1],
            "dose": ["1e6/kg", "1e6/kg", "3e6/kg", "1e6/kg", "1e6/kg", "1e6/kg"],
            "person": [4, 7, 4, 7, 9, 4],
            "arrival_month": [0.0, 0.5, 1.0, 0.0, 0.2, 0.4],
            "start_month": [0.0, 1.0, 2.0, 0.0, 0.5, 1.5],
            "dlt": [False, True, False, False, False, False],
            "crs_grade": [0, 2, 1, 0, 3, 0],
            "crs_onset_day": [np.nan, 3.0, 1.0, np.nan, 2.0, np.nan],
            "icans_grade": [0, 0, 0, 0, 1, 0],
            "icans_onset_day": [np.nan, np.nan, np.nan, np.nan, 6.0, np.nan],
            "gvhd_grade": 0,
            "neutropenia_grade_max": [4, 3, 0, 0, 0, 0],
            "age_years": [40.0, 51.0, 33.0, 29.0, 62.0, 45.0],
            "female": [True, False, True, True, None, False],
            "weight_kg": [60.0, 80.0, 70.0, 55.0, 90.0, 65.0],
            "infused": [True, True, True, True, True, False],
        }
    )
    endpoints = pd.DataFrame({"arm": [0], "product": ["allogeneic-cd19cd20"], "endpoint": ["x"]})
    tc = pd.DataFrame(
        [
            (0, level, "1e6/kg", pid, float(day), 10.0 * (pid + 1) + day)
            for level in (1, 2)
            for pid in (4, 7, 9)
            for day in range(0, 30)
        ],
        columns=["arm", "dose_level", "dose", "id", "time", "car_t_cells_per_ul"],
    )
    tables = {"trials": trials, "patients": patients, "endpoints": endpoints}
    if timecourses:
        tables["timecourses"] = tc
    with duckdb.connect(str(folder / "results.duckdb")) as con:
        for name, frame in tables.items():
            con.register("source", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM source')
            con.unregister("source")
    return folder


def test_adam_from_a_run_folder(tmp_path):
    run = make_run(tmp_path / "runs" / "mini")
    tables = build_adam(adam_input_from_run(run, "SIM"))
    adsl = tables["ADSL"].set_index("USUBJID")
    assert len(adsl) == 6 and adsl.index.is_unique
    first = adsl.loc["SIM-A0-R0000-002"]
    assert first["TRTSDT"] == date(2025, 1, 6) + timedelta(days=365.25 / 12)
    assert (first["SEX"], first["DLTFL"], first["TRT01P"]) == ("M", "Y", "allo 1e6/kg")
    assert first["ARM"] == "allogeneic-cd19cd20" and first["REPLICAT"] == 0
    assert adsl.loc["SIM-A0-R0001-002", "SEX"] == "U"
    assert adsl.loc["SIM-A0-R0001-003", "SAFFL"] == "N"  # not infused
    adae = tables["ADAE"]
    # graded outcomes: CRS 2, neutropenia 3 (patient 2); CRS 1 (3); neutropenia 4 (1); CRS 3, ICANS 1 (R1 2)
    assert len(adae) == 6 and (adae["TRTEMFL"] == "Y").all()
    crs = adae[(adae["USUBJID"] == "SIM-A0-R0000-002") & (adae["AECAT"] == "crs")].iloc[0]
    assert (crs["ASTDY"], crs["AETOXGR"], crs["AESEV"]) == (4, "2", "MODERATE")
    neut = adae[(adae["USUBJID"] == "SIM-A0-R0000-001")].iloc[0]
    assert neut["AEDECOD"] == "NEUTROPHIL COUNT DECREASED" and math.isnan(neut["ASTDY"])
    adpc = tables["ADPC"]
    # the planned sampling days within the 30 simulated days: 0, 1, 3, 7, 10, 14, 21, 28
    assert len(adpc) == 6 * 8
    one = adpc[(adpc["USUBJID"] == "SIM-A0-R0000-003") & (adpc["ARELTM"] == 7.0)].iloc[0]
    assert one["AVAL"] == 10.0 * 5 + 7  # person 4 at dose level 2, day 7
    assert one["ADY"] == 8 and (adpc["ADY"] != 0).all()


def test_replicates_can_be_chosen_and_bad_folders_are_refused(tmp_path):
    run = make_run(tmp_path / "run", timecourses=False)
    data = adam_input_from_run(run, replicates=[1])
    assert len(data.subjects) == 3 and data.samples.empty
    with pytest.raises(DataError, match=r"^replicate: \[5\] not in"):
        adam_input_from_run(run, replicates=[5])
    with pytest.raises(DataError, match="holds no results.duckdb"):
        adam_input_from_run(tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        adam_input_from_run(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.duckdb").write_bytes(b"not a database")
    with pytest.raises(DataError, match="cannot read"):
        adam_input_from_run(bad)


@pytest.mark.slow  # simulates the pools of a small virtual trial (about a minute on 2 cores)
def test_adam_from_a_real_run(tmp_path):
    from allocart.trial.protocol import protocol_from_dict
    from allocart.trial.runner import run_trial
    from tests.trial.conftest import small_dict

    protocol = protocol_from_dict(
        small_dict(pool_size=20, replicates=3, chunk_size=3, timecourse_patients=20)
    )
    run_trial(protocol, tmp_path / "run", workers=1, progress=False)
    with duckdb.connect(str(tmp_path / "run" / "results.duckdb"), read_only=True) as con:
        n_patients = con.execute("SELECT count(*) FROM patients").fetchone()[0]
    tables = build_adam(adam_input_from_run(tmp_path / "run"))
    assert len(tables["ADSL"]) == n_patients and tables["ADSL"]["USUBJID"].is_unique
    # every pool person has a stored time course, so every subject has kinetic samples
    assert set(tables["ADPC"]["USUBJID"]) == set(tables["ADSL"]["USUBJID"])
    assert (tables["ADPC"]["ADY"] != 0).all() and (tables["ADAE"]["TRTEMFL"] == "Y").all()
    paths = write_adam(tables, tmp_path / "adam")
    adsl = pd.read_sas(paths["ADSL"], format="xport", encoding="utf-8")
    assert len(adsl) == n_patients
