"""The posterior of a fit as ArviZ ``InferenceData`` in a NetCDF file (``posterior.nc``).

The file is NetCDF-4 (HDF5) with one group per ``InferenceData`` group, each an xarray
dataset with dimensions ``chain`` and ``draw`` where it holds draws, so
``arviz.from_netcdf("posterior.nc")`` (ArviZ 0.18-0.23) and ``xarray.open_dataset(path,
group=...)`` read it. It is written with xarray and h5netcdf, so the default (JAX-free) fit
path writes it without ArviZ.

Groups:

``posterior``
    One variable per estimated parameter, dims ``(chain, draw, patient)``, natural units
    (attribute ``units``); for population fits also ``typical_<name>`` and ``omega_<name>``
    (``chain, draw``; omega on the transformed scale). NUTS: the sampler's draws;
    point-estimate paths: draws of the Laplace approximation around each patient's mode (one
    chain; attribute ``draws`` says so).
``sample_stats``
    NUTS only: ``diverging``, ``n_steps``, ``acceptance_rate``, ``lp`` per draw (and
    ``patient`` for individual fits, whose patients are sampled separately).
``log_likelihood``
    ``obs`` (``chain, draw, observation``): each observation row's log-likelihood at each
    draw (M3 censoring probability for rows below the LLOQ), for ``arviz.loo``/``waic``;
    ``-inf`` for every row of a patient at a draw whose solve failed (attribute
    ``failed_solves`` counts them; ``arviz.loo`` then returns NaN).
``observed_data``
    ``obs`` (``observation``): the observed values (the LLOQ for censored rows).
``constant_data``
    Per observation: ``patient`` (subject id), ``time`` (days after the CAR-T infusion),
    ``observable``, ``censored`` (1 = below the LLOQ), ``dvid``; the rows are those of
    ``sdtab.csv``, in the same order.
``point_estimate``
    Point-estimate paths: each patient's mode (``<name>``, dims ``patient``) and, for the
    population estimate, ``typical_<name>``, ``typical_se_transformed_<name>`` and
    ``omega_<name>``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from allocart.fit.predictive import row_predictions
from allocart.fit.residual import observation_loglik_derivatives
from allocart.fit.result import FitResult
from allocart.fit.tables import dvid_codes

__all__ = ["write_inference_data", "pointwise_log_likelihood", "observation_order", "GROUPS"]

GROUPS = (
    "posterior",
    "sample_stats",
    "log_likelihood",
    "observed_data",
    "constant_data",
    "point_estimate",
)
"""Groups the file may hold, in the order written."""


def observation_order(result: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """Patient and row indices of the observations, in the order of ``sdtab.csv`` (patient,
    time, row)."""
    pb = result.problem
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    ii, jj = np.nonzero(pb.mask)
    order = np.lexsort((jj, times[ii, jj], ii))
    return ii[order], jj[order]


def _draw_index(n_draws: int, max_draws: int | None) -> np.ndarray:
    if max_draws is None or n_draws <= max_draws:
        return np.arange(n_draws)
    return np.unique(np.linspace(0, n_draws - 1, max_draws).round().astype(int))


def pointwise_log_likelihood(result: FitResult, draws: np.ndarray | None = None) -> np.ndarray:
    """Log-likelihood of every observation at every posterior draw, (chains, draws, n_obs),
    observations in :func:`observation_order`; ``-inf`` where a solve failed.

    Predictions by the batched engine (:func:`allocart.fit.predictive.row_predictions`), the
    likelihood by :func:`allocart.fit.residual.observation_loglik_derivatives` (NumPy).
    """
    pb = result.problem
    theta = result.theta if draws is None else result.theta[:, draws]
    c, d, n, k = theta.shape
    err = pb.residual.arrays(pb.observables)
    ii, jj = observation_order(result)
    out = np.empty((c, d, ii.size))
    for i in range(n):
        pred, ok = row_predictions(result, i, theta[:, :, i, :].reshape(c * d, k))
        kk = pb.row_k[i]
        ll, _, _ = observation_loglik_derivatives(
            pb.value[i],
            pred,
            pb.censored[i],
            err["log"][kk],
            err["b"][kk],
            err["a"][kk],
            err["floor"][kk],
        )
        ll = np.where(ok[:, None], ll, -np.inf)
        sel = ii == i
        out[:, :, sel] = ll[:, jj[sel]].reshape(c, d, -1)
    return out


def write_inference_data(
    result: FitResult,
    path: str | Path,
    *,
    log_likelihood: bool = True,
    max_draws: int | None = 1000,
) -> Path:
    """Write ``posterior.nc`` (see the module docstring).

    Parameters
    ----------
    result : FitResult
    path : path
    log_likelihood : bool
        Compute and write the ``log_likelihood`` group (one solve per draw and patient).
    max_draws : int or None
        Keep at most this many draws per chain (evenly spaced, the same in every group);
        None keeps all.
    """
    import xarray as xr  # loaded when a file is written, so importing allocart.fit stays light

    pb = result.problem
    path = Path(path)
    c, d_all, n, k = result.theta.shape
    keep = _draw_index(d_all, max_draws)
    coords = {"chain": np.arange(c), "draw": keep, "patient": list(pb.ids)}
    is_nuts = result.method == "nuts"
    attrs = {
        "created_at": datetime.now(UTC).isoformat(),
        "inference_library": "allocart",
        "method": result.method,
        "level": result.level,
        "draws": "NUTS posterior draws"
        if is_nuts
        else "draws of the Laplace approximation around each patient's posterior mode",
        "units": json.dumps({p.name: p.unit for p in pb.params}),
        "transforms": json.dumps({p.name: p.transform for p in pb.params}),
    }
    post = {}
    for j, p in enumerate(pb.params):
        post[p.name] = xr.DataArray(
            result.theta[:, keep][..., j],
            dims=("chain", "draw", "patient"),
            attrs={"units": p.unit},
        )
        if result.typical is not None:
            post[f"typical_{p.name}"] = xr.DataArray(
                result.typical[:, keep][..., j]
                if result.typical.shape[1] == d_all
                else result.typical[:, :, j],
                dims=("chain", "draw"),
                attrs={"units": p.unit},
            )
        if result.omega is not None and result.omega.shape[1] == d_all:
            post[f"omega_{p.name}"] = xr.DataArray(
                result.omega[:, keep][..., j],
                dims=("chain", "draw"),
                attrs={"units": f"SD on the {p.transform} scale"},
            )
    groups: dict[str, xr.Dataset] = {"posterior": xr.Dataset(post, coords=coords, attrs=attrs)}
    if result.sample_stats:
        ss = {}
        for name, v in result.sample_stats.items():
            v = np.asarray(v)[:, keep]
            dims = ("chain", "draw", "patient")[: v.ndim]
            ss[name] = xr.DataArray(v.astype(bool) if name == "diverging" else v, dims=dims)
        groups["sample_stats"] = xr.Dataset(ss, coords=coords, attrs=attrs)
    ii, jj = observation_order(result)
    obs_coords = {"observation": np.arange(ii.size)}
    if log_likelihood:
        ll = pointwise_log_likelihood(result, keep)
        failed = int(sum(np.isinf(ll[:, :, ii == i]).any(axis=2).sum() for i in range(n)))
        groups["log_likelihood"] = xr.Dataset(
            {"obs": (("chain", "draw", "observation"), ll)},
            coords={"chain": coords["chain"], "draw": keep, **obs_coords},
            attrs={**attrs, "failed_solves": failed},
        )
    names = [pb.observables[q] for q in pb.row_k[ii, jj]]
    codes = dvid_codes(pb.observables)
    times = np.take_along_axis(pb.obs_time, pb.row_t, axis=1)
    groups["observed_data"] = xr.Dataset(
        {"obs": (("observation",), pb.value[ii, jj])}, coords=obs_coords, attrs=attrs
    )
    groups["constant_data"] = xr.Dataset(
        {
            "patient": (("observation",), np.array([pb.ids[i] for i in ii], dtype=str)),
            "time": (("observation",), times[ii, jj], {"units": "day after CAR-T infusion"}),
            "observable": (("observation",), np.array(names, dtype=str)),
            "censored": (("observation",), pb.censored[ii, jj].astype(np.int8)),
            "dvid": (("observation",), np.array([codes[o] for o in names], dtype=np.int32)),
        },
        coords=obs_coords,
        attrs=attrs,
    )
    if not is_nuts:
        pe = {
            p.name: xr.DataArray(result.mode[:, j], dims=("patient",), attrs={"units": p.unit})
            for j, p in enumerate(pb.params)
        }
        for p in pb.params:
            v = (result.population or {}).get(p.name, {})
            for key, out in (
                ("typical", f"typical_{p.name}"),
                ("se_transformed", f"typical_se_transformed_{p.name}"),
                ("omega", f"omega_{p.name}"),
            ):
                if key in v:
                    pe[out] = xr.DataArray(float(v[key]))
        groups["point_estimate"] = xr.Dataset(pe, coords={"patient": list(pb.ids)}, attrs=attrs)
    if path.exists():
        path.unlink()
    for i, (name, ds) in enumerate(groups.items()):
        ds.to_netcdf(path, group=name, mode="w" if i == 0 else "a", engine="h5netcdf")
    return path
