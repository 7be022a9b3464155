"""Simulate virtual patients of a scenario: the Python API behind ``allocart simulate``."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from allocart.engine import BatchResult, EventTable, build_kernel, solve_batch
from allocart.errors import AllocartError, ModelError
from allocart.files import atomic_write
from allocart.model.codegen import model_hash, observables_function, rhs_source, rhs_source_lanes
from allocart.model.display import simulation_html
from allocart.model.equations import MODEL
from allocart.model.parameters import ParameterTable, load_default_parameters, load_overrides
from allocart.model.products import Product, Regimen
from allocart.model.scenario import (
    TYPICAL_WEIGHT_KG,
    Dose,
    PatientBatch,
    Scenario,
    build_batch,
    sample_parameters,
    sample_weight_kg,
)

__all__ = ["simulate", "Simulation", "get_kernel", "solve", "DEFAULT_RTOL", "state_atol"]

DEFAULT_RTOL = 1e-8
"""Default relative tolerance of ``simulate``: tight enough that the typical patient agrees
with an independent CVODE solution of the SBML export to better than 1e-5."""


def state_atol(scale: float = 1.0) -> np.ndarray:
    """Absolute tolerances per state (state units), from the model definition."""
    return np.array([s.atol for s in MODEL.states]) * scale


@functools.lru_cache(maxsize=1)
def get_kernel() -> types.ModuleType:
    """The batched solver compiled for the model (cached on disk across processes)."""
    return build_kernel(rhs_source(), f"allocart_model_{model_hash()}", rhs_source_lanes())


@dataclass(frozen=True)
class Simulation:
    """Result of :func:`simulate`.

    Attributes
    ----------
    scenario : Scenario
    time : ndarray, shape (n_times,)
        Days after the first infusion.
    states : ndarray, shape (n, n_times, n_states)
    observables : dict of ndarray, each (n, n_times)
    batch : PatientBatch
    status : ndarray, shape (n,)
        Solver status per patient (0 = ok).
    """

    scenario: Scenario
    time: np.ndarray
    states: np.ndarray
    observables: dict[str, np.ndarray]
    batch: PatientBatch
    status: np.ndarray
    failures: tuple[tuple[int, str], ...] = ()

    @property
    def n(self) -> int:
        return int(self.states.shape[0])

    def state(self, name: str) -> np.ndarray:
        return self.states[:, :, MODEL.state_index(name)]

    def _repr_html_(self) -> str:
        """Jupyter display: the scenario, key read-outs and a sketch of CAR-T and B cells."""
        return simulation_html(self)

    def to_frame(self, *, states: bool = False) -> pd.DataFrame:
        """Long table: ``id``, ``time`` and one column per observable (and state)."""
        n, nt = self.states.shape[:2]
        cols: dict[str, Any] = {
            "id": np.repeat(np.arange(1, n + 1), nt),
            "time": np.tile(self.time, n),
        }
        for k, v in self.observables.items():
            cols[k] = v.reshape(-1)
        lloq = self.batch.param_dict()["LLOQ_transgene"][:, None]
        cols["transgene_blq"] = (self.observables["transgene_copies_per_ug"] < lloq).reshape(-1)
        if states:
            for i, s in enumerate(MODEL.state_names):
                cols[s] = self.states[:, :, i].reshape(-1)
        return pd.DataFrame(cols)

    def to_xarray(self, *, states: bool = False) -> xr.Dataset:
        """The read-outs as an ``xarray.Dataset`` over patients × time.

        Parameters
        ----------
        states : bool
            Also the model's states, one variable each.

        Returns
        -------
        xarray.Dataset
            Dimensions ``id`` (1-based patient number) and ``time`` (days after the first
            infusion); one variable per read-out (its unit in ``attrs["unit"]`` where the name
            carries it), ``status`` per patient (0 = solved), and the scenario in ``attrs``.
        """
        ids = np.arange(1, self.n + 1)
        data: dict[str, Any] = {
            k: (("id", "time"), np.asarray(v)) for k, v in self.observables.items()
        }
        if states:
            for i, s in enumerate(MODEL.state_names):
                data[s] = (("id", "time"), self.states[:, :, i])
        data["status"] = (("id",), np.asarray(self.status))
        ds = xr.Dataset(data, coords={"id": ids, "time": np.asarray(self.time)})
        ds["time"].attrs["unit"] = "day"
        ds.attrs.update(
            product=self.scenario.product.name,
            dose=str(self.scenario.dose),
            lymphodepletion=self.scenario.regimen.name,
        )
        return ds


def solve(
    batch: PatientBatch,
    t_out: np.ndarray,
    *,
    rtol: float = DEFAULT_RTOL,
    atol_scale: float = 1.0,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Integrate a patient batch with the compiled engine; returns the engine's BatchResult."""
    events = EventTable(
        time=batch.event_time, state=batch.event_state, op=batch.event_op, value=batch.event_value
    )
    return solve_batch(
        get_kernel(),
        batch.y0,
        batch.params,
        t_out,
        t0=batch.t0,
        events=events,
        rtol=rtol,
        atol=state_atol(atol_scale),
        n_threads=n_threads,
        progress=progress,
    )


