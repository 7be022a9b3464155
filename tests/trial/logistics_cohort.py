"""A test-only cohort stand-in with time to treatment: the fixed-probability stand-in of
:mod:`tests.trial.fake_cohort`, plus each person's wait and manufacturing outcome drawn from the
product's logistics (:func:`allocart.model.logistics.draw_logistics`; no flares, which need the
model)."""

from __future__ import annotations

import numpy as np

from allocart.model.logistics import draw_logistics
from tests.trial.fake_cohort import fake_simulate_cohort


def simulate_cohort_with_logistics(*args, logistics=None, **kw):
    """``fake_simulate_cohort`` with ``enrol_to_infusion_days``, ``infused``, ``not_infused_reason``."""
    res = fake_simulate_cohort(*args, **kw)
    if logistics is not None:
        seed = args[4] if len(args) > 4 else kw["seed"]
        d = draw_logistics(logistics, len(res.patients), seed)
        res.patients["enrol_to_infusion_days"] = d.wait_days
        res.patients["infused"] = ~d.manufacturing_failed
        res.patients["not_infused_reason"] = np.where(
            d.manufacturing_failed, "manufacturing_failure", None
        )
    return res
