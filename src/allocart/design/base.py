"""Shared vocabulary of the dose-finding designs.

This module holds what every design needs and nothing design-specific:

* :class:`AbstractDesign`, the immutable configuration every design derives from;
* :class:`DoseData`, the data observed so far (per dose: treated, DLTs, responses, pending);
* :class:`Recommendation`, the answer of a design to "which dose next?";
* :class:`OutcomeSource`, the protocol through which simulated trials obtain patient outcomes,
  and :class:`ScenarioOutcomes`, its implementation from true per-dose probabilities;
* :class:`PatientUniforms` and :func:`draw_patient_uniforms`, the common random numbers shared
  by all designs in a comparison;
* :func:`kernel_outputs` and :func:`treat_cohort`, the bookkeeping every simulation kernel does.

Doses are indexed from 0 in the Python API and from 1 on the command line, as investigators
number dose levels.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numba
import numpy as np
from numpy.typing import NDArray

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.errors import DesignError

__all__ = [
    "AbstractDesign",
    "Action",
    "DoseData",
    "Recommendation",
    "OutcomeSource",
    "PotentialOutcomes",
    "ScenarioOutcomes",
    "PatientUniforms",
    "draw_patient_uniforms",
    "kernel_outputs",
    "treat_cohort",
    "TRIAL_BLOCK",
]

#: Trials are drawn in blocks of this many; the uniforms of trial ``i`` depend only on the seed,
#: ``i`` and the patient's position, never on the total number of trials requested.
TRIAL_BLOCK = 10_000


class Action(str, enum.Enum):  # noqa: UP042 - str() of a member stays "Action.STAY", as before
    """Decision about the dose of the next cohort, as written in protocols."""

    ESCALATE = "escalate"
    STAY = "stay"
    DEESCALATE = "de-escalate"
    ELIMINATE = "eliminate"
    SUSPEND = "suspend"
    STOP = "stop"


# --------------------------------------------------------------------------- validation helpers
def check_probability(name: str, value: float, *, open_interval: bool = False) -> float:
    """Return ``value`` as float or raise :class:`DesignError` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"`{name}` must be a number, got {value!r}.") from None
    if not np.isfinite(v):
        raise DesignError(f"`{name}` must be finite, got {value!r}.")
    if open_interval:
        if not 0.0 < v < 1.0:
            raise DesignError(f"`{name}` must lie strictly between 0 and 1, got {value!r}.")
    elif not 0.0 <= v <= 1.0:
        raise DesignError(f"`{name}` must lie in [0, 1], got {value!r}.")
    return v


