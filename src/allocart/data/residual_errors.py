"""The residual-error table of the assays: one row per model read-out (``residual_error.yaml``).

Each row gives the error model (``proportional``, ``additive`` or ``combined``), the scale it
acts on (``log`` or ``linear``), its proportional part as a CV, its additive part in the
read-out's unit, a prediction floor for the log scale, the unit and the source. It is the one
source of the assays' CVs: :data:`allocart.data.OBSERVABLES` takes its default residual error
from it, and the fit builds its error models from the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from allocart.errors import DataError

__all__ = ["RESIDUAL_ERROR_FILE", "residual_error_cv", "residual_error_rows"]

#: The table's file inside the ``allocart.data`` package.
RESIDUAL_ERROR_FILE = "residual_error.yaml"

_FIELDS = ("model", "scale", "cv", "sd", "floor", "unit", "source")


@cache
def residual_error_rows() -> Mapping[str, Mapping[str, Any]]:
    """The rows of ``residual_error.yaml``: read-out name -> its fields (read-only).

    Returns
    -------
    mapping of str to mapping
        ``{"car_t_cells_per_ul": {"model": "proportional", "scale": "log", "cv": 0.25, ...}}``
        with every field of :data:`_FIELDS` present (``cv``, ``sd`` and ``floor`` as float;
        CV dimensionless, ``sd`` and ``floor`` in the read-out's unit).

    Raises
    ------
    DataError
        If a row of the packaged file lacks ``model`` or ``scale`` or holds a non-number.
    """
    text = resources.files("allocart.data").joinpath(RESIDUAL_ERROR_FILE).read_text("utf-8")
    rows: dict[str, Mapping[str, Any]] = {}
    for name, spec in yaml.safe_load(text).items():
        try:
            row = {
                "model": str(spec["model"]),
                "scale": str(spec["scale"]),
                "cv": float(spec.get("cv", 0.0)),
                "sd": float(spec.get("sd", 0.0)),
                "floor": float(spec.get("floor", 0.0)),
                "unit": str(spec.get("unit", "")),
                "source": str(spec.get("source", "")),
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{RESIDUAL_ERROR_FILE}: row `{name}` is malformed ({exc}); give {', '.join(_FIELDS)}"
            ) from None
        rows[str(name)] = MappingProxyType(row)
    return MappingProxyType(rows)


def residual_error_cv(observable: str) -> float:
    """The proportional residual CV (dimensionless) of one read-out, from the table.

    Raises
    ------
    DataError
        If ``observable`` has no row.
    """
    rows = residual_error_rows()
    if observable not in rows:
        raise DataError(
            f"observable: {observable!r} has no row in {RESIDUAL_ERROR_FILE}; rows: {', '.join(rows)}"
        )
    return float(rows[observable]["cv"])
