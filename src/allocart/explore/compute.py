"""What the explorer shows for one choice: the typical patient, a cohort band and event rates.

:func:`explore` is a pure function of a :class:`Choice` (product, dose, lymphodepletion,
optional redose, cohort size, seed) and is cached, so moving back to an earlier choice is
instant. The typical patient is :func:`allocart.model.simulate` with every parameter at its
calibrated typical value; the cohort is the virtual SLE population of
:mod:`allocart.population` simulated, turned into clinical events by the calibrated link
functions and scored by the clinical library, exactly as
:func:`allocart.population.cohort.simulate_cohort` does, with the redose added to the
scenario when one is chosen.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from allocart.errors import ProductError
from allocart.model.scenario import Scenario, parse_dose
from allocart.model.simulate import simulate
from allocart.population.cohort import cohort_frame, summarise
from allocart.population.covariates import PopulationError
from allocart.population.emit import patient_records
from allocart.population.events import derive_events
from allocart.population.links import load_links
from allocart.population.schedule import schedule_for
from allocart.population.scoring import Scorers, score_patient
from allocart.population.virtual import kinetics, population_table, simulate_virtual

__all__ = [
    "Choice",
    "Exploration",
    "Panel",
    "PANELS",
    "Rate",
    "RATES",
    "MONTHS",
    "explore",
    "horizon_days",
]

#: Endpoint months of the cohort (DORIS remission is read at month 6).
MONTHS: tuple[int, ...] = (3, 6)

#: Largest cohort the explorer simulates: an update must stay within seconds.
MAX_N = 1000


@dataclass(frozen=True)
class Panel:
    """One plotted observable.

    Attributes
    ----------
    key : str
        Observable of the model (:func:`allocart.model.codegen.observables_function`).
    label, unit : str
        Title and unit as shown.
    decades : float
        Decades shown below the highest curve on a logarithmic axis; 0, a linear axis.
    """

    key: str
    label: str
    unit: str
    decades: float

    @property
    def log(self) -> bool:
        """Whether the panel's y axis is logarithmic."""
        return self.decades > 0


#: The observables plotted over time, in display order.
PANELS: tuple[Panel, ...] = (
    Panel("car_t_cells_per_ul", "CAR-T cells in blood", "cells/µL", 5.0),
    Panel("b_cells_per_ul", "CD19+ B cells", "cells/µL", 5.0),
    Panel("anti_dsdna_iu_per_ml", "anti-dsDNA", "IU/mL", 3.0),
    Panel("il6_pg_per_ml", "IL-6", "pg/mL", 3.0),
    Panel("anc_1e9_per_l", "Neutrophils (ANC)", "×10⁹/L", 3.0),
    Panel("platelets_1e9_per_l", "Platelets", "×10⁹/L", 0.0),
    Panel("lymphocytes_1e9_per_l", "Lymphocytes", "×10⁹/L", 3.0),
)

#: Cohort rates shown, as (summary key without ``_rate``, label).
RATES: tuple[tuple[str, str], ...] = (
    ("crs_any", "CRS, any grade"),
    ("crs_grade_ge3", "CRS, grade ≥3"),
    ("icans_any", "ICANS, any grade"),
    ("dlt", "DLT (28-day window)"),
    ("doris_m6", "DORIS remission at month 6"),
)


def horizon_days() -> int:
    """Days after infusion that the explorer simulates: the cohort schedule's horizon."""
    return int(schedule_for(MONTHS, 28, None).horizon_days)