def check_probabilities(
    name: str, values: Sequence[float] | NDArray[np.floating]
) -> NDArray[np.float64]:
    """Validate a per-dose probability vector and return it as a read-only float array."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DesignError(f"`{name}` must be a list of probabilities, got {values!r}.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise DesignError(
            f"`{name}` must be a non-empty list of per-dose probabilities, got {values!r}."
        )
    bad = [float(v) for v in arr if not (np.isfinite(v) and 0.0 <= v <= 1.0)]
    if bad:
        raise DesignError(
            f"`{name}` must hold probabilities in [0, 1]; got {bad[0]!r} in {list(map(float, arr))}."
        )
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as int, raising :class:`DesignError` if it is not an integer >= minimum."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DesignError(f"`{name}` must be an integer, got {value!r}.")
    if int(value) < minimum:
        raise DesignError(f"`{name}` must be at least {minimum}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- data and answers
@dataclasses.dataclass(frozen=True)
class DoseData:
    """Outcomes observed so far, per dose level.

    Parameters
    ----------
    treated : sequence of int, shape (n_doses,)
        Patients treated at each dose (including those still in follow-up).
    dlts : sequence of int, shape (n_doses,)
        Patients with a dose-limiting toxicity.
    responses : sequence of int, shape (n_doses,), optional
        Patients with an efficacy response (needed by BOIN12). Zeros if omitted.
    pending : sequence of int, shape (n_doses,), optional
        Patients still within the DLT window without a DLT (TITE-BOIN). Zeros if omitted.
    followup : sequence of float, shape (n_doses,), optional
        Standardised total follow-up time of the pending patients at each dose, i.e. the sum of
        their follow-up times divided by the DLT window (TITE-BOIN). Zeros if omitted.

    Raises
    ------
    DesignError
        If lengths differ, counts are negative, or DLTs + pending exceed the number treated.
    """

    treated: tuple[int, ...]
    dlts: tuple[int, ...]
    responses: tuple[int, ...] = ()
    pending: tuple[int, ...] = ()
    followup: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.treated)
        if n == 0:
            raise DesignError("`treated` must list at least one dose, got an empty list.")
        for name in ("treated", "dlts", "responses", "pending"):
            raw = getattr(self, name)
            vals = tuple(check_int(name, v, minimum=0) for v in raw) if raw else (0,) * n
            if len(vals) != n:
                raise DesignError(
                    f"`{name}` has {len(vals)} entries but `treated` has {n}; give one value per dose."
                )
            object.__setattr__(self, name, vals)
        fu = tuple(float(v) for v in self.followup) if self.followup else (0.0,) * n
        if len(fu) != n:
            raise DesignError(f"`followup` has {len(fu)} entries but `treated` has {n}.")
        object.__setattr__(self, "followup", fu)
        for d in range(n):
            if self.dlts[d] + self.pending[d] > self.treated[d]:
                raise DesignError(
                    f"At dose {d + 1}, DLTs ({self.dlts[d]}) plus pending ({self.pending[d]}) exceed "
                    f"the number treated ({self.treated[d]})."
                )
            if self.responses[d] > self.treated[d]:
                raise DesignError(
                    f"At dose {d + 1}, `responses` ({self.responses[d]}) exceeds `treated` ({self.treated[d]})."
                )
            if not 0.0 <= fu[d] <= self.pending[d] + 1e-9:
                raise DesignError(
                    f"At dose {d + 1}, `followup` ({fu[d]}) must lie between 0 and the number pending "
                    f"({self.pending[d]})."
                )

    @property
    def n_doses(self) -> int:
        """Number of dose levels."""
        return len(self.treated)


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """A design's advice for the next cohort.

    Attributes
    ----------
    action : Action
        What to do relative to the current dose.
    next_dose : int or None
        0-based dose for the next cohort; ``None`` when the trial should stop.
    eliminated : tuple of int
        0-based doses excluded from further use (safety or futility).
    reason : str
        One sentence explaining the decision.
    """

    action: Action
    next_dose: int | None
    eliminated: tuple[int, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary, with doses numbered from 1."""
        return {
            "action": self.action.value,
            "next_dose": None if self.next_dose is None else self.next_dose + 1,
            "eliminated": [d + 1 for d in self.eliminated],
            "reason": self.reason,
        }


class AbstractDesign(abc.ABC):
    """Base of every dose-finding design.

    Designs are frozen dataclasses validated at construction. Concrete designs implement
    :meth:`recommend` (advice from observed data) and :meth:`max_patients` (the largest number of
    patients a simulated trial can enrol, which sizes the common random numbers).
    """

    name: str = "abstract"
    cohort_size: int  # patients per cohort: a field of each concrete design (3 for the 3+3)

    @abc.abstractmethod
    def recommend(self, data: DoseData, current_dose: int) -> Recommendation:
        """Advise the dose for the next cohort given ``data`` and the 0-based ``current_dose``."""

    @abc.abstractmethod
    def max_patients(self, n_doses: int) -> int:
        """Largest number of patients one simulated trial may enrol."""

    def _check_fields(self, check: Callable[..., Any], names: Sequence[str], **limits: Any) -> None:
        """Validate the fields ``names`` with ``check(name, value, **limits)`` and store the
        normalised values (designs are frozen, hence ``object.__setattr__``)."""
        for name in names:
            object.__setattr__(self, name, check(name, getattr(self, name), **limits))

    def _check_current(self, data: DoseData, current_dose: int) -> int:
        d = check_int("current_dose", current_dose, minimum=0)
        if d >= data.n_doses:
            raise DesignError(
                f"`current_dose` must be one of the {data.n_doses} doses, got level {d + 1}."
            )
        return d


# --------------------------------------------------------------------------- simulation kernels
class CohortPlan(NamedTuple):
    """How a cohort design treats its patients, as the simulation kernels take it.

    Attributes
    ----------
    start : int
        Starting dose (0-based).
    n_cohorts : int
        Maximum number of cohorts.
    cs : int
        Patients per cohort.
    n_earlystop : int
        Patients at the current dose from which the design may stop early.
    """

    start: int
    n_cohorts: int
    cs: int
    n_earlystop: int


