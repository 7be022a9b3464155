"""A global sensitivity run: Morris screening of every analysed parameter, then Sobol indices of
the most influential ones, resumable, in this process or on a Dask cluster.

Two stages, because one model evaluation is a virtual cohort (seconds) and a Sobol design
costs ``N (d + 2)`` evaluations:

1. **Morris screening** of all ``d`` parameters (``r (d + 1)`` evaluations) ranks them by the
   mean absolute elementary effect ``mu_star`` of each output, scaled by that output's largest;
2. **Sobol indices** (first order and total, with bootstrap intervals) of the ``top`` parameters
   of that ranking (largest scaled ``mu_star`` over the outputs), the others held at their
   typical values (``N (top + 2)`` evaluations).

Every evaluation is stored as its batch completes (:class:`~allocart.sensitivity.store.
SensitivityStore`); a restart with the same settings evaluates only what is missing, so the
results do not depend on interruptions. Designs are deterministic functions of the seed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.errors import SensitivityError
from allocart.model.parameters import ParameterTable, uncertain_names
from allocart.population.virtual import population_table
from allocart.sensitivity.evaluate import CohortEvaluator, Evaluator, cohort_outputs
from allocart.sensitivity.methods import (
    morris_design,
    morris_indices,
    sobol_design,
    sobol_indices,
)
from allocart.sensitivity.store import SensitivityStore
from allocart.trial.builtin import resolve_protocol
from allocart.trial.runner import connect_scheduler

__all__ = [
    "REJECTION_PARAMETERS",
    "SensitivitySettings",
    "SensitivityResult",
    "default_parameters",
    "cohort_evaluator",
    "run_sensitivity",
    "value_of_information",
]

#: The rejection hazards of donor CAR-T cells, always analysed by default.
REJECTION_PARAMETERS = ("k_Trej", "k_NKrej", "k_Crej")


@dataclasses.dataclass(frozen=True)
class SensitivitySettings:
    """Settings of a sensitivity run (the defaults are ``allocart sensitivity``'s).

    Attributes
    ----------
    scenario : str
        Trial protocol (built-in name or YAML file): product, regimen, dose levels, design.
    parameters : tuple of str or None
        Analysed parameters; None: :func:`default_parameters`.
    outputs : tuple of str or None
        Outputs; None: all (:func:`~allocart.sensitivity.evaluate.cohort_outputs`).
    params : str or None
        Parameter-override YAML (``--params``), e.g. uncertainties for more parameters.
    patients : int
        Virtual patients per dose level and evaluation.
    trials : int
        Replicate trials per evaluation (selection probabilities).
    dose_level : int or None
        1-based reference level of the per-patient outputs; None: the middle level.
    morris_trajectories, morris_levels : int
        Morris design: trajectories ``r`` and grid levels.
    sobol_n : int
        Base sample ``N`` of the Saltelli design (a power of 2).
    sobol_top : int
        Parameters carried from the screening into the Sobol stage.
    resamples : int
        Bootstrap resamples of the confidence intervals.
    seed : int
        Seed of the designs and bootstraps (the cohorts use the protocol's seed).
    batch : int
        Evaluations per stored batch (and per Dask task).
    """

    scenario: str = "default"
    parameters: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    params: str | None = None
    patients: int = 12
    trials: int = 200
    dose_level: int | None = None
    morris_trajectories: int = 6
    morris_levels: int = 4
    sobol_n: int = 64
    sobol_top: int = 5
    resamples: int = 1000
    seed: int = 20240607
    batch: int = 4

    def __post_init__(self) -> None:
        for name, low in (
            ("patients", 3),
            ("trials", 10),
            ("morris_trajectories", 2),
            ("morris_levels", 2),
            ("sobol_n", 8),
            ("sobol_top", 1),
            ("resamples", 10),
            ("batch", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise SensitivityError(f"{name}: {v!r} must be a whole number of at least {low}")
        if self.sobol_n & (self.sobol_n - 1):
            raise SensitivityError(f"sobol_n: {self.sobol_n} must be a power of 2 (64, 128, ...)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SensitivityResult:
    """What a sensitivity run produced.

    Attributes
    ----------
    folder : Path
    morris, sobol, voi : DataFrame
        Morris indices (all parameters), Sobol indices (the Sobol stage's parameters) and the
        value-of-information ranking (:func:`value_of_information`).
    parameters, sobol_parameters, outputs : tuple of str
    evaluations : int
        Model evaluations in the design (stored, this run's and earlier ones').
    evaluated_now : int
        Evaluations this call computed.
    seconds : float
        Wall time of this call.
    patients_per_evaluation : int
        Virtual patients simulated per evaluation (0 for a test function).
    """

    folder: Path
    morris: pd.DataFrame
    sobol: pd.DataFrame
    voi: pd.DataFrame
    parameters: tuple[str, ...]
    sobol_parameters: tuple[str, ...]
    outputs: tuple[str, ...]
    evaluations: int
    evaluated_now: int
    seconds: float
    patients_per_evaluation: int

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "folder": str(self.folder),
            "parameters": list(self.parameters),
            "sobol_parameters": list(self.sobol_parameters),
            "outputs": list(self.outputs),
            "evaluations": self.evaluations,
            "evaluated_now": self.evaluated_now,
            "seconds": round(self.seconds, 2),
            "morris": self.morris.to_dict("records"),
            "sobol": self.sobol.to_dict("records"),
            "value_of_information": self.voi.to_dict("records"),
        }


def default_parameters(table: ParameterTable) -> tuple[str, ...]:
    """Every parameter whose source is an assumption and that states a plausible range
    (``uncertainty``), plus the rejection parameters, in table order."""
    keep = set(REJECTION_PARAMETERS)
    return tuple(
        r.name
        for r in table.rows
        if r.uncertainty is not None and (r.is_assumption or r.name in keep)
    )


def cohort_evaluator(settings: SensitivitySettings) -> CohortEvaluator:
    """The model evaluation of ``settings`` (protocol, table, parameters, outputs)."""
    protocol = resolve_protocol(settings.scenario)
    table = population_table(settings.params)
    names = settings.parameters or default_parameters(table)
    missing = [n for n in names if n not in table or table[n].uncertainty is None]
    if missing:
        have = ", ".join(uncertain_names(table))
        raise SensitivityError(
            f"param: {missing[0]!r} has no stated range (uncertainty); give it one with --params "
            f"or choose among {have}",
            argument="param",
        )
    k = len(protocol.dose_levels)
    return CohortEvaluator(
        protocol=protocol,
        table=table,
        names=tuple(names),
        outputs=tuple(settings.outputs or cohort_outputs(k)),
        patients=settings.patients,
        trials=settings.trials,
        dose_level=settings.dose_level or (k + 1) // 2,
    )


def _evaluate_stage(
    store: SensitivityStore,
    stage: str,
    evaluator: Evaluator,
    u: NDArray[np.float64],
    batch: int,
    client: Any,
    progress: Callable[[str, int, int], None],
    workers: int = 1,
) -> int:
    """Evaluate the rows of ``u`` not yet stored; return how many were evaluated."""
    done = store.done(stage)
    todo = [i for i in range(len(u)) if i not in done]
    batches = [todo[i : i + batch] for i in range(0, len(todo), batch)]
    count = len(done)
    progress(stage, count, len(u))

    def save(idx: list[int], y: NDArray[np.float64]) -> None:
        nonlocal count
        store.add(stage, idx, evaluator.names, evaluator.values(u[idx]), y)
        count += len(idx)
        progress(stage, count, len(u))

    if client is None and (workers <= 1 or len(batches) <= 1):
        for idx in batches:
            save(idx, evaluator(u[idx]))
        return len(todo)
    if client is None:
        _in_processes(evaluator, u, batches, workers, save)
        return len(todo)
    from distributed import as_completed

    futs = {client.submit(evaluator, u[idx], pure=False): idx for idx in batches}
    try:
        for fut in as_completed(list(futs)):
            save(futs[fut], fut.result())
    except BaseException:
        client.cancel([f for f in futs if f.status == "pending"])
        raise
    return len(todo)


def _in_processes(
    evaluator: Evaluator,
    u: NDArray[np.float64],
    batches: list[list[int]],
    workers: int,
    save: Callable[[list[int], NDArray[np.float64]], None],
) -> None:
    """Evaluate ``batches`` in ``workers`` new processes ('spawn'), saving each as it completes.

    On Ctrl-C or an error the queued batches are cancelled, those finished are saved, and the
    exception is raised: the store holds whole batches only.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    futs = {pool.submit(evaluator, u[idx]): idx for idx in batches}
    saved: set[Any] = set()
    try:
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                save(futs[fut], fut.result())
                saved.add(fut)
    except BaseException:
        for fut in futs:
            fut.cancel()
        for fut in futs:
            if fut in saved:
                continue
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                try:
                    save(futs[fut], fut.result())
                except Exception:  # noqa: BLE001 - keep what can be kept
                    pass
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _screen(morris: pd.DataFrame, top: int) -> tuple[str, ...]:
    """The ``top`` parameters by ``mu_star`` scaled per output, largest over the outputs."""
    m = morris.copy()
    scale = m.groupby("output")["mu_star"].transform("max").replace(0, np.nan)
    m["scaled"] = (m["mu_star"] / scale).fillna(0.0)
    order = (
        m.groupby("parameter", sort=False)["scaled"]
        .max()
        .sort_values(ascending=False, kind="stable")
    )
    return tuple(order.index[:top])


def value_of_information(sobol: pd.DataFrame, outputs: tuple[str, ...]) -> pd.DataFrame:
    """Rank the parameters by how much they change the trial's answer.

    The answer is the probability that each dose is selected and DORIS remission at month 6
    (those of ``outputs`` present; not the probability that no dose is selected, a rare event
    whose indices are mostly estimator noise). A parameter's score is its largest total Sobol index over
    these outputs (the share of the answer's variance that would go if the parameter were known
    exactly, interactions included); ``output`` names where, with the bootstrap interval.
    """
    answer = [o for o in outputs if o.startswith("p_select_level") or o == "doris_m6"]
    s = sobol[sobol["output"].isin(answer)].dropna(subset=["ST"])
    if s.empty:
        return pd.DataFrame(
            columns=["rank", "parameter", "score", "low", "high", "output", "mean_ST"]
        )
    best = s.loc[s.groupby("parameter")["ST"].idxmax()]
    mean = s.groupby("parameter")["ST"].mean()
    out = pd.DataFrame(
        {
            "parameter": best["parameter"].to_numpy(),
            "score": best["ST"].to_numpy(),
            "low": best["ST_low"].to_numpy(),
            "high": best["ST_high"].to_numpy(),
            "output": best["output"].to_numpy(),
            "mean_ST": mean.reindex(best["parameter"]).to_numpy(),
        }
    ).sort_values("score", ascending=False, kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def patients_per_evaluation(ev: Any) -> int:
    """Virtual patients one evaluation simulates (0 for a test function)."""
    if not isinstance(ev, CohortEvaluator):
        return 0
    trials = any(o.startswith("p_select") for o in ev.outputs)
    return ev.patients * (len(ev.protocol.dose_levels) if trials else 1)


def run_sensitivity(
    settings: SensitivitySettings,
    out: str | Path,
    *,
    evaluator: Evaluator | None = None,
    scheduler: str | None = None,
    fresh: bool = False,
    workers: int | None = None,
    report: Callable[[Any, dict[str, Any], Path], Path] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> SensitivityResult:
    """Run (or resume) the sensitivity analysis ``settings`` into the folder ``out``.

    Parameters
    ----------
    settings : SensitivitySettings
    out : path
        Run folder: ``sensitivity.duckdb`` (evaluations and results).
    evaluator : Evaluator, optional
        The model evaluation; default :func:`cohort_evaluator`. A test function such as
        :class:`~allocart.sensitivity.evaluate.Ishigami` runs through the same stages; with
        ``sobol_top`` below its number of inputs it must offer ``restrict(names)``.
    scheduler : str, optional
        Dask scheduler address: batches of evaluations run there.
    fresh : bool
        Discard an earlier run in ``out``.
    workers : int, optional
        Without ``scheduler``: processes evaluating batches at once (default: the number of
        CPUs; 1 keeps everything in this process).
    report : callable, optional
        Writes ``report.html`` from the result, its settings and the path (the report layer's
        :func:`allocart.report.sensitivity.write_sensitivity_report`, which ``allocart
        sensitivity`` passes); default: no report.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    SensitivityError
        If ``out`` holds a run with other settings, a parameter has no range, or an output
        could not be evaluated.
    """
    t0 = time.perf_counter()
    n_workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise SensitivityError(f"workers: {workers!r} must be at least 1", argument="workers")
    ev = evaluator if evaluator is not None else cohort_evaluator(settings)
    say = progress or (lambda stage, done, total: None)
    names, outputs = tuple(ev.names), tuple(ev.outputs)
    key = {
        **settings.to_dict(),
        "evaluator": type(ev).__name__,
        "names": names,
        "outputs": outputs,
    }
    client = connect_scheduler(scheduler, SensitivityError) if scheduler else None
    try:
        with SensitivityStore(Path(out), key, outputs, fresh=fresh) as store:
            u_m = morris_design(
                names, settings.morris_trajectories, settings.morris_levels, settings.seed
            )
            now = _evaluate_stage(store, "morris", ev, u_m, settings.batch, client, say, n_workers)
            morris = morris_indices(
                names,
                u_m,
                store.outputs_of("morris", len(u_m)),
                outputs,
                levels=settings.morris_levels,
                resamples=settings.resamples,
                seed=settings.seed,
            )
            top = names if settings.sobol_top >= len(names) else _screen(morris, settings.sobol_top)
            # restrict: offered by CohortEvaluator, needed only when screening drops inputs
            ev_s = ev if top == names else ev.restrict(top)  # type: ignore[attr-defined]
            u_s = sobol_design(top, settings.sobol_n, settings.seed)
            now += _evaluate_stage(
                store, "sobol", ev_s, u_s, settings.batch, client, say, n_workers
            )
            sobol = sobol_indices(
                top,
                store.outputs_of("sobol", len(u_s)),
                outputs,
                resamples=settings.resamples,
                seed=settings.seed,
            )
            voi = value_of_information(sobol, outputs)
            store.write_tables({"morris": morris, "sobol": sobol, "value_of_information": voi})
    finally:
        if client is not None:
            client.close()
    per = patients_per_evaluation(ev)
    result = SensitivityResult(
        folder=Path(out),
        morris=morris,
        sobol=sobol,
        voi=voi,
        parameters=names,
        sobol_parameters=top,
        outputs=outputs,
        evaluations=len(u_m) + len(u_s),
        evaluated_now=now,
        seconds=time.perf_counter() - t0,
        patients_per_evaluation=int(per),
    )
    if report is not None:
        report(result, settings.to_dict(), Path(out) / "report.html")
    return result