@dataclass(frozen=True)
class Choice:
    """One setting of the explorer's controls.

    Attributes
    ----------
    product : str
        Built-in product name (``allocart products``) or a product YAML file.
    dose : str
        First infusion at day 0: ``"1e6/kg"`` (cells per kg) or ``"3e8"`` (flat cells).
    ld : str
        Lymphodepletion regimen before the first infusion.
    redose_day : int or None
        Day of a second infusion after the first (1 .. horizon - 1); None, no redose.
    redose_dose : str or None
        Dose of the second infusion; None, the same as ``dose``.
    redose_ld : bool
        Repeat the lymphodepletion regimen before the redose, on the same relative days.
    n : int
        Virtual patients in the cohort (1 .. 1000).
    seed : int
        Seed of the cohort (>= 0): the same seed gives the same patients.

    Raises
    ------
    ProductError
        On a malformed dose or redose.
    PopulationError
        On a cohort size or seed out of range.
    """

    product: str = "allogeneic-cd19cd20"
    dose: str = "1e6/kg"
    ld: str = "flu-cy"
    redose_day: int | None = None
    redose_dose: str | None = None
    redose_ld: bool = False
    n: int = 100
    seed: int = 1

    def __post_init__(self) -> None:
        parse_dose(self.dose)
        if self.redose_dose is not None:
            parse_dose(self.redose_dose)
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= MAX_N:
            raise PopulationError(f"n: {self.n!r} must be a whole number of patients, 1-{MAX_N}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise PopulationError(f"seed: {self.seed!r} must be a whole number >= 0")
        d = self.redose_day
        if d is not None:
            h = horizon_days()
            if isinstance(d, bool) or not isinstance(d, int) or not 0 < d < h:
                raise ProductError(
                    f"redose_day: {d!r} must be a whole day after the first infusion, 1-{h - 1}, "
                    "or None for no redose"
                )

    def redoses(self) -> tuple[tuple[float, str], ...]:
        """The redose as ``Scenario.create`` takes it: ``((day, dose),)`` or ``()``."""
        if self.redose_day is None:
            return ()
        return ((float(self.redose_day), self.redose_dose or self.dose),)

    def scenario(self) -> Scenario:
        """The treatment scenario of this choice over the explorer's horizon."""
        return Scenario.create(
            self.product,
            self.dose,
            self.ld,
            days=float(horizon_days()),
            redose=self.redoses(),
            redose_ld=self.ld if self.redose_ld and self.redose_day is not None else None,
        )


@dataclass(frozen=True)
class Rate:
    """A cohort rate: ``k`` of ``n`` patients, with its 95% Wilson interval."""

    key: str
    label: str
    k: int
    n: int
    ci95: tuple[float, float] | None

    @property
    def rate(self) -> float:
        """``k / n`` (NaN for an empty cohort)."""
        return self.k / self.n if self.n else math.nan


@dataclass(frozen=True)
class Exploration:
    """Everything the explorer shows for one :class:`Choice`.

    Attributes
    ----------
    choice : Choice
    time : ndarray, shape (n_times,)
        Days after the first infusion (daily grid).
    typical : dict of ndarray
        The typical patient's observables (:data:`PANELS` keys), each (n_times,).
    median, p05, p95 : dict of ndarray
        Cohort median and 5th and 95th percentiles of each observable over the patients the
        solver completed, each (n_times,).
    rates : tuple of Rate
        :data:`RATES` of the cohort.
    n_failed : int
        Virtual patients whose solve failed (left out of bands and rates).
    seconds : float
        Wall time of the computation (s).
    """

    choice: Choice
    time: np.ndarray
    typical: dict[str, np.ndarray]
    median: dict[str, np.ndarray]
    p05: dict[str, np.ndarray]
    p95: dict[str, np.ndarray]
    rates: tuple[Rate, ...]
    n_failed: int
    seconds: float


def _cohort(choice: Choice, scenario: Scenario):
    """Virtual cohort and scored patient table of ``scenario`` (as ``simulate_cohort``)."""
    sched = schedule_for(MONTHS, 28, None)
    lk = load_links().values()
    vc = simulate_virtual(
        scenario,
        choice.n,
        choice.seed,
        sched,
        table=population_table(),
        n_flare=int(lk["sledai_flare_descriptors"]),
    )
    kin = kinetics(vc, aplasia_below=lk["b_aplasia_below_per_ul"])
    ev = derive_events(vc, lk, kin, scenario.product.gvhd_tcr_residual())
    scorers = Scorers.create(28, None)
    scored = [
        score_patient(patient_records(vc, ev, i, lk), scorers, sched.month_days)
        for i in range(vc.n)
    ]
    return vc, cohort_frame(vc, ev, kin, scored, tuple(sched.month_days), lk)


@functools.lru_cache(maxsize=64)
def explore(choice: Choice) -> Exploration:
    """Simulate the typical patient and the cohort of ``choice`` (cached per choice).

    Parameters
    ----------
    choice : Choice

    Returns
    -------
    Exploration

    Raises
    ------
    AllocartError
        On an unknown product or regimen (named by its field).
    """
    t0 = time.perf_counter()
    scenario = choice.scenario()
    typ = simulate(
        scenario.product,
        scenario.dose,
        scenario.regimen,
        days=scenario.days,
        typical=True,
        redose=scenario.redoses,
        redose_ld=scenario.redose_regimen,
        table=population_table(),
    )
    vc, patients = _cohort(choice, scenario)
    ok = ~vc.failed
    keys = [p.key for p in PANELS]
    median, p05, p95 = {}, {}, {}
    for k in keys:
        y = vc.obs[k][ok]
        if y.shape[0]:
            p05[k], median[k], p95[k] = np.percentile(y, [5, 50, 95], axis=0)
        else:
            p05[k] = median[k] = p95[k] = np.full(vc.time.shape, np.nan)
    summary = summarise(patients)
    n_ok = int(ok.sum())
    rates = tuple(
        Rate(
            key=key,
            label=label,
            k=int(round(summary[f"{key}_rate"] * n_ok))
            if summary[f"{key}_rate"] is not None
            else 0,
            n=n_ok,
            ci95=summary.get(f"{key}_ci95"),
        )
        for key, label in RATES
    )
    return Exploration(
        choice=choice,
        time=vc.time,
        typical={k: typ.observables[k][0] for k in keys},
        median=median,
        p05=p05,
        p95=p95,
        rates=rates,
        n_failed=int(vc.failed.sum()),
        seconds=time.perf_counter() - t0,
    )
