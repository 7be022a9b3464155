"""Replicate trials with parameter uncertainty (a nested study), and parameter-scenario arms.

Without parameter uncertainty every replicate trial of a run meets virtual patients simulated
with the same typical values, so its operating characteristics carry only Monte-Carlo and
between-patient variability. With ``uncertainty: true`` a run also simulates a **nested study**
of the protocol's own product, regimen and dose levels (arm 0):

1. an outer draw of the typical values of every parameter that carries an uncertainty
   (:func:`draw_typical_values`, inverse-CDF of each row's distribution from uniforms seeded by
   the protocol's seed);
2. a pool of virtual patients per draw and dose level, simulated and scored with those typical
   values (the same people, seed and visits as the run's pools: common random numbers, so the
   draws differ by their parameters only);
3. several replicate trials per draw: replicate ``i`` belongs to draw ``i // trials_per_draw``
   and uses the same patient uniforms (arrivals, who is enrolled) as replicate ``i`` of the run
   without uncertainty, so the two are compared trial by trial.

The numbers (:func:`nested_plan`) come from Monte-Carlo error. The spread of an operating
characteristic across draws is what the study measures; each draw's estimate of, say, the
probability of selecting a dose carries a binomial error of at most ``0.5 / sqrt(T)`` with ``T``
trials per draw, and a pool of ``P`` patients fixes each dose's true rates within
``0.5 / sqrt(P)``. :data:`NESTED_DRAWS` = 20 draws of the protocol's ``R`` replicates give
``T = R / 20`` (100 for the default 2000: error <= 0.05, below the spreads seen across draws)
and 20 points for the 5-95% range across draws; pools of :data:`MAX_DRAW_POOL` = 100 (error <=
0.05) keep the cost at 20 x levels x 100 patients (6000 for three levels, about as many as the
run's own pools).

``parameter_scenarios`` (:mod:`allocart.trial.parameter_scenarios`) are run the same way: one
pool per scenario and dose level of the full ``pool_size`` and all replicates, the same patients
and uniforms, so the scenarios' selected doses and DORIS rates differ by the scenario alone.

Everything is stored under the run's checkpoint folder as it completes (one file per draw or
scenario, written atomically), so an interrupted run resumes where it stopped; the tables are
added to ``results.duckdb`` (:func:`parameter_study`).
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.design.base import TRIAL_BLOCK
from allocart.files import atomic_write_bytes
from allocart.model.parameters import ParameterTable, typical_value_quantiles, uncertain_names
from allocart.population import cohort as _cohort
from allocart.population.virtual import population_table
from allocart.trial.parameter_scenarios import load_parameter_scenario
from allocart.trial.pools import (
    PoolKey,
    PoolOutcomes,
    arms_of,
    eligible_people,
    endpoint_months,
    pool_columns,
    pool_outcomes,
)
from allocart.trial.protocol import Protocol
from allocart.trial.replicates import ChunkResult, simulate_chunk
from allocart.trial.uncertainty_tables import add_section, oc_table, scenario_table, study_section

__all__ = [
    "NESTED_DRAWS",
    "MAX_DRAW_POOL",
    "NestedPlan",
    "nested_plan",
    "single_arm",
    "draw_typical_values",
    "simulate_arm_pools",
    "replicate_stats",
    "trials_on_pools",
    "ParameterStudy",
    "parameter_study",
]

#: Outer draws of typical values in the nested study (see the module notes).
NESTED_DRAWS = 20
#: Largest pool of virtual patients per draw and dose level.
MAX_DRAW_POOL = 100
#: Mixed into the protocol's seed for the draws of typical values (a stream of its own).
_DRAW_STREAM = 0x0A11_0C17
#: Kinetic read-outs kept in the pools besides the trial's columns.
KINETIC_COLUMNS = ("b_cell_aplasia_days", "car_t_persistence_days")


@dataclasses.dataclass(frozen=True)
class NestedPlan:
    """Sizes of the nested study.

    Attributes
    ----------
    draws : int
        Outer draws of typical values.
    trials_per_draw : int
        Replicate trials per draw (the last draw may have fewer).
    pool_size : int
        Virtual patients per draw and dose level.
    replicates : int
        Replicate trials in all (the protocol's).
    """

    draws: int
    trials_per_draw: int
    pool_size: int
    replicates: int

    def ranges(self) -> list[tuple[int, int, int]]:
        """``(draw, first, stop)`` of every piece of trials, never crossing a trial block."""
        out: list[tuple[int, int, int]] = []
        for d in range(self.draws):
            first = d * self.trials_per_draw
            stop = min(first + self.trials_per_draw, self.replicates)
            out.extend((d, a, b) for a, b in _block_ranges(first, stop))
        return out


def _block_ranges(first: int, stop: int) -> list[tuple[int, int]]:
    out = []
    while first < stop:
        end = min(stop, (first // TRIAL_BLOCK + 1) * TRIAL_BLOCK)
        out.append((first, end))
        first = end
    return out


def nested_plan(protocol: Protocol) -> NestedPlan:
    """The nested study's sizes for ``protocol`` (see the module notes for the reasoning)."""
    r = protocol.simulation.replicates
    per = math.ceil(r / min(NESTED_DRAWS, r))
    return NestedPlan(
        draws=math.ceil(r / per),
        trials_per_draw=per,
        pool_size=min(protocol.simulation.pool_size, MAX_DRAW_POOL),
        replicates=r,
    )


def single_arm(protocol: Protocol) -> Protocol:
    """The protocol without comparators, uncertainty or scenarios (arm 0 only)."""
    return protocol.model_copy(
        update={"comparators": (), "uncertainty": False, "parameter_scenarios": ()}
    )


def draw_typical_values(
    table: ParameterTable, names: tuple[str, ...], n: int, seed: int
) -> NDArray[np.float64]:
    """``n`` draws of the typical values of ``names``, shape ``(n, len(names))``.

    Uniforms from ``SeedSequence([seed, stream])`` mapped through each row's uncertainty
    (:func:`~allocart.model.parameters.typical_value_quantiles`): the same seed gives the same
    draws on every machine, and the draws do not touch the patients' random streams.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _DRAW_STREAM]))
    return typical_value_quantiles(table, names, rng.random((int(n), len(names))))


def simulate_arm_pools(
    protocol: Protocol,
    overrides: Mapping[str, Any] | None,
    pool_size: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    levels: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """Pools of arm 0 at every dose level (or the 0-based ``levels``) with the typical values
    ``overrides``.

    The same settings as the run's pools (:func:`allocart.trial.pools.simulate_pool`): seed,
    endpoint months, DLT window and rules, G-CSF, visits. Returns one frame with a ``level``
    column (0-based) and the trial's columns plus :data:`KINETIC_COLUMNS`.
    """
    arm = arms_of(protocol)[0]
    sim = protocol.simulation
    keep = ["id", *pool_columns(protocol), *KINETIC_COLUMNS]
    frames = []
    for lv, dose in enumerate(arm.dose_levels):
        if levels is not None and lv not in levels:
            continue
        res = _cohort.simulate_cohort(  # through the module: test stand-ins replace it
            arm.product,
            dose,
            arm.lymphodepletion,
            pool_size,
            sim.seed,
            months=endpoint_months(protocol),
            dlt_window_days=protocol.dlt.window_days,
            dlt_rules=dict(protocol.dlt.rules) or None,
            progress=progress,
            model_overrides=dict(overrides) if overrides else None,
            gcsf_from_day=protocol.supportive_care.gcsf_from_day,
            visit_days=protocol.visit_days,
        )
        df = res.patients.reset_index(drop=True)
        frames.append(df[[c for c in dict.fromkeys(keep) if c in df.columns]].assign(level=lv))
    return pd.concat(frames, ignore_index=True)


def _sources(protocol: Protocol, pools: pd.DataFrame) -> PoolOutcomes:
    keyed = {
        PoolKey(0, int(lv)): g.reset_index(drop=True) for lv, g in pools.groupby("level", sort=True)
    }
    return pool_outcomes(protocol, keyed, eligible_people(keyed))[0]


def replicate_stats(chunk: ChunkResult, source: PoolOutcomes, arm: int = 0) -> pd.DataFrame:
    """Per replicate trial of ``chunk``: patients treated, DLTs, responses and the selection.

    Returns
    -------
    DataFrame
        ``replicate``, ``n_treated``, ``n_dlt``, ``n_response``, ``dlt_rate`` (DLTs per patient
        treated) and ``selected_level`` (1-based, 0 when no dose was selected).
    """
    dose = chunk.dose[arm].astype(np.int64)
    on = dose >= 0
    k = np.clip(dose, 0, None)
    person = np.minimum(chunk.person, source.n_people - 1)
    n = on.sum(axis=1)
    dlt = (source.dlt[k, person] & on).sum(axis=1)
    resp = (source.response[k, person] & on).sum(axis=1)
    return pd.DataFrame(
        {
            "replicate": np.arange(chunk.first, chunk.stop),
            "n_treated": n,
            "n_dlt": dlt,
            "n_response": resp,
            "dlt_rate": np.where(n > 0, dlt / np.maximum(n, 1), np.nan),
            "selected_level": chunk.selected[arm] + 1,
        }
    )


def trials_on_pools(
    protocol: Protocol, pools: pd.DataFrame, first: int, stop: int
) -> tuple[pd.DataFrame, PoolOutcomes]:
    """Replicate trials ``first .. stop - 1`` of arm 0 on ``pools`` (:func:`simulate_arm_pools`).

    Returns the :func:`replicate_stats` of those trials and the outcome source they drew from.
    """
    one = single_arm(protocol)
    src = _sources(one, pools)
    parts = [
        replicate_stats(simulate_chunk(one, [src], a, b), src)
        for a, b in _block_ranges(first, stop)
    ]
    return pd.concat(parts, ignore_index=True), src


def true_rates(protocol: Protocol, pools: pd.DataFrame) -> pd.DataFrame:
    """Per dose level: the pool's DLT and response probabilities and mean kinetic read-outs."""
    src = _sources(single_arm(protocol), pools)
    out = pd.DataFrame(
        {
            "dose_level": np.arange(1, src.n_doses + 1),
            "true_dlt_prob": src.dlt.mean(axis=1),
            "true_response_prob": src.response.mean(axis=1),
        }
    )
    ok = ~pools.groupby("id")["failed"].transform("any").to_numpy(dtype=bool)
    for col in (*KINETIC_COLUMNS, "doris_m6"):
        if col in pools.columns:
            vals = pools.loc[ok].groupby("level")[col].mean()
            out[col] = vals.reindex(range(src.n_doses)).to_numpy(dtype=float)
    return out


# --------------------------------------------------------------------------- the study of a run
@dataclasses.dataclass(frozen=True)
class ParameterStudy:
    """The tables of a run's nested study and scenario arms (empty frames when not asked for)."""

    tables: tuple[tuple[str, pd.DataFrame], ...]

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        return list(self.tables)

    def get(self, name: str) -> pd.DataFrame | None:
        return dict(self.tables).get(name)

    def write(self, results: Path) -> None:
        """Add the tables to the run's ``results.duckdb`` (replacing earlier ones)."""
        if not self.tables:
            return
        import duckdb

        con = duckdb.connect(str(results))
        try:
            for name, df in self.tables:
                con.register("_frame", df)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _frame')
                con.unregister("_frame")
        finally:
            con.close()

    def add_to_report(self, protocol: Protocol, report: Path) -> None:
        """Add the section of the parameter study to the run's ``report.html``."""
        if self.tables and Path(report).is_file():
            add_section(Path(report), study_section(protocol, self))


def _save(path: Path, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def draw_pools_task(
    protocol: Protocol, overrides: dict[str, float], pool_size: int
) -> pd.DataFrame:
    """One draw's (or scenario's) pools: a Dask task (top-level, picklable arguments)."""
    return simulate_arm_pools(protocol, overrides, pool_size)


def _pools_for(
    protocol: Protocol,
    jobs: list[tuple[Path, dict[str, Any], int]],
    client: Any,
    advance: Callable[[int], None],
) -> list[pd.DataFrame]:
    """Pools of each job ``(file, overrides, pool size)``: loaded when stored, else simulated
    (here, or on the Dask ``client``) and stored as each completes."""
    out: dict[int, pd.DataFrame] = {}
    todo = []
    for i, (path, _over, size) in enumerate(jobs):
        if path.is_file():
            out[i] = pd.read_parquet(path)
            advance(size)
        else:
            todo.append(i)
    if client is None:
        for i in todo:
            path, over, size = jobs[i]
            out[i] = simulate_arm_pools(protocol, over, size)
            _save(path, out[i])
            advance(size)
    elif todo:
        from distributed import as_completed

        futs = {
            client.submit(draw_pools_task, protocol, jobs[i][1], jobs[i][2], pure=False): i
            for i in todo
        }
        try:
            for fut in as_completed(list(futs)):
                i = futs[fut]
                out[i] = fut.result()
                _save(jobs[i][0], out[i])
                advance(jobs[i][2])
        except BaseException:
            client.cancel([f for f in futs if f.status == "pending"])
            raise
    return [out[i] for i in range(len(jobs))]


def parameter_study(
    protocol: Protocol,
    folder: Path,
    base_source: PoolOutcomes,
    base_chunks: list[ChunkResult],
    *,
    client: Any = None,
    prog: Any = None,
) -> ParameterStudy:
    """The nested study (``uncertainty: true``) and scenario arms of a run, resumably.

    Parameters
    ----------
    protocol : Protocol
    folder : path
        Where the pools of the draws and scenarios are stored (the run's checkpoint folder).
    base_source : PoolOutcomes
        Arm 0 of the run without uncertainty.
    base_chunks : list of ChunkResult
        The run's replicate trials (for the side-by-side comparison).
    client : distributed.Client, optional
        Simulate the pools on this Dask cluster.
    prog : rich Progress, optional
        Progress bars (``add_task``/``advance``).

    Returns
    -------
    ParameterStudy
        Tables ``parameter_draws``, ``replicate_draws``, ``uncertainty_replicates``,
        ``uncertainty_oc`` (with ``uncertainty``) and ``scenario_oc`` (with scenarios).
    """
    if not (protocol.uncertainty or protocol.parameter_scenarios):
        return ParameterStudy(())
    root = Path(folder) / "parameter_study"
    root.mkdir(parents=True, exist_ok=True)
    n_levels = len(protocol.dose_levels)
    base = pd.concat([replicate_stats(c, base_source) for c in base_chunks], ignore_index=True)
    tables: list[tuple[str, pd.DataFrame]] = []
    if protocol.uncertainty:
        plan = nested_plan(protocol)
        table = population_table()
        names = uncertain_names(table)
        values = draw_typical_values(table, names, plan.draws, protocol.simulation.seed)
        jobs = [
            (
                root / f"draw{d:03d}.parquet",
                dict(zip(names, map(float, values[d]), strict=True)),
                plan.pool_size,
            )
            for d in range(plan.draws)
        ]
        advance = _advancer(prog, "uncertainty: draws", plan.draws * n_levels * plan.pool_size)
        pools = _pools_for(protocol, jobs, client, advance)
        reps, rates = [], []
        for d, a, b in plan.ranges():
            st, _ = trials_on_pools(protocol, pools[d], a, b)
            reps.append(st.assign(draw=d))
        for d in range(plan.draws):
            rates.append(true_rates(protocol, pools[d]).assign(draw=d))
        with_u = pd.concat(reps, ignore_index=True)
        draws = pd.DataFrame(
            [
                {
                    "draw": d,
                    "parameter": n,
                    "value": float(values[d, j]),
                    "unit": table[n].unit,
                    "basis": table[n].uncertainty.basis,  # type: ignore[union-attr]
                }
                for d in range(plan.draws)
                for j, n in enumerate(names)
            ]
        )
        base_rates = _base_rates(protocol, base_source)
        tables += [
            ("parameter_draws", draws),
            ("replicate_draws", with_u[["replicate", "draw"]].copy()),
            (
                "uncertainty_replicates",
                pd.concat(
                    [base.assign(analysis="without", draw=-1), with_u.assign(analysis="with")],
                    ignore_index=True,
                ),
            ),
            (
                "uncertainty_oc",
                oc_table(protocol, base, with_u, base_rates, pd.concat(rates), plan),
            ),
        ]
    if protocol.parameter_scenarios:
        scen = [load_parameter_scenario(s) for s in protocol.parameter_scenarios]
        size = protocol.simulation.pool_size
        jobs = [
            (root / f"scenario{i:02d}.parquet", s.overrides(), size) for i, s in enumerate(scen)
        ]
        advance = _advancer(prog, "parameter scenarios", len(scen) * n_levels * size)
        pools = _pools_for(protocol, jobs, client, advance)
        frames = []
        for s, p in zip(scen, pools, strict=True):
            st, _ = trials_on_pools(protocol, p, 0, protocol.simulation.replicates)
            frames.append((s, st, true_rates(protocol, p)))
        tables.append(("scenario_oc", scenario_table(protocol, frames)))
    return ParameterStudy(tuple(tables))


def _base_rates(protocol: Protocol, source: PoolOutcomes) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dose_level": np.arange(1, source.n_doses + 1),
            "true_dlt_prob": source.dlt.mean(axis=1),
            "true_response_prob": source.response.mean(axis=1),
        }
    )


def _advancer(prog: Any, label: str, total: int) -> Callable[[int], None]:
    if prog is None:
        return lambda k: None
    task = prog.add_task(label, total=total)
    return lambda k: prog.advance(task, k)
