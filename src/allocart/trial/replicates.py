"""Replicate trials: who is enrolled when, at which dose, and which dose is selected.

A chunk of replicate trials ``first .. stop - 1`` is a pure function of the protocol, the pools'
outcomes and the seed, so chunks can be computed in any order, on any machine, and resumed: the
same chunk always gives the same arrays.

For each trial:

* patients arrive as a Poisson process at the protocol's accrual rate (exponential gaps from the
  patients' arrival uniforms, as in :func:`allocart.design.oc.arrival_times`);
* cohorts are treated one after the other: a patient starts at the later of their arrival and the
  decision on the previous cohort, and patients who arrive meanwhile wait. The decision on a
  cohort is taken once its last patient has completed the DLT window or, when the design doses by
  response (BOIN12), reached the month of the response assessment, whichever is later;
* the dose of each cohort is the design's decision. The design's own simulation kernel is the
  authority: the trial is run with the first ``c`` cohorts for ``c = 1 .. n_cohorts`` and the
  cohort ``c`` went to the dose whose count grew; the patient counts and DLTs so reconstructed are
  checked against the design's result for the full trial.
"""

from __future__ import annotations

import dataclasses
import functools
import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

from allocart.design import BOIN12, AbstractDesign
from allocart.design.base import (
    TRIAL_BLOCK,
    PatientUniforms,
    draw_patient_uniforms,
    potential_outcomes,
)
from allocart.design.oc import Accrual, arrival_times
from allocart.trial.pools import PoolOutcomes
from allocart.trial.protocol import DAYS_PER_MONTH, Protocol

__all__ = [
    "ChunkResult",
    "simulate_chunk",
    "chunk_ranges",
    "decision_lag_months",
    "cohort_start_times",
]


def decision_lag_months(protocol: Protocol) -> float:
    """Months from a cohort's last infusion to the decision on the next cohort.

    The DLT window; for a design dosing by response (BOIN12), at least until the month of that
    response's assessment (``efficacy_endpoint`` ``<name>_m<month>``).
    """
    lag = protocol.dlt.window_days / DAYS_PER_MONTH
    col = protocol.response_column
    if col:
        month = int(col.rsplit("_m", 1)[1])
        lag = max(lag, round(month * DAYS_PER_MONTH) / DAYS_PER_MONTH)
    return lag


