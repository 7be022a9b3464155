"""CDISC SDTM: round trips, unit normalisation, censoring, partial dates, the CDISC pilot study."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from allocart.data import DataValidationError, load_sdtm, read_sdtm, write_sdtm
from allocart.errors import DataError


def test_round_trip_hand_with_clinical_records(tmp_path, hand):
    back = read_sdtm(write_sdtm(hand, tmp_path / "study"))
    assert back == hand, back.differences(hand)
    r = back.records["P-01"]
    assert [a.category for a in r.adverse_events] == ["crs", "neutropenia"]
    assert r.adverse_events[0].scale == "astct-2019" and r.adverse_events[0].serious
    assert {f.descriptor for f in r.sledai_findings} == {"arthritis", "rash"} and r.pga[
        0
    ].value == 1.5
    c3 = next(lab for lab in r.labs if lab.test == "C3")
    assert (c3.ref_low, c3.ref_high) == (0.9, 1.8)
    # the infusion at 09:30 is day 0 of the observations, the infusion day is day 0 of the records
    assert back.records["P-02"].infusion.hour == 9


def test_round_trip_simulated(tmp_path, simulated):
    _, ds = simulated
    assert read_sdtm(write_sdtm(ds, tmp_path / "sim")) == ds


def _study(tmp_path, **tables: list[dict]) -> str:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    base = {
        "DM": [{"USUBJID": "S1", "AGE": "45", "AGEU": "YEARS", "SEX": "F"}],
        "EX": [
            {
                "USUBJID": "S1",
                "EXTRT": "FLUDARABINE",
                "EXDOSE": "30",
                "EXDOSU": "mg/m2",
                "EXSTDTC": "2024-05-01",
            },
            {
                "USUBJID": "S1",
                "EXTRT": "CYCLOPHOSPHAMIDE",
                "EXDOSE": "900",
                "EXDOSU": "mg",
                "EXSTDTC": "2024-05-03",
            },
            {
                "USUBJID": "S1",
                "EXTRT": "OBE-CEL",
                "EXDOSE": "1",
                "EXDOSU": "10^6 CELLS/KG",
                "EXSTDTC": "2024-05-06T10:00",
            },
        ],
        "VS": [
            {
                "USUBJID": "S1",
                "VSTESTCD": "WEIGHT",
                "VSORRES": "154",
                "VSORRESU": "LB",
                "VSDTC": "2024-04-20",
            },
            {
                "USUBJID": "S1",
                "VSTESTCD": "BSA",
                "VSORRES": "1.8",
                "VSORRESU": "m2",
                "VSDTC": "2024-04-20",
            },
            {
                "USUBJID": "S1",
                "VSTESTCD": "TEMP",
                "VSORRES": "101.3",
                "VSORRESU": "F",
                "VSDTC": "2024-05-07",
            },
        ],
    }
    base.update({k.upper(): v for k, v in tables.items()})
    for name, rows in base.items():
        pd.DataFrame(rows).to_csv(folder / f"{name.lower()}.csv", index=False)
    return folder


def _loaded(folder):
    """The study of a folder that must load without a problem."""
    study = load_sdtm(folder)
    assert not study.problems, study.problems
    return study


def test_site_units_are_normalised(tmp_path):
    folder = _study(
        tmp_path,
        LB=[
            {
                "USUBJID": "S1",
                "LBTESTCD": "ANC",
                "LBORRES": "400",
                "LBORRESU": "cells/uL",
                "LBDTC": "2024-05-09T10:00",
            },
            {
                "USUBJID": "S1",
                "LBTESTCD": "C3",
                "LBSTRESN": "72",
                "LBSTRESU": "mg/dL",
                "LBSTNRLO": "90",
                "LBSTNRHI": "180",
                "LBDTC": "2024-05-13",
            },
            {
                "USUBJID": "S1",
                "LBTESTCD": "CD19",
                "LBORRES": "<0.001",
                "LBORRESU": "10^9/L",
                "LBDTC": "2024-05-20",
            },
            {
                "USUBJID": "S1",
                "LBTESTCD": "ALB",
                "LBORRES": "40",
                "LBORRESU": "g/L",
                "LBDTC": "2024-05-20",
            },
        ],
        PC=[
            {
                "USUBJID": "S1",
                "PCTESTCD": "CARTCELL",
                "PCORRES": "25000",
                "PCORRESU": "cells/mL",
                "PCDTC": "2024-05-13T10:00",
            },
            {
                "USUBJID": "S1",
                "PCTESTCD": "TRANSGEN",
                "PCSTRESC": "BLQ",
                "PCSTRESU": "copies/ug DNA",
                "PCLLOQ": "50",
                "PCDTC": "2024-06-05",
            },
        ],
    )
    study = _loaded(folder)
    ds = study.dataset
    obs = ds.observations.set_index("observable")
    assert obs.loc["anc_1e9_per_l", "value"] == pytest.approx(0.4) and obs.loc[
        "anc_1e9_per_l", "time"
    ] == pytest.approx(3.0)
    assert obs.loc["c3_g_per_l", "value"] == pytest.approx(0.72)
    assert (
        obs.loc["car_t_cells_per_ul", "value"] == pytest.approx(25.0)
        and obs.loc["car_t_cells_per_ul", "time"] == 7.0
    )
    assert obs.loc["b_cells_per_ul", "censored"] and obs.loc[
        "b_cells_per_ul", "lloq"
    ] == pytest.approx(1.0)
    tg = obs.loc["transgene_copies_per_ug"]
    assert tg["censored"] and tg["value"] == 50.0 and tg["time"] == pytest.approx(30 - 10 / 24)
    s = ds.subjects.iloc[0]
    assert (
        s["weight_kg"] == pytest.approx(154 * 0.45359237)
        and s["bsa_m2"] == 1.8
        and s["age_years"] == 45
    )
    assert bool(s["female"]) and s["product"] == "OBE-CEL" and s["ld"] == "flu-cy"
    doses = ds.doses.set_index("kind")
    assert doses.loc["car_t", "amount"] == 1e6 and doses.loc["car_t", "unit"] == "cells/kg"
    assert doses.loc["cyclophosphamide", "amount"] == pytest.approx(500.0)  # 900 mg / 1.8 m2
    assert doses.loc["fludarabine", "time"] == pytest.approx(-5 - 10 / 24)
    r = ds.records["S1"]
    assert r.infusion.isoformat() == "2024-05-06T10:00:00"
    temp = next(v for v in r.vitals if v.code == "TEMP")
    assert (
        temp.std_value == pytest.approx(38.5) and temp.time == 1.0
    )  # record days count from the infusion day
    c3 = next(lab for lab in r.labs if lab.test == "C3")
    assert c3.std_ref_low == pytest.approx(0.9)
    assert any("ALB" in n for n in study.notes)
    assert any("'OBE-CEL' are not model products" in n and "--product" in n for n in study.notes)
    assert (
        load_sdtm(folder, product="autologous-cd19").dataset.subjects["product"].item()
        == "autologous-cd19"
    )


def test_ae_grades_dates_and_partial_dates(tmp_path):
    folder = _study(
        tmp_path,
        AE=[
            {
                "USUBJID": "S1",
                "AEDECOD": "Cytokine release syndrome",
                "AETOXGR": "2",
                "AESTDTC": "2024-05-07",
                "AEENDTC": "2024-05-09",
                "AESER": "Y",
                "AEREL": "RELATED",
            },
            {
                "USUBJID": "S1",
                "AEDECOD": "Pneumonia",
                "AESEV": "SEVERE",
                "AESTDTC": "2024-06-01",
                "AEENDTC": "",
            },
            {
                "USUBJID": "S1",
                "AEDECOD": "Headache",
                "AETOXGR": "1",
                "AESTDTC": "2024-06",
                "AEENDTC": "",
            },
        ],
    )
    study = _loaded(folder)
    crs, pneu = study.dataset.records["S1"].adverse_events
    assert (
        crs.category,
        crs.grade,
        crs.scale,
        crs.start,
        crs.end,
        crs.serious,
        crs.relatedness,
    ) == ("crs", 2, "astct-2019", 1.0, 3.0, True, "probable")
    assert (pneu.category, pneu.grade, pneu.scale, pneu.end) == ("infection", 3, "other", None)
    assert any(
        "AESTDTC: 1 row(s) with a partial or missing date" in n and "rows 4" in n
        for n in study.notes
    )
    assert any("taken from AESEV" in n for n in study.notes)


def test_problems_name_file_row_and_column(tmp_path):
    folder = _study(
        tmp_path,
        LB=[
            {
                "USUBJID": "S1",
                "LBTESTCD": "PLAT",
                "LBORRES": "88",
                "LBORRESU": "furlongs",
                "LBDTC": "2024-05-09",
            },
            {
                "USUBJID": "S9",
                "LBTESTCD": "PLAT",
                "LBORRES": "88",
                "LBORRESU": "10^9/L",
                "LBDTC": "2024-05-09",
            },
        ],
        AE=[
            {"USUBJID": "S1", "AEDECOD": "Rash", "AETOXGR": "7", "AESTDTC": "2024-05-09"},
            {
                "USUBJID": "S1",
                "AEDECOD": "Rash",
                "AETOXGR": "1",
                "AESTDTC": "2024-05-09",
                "AEENDTC": "2024-05-01",
            },
        ],
        VS=[
            {
                "USUBJID": "S1",
                "VSTESTCD": "TEMP",
                "VSORRES": "80",
                "VSORRESU": "C",
                "VSDTC": "2024-05-07",
            }
        ],
        QS=[
            {
                "USUBJID": "S1",
                "QSCAT": "SLEDAI-2K",
                "QSTESTCD": "ARTHRITIS",
                "QSORRES": "Y",
                "QSDTC": "2024-05-01",
            },
            {
                "USUBJID": "S1",
                "QSCAT": "SLEDAI-2K",
                "QSTESTCD": "SLEEPY",
                "QSORRES": "Y",
                "QSDTC": "2024-05-01",
            },
        ],
    )
    with pytest.raises(DataValidationError) as err:
        read_sdtm(folder)
    where = {(p.file.rsplit("/", 1)[-1], p.row, p.column) for p in err.value.problems}
    assert ("lb.csv", 2, "LBORRESU") in where  # unknown unit
    assert ("lb.csv", 3, "USUBJID") in where  # subject not in DM
    assert ("ae.csv", 2, "AETOXGR") in where
    assert ("ae.csv", 3, "AEENDTC") in where  # resolution before onset
    assert ("vs.csv", 2, "VSORRES") in where  # 80 degC is impossible
    assert ("qs.csv", 2, "QSSTRESN") in where  # arthritis without a joint count
    assert ("qs.csv", 3, "QSTESTCD") in where  # not a SLEDAI-2K descriptor
    assert "unknown unit 'furlongs'" in str(err.value)


def test_missing_domains_and_unreadable_input(tmp_path):
    folder = _study(tmp_path)
    (folder / "ex.csv").unlink()
    with pytest.raises(
        DataValidationError, match=r"no EX table \(ex.xpt or ex.csv\): day 0 is the CAR-T infusion"
    ):
        read_sdtm(folder)
    (folder / "dm.csv").unlink()
    with pytest.raises(DataValidationError, match="no DM table"):
        read_sdtm(folder)
    with pytest.raises(DataError, match="no such folder"):
        read_sdtm(tmp_path / "nowhere")
    (folder / "vs.csv").unlink()
    with pytest.raises(DataError, match="no SDTM tables"):
        read_sdtm(folder)


def test_cdisc_pilot_loads_what_it_can(pilot):
    """Real SDTM from the CDISC pilot (an Alzheimer's study of xanomeline, SAS XPORT)."""
    study = load_sdtm(pilot)
    assert set(study.files) == {"DM", "EX", "AE"} and study.rows["DM"] == 306
    assert study.dataset is None and len(study.problems) == 1
    # every subject's demographics and adverse events are records, on calendar dates
    assert len(study.records) == 306
    r = study.records["01-701-1015"]
    assert r.age_years == 63 and r.infusion is None and not r.has_day_zero
    ae = r.adverse_events[0]
    assert ae.term == "APPLICATION SITE ERYTHEMA" and ae.grade == 1 and ae.start == date(2014, 1, 3)
    n_ae = sum(len(x.adverse_events) for x in study.records.values())
    assert n_ae == 1191 - 26  # the 26 with partial onset dates are listed in the notes
    notes = " ".join(study.notes)
    assert "26 row(s) with a partial or missing date" in notes
    assert "domains absent: LB" in notes and "PC (CAR-T kinetics" in notes


def test_cdisc_pilot_exact_error(pilot):
    with pytest.raises(DataValidationError) as err:
        read_sdtm(pilot)
    (problem,) = err.value.problems
    assert problem.file.endswith("ex.xpt") and problem.column == "EXTRT"
    assert "EX has no CAR-T administration" in str(err.value)
    assert "EXTRT values are PLACEBO, XANOMELINE" in str(err.value)
    assert "pass --car-t-treatment NAME" in str(err.value)
    # naming the study drug as the CAR-T product fails on its unit, row by row
    with pytest.raises(DataValidationError) as err:
        read_sdtm(pilot, car_t_treatment="Xanomeline")
    first = err.value.problems[0]
    assert first.column == "EXDOSU" and isinstance(first.row, int)
    assert "'mg' is not a CAR-T dose unit" in str(first)
    assert len(err.value.problems) == 365  # one per XANOMELINE row of EX


def test_cp_domain_urine_tests_and_lloq_column(tmp_path):
    folder = _study(
        tmp_path,
        CP=[
            {
                "USUBJID": "S1",
                "CPTESTCD": "CD19",
                "CPORRES": "0.004",
                "CPORRESU": "10^9/L",
                "CPLLOQ": "0.001",
                "CPDTC": "2024-05-20T10:00",
            },
            {
                "USUBJID": "S1",
                "CPTESTCD": "CARTPCT",
                "CPSTRESN": "12.5",
                "CPSTRESU": "%",
                "CPDTC": "2024-05-13T10:00",
            },
            {
                "USUBJID": "S1",
                "CPTESTCD": "CD3",
                "CPORRES": "500",
                "CPORRESU": "/uL",
                "CPDTC": "2024-05-13",
            },
        ],
        LB=[
            {
                "USUBJID": "S1",
                "LBTESTCD": "PROT",
                "LBSPEC": "URINE",
                "LBORRES": "850",
                "LBORRESU": "mg/24h",
                "LBDTC": "2024-05-13",
            },
            {
                "USUBJID": "S1",
                "LBTESTCD": "IL6",
                "LBSTRESN": "0.9",
                "LBSTRESU": "ng/L",
                "LBLLOQ": "1.5",
                "LBDTC": "2024-05-07T10:00",
            },
            {
                "USUBJID": "S1",
                "LBTESTCD": "DSDNA",
                "LBSTRESC": "<10",
                "LBSTRESU": "IU/mL",
                "LBDTC": "2024-06-05",
            },
        ],
    )
    study = _loaded(folder)
    obs = study.dataset.observations.set_index("observable")
    assert obs.loc["b_cells_per_ul", "value"] == pytest.approx(4.0)  # 0.004 x 10^9/L = 4 cells/uL
    assert (
        obs.loc["b_cells_per_ul", "lloq"] == pytest.approx(1.0)
        and not obs.loc["b_cells_per_ul", "censored"]
    )
    assert obs.loc["car_pct_of_t", "value"] == 12.5 and obs.loc["car_pct_of_t", "time"] == 7.0
    # a value reported below its LBLLOQ is censored at the LLOQ
    assert obs.loc["il6_pg_per_ml", "censored"] and obs.loc["il6_pg_per_ml", "value"] == 1.5
    assert (
        obs.loc["anti_dsdna_iu_per_ml", "censored"]
        and obs.loc["anti_dsdna_iu_per_ml", "lloq"] == 10.0
    )
    labs = study.dataset.records["S1"].labs
    prot = next(lab for lab in labs if lab.test == "PROT")
    assert prot.is_urine() and prot.std_value == pytest.approx(0.85)
    assert "proteinuria" not in set(obs.index)  # urine protein is a record, not a model read-out
    assert any("CD3" in n and "--pc-code" in n for n in study.notes)


def test_ex_pc_and_lb_rows_name_their_problems(tmp_path):
    """Dose, infusion-date, kinetics and lab row problems each name file, row and column."""
    ex = [
        ("FLUDARABINE", "30", "mg/m2", "2024-05"),
        ("CYCLOPHOSPHAMIDE", "900", "mg", "2024-05-03"),
        ("FLUDARABINE", "30", "mg/kg", "2024-05-02"),
        ("OBE-CEL", "1", "10^6 CELLS/KG", "2024-05-06T10:00"),
        ("OBE-CEL", "2", "10^6 CELLS/KG", "2024-05"),
        ("FLUDARABINE", "-5", "mg/m2", "2024-05-02"),
        ("OBE-CEL", "1", "mL", "2024-05-07"),
    ]
    folder = _study(
        tmp_path,
        EX=[
            {"USUBJID": "S1", "EXTRT": t, "EXDOSE": d, "EXDOSU": u, "EXSTDTC": w}
            for t, d, u, w in ex
        ],
        VS=[
            {
                "USUBJID": "S1",
                "VSTESTCD": "WEIGHT",
                "VSORRES": "70",
                "VSORRESU": "kg",
                "VSDTC": "2024-04-20",
            }
        ],
        PC=[
            {
                "USUBJID": "S1",
                "PCTESTCD": "CARTCELL",
                "PCSTRESC": "BLQ",
                "PCSTRESU": "cells/uL",
                "PCDTC": "2024-05-13",
            }
        ],
        LB=[
            {
                "USUBJID": "S1",
                "LBTESTCD": "NEUT",
                "LBORRES": "haemolysed",
                "LBORRESU": "10^9/L",
                "LBDTC": "2024-05-13",
            }
        ],
    )
    study = load_sdtm(folder)
    got = {(p.file.rsplit("/", 1)[-1], p.row, p.column, p.message) for p in study.problems}
    assert got == {
        ("ex.csv", 2, "EXSTDTC", "the fludarabine dose date '2024-05' is missing or partial"),
        (
            "ex.csv",
            4,
            "EXDOSU",
            "'mg/kg' is not a unit of a fludarabine dose; use mg/m2 (or mg with VS BSA)",
        ),
        (
            "ex.csv",
            6,
            "EXSTDTC",
            "the CAR-T infusion date '2024-05' is partial; day 0 needs a complete date",
        ),
        ("ex.csv", 7, "EXDOSE", "fludarabine dose -5 must be positive"),
        (
            "ex.csv",
            8,
            "EXDOSU",
            "'mL' is not a CAR-T dose unit; use cells, cells/kg, 10^6 cells or 10^6 cells/kg",
        ),
        (
            "pc.csv",
            2,
            "PCLLOQ",
            "result 'BLQ' is below the LLOQ but PCLLOQ is empty",
        ),
        (
            "ex.csv",
            3,
            "EXDOSU",
            "cyclophosphamide dose in mg but subject 'S1' has no BSA (VS BSA); give the dose in mg/m2",
        ),
    }
    assert study.dataset is None
    assert any(
        n.endswith("lb.csv row 2: NEUT result 'haemolysed' is not a number and is not used")
        for n in study.notes
    )
