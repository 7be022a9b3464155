"""What one model evaluation of the sensitivity analysis is: points of the unit hypercube in,
outputs out. The evaluation function is pluggable (:class:`Evaluator`); the analysis
(:mod:`allocart.sensitivity.run`) does not know what it evaluates.

:class:`CohortEvaluator` evaluates the trial model over the virtual population: each point gives
the typical values of the analysed parameters (through each row's uncertainty), and one
evaluation is a small virtual cohort per dose level of the protocol's product and regimen,
simulated and scored with those values, plus replicate trials of the protocol's design drawn
from these cohorts. Every evaluation uses the same seed: the same people, covariates,
between-patient variability and trial uniforms (common random numbers), so outputs differ
between points by the parameters alone and each output is a deterministic function of them.

:class:`Ishigami` is the test function of Ishigami and Homma (1990) with analytic Sobol indices,
run through the same analysis to check it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol as TypingProtocol
from typing import runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.errors import SensitivityError
from allocart.model.parameters import ParameterTable, typical_value_quantiles
from allocart.trial.protocol import Protocol
from allocart.trial.uncertainty import simulate_arm_pools, trials_on_pools

__all__ = [
    "Evaluator",
    "CohortEvaluator",
    "Ishigami",
    "COHORT_OUTPUTS",
    "cohort_outputs",
]

#: Outputs of a cohort evaluation at the reference dose level (besides the selection
#: probabilities ``p_select_level<k>`` and ``p_select_none``), with their units.
COHORT_OUTPUTS: dict[str, str] = {
    "b_cell_aplasia_days": "days (mean over patients)",
    "car_t_persistence_days": "days (mean over patients)",
    "dlt_rate": "probability",
    "doris_m6": "probability",
}


def cohort_outputs(n_levels: int) -> tuple[str, ...]:
    """Every output a :class:`CohortEvaluator` can report for ``n_levels`` dose levels."""
    sel = tuple(f"p_select_level{k}" for k in range(1, n_levels + 1))
    return (*COHORT_OUTPUTS, *sel, "p_select_none")


@runtime_checkable
class Evaluator(TypingProtocol):
    """A model evaluation for the sensitivity analysis (picklable, for Dask).

    Attributes
    ----------
    names : tuple of str
        The analysed inputs, one per column of the unit hypercube.
    outputs : tuple of str
        What each evaluation returns, one column each.
    """

    # Read-only: frozen dataclasses implement the protocol.
    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def outputs(self) -> tuple[str, ...]: ...

    def values(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Input values at the points ``u`` (shape ``(m, len(names))``), for the record."""
        ...

    def __call__(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Outputs at the points ``u``, shape ``(m, len(outputs))``."""
        ...


@dataclasses.dataclass(frozen=True)
class Ishigami:
    """Ishigami-Homma function ``sin x1 + a sin^2 x2 + b x3^4 sin x1``, ``x_i ~ U(-pi, pi)``.

    Analytic indices (:meth:`analytic`) for ``a = 7, b = 0.1``: S1 = 0.314, 0.442, 0 and ST =
    0.558, 0.442, 0.244 (Ishigami and Homma 1990; Saltelli et al. 2008, section 3.2).
    """

    a: float = 7.0
    b: float = 0.1
    names: tuple[str, ...] = ("x1", "x2", "x3")
    outputs: tuple[str, ...] = ("y",)

    def values(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        return -math.pi + 2 * math.pi * np.asarray(u, dtype=float)

    def __call__(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        x = self.values(u)
        y = (
            np.sin(x[:, 0])
            + self.a * np.sin(x[:, 1]) ** 2
            + self.b * x[:, 2] ** 4 * np.sin(x[:, 0])
        )
        return y[:, None]

    def analytic(self) -> dict[str, tuple[float, float, float]]:
        """Analytic first-order (``S1``) and total (``ST``) indices of x1, x2, x3."""
        a, b, pi = self.a, self.b, math.pi
        v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
        v2 = a**2 / 8
        v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
        v = v1 + v2 + v13
        return {"S1": (v1 / v, v2 / v, 0.0), "ST": ((v1 + v13) / v, v2 / v, v13 / v)}


@dataclasses.dataclass(frozen=True)
class CohortEvaluator:
    """One evaluation: cohorts of the protocol's arm at every dose level, and trials on them.

    Parameters
    ----------
    protocol : Protocol
        Product, regimen, dose levels, design, visits and seed.
    table : ParameterTable
        The population's table; each analysed row carries an uncertainty.
    names : tuple of str
        Analysed parameters.
    outputs : tuple of str
        A subset of :func:`cohort_outputs`.
    patients : int
        Virtual patients per dose level and evaluation (only the reference level is simulated
        when no selection probability is asked for).
    trials : int
        Replicate trials per evaluation (selection probabilities).
    dose_level : int
        1-based reference dose level of the per-patient outputs.
    fixed : tuple of (str, float)
        Typical values held fixed (parameters not analysed in this stage).
    """

    protocol: Protocol
    table: ParameterTable
    names: tuple[str, ...]
    outputs: tuple[str, ...]
    patients: int
    trials: int
    dose_level: int
    fixed: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        known = cohort_outputs(len(self.protocol.dose_levels))
        bad = [o for o in self.outputs if o not in known]
        if bad:
            raise SensitivityError(
                f"outputs: {bad[0]!r} is not an output of this protocol; choose from {', '.join(known)}"
            )
        if not 1 <= self.dose_level <= len(self.protocol.dose_levels):
            raise SensitivityError(
                f"dose_level: {self.dose_level} is not a level of the protocol "
                f"(1-{len(self.protocol.dose_levels)})"
            )

    def values(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        return typical_value_quantiles(self.table, self.names, u)

    def restrict(self, names: tuple[str, ...]) -> CohortEvaluator:
        """The same evaluation over ``names`` only, the other parameters at their typical values."""
        return dataclasses.replace(self, names=tuple(names))

    def __call__(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        x = self.values(u)
        out = np.empty((x.shape[0], len(self.outputs)))
        for i, row in enumerate(x):
            over = {**dict(self.fixed), **dict(zip(self.names, map(float, row), strict=True))}
            out[i] = self.evaluate(over)
        return out

    def evaluate(self, overrides: dict[str, float]) -> NDArray[np.float64]:
        """Outputs with the typical values ``overrides`` (NaN where nothing was observed)."""
        trials = any(o.startswith("p_select") for o in self.outputs)
        levels = None if trials else (self.dose_level - 1,)  # the reference dose is enough
        pools = simulate_arm_pools(self.protocol, overrides, self.patients, levels=levels)
        ok = ~pools.groupby("id")["failed"].transform("any").to_numpy(dtype=bool)
        ref = pools[ok & (pools["level"] == self.dose_level - 1).to_numpy()]
        values: dict[str, float] = {
            "b_cell_aplasia_days": _mean(ref, "b_cell_aplasia_days"),
            "car_t_persistence_days": _mean(ref, "car_t_persistence_days"),
            "dlt_rate": _mean(ref, "dlt"),
            "doris_m6": _mean(ref, "doris_m6"),
        }
        if trials and ok.any():
            st, _ = trials_on_pools(self.protocol, pools, 0, self.trials)
            sel = st["selected_level"].to_numpy()
            for k in range(len(self.protocol.dose_levels) + 1):
                name = "p_select_none" if k == 0 else f"p_select_level{k}"
                values[name] = float(np.mean(sel == k))
        return np.array([values.get(o, np.nan) for o in self.outputs], dtype=float)


def _mean(df: pd.DataFrame, col: str) -> float:
    if col not in df.columns or df.empty:
        return float("nan")
    return float(df[col].astype(float).mean())