def cohort_plan(design: Any) -> CohortPlan:
    """The :class:`CohortPlan` of a design with ``start_dose``, ``n_cohorts``, ``cohort_size`` and
    ``n_earlystop`` fields."""
    return CohortPlan(
        int(design.start_dose),
        int(design.n_cohorts),
        int(design.cohort_size),
        int(design.n_earlystop),
    )


@numba.njit(cache=True)
def kernel_outputs(
    n_trials: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """The arrays a simulation kernel returns, before its trials are run.

    ``sel`` (shape ``(n_trials,)``, the selected dose or -1, to be filled by the kernel) and
    ``N``, ``Y`` (shape ``(n_trials, k)``, patients and DLTs per trial and dose, zeros).
    """
    sel = np.empty(n_trials, dtype=np.int64)
    N = np.zeros((n_trials, k), dtype=np.int64)
    Y = np.zeros((n_trials, k), dtype=np.int64)
    return sel, N, Y


@numba.njit(cache=True)
def treat_cohort(
    dlt: np.ndarray, t: int, p: int, d: int, cs: int, N: np.ndarray, Y: np.ndarray
) -> int:  # pragma: no cover - jitted
    """Treat patients ``p .. p + cs - 1`` of trial ``t`` at dose ``d``; returns the next patient.

    Patients come in their order in the common random numbers and have their potential outcome at
    the dose they receive, so every design meets the same patients.
    """
    for _ in range(cs):
        Y[t, d] += dlt[t, p, d]
        p += 1
    N[t, d] += cs
    return p


# --------------------------------------------------------------------------- common random numbers
@dataclasses.dataclass(frozen=True)
class PatientUniforms:
    """Latent uniforms of the patients of a block of simulated trials.

    Each array has shape ``(n_trials, n_patients)``; row ``i`` is trial ``i``, column ``j`` the
    ``j``-th patient enrolled in it, whatever the design. Designs compared on the same uniforms
    see the same patients, so their differences are not Monte-Carlo noise (common random
    numbers; Sweeting et al. 2023).

    Attributes
    ----------
    tox, eff : ndarray
        Latent uniforms for toxicity and efficacy.
    onset : ndarray
        Uniform used to place the DLT time within the assessment window.
    arrival : ndarray
        Uniform used for the exponential gap before the patient's arrival.
    """

    tox: NDArray[np.float64]
    eff: NDArray[np.float64]
    onset: NDArray[np.float64]
    arrival: NDArray[np.float64]

    @property
    def n_trials(self) -> int:
        return int(self.tox.shape[0])

    @property
    def n_patients(self) -> int:
        return int(self.tox.shape[1])


_STREAMS = ("tox", "eff", "onset", "arrival")


def draw_patient_uniforms(
    seed: int, first_trial: int, n_trials: int, n_patients: int
) -> PatientUniforms:
    """Draw the common random numbers of trials ``first_trial .. first_trial + n_trials - 1``.

    Every patient column is drawn from its own generator keyed by ``(seed, block, stream,
    patient)``, so the uniforms of a given trial and patient do not depend on how many trials or
    patients were requested: two designs with different maximum sample sizes share the patients
    they have in common.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    first_trial, n_trials : int
        Trial range; ``first_trial`` must be a multiple of :data:`TRIAL_BLOCK` and
        ``n_trials <= TRIAL_BLOCK``.
    n_patients : int
        Number of patient columns.

    Returns
    -------
    PatientUniforms
    """
    seed = check_int("seed", seed, minimum=0)
    if first_trial % TRIAL_BLOCK or n_trials > TRIAL_BLOCK:
        raise DesignError(
            f"trials are drawn in aligned blocks of {TRIAL_BLOCK}; got first_trial={first_trial}, "
            f"n_trials={n_trials}."
        )
    block = first_trial // TRIAL_BLOCK
    out = {}
    for s, stream in enumerate(_STREAMS):
        arr = np.empty((n_trials, n_patients))
        for j in range(n_patients):
            # Drawing the full block and truncating keeps trial i identical for any n_trials.
            arr[:, j] = np.random.default_rng([seed, block, s, j]).random(TRIAL_BLOCK)[:n_trials]
        out[stream] = arr
    return PatientUniforms(**out)


# --------------------------------------------------------------------------- outcome sources
@dataclasses.dataclass(frozen=True)
class PotentialOutcomes:
    """Outcome every simulated patient would have at every dose.

    Arrays have shape ``(n_trials, n_patients, n_doses)``. A design that treats patient ``j`` of
    trial ``i`` at dose ``d`` observes ``dlt[i, j, d]``, ``response[i, j, d]`` and, when there
    is a DLT, its time ``dlt_time[i, j, d]`` (months after the start of treatment, within the
    DLT assessment window).
    """

    dlt: NDArray[np.bool_]
    response: NDArray[np.bool_]
    dlt_time: NDArray[np.float64]


@runtime_checkable
class OutcomeSource(Protocol):
    """Where simulated trials obtain patient outcomes.

    The scenario implementation (:class:`ScenarioOutcomes`) turns latent uniforms into outcomes
    through true per-dose probabilities; a virtual-trial module can instead return the outcomes
    of simulated patients. Either way outcomes must be functions of the patient (row, column)
    and the dose, so that all designs meet the same patients.
    """

    @property
    def n_doses(self) -> int:  # pragma: no cover - protocol
        ...

    def draw_outcomes(
        self, dose_index: NDArray[np.integer], uniforms: PatientUniforms, dlt_window_months: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.float64]]:  # pragma: no cover
        """Outcomes ``(dlt, response, dlt_time)`` of every patient at the given doses.

        ``dose_index`` has shape ``(n_trials, n_patients)``.
        """
        ...


