"""The outcome of a fit: posterior draws, point estimates, diagnostics, and their files.

Whatever the method (posterior mode with a Laplace approximation, NUTS of one patient, NUTS of
a hierarchical cohort model, or the population point estimate), a fit ends as a
:class:`FitResult` holding draws of every patient's estimated parameters in their natural
units (``theta``: chains x draws x patients x parameters), and, for population fits, draws or
estimates of the population typical values and variabilities. Diagnostics come from ArviZ
(R-hat, bulk and tail ESS) and the sampler (divergences).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from allocart.fit.problem import FitProblem

__all__ = ["FitResult", "mcmc_diagnostics", "write_posterior"]


@dataclass(frozen=True, eq=False)
class FitResult:
    """Posterior of a fit.

    Attributes
    ----------
    problem : FitProblem
    method : str
        ``map`` (posterior mode + Laplace), ``nuts``, or ``its`` (population point estimate).
    level : str
        ``individual`` (table priors) or ``population``.
    theta : ndarray (chains, draws, n, k)
        Draws of the patients' estimated parameters, natural units.
    mode : ndarray (n, k)
        Point estimate per patient (posterior mode or posterior median), natural units.
    typical : ndarray (chains, draws, k) or None
        Population typical values (draws, or a normal approximation of the estimate's
        uncertainty for ``its``), natural units.
    omega : ndarray (chains, draws, k) or None
        Between-patient SD on the transformed scale.
    population : dict
        For population fits: estimates and 90% intervals per parameter.
    diagnostics : dict
    seconds : float
    sample_stats : dict of str to ndarray
        Per-draw sampler statistics of NUTS fits (ArviZ names: ``diverging``, ``n_steps``,
        ``acceptance_rate``, ``lp``), shape (chains, draws) or, for individual fits, (chains,
        draws, n); empty for the point-estimate paths.
    """

    problem: FitProblem
    method: str
    level: str
    theta: np.ndarray
    mode: np.ndarray
    typical: np.ndarray | None = None
    omega: np.ndarray | None = None
    population: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.problem.param_names

    def flat_theta(self) -> np.ndarray:
        """Draws pooled over chains: (n_draws, n, k)."""
        c, d, n, k = self.theta.shape
        return self.theta.reshape(c * d, n, k)

    def estimates_frame(self):
        """One row per patient and parameter: mode, median, 5% and 95% quantiles, table value."""
        import pandas as pd

        flat = self.flat_theta()
        rows = []
        for i, sid in enumerate(self.problem.ids):
            for j, p in enumerate(self.problem.params):
                q = np.quantile(flat[:, i, j], [0.05, 0.5, 0.95])
                rows.append(
                    {
                        "id": sid,
                        "parameter": p.name,
                        "unit": p.unit,
                        "estimate": float(self.mode[i, j]),
                        "median": float(q[1]),
                        "q05": float(q[0]),
                        "q95": float(q[2]),
                        "table_value": p.typical,
                    }
                )
        return pd.DataFrame(rows)

    def to_inference_data(self):
        """An ArviZ ``InferenceData`` of the draws (one variable per parameter, dim ``patient``)."""
        import arviz as az

        post = {p: self.theta[:, :, :, j] for j, p in enumerate(self.param_names)}
        dims = {p: ["patient"] for p in self.param_names}
        if self.typical is not None:
            for j, p in enumerate(self.param_names):
                post[f"typical_{p}"] = self.typical[:, :, j]
                if self.omega is not None:
                    post[f"omega_{p}"] = self.omega[:, :, j]
        return az.from_dict(posterior=post, coords={"patient": list(self.problem.ids)}, dims=dims)


def mcmc_diagnostics(
    result_draws: dict[str, np.ndarray],
    divergences: np.ndarray,
    ids: tuple[str, ...],
    num_samples: int,
    num_warmup: int,
    seconds: float,
) -> dict[str, Any]:
    """R-hat, bulk/tail ESS per variable (ArviZ) and divergences per chain.

    ``result_draws`` maps names to arrays (chains, draws, ...) with trailing patient or no axis.
    """
    import warnings

    import arviz as az

    dims = {k: ["patient"] for k, v in result_draws.items() if v.ndim == 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = az.from_dict(posterior=result_draws, coords={"patient": list(ids)}, dims=dims)
        summ = az.summary(idata, kind="diagnostics")
    per: dict[str, Any] = {}
    for name, row in summ.iterrows():
        per[str(name)] = {
            "r_hat": _f(row["r_hat"]),
            "ess_bulk": _f(row["ess_bulk"]),
            "ess_tail": _f(row["ess_tail"]),
        }
    rhat = [v["r_hat"] for v in per.values() if v["r_hat"] is not None]
    ess = [v["ess_bulk"] for v in per.values() if v["ess_bulk"] is not None]
    div = np.asarray(divergences)
    return {
        "sampler": "NUTS (NumPyro)",
        "chains": int(div.shape[0]) if div.ndim else 1,
        "num_warmup": int(num_warmup),
        "num_samples": int(num_samples),
        "divergences": int(div.sum()),
        "divergences_per_chain": [int(x) for x in np.atleast_1d(div)],
        "max_r_hat": max(rhat) if rhat else None,
        "min_ess_bulk": min(ess) if ess else None,
        "converged": bool(rhat and max(rhat) < 1.05 and int(div.sum()) == 0),
        "seconds": float(seconds),
        "variables": per,
    }


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def write_posterior(result: FitResult, out: Path) -> dict[str, Path]:
    """Write ``posterior.parquet`` (long table of draws), ``estimates.csv`` and ``diagnostics.json``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    c, d, n, k = result.theta.shape
    cols: dict[str, Any] = {
        "chain": np.repeat(np.arange(c), d * n),
        "draw": np.tile(np.repeat(np.arange(d), n), c),
        "id": np.tile(np.asarray(result.problem.ids, dtype=object), c * d),
    }
    for j, p in enumerate(result.param_names):
        cols[p] = result.theta[:, :, :, j].reshape(-1)
    frames = {"posterior": pd.DataFrame(cols)}
    paths = {}
    path = out / "posterior.parquet"
    frames["posterior"].to_parquet(path, index=False)
    paths["posterior"] = path
    if result.typical is not None:
        pc: dict[str, Any] = {
            "chain": np.repeat(np.arange(result.typical.shape[0]), result.typical.shape[1]),
            "draw": np.tile(np.arange(result.typical.shape[1]), result.typical.shape[0]),
        }
        for j, p in enumerate(result.param_names):
            pc[f"typical_{p}"] = result.typical[:, :, j].reshape(-1)
            if result.omega is not None:
                pc[f"omega_{p}"] = result.omega[:, :, j].reshape(-1)
        path = out / "population.parquet"
        pd.DataFrame(pc).to_parquet(path, index=False)
        paths["population"] = path
    path = out / "estimates.csv"
    result.estimates_frame().to_csv(path, index=False)
    paths["estimates"] = path
    diag = dict(result.diagnostics)
    diag.update(
        {
            "method": result.method,
            "level": result.level,
            "seconds": result.seconds,
            "parameters": list(result.param_names),
            "patients": list(result.problem.ids),
            "observables": list(result.problem.observables),
            "population": result.population,
            "source": result.problem.source,
        }
    )
    path = out / "diagnostics.json"
    path.write_text(json.dumps(diag, indent=2, default=_json_default))
    paths["diagnostics"] = path
    return paths


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return str(o)
