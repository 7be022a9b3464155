"""Make the example dataset: six virtual patients exported as NONMEM CSV and SDTM tables.

Six patients of the index product (allogeneic CD19/CD20, 1e6 cells/kg after flu-cy) are
simulated for a year, sampled on a typical CAR-T schedule with residual error and LLOQ
censoring (:func:`allocart.data.dataset_from_simulation`), and written to

* ``examples/data/example_nonmem.csv``
* ``examples/data/example_sdtm/`` (dm, ex, lb, pc, vs tables as CSV)
* ``examples/data/one_patient.csv`` (the first patient alone, for the individual NUTS fit of
  the README: ``allocart fit examples/data/one_patient.csv --method nuts ...``)

The true parameters of each patient are written to ``examples/data/example_truth.csv`` so
that a fit of the data can be checked against them. Run from the repository root::

    .venv/bin/python examples/make_example_data.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from allocart.data import dataset_from_simulation, read_nonmem, read_sdtm, write_nonmem, write_sdtm
from allocart.model.parameters import load_default_parameters
from allocart.model.simulate import simulate

OUT = Path(__file__).parent / "data"
N_PATIENTS = 6
SIMULATION_SEED = 2025
NOISE_SEED = 8


def main() -> None:
    sim = simulate(
        "allogeneic-cd19cd20", "1e6/kg", "flu-cy", days=365.0, n=N_PATIENTS, seed=SIMULATION_SEED
    )
    ds = dataset_from_simulation(sim, seed=NOISE_SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    nm = write_nonmem(ds, OUT / "example_nonmem.csv")
    sd = write_sdtm(ds, OUT / "example_sdtm", study_id="ALLOCART-EXAMPLE")
    one = write_nonmem(ds.subset([ds.ids[0]]), OUT / "one_patient.csv")
    # the primary parameters that vary between patients, as simulated
    varying = [r.name for r in load_default_parameters().rows if r.iiv > 0]
    params = sim.batch.param_dict()
    truth = pd.DataFrame(
        {"id": ds.ids, "weight_kg": sim.batch.weight_kg, **{k: params[k] for k in varying}}
    )
    truth.to_csv(OUT / "example_truth.csv", index=False)
    # both files read back to the same data
    if not (read_nonmem(nm) == ds and read_sdtm(sd) == ds and read_nonmem(one) == ds.subset([ds.ids[0]])):
        raise SystemExit("the example files do not read back to the simulated dataset")
    print(
        f"wrote {nm}, {sd}/, {one} and {OUT / 'example_truth.csv'}: {len(ds)} patients, "
        f"{len(ds.observations)} observations"
    )


if __name__ == "__main__":
    main()
