"""Building a fitting problem from a dataset: arrays, priors and errors that name the field."""

import math

import numpy as np
import pandas as pd
import pytest

from allocart.data import Dataset
from allocart.fit.problem import build_problem, estimated_parameters
from allocart.fit.residual import FitError


def test_priors_come_from_the_table_iiv():
    from allocart.model.parameters import load_default_parameters

    tab = load_default_parameters()
    (rho,) = estimated_parameters(["rho_E"], tab)
    assert rho.transform == "log"
    assert rho.prior_mean == pytest.approx(math.log(tab["rho_E"].value))
    assert rho.prior_sd == pytest.approx(math.sqrt(math.log1p(tab["rho_E"].iiv ** 2)))
    (tau,) = estimated_parameters(["tau_BM"], tab)  # a fraction in [0, 1]: logit scale
    assert tau.transform == "logit"


@pytest.mark.parametrize(
    "names, match",
    [
        (["nope"], "unknown parameter `nope`"),
        (["theta_Phi"], "no between-patient variability"),
        (["m_allo"], "fixed by the product"),
        (["rho_E", "rho_E"], "twice"),
        ([], "at least one"),
    ],
)
def test_bad_parameter_choices(names, match):
    with pytest.raises(FitError, match=match):
        estimated_parameters(names)


def _dataset(**over):
    subjects = pd.DataFrame(
        {"id": ["P1"], "product": ["allogeneic-cd19"], "ld": ["flu-cy"], "weight_kg": [70.0]}
    )
    doses = pd.DataFrame(
        {
            "id": ["P1"] * 2,
            "time": [-3.0, 0.0],
            "kind": ["cyclophosphamide", "car_t"],
            "amount": [1000.0, 1e6],
            "unit": ["mg/m2", "cells/kg"],
        }
    )
    obs = pd.DataFrame(
        {
            "id": ["P1"] * 3,
            "time": [7.0, 7.0, 28.0],
            "observable": ["car_t_cells_per_ul", "b_cells_per_ul", "b_cells_per_ul"],
            "value": [20.0, 1.0, 1.0],
            "lloq": [0.1, 1.0, 1.0],
            "censored": [False, True, True],
        }
    )
    parts = {"subjects": subjects, "doses": doses, "observations": obs}
    parts.update(over)
    return Dataset(**parts, source="test.csv")


def test_arrays_of_one_patient():
    pb = build_problem(_dataset(), ["rho_E", "k_mat"])
    assert pb.observables == ("car_t_cells_per_ul", "b_cells_per_ul")
    assert pb.obs_time[0].tolist() == [7.0, 28.0]
    assert pb.mask.sum() == 3 and pb.censored.sum() == 2
    assert pb.ev_cells[0].max() == pytest.approx(70.0 * 1e6)  # cells/kg times weight
    assert pb.t0[0] == -5.0
    idx = pb.table.names.index("m_allo")
    assert pb.base[0, idx] == 1.0  # allogeneic, HLA intact: full mismatch from the product


def test_missing_product_weight_or_dose_are_named():
    ds = _dataset(subjects=pd.DataFrame({"id": ["P1"], "product": [None], "weight_kg": [70.0]}))
    with pytest.raises(FitError, match="no product"):
        build_problem(ds, ["rho_E"])
    ds = _dataset(
        subjects=pd.DataFrame({"id": ["P1"], "product": ["allogeneic-cd19"], "weight_kg": [np.nan]})
    )
    with pytest.raises(FitError, match="weight_kg"):
        build_problem(ds, ["rho_E"])
    ds = _dataset(
        doses=pd.DataFrame(
            {
                "id": ["P1"],
                "time": [-3.0],
                "kind": ["cyclophosphamide"],
                "amount": [1000.0],
                "unit": ["mg/m2"],
            }
        )
    )
    with pytest.raises(FitError, match="no CAR-T dose"):
        build_problem(ds, ["rho_E"])
    ds = _dataset(
        subjects=pd.DataFrame({"id": ["P1"], "product": ["no-such-product"], "weight_kg": [70.0]})
    )
    with pytest.raises(FitError, match="P1"):
        build_problem(ds, ["rho_E"])
