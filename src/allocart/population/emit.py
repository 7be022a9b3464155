"""Clinical records of a virtual patient, as a trial site would collect them.

:func:`patient_records` writes one patient's :class:`allocart.clinical.records.PatientRecords`
from the model trajectories and the derived events (:mod:`allocart.population.events`):

* visits: screening (baseline, before lymphodepletion) and the schedule's post-infusion visits;
* laboratory results with the laboratory's reference limits: C3, C4 and anti-dsDNA (ELISA) and
  CD19+ B cells and IgG at visits; neutrophils and platelets at visits and on the
  safety-laboratory days. Blood counts after the infusion are attributed to the treatment
  (``car_t``), so SLEDAI-2K does not score treatment cytopenias as lupus;
* SLEDAI-2K clinical descriptors present at each visit (attributed to SLE; arthritis with its
  joint count), the physician global assessment and BILAG-2004 domain grades;
* medications: the glucocorticoid taper, fludarabine and cyclophosphamide on their days, the
  CAR-T infusion, tocilizumab for CRS of grade 2 or more;
* CRS as the vital signs and support that define its ASTCT grade (fever; hypotension;
  vasopressors), ICANS as ICE-score assessments, acute GvHD as MAGIC organ staging, and each as
  an adverse event with its grade;
* a serious infection as the clinical attributes CTCAE grades it by (IV antimicrobials,
  life-threatening consequences, death), with the death record of a fatal one.

The records hold what defines each grade, so the clinical library re-derives the grade the
link functions chose: one scoring path for simulated and real patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from allocart.clinical.records import BILAG_DOMAINS, PatientRecords
from allocart.population.covariates import CLINICAL_DESCRIPTORS
from allocart.population.events import ClinicalEvents
from allocart.population.virtual import VirtualCohort

__all__ = ["patient_records", "patient_id"]

# ICE score, consciousness and unable-to-perform flag that define ICANS grades 1-4 (ASTCT 2019).
_ICE = {
    1: (8, "alert", False),
    2: (5, "alert", False),
    3: (1, "awakens_to_tactile", False),
    4: (0, "unarousable", True),
}
# MAGIC organ data giving overall grades I-IV.
_GVHD = {
    1: {"skin_bsa_percent": 20.0},
    2: {"skin_bsa_percent": 20.0, "upper_gi_persistent": True},
    3: {"skin_bsa_percent": 30.0, "stool_ml_per_day": 1200.0, "stool_episodes_per_day": 6.0},
    4: {
        "skin_bsa_percent": 60.0,
        "skin_bullae_desquamation": True,
        "stool_ml_per_day": 1800.0,
        "stool_episodes_per_day": 9.0,
    },
}
_GVHD_TERMS = {
    1: "acute GvHD grade I",
    2: "acute GvHD grade II",
    3: "acute GvHD grade III",
    4: "acute GvHD grade IV",
}


def patient_id(i: int) -> str:
    """Identifier of virtual patient ``i`` (0-based) in its records."""
    return f"V{i:05d}"


def _r(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd))


# Vasopressors of CRS from the lowest grade that needs them: one at grade 3, more at grade 4
# (ASTCT 2019).
_CRS_VASOPRESSORS = ((3, "norepinephrine"), (4, "phenylephrine"))


def _crs_event(grade: int, start: float, end: float) -> dict[str, Any]:
    """The adverse-event record of CRS at ``grade`` (ASTCT 2019) from ``start`` to ``end`` (days)."""
    return {
        "term": "cytokine release syndrome",
        "category": "crs",
        "grade": grade,
        "scale": "astct-2019",
        "start": start,
        "end": end,
        "relatedness": "definite",
        "attribution": "crs",
    }


def patient_records(
    vc: VirtualCohort,
    ev: ClinicalEvents,
    i: int,
    links: Mapping[str, float],
    joints: np.ndarray | None = None,
) -> PatientRecords:
    """The clinical records of patient ``i`` of ``vc``.

    Parameters
    ----------
    vc : VirtualCohort
    ev : ClinicalEvents
        Events derived for ``vc`` (same link values as ``links``).
    i : int
        Patient index (0-based).
    links : mapping
        Link parameter values (assay limits, treatment schedule, CRS episode shape).
    """
    sched = vc.schedule
    cov = vc.covariates
    failed = bool(vc.failed[i])
    uln_dna = float(links["anti_dsdna_uln_iu_per_ml"])
    lln = {
        "C3": links["c3_lln_g_per_l"],
        "C4": links["c4_lln_g_per_l"],
        "NEUT": links["neut_lln"],
        "PLAT": links["plat_lln"],
        "LYM": links["lym_lln"],
        "IGG": links["igg_lln"],
    }
    d0 = float(sched.baseline_day)
    visits: list[dict[str, Any]] = [
        {
            "time": d0,
            "visit_id": "SCREENING",
            "baseline": True,
            "haemolytic_anaemia": False,
            "gi_activity": False,
        }
    ]
    labs: list[dict[str, Any]] = []
    b = vc.baseline

    def serology(t: float, ab: float, c3: float, c4: float) -> None:
        labs.append(
            {
                "test": "DSDNAAB",
                "value": _r(ab, 1),
                "unit": "IU/mL",
                "time": t,
                "ref_high": uln_dna,
                "method": "ELISA",
                "attribution": "sle",
            }
        )
        labs.append(
            {
                "test": "C3",
                "value": _r(c3),
                "unit": "g/L",
                "time": t,
                "ref_low": lln["C3"],
                "attribution": "sle",
            }
        )
        labs.append(
            {
                "test": "C4",
                "value": _r(c4),
                "unit": "g/L",
                "time": t,
                "ref_low": lln["C4"],
                "attribution": "sle",
            }
        )

    def counts(t: float, anc: float, lym: float, plt: float, attribution: str) -> None:
        labs.append(
            {
                "test": "NEUT",
                "value": _r(anc),
                "unit": "10^9/L",
                "time": t,
                "ref_low": lln["NEUT"],
                "attribution": attribution,
            }
        )
        labs.append(
            {
                "test": "PLAT",
                "value": _r(plt, 1),
                "unit": "10^9/L",
                "time": t,
                "ref_low": lln["PLAT"],
                "attribution": attribution,
            }
        )

    serology(d0, b["anti_dsdna_iu_per_ml"][i], b["c3_g_per_l"][i], b["c4_g_per_l"][i])
    counts(
        d0,
        b["anc_1e9_per_l"][i],
        b["lymphocytes_1e9_per_l"][i],
        b["platelets_1e9_per_l"][i],
        "unspecified",
    )
    labs.append(
        {
            "test": "IGG",
            "value": _r(b["igg_g_per_l"][i], 2),
            "unit": "g/L",
            "time": d0,
            "ref_low": lln["IGG"],
        }
    )
    labs.append(
        {
            "test": "CD19",
            "value": _r(b["b_cells_per_ul"][i] / 1000.0, 5),
            "unit": "10^9/L",
            "time": d0,
        }
    )

    findings: list[dict[str, Any]] = []
    pga: list[dict[str, Any]] = []
    bilag: list[dict[str, Any]] = []
    jidx = CLINICAL_DESCRIPTORS.index("arthritis")
    n_joints = int(cov.joints[i]) if joints is None else int(joints[i])

    def clinical(k: int, t: float) -> None:
        for j in np.flatnonzero(ev.active[i, k]):
            f: dict[str, Any] = {
                "descriptor": CLINICAL_DESCRIPTORS[j],
                "start": t,
                "attribution": "sle",
            }
            if j == jidx:
                f["joints"] = max(n_joints, 2)
            findings.append(f)
        pga.append({"time": t, "value": float(ev.pga[i, k])})
        bilag.append(
            {"time": t, "domains": dict(zip(BILAG_DOMAINS, (str(g) for g in ev.bilag[i, k])))}
        )

    clinical(0, d0)
    if not failed:
        for k, visit_day in enumerate(sched.visit_days, start=1):
            t = float(visit_day)
            month = [m for m, md in sched.month_days.items() if md == visit_day]
            visits.append(
                {
                    "time": t,
                    "visit_id": f"MONTH {month[0]}" if month else f"DAY {visit_day}",
                    "haemolytic_anaemia": False,
                    "gi_activity": False,
                }
            )
            serology(
                t,
                vc.obs["anti_dsdna_iu_per_ml"][i, visit_day],
                vc.obs["c3_g_per_l"][i, visit_day],
                vc.obs["c4_g_per_l"][i, visit_day],
            )
            labs.append(
                {
                    "test": "IGG",
                    "value": _r(vc.obs["igg_g_per_l"][i, visit_day], 2),
                    "unit": "g/L",
                    "time": t,
                    "ref_low": lln["IGG"],
                }
            )
            labs.append(
                {
                    "test": "CD19",
                    "value": _r(vc.obs["b_cells_per_ul"][i, visit_day] / 1000.0, 5),
                    "unit": "10^9/L",
                    "time": t,
                }
            )
            clinical(k, t)
        for lab_day in sched.lab_days:
            counts(
                float(lab_day),
                vc.obs["anc_1e9_per_l"][i, lab_day],
                vc.obs["lymphocytes_1e9_per_l"][i, lab_day],
                vc.obs["platelets_1e9_per_l"][i, lab_day],
                "car_t",
            )

    meds: list[dict[str, Any]] = []
    dose0 = float(cov["prednisone_mg_per_day"][i])
    half, stop = float(links["gc_taper_half_day"]), float(links["gc_stop_day"])
    if dose0 > 0:
        meds.append(
            {
                "name": "prednisone",
                "category": "glucocorticoid",
                "start": d0 - 30.0,
                "end": half - 1.0,
                "dose": _r(dose0, 1),
                "dose_unit": "mg",
                "indication": "sle",
            }
        )
        meds.append(
            {
                "name": "prednisone",
                "category": "glucocorticoid",
                "start": half,
                "end": stop - 1.0,
                "dose": _r(dose0 / 2.0, 2),
                "dose_unit": "mg",
                "indication": "sle",
            }
        )
    bsa = float(cov.bsa_m2[i])
    for day, state, mg in vc.scenario.regimen.doses():
        name = "fludarabine" if state == "Dflu" else "cyclophosphamide"
        meds.append(
            {
                "name": name,
                "category": "lymphodepletion",
                "start": float(day),
                "frequency": "once",
                "dose": _r(mg * bsa, 1),
                "dose_unit": "mg",
                "indication": "other",
            }
        )
    meds.append(
        {
            "name": vc.scenario.product.name,
            "category": "car_t",
            "start": 0.0,
            "frequency": "once",
            "dose": float(f"{vc.cells_infused[i]:.4g}"),
            "dose_unit": "cells",
            "indication": "sle",
        }
    )

    vitals: list[dict[str, Any]] = [{"test": "TEMP", "value": 36.8, "unit": "C", "time": 0.0}]
    aes: list[dict[str, Any]] = []
    oxygen: list[dict[str, Any]] = []
    g = int(ev.crs_grade[i])
    if g > 0:
        on = float(ev.crs_onset[i])
        length = max(int(ev.crs_days[i]), 1)
        peak = max(int(ev.crs_peak_days[i]), 1) if g >= 2 else length
        peak_start = on + 1.0 if g >= 2 and length > 1 else on
        for k in range(length):
            day = on + k
            at_peak = peak_start <= day < peak_start + peak
            vitals.append(
                {
                    "test": "TEMP",
                    "value": 38.4 + 0.3 * min(g, 3),
                    "unit": "C",
                    "time": day + 0.25,
                    "attribution": "crs",
                }
            )
            if at_peak and g >= 2:
                vitals.append(
                    {
                        "test": "SYSBP",
                        "value": 84.0,
                        "unit": "mmHg",
                        "time": day + 0.25,
                        "attribution": "crs",
                    }
                )
        if g >= 2:
            meds.append(
                {
                    "name": "tocilizumab",
                    "category": "tocilizumab",
                    "start": peak_start,
                    "frequency": "once",
                    "dose": 8.0,
                    "dose_unit": "mg/kg",
                    "indication": "toxicity",
                }
            )
        for lowest, drug in _CRS_VASOPRESSORS:
            if g >= lowest:
                meds.append(
                    {
                        "name": drug,
                        "category": "vasopressor",
                        "start": peak_start,
                        "end": peak_start + peak - 1,
                        "frequency": "continuous",
                        "indication": "toxicity",
                    }
                )
        if g >= 4:
            oxygen.append(
                {
                    "device": "bipap",
                    "start": peak_start,
                    "end": peak_start + peak - 1,
                    "attribution": "crs",
                }
            )
        if g >= 2 and peak_start > on:
            aes.append(_crs_event(1, on, peak_start))
        end_peak = min(peak_start + peak, on + length)
        aes.append(_crs_event(g, peak_start, end_peak))
        if g >= 2 and on + length > end_peak:
            aes.append(_crs_event(1, end_peak, on + length))
    neuro: list[dict[str, Any]] = []
    gi = int(ev.icans_grade[i])
    if gi > 0:
        on = float(ev.icans_onset[i])
        length = max(int(round(links["crs_days_per_grade"] * gi)), 1)
        ice, consc, unable = _ICE[min(gi, 4)]
        for k in range(length):
            a: dict[str, Any] = {
                "time": on + k + 0.5,
                "consciousness": consc,
                "unable_to_perform": unable,
                "attribution": "icans",
            }
            if not unable:
                a["ice_score"] = ice
            neuro.append(a)
        aes.append(
            {
                "term": "immune effector cell-associated neurotoxicity syndrome",
                "category": "icans",
                "grade": gi,
                "scale": "astct-2019",
                "start": on,
                "end": on + length,
                "relatedness": "definite",
                "attribution": "icans",
            }
        )
    infections: list[dict[str, Any]] = []
    death: dict[str, Any] | None = None
    ig = int(ev.infection_grade[i])
    if ig > 0:
        # The record holds what CTCAE grades an infection by (IV treatment; life-threatening
        # consequences; death), so the clinical library re-derives the grade.
        on = float(ev.infection_onset[i])
        end = on + float(ev.infection_days[i])
        infections.append(
            {
                "term": "serious infection",
                "start": on,
                "end": end,
                "antimicrobial": "iv",
                "life_threatening": ig >= 4,
                "fatal": ig >= 5,
                "serious": True,
                "relatedness": "probable",
                "attribution": "infection",
            }
        )
        # The same infection as the adverse event a site reports (SDTM AE), graded by CTCAE.
        aes.append(
            {
                "term": "serious infection",
                "category": "infection",
                "grade": ig,
                "scale": "ctcae-5.0",
                "start": on,
                "end": end,
                "relatedness": "probable",
                "serious": True,
                "attribution": "infection",
            }
        )
        if ig >= 5:
            death = {"time": end, "cause": "infection"}
    gvhd: list[dict[str, Any]] = []
    gg = int(ev.gvhd_grade[i])
    if gg > 0:
        on = float(ev.gvhd_onset[i])
        gvhd.append({"time": on, **_GVHD[min(gg, 4)], "attribution": "gvhd"})
        aes.append(
            {
                "term": _GVHD_TERMS[min(gg, 4)],
                "category": "gvhd",
                "grade": min(gg, 4),
                "scale": "magic",
                "start": on,
                "end": on + 28.0,
                "relatedness": "probable",
                "attribution": "gvhd",
            }
        )

    if death is not None:
        # Nothing is collected after death; later visits count as not responding.
        t_death = float(death["time"])
        visits = [v for v in visits if v["time"] <= t_death]
        labs = [x for x in labs if x["time"] <= t_death]
        findings = [f for f in findings if f["start"] <= t_death]
        pga = [x for x in pga if x["time"] <= t_death]
        bilag = [x for x in bilag if x["time"] <= t_death]
    return PatientRecords.model_validate(
        {
            "patient_id": patient_id(i),
            "age_years": _r(cov["age_years"][i], 1),
            "weight_kg": _r(cov.weight_kg[i], 1),
            "last_follow_up": float(sched.baseline_day)
            if failed
            else (float(death["time"]) if death is not None else float(sched.horizon_days)),
            "visits": visits,
            "labs": labs,
            "vitals": vitals,
            "sledai_findings": findings,
            "pga": pga,
            "bilag": bilag,
            "medications": meds,
            "oxygen": oxygen,
            "neuro": neuro,
            "gvhd": gvhd,
            "adverse_events": aes,
            "infections": infections,
            **({"death": death} if death else {}),
        }
    )
