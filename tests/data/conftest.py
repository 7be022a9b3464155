"""Datasets shared by the data tests: a hand-made one covering every table and record kind,
and one sampled from a small simulation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocart.clinical.records import (
    AdverseEvent,
    LabResult,
    PatientRecords,
    PgaAssessment,
    SledaiFinding,
    VitalSign,
)
from allocart.data import Dataset, records_from_observations

#: The CDISC pilot study (SAS XPORT) lies in shared/ beside the repository.
PILOT = Path(__file__).parents[2] / ".." / "shared" / "data" / "sdtm-cdiscpilot01"


@pytest.fixture
def pilot() -> Path:
    if not (PILOT / "dm.xpt").is_file():
        pytest.skip(
            f"the CDISC pilot SDTM tables are not at {PILOT.resolve()} (shared/ beside the repository)"
        )
    return PILOT


def hand_dataset(with_clinical: bool = True) -> Dataset:
    """Two subjects with doses of every kind, censored and quantified read-outs of every
    domain, fractional times, and (optionally) AE, SLEDAI, PGA and extra lab records."""
    subjects = pd.DataFrame(
        {
            "id": ["P-01", "P-02"],
            "product": ["allogeneic-cd19cd20", "autologous-cd19"],
            "ld": ["flu-cy", "flu-cy"],
            "weight_kg": [61.5, 80.25],
            "height_cm": [165.0, float("nan")],
            "bsa_m2": [1.68, float("nan")],
            "age_years": [34.0, float("nan")],
            "female": [True, None],
            "infusion_date": ["2025-03-03", "2025-04-07T09:30:00"],
        }
    )
    doses = pd.DataFrame(
        [
            ("P-01", -5.0, "fludarabine", 25.0, "mg/m2"),
            ("P-01", -3.0, "cyclophosphamide", 1000.0, "mg/m2"),
            ("P-01", 0.0, "car_t", 1e6, "cells/kg"),
            ("P-02", -4.0, "fludarabine", 30.0, "mg/m2"),
            ("P-02", 0.0, "car_t", 5e7, "cells"),
            ("P-02", 90.0, "car_t", 5e7, "cells"),
        ],
        columns=["id", "time", "kind", "amount", "unit"],
    )
    observations = pd.DataFrame(
        [
            ("P-01", 0.25, "car_t_cells_per_ul", 12.5, 0.1, False),
            ("P-01", 7.0, "transgene_copies_per_ug", 15234.75, 50.0, False),
            ("P-01", 28.0, "transgene_copies_per_ug", 50.0, 50.0, True),
            ("P-01", 7.0, "car_pct_of_t", 31.2, 0.01, False),
            ("P-01", 7.0, "b_cells_per_ul", 1.0, 1.0, True),
            ("P-01", 90.0, "b_cells_per_ul", 45.5, 1.0, False),
            ("P-01", 7.0, "anti_dsdna_iu_per_ml", 120.0, 10.0, False),
            ("P-01", 7.0, "c3_g_per_l", 0.72, float("nan"), False),
            ("P-01", 7.0, "c4_g_per_l", 0.11, 0.02, False),
            ("P-01", 14.0, "igg_g_per_l", 6.4, float("nan"), False),
            ("P-01", 1.0, "il6_pg_per_ml", 85.0, 1.5, False),
            ("P-01", 3.0, "anc_1e9_per_l", 0.4, float("nan"), False),
            ("P-01", 3.0, "lymphocytes_1e9_per_l", 0.05, float("nan"), False),
            ("P-01", 3.0, "platelets_1e9_per_l", 88.0, float("nan"), False),
            ("P-02", 1.0 / 3.0, "car_t_cells_per_ul", 3.25, 0.1, False),
            ("P-02", 14.0, "anti_dsdna_iu_per_ml", 10.0, 10.0, True),
        ],
        columns=["id", "time", "observable", "value", "lloq", "censored"],
    )
    records = records_from_observations(observations, subjects)
    if with_clinical:
        r = records["P-01"]
        records["P-01"] = PatientRecords(
            **{
                **{
                    k: getattr(r, k)
                    for k in ("patient_id", "infusion", "age_years", "weight_kg", "vitals")
                },
                # the C3 of day 7 is the same measurement as the observation, with its reference range
                "labs": tuple(
                    sorted(
                        tuple(
                            lab.model_copy(update={"ref_low": 0.9, "ref_high": 1.8})
                            if lab.test == "C3"
                            else lab
                            for lab in r.labs
                        )
                        + (LabResult(test="CRP", value=12.0, unit="mg/L", time=2.0, ref_high=5.0),),
                        key=lambda x: (x.time, x.test),
                    )
                ),
                "vitals": tuple(
                    sorted(
                        r.vitals + (VitalSign(test="TEMP", value=38.9, unit="degC", time=1.5),),
                        key=lambda v: v.time,
                    )
                ),
                "adverse_events": (
                    AdverseEvent(
                        term="Cytokine release syndrome",
                        category="crs",
                        grade=2,
                        scale="astct-2019",
                        start=1.0,
                        end=4.0,
                        relatedness="definite",
                        serious=True,
                    ),
                    AdverseEvent(
                        term="Neutropenia",
                        category="neutropenia",
                        grade=3,
                        scale="ctcae-5.0",
                        start=3.0,
                    ),
                ),
                "sledai_findings": (
                    SledaiFinding(descriptor="arthritis", start=-7.0, joints=4, attribution="sle"),
                    SledaiFinding(descriptor="rash", start=-7.0, attribution="sle"),
                ),
                "pga": (PgaAssessment(time=-7.0, value=1.5),),
            }
        )
    return Dataset(
        subjects=subjects, doses=doses, observations=observations, records=records, source="hand"
    ).validate()


@pytest.fixture
def hand() -> Dataset:
    return hand_dataset()


@pytest.fixture(scope="session")
def simulated():
    """Three virtual patients over 120 days, sampled on the default schedule."""
    from allocart.data import dataset_from_simulation
    from allocart.model.simulate import simulate

    sim = simulate(n=3, days=120.0, seed=11)
    return sim, dataset_from_simulation(sim, seed=5)
