"""SLEDAI-2K readout: the model's latent activity as a set of clinical descriptors.

The model carries one latent SLE activity ``I(t)`` (1 = the patient's baseline). A patient
enrols with a set of clinical descriptors (:mod:`allocart.population.covariates`); the readout
decides which of them are present at a visit:

* descriptor ``j`` of the baseline set is present while ``I(t) > theta_j`` with
  ``theta_j = theta_min + (1 - theta_min) * u_j`` and ``u_j ~ U(0, 1)`` drawn once per patient.
  For ``I`` between ``theta_min`` and 1 the expected clinical SLEDAI-2K is then
  ``S_clin,0 * (I - theta_min) / (1 - theta_min)``: the model-spec §8.6 readout
  ``S_clin,0 * I`` with a remission threshold ``theta_min`` (residual latent activity without
  clinical signs), and descriptors resolve in a fixed per-patient order as activity falls;
* a flare (``I > 1``) adds new descriptors, not present at baseline, each switching on when
  ``I(t) > 1 + u`` (``u ~ U(0, 1)``), so activity twice the baseline adds all of them;
* serology (anti-dsDNA, C3/C4) is not part of the readout: it is scored from the patient's
  laboratory records by the clinical library.

The mapping is deterministic given the uniforms, which come from the patient's seeded stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocart.clinical.records import SLEDAI_DESCRIPTORS
from allocart.population.covariates import CLINICAL_DESCRIPTORS, Covariates

__all__ = [
    "ReadoutDraws",
    "draw_readout",
    "thresholds",
    "active_descriptors",
    "pga_at",
    "BILAG_DOMAIN_OF",
]

#: Descriptors that may appear in a flare (CNS items are left out: neuropsychiatric flares are
#: rare and handled as separate adverse events in trials).
FLARE_POOL: tuple[str, ...] = tuple(
    d for d in CLINICAL_DESCRIPTORS if SLEDAI_DESCRIPTORS[d] < 8 or d == "vasculitis"
)

#: BILAG-2004 domain of each clinical SLEDAI-2K descriptor (for the BILAG proxy).
BILAG_DOMAIN_OF: dict[str, str] = {
    "seizure": "neuropsychiatric",
    "psychosis": "neuropsychiatric",
    "organic_brain_syndrome": "neuropsychiatric",
    "visual_disturbance": "ophthalmic",
    "cranial_nerve_disorder": "neuropsychiatric",
    "lupus_headache": "neuropsychiatric",
    "cva": "neuropsychiatric",
    "vasculitis": "mucocutaneous",
    "arthritis": "musculoskeletal",
    "myositis": "musculoskeletal",
    "urinary_casts": "renal",
    "haematuria": "renal",
    "proteinuria": "renal",
    "pyuria": "renal",
    "rash": "mucocutaneous",
    "alopecia": "mucocutaneous",
    "mucosal_ulcers": "mucocutaneous",
    "pleurisy": "cardiorespiratory",
    "pericarditis": "cardiorespiratory",
    "fever": "constitutional",
}


@dataclass(frozen=True)
class ReadoutDraws:
    """Per-patient uniforms of the readout (fixed across calibration evaluations).

    Attributes
    ----------
    u_resolve : ndarray, shape (n, n_descriptors)
        Resolution order of baseline descriptors.
    flare : ndarray of bool, shape (n, n_descriptors)
        Descriptors available to a flare.
    u_flare : ndarray, shape (n, n_descriptors)
        Flare thresholds above 1.
    """

    u_resolve: np.ndarray
    flare: np.ndarray
    u_flare: np.ndarray


def draw_readout(cov: Covariates, rng: np.random.Generator, n_flare: int) -> ReadoutDraws:
    """Draw the readout uniforms and each patient's flare descriptors."""
    n, k = cov.descriptors.shape
    u_resolve = rng.random((n, k))
    key = rng.random((n, k))
    pool = np.array([d in FLARE_POOL for d in CLINICAL_DESCRIPTORS])
    eligible = pool[None, :] & ~cov.descriptors
    key = np.where(eligible, key, np.inf)
    order = np.argsort(key, axis=1)[:, : max(int(n_flare), 0)]
    flare = np.zeros((n, k), dtype=bool)
    rows = np.arange(n)[:, None]
    flare[rows, order] = True
    flare &= eligible
    u_flare = rng.random((n, k))
    return ReadoutDraws(u_resolve=u_resolve, flare=flare, u_flare=u_flare)


def thresholds(cov: Covariates, draws: ReadoutDraws, theta_min: float) -> np.ndarray:
    """Activity thresholds of every descriptor, shape (n, n_descriptors); ``inf`` = never present."""
    base = theta_min + (1.0 - theta_min) * draws.u_resolve
    flare = 1.0 + draws.u_flare
    return np.where(cov.descriptors, base, np.where(draws.flare, flare, np.inf))


def active_descriptors(activity: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Descriptors present at each visit, shape (n, n_visits, n_descriptors).

    Parameters
    ----------
    activity : ndarray, shape (n, n_visits)
        Latent activity ``I`` at the visits.
    theta : ndarray, shape (n, n_descriptors)
        From :func:`thresholds`.
    """
    return activity[:, :, None] > theta[:, None, :]


def clinical_score(active: np.ndarray) -> np.ndarray:
    """Clinical SLEDAI-2K (descriptor weights) of an ``active`` array, shape (n, n_visits)."""
    w = np.array([SLEDAI_DESCRIPTORS[d] for d in CLINICAL_DESCRIPTORS])
    return (active * w).sum(-1)


def pga_at(cov: Covariates, active: np.ndarray, per_unit: float = 1.0) -> np.ndarray:
    """PGA (0-3, one decimal) at each visit: baseline PGA scaled by the clinical SLEDAI ratio."""
    ratio = clinical_score(active) / np.maximum(cov.clinical_sledai0, 1)[:, None]
    return np.round(np.clip(cov.pga0[:, None] * per_unit * ratio, 0.0, 3.0), 1)
