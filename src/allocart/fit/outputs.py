"""The standard result files of a fit, for NONMEM, xpose, ggPMX and ArviZ users.

:func:`write_standard_outputs` writes, in the fit's output folder:

==================  =====================================================================
``sdtab1``          NONMEM table (``TABLE NO.  1``): one row per observation, ID, TIME, DV,
                    MDV, DVID, BLQ, PRED, IPRED, RES, IRES, WRES, IWRES, CWRES, NPDE, PD
``sdtab.csv``       the same, plus USUBJID and OBSNAME
``patab1``          NONMEM table: one row per patient, individual estimates and ETAs
``parameters.csv``  typical values (SE, RSE, 95% CI), omegas (IIV CV%), eta- and
                    epsilon-shrinkage
``vpc.csv``         binned observed percentiles and simulated percentiles (median, 90% PI)
``posterior.nc``    ArviZ InferenceData (NetCDF-4)
==================  =====================================================================

Columns, units and how to load them: docs/fitting.md, "Output files".
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from allocart.errors import FitError
from allocart.fit.netcdf import write_inference_data
from allocart.fit.npde import DEFAULT_SIMULATIONS, MIN_SIMULATIONS, npde
from allocart.fit.result import FitResult
from allocart.fit.tables import parameter_table, patab_frame, sdtab_frame, write_nonmem_table
from allocart.fit.vpc import DEFAULT_MAX_BINS, DEFAULT_REPLICATES, MIN_REPLICATES, vpc_table
from allocart.fit.wres import weighted_residuals

__all__ = ["OutputOptions", "StandardOutputs", "standard_outputs", "write_standard_outputs"]


@dataclass(frozen=True)
class OutputOptions:
    """How the standard outputs are simulated.

    Attributes
    ----------
    npde_simulations : int
        Replicates per patient for the NPDE (:func:`allocart.fit.npde.npde`).
    vpc_replicates : int
        Simulated data sets of the VPC (:func:`allocart.fit.vpc.vpc_table`).
    vpc_bins : int
        Most time bins per read-out.
    seed : int
        Seed of both simulations.
    log_likelihood : bool
        Write the pointwise log-likelihood into ``posterior.nc``.
    """

    npde_simulations: int = DEFAULT_SIMULATIONS
    vpc_replicates: int = DEFAULT_REPLICATES
    vpc_bins: int = DEFAULT_MAX_BINS
    seed: int = 0
    log_likelihood: bool = True

    def __post_init__(self) -> None:
        for name, value, least in (
            ("npde_simulations", self.npde_simulations, MIN_SIMULATIONS),
            ("vpc_replicates", self.vpc_replicates, MIN_REPLICATES),
            ("vpc_bins", self.vpc_bins, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
                raise FitError(
                    f"{name}: {value!r} must be a whole number of at least {least}", argument=name
                )


@dataclass(frozen=True, eq=False)
class StandardOutputs:
    """The tables of :func:`standard_outputs` (pandas DataFrames)."""

    sdtab: pd.DataFrame
    patab: pd.DataFrame
    parameters: pd.DataFrame
    vpc: pd.DataFrame


def standard_outputs(
    result: FitResult, options: OutputOptions = OutputOptions()
) -> StandardOutputs:
    """Compute the sdtab, patab, parameter and VPC tables of a fit."""
    res = weighted_residuals(result)
    nd = npde(result, simulations=options.npde_simulations, seed=options.seed)
    return StandardOutputs(
        sdtab=sdtab_frame(result, res, nd),
        patab=patab_frame(result, res.population),
        parameters=parameter_table(result, res),
        vpc=vpc_table(
            result, replicates=options.vpc_replicates, seed=options.seed, max_bins=options.vpc_bins
        ),
    )


def write_standard_outputs(
    result: FitResult, out: str | Path, options: OutputOptions = OutputOptions()
) -> tuple[dict[str, Path], StandardOutputs]:
    """Write the files of the module docstring into ``out``; returns their paths and tables."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tabs = standard_outputs(result, options)
    paths = {
        "sdtab": write_nonmem_table(tabs.sdtab, out / "sdtab1"),
        "patab": write_nonmem_table(tabs.patab, out / "patab1"),
    }
    for name, frame in (
        ("sdtab_csv", tabs.sdtab),
        ("parameters", tabs.parameters),
        ("vpc_table", tabs.vpc),
    ):
        path = out / {"sdtab_csv": "sdtab.csv", "vpc_table": "vpc.csv"}.get(name, f"{name}.csv")
        frame.to_csv(path, index=False)
        paths[name] = path
    paths["posterior_nc"] = write_inference_data(
        result, out / "posterior.nc", log_likelihood=options.log_likelihood
    )
    return paths, tabs
