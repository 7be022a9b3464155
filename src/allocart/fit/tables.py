"""Standard result tables of a fit: the NONMEM-style ``sdtab1`` (and ``sdtab.csv``), the
per-patient parameter table ``patab1`` and the population parameter table ``parameters.csv``.

``sdtab``: one row per observation (``MDV = 0``), columns :data:`SDTAB_COLUMNS`: predictions
from :mod:`allocart.fit.wres` and NPDE from :mod:`allocart.fit.npde`. NONMEM's table format
(a ``TABLE NO.  1`` line, a line of column names, then whitespace-separated numbers in
``E`` notation) is what xpose (``read_nm_tables``) and xpose4 read; the CSV carries the same
columns plus the subject's identifier (``USUBJID``) and the read-out's name (``OBSNAME``).

``parameters.csv``: one row per estimated parameter (``kind = typical``): typical value, its
SE and RSE, 95% interval, between-patient SD (omega, transformed scale), IIV as CV% and
eta-shrinkage; one row per fitted read-out (``kind = residual``): the residual SD and
epsilon-shrinkage.

References
----------
Savic RM, Karlsson MO. Importance of shrinkage in empirical Bayes estimates for diagnostics:
problems and solutions. AAPS J 2009;11:558-569.
Karlsson MO, Savic RM. Diagnosing model diagnostics. Clin Pharmacol Ther 2007;82:17-20.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from allocart.data import OBSERVABLES
from allocart.fit.npde import Npde
from allocart.fit.predictive import PopulationPoint, population_point
from allocart.fit.result import FitResult
from allocart.fit.wres import WeightedResiduals

__all__ = [
    "SDTAB_COLUMNS",
    "PARAMETER_COLUMNS",
    "sdtab_frame",
    "patab_frame",
    "parameter_table",
    "write_nonmem_table",
    "dvid_codes",
    "iiv_cv_percent",
]

SDTAB_COLUMNS = (
    "ID",
    "TIME",
    "DV",
    "MDV",
    "DVID",
    "BLQ",
    "PRED",
    "IPRED",
    "RES",
    "IRES",
    "WRES",
    "IWRES",
    "CWRES",
    "NPDE",
    "PD",
)
"""Numeric columns of ``sdtab1`` (see docs/fitting.md, "Output files")."""

PARAMETER_COLUMNS = (
    "kind",
    "name",
    "unit",
    "transform",
    "estimate",
    "se",
    "rse_pct",
    "ci95_lo",
    "ci95_hi",
    "omega",
    "iiv_cv_pct",
    "omega_lo",
    "omega_hi",
    "omega_interval",
    "eta_shrinkage_pct",
    "eps_shrinkage_pct",
    "population",
)
"""Columns of ``parameters.csv``."""


def dvid_codes(observables: tuple[str, ...]) -> dict[str, int]:
    """DVID of each read-out: its code in the NONMEM CSV convention of :mod:`allocart.data`
    (1, 2, ... in the order of :data:`allocart.data.OBSERVABLES`); read-outs outside that list
    follow after it."""
    known = list(OBSERVABLES)
    out = {}
    for o in observables:
        out[o] = known.index(o) + 1 if o in known else len(known) + 1 + observables.index(o)
    return out


def sdtab_frame(result: FitResult, residuals: WeightedResiduals, npde: Npde):
    """One row per observation, columns :data:`SDTAB_COLUMNS` + ``USUBJID``, ``OBSNAME``.

    ``ID`` is the patient's position in the fit (1, 2, ...), ``TIME`` days after the CAR-T
    infusion, ``DV`` the observation (its LLOQ when ``BLQ = 1``) in the read-out's unit.
    """
    import pandas as pd

    pb = result.problem
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    codes = dvid_codes(pb.observables)
    ii, jj = np.nonzero(pb.mask)
    order = np.lexsort((jj, times[ii, jj], ii))
    ii, jj = ii[order], jj[order]
    obsname = [pb.observables[k] for k in pb.row_k[ii, jj]]
    frame = pd.DataFrame(
        {
            "ID": ii + 1,
            "TIME": times[ii, jj],
            "DV": pb.value[ii, jj],
            "MDV": 0,
            "DVID": [codes[o] for o in obsname],
            "BLQ": pb.censored[ii, jj].astype(int),
            "PRED": residuals.pred[ii, jj],
            "IPRED": residuals.ipred[ii, jj],
            "RES": residuals.res[ii, jj],
            "IRES": residuals.ires[ii, jj],
            "WRES": residuals.wres[ii, jj],
            "IWRES": residuals.iwres[ii, jj],
            "CWRES": residuals.cwres[ii, jj],
            "NPDE": npde.npde[ii, jj],
            "PD": npde.pd[ii, jj],
            "USUBJID": [pb.ids[i] for i in ii],
            "OBSNAME": obsname,
        }
    )
    return frame.reset_index(drop=True)


def patab_frame(result: FitResult, population: PopulationPoint | None = None):
    """One row per patient: ``ID``, the individual estimates (natural units) and their etas
    (``ETA1``... on the transformed scale: ``theta_hat - mu``), as NONMEM's ``patab``."""
    import pandas as pd

    pb = result.problem
    pop = population or population_point(result)
    cols: dict[str, object] = {"ID": np.arange(1, pb.n + 1)}
    eta = pb.to_theta(result.mode) - pop.mu
    for j, name in enumerate(pb.param_names):
        cols[name] = result.mode[:, j]
    for j in range(pb.k):
        cols[f"ETA{j + 1}"] = eta[:, j]
    return pd.DataFrame(cols)


