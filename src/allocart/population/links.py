"""Link parameters and link functions: model trajectories to clinical events.

The table (``resources/links.yaml``) holds one row per link parameter with its unit and source;
``resources/calibrated.yaml`` overlays the values fitted by :mod:`allocart.population.calibrate`
(and the model parameters it fits). Link functions are vectorised over patients and take
their randomness as uniform numbers drawn once per patient, so re-evaluating them with other
parameter values reuses the same random numbers (common random numbers, needed for a smooth
calibration objective).

CRS grade: a cumulative link anchored at no exposure, in the decades of peak IL-6 fold rise
``x = log10(IL6_peak / IL6_0)``: ``P(grade >= g) = x^h / (x^h + x50_g^h)`` with increasing
``x50_g``, so no IL-6 rise means no CRS and higher grades are always rarer than lower ones.
ICANS grade: ordinal logistic in CAR-T Cmax and the CRS grade,
``P(grade >= g) = expit(alpha0_1 + (g - 1) * step + alpha_cmax * log10(Cmax) + alpha_crs * CRS)``.
Acute GvHD: probability ``index / (index + index_50)`` (Hill slope ``gvhd_hill``) of the risk index
``TCR+ share x cells infused x expansion fold``, and a grade I-IV from the same uniform number.

References
----------
Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625-38 (ASTCT grades).
Teachey DT, et al. Cancer Discov 2016;6:664-79 (cytokines predict severe CRS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml
from scipy.special import expit, ndtri

from allocart.errors import PopulationError

__all__ = [
    "LinkParameter",
    "LinkTable",
    "load_links",
    "load_calibrated",
    "crs_grade",
    "crs_probabilities",
    "icans_grade",
    "icans_probabilities",
    "gvhd_grade",
    "crs_x50",
    "lognormal_days",
    "infection_events",
]


@dataclass(frozen=True)
class LinkParameter:
    """One row of the link table: value, unit, description, source, and whether it is fitted."""

    name: str
    value: float
    unit: str
    description: str
    source: str
    group: str
    calibrate: bool = False


@dataclass(frozen=True)
class LinkTable:
    """An immutable table of link parameters."""

    rows: tuple[LinkParameter, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows)

    def __getitem__(self, name: str) -> float:
        for r in self.rows:
            if r.name == name:
                return r.value
        raise PopulationError(f"unknown link parameter `{name}`; known: {', '.join(self.names)}")

    def values(self) -> dict[str, float]:
        """Values by name."""
        return {r.name: r.value for r in self.rows}

    def row(self, name: str) -> LinkParameter:
        for r in self.rows:
            if r.name == name:
                return r
        raise PopulationError(f"unknown link parameter `{name}`; known: {', '.join(self.names)}")

    def with_values(self, values: Mapping[str, float], *, source: str | None = None) -> LinkTable:
        """A copy with new values (validated: known names, finite numbers)."""
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise PopulationError(
                f"unknown link parameter `{unknown[0]}`; known: {', '.join(self.names)}"
            )
        rows = []
        for r in self.rows:
            if r.name in values:
                v = values[r.name]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                    raise PopulationError(
                        f"link parameter `{r.name}` = {v!r} must be a finite number"
                    )
                changes: dict[str, Any] = {"value": float(v)}
                if source is not None:
                    changes["source"] = source
                rows.append(dataclasses.replace(r, **changes))
            else:
                rows.append(r)
        return LinkTable(tuple(rows))


@lru_cache(maxsize=1)
def _base_links() -> LinkTable:
    text = resources.files("allocart.population").joinpath("resources/links.yaml").read_text()
    data = yaml.safe_load(text)
    rows = []
    for group, entries in data.items():
        for name, spec in entries.items():
            if not str(spec.get("source", "")).strip():
                raise PopulationError(f"links.yaml: `{name}` has no source")
            rows.append(
                LinkParameter(
                    name=name,
                    value=float(spec["value"]),
                    unit=str(spec.get("unit", "1")),
                    description=str(spec.get("description", "")),
                    source=str(spec["source"]),
                    group=group,
                    calibrate=bool(spec.get("calibrate", False)),
                )
            )
    return LinkTable(tuple(rows))


@lru_cache(maxsize=1)
def load_calibrated() -> dict[str, Any]:
    """The calibrated overlay (``resources/calibrated.yaml``): ``{"model": {...}, "links": {...}, ...}``.

    Each entry maps a parameter name to ``{value, source}``. An absent file means no overlay.
    """
    res = resources.files("allocart.population").joinpath("resources/calibrated.yaml")
    if not res.is_file():
        return {"model": {}, "links": {}}
    data = yaml.safe_load(res.read_text()) or {}
    data.setdefault("model", {})
    data.setdefault("links", {})
    return data


def load_links(*, calibrated: bool = True) -> LinkTable:
    """The link table, with the calibrated values applied unless ``calibrated=False``."""
    table = _base_links()
    if not calibrated:
        return table
    over = load_calibrated().get("links", {}) or {}
    if not over:
        return table
    rows = []
    for r in table.rows:
        if r.name in over:
            spec = over[r.name]
            rows.append(
                dataclasses.replace(
                    r, value=float(spec["value"]), source=str(spec.get("source", r.source))
                )
            )
        else:
            rows.append(r)
    return LinkTable(tuple(rows))


# ---- link functions -------------------------------------------------------------------------


def crs_x50(links: Mapping[str, float]) -> np.ndarray:
    """The four ``x50_g`` (decades of IL-6 fold rise), made non-decreasing in g so that the
    cumulative probabilities are ordered whatever values a calibration tries."""
    x50 = [links["crs_x50_1"], links["crs_x50_2"]]
    x50.append(x50[1] + links["crs_x50_3_step"])
    x50.append(x50[2] + links["crs_x50_4_step"])
    return np.maximum.accumulate(np.maximum(np.array(x50, dtype=float), 1e-6))


def crs_probabilities(il6_fold: np.ndarray, links: Mapping[str, float]) -> np.ndarray:
    """``P(CRS grade >= g)`` for g = 1..4, shape (n, 4), from the peak IL-6 fold rise.

    Zero where IL-6 never rose above its baseline (fold <= 1): no CAR-T killing, no CRS.

    Examples
    --------
    >>> lk = {"crs_x50_1": 1.0, "crs_x50_2": 1.6, "crs_x50_3_step": 0.6, "crs_x50_4_step": 0.4, "crs_hill": 4.0}
    >>> crs_probabilities(np.array([1.0, 10.0]), lk).round(3).tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.5, 0.132, 0.041, 0.021]]
    """
    x = np.log10(np.maximum(np.asarray(il6_fold, dtype=float), 1.0))
    h = float(links["crs_hill"])
    xh = x[:, None] ** h
    return xh / (xh + crs_x50(links)[None, :] ** h)


def crs_grade(il6_fold: np.ndarray, u: np.ndarray, links: Mapping[str, float]) -> np.ndarray:
    """CRS grade 0-4 per patient: the number of cumulative probabilities above ``u``."""
    return (np.asarray(u)[:, None] < crs_probabilities(il6_fold, links)).sum(1)


def icans_probabilities(
    cmax_per_ul: np.ndarray, crs: np.ndarray, links: Mapping[str, float]
) -> np.ndarray:
    """``P(ICANS grade >= g)`` for g = 1..4, shape (n, 4); zero without CAR-T in blood (Cmax 0)."""
    cmax = np.asarray(cmax_per_ul, dtype=float)
    x = np.log10(np.maximum(cmax, 1e-3))
    base = (
        links["icans_alpha0_1"]
        + links["icans_alpha_cmax"] * x
        + links["icans_alpha_crs"] * np.asarray(crs)
    )
    steps = links["icans_alpha0_step"] * np.arange(4)
    return np.where((cmax > 0)[:, None], expit(base[:, None] + steps[None, :]), 0.0)


def icans_grade(
    cmax_per_ul: np.ndarray, crs: np.ndarray, u: np.ndarray, links: Mapping[str, float]
) -> np.ndarray:
    """ICANS grade 0-4 per patient."""
    return (np.asarray(u)[:, None] < icans_probabilities(cmax_per_ul, crs, links)).sum(1)


def gvhd_grade(index: np.ndarray, u: np.ndarray, links: Mapping[str, float]) -> np.ndarray:
    """Acute GvHD overall grade 0-4 (MAGIC I-IV) per patient from the risk index (cells).

    ``P(any) = index^h / (index^h + index_50^h)``; given GvHD, its grade is spread evenly over
    the uniform number's range below ``P(any)``: the lowest half of it gives grade I, the next
    quarter II, then III and IV (assumption: most acute GvHD after low-TCR products is mild).
    """
    index = np.maximum(np.asarray(index, dtype=float), 0.0)
    h = links["gvhd_hill"]
    k = links["gvhd_index_50"]
    p = index**h / (index**h + k**h)
    u = np.asarray(u, dtype=float)
    frac = np.where(p > 0, u / np.where(p > 0, p, 1.0), 2.0)
    grade = np.where(frac < 1.0, np.select([frac < 0.5, frac < 0.75, frac < 0.9], [1, 2, 3], 4), 0)
    return grade.astype(int)


def lognormal_days(median: np.ndarray | float, sd_log: float, u: np.ndarray) -> np.ndarray:
    """Whole days (at least 1) from a log-normal with ``median`` and log-scale ``sd_log``,
    drawn by inverting the patient's uniform ``u``."""
    z = ndtri(np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12))
    return np.maximum(np.rint(np.asarray(median, dtype=float) * np.exp(sd_log * z)), 1).astype(int)


