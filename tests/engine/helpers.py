"""Shared inputs of the engine tests."""

from __future__ import annotations

import numpy as np


def lotka_patients(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(y0, params)`` of ``n`` Lotka-Volterra patients (``LOTKA_SRC`` in conftest.py) with
    parameters within 20% of a cycle of period ~ 9 days (2 pi / sqrt(1 * 0.5)): prey 30-50,
    predators 5-15."""
    params = np.column_stack(
        [
            rng.uniform(0.8, 1.2, n),
            rng.uniform(0.015, 0.025, n),
            rng.uniform(0.4, 0.6, n),
            rng.uniform(0.008, 0.012, n),
        ]
    )
    y0 = np.column_stack([rng.uniform(30, 50, n), rng.uniform(5, 15, n)])
    return y0, params
