"""SDTM written as SAS XPORT v5: read back by pandas.read_sas with the standard variables, and
by allocart's reader unchanged; the CDISC pilot's tables through the writer; random datasets."""

from __future__ import annotations

import math
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.data import (
    OBSERVABLES,
    Dataset,
    load_sdtm,
    read_sdtm,
    records_from_observations,
    write_sdtm,
)
from allocart.data.xpt import write_xpt
from allocart.errors import DataError
from tests.properties import fast

DOMAINS = ("ae", "dm", "ex", "lb", "pc", "qs", "vs")


def _sas(path: Path) -> pd.DataFrame:
    return pd.read_sas(path, format="xport", encoding="utf-8")


def _day(dtc: str, infusion: date) -> int:
    """Study day by hand: calendar days from the infusion date, plus one from it on."""
    d = (date.fromisoformat(dtc[:10]) - infusion).days
    return d + 1 if d >= 0 else d


def test_hand_dataset_round_trips_through_xpt(tmp_path, hand):
    folder = write_sdtm(hand, tmp_path / "study", table_format="xpt")
    assert sorted(p.name for p in folder.iterdir()) == [f"{d}.xpt" for d in DOMAINS]
    back = read_sdtm(folder)
    assert back == hand, back.differences(hand)


def test_xpt_tables_hold_the_standard_variables(tmp_path, hand):
    folder = write_sdtm(hand, tmp_path / "study", table_format="xpt", study_id="CART-01")
    dm = _sas(folder / "dm.xpt")
    for col in ("STUDYID", "DOMAIN", "USUBJID", "SEX", "RFSTDTC", "RFXSTDTC", "AGE", "ARM"):
        assert col in dm.columns
    assert dm["STUDYID"].tolist() == ["CART-01", "CART-01"]
    # P-01 is female; P-02's sex is unknown: U, not empty
    assert dm.set_index("USUBJID")["SEX"].to_dict() == {"P-01": "F", "P-02": "U"}
    assert dm["AGE"].iloc[0] == 34.0 and math.isnan(dm["AGE"].iloc[1])
    infusion = {"P-01": date(2025, 3, 3), "P-02": date(2025, 4, 7)}
    for name, dtc, dy in (
        ("ex", "EXSTDTC", "EXSTDY"),
        ("lb", "LBDTC", "LBDY"),
        ("pc", "PCDTC", "PCDY"),
        ("vs", "VSDTC", "VSDY"),
        ("qs", "QSDTC", "QSDY"),
        ("ae", "AESTDTC", "AESTDY"),
    ):
        t = _sas(folder / f"{name}.xpt")
        seq = f"{name.upper()}SEQ"
        for col in ("STUDYID", "DOMAIN", "USUBJID", seq, dtc, dy, "EPOCH"):
            assert col in t.columns, (name, col)
        assert (t["DOMAIN"] == name.upper()).all()
        assert t[seq].dtype == float and (t[seq] >= 1).all()
        assert (t[dy] != 0).all(), f"{name}: a study day 0"
        expected = [_day(d, infusion[s]) for d, s in zip(t[dtc], t["USUBJID"])]
        assert t[dy].astype(int).tolist() == expected
        if name != "ae":
            assert {"VISIT", "VISITNUM"} <= set(t.columns)
    ex = _sas(folder / "ex.xpt").set_index(["USUBJID", "EXTRT"])
    # fludarabine 5 days before the infusion: day -5, treatment epoch; the infusion: day 1
    assert ex.loc[("P-01", "FLUDARABINE"), "EXSTDY"] == -5
    assert ex.loc[("P-01", "FLUDARABINE"), "EPOCH"] == "TREATMENT"
    assert ex.loc[("P-01", "FLUDARABINE"), "VISIT"] == "LYMPHODEPLETION"
    assert ex.loc[("P-01", "allogeneic-cd19cd20"), "EXSTDY"] == 1
    assert ex.loc[("P-01", "allogeneic-cd19cd20"), "VISIT"] == "DAY 1"
    lb = _sas(folder / "lb.xpt")
    day7 = lb[(lb["USUBJID"] == "P-01") & (lb["LBTESTCD"] == "DSDNAAB")].iloc[0]
    assert (day7["LBDTC"], day7["LBDY"], day7["VISIT"], day7["EPOCH"]) == (
        "2025-03-10",
        8,
        "DAY 8",
        "FOLLOW-UP",
    )
    qs = _sas(folder / "qs.xpt")  # SLEDAI 7 days before the infusion: before lymphodepletion
    assert set(qs.loc[qs["QSCAT"] == "SLEDAI-2K", "EPOCH"]) == {"SCREENING"}
    ae = _sas(folder / "ae.xpt").set_index("AEDECOD")
    assert ae.loc["Cytokine release syndrome", "AESTDY"] == 2
    assert ae.loc["Cytokine release syndrome", "AEENDY"] == 5
    assert ae.loc["Cytokine release syndrome", "AESEV"] == "MODERATE"
    assert ae.loc["Neutropenia", "AESEV"] == "SEVERE"
    assert math.isnan(ae.loc["Neutropenia", "AEENDY"])


