"""The agreement the exports must show with ``allocart simulate --typical --states``."""

from __future__ import annotations

import numpy as np

from allocart.model.equations import MODEL

# The bound of the SBML test (tests/model/test_sbml.py): max relative difference on states
# above 1e-6 of their own maximum. allocart runs at rtol 1e-8 and the reader's LSODA at 1e-10,
# so solver error stays near 1e-6 (measured 8e-7); an error in a printed equation, value,
# initial state or dose shows as an error of order 1.
MAX_REL_DIFF = 1e-4
SIGNIFICANT = 1e-6


def worst_relative_difference(
    res: np.ndarray, ours: np.ndarray, names=MODEL.state_names
) -> tuple[float, str]:
    """Largest relative difference over significant values, and the state where it is."""
    worst = (0.0, "")
    for i, name in enumerate(names):
        mx = np.abs(ours[:, i]).max()
        mask = np.abs(ours[:, i]) > SIGNIFICANT * mx
        if mask.any():
            rel = float((np.abs(res[mask, i] - ours[mask, i]) / np.abs(ours[mask, i])).max())
            worst = max(worst, (rel, name))
    return worst