@dataclasses.dataclass(frozen=True)
class ScenarioOutcomes:
    """Outcomes from true DLT and response probabilities per dose.

    A patient with latent uniforms ``(u_t, u_e, u_o)`` has a DLT at dose ``d`` iff
    ``u_t < p_tox[d]`` and a response iff ``u_e < p_eff[d]``; with monotone probabilities a patient
    toxic at a dose is toxic at every higher one. The DLT time is ``u_o`` times the assessment
    window (uniform onset, as in Yuan et al. 2018) scaled by ``onset_fraction``.

    Parameters
    ----------
    p_tox : sequence of float
        True DLT probability per dose, in [0, 1].
    p_eff : sequence of float, optional
        True response probability per dose; zeros if omitted.
    onset_fraction : float
        DLTs occur uniformly over the first ``onset_fraction`` of the window (1 = whole window).

    Raises
    ------
    DesignError
        For probabilities outside [0, 1] or mismatched lengths.
    """

    p_tox: tuple[float, ...]
    p_eff: tuple[float, ...] = ()
    onset_fraction: float = 1.0

    def __post_init__(self) -> None:
        tox = check_probabilities("p_tox", self.p_tox)
        eff = check_probabilities("p_eff", self.p_eff) if len(self.p_eff) else np.zeros(tox.size)
        if eff.size != tox.size:
            raise DesignError(
                f"`p_eff` has {eff.size} doses but `p_tox` has {tox.size}; give one value per dose."
            )
        frac = check_probability("onset_fraction", self.onset_fraction)
        if frac == 0.0:
            raise DesignError("`onset_fraction` must be positive, got 0.")
        object.__setattr__(self, "p_tox", tuple(map(float, tox)))
        object.__setattr__(self, "p_eff", tuple(map(float, eff)))

    @property
    def n_doses(self) -> int:
        return len(self.p_tox)

    def draw_outcomes(
        self, dose_index: NDArray[np.integer], uniforms: PatientUniforms, dlt_window_months: float
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.float64]]:
        tox = np.asarray(self.p_tox)[dose_index]
        eff = np.asarray(self.p_eff)[dose_index]
        dlt = uniforms.tox < tox
        resp = uniforms.eff < eff
        time = np.where(dlt, uniforms.onset * self.onset_fraction * dlt_window_months, np.inf)
        return dlt, resp, time


def potential_outcomes(
    source: OutcomeSource, uniforms: PatientUniforms, dlt_window_months: float
) -> PotentialOutcomes:
    """Evaluate ``source`` at every dose for every patient of ``uniforms``."""
    k = source.n_doses
    shape = (uniforms.n_trials, uniforms.n_patients, k)
    dlt = np.empty(shape, dtype=np.bool_)
    resp = np.empty(shape, dtype=np.bool_)
    time = np.empty(shape, dtype=np.float64)
    for d in range(k):
        idx = np.full((uniforms.n_trials, uniforms.n_patients), d, dtype=np.int64)
        a, b, c = source.draw_outcomes(idx, uniforms, dlt_window_months)
        dlt[:, :, d], resp[:, :, d], time[:, :, d] = a, b, c
    return PotentialOutcomes(dlt=dlt, response=resp, dlt_time=time)
