"""Covariates of a virtual SLE population and their joint distribution.

The default population (``resources/covariates.yaml``) describes adults with refractory systemic
lupus erythematosus as enrolled in CAR-T series. Each covariate has a marginal distribution
with a source; known associations enter as correlations of normal scores (a Gaussian copula).
Covariates that are also model quantities (anti-dsDNA, C3, C4, B- and T-cell counts) replace
the log-normal between-patient variability of the model parameter they map onto; every other
parameter keeps its variability from ``model/resources/parameters.yaml``.

Everything is drawn from one :class:`numpy.random.Generator`, in a fixed order, so a seed
gives the same patients on every machine.

References
----------
Mackensen A, et al. Nat Med 2022;28:2124-32 (cohort description).
Gladman DD, et al. J Rheumatol 2002;29:288-91 (SLEDAI-2K weights).
Mosteller RD. N Engl J Med 1987;317:1098 (body-surface area).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.special import ndtr

from allocart.clinical.records import SLEDAI_DESCRIPTORS
from allocart.errors import PopulationError
from allocart.files import load_yaml
from allocart.population.links import load_links

__all__ = [
    "PopulationError",
    "CovariateModel",
    "Covariates",
    "load_covariate_model",
    "covariate_parameters",
    "CLINICAL_DESCRIPTORS",
]

#: Clinical descriptors a baseline set can hold, in SLEDAI-2K table order (serology and blood
#: counts come from laboratory records).
CLINICAL_DESCRIPTORS: tuple[str, ...] = tuple(
    d
    for d in SLEDAI_DESCRIPTORS
    if d not in ("low_complement", "increased_dna_binding", "thrombocytopenia", "leukopenia")
)


@dataclass(frozen=True)
class Covariates:
    """Covariates of ``n`` virtual patients (one array entry per patient).

    Attributes
    ----------
    values : dict of ndarray
        Each covariate of the model (``age_years``, ``female`` ...), shape (n,), in the unit of
        its YAML row; booleans as ``bool`` arrays.
    weight_kg, bsa_m2 : ndarray
        Body weight (kg) and Mosteller body-surface area (m^2).
    descriptors : ndarray of bool, shape (n, len(CLINICAL_DESCRIPTORS))
        Baseline clinical SLEDAI-2K descriptors (organ involvement).
    joints : ndarray of int
        Inflamed joints where arthritis is present (0 otherwise).
    clinical_sledai0 : ndarray of int
        Baseline clinical SLEDAI-2K (descriptor weights, serology excluded).
    sledai2k0 : ndarray of int
        Baseline SLEDAI-2K including serology (anti-dsDNA above the ULN, low C3 or C4).
    pga0 : ndarray
        Baseline physician global assessment (0-3, one decimal).
    """

    values: dict[str, np.ndarray]
    weight_kg: np.ndarray
    bsa_m2: np.ndarray
    descriptors: np.ndarray
    joints: np.ndarray
    clinical_sledai0: np.ndarray
    sledai2k0: np.ndarray
    pga0: np.ndarray

    @property
    def n(self) -> int:
        return int(self.weight_kg.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "weight_kg":
            return self.weight_kg
        if name == "bsa_m2":
            return self.bsa_m2
        try:
            return self.values[name]
        except KeyError:
            raise PopulationError(
                f"unknown covariate `{name}`; known: {', '.join(self.values)}"
            ) from None

    def subset(self, index: np.ndarray) -> Covariates:
        """The covariates of the patients selected by ``index`` (bool mask or integer array)."""
        return Covariates(
            values={k: v[index] for k, v in self.values.items()},
            weight_kg=self.weight_kg[index],
            bsa_m2=self.bsa_m2[index],
            descriptors=self.descriptors[index],
            joints=self.joints[index],
            clinical_sledai0=self.clinical_sledai0[index],
            sledai2k0=self.sledai2k0[index],
            pga0=self.pga0[index],
        )

    def to_frame(self):
        """One row per patient: every covariate, weight, BSA, baseline SLEDAI-2K and PGA."""
        import pandas as pd

        cols: dict[str, Any] = {"id": np.arange(self.n)}
        cols.update(self.values)
        cols.update(
            weight_kg=self.weight_kg,
            bsa_m2=self.bsa_m2,
            clinical_sledai0=self.clinical_sledai0,
            sledai2k0=self.sledai2k0,
            pga0=self.pga0,
        )
        for j, d in enumerate(CLINICAL_DESCRIPTORS):
            cols[f"baseline_{d}"] = self.descriptors[:, j]
        return pd.DataFrame(cols)


def _spec_float(spec: Mapping[str, Any], key: str, where: str) -> float:
    try:
        value = float(spec[key])
    except KeyError:
        raise PopulationError(f"{where}: field `{key}` is missing") from None
    except (TypeError, ValueError):
        raise PopulationError(f"{where}: field `{key}` = {spec[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise PopulationError(f"{where}: field `{key}` = {value!r} is not finite")
    return value


@dataclass(frozen=True)
class CovariateModel:
    """The joint covariate distribution read from a YAML file (see ``resources/covariates.yaml``).

    Attributes
    ----------
    name : str
    spec : dict
        The parsed YAML document.
    order : tuple of str
        Covariates with a normal score, in the order their scores are drawn.
    corr : ndarray
        Correlation matrix of the normal scores.
    """

    name: str
    spec: dict[str, Any]
    order: tuple[str, ...]
    corr: np.ndarray = field(repr=False)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], origin: str = "covariates") -> CovariateModel:
        """Validate a covariate specification.

        Raises
        ------
        PopulationError
            On an unknown distribution, a missing or non-numeric field, a probability outside
            [0, 1], an unknown covariate in a correlation or a correlation matrix that is not
            positive definite.
        """
        if not isinstance(spec, Mapping) or "covariates" not in spec:
            raise PopulationError(f"{origin}: needs a `covariates` mapping")
        covs = spec["covariates"]
        for name, c in covs.items():
            where = f"{origin}: covariate `{name}`"
            dist = c.get("distribution")
            if dist == "bernoulli":
                p = _spec_float(c, "p", where)
                if not 0 <= p <= 1:
                    raise PopulationError(f"{where}: field `p` = {p!r} must lie in [0, 1]")
            elif dist == "normal":
                if name == "height_cm":
                    for sex in ("female", "male"):
                        _spec_float(c[sex], "mean", f"{where}.{sex}")
                        if _spec_float(c[sex], "sd", f"{where}.{sex}") <= 0:
                            raise PopulationError(f"{where}.{sex}: field `sd` must be positive")
                else:
                    _spec_float(c, "mean", where)
                    if _spec_float(c, "sd", where) <= 0:
                        raise PopulationError(f"{where}: field `sd` must be positive")
            elif dist == "lognormal":
                if _spec_float(c, "median", where) <= 0:
                    raise PopulationError(f"{where}: field `median` must be positive")
                if _spec_float(c, "cv", where) < 0:
                    raise PopulationError(f"{where}: field `cv` must be >= 0")
            else:
                raise PopulationError(
                    f"{where}: field `distribution` = {dist!r}; use normal, lognormal or bernoulli"
                )
            if not str(c.get("source", "")).strip():
                raise PopulationError(
                    f"{where}: field `source` is missing (give a reference or `assumption: <why>`)"
                )
        order = tuple(covs)
        corr = np.eye(len(order))
        for i, row in enumerate(spec.get("correlations", []) or []):
            a, b = row.get("a"), row.get("b")
            for x in (a, b):
                if x not in covs:
                    raise PopulationError(
                        f"{origin}: correlations[{i}] names unknown covariate {x!r}"
                    )
            rho = _spec_float(row, "rho", f"{origin}: correlations[{i}]")
            if not -1 < rho < 1:
                raise PopulationError(
                    f"{origin}: correlations[{i}]: `rho` = {rho!r} must lie in (-1, 1)"
                )
            ia, ib = order.index(a), order.index(b)
            corr[ia, ib] = corr[ib, ia] = rho
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise PopulationError(
                f"{origin}: the correlations do not form a positive-definite matrix"
            ) from None
        return cls(
            name=str(spec.get("name", "population")), spec=dict(spec), order=order, corr=corr
        )

    # ---------------------------------------------------------------------------------------
    def sample(self, n: int, seed: int | np.random.Generator) -> Covariates:
        """Draw ``n`` virtual patients.

        Parameters
        ----------
        n : int
            Number of patients (>= 1).
        seed : int or numpy.random.Generator
            Seed of the draw.

        Returns
        -------
        Covariates
        """
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise PopulationError(
                f"n: {n!r} must be a positive whole number of patients", argument="n"
            )
        n = int(n)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        covs = self.spec["covariates"]
        z = rng.standard_normal((n, len(self.order))) @ np.linalg.cholesky(self.corr).T
        values: dict[str, np.ndarray] = {}
        female = None
        for j, name in enumerate(self.order):
            c = covs[name]
            dist = c["distribution"]
            if dist == "bernoulli":
                values[name] = ndtr(z[:, j]) < float(c["p"])
                if name == "female":
                    female = values[name]
                continue
            if dist == "normal" and name == "height_cm":
                fem = female if female is not None else np.ones(n, dtype=bool)
                mean = np.where(fem, c["female"]["mean"], c["male"]["mean"])
                sd = np.where(fem, c["female"]["sd"], c["male"]["sd"])
                x = mean + sd * z[:, j]
            elif dist == "normal":
                x = float(c["mean"]) + float(c["sd"]) * z[:, j]
            else:
                sigma = math.sqrt(math.log1p(float(c["cv"]) ** 2))
                x = float(c["median"]) * np.exp(sigma * z[:, j])
            values[name] = np.clip(x, float(c.get("lower", -np.inf)), float(c.get("upper", np.inf)))
        height = values.get("height_cm", np.full(n, 165.0))
        bmi = values.get("bmi_kg_per_m2", np.full(n, 22.5))
        weight = bmi * (height / 100.0) ** 2
        bsa = np.sqrt(height * weight / 3600.0)
        if "prednisone_mg_per_day" in values and "on_glucocorticoid" in values:
            values["prednisone_mg_per_day"] = np.where(
                values["on_glucocorticoid"], values["prednisone_mg_per_day"], 0.0
            )
        desc, joints, csledai, sledai2k = self._descriptors(values, rng, n)
        pga0 = self._pga(csledai, rng)
        return Covariates(
            values=values,
            weight_kg=weight,
            bsa_m2=bsa,
            descriptors=desc,
            joints=joints,
            clinical_sledai0=csledai,
            sledai2k0=sledai2k,
            pga0=pga0,
        )

    def serology_points(
        self, values: Mapping[str, np.ndarray], links: Mapping[str, float] | None = None
    ) -> np.ndarray:
        """SLEDAI-2K serology points at baseline: 2 for anti-dsDNA above the ULN, 2 for low C3 or C4."""
        lk = links if links is not None else load_links().values()
        n = len(next(iter(values.values())))
        ab = values.get("anti_dsdna_iu_per_ml", np.zeros(n))
        c3 = values.get("c3_g_per_l", np.full(n, 1.0))
        c4 = values.get("c4_g_per_l", np.full(n, 0.2))
        dna = np.where(ab > lk["anti_dsdna_uln_iu_per_ml"], 2, 0)
        comp = np.where((c3 < lk["c3_lln_g_per_l"]) | (c4 < lk["c4_lln_g_per_l"]), 2, 0)
        return (dna + comp).astype(int)

    def _descriptors(self, values: dict[str, np.ndarray], rng: np.random.Generator, n: int):
        s = self.spec.get("sledai", {})
        renal = s.get("renal_if_nephritis", {})
        other = s.get("non_renal", {})
        for name in (*renal, *other):
            if name not in CLINICAL_DESCRIPTORS:
                raise PopulationError(
                    f"covariates: sledai descriptor {name!r} is not a clinical SLEDAI-2K descriptor"
                )
        weights = np.array([SLEDAI_DESCRIPTORS[d] for d in CLINICAL_DESCRIPTORS])
        p_renal = np.array([float(renal.get(d, 0.0)) for d in CLINICAL_DESCRIPTORS])
        p_other = np.array([float(other.get(d, 0.0)) for d in CLINICAL_DESCRIPTORS])
        ln = values.get("lupus_nephritis", np.zeros(n, dtype=bool))
        p = p_other[None, :] + np.where(ln[:, None], p_renal[None, :], 0.0)
        serology = self.serology_points(values)
        minimum = int(s.get("inclusion_min_sledai2k", 0))
        tries = int(s.get("max_redraws", 50))
        desc = np.zeros((n, len(CLINICAL_DESCRIPTORS)), dtype=bool)
        todo = np.ones(n, dtype=bool)
        # Redraw the organ involvement (not the other covariates) of patients below the
        # inclusion threshold: enrolment selects on SLEDAI-2K. A fixed number of rounds keeps
        # the stream of random numbers, and so the cohort, reproducible.
        for _ in range(tries):
            u = rng.random((n, len(CLINICAL_DESCRIPTORS)))
            draw = u < p
            desc[todo] = draw[todo]
            total = (desc * weights).sum(1) + serology
            todo = total < minimum
            if not todo.any():
                break
        if todo.any():
            # Patients still below the threshold get arthritis and rash until they qualify.
            for d in ("arthritis", "rash", "alopecia", "mucosal_ulcers"):
                j = CLINICAL_DESCRIPTORS.index(d)
                total = (desc * weights).sum(1) + serology
                desc[:, j] |= total < minimum
        j_arth = CLINICAL_DESCRIPTORS.index("arthritis")
        lo, hi = (
            s.get("arthritis_joints", {}).get("min", 2),
            s.get("arthritis_joints", {}).get("max", 10),
        )
        joints = np.where(desc[:, j_arth], rng.integers(int(lo), int(hi) + 1, size=n), 0)
        csledai = (desc * weights).sum(1).astype(int)
        return desc, joints, csledai, csledai + serology

    def _pga(self, csledai: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        g = self.spec.get("pga", {})
        mean = float(g.get("intercept", 0.6)) + float(g.get("per_sledai_point", 0.1)) * csledai
        x = mean + float(g.get("sd", 0.3)) * rng.standard_normal(csledai.shape[0])
        return np.round(np.clip(x, float(g.get("lower", 0.5)), float(g.get("upper", 3.0))), 1)

    def sources(self) -> dict[str, str]:
        """Source of every covariate (and of the correlations and descriptor prevalences)."""
        out = {k: str(v["source"]) for k, v in self.spec["covariates"].items()}
        for row in self.spec.get("correlations", []) or []:
            out[f"corr({row['a']}, {row['b']})"] = str(row.get("source", ""))
        if "sledai" in self.spec:
            out["sledai_descriptors"] = str(self.spec["sledai"].get("source", ""))
        return out


def load_covariate_model(path: str | Path | Mapping[str, Any] | None = None) -> CovariateModel:
    """The default covariate model, or one from a YAML file or mapping.

    Raises
    ------
    PopulationError
        If the file is missing, not YAML, or malformed.
    """
    if isinstance(path, Mapping):
        return CovariateModel.from_mapping(path, origin="covariates")
    if path is None:
        text = (
            resources.files("allocart.population").joinpath("resources/covariates.yaml").read_text()
        )
        return CovariateModel.from_mapping(yaml.safe_load(text), origin="covariates.yaml")
    p = Path(path)
    spec = load_yaml(p, what="covariates", error=PopulationError)
    return CovariateModel.from_mapping(spec, origin=str(p))


def covariate_parameters(
    cov: Covariates, primary: Mapping[str, np.ndarray], model: CovariateModel
) -> dict[str, np.ndarray]:
    """Model parameters of the patients with their mapped covariates applied.

    ``Ab0``, ``C3_0`` and ``C4_0`` are the measured baseline values. Cell counts in blood set
    whole-body capacities through the blood shares: ``B_ss = count * V_blood / f_blood_B`` and
    ``K_N = count * V_blood / f_blood_T`` (1 cell/uL is 1 cell per microlitre of ``V_blood``
    microlitres). Complement without consumption (``C3_norm``, ``C4_norm``) is raised where a
    patient's baseline is above it, so consumption is never negative.

    Parameters
    ----------
    cov : Covariates
    primary : mapping of ndarray
        Primary parameters from :func:`allocart.model.scenario.sample_parameters`.
    model : CovariateModel

    Returns
    -------
    dict of ndarray
        A copy of ``primary`` with the mapped parameters replaced.
    """
    out = {k: np.array(v, dtype=float, copy=True) for k, v in primary.items()}
    covs = model.spec["covariates"]
    for name, c in covs.items():
        target = c.get("maps_to")
        if not target:
            continue
        if target not in out:
            raise PopulationError(
                f"covariate `{name}`: maps_to {target!r} is not a model parameter"
            )
        x = np.asarray(cov.values[name], dtype=float)
        if target == "B_ss":
            out[target] = x * out["V_blood"] / out["f_blood_B"]
        elif target == "K_N":
            out[target] = x * out["V_blood"] / out["f_blood_T"]
        else:
            out[target] = x
    out["C3_norm"] = np.maximum(out["C3_norm"], 1.05 * out["C3_0"])
    out["C4_norm"] = np.maximum(out["C4_norm"], 1.05 * out["C4_0"])
    return out
