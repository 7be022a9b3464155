"""Designs of experiments and indices of the global sensitivity analysis, through SALib.

Both methods work on the unit hypercube: a point ``u`` in ``[0, 1]^d`` is mapped to parameter
values by the evaluator (for the model, each row's uncertainty quantile function,
:func:`allocart.model.parameters.typical_value_quantiles`). Sobol indices do not depend on that
monotone map; Morris elementary effects are then per unit of probability, which puts parameters
of any unit and spread on one scale.

* **Morris screening** (Morris 1991; Campolongo, Cariboni and Saltelli 2007): ``r`` trajectories
  of ``d + 1`` points on a ``levels``-level grid; ``mu_star`` (mean absolute elementary effect)
  ranks parameters, with a bootstrap interval; ``sigma`` flags interactions and non-linearity.
* **Sobol indices** (Sobol 2001; Saltelli et al. 2010): a Saltelli design of ``N (d + 2)`` points
  built on a scrambled Sobol sequence, first-order ``S1`` and total ``ST`` indices, with bootstrap
  confidence intervals (SALib's ``conf``: the half-width, 1.96 bootstrap standard errors).

References
----------
Herman J, Usher W (2017) SALib: an open-source Python library for sensitivity analysis. JOSS 2:97.
Iwanaga T, Usher W, Herman J (2022) Toward SALib 2.0. Socio-Environmental Systems Modelling 4:18155.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from allocart.errors import SensitivityError

__all__ = [
    "unit_problem",
    "morris_design",
    "sobol_design",
    "morris_indices",
    "sobol_indices",
]


def unit_problem(names: Sequence[str]) -> dict:
    """SALib's problem description on the unit hypercube."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def morris_design(
    names: Sequence[str], trajectories: int, levels: int, seed: int
) -> NDArray[np.float64]:
    """Points of ``trajectories`` Morris trajectories, shape ``(trajectories (d + 1), d)``."""
    return np.asarray(
        morris_sample.sample(
            unit_problem(names), int(trajectories), num_levels=int(levels), seed=int(seed)
        ),
        dtype=float,
    )


def sobol_design(names: Sequence[str], n: int, seed: int) -> NDArray[np.float64]:
    """Saltelli design for first-order and total indices, shape ``(n (d + 2), d)``.

    ``n`` should be a power of 2 (the balance of the Sobol sequence; SALib warns otherwise).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the power-of-2 note: documented above
        return np.asarray(
            sobol_sample.sample(
                unit_problem(names), int(n), calc_second_order=False, seed=int(seed)
            ),
            dtype=float,
        )


def _finite(y: NDArray[np.float64], output: str) -> NDArray[np.float64]:
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        bad = int(np.sum(~np.isfinite(y)))
        raise SensitivityError(
            f"output {output!r}: {bad} of {y.size} model evaluations gave no value (every virtual "
            "patient failed or none was treated); give more --patients or narrower ranges"
        )
    return y


def morris_indices(
    names: Sequence[str],
    u: NDArray[np.float64],
    y: NDArray[np.float64],
    outputs: Sequence[str],
    *,
    levels: int,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """Morris ``mu``, ``mu_star`` (with its bootstrap 95% half-width) and ``sigma`` per output
    and parameter (long form: ``output, parameter, mu, mu_star, mu_star_conf, sigma``)."""
    rows = []
    for k, out in enumerate(outputs):
        res = morris_analyze.analyze(
            unit_problem(names),
            np.asarray(u, dtype=float),
            _finite(y[:, k], out),
            num_resamples=int(resamples),
            conf_level=0.95,
            num_levels=int(levels),
            seed=int(seed),
        )
        for j, name in enumerate(names):
            rows.append(
                {
                    "output": out,
                    "parameter": name,
                    "mu": float(res["mu"][j]),
                    "mu_star": float(res["mu_star"][j]),
                    "mu_star_conf": float(res["mu_star_conf"][j]),
                    "sigma": float(res["sigma"][j]),
                }
            )
    return pd.DataFrame(rows)


def sobol_indices(
    names: Sequence[str],
    y: NDArray[np.float64],
    outputs: Sequence[str],
    *,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """First-order and total Sobol indices with bootstrap 95% intervals per output and
    parameter (``output, parameter, S1, S1_low, S1_high, ST, ST_low, ST_high``).

    An output that does not vary over the design has no indices (NaN): nothing to apportion.
    """
    rows = []
    for k, out in enumerate(outputs):
        yk = _finite(y[:, k], out)
        if np.ptp(yk) == 0:
            res = {f: np.full(len(names), np.nan) for f in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                # SALib warns when part of the design gives identical values: a step-like
                # output (few patients) does; the bootstrap intervals say what that costs.
                warnings.filterwarnings("ignore", message="Constant values", category=UserWarning)
                res = sobol_analyze.analyze(
                    unit_problem(names),
                    yk,
                    calc_second_order=False,
                    num_resamples=int(resamples),
                    conf_level=0.95,
                    seed=int(seed),
                )
        for j, name in enumerate(names):
            s1, s1c, st, stc = (float(res[f][j]) for f in ("S1", "S1_conf", "ST", "ST_conf"))
            rows.append(
                {
                    "output": out,
                    "parameter": name,
                    "S1": s1,
                    "S1_low": s1 - s1c,
                    "S1_high": s1 + s1c,
                    "ST": st,
                    "ST_low": st - stc,
                    "ST_high": st + stc,
                }
            )
    return pd.DataFrame(rows)
