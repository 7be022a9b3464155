"""Exact operating characteristics of the 3+3 design by enumeration.

Every 3+3 trial is a path through at most two cohorts per dose; each cohort contributes a
binomial(3, p_d) count of DLTs. Enumerating all paths with their probabilities gives the
operating characteristics without Monte-Carlo error (Lin & Shih 2001).

References
----------
Lin Y. and Shih W.J. (2001). Statistical properties of the traditional algorithm-based designs
for phase I cancer clinical trials. *Biostatistics* 2:203-215. doi:10.1093/biostatistics/2.2.203
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from allocart.design.base import ScenarioOutcomes
from allocart.design.oc import OCResult
from allocart.design.threeplusthree import MTD_FOUND, NO_DOSE, ThreePlusThree, step_3plus3

__all__ = ["exact_oc_3plus3"]


def exact_oc_3plus3(design: ThreePlusThree, scenario: ScenarioOutcomes) -> OCResult:
    """Operating characteristics of the 3+3 computed exactly.

    Parameters
    ----------
    design : ThreePlusThree
    scenario : ScenarioOutcomes
        True DLT probability per dose (response probabilities are not used).

    Returns
    -------
    OCResult
        With ``exact=True``; ``n_trials`` is 0.

    Examples
    --------
    >>> r = exact_oc_3plus3(ThreePlusThree(), ScenarioOutcomes(p_tox=(0.0, 1.0)))
    >>> r.selection_pct.tolist(), r.no_selection_pct
    ([100.0, 0.0], 0.0)
    """
    p = np.asarray(scenario.p_tox)
    k = p.size
    pmf = [stats.binom.pmf(np.arange(4), 3, p[d]) for d in range(k)]
    sel = np.zeros(k)
    no_sel = 0.0
    e_n = np.zeros(k)
    e_y = np.zeros(k)
    e_prop = 0.0

    def walk(d: int, n: np.ndarray, y: np.ndarray, closed: np.ndarray, prob: float) -> None:
        nonlocal no_sel, e_prop
        for x in range(4):
            px = prob * pmf[d][x]
            if px == 0.0:
                continue
            n2, y2, c2 = n.copy(), y.copy(), closed.copy()
            n2[d] += 3
            y2[d] += x
            nxt, status = step_3plus3(int(y2[d]), int(n2[d]), d, k, n2, c2, design.expand_mtd)
            if status == MTD_FOUND or status == NO_DOSE:
                if status == MTD_FOUND:
                    sel[nxt] += px
                else:
                    no_sel += px
                e_n[:] += px * n2
                e_y[:] += px * y2
                e_prop += px * y2.sum() / n2.sum()
            else:
                walk(int(nxt), n2, y2, c2, px)

    walk(
        0,
        np.zeros(k, dtype=np.int64),
        np.zeros(k, dtype=np.int64),
        np.zeros(k, dtype=np.bool_),
        1.0,
    )
    over = p > design.target
    return OCResult(
        design=design.name,
        n_doses=k,
        selection_pct=100.0 * sel,
        no_selection_pct=100.0 * no_sel,
        patients_per_dose=e_n,
        dlts_per_dose=e_y,
        mean_n=float(e_n.sum()),
        mean_dlt_proportion=float(e_prop),
        overdose_selection_pct=float(100.0 * sel[over].sum()),
        mean_duration_months=None,
        exact=True,
        n_trials=0,
        seed=None,
        wall_time_s=0.0,
    )