def test_xpt_variables_carry_labels_and_the_table_its_name(tmp_path, hand):
    folder = write_sdtm(hand, tmp_path / "study", table_format="xpt")
    _, meta = pyreadstat.read_xport(str(folder / "lb.xpt"), metadataonly=True)
    assert meta.table_name == "LB" and meta.file_label == "Laboratory Test Results"
    labels = meta.column_names_to_labels
    assert labels["USUBJID"] == "Unique Subject Identifier"
    assert labels["LBTESTCD"] == "Lab Test or Examination Short Name"
    assert labels["LBDY"] == "Study Day of Collection"
    assert all(labels[c] for c in meta.column_names), "a variable without a label"


def test_csv_writer_fills_the_same_standard_variables(tmp_path, hand):
    folder = write_sdtm(hand, tmp_path / "study")
    dm = pd.read_csv(folder / "dm.csv", dtype=str, keep_default_na=False)
    assert dm["SEX"].tolist() == ["F", "U"]
    vs = pd.read_csv(folder / "vs.csv")
    assert {"VSDY", "VISIT", "VISITNUM", "EPOCH"} <= set(vs.columns)
    assert (vs["VSDY"] != 0).all()


def test_a_format_switch_removes_the_other_tables(tmp_path, hand):
    folder = write_sdtm(hand, tmp_path / "study")
    write_sdtm(hand, folder, table_format="xpt")
    assert not list(folder.glob("*.csv"))
    write_sdtm(hand, folder)
    assert not list(folder.glob("*.xpt"))
    with pytest.raises(DataError, match="table_format: 'sas'"):
        write_sdtm(hand, folder, table_format="sas")


def test_xpt_limits_are_refused_in_one_line(tmp_path):
    frame = pd.DataFrame({"AETERM": ["x" * 201]})
    with pytest.raises(DataError, match="row 1, column AETERM: the text is longer than 200"):
        write_xpt(frame, tmp_path / "ae.xpt", name="AE")
    with pytest.raises(DataError, match="not a SAS XPORT v5 variable name"):
        write_xpt(pd.DataFrame({"LONGNAME9": [1.0]}), tmp_path / "x.xpt", name="X")
    with pytest.raises(DataError, match="row 2, column AGE: 'old' is not a number"):
        write_xpt(
            pd.DataFrame({"AGE": ["3", "old"]}), tmp_path / "x.xpt", name="X", numeric=["AGE"]
        )


# ----------------------------------------------------------------------------- the CDISC pilot


def test_cdisc_pilot_tables_round_trip_through_the_xpt_writer(pilot, tmp_path):
    """Each table of the CDISC pilot, re-written by allocart, is read back by pandas with the
    same columns and values, and allocart's reader finds the same records in the copy."""
    copy = tmp_path / "pilot"
    copy.mkdir()
    for path in sorted(pilot.glob("*.xpt")):
        original = pd.read_sas(path, format="xport", encoding="cp1252")
        numeric = [c for c in original.columns if original[c].dtype.kind == "f"]
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True, encoding="cp1252")
        write_xpt(
            original,
            copy / path.name,
            name=path.stem.upper(),
            label=meta.file_label or "",
            labels=meta.column_names_to_labels,
            numeric=numeric,
        )
        back = _sas(copy / path.name)
        assert list(back.columns) == list(original.columns), path.name
        for col in original.columns:
            if col in numeric:
                # IBM floats hold every IEEE double exactly; the pilot's stored zeros read as
                # 16**-65, the smallest IBM magnitude, and stay within 1e-70 of it
                np.testing.assert_allclose(back[col], original[col], rtol=0, atol=1e-70)
            else:
                texts = original[col].fillna("").astype(str)
                assert back[col].fillna("").astype(str).tolist() == texts.tolist(), (path.name, col)
    a, b = load_sdtm(pilot), load_sdtm(copy)
    assert set(a.files) == set(b.files) and a.rows == b.rows
    assert a.records == b.records
    assert len(a.problems) == len(b.problems) and len(a.notes) == len(b.notes)


