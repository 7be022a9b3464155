"""Pools of scored virtual patients, one per arm and dose level, and the outcome source on them.

Before any trial is simulated, every dose level of every arm (the protocol's product and
regimen, then each comparator) gets a pool of ``pool_size`` virtual patients, simulated by the
mechanistic model and scored by the clinical library through
:func:`allocart.population.cohort.simulate_cohort`, with the protocol's supportive care (G-CSF
from ``supportive_care.gcsf_from_day``) and the protocol's visits (``schedule_days``) in every
arm. All pools use the same seed, so virtual patient ``k`` is the same person (covariates,
between-patient variability) in every pool: the pools hold each person's *potential outcomes*
under every dose, product and regimen of the run.
The dose-toxicity and dose-efficacy relations are therefore those of the model; nothing is typed
in.

A replicate trial enrols patients by drawing people from the pools
(:class:`PoolOutcomes`, an :class:`~allocart.design.base.OutcomeSource`): the ``j``-th patient of
trial ``i`` is person ``k = floor(u * n_eligible)`` of the eligible people, ``u`` being that
patient's toxicity uniform from :func:`~allocart.design.base.draw_patient_uniforms`. Every design,
arm and scenario run with the same seed thus meets the same people in the same order, and
observes at each dose what the model says that person would experience there.

A person whose simulation failed in any pool of the run is not eligible in any of them (so that
comparisons stay on the same people); the number of such people is reported per pool.

Time to treatment (:data:`TIME_TO_TREATMENT_COLUMNS`): each pool is simulated with its arm's
product logistics (:meth:`allocart.model.products.Product.time_to_treatment`, the product YAML's
``logistics:`` block), so every person carries ``enrol_to_infusion_days`` (float, days from
enrolment to infusion; for a person not infused, to leaving the study), ``infused`` (bool) and
``not_infused_reason`` (``"manufacturing_failure"``, ``"flare"`` or None)
(:mod:`allocart.population.waiting`). They are the same at every dose level of an arm (the wait
comes before any dose). A trial infuses its ``j``-th patient ``enrol_to_infusion_days`` after
enrolment; a patient not infused gives no DLT or efficacy data to the design and counts as a
non-responder among the enrolled. With zero times and no failures (:attr:`Logistics.is_zero`)
the pools are those of patients infused at enrolment, number for number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.design.base import PatientUniforms
from allocart.errors import DesignError
from allocart.model.products import load_product
from allocart.population import cohort as _cohort
from allocart.trial.protocol import DAYS_PER_MONTH, SCORE_ENDPOINTS, Protocol

__all__ = [
    "Arm",
    "arms_of",
    "PoolKey",
    "pool_keys",
    "simulate_pool",
    "eligible_people",
    "PoolOutcomes",
    "pool_outcomes",
    "SAFETY_COLUMNS",
    "TIME_TO_TREATMENT_COLUMNS",
]

#: Per-patient safety columns of a pool used by the trial summaries.
SAFETY_COLUMNS = (
    "dlt",
    "dlt_day",
    "crs_grade",
    "crs_onset_day",
    "icans_grade",
    "icans_onset_day",
    "gvhd_grade",
)

#: Per-patient time-to-treatment columns of every pool, and their values for a patient infused
#: at enrolment (filled in when a cohort simulation does not report them).
TIME_TO_TREATMENT_COLUMNS: dict[str, object] = {
    "enrol_to_infusion_days": 0.0,
    "infused": True,
    "not_infused_reason": None,
}


@dataclasses.dataclass(frozen=True)
class Arm:
    """One product and regimen run under the protocol's design: the protocol itself or a comparator."""

    index: int
    label: str
    product: str
    lymphodepletion: str
    dose_levels: tuple[str, ...]


