"""The agreement of an export solved in R with ``allocart simulate --typical --states``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocart.model.equations import MODEL
from tests.model.export.agreement import MAX_REL_DIFF, worst_relative_difference
from tests.model.export.rscript import states_at


def check_r_solution(frame: pd.DataFrame, typical, export, export_times: np.ndarray) -> None:
    """``frame`` (R's solution: a ``time`` column in days and one column per state) agrees
    with allocart's typical patient within :data:`MAX_REL_DIFF` at every output day but the
    dose times, where R may report the state before the dose."""
    dose_times = {d.time for d in export.doses}
    keep = np.array([t not in dose_times for t in export_times[1:]])
    res = states_at(frame, "time", export_times[1:][keep], MODEL.state_names)
    rel, name = worst_relative_difference(res, typical.states[0][keep])
    assert rel <= MAX_REL_DIFF, (name, rel)
