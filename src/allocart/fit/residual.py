"""Residual-error models of the assays and the likelihood of one observation.

Each model read-out has a row of the assays' error table (``allocart/data/residual_error.yaml``,
:mod:`allocart.data.residual_errors`): the error model (``proportional``, ``additive`` or
``combined``), the scale it acts on (``log``: error on ``log(y)``; ``linear``: on ``y``), its
proportional part as a CV, its additive part in the read-out's unit, a prediction floor for the
log scale, and a source. Users replace rows from a YAML file of the same form
(:func:`load_residual_models`).

Observations below the lower limit of quantification are censored, not dropped or imputed:
their likelihood is the probability that the measurement would fall below the LLOQ (Beal's
method M3).

References
----------
Beal SL. Ways to fit a PK model with some data below the quantification limit.
J Pharmacokinet Pharmacodyn 2001;28:481-504.
Ahn JE, Karlsson MO, Dunne A, Ludden TM. Likelihood based approaches to handling data below the
quantification limit using NONMEM VI. J Pharmacokinet Pharmacodyn 2008;35:401-421.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from allocart.data.residual_errors import RESIDUAL_ERROR_FILE, residual_error_rows
from allocart.errors import FitError
from allocart.files import load_yaml

__all__ = [
    "FitError",
    "ResidualModel",
    "ResidualTable",
    "load_residual_models",
    "MODEL_KINDS",
    "SCALES",
    "observation_loglik",
    "observation_loglik_derivatives",
    "sd_on_scale",
]

MODEL_KINDS = ("proportional", "additive", "combined")
SCALES = ("log", "linear")


@dataclass(frozen=True)
class ResidualModel:
    """The residual-error model of one read-out (one row of the table).

    Attributes
    ----------
    observable : str
        Model read-out name (``car_t_cells_per_ul``...).
    model : {"proportional", "additive", "combined"}
    scale : {"log", "linear"}
    cv : float
        Proportional part, as a coefficient of variation (fraction).
    sd : float
        Additive part, in the read-out's unit.
    floor : float
        Added to predictions on the log scale (read-out unit), so ``log`` stays finite.
    unit : str
    source : str
        Reference or ``assumption: <why>``.
    """

    observable: str
    model: str
    scale: str
    cv: float
    sd: float
    floor: float
    unit: str
    source: str

    def __post_init__(self) -> None:
        where = f"residual error of `{self.observable}`"
        if self.model not in MODEL_KINDS:
            raise FitError(f"{where}: model {self.model!r} is not one of {', '.join(MODEL_KINDS)}")
        if self.scale not in SCALES:
            raise FitError(f"{where}: scale {self.scale!r} is not one of {', '.join(SCALES)}")
        for name in ("cv", "sd", "floor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise FitError(f"{where}: {name} = {v!r} must be a finite number >= 0")
        if self.model in ("proportional", "combined") and self.cv <= 0:
            raise FitError(f"{where}: a {self.model} model needs cv > 0, got {self.cv!r}")
        if self.model in ("additive", "combined") and self.sd <= 0:
            raise FitError(
                f"{where}: a {self.model} model needs sd > 0 (in {self.unit}), got {self.sd!r}"
            )
        if self.scale == "log" and self.model == "additive":
            raise FitError(
                f"{where}: an additive error on the log scale is a proportional one; "
                "use model: proportional with scale: log, or model: additive with scale: linear"
            )
        if not self.source.strip():
            raise FitError(
                f"{where}: the row has no source (give a reference or `assumption: <why>`)"
            )

    @property
    def sigma_log(self) -> float:
        """Standard deviation of ``log(y)`` of the proportional part, ``sqrt(log(1 + cv^2))``."""
        return math.sqrt(math.log1p(self.cv * self.cv))


@dataclass(frozen=True)
class ResidualTable:
    """Residual-error rows by read-out name."""

    rows: tuple[ResidualModel, ...]

    def __getitem__(self, observable: str) -> ResidualModel:
        for r in self.rows:
            if r.observable == observable:
                return r
        raise FitError(
            f"no residual-error model for read-out `{observable}`; add a row for it "
            f"(known: {', '.join(r.observable for r in self.rows)})"
        )

    @property
    def observables(self) -> tuple[str, ...]:
        return tuple(r.observable for r in self.rows)

    def arrays(self, observables: Sequence[str]) -> dict[str, np.ndarray]:
        """Per read-out arrays (in ``observables`` order) for the vectorised likelihood.

        ``log`` (1.0 on the log scale), ``b`` (proportional sd: ``sigma_log`` on the log scale,
        ``cv`` on the linear scale), ``a`` (additive sd), ``floor``.
        """
        rows = [self[o] for o in observables]
        return {
            "log": np.array([1.0 if r.scale == "log" else 0.0 for r in rows]),
            "b": np.array(
                [
                    0.0 if r.model == "additive" else (r.sigma_log if r.scale == "log" else r.cv)
                    for r in rows
                ]
            ),
            "a": np.array([0.0 if r.model == "proportional" else r.sd for r in rows]),
            "floor": np.array([r.floor for r in rows]),
        }

    def with_overrides(
        self,
        overrides: Mapping[str, Any],
        origin: str = "overrides",
        *,
        argument: str | None = "overrides",
    ) -> ResidualTable:
        """Replace fields of rows (``{observable: {model:, scale:, cv:, sd:, floor:, source:}}``).

        ``origin`` starts every error message and the new rows' source; ``argument`` is the
        Python argument the overrides came from (the errors' ``argument``), None if none.
        """
        rows = {r.observable: r for r in self.rows}
        for name, spec in overrides.items():
            if name not in rows:
                raise FitError(
                    f"{origin}: unknown read-out `{name}`; use one of {', '.join(rows)}",
                    argument=argument,
                )
            if not isinstance(spec, Mapping):
                raise FitError(
                    f"{origin}: `{name}` must map to fields (model, scale, cv, sd, floor, source)",
                    argument=argument,
                )
            bad = set(spec) - {"model", "scale", "cv", "sd", "floor", "source"}
            if bad:
                raise FitError(
                    f"{origin}: `{name}` has unknown field(s) {sorted(bad)}", argument=argument
                )
            changes: dict[str, Any] = {}
            for k, v in spec.items():
                if k in ("cv", "sd", "floor"):
                    try:
                        changes[k] = float(v)
                    except (TypeError, ValueError):
                        raise FitError(
                            f"{origin}: `{name}.{k}` = {v!r} is not a number", argument=argument
                        ) from None
                else:
                    changes[k] = str(v)
            changes.setdefault("source", f"{origin} (was: {rows[name].source})")
            rows[name] = dataclasses.replace(rows[name], **changes)
        return ResidualTable(tuple(rows.values()))


def _rows(data: Mapping[str, Any], origin: str) -> tuple[ResidualModel, ...]:
    out = []
    for name, spec in data.items():
        try:
            out.append(
                ResidualModel(
                    observable=str(name),
                    model=str(spec["model"]),
                    scale=str(spec["scale"]),
                    cv=float(spec.get("cv", 0.0)),
                    sd=float(spec.get("sd", 0.0)),
                    floor=float(spec.get("floor", 0.0)),
                    unit=str(spec.get("unit", "")),
                    source=str(spec.get("source", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FitError(
                f"{origin}: row `{name}` is malformed ({exc}); give model, scale, cv, sd, floor, source"
            ) from None
    return tuple(out)


def load_residual_models(error_model: str | Path | None = None) -> ResidualTable:
    """The built-in residual-error table, with the rows of the YAML file ``error_model`` applied.

    Raises
    ------
    FitError
        One line naming ``error_model`` if the file cannot be read or its rows are not valid.
    """
    # The packaged rows are the data layer's table of the assays' errors, the one source of the
    # read-outs' CVs (simulated datasets take their default error from the same rows).
    table = ResidualTable(_rows(residual_error_rows(), RESIDUAL_ERROR_FILE))
    if error_model is None:
        return table

    p = Path(error_model)
    # One place for file problems (missing, folder, encoding, size, nesting, invalid YAML).
    data = load_yaml(p, what="error_model", error=FitError)
    if not isinstance(data, Mapping):
        raise FitError(
            f"error_model: {str(p)!r} must map read-out names to error-model fields",
            argument="error_model",
        )
    return table.with_overrides(data, origin=f"error_model {p.name}", argument="error_model")


def sd_on_scale(pred, log, b, a, xp=np):
    """Standard deviation of the residual on the model's scale at prediction ``pred``.

    Log scale: ``sqrt(b^2 + (a / pred)^2)`` (the additive part seen on the log scale, a
    first-order approximation); linear scale: ``sqrt(a^2 + (b * pred)^2)``.
    """
    lin = xp.sqrt(a * a + (b * pred) ** 2)
    logsd = xp.sqrt(b * b + (a / pred) ** 2)
    return xp.where(log > 0, logsd, lin)


def observation_loglik(value, pred, censored, log, b, a, floor, xp=None):
    """Log-likelihood of observations given predictions (elementwise).

    Parameters
    ----------
    value : array
        Measured value; for a censored row its LLOQ.
    pred : array
        Model prediction, same unit.
    censored : array of bool
        Below the LLOQ (M3: ``log P(y < LLOQ)``).
    log, b, a, floor : arrays
        Per-row error-model arrays (see :meth:`ResidualTable.arrays`).
    xp : module, optional
        ``numpy`` or ``jax.numpy`` (default: ``jax.numpy``).

    Returns
    -------
    array
        Density of the measurement on its own (linear) scale for quantified rows (so the log
        scale includes the Jacobian ``-log y``), the censoring probability for censored rows.
    """
    if xp is None:
        import jax.numpy as xp  # noqa: N812
    if xp is np:
        from scipy.special import log_ndtr
    else:
        from jax.scipy.special import log_ndtr
    f = xp.where(log > 0, pred + floor, pred)
    yv = xp.where(log > 0, xp.maximum(value, 1e-300), value)
    hy = xp.where(log > 0, xp.log(yv), value)
    hf = xp.where(log > 0, xp.log(xp.maximum(f, 1e-300)), f)
    sd = sd_on_scale(xp.maximum(f, 1e-300), log, b, a, xp=xp)
    z = (hy - hf) / sd
    dens = -0.5 * z * z - xp.log(sd) - 0.5 * math.log(2 * math.pi) - xp.where(log > 0, hy, 0.0)
    cens = log_ndtr(z)
    return xp.where(censored, cens, dens)


def observation_loglik_derivatives(value, pred, censored, log, b, a, floor):
    """:func:`observation_loglik` and its first and second derivatives with respect to ``pred``
    (NumPy, elementwise, no JAX).

    With ``f = pred + floor`` (log scale) or ``f = pred`` (linear scale), ``h`` the scale's
    transform (``log`` or identity), ``s(f)`` the residual SD on that scale and
    ``z = (h(y) - h(f)) / s``: ``z' = -(h' + z s') / s`` and ``z'' = -(h'' + 2 z' s' + z s'') / s``;
    a quantified row has ``l = -z^2/2 - log s + c``, so ``l' = -z z' - s'/s`` and
    ``l'' = -z'^2 - z z'' - s''/s + (s'/s)^2``; a censored row has ``l = log Phi(z)``, so with
    the inverse Mills ratio ``r = phi(z) / Phi(z)``, ``l' = r z'`` and
    ``l'' = r z'' - r (z + r) z'^2``. Predictions below zero count as zero (as in the
    likelihood), with zero derivatives. Checked against JAX's derivatives in
    ``tests/fit/test_residual.py``.

    Returns
    -------
    ll, d1, d2 : ndarray
    """
    from scipy.special import log_ndtr

    value = np.asarray(value, dtype=float)
    pred = np.asarray(pred, dtype=float)
    is_log = np.asarray(log) > 0
    b = np.asarray(b, dtype=float)
    a = np.asarray(a, dtype=float)
    with np.errstate(all="ignore"):
        p = np.maximum(pred, 0.0)
        f = np.maximum(np.where(is_log, p + floor, p), 1e-300)
        yv = np.where(is_log, np.maximum(value, 1e-300), value)
        hy = np.where(is_log, np.log(yv), value)
        hf = np.where(is_log, np.log(f), f)
        h1 = np.where(is_log, 1.0 / f, 1.0)
        h2 = np.where(is_log, -1.0 / f**2, 0.0)
        s_log = np.sqrt(b * b + (a / f) ** 2)
        s_lin = np.sqrt(a * a + (b * f) ** 2)
        s = np.where(is_log, s_log, s_lin)
        s1_log = -(a * a) / f**3 / s_log
        s2_log = 3 * a * a / f**4 / s_log + (a * a) / f**3 * s1_log / s_log**2
        s1_lin = b * b * f / s_lin
        s2_lin = b * b / s_lin - b * b * f * s1_lin / s_lin**2
        s1 = np.where(is_log, s1_log, s1_lin)
        s2 = np.where(is_log, s2_log, s2_lin)
        z = (hy - hf) / s
        z1 = -(h1 + z * s1) / s
        z2 = -(h2 + 2 * z1 * s1 + z * s2) / s
        dens = -0.5 * z * z - np.log(s) - 0.5 * math.log(2 * math.pi) - np.where(is_log, hy, 0.0)
        d1_q = -z * z1 - s1 / s
        d2_q = -z1 * z1 - z * z2 - s2 / s + (s1 / s) ** 2
        lc = log_ndtr(z)
        r = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - lc)
        d1_c = r * z1
        d2_c = r * z2 - r * (z + r) * z1 * z1
    cens = np.asarray(censored, dtype=bool)
    ll = np.where(cens, lc, dens)
    # d max(pred, 0) / d pred: 1 above zero, 0 below, 1/2 at zero (as JAX differentiates max)
    dp = np.where(pred > 0, 1.0, np.where(pred == 0, 0.5, 0.0))
    d1 = np.where(cens, d1_c, d1_q) * dp
    d2 = np.where(cens, d2_c, d2_q) * dp * dp
    return ll, d1, d2
