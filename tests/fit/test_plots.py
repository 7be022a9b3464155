"""The fit's figures (units on every axis, clipped log axes) and the coverage check. Built from a
hand-made result (no fit), so it runs in seconds; the report's tests
(``tests/report/test_fit_report.py``) reuse the result and the figures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

READOUTS = ("car_t_cells_per_ul", "b_cells_per_ul", "anti_dsdna_iu_per_ml", "c3_g_per_l")
DAYS = (1.0, 7.0, 14.0, 28.0, 90.0, 180.0)
UNIT = re.compile(r"\(([^()]+)\)\s*$")


@pytest.fixture(scope="module")
def result():
    """A population result of three patients; P3's mode search did not converge."""
    from allocart.data import Dataset
    from allocart.fit.problem import build_problem
    from allocart.fit.result import FitResult

    ids = ["P1", "P2", "P3"]
    level = {
        "car_t_cells_per_ul": 30.0,
        "b_cells_per_ul": 50.0,
        "anti_dsdna_iu_per_ml": 120.0,
        "c3_g_per_l": 0.9,
    }
    obs = []
    for i, sid in enumerate(ids):
        for o in READOUTS:
            for t in DAYS:
                v = (
                    level[o]
                    * (1 + 0.1 * i)
                    * (np.exp(-t / 20) if o == "car_t_cells_per_ul" else 1.0)
                )
                cens = o == "car_t_cells_per_ul" and t >= 180
                obs.append(
                    {
                        "id": sid,
                        "time": t,
                        "observable": o,
                        "value": 0.1 if cens else v,
                        "lloq": 0.1 if o == "car_t_cells_per_ul" else np.nan,
                        "censored": cens,
                    }
                )
    ds = Dataset(
        subjects=pd.DataFrame(
            {"id": ids, "product": ["allogeneic-cd19"] * 3, "weight_kg": [60.0, 70.0, 80.0]}
        ),
        doses=pd.DataFrame(
            {
                "id": ids,
                "time": [0.0] * 3,
                "kind": ["car_t"] * 3,
                "amount": [1e6] * 3,
                "unit": ["cells/kg"] * 3,
            }
        ),
        observations=pd.DataFrame(obs),
    )
    pb = build_problem(ds)
    rng = np.random.default_rng(1)
    mode = np.tile([p.typical for p in pb.params], (pb.n, 1))
    theta = pb.to_natural(
        pb.to_theta(mode)[None, None] + 0.05 * rng.standard_normal((1, 200, pb.n, pb.k))
    )
    population = {
        p.name: {
            "typical": p.typical,
            "typical_lo": 0.8 * p.typical,
            "typical_hi": 1.2 * p.typical,
            "omega": 0.3,
            "omega_lo": 0.2,
            "omega_hi": 0.5,
            "omega_method": "profile",
            "omega_note": "",
            "omega_wald_lo": 0.19,
            "omega_wald_hi": 0.47,
            "table_typical": p.typical,
            "table_omega": p.prior_sd,
        }
        for p in pb.params
    }
    population["k_Trej"].update(
        omega_method="wald", omega_note="no bracket for the upper end; Wald on log omega"
    )
    per = [
        {
            "id": sid,
            "converged": sid != "P3",
            "iterations": 60 if sid == "P3" else 12,
            "objective": 100.0 + i,
            "shrinkage": {p: 0.1 * i for p in pb.param_names},
        }
        for i, sid in enumerate(ids)
    ]
    diag = {
        "iterations": 9,
        "converged": False,
        "population_converged": True,
        "patients_converged": 2,
        "patients_not_converged": ["P3"],
        "per_patient": per,
        "omega_interval_methods": {p: population[p]["omega_method"] for p in pb.param_names},
        "eta_shrinkage": {p: 0.1 for p in pb.param_names},
    }
    return FitResult(
        problem=pb,
        method="its",
        level="population",
        theta=theta,
        mode=mode,
        typical=np.tile(mode[0], (1, 200, 1)),
        omega=np.full((1, 200, pb.k), 0.3),
        population=population,
        diagnostics=diag,
        seconds=1.0,
    )