def arms_of(protocol: Protocol) -> tuple[Arm, ...]:
    """Arm 0 is the protocol's product and regimen; arms 1.. are its comparators, in order."""
    first = Arm(
        0,
        protocol.title or protocol.name,
        protocol.product,
        protocol.lymphodepletion,
        protocol.dose_levels,
    )
    rest = tuple(
        Arm(i + 1, c.label, c.product, c.lymphodepletion, c.dose_levels or protocol.dose_levels)
        for i, c in enumerate(protocol.comparators)
    )
    return (first, *rest)


@dataclasses.dataclass(frozen=True)
class PoolKey:
    """A pool: arm index and 0-based dose level."""

    arm: int
    level: int

    @property
    def name(self) -> str:
        return f"arm{self.arm}_level{self.level + 1}"


def pool_keys(protocol: Protocol) -> tuple[PoolKey, ...]:
    """Every pool of the run, arm by arm and dose by dose."""
    return tuple(
        PoolKey(a.index, lv) for a in arms_of(protocol) for lv in range(len(a.dose_levels))
    )


def endpoint_months(protocol: Protocol) -> tuple[int, ...]:
    """Months at which any endpoint is assessed."""
    return tuple(sorted({m for ep in protocol.endpoints for m in ep.months}))


def simulate_pool(
    protocol: Protocol, key: PoolKey, *, progress: Callable[[int, int], None] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate and score the virtual patients of one pool.

    Returns
    -------
    patients, timecourses : DataFrame
        ``CohortResult.patients`` (one row per person, ``id`` = person index, with the
        :data:`TIME_TO_TREATMENT_COLUMNS`) and the daily time courses of the first
        ``simulation.timecourse_patients`` people.
    """

    arm = arms_of(protocol)[key.arm]
    sim = protocol.simulation
    res = _cohort.simulate_cohort(  # through the module: test stand-ins replace it
        arm.product,
        arm.dose_levels[key.level],
        arm.lymphodepletion,
        sim.pool_size,
        sim.seed,
        months=endpoint_months(protocol),
        dlt_window_days=protocol.dlt.window_days,
        dlt_rules=dict(protocol.dlt.rules) or None,
        progress=progress,
        timecourse_ids=min(sim.timecourse_patients, sim.pool_size),
        gcsf_from_day=protocol.supportive_care.gcsf_from_day,
        visit_days=protocol.visit_days,
        logistics=load_product(arm.product).time_to_treatment(),
    )
    patients = res.patients.reset_index(drop=True)
    for name, value in TIME_TO_TREATMENT_COLUMNS.items():
        if name not in patients.columns:
            patients[name] = pd.Series(
                [value] * len(patients), dtype=object if value is None else None
            )
    patients["enrol_to_infusion_days"] = patients["enrol_to_infusion_days"].astype(float)
    patients["infused"] = patients["infused"].astype(bool)
    if len(patients) != sim.pool_size or not np.array_equal(
        patients["id"].to_numpy(), np.arange(sim.pool_size)
    ):
        raise DesignError(
            f"pool {key.name}: the cohort simulation returned {len(patients)} patients with ids not 0..n-1; "
            f"expected {sim.pool_size}"
        )
    missing = [c for c in pool_columns(protocol) if c not in patients.columns]
    if missing:
        raise DesignError(f"pool {key.name}: the cohort simulation lacks columns {missing}")
    return patients, res.timecourses.reset_index(drop=True)


def pool_columns(protocol: Protocol) -> list[str]:
    """Columns of a pool the trial uses: safety, failure flag and every endpoint column."""
    return [*SAFETY_COLUMNS, "failed", *(c for ep in protocol.endpoints for c in ep.columns())]


def eligible_people(pools: dict[PoolKey, pd.DataFrame]) -> NDArray[np.int64]:
    """People whose simulation succeeded in every pool of the run (sorted person indices).

    Raises
    ------
    DesignError
        If no one is left.
    """
    ok = None
    for df in pools.values():
        good = ~df["failed"].to_numpy(dtype=bool)
        ok = good if ok is None else ok & good
    idx = np.flatnonzero(ok) if ok is not None else np.empty(0, dtype=np.int64)
    if idx.size == 0:
        raise DesignError(
            "simulation.pool_size: every virtual patient failed in at least one pool; nothing to enrol"
        )
    return idx.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class PoolOutcomes:
    """Outcome source drawing people from the pools of one arm.

    Parameters
    ----------
    dlt : ndarray of bool, shape (n_doses, n_people)
        Whether each eligible person has a DLT at each dose level.
    response : ndarray of bool, shape (n_doses, n_people)
        The response the design uses (e.g. DORIS remission at month 6); all False for designs without one.
    dlt_month : ndarray of float, shape (n_doses, n_people)
        Onset of the DLT, months after infusion (``inf`` without DLT).
    infused : ndarray of bool, shape (n_doses, n_people), optional
        Whether each eligible person is infused (None: everyone).
    enrol_to_infusion_days : ndarray of float, shape (n_doses, n_people), optional
        Days from enrolment to infusion (None: 0 for everyone).
    """

    dlt: NDArray[np.bool_]
    response: NDArray[np.bool_]
    dlt_month: NDArray[np.float64]
    infused: NDArray[np.bool_] | None = None
    enrol_to_infusion_days: NDArray[np.float64] | None = None

    @property
    def n_doses(self) -> int:
        return int(self.dlt.shape[0])

    @property
    def n_people(self) -> int:
        return int(self.dlt.shape[1])

    def person(self, uniforms: PatientUniforms) -> NDArray[np.int64]:
        """Position among the eligible people of each patient, shape ``(n_trials, n_patients)``."""
        return np.minimum((uniforms.tox * self.n_people).astype(np.int64), self.n_people - 1)

    def draw_outcomes(
        self, dose_index: NDArray[np.integer], uniforms: PatientUniforms, dlt_window_months: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.float64]]:
        k = self.person(uniforms)
        return self.dlt[dose_index, k], self.response[dose_index, k], self.dlt_month[dose_index, k]


def pool_outcomes(
    protocol: Protocol, pools: dict[PoolKey, pd.DataFrame], eligible: NDArray[np.int64]
) -> list[PoolOutcomes]:
    """One :class:`PoolOutcomes` per arm, on the eligible people."""
    col = protocol.response_column
    out = []
    for arm in arms_of(protocol):
        dfs = [pools[PoolKey(arm.index, lv)].iloc[eligible] for lv in range(len(arm.dose_levels))]
        dlt = np.stack([df["dlt"].to_numpy(dtype=bool) for df in dfs])
        resp = np.stack(
            [df[col].to_numpy(dtype=bool) if col else np.zeros(len(df), dtype=bool) for df in dfs]
        )
        day = np.stack([df["dlt_day"].to_numpy(dtype=float) for df in dfs])
        month = np.where(dlt, np.nan_to_num(day, nan=0.0) / DAYS_PER_MONTH, np.inf)
        infused = wait = None
        if all("infused" in df.columns for df in dfs):
            infused = np.stack([df["infused"].to_numpy(dtype=bool) for df in dfs])
            wait = np.stack([df["enrol_to_infusion_days"].to_numpy(dtype=float) for df in dfs])
        out.append(
            PoolOutcomes(
                dlt=dlt,
                response=resp,
                dlt_month=month,
                infused=infused,
                enrol_to_infusion_days=wait,
            )
        )
    return out


def yes_no_columns(protocol: Protocol) -> list[str]:
    """Endpoint columns reported as rates."""
    return [c for ep in protocol.endpoints if ep.name not in SCORE_ENDPOINTS for c in ep.columns()]


def score_columns(protocol: Protocol) -> list[str]:
    """Endpoint columns reported as means."""
    return [c for ep in protocol.endpoints if ep.name in SCORE_ENDPOINTS for c in ep.columns()]