def write_nonmem_table(frame, path: str | Path, table_no: int = 1) -> Path:
    """Write the numeric columns of ``frame`` as a NONMEM table file.

    Format: ``TABLE NO.  1``, a line of column names, then one line per row with every value
    in a 12-character field, ``E`` notation with 4 decimals (NONMEM's default ``1PE11.4``
    with a separating space); missing values are written ``NaN``.
    """
    from pandas.api.types import is_numeric_dtype

    path = Path(path)
    cols = [c for c in frame.columns if is_numeric_dtype(frame[c])]
    lines = [f"TABLE NO.  {int(table_no)}", "".join(f" {c:<11s}" for c in cols)]
    values = frame[cols].to_numpy(dtype=float)
    for row in values:
        lines.append("".join(f"{v:12.4E}" if math.isfinite(v) else f"{'NaN':>12s}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def iiv_cv_percent(omega: float, transform: str) -> float:
    """Between-patient CV (%) of the natural value implied by ``omega``.

    Log-normal (``transform = "log"``): ``100 sqrt(exp(omega^2) - 1)``; logit-normal: the
    CV of ``1 / (1 + exp(-x))``, ``x ~ N(0, omega)`` centred at the typical value's logit is
    not a function of omega alone, so ``100 omega`` (the SD on the logit scale) is given.
    """
    if transform == "log":
        return float(100.0 * math.sqrt(math.expm1(omega * omega)))
    return float(100.0 * omega)


def parameter_table(result: FitResult, residuals: WeightedResiduals):
    """Population parameters and shrinkage (:data:`PARAMETER_COLUMNS`).

    Typical values: the population point estimate with its Wald SE on the transformed scale
    carried to natural units by the delta method (``se = estimate * se_log`` for a log
    parameter, ``p (1 - p) se_logit`` for a logit one), RSE = se / estimate, and the 95% Wald
    interval back-transformed; for hierarchical NUTS, the posterior median, SD and the 2.5-97.5%
    quantiles; for individual fits, the table's typical value (``population = prior``, no SE).
    Omega: between-patient SD on the transformed scale with its reported interval (the fit's
    level, 90%) and how it was made. Eta-shrinkage: ``1 - SD(eta_hat) / omega`` over patients
    (Savic and Karlsson 2009). Epsilon-shrinkage of a read-out: ``1 - SD(IWRES)`` over its
    quantified observations.
    """
    import pandas as pd
    from scipy.special import ndtri

    pb = result.problem
    pop = residuals.population
    pint = result.population or {}
    eta = pb.to_theta(result.mode) - pop.mu
    rows = []
    z = ndtri(0.975)
    for j, p in enumerate(pb.params):
        est = float(pb.to_natural(pop.mu)[j])
        se = lo = hi = float("nan")
        if pop.source == "estimate" and p.name in pint:
            se_t = float(pint[p.name].get("se_transformed", float("nan")))
            deriv = est if p.transform == "log" else est * (1.0 - est)
            se = deriv * se_t
            lo = float(p.to_natural(pop.mu[j] - z * se_t))
            hi = float(p.to_natural(pop.mu[j] + z * se_t))
        elif pop.source == "posterior median" and result.typical is not None:
            d = result.typical[..., j].ravel()
            se = float(np.std(d, ddof=1))
            lo, hi = (float(x) for x in np.quantile(d, [0.025, 0.975]))
        om = float(pop.omega[j])
        om_lo = float(pint.get(p.name, {}).get("omega_lo", float("nan")))
        om_hi = float(pint.get(p.name, {}).get("omega_hi", float("nan")))
        how = pint.get(p.name, {}).get("omega_method", "")
        if pop.source == "posterior median" and result.omega is not None:
            om_lo, om_hi = (float(x) for x in np.quantile(result.omega[..., j], [0.05, 0.95]))
            how = "posterior 5-95%"
        shrink = 1.0 - np.std(eta[:, j], ddof=1) / om if pb.n > 1 and om > 0 else float("nan")
        rows.append(
            {
                "kind": "typical",
                "name": p.name,
                "unit": p.unit,
                "transform": p.transform,
                "estimate": est,
                "se": se,
                "rse_pct": 100.0 * se / est if est else float("nan"),
                "ci95_lo": lo,
                "ci95_hi": hi,
                "omega": om,
                "iiv_cv_pct": iiv_cv_percent(om, p.transform),
                "omega_lo": om_lo,
                "omega_hi": om_hi,
                "omega_interval": f"90% {how}" if how else "",
                "eta_shrinkage_pct": 100.0 * float(shrink),
                "eps_shrinkage_pct": float("nan"),
                "population": pop.source,
            }
        )
    err = pb.residual.arrays(pb.observables)
    quant = pb.mask & ~pb.censored
    for k, name in enumerate(pb.observables):
        iw = residuals.iwres[quant & (pb.row_k == k)]
        iw = iw[np.isfinite(iw)]
        row = pb.residual[name]
        sigma = float(err["b"][k]) if row.model == "proportional" else float(err["a"][k])
        rows.append(
            {
                "kind": "residual",
                "name": name,
                "unit": "log scale" if row.scale == "log" else row.unit,
                "transform": row.scale,
                "estimate": sigma,
                "population": "fixed (residual-error table)",
                "eps_shrinkage_pct": 100.0 * (1.0 - float(np.std(iw, ddof=1)))
                if iw.size > 1
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=list(PARAMETER_COLUMNS))
