"""A dataset sampled from a simulation: sparse samples, log-normal residual error, LLOQ censoring.

The default residual CVs are the assays' (:data:`allocart.data.OBSERVABLES`, from the
residual-error table), so a fit of the result with the default error models is consistent
with how it was made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from allocart.data.dataset import Dataset
from allocart.data.observables import OBSERVABLES
from allocart.data.records import records_from_observations
from allocart.data.schema import DOSE_COLUMNS, OBSERVATION_COLUMNS
from allocart.data.times import format_iso, parse_iso, shift_days
from allocart.errors import DataError

if TYPE_CHECKING:  # pragma: no cover - the model layer sits below; only the type is named
    from allocart.model.simulate import Simulation

__all__ = ["DEFAULT_SAMPLE_DAYS", "dataset_from_simulation"]

#: Sampling days of :func:`dataset_from_simulation` (a typical CAR-T schedule; those beyond
#: the simulated horizon are dropped).
DEFAULT_SAMPLE_DAYS = (
    0.0,
    1.0,
    3.0,
    7.0,
    10.0,
    14.0,
    21.0,
    28.0,
    42.0,
    56.0,
    90.0,
    120.0,
    180.0,
    270.0,
    365.0,
)


def dataset_from_simulation(
    sim: Simulation,
    sample_days: Sequence[float] = DEFAULT_SAMPLE_DAYS,
    observables: Sequence[str] = tuple(OBSERVABLES),
    seed: int | np.random.Generator = 0,
    *,
    error_cv: Mapping[str, float] | None = None,
    lloq: Mapping[str, float | None] | None = None,
    ids: Sequence[str] | None = None,
    start_date: str | date | None = "2025-01-06",
    enrolment_interval_days: float = 14.0,
    with_records: bool = True,
) -> Dataset:
    """Sample a simulation sparsely, add residual error and censor below the LLOQ.

    Each observation is ``true * exp(sigma * z)`` with ``sigma = sqrt(log(1 + cv^2))`` (a
    log-normal error of coefficient of variation ``cv``); a value below the read-out's LLOQ
    becomes a censored row carrying the LLOQ. The true parameters stay in ``sim.batch``, so a
    fit of the result can be checked against them.

    Parameters
    ----------
    sim : Simulation
        From :func:`allocart.model.simulate.simulate`.
    sample_days : sequence of float
        Days after the infusion to sample; each must be on the simulation's output grid
        (simulate with a ``dt`` that hits them); days beyond the horizon are dropped.
    observables : sequence of str
        Read-outs to sample (names of :data:`OBSERVABLES`).
    seed : int or Generator
        Seed of the residual error.
    error_cv : mapping, optional
        Residual CV per read-out (default :attr:`AssayReadout.error_cv`; 0 = no error).
    lloq : mapping, optional
        LLOQ per read-out in its unit, None for none (default :attr:`AssayReadout.lloq`; the
        transgene default is each patient's ``LLOQ_transgene`` parameter).
    ids : sequence of str, optional
        Subject ids; default ``"SIM-001"``, ``"SIM-002"``, ...
    start_date : str or date or None
        Infusion date of the first patient; later patients are infused every
        ``enrolment_interval_days``. None leaves ``infusion_date`` unknown.
    with_records : bool
        Also build the clinical lab records mirroring the LB read-outs.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        On an unknown read-out, a sample day off the output grid, or failed patients.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    bad = [o for o in observables if o not in OBSERVABLES or o not in sim.observables]
    if bad:
        raise DataError(
            f"observables: {', '.join(map(repr, bad))} not model read-outs; use {', '.join(OBSERVABLES)}"
        )
    cvs = {o: OBSERVABLES[o].error_cv for o in OBSERVABLES} | dict(error_cv or {})
    lloqs: dict[str, Any] = {o: OBSERVABLES[o].lloq for o in OBSERVABLES} | dict(lloq or {})
    for name, cv in cvs.items():
        if not (math.isfinite(cv) and cv >= 0):
            raise DataError(f"error_cv[{name!r}] = {cv!r} must be a non-negative number")
    failed = [int(i) + 1 for i in np.flatnonzero(np.asarray(sim.status) != 0)]
    if failed:
        raise DataError(
            f"simulation: patients {failed} failed to solve; simulate them again (other seed or tolerance)"
        )
    days = [float(d) for d in sample_days if d <= sim.time[-1] + 1e-9]
    if not days:
        raise DataError(
            f"sample_days: none lies within the simulated horizon (0..{sim.time[-1]:g} days)"
        )
    cols = []
    for d in days:
        j = int(np.argmin(np.abs(sim.time - d)))
        if abs(sim.time[j] - d) > 1e-9:
            raise DataError(
                f"sample_days: day {d:g} is not on the simulation grid (step {sim.time[1] - sim.time[0]:g} days); "
                "simulate with a dt that hits every sample day"
            )
        cols.append(j)
    n = sim.n
    ids = [f"SIM-{i + 1:03d}" for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n or len(set(ids)) != n:
        raise DataError(f"ids: give {n} distinct ids, one per simulated patient; got {len(ids)}")
    lloq_tg = sim.batch.param_dict().get("LLOQ_transgene")
    rows: list[tuple[str, float, str, float, float, bool]] = []
    for name in observables:  # one draw block per read-out, so adding one keeps the others' draws
        truth = sim.observables[name][:, cols]
        sigma = math.sqrt(math.log1p(cvs[name] ** 2))
        noisy = truth * np.exp(sigma * rng.standard_normal(truth.shape))
        for i in range(n):
            lim = lloqs.get(name)
            if (
                name == "transgene_copies_per_ug"
                and (lloq is None or name not in lloq)
                and lloq_tg is not None
            ):
                lim = float(lloq_tg[i])
            for k, d in enumerate(days):
                v = float(noisy[i, k])
                if lim is not None and v < lim:
                    rows.append((ids[i], d, name, float(lim), float(lim), True))
                else:
                    rows.append((ids[i], d, name, v, np.nan if lim is None else float(lim), False))
    observations = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))

    scen = sim.scenario
    dose_rows: list[tuple[str, float, str, float, str]] = []
    for i in range(n):
        for day, dose in scen.infusions():
            dose_rows.append(
                (
                    ids[i],
                    float(day),
                    "car_t",
                    float(dose.value),
                    "cells/kg" if dose.per_kg else "cells",
                )
            )
        courses = [(0.0, scen.regimen)] + (
            [(day, scen.redose_regimen) for day, _ in scen.redoses]
            if scen.redose_regimen is not None
            else []
        )
        for offset, regimen in courses:
            for drug, course in regimen.drugs.items():
                for dd in course.days:
                    dose_rows.append(
                        (ids[i], offset + float(dd), drug, float(course.mg_per_m2_per_day), "mg/m2")
                    )
    doses = pd.DataFrame(dose_rows, columns=list(DOSE_COLUMNS))

    infusion: list[str | None]
    if start_date is None:
        infusion = [None] * n
    else:
        first = parse_iso(start_date.isoformat() if isinstance(start_date, date) else start_date)
        infusion = [format_iso(shift_days(first, i * enrolment_interval_days)) for i in range(n)]
    subjects = pd.DataFrame(
        {
            "id": ids,
            "product": scen.product.name,
            "ld": scen.regimen.name,
            "weight_kg": np.asarray(sim.batch.weight_kg, dtype=float),
            "infusion_date": infusion,
        }
    )
    records = records_from_observations(observations, subjects) if with_records else {}
    return Dataset(
        subjects=subjects,
        doses=doses,
        observations=observations,
        records=records,
        source=f"simulation of {scen.product.name} {scen.dose} {scen.regimen.name}",
    ).validate()