def infection_events(
    anc: np.ndarray,
    igg: np.ndarray,
    u: np.ndarray,
    u_grade: np.ndarray,
    links: Mapping[str, float],
    b_cells: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Serious infections from the daily blood counts: CTCAE grade (0, 3, 4, 5) and onset day.

    The daily hazard is ``h_neut [ANC < 0.5] + h_profound [ANC < 0.1] + h_igg [IgG < limit]
    + h_aplasia [B cells < aplasia threshold]`` (per day, ANC in 10^9/L, IgG in g/L, B cells
    per uL): the neutropenia of lymphodepletion and the humoral defect of B-cell aplasia and
    hypogammaglobulinaemia. The infection starts on the first day the cumulative
    hazard reaches ``-log(1 - u)``, so its probability is ``1 - exp(-H)`` and its timing follows
    the cytopenia that caused it. Given an infection, ``u_grade`` picks fatal (grade 5),
    life-threatening (4) or IV-treated (3) by the shares in the link table.

    Parameters
    ----------
    anc, igg : ndarray, shape (n, n_days)
        Daily ANC (10^9/L) and IgG (g/L) from the day of infusion on (NaN rows: failed).
    b_cells : ndarray, shape (n, n_days), optional
        Daily CD19+ B cells per uL (no aplasia term without it).
    u, u_grade : ndarray, shape (n,)
        The patient's uniforms.

    Returns
    -------
    grade : ndarray of int, shape (n,)
    onset : ndarray of float, shape (n,) (NaN without infection)
    """
    anc = np.nan_to_num(np.asarray(anc, dtype=float), nan=np.inf)
    igg = np.nan_to_num(np.asarray(igg, dtype=float), nan=np.inf)
    h = (
        links["inf_per_neutropenic_day"] * (anc < 0.5)
        + links["inf_per_profound_day"] * (anc < 0.1)
        + links["inf_per_hypogamma_day"] * (igg < links["igg_low_g_per_l"])
    )
    if b_cells is not None:
        b = np.nan_to_num(np.asarray(b_cells, dtype=float), nan=np.inf)
        h = h + links["inf_per_aplasia_day"] * (b < links["b_aplasia_below_per_ul"])
    cum = np.cumsum(h, axis=1)
    need = -np.log1p(-np.clip(np.asarray(u, dtype=float), 0.0, 1 - 1e-12))
    hit = cum >= need[:, None]
    has = hit.any(1) & (need > 0)
    onset = np.where(has, hit.argmax(1).astype(float), np.nan)
    ug = np.asarray(u_grade, dtype=float)
    f5, f4 = links["inf_fatal_share"], links["inf_grade4_share"]
    grade = np.where(ug < f5, 5, np.where(ug < f5 + f4, 4, 3))
    return np.where(has, grade, 0).astype(int), onset
