"""Dose paths of the designs whose decisions do not depend on time: 3+3, BOIN, BOIN12, CRM.

The design library's simulation kernels are the authority on every decision. Those of BOIN,
BOIN12 and CRM return counts per dose (patients, DLTs) and the selected dose, not which patient
went to which dose; the path is recovered without re-implementing any rule:

* BOIN, BOIN12, CRM: the trial is run with its first ``c`` cohorts for ``c = 1 .. n_cohorts``;
  cohort ``c`` went to the dose whose count grew (each design's decisions on the first cohorts do
  not depend on how many cohorts follow);
* 3+3: the library's kernel (:func:`~allocart.design.threeplusthree.simulate_3plus3_kernel`)
  records each patient's dose.

Either way the counts so reconstructed are checked against the design's own result
(:func:`check_path`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allocart.design import BOIN12, AbstractDesign, ThreePlusThree
from allocart.design.base import PotentialOutcomes
from allocart.design.threeplusthree import simulate_3plus3_kernel

__all__ = ["cohort_path", "check_path"]


@functools.lru_cache(maxsize=64)
def _boin12_tables(design: BOIN12, n_max: int) -> dict[str, Any]:
    return BOIN12.tables(design, n_max)


@dataclasses.dataclass(frozen=True)
class _MemoBOIN12(BOIN12):
    """BOIN12 whose rule tables are computed once per run rather than once per call.

    The tables depend on the rule settings and the largest sample size only, not on
    ``n_cohorts``, so the truncated trials of the path reconstruction share them.
    """

    def tables(self, n_max: int) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(BOIN12)}
        return _boin12_tables(BOIN12(**{**fields, "n_cohorts": 1}), n_max)


def _memoised(design: AbstractDesign) -> AbstractDesign:
    if type(design) is BOIN12:
        return _MemoBOIN12(**{f.name: getattr(design, f.name) for f in dataclasses.fields(design)})
    return design


def cohort_path(
    design: AbstractDesign, po: PotentialOutcomes
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Selected dose (-1: none) and each patient's dose (-1: not treated) of every trial.

    Parameters
    ----------
    design : AbstractDesign
        A 3+3, BOIN, BOIN12 or CRM design.
    po : PotentialOutcomes
        Outcomes of the design's patients (shape (m, n_patients, n_doses)).
    """
    m, n_pat, _ = po.dlt.shape
    if isinstance(design, ThreePlusThree):
        sel, N, Y, dose = simulate_3plus3_kernel(po.dlt, design.expand_mtd)
        check_path(po.dlt, dose, N, Y)
        return sel, dose
    design = _memoised(design)
    cs = design.cohort_size
    n_coh = design.n_cohorts  # type: ignore[attr-defined]
    dose = np.full((m, n_pat), -1, dtype=np.int8)
    prev = np.zeros((m, po.dlt.shape[2]), dtype=np.int64)
    for c in range(1, n_coh + 1):
        part = dataclasses.replace(design, n_cohorts=c)  # type: ignore[type-var]
        sel, N, Y, _ = part.simulate_block(po, None, None)  # type: ignore[attr-defined]
        grown = N - prev
        enrolled = grown.sum(axis=1) > 0
        dose[enrolled, (c - 1) * cs : c * cs] = np.argmax(grown[enrolled], axis=1)[:, None]
        prev = N
    check_path(po.dlt, dose, N, Y)
    return sel, dose


def check_path(
    dlt: NDArray[np.bool_], dose: NDArray[np.int8], N: NDArray[np.int64], Y: NDArray[np.int64]
) -> None:
    """The reconstructed doses must reproduce the design's own patient and DLT counts."""
    k = N.shape[1]
    on = dose >= 0
    t_idx, p_idx = np.nonzero(on)
    d_idx = dose[on].astype(np.int64)
    n_re = np.zeros_like(N)
    y_re = np.zeros_like(Y)
    np.add.at(n_re, (t_idx, d_idx), 1)
    np.add.at(y_re, (t_idx, d_idx), dlt[t_idx, p_idx, d_idx].astype(np.int64))
    if not (np.array_equal(n_re, N) and np.array_equal(y_re, Y)):  # pragma: no cover - invariant
        bad = int(np.flatnonzero((n_re != N).any(axis=1) | (y_re != Y).any(axis=1))[0])
        raise RuntimeError(
            f"dose path of trial {bad} does not reproduce the design's counts ({n_re[bad]} vs "
            f"{N[bad]}, DLTs {y_re[bad]} vs {Y[bad]} over {k} doses)"
        )
