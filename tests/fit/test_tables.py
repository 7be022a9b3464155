"""sdtab1, sdtab.csv, patab1 and parameters.csv of a fit: format, columns, one row per
observation, and PRED/IPRED against the engine's simulation at the same parameters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocart.fit.tables import (
    PARAMETER_COLUMNS,
    SDTAB_COLUMNS,
    iiv_cv_percent,
    write_nonmem_table,
)

#: PRED/IPRED come from the sensitivity solver, the reference from the batched engine, both at
#: rtol 1e-6: they agree to about 1e-5 relative (docs/fitting.md), so 1e-3 leaves room.
PRED_RTOL = 1e-3

#: Absolute tolerance in the read-out's unit: a CAR-T level decaying past 1e-16 cells/uL lies
#: far below both solvers' absolute tolerances (and 1e5 below the 0.1 cells/uL LLOQ), where
#: they legitimately differ by percents (measured: 1.5% at 1e-16); 1e-6 is 1e-2 of the
#: smallest prediction floor of the fitted read-outs (1e-4 cells/uL).
PRED_ATOL = 1e-6


def test_nonmem_table_format_and_round_trip(tmp_path):
    frame = pd.DataFrame({"ID": [1, 2], "TIME": [0.5, 365.25], "DV": [1.234567e-4, np.nan]})
    path = write_nonmem_table(frame.assign(NAME=["a", "b"]), tmp_path / "sdtab1")
    lines = path.read_text().splitlines()
    assert lines[0] == "TABLE NO.  1"
    assert lines[1].split() == ["ID", "TIME", "DV"]  # text columns are left out
    assert all(len(line) == 36 for line in lines[2:])  # 12 characters per value
    back = pd.read_csv(path, sep=r"\s+", skiprows=1)
    assert back["TIME"].tolist() == [0.5, 365.25] and math.isnan(back["DV"][1])
    assert back["DV"][0] == pytest.approx(1.2346e-4, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
        min_size=1,
        max_size=20,
    )
)
def test_nonmem_table_keeps_five_significant_digits(values):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = write_nonmem_table(pd.DataFrame({"X": values}), Path(d) / "t")
        back = pd.read_csv(path, sep=r"\s+", skiprows=1)["X"].to_numpy()
    # 4 decimals in E notation: rounding error at most half a unit in the 5th digit.
    np.testing.assert_allclose(back, values, rtol=5.01e-5, atol=1e-300)


def test_iiv_cv_matches_a_log_normal_sample():
    rng = np.random.default_rng(0)
    x = np.exp(0.4 * rng.standard_normal(400_000))
    # Monte-Carlo SE of a CV estimate from 4e5 draws is ~0.1% of 41%: 1% relative is ample.
    assert iiv_cv_percent(0.4, "log") == pytest.approx(100 * x.std() / x.mean(), rel=0.01)
    assert iiv_cv_percent(0.4, "logit") == pytest.approx(40.0)


def test_sdtab_has_one_row_per_observation_and_the_standard_columns(one_patient_outputs):
    result, paths, tables = one_patient_outputs
    pb = result.problem
    sd = pd.read_csv(paths["sdtab_csv"])
    assert tuple(sd.columns) == SDTAB_COLUMNS + ("USUBJID", "OBSNAME")
    assert len(sd) == int(pb.mask.sum())
    assert set(sd["OBSNAME"]) == set(pb.observables) and (sd["MDV"] == 0).all()
    assert (sd["BLQ"] == 1).sum() == int((pb.censored & pb.mask).sum())
    nm = pd.read_csv(paths["sdtab"], sep=r"\s+", skiprows=1)
    assert tuple(nm.columns) == SDTAB_COLUMNS and len(nm) == len(sd)
    np.testing.assert_allclose(nm["DV"], sd["DV"], rtol=5.01e-5)
    quant = sd["BLQ"] == 0
    for col in ("RES", "IRES", "WRES", "IWRES", "CWRES"):
        assert sd.loc[quant, col].notna().all() and sd.loc[~quant, col].isna().all()
    assert sd["NPDE"].notna().all() and sd["PD"].between(0, 1).all()
    patab = pd.read_csv(paths["patab"], sep=r"\s+", skiprows=1)
    assert list(patab.columns[1 : 1 + pb.k]) == list(pb.param_names) and len(patab) == pb.n


def test_pred_and_ipred_equal_the_engine_simulation(one_patient_outputs):
    """IPRED at the individual estimates, PRED at the population values (here the table's
    typical values, the prior of an individual fit: every eta zero), both against the batched
    engine behind ``allocart simulate``."""
    from allocart.fit.predictive import population_point, row_predictions

    result, _, tables = one_patient_outputs
    pb = result.problem
    sd = tables.sdtab
    pop = population_point(result)
    assert pop.source == "prior"
    np.testing.assert_allclose(pb.to_natural(pop.mu), [p.typical for p in pb.params])
    rows = np.flatnonzero(pb.mask[0])
    times = pb.obs_time[0][pb.row_t[0]]
    order = np.lexsort((rows, times[rows]))
    for col, theta in (("IPRED", result.mode[0]), ("PRED", pb.to_natural(pop.mu))):
        ref, ok = row_predictions(result, 0, theta[None])
        assert ok.all()
        np.testing.assert_allclose(sd[col], ref[0, rows[order]], rtol=PRED_RTOL, atol=PRED_ATOL)


def test_iwres_and_ires_are_the_hand_formulas(one_patient_outputs):
    """Proportional errors on the log scale: IWRES = (log DV - log(IPRED + floor)) / sigma_log
    and IRES = IWRES * sigma_log."""
    result, _, tables = one_patient_outputs
    sd = tables.sdtab[tables.sdtab["BLQ"] == 0]
    err = result.problem.residual
    sig = np.array([err[o].sigma_log for o in sd["OBSNAME"]])
    floor = np.array([err[o].floor for o in sd["OBSNAME"]])
    iw = (np.log(sd["DV"]) - np.log(sd["IPRED"] + floor)) / sig
    np.testing.assert_allclose(sd["IWRES"], iw, rtol=1e-10)
    np.testing.assert_allclose(sd["IRES"], iw * sig, rtol=1e-10)


def test_parameter_table(one_patient_outputs):
    result, paths, _ = one_patient_outputs
    par = pd.read_csv(paths["parameters"])
    assert tuple(par.columns) == PARAMETER_COLUMNS
    typ = par[par["kind"] == "typical"].set_index("name")
    assert list(typ.index) == list(result.param_names)
    for p in result.problem.params:
        assert typ.loc[p.name, "estimate"] == pytest.approx(p.typical)
        assert typ.loc[p.name, "iiv_cv_pct"] == pytest.approx(
            iiv_cv_percent(p.prior_sd, p.transform)
        )
    res = par[par["kind"] == "residual"].set_index("name")
    assert list(res.index) == list(result.problem.observables)
    iw = pd.read_csv(paths["sdtab_csv"]).dropna(subset=["IWRES"])
    for o in result.problem.observables:
        want = 100 * (1 - iw.loc[iw["OBSNAME"] == o, "IWRES"].std(ddof=1))
        assert res.loc[o, "eps_shrinkage_pct"] == pytest.approx(want, rel=1e-9)