def chunk_ranges(n_trials: int, chunk_size: int) -> list[tuple[int, int]]:
    """Chunks ``[first, stop)`` of at most ``chunk_size`` trials, never crossing a block of
    :data:`~allocart.design.base.TRIAL_BLOCK` trials (the unit of the common random numbers)."""
    out = []
    first = 0
    size = min(chunk_size, TRIAL_BLOCK)
    while first < n_trials:
        block_end = (first // TRIAL_BLOCK + 1) * TRIAL_BLOCK
        stop = min(first + size, n_trials, block_end)
        out.append((first, stop))
        first = stop
    return out


def cohort_start_times(
    arrival: NDArray[np.float64], cohort_size: int, lag: float
) -> NDArray[np.float64]:
    """Start of treatment (months) of every patient position, cohorts treated one after another.

    Patient ``j`` of cohort ``c`` starts at ``max(arrival_j, decision on cohort c - 1)``; the
    decision on a cohort comes ``lag`` months after its last patient started.
    """
    n_trials, n_pat = arrival.shape
    start = np.empty_like(arrival)
    gate = np.zeros(n_trials)
    for c0 in range(0, n_pat, cohort_size):
        sl = slice(c0, min(c0 + cohort_size, n_pat))
        start[:, sl] = np.maximum(arrival[:, sl], gate[:, None])
        gate = start[:, sl].max(axis=1) + lag
    return start


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    """Replicate trials ``first .. stop - 1`` of every arm.

    Attributes
    ----------
    person : ndarray of int, shape (m, n_patients)
        Position among the eligible people of each patient position (same in every arm).
    arrival, start : ndarray of float, shape (m, n_patients)
        Arrival and start of treatment, months after the trial opened (same in every arm).
    selected : ndarray of int, shape (n_arms, m)
        Selected dose level (0-based), -1 when the trial selected none.
    dose : ndarray of int, shape (n_arms, m, n_patients)
        Dose level (0-based) of each patient position, -1 for positions never enrolled.
    """

    first: int
    stop: int
    person: NDArray[np.int64]
    arrival: NDArray[np.float64]
    start: NDArray[np.float64]
    selected: NDArray[np.int64]
    dose: NDArray[np.int8]

    def to_bytes(self) -> bytes:
        """NumPy ``.npz`` serialisation (for checkpoints)."""
        buf = io.BytesIO()
        np.savez(
            buf, **{f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ChunkResult:
        with np.load(io.BytesIO(data)) as z:
            kw: dict[str, Any] = {f.name: z[f.name] for f in dataclasses.fields(cls)}
        kw["first"], kw["stop"] = int(kw["first"]), int(kw["stop"])
        return cls(**kw)


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


def _uniforms(seed: int, first: int, stop: int, n_pat: int) -> PatientUniforms:
    block = first // TRIAL_BLOCK * TRIAL_BLOCK
    u = draw_patient_uniforms(seed, block, stop - block, n_pat)
    sl = slice(first - block, stop - block)
    return PatientUniforms(tox=u.tox[sl], eff=u.eff[sl], onset=u.onset[sl], arrival=u.arrival[sl])


def simulate_chunk(
    protocol: Protocol, sources: list[PoolOutcomes], first: int, stop: int
) -> ChunkResult:
    """Simulate replicate trials ``first .. stop - 1`` of every arm.

    Parameters
    ----------
    protocol : Protocol
    sources : list of PoolOutcomes
        One per arm (:func:`allocart.trial.pools.pool_outcomes`).
    first, stop : int
        Trial range, within one block of :data:`~allocart.design.base.TRIAL_BLOCK`.
    """
    design = _memoised(protocol.make_design())
    cs = protocol.cohort_size
    n_coh = protocol.n_cohorts
    n_pat = protocol.max_sample_size
    window = protocol.dlt_window_months
    accrual = Accrual(per_month=protocol.accrual.per_month, dlt_window_months=window)
    u = _uniforms(protocol.simulation.seed, first, stop, n_pat)
    m = stop - first
    arrival = arrival_times(u.arrival, protocol.accrual.per_month)
    start = cohort_start_times(arrival, cs, decision_lag_months(protocol))
    person = sources[0].person(u)
    selected = np.empty((len(sources), m), dtype=np.int64)
    dose = np.full((len(sources), m, n_pat), -1, dtype=np.int8)
    for a, src in enumerate(sources):
        po = potential_outcomes(src, u, window)
        prev = np.zeros((m, src.n_doses), dtype=np.int64)
        for c in range(1, n_coh + 1):
            part = dataclasses.replace(design, n_cohorts=c)
            sel, N, Y, _ = part.simulate_block(po, arrival, accrual)  # type: ignore[attr-defined]
            grown = N - prev
            enrolled = grown.sum(axis=1) > 0
            dose[a, enrolled, (c - 1) * cs : c * cs] = np.argmax(grown[enrolled], axis=1)[:, None]
            prev = N
        selected[a] = sel
        _check_path(po.dlt, dose[a], N, Y)
    return ChunkResult(first, stop, person, arrival, start, selected, dose)


def _check_path(
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
    if not (
        np.array_equal(n_re, N) and np.array_equal(y_re, Y)
    ):  # pragma: no cover - internal invariant
        bad = int(np.flatnonzero((n_re != N).any(axis=1) | (y_re != Y).any(axis=1))[0])
        raise RuntimeError(
            f"dose path of trial {bad} does not reproduce the design's counts ({n_re[bad]} vs {N[bad]}, "
            f"DLTs {y_re[bad]} vs {Y[bad]} over {k} doses)"
        )
