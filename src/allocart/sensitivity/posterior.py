"""Posterior draws of population parameters as the uncertainty of the next replicate trials.

Once the first patients of a real trial are fitted (:mod:`allocart.fit`, a population fit), the
draws of the typical values replace the stated plausible ranges: each fitted parameter gets an
``empirical`` uncertainty holding its draws (``basis: posterior``) and its posterior median as
typical value. The overrides go wherever ``--params`` goes — ``allocart sensitivity --params``,
``allocart simulate --params`` — and so narrow both the sensitivity analysis and the nested study
of replicate trials with parameter uncertainty. The draws are used parameter by parameter
(marginal quantiles): correlations between the fitted parameters are not carried over.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from allocart.errors import SensitivityError
from allocart.files import check_output
from allocart.model.parameters import load_default_parameters

__all__ = ["posterior_draws", "posterior_overrides", "write_posterior_overrides"]

#: Largest number of draws kept per parameter (evenly thinned beyond it).
MAX_DRAWS = 1000


def posterior_draws(result: Any) -> dict[str, np.ndarray]:
    """Draws of the typical values of a population fit, by parameter (chains pooled).

    ``result`` is a :class:`~allocart.fit.result.FitResult` with ``typical`` (chains, draws, k)
    in natural units, or a mapping of names to 1-D draws.

    Raises
    ------
    SensitivityError
        If the fit holds no draws of typical values (an individual fit).
    """
    if isinstance(result, Mapping):
        return {str(k): np.asarray(v, dtype=float).ravel() for k, v in result.items()}
    typical = getattr(result, "typical", None)
    if typical is None:
        raise SensitivityError(
            "result: the fit has no draws of population typical values; fit at the population "
            "level (allocart fit --level population)"
        )
    t = np.asarray(typical, dtype=float)
    flat = t.reshape(-1, t.shape[-1])
    return {name: flat[:, j] for j, name in enumerate(result.param_names)}


def posterior_overrides(
    result: Any, *, reason: str = "posterior of a population fit"
) -> dict[str, dict[str, Any]]:
    """``--params`` overrides giving each fitted parameter its posterior as uncertainty.

    Returns
    -------
    dict
        ``{name: {value: median, uncertainty: {dist: empirical, draws: [...], basis:
        posterior, reason: ...}}}``, checked against the parameter table.

    Raises
    ------
    SensitivityError
        If a name is not a parameter of the table, or its draws are not finite.
    """
    table = load_default_parameters()
    out: dict[str, dict[str, Any]] = {}
    for name, d in posterior_draws(result).items():
        if name not in table:
            raise SensitivityError(f"result: {name!r} is not a parameter of the model table")
        if d.size < 2 or not np.all(np.isfinite(d)):
            raise SensitivityError(f"result: draws of {name!r} must be at least 2 finite numbers")
        if d.size > MAX_DRAWS:
            d = d[np.linspace(0, d.size - 1, MAX_DRAWS).round().astype(int)]
        out[name] = {
            "value": float(np.median(d)),
            "uncertainty": {
                "dist": "empirical",
                "draws": [float(x) for x in d],
                "basis": "posterior",
                "reason": str(reason),
            },
        }
    table.with_overrides(out, origin="posterior")  # the same checks as --params, now
    return out


def write_posterior_overrides(
    result: Any, path: str | Path, *, reason: str = "posterior of a population fit"
) -> Path:
    """Write :func:`posterior_overrides` as a ``--params`` YAML file (``parameters:`` mapping)."""
    path = Path(path)
    check_output(path, what="out")
    path.write_text(yaml.safe_dump({"parameters": posterior_overrides(result, reason=reason)}))
    return path
