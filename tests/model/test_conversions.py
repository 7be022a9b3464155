"""Simulation results convert to pandas (long table) and xarray (patients × time)."""

from __future__ import annotations

import numpy as np

import allocart as ac


def test_xarray_and_frame_hold_the_same_numbers():
    sim = ac.simulate("allogeneic-cd19cd20", "3e8", "flu-cy", n=3, seed=1, days=20)
    ds = sim.to_xarray(states=True)
    frame = sim.to_frame(states=True)
    assert dict(ds.sizes) == {"id": 3, "time": 21}
    assert ds.attrs["product"] == "allogeneic-cd19cd20"
    for name in ("car_t_cells_per_ul", "b_cells_per_ul", "E"):
        wide = frame.pivot(index="id", columns="time", values=name).to_numpy()
        np.testing.assert_array_equal(ds[name].to_numpy(), wide)
    np.testing.assert_array_equal(ds["status"].to_numpy(), sim.status)
    # Selecting by label works as for any xarray dataset.
    day7 = ds["b_cells_per_ul"].sel(time=7.0).to_numpy()
    np.testing.assert_array_equal(day7, frame.loc[frame.time == 7.0, "b_cells_per_ul"].to_numpy())
