"""Fixtures of the export tests: one scenario, its typical-patient simulation and exports."""

from __future__ import annotations

import numpy as np
import pytest

from allocart.model.export import build_export
from allocart.model.simulate import simulate


@pytest.fixture(scope="package")
def typical():
    """allocart simulate --typical --states of the index product (flu-cy, 1e6/kg, 365 days)."""
    return simulate("allogeneic-cd19cd20", "1e6/kg", "flu-cy", typical=True, days=365, dt=1.0)


@pytest.fixture(scope="package")
def export(typical):
    return build_export(typical.scenario)


@pytest.fixture(scope="package")
def export_times(typical) -> np.ndarray:
    """Time 0 (the scenario's start) then allocart's output days on the export's time axis."""
    return np.concatenate([[0.0], typical.time - typical.batch.t0])
