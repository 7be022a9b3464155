"""The Dataset: canonical form, validation, subsets, equality, sampling from a simulation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from allocart.data import (
    OBSERVABLES,
    DataError,
    Dataset,
    DataValidationError,
    dataset_from_simulation,
)
from allocart.errors import AllocartError, DatasetError


def test_dataerror_is_the_dataset_error_of_the_hierarchy():
    assert DataError is DatasetError and issubclass(DataValidationError, AllocartError)


def test_canonical_form_sorts_and_types(hand):
    obs = hand.observations
    assert list(obs.columns) == ["id", "time", "observable", "value", "lloq", "censored"]
    assert obs["censored"].dtype == bool and obs["time"].dtype == float
    # sorted by subject, then time
    for _, g in obs.groupby("id"):
        assert g["time"].is_monotonic_increasing
    assert list(hand.subjects.columns)[:2] == ["id", "product"]
    assert hand.subjects["female"].dtype.name == "boolean"
    assert hand.ids == ("P-01", "P-02")


def test_validate_names_table_row_and_column():
    ds = Dataset(
        subjects=pd.DataFrame({"id": ["A", "A"], "weight_kg": [60.0, 900.0]}),
        doses=pd.DataFrame(
            {"id": ["A"], "time": [2.0], "kind": ["car_t"], "amount": [1e6], "unit": ["mg"]}
        ),
        observations=pd.DataFrame(
            {
                "id": ["B"],
                "time": [1.0],
                "observable": ["cd4"],
                "value": [-1.0],
                "lloq": [float("nan")],
                "censored": [True],
            }
        ),
        source="trial.csv",
    )
    with pytest.raises(DataValidationError) as err:
        ds.validate()
    found = {(p.file, p.row, p.column) for p in err.value.problems}
    assert ("trial.csv [subjects]", 1, "id") in found  # duplicate
    assert ("trial.csv [subjects]", 1, "weight_kg") in found  # 900 kg
    assert ("trial.csv [doses]", 0, "unit") in found  # mg for cells
    assert ("trial.csv [doses]", 0, "time") in found  # first CAR-T not at day 0
    assert ("trial.csv [observations]", 0, "id") in found
    assert ("trial.csv [observations]", 0, "observable") in found
    assert ("trial.csv [observations]", 0, "value") in found
    assert ("trial.csv [observations]", 0, "lloq") in found  # censored without LLOQ
    assert "row 1, column weight_kg" in str(err.value)


def test_validate_checks_subject_and_time_of_doses_and_observations_alike():
    ds = Dataset(
        subjects=pd.DataFrame({"id": ["A"]}),
        doses=pd.DataFrame(
            {
                "id": ["A", "Z"],
                "time": [0.0, "soon"],
                "kind": ["car_t", "car_t"],
                "amount": [1e6, 1e6],
                "unit": ["cells", "cells"],
            }
        ),
        observations=pd.DataFrame(
            {
                "id": ["A", "Y"],
                "time": [None, 3.0],
                "observable": ["b_cells_per_ul", "b_cells_per_ul"],
                "value": [1.0, 2.0],
            }
        ),
        source="t.csv",
    )
    assert [str(p) for p in ds.problems()] == [
        "t.csv [doses], row 1, column id: subject 'Z' is not in `subjects`",
        "t.csv [doses], row 1, column time: missing or non-numeric time (days after infusion)",
        "t.csv [observations], row 0, column time: missing or non-numeric time (days after infusion)",
        "t.csv [observations], row 1, column id: subject 'Y' is not in `subjects`",
    ]


def test_subset_and_unknown_id(hand):
    sub = hand.subset(["P-02"])
    assert (
        sub.ids == ("P-02",)
        and set(sub.observations["id"]) == {"P-02"}
        and list(sub.records) == ["P-02"]
    )
    assert sub != hand
    with pytest.raises(DataError, match="'X-9' not in the dataset"):
        hand.subset(["X-9"])


def test_equality_tolerances(hand):
    obs = hand.observations.copy()
    obs.loc[0, "time"] += 0.5 / 86400  # half a second: equal
    assert Dataset(hand.subjects, hand.doses, obs, hand.records) == hand
    obs.loc[0, "value"] *= 1 + 1e-6  # a real change
    other = Dataset(hand.subjects, hand.doses, obs, hand.records)
    assert other != hand
    assert "observations row 0 column value" in hand.differences(other)[0]


def test_from_simulation_is_seeded_and_censored(simulated):
    sim, ds = simulated
    again = dataset_from_simulation(sim, seed=5)
    assert again == ds
    assert dataset_from_simulation(sim, seed=6) != ds
    # every sampled read-out is there, at the default days within the horizon
    assert set(ds.observations["observable"]) == set(OBSERVABLES)
    days = sorted(set(ds.observations["time"]))
    assert days == [0, 1, 3, 7, 10, 14, 21, 28, 42, 56, 90, 120]
    cens = ds.observations[ds.observations["censored"]]
    assert len(cens) > 0 and (cens["value"] == cens["lloq"]).all()
    # transgene LLOQ is the model parameter of each patient
    tg = ds.observations_of("transgene_copies_per_ug")
    assert np.allclose(tg["lloq"], sim.batch.param_dict()["LLOQ_transgene"][0])
    # doses: flu-cy on days -5..-3 and the CAR-T at day 0 per kg
    d = ds.doses[ds.doses["id"] == "SIM-001"]
    assert list(d["kind"]) == [
        "fludarabine",
        "fludarabine",
        "cyclophosphamide",
        "fludarabine",
        "car_t",
    ]
    assert d[d["kind"] == "car_t"]["unit"].item() == "cells/kg"
    assert np.allclose(ds.subjects["weight_kg"], sim.batch.weight_kg)
    # the records mirror the quantified lab read-outs
    n_lab = int(
        (
            ~ds.observations["censored"]
            & ds.observations["observable"].map(lambda o: OBSERVABLES[o].domain == "LB")
        ).sum()
    )
    assert sum(len(r.labs) for r in ds.records.values()) == n_lab


def test_from_simulation_residual_error_matches_its_cv(simulated):
    sim, _ = simulated
    # Without error and without LLOQ the data are the simulation itself.
    exact = dataset_from_simulation(
        sim, observables=["c3_g_per_l"], error_cv={"c3_g_per_l": 0.0}, seed=1
    )
    truth = sim.observables["c3_g_per_l"][0, [0, 1, 3, 7, 10, 14, 21, 28, 42, 56, 90, 120]]
    assert np.array_equal(
        exact.observations_of("c3_g_per_l").query("id == 'SIM-001'")["value"].to_numpy(), truth
    )
    # With CV 0.3 the log-ratio has SD sqrt(log(1.09)) = 0.2936; 3 patients x 12 days x 40
    # seeds = 1440 draws, SE of the SD ~ 0.2936/sqrt(2*1440) = 0.0055; tolerance 4 SE.
    ratios = []
    for seed in range(40):
        noisy = dataset_from_simulation(
            sim,
            observables=["c3_g_per_l"],
            error_cv={"c3_g_per_l": 0.3},
            seed=seed,
            with_records=False,
        )
        truth = sim.observables["c3_g_per_l"][
            :, [0, 1, 3, 7, 10, 14, 21, 28, 42, 56, 90, 120]
        ].reshape(-1)
        ratios.append(np.log(noisy.observations["value"].to_numpy() / truth))
    r = np.concatenate(ratios)
    assert abs(r.std() - math.sqrt(math.log1p(0.09))) < 4 * 0.0055
    assert abs(r.mean()) < 4 * 0.2936 / math.sqrt(len(r))


def test_from_simulation_errors(simulated):
    sim, _ = simulated
    with pytest.raises(DataError, match="not on the simulation grid"):
        dataset_from_simulation(sim, sample_days=(0.5,))
    with pytest.raises(DataError, match="'sledai' not model read-outs"):
        dataset_from_simulation(sim, observables=("sledai",))
    with pytest.raises(DataError, match="none lies within"):
        dataset_from_simulation(sim, sample_days=(500.0,))