# ----------------------------------------------------------------------------- random datasets

_PRODUCTS = st.sampled_from(["allogeneic-cd19cd20", "autologous-cd19", None])
_VALUES = st.floats(1e-4, 1e8, allow_nan=False)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """Valid datasets: 1-3 subjects with a CAR-T dose at day 0, perhaps lymphodepletion, and
    read-outs of every kind (quantified at or above their LLOQ, or censored at it)."""
    n = draw(st.integers(1, 3))
    ids = [f"S-{i:02d}{draw(st.sampled_from(['', 'a', 'é']))}" for i in range(n)]
    subjects, doses, obs = [], [], []
    first = date(2024, 1, 1)
    for sid in ids:
        infusion = first + timedelta(days=draw(st.integers(0, 3000)))
        hour = draw(st.sampled_from(["", "T09:30:00", "T14:05:17"]))
        subjects.append(
            {
                "id": sid,
                "product": draw(_PRODUCTS),
                "ld": None,  # set below when the subject has lymphodepletion doses
                "weight_kg": draw(st.one_of(st.just(math.nan), st.floats(30, 150))),
                "height_cm": draw(st.one_of(st.just(math.nan), st.floats(120, 210))),
                "age_years": draw(st.one_of(st.just(math.nan), st.integers(18, 90).map(float))),
                "female": draw(st.sampled_from([True, False, None])),
                "infusion_date": infusion.isoformat() + hour,
            }
        )
        unit = draw(st.sampled_from(["cells", "cells/kg"]))
        doses.append((sid, 0.0, "car_t", draw(st.floats(1e5, 1e9)), unit))
        ld_days = draw(st.lists(st.integers(-7, -2), max_size=3, unique=True))
        for day in ld_days:
            drug = draw(st.sampled_from(["fludarabine", "cyclophosphamide"]))
            doses.append((sid, float(day), drug, draw(st.floats(10, 1000)), "mg/m2"))
        if ld_days:  # the regimen is named on its EX rows (EXSCAT), so only with doses
            subjects[-1]["ld"] = "flu-cy"
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(list(OBSERVABLES)), st.floats(0, 400)),
                max_size=6,
                unique_by=lambda k: (k[0], round(k[1] * 86400)),
            )
        )
        for name, t in keys:
            lloq = draw(st.one_of(st.just(math.nan), st.floats(1e-3, 10)))
            censored = not math.isnan(lloq) and draw(st.booleans())
            value = lloq if censored else draw(_VALUES)
            if not math.isnan(lloq) and not censored:
                value = max(value, lloq)
            obs.append((sid, round(t * 86400) / 86400, name, value, lloq, censored))
    subj = pd.DataFrame(subjects)
    observations = pd.DataFrame(
        obs, columns=["id", "time", "observable", "value", "lloq", "censored"]
    )
    return Dataset(
        subjects=subj,
        doses=pd.DataFrame(doses, columns=["id", "time", "kind", "amount", "unit"]),
        observations=observations,
        records=records_from_observations(observations, subj),
        source="random",
    ).validate()


@fast(25)
@given(ds=datasets())
def test_random_datasets_survive_xpt_and_back(ds):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_sdtm(ds, Path(tmp) / "study", table_format="xpt")
        dm = _sas(folder / "dm.xpt")
        assert sorted(dm["USUBJID"]) == sorted(ds.ids)
        back = read_sdtm(folder)
        shutil.rmtree(folder)
    assert back == ds, back.differences(ds)
