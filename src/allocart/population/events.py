"""Clinical events of virtual patients, derived from their trajectories by the link functions.

:func:`derive_events` turns a :class:`~allocart.population.virtual.VirtualCohort` and a link
table into arrays over patients: CRS, ICANS and acute GvHD grades with onset days, the
SLEDAI-2K descriptors present at each visit (renal ones lagging the latent activity by
``sledai_renal_lag_days``), the physician global assessment, BILAG-2004
domain grades (a proxy from the descriptors) and the glucocorticoid dose. These arrays are what
the record emitter (:mod:`allocart.population.emit`) writes as clinical records; the clinical
library then scores the records. The arrays are cheap to recompute for other link values
(calibration), because the trajectories and uniforms stay fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from allocart.clinical.records import BILAG_DOMAINS, SLEDAI_DESCRIPTORS
from allocart.population.covariates import CLINICAL_DESCRIPTORS
from allocart.population.links import (
    crs_grade,
    gvhd_grade,
    icans_grade,
    infection_events,
    lognormal_days,
)
from allocart.population.readout import (
    BILAG_DOMAIN_OF,
    active_descriptors,
    clinical_score,
    pga_at,
    thresholds,
)
from allocart.population.virtual import VirtualCohort

__all__ = ["ClinicalEvents", "derive_events", "bilag_grades", "serology_points"]

#: SLEDAI-2K renal descriptors, which follow the activity with a lag.
RENAL_DESCRIPTORS = ("urinary_casts", "haematuria", "proteinuria", "pyuria")
_WEIGHTS = np.array([SLEDAI_DESCRIPTORS[d] for d in CLINICAL_DESCRIPTORS])


@dataclass(frozen=True)
class ClinicalEvents:
    """Per-patient clinical events (arrays over patients; visits in schedule order).

    Attributes
    ----------
    crs_grade, icans_grade, gvhd_grade : ndarray of int
    crs_onset, icans_onset, gvhd_onset : ndarray of float (NaN without the event)
    crs_days : ndarray of int
        Episode length in days (drawn: log-normal around a median that grows with the grade).
    crs_peak_days : ndarray of int
        Days at the worst grade of a grade >= 2 episode (drawn; the rest of it is fever only).
    infection_grade, infection_onset, infection_days : ndarray
        Serious infection (CTCAE grade 3-5, 0 without one), its onset day and its duration.
    visit_days : ndarray of int
        Baseline day first, then the post-infusion visits.
    active : ndarray of bool, shape (n, n_visits, n_descriptors)
        Clinical SLEDAI-2K descriptors present at each visit.
    pga : ndarray, shape (n, n_visits)
    bilag : ndarray of str, shape (n, n_visits, 9)
    prednisone : ndarray, shape (n, n_visits)
        Prednisone-equivalent mg/day on each visit day.
    """

    crs_grade: np.ndarray
    crs_onset: np.ndarray
    crs_days: np.ndarray
    crs_peak_days: np.ndarray
    infection_grade: np.ndarray
    infection_onset: np.ndarray
    infection_days: np.ndarray
    icans_grade: np.ndarray
    icans_onset: np.ndarray
    gvhd_grade: np.ndarray
    gvhd_onset: np.ndarray
    visit_days: np.ndarray
    active: np.ndarray
    pga: np.ndarray
    bilag: np.ndarray
    prednisone: np.ndarray


def bilag_grades(active: np.ndarray, baseline_involved: np.ndarray) -> np.ndarray:
    """BILAG-2004 domain grades from the SLEDAI-2K descriptors present (a proxy).

    A domain whose descriptors weigh 8 or more is graded A, 4-7 B, 1-3 C; an inactive
    domain is D if it was involved at baseline and E otherwise [assumption: the full BILAG
    needs about 97 items that the model does not resolve; the proxy keeps the SRI-4 and LLDAS
    rules (new A or B domain, new activity) meaningful].

    Parameters
    ----------
    active : ndarray of bool, shape (n, n_visits, n_descriptors)
    baseline_involved : ndarray of bool, shape (n, n_descriptors)

    Returns
    -------
    ndarray of str, shape (n, n_visits, 9), in ``BILAG_DOMAINS`` order.
    """
    n, v, _ = active.shape
    out = np.full((n, v, len(BILAG_DOMAINS)), "E", dtype="<U1")
    for j, dom in enumerate(BILAG_DOMAINS):
        cols = [k for k, d in enumerate(CLINICAL_DESCRIPTORS) if BILAG_DOMAIN_OF.get(d) == dom]
        if not cols:
            continue
        w = (active[:, :, cols] * _WEIGHTS[cols]).sum(-1)
        involved = np.any(baseline_involved[:, cols], axis=1)[:, None]
        g = np.where(
            w >= 8, "A", np.where(w >= 4, "B", np.where(w > 0, "C", np.where(involved, "D", "E")))
        )
        out[:, :, j] = g
    return out


def serology_points(
    anti_dsdna: np.ndarray, c3: np.ndarray, c4: np.ndarray, links: Mapping[str, float]
) -> np.ndarray:
    """SLEDAI-2K serology points: 2 for anti-dsDNA above the ULN, 2 for low C3 or C4 (strict)."""
    dna = np.where(anti_dsdna > links["anti_dsdna_uln_iu_per_ml"], 2, 0)
    comp = np.where((c3 < links["c3_lln_g_per_l"]) | (c4 < links["c4_lln_g_per_l"]), 2, 0)
    return dna + comp


def prednisone_on(day: np.ndarray, dose0: np.ndarray, links: Mapping[str, float]) -> np.ndarray:
    """Prednisone-equivalent mg/day of the taper: full dose, half from ``gc_taper_half_day``, none from ``gc_stop_day``."""
    day = np.asarray(day, dtype=float)
    half, stop = links["gc_taper_half_day"], links["gc_stop_day"]
    factor = np.where(day < half, 1.0, np.where(day < stop, 0.5, 0.0))
    return dose0[:, None] * factor[None, :]


def derive_events(
    vc: VirtualCohort,
    links: Mapping[str, float],
    kin: Mapping[str, np.ndarray],
    tcr_residual: float,
) -> ClinicalEvents:
    """Clinical events of every patient of ``vc`` under the link values ``links``.

    Parameters
    ----------
    vc : VirtualCohort
    links : mapping
        Link parameter values (:meth:`LinkTable.values`).
    kin : mapping
        Kinetic read-outs (:func:`allocart.population.virtual.kinetics`).
    tcr_residual : float
        TCR+ share of the infused cells (``Product.gvhd_tcr_residual``).
    """
    ok = ~vc.failed
    il6 = np.where(ok[:, None], vc.obs["il6_pg_per_ml"], 0.0)
    il6_fold = il6.max(1) / vc.params["IL6_0"]
    il6_peak_day = vc.time[il6.argmax(1)]
    crs = np.where(ok, crs_grade(il6_fold, vc.u["crs"], links), 0)
    crs_onset = np.where(
        crs > 0, np.maximum(il6_peak_day - links["crs_onset_before_il6_peak_days"], 0.0), np.nan
    )
    crs_onset = np.floor(crs_onset)
    median = links["crs_days_median"] + links["crs_days_per_grade"] * np.maximum(crs - 1, 0)
    crs_days = np.where(
        crs > 0, lognormal_days(median, links["crs_days_sd_log"], vc.u["crs_days"]), 0
    )
    peak = lognormal_days(
        links["crs_peak_share"] * crs_days, links["crs_days_sd_log"], vc.u["crs_peak"]
    )
    crs_peak = np.where(crs >= 2, np.minimum(peak, crs_days), 0)
    inf_grade, inf_onset = infection_events(
        np.where(ok[:, None], vc.obs["anc_1e9_per_l"], np.nan),
        np.where(ok[:, None], vc.obs["igg_g_per_l"], np.nan),
        vc.u["infection"],
        vc.u["infection_grade"],
        links,
        b_cells=np.where(ok[:, None], vc.obs["b_cells_per_ul"], np.nan),
    )
    inf_days = np.where(
        inf_grade > 0,
        lognormal_days(links["inf_days_median"], links["inf_days_sd_log"], vc.u["infection_days"]),
        0,
    )
    cmax = np.nan_to_num(kin["car_t_cmax_cells_per_ul"], nan=0.0)
    icans = np.where(ok, icans_grade(cmax, crs, vc.u["icans"], links), 0)
    tmax = np.nan_to_num(kin["car_t_tmax_days"], nan=0.0)
    icans_ref = np.where(crs > 0, crs_onset, tmax)
    icans_onset = np.where(
        icans > 0, np.floor(icans_ref + links["icans_delay_after_crs_days"]), np.nan
    )
    index = tcr_residual * np.nan_to_num(vc.car_t_total_peak, nan=0.0)
    gvhd = np.where(ok, gvhd_grade(index, vc.u["gvhd"], links), 0)
    gvhd_onset = np.where(gvhd > 0, float(links["gvhd_onset_day"]), np.nan)

    sched = vc.schedule
    post = np.asarray(sched.visit_days, dtype=int)
    visit_days = np.concatenate([[int(sched.baseline_day)], post])
    activity = np.concatenate([np.ones((vc.n, 1)), vc.at("sle_activity", post)], axis=1)
    activity = np.where(ok[:, None], activity, 1.0)
    theta = thresholds(vc.covariates, vc.draws, links["sledai_theta_min"])
    active = active_descriptors(activity, theta)
    # Renal findings lag the latent activity (tissue healing); before the infusion the
    # activity is the baseline, so a lag reaching back before day 0 reads I = 1.
    lag = float(links["sledai_renal_lag_days"])
    lagged_days = np.floor(post - lag).astype(int)
    lagged = np.where(
        lagged_days[None, :] >= 0, vc.at("sle_activity", np.maximum(lagged_days, 0)), 1.0
    )
    lagged = np.concatenate([np.ones((vc.n, 1)), lagged], axis=1)
    lagged = np.where(ok[:, None], lagged, 1.0)
    renal = np.array([d in RENAL_DESCRIPTORS for d in CLINICAL_DESCRIPTORS])
    active[:, :, renal] = active_descriptors(lagged, theta[:, renal])
    # Baseline: exactly the enrolment descriptors (I = 1 lies above every baseline threshold).
    active[:, 0, :] = vc.covariates.descriptors
    pga = pga_at(vc.covariates, active, links["pga_per_unit_activity"])
    bilag = bilag_grades(active, vc.covariates.descriptors)
    pred = prednisone_on(visit_days, vc.covariates["prednisone_mg_per_day"], links)
    return ClinicalEvents(
        crs_grade=crs.astype(int),
        crs_onset=crs_onset,
        crs_days=crs_days,
        crs_peak_days=crs_peak,
        infection_grade=inf_grade,
        infection_onset=inf_onset,
        infection_days=inf_days,
        icans_grade=icans.astype(int),
        icans_onset=icans_onset,
        gvhd_grade=gvhd.astype(int),
        gvhd_onset=gvhd_onset,
        visit_days=visit_days,
        active=active,
        pga=pga,
        bilag=bilag,
        prednisone=pred,
    )


def sledai2k_fast(vc: VirtualCohort, ev: ClinicalEvents, links: Mapping[str, float]) -> np.ndarray:
    """SLEDAI-2K at each visit computed on arrays (n, n_visits).

    Equals what the clinical library scores from the emitted records (a test checks this);
    used where records cannot be re-scored for every trial value (the calibration search).
    """
    days = ev.visit_days[1:]
    ab = np.concatenate(
        [vc.baseline["anti_dsdna_iu_per_ml"][:, None], vc.at("anti_dsdna_iu_per_ml", days)], 1
    )
    c3 = np.concatenate([vc.baseline["c3_g_per_l"][:, None], vc.at("c3_g_per_l", days)], 1)
    c4 = np.concatenate([vc.baseline["c4_g_per_l"][:, None], vc.at("c4_g_per_l", days)], 1)
    plt0 = np.where(vc.baseline["platelets_1e9_per_l"] < 100.0, 1, 0)
    s = clinical_score(ev.active) + serology_points(ab, c3, c4, links)
    s[:, 0] += plt0
    return s