def simulate(
    product: str | Product = "allogeneic-cd19cd20",
    dose: str | float | Dose = "1e6/kg",
    ld: str | Regimen = "flu-cy",
    *,
    days: float = 365.0,
    dt: float = 1.0,
    n: int = 1,
    seed: int = 0,
    typical: bool = False,
    params: str | Path | Mapping[str, Any] | None = None,
    redose: Sequence[tuple[float, str | float | Dose]] = (),
    redose_ld: str | Regimen | None = None,
    weight_kg: float | None = None,
    rtol: float = DEFAULT_RTOL,
    table: ParameterTable | None = None,
    progress: Callable[[int, int], None] | None = None,
    gcsf_from_day: float | None = None,
) -> Simulation:
    """Simulate ``n`` virtual patients (or the typical patient) of a scenario.

    Parameters
    ----------
    product : str or Product
        Built-in product name, path to a product YAML file, or a loaded product.
    dose : str, float or Dose
        ``"1e6/kg"`` (cells per kg), ``"3e8"`` (flat cells), or a parsed dose.
    ld : str or Regimen
        Lymphodepletion regimen name, YAML path, or a loaded regimen.
    days : float
        Horizon in days after infusion; output on a uniform grid of step ``dt`` days.
    n : int
        Number of virtual patients (ignored with ``typical=True``, which gives one).
    seed : int
        Seed of the between-patient variability.
    typical : bool
        Simulate the typical patient (all parameters at their typical values, 60 kg).
    params : path or mapping, optional
        Parameter overrides (see :func:`allocart.model.parameters.load_overrides`).
    redose : sequence of (day, dose)
        Later infusions (day after the first infusion; dose as ``dose``).
    redose_ld : str or Regimen, optional
        Lymphodepletion regimen repeated before each redose (same days relative to it).
    weight_kg : float, optional
        Body weight of every patient; default 60 kg for the typical patient and
        log-normal (CV 20%) around 60 kg for virtual patients.
    rtol : float
        Relative tolerance of the solver.
    gcsf_from_day : float, optional
        Supportive care: G-CSF whenever ANC < ``ANC_gcsf`` from this day after the infusion.

    Returns
    -------
    Simulation

    Raises
    ------
    AllocartError
        On unknown product or regimen, malformed dose, bad parameter overrides.
    """
    if not (np.isfinite(dt) and dt > 0):
        raise ModelError(f"dt: {dt!r} must be a positive number of days", argument="dt")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ModelError(f"n: {n!r} must be a positive whole number of patients", argument="n")
    scenario = Scenario.create(
        product,
        dose,
        ld,
        days=days,
        redose=redose,
        redose_ld=redose_ld,
        gcsf_from_day=gcsf_from_day,
    )
    tab = table or load_default_parameters()
    if params is not None:
        overrides = load_overrides(params) if isinstance(params, (str, Path)) else dict(params)
        tab = tab.with_overrides(overrides, origin="params")
    n_pat = 1 if typical else int(n)
    rng = np.random.default_rng(seed)
    primary = sample_parameters(tab, n_pat, rng, typical=typical)
    if weight_kg is not None:
        if not (np.isfinite(weight_kg) and weight_kg > 0):
            raise ModelError(
                f"weight: {weight_kg!r} must be a positive number of kg", argument="weight"
            )
        weight = np.full(n_pat, float(weight_kg))
    elif typical:
        weight = np.full(n_pat, TYPICAL_WEIGHT_KG)
    else:
        weight = sample_weight_kg(n_pat, rng)
    batch = build_batch(scenario, primary, weight)
    t_out = np.arange(0.0, days + 0.5 * dt, dt)
    t_out = t_out[t_out <= days + 1e-9]
    res = solve(batch, t_out, rtol=rtol, progress=progress)
    obs = observables_function()(res.y, batch.param_dict())
    failures = tuple(res.failures()) if hasattr(res, "failures") else ()
    return Simulation(
        scenario=scenario,
        time=t_out,
        states=res.y,
        observables=obs,
        batch=batch,
        status=np.asarray(res.status),
        failures=failures,
    )


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a simulation table as ``.csv`` or ``.parquet`` (chosen by the suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise AllocartError(f"out: {str(path)!r} must end in .csv or .parquet", argument="out")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: never a half-written table under the final name.
    if suffix == ".csv":
        return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
