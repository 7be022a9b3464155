"""Tables of the trial calendar: duration, patient-months, enrolled and infused patients.

``calendar`` has one row per arm and replicate trial; ``calendar_summary`` one row per arm with
the mean, median and 10th/90th percentiles of the durations and the mean counts. Both are
written to the run's ``results.duckdb`` beside the tables of :mod:`allocart.trial.summary`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocart.trial.pools import arms_of
from allocart.trial.protocol import Protocol
from allocart.trial.replicates import COUNT_NAMES, ChunkResult

__all__ = ["CALENDAR_TABLES", "calendar_tables"]

#: Tables written by :func:`calendar_tables`, in order.
CALENDAR_TABLES = ("calendar", "calendar_summary")

#: Per-trial times of the ``calendar`` table (months) and their meaning.
_TIMES = {
    "duration_months": "opening to the decision on the last cohort",
    "followup_end_months": "opening to the end of the last infused patient's follow-up",
    "patient_months": "months of follow-up of the infused patients, summed",
}


def calendar_tables(protocol: Protocol, chunks: list[ChunkResult]) -> dict[str, pd.DataFrame]:
    """The ``calendar`` and ``calendar_summary`` tables of a run's replicate chunks."""
    chunks = sorted(chunks, key=lambda c: c.first)
    rows, summary = [], []
    for arm in arms_of(protocol):
        a = arm.index
        times = {
            "duration_months": np.concatenate([c.duration[a] for c in chunks]),
            "followup_end_months": np.concatenate([c.followup_end[a] for c in chunks]),
            "patient_months": np.concatenate([c.patient_months[a] for c in chunks]),
        }
        counts = np.concatenate([c.counts[a] for c in chunks], axis=0)
        n = counts.shape[0]
        df = pd.DataFrame(
            {
                "arm": a,
                "arm_label": arm.label,
                "replicate": np.arange(n),
                **times,
                **{name: counts[:, i] for i, name in enumerate(COUNT_NAMES)},
            }
        )
        rows.append(df)
        row: dict[str, object] = {"arm": a, "arm_label": arm.label, "trials": n}
        for name, v in times.items():
            row[f"{name}_mean"] = float(v.mean())
            row[f"{name}_median"] = float(np.median(v))
            row[f"{name}_p10"] = float(np.quantile(v, 0.1))
            row[f"{name}_p90"] = float(np.quantile(v, 0.9))
        for i, name in enumerate(COUNT_NAMES):
            row[f"{name}_mean"] = float(counts[:, i].mean())
        enrolled = counts[:, COUNT_NAMES.index("n_enrolled")].sum()
        infused = counts[:, COUNT_NAMES.index("n_infused")].sum()
        row["infused_share"] = float(infused / enrolled) if enrolled else float("nan")
        summary.append(row)
    return {
        "calendar": pd.concat(rows, ignore_index=True),
        "calendar_summary": pd.DataFrame(summary),
    }