def _bands(result):
    """Forecast bands whose lower quantile decays to 1e-65, as an extinct CAR-T band does."""
    rows = []
    days = np.arange(0.0, 366.0)
    for sid in result.problem.ids:
        for o in READOUTS:
            med = (
                30.0 * np.exp(-days / 5) + 1e-70
                if o == "car_t_cells_per_ul"
                else np.full(days.size, 50.0)
            )
            rows.append(
                pd.DataFrame(
                    {
                        "id": sid,
                        "day": days,
                        "observable": o,
                        "q05": np.maximum(med * 1e-3, 1e-65),
                        "q50": med,
                        "q95": med * 3,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _vpc(result):
    """A VPC table (columns of allocart.fit.vpc.VPC_COLUMNS) whose simulated 5th percentile
    decays to 1e-60, so the axis must be clipped to the data."""
    from allocart.fit.vpc import VPC_COLUMNS

    rows = []
    for o in result.problem.observables:
        for b, t in enumerate(DAYS):
            row = dict.fromkeys(VPC_COLUMNS, 1.0)
            row.update({"observable": o, "bin": b + 1, "time_mid": t})
            for p, v in ((5, 1e-60), (50, 10.0), (95, 100.0)):
                for s in ("median", "lo", "hi"):
                    row[f"sim_p{p:02d}_{s}"] = v
                row[f"obs_p{p:02d}"] = v if p > 5 else 1.0
            rows.append(row)
    return pd.DataFrame(rows, columns=list(VPC_COLUMNS))


def _figures(result):
    from allocart.fit.plots import gof_figure, individual_figure, vpc_figure

    pred = np.where(result.problem.mask, result.problem.value * 1.1, np.nan)
    return {
        "gof": gof_figure(result, pred),
        "individual": individual_figure(result, _bands(result)),
        "vpc": vpc_figure(result, _vpc(result)),
    }


def test_every_axis_has_a_quantity_and_a_unit_and_log_axes_are_clipped(result):
    from allocart.fit.plots import DPI, MAX_WIDTH_PX

    n_log = 0
    for name, fig in _figures(result).items():
        assert fig.get_figwidth() * DPI <= MAX_WIDTH_PX + 1e-9, name
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                m = UNIT.search(label)
                assert m and m.group(1).strip(), f"{name}: axis label {label!r} has no unit"
            if ax.get_yscale() == "log":
                lo, hi = ax.get_ylim()
                # the bands reach 1e-65; the axis stops near the data (LLOQ 0.1 cells/uL / 3)
                assert lo >= hi * 1e-6 and lo > 1e-3, f"{name}: log axis down to {lo:g}"
                n_log += 1
    assert n_log >= 5  # the CAR-T panels: GOF, VPC and one per patient
    import matplotlib.pyplot as plt

    plt.close("all")


def test_coverage_counts_and_the_binomial_threshold(result):
    from allocart.fit.coverage import individual_coverage
    from allocart.fit.residual import FitError

    truth = pd.DataFrame(
        {
            "id": list(result.problem.ids),
            **{p: result.mode[:, j] for j, p in enumerate(result.param_names)},
        }
    )
    ok = individual_coverage(result, truth)
    assert ok["passed"] and ok["covered"] == ok["n"] == 15
    with pytest.raises(FitError, match="k_Ab"):
        individual_coverage(result, truth.drop(columns="k_Ab"))


def test_log_limits():
    from allocart.fit.plots import log_limits

    lo, hi = log_limits([0.5, 200.0], lloq=0.1, model=[1e-65, 300.0])
    assert lo == pytest.approx(0.1 / 3) and hi == pytest.approx(900.0)
    lo, hi = log_limits([], model=[1e-65, 10.0])  # no data: three decades of the model
    assert lo == pytest.approx(10.0 * 1e-3) and hi == pytest.approx(30.0)
    lo, hi = log_limits([1e-30, 1e3])  # never more than six decades
    assert hi / lo == pytest.approx(1e6)
    assert log_limits([], model=[]) is None
