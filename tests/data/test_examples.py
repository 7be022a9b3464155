"""The committed example dataset (examples/make_example_data.py) loads in both formats."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from allocart.data import read_nonmem, read_sdtm

EXAMPLES = Path(__file__).parents[2] / "examples" / "data"


def test_example_files_agree():
    nm = read_nonmem(EXAMPLES / "example_nonmem.csv")
    sd = read_sdtm(EXAMPLES / "example_sdtm")
    assert nm == sd, nm.differences(sd)
    assert len(nm) == 6 and set(nm.doses["kind"]) == {"car_t", "fludarabine", "cyclophosphamide"}
    truth = pd.read_csv(EXAMPLES / "example_truth.csv")
    assert list(truth["id"]) == list(nm.ids)
    assert (truth["weight_kg"] - nm.subjects["weight_kg"]).abs().max() < 1e-9
    # the data carry censored rows for the fit's censored likelihood
    assert nm.observations["censored"].sum() > 0
