"""Check a fit's individual intervals against known true values (simulated data).

For data simulated with known parameters (``examples/data/example_truth.csv`` beside the
shipped example, or the truth of any ``allocart data simulate`` run), the share of patients'
90% intervals that contain the true value is a direct check of the intervals. It fails when
the count of covered values is improbably low for the nominal level: the one-sided binomial
probability of so few is below :data:`ALPHA`. A fit whose intervals are conditional on
parameters held at their typical values, while the data were made with those parameters
varying between patients, fails it: on the shipped example, 7 of 30 (NONMEM file) and 9 of
30 (SDTM folder) individual 90% intervals contained the truth (docs/fitting.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from allocart.fit.residual import FitError
from allocart.fit.result import FitResult

__all__ = ["ALPHA", "LEVEL", "read_truth", "individual_coverage"]

ALPHA = 0.01
"""The check fails when ``P(X <= covered)`` under ``Binomial(n, level)`` is below this."""

LEVEL = 0.90
"""Level of the individual intervals (the estimates' q05 and q95)."""


def read_truth(path: str | Path):
    """A CSV of true values: a column ``id`` and one column per parameter (natural units)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FitError(f"truth: {str(p)!r} is not a file", argument="truth")
    try:
        frame = pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise FitError(
            f"truth: {str(p)!r} is not a readable CSV ({exc})", argument="truth"
        ) from None
    if "id" not in frame.columns:
        raise FitError(f"truth: {str(p)!r} has no column `id`", argument="truth")
    frame["id"] = frame["id"].astype(str)
    return frame


def individual_coverage(
    result: FitResult, truth, *, level: float = LEVEL, alpha: float = ALPHA
) -> dict[str, Any]:
    """How many patients' ``level`` intervals contain the true value.

    Parameters
    ----------
    result : FitResult
    truth : pandas.DataFrame
        Column ``id`` and one column per estimated parameter (natural units); patients of the
        fit missing from it are skipped (and listed).

    Returns
    -------
    dict
        ``covered``, ``n``, ``expected``, ``p_value`` (one-sided binomial probability of so few),
        ``passed``, ``level``, ``per_parameter`` ({name: {covered, n}}), ``rows`` (one per
        patient and parameter: id, parameter, q05, q95, true, covered) and ``missing_ids``.

    Raises
    ------
    FitError
        If an estimated parameter has no column in ``truth``, or no patient is in it.
    """
    from scipy import stats

    names = list(result.param_names)
    missing_cols = [p for p in names if p not in truth.columns]
    if missing_cols:
        raise FitError(
            f"truth: no column for the estimated parameter(s) {', '.join(missing_cols)}",
            argument="truth",
        )
    tab = truth.assign(id=truth["id"].astype(str)).drop_duplicates("id").set_index("id")
    flat = result.flat_theta()
    q_lo, q_hi = 0.5 - level / 2, 0.5 + level / 2
    rows, missing = [], []
    per = {p: {"covered": 0, "n": 0} for p in names}
    for i, sid in enumerate(result.problem.ids):
        if str(sid) not in tab.index:
            missing.append(str(sid))
            continue
        for j, p in enumerate(names):
            true = float(tab.loc[str(sid), p])
            if not np.isfinite(true):
                continue
            lo, hi = np.quantile(flat[:, i, j], [q_lo, q_hi])
            ok = bool(lo <= true <= hi)
            rows.append(
                {
                    "id": str(sid),
                    "parameter": p,
                    "q05": float(lo),
                    "q95": float(hi),
                    "true": true,
                    "covered": ok,
                }
            )
            per[p]["covered"] += int(ok)
            per[p]["n"] += 1
    if not rows:
        raise FitError(
            "truth: none of the fitted patients has true values in the file "
            f"(ids in the fit: {', '.join(map(str, result.problem.ids[:5]))}...)",
            argument="truth",
        )
    n = len(rows)
    covered = sum(bool(r["covered"]) for r in rows)
    p_value = float(stats.binom.cdf(covered, n, level))
    return {
        "level": level,
        "covered": covered,
        "n": n,
        "expected": level * n,
        "p_value": p_value,
        "alpha": alpha,
        "passed": bool(p_value >= alpha),
        "per_parameter": per,
        "rows": rows,
        "missing_ids": missing,
    }
