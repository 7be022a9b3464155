"""The model read-outs a dataset may observe: unit, SDTM domain and test code, assay error, LLOQ.

The residual CVs come from the one table of the assays' errors
(:func:`allocart.data.residual_errors.residual_error_cv`); the LLOQs and the sources of both
are given here, per read-out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from allocart.data.residual_errors import residual_error_cv

__all__ = ["OBSERVABLES", "AssayReadout"]


@dataclass(frozen=True)
class AssayReadout:
    """A model read-out that a dataset may observe, and how sites report it.

    Attributes
    ----------
    name : str
        Read-out name of ``Simulation.to_frame`` (``car_t_cells_per_ul``...).
    unit : str
        Unit of the read-out (and of ``observations.value``).
    domain : {"LB", "PC"}
        SDTM domain that carries it: laboratory tests in LB, CAR-T kinetics in PC.
    code : str
        SDTM test code written by the writers (LBTESTCD / PCTESTCD).
    lab_factor : float
        For LB read-outs: factor from the analyte's internal unit of
        :data:`allocart.clinical.units.ANALYTES` to ``unit`` (B cells: 10^9/L -> cells/uL = 1000).
    error_cv : float
        Default residual CV of :func:`allocart.data.dataset_from_simulation` (log-normal
        error), from the assays' residual-error table (:mod:`allocart.data.residual_errors`).
    lloq : float or None
        Default lower limit of quantification of :func:`dataset_from_simulation`, in ``unit``.
    source : str
        Reference or ``assumption: <why>`` for ``error_cv`` and ``lloq``.
    """

    name: str
    unit: str
    domain: str
    code: str
    lab_factor: float = 1.0
    error_cv: float = 0.1
    lloq: float | None = None
    source: str = ""


#: The model read-outs, in the order of ``Simulation.to_frame``.
OBSERVABLES: dict[str, AssayReadout] = {
    o.name: replace(o, error_cv=residual_error_cv(o.name))
    for o in [
        AssayReadout(
            "car_t_cells_per_ul",
            "cells/uL",
            "PC",
            "CARTCELL",
            lloq=0.1,
            source="assumption: flow cytometry of CAR+ T cells, CV ~25%, LLOQ ~0.1 cells/uL",
        ),
        AssayReadout(
            "car_pct_of_t",
            "%",
            "PC",
            "CARTPCT",
            lloq=0.01,
            source="assumption: flow cytometry, 0.01% of T cells is the usual event-count floor",
        ),
        AssayReadout(
            "transgene_copies_per_ug",
            "copies/ug",
            "PC",
            "TRANSGEN",
            lloq=50.0,
            source="assumption: qPCR CV ~30%; LLOQ = model parameter LLOQ_transgene (50 copies/ug)",
        ),
        AssayReadout(
            "b_cells_per_ul",
            "cells/uL",
            "LB",
            "CD19",
            lab_factor=1000.0,
            lloq=1.0,
            source="assumption: CD19+ flow count, CV ~15%; aplasia reported below 1 cell/uL",
        ),
        AssayReadout(
            "anti_dsdna_iu_per_ml",
            "IU/mL",
            "LB",
            "DSDNAAB",
            lloq=10.0,
            source="assumption: anti-dsDNA immunoassay CV ~15%, LLOQ 10 IU/mL",
        ),
        AssayReadout("c3_g_per_l", "g/L", "LB", "C3", source="assumption: nephelometry CV ~8%"),
        AssayReadout(
            "c4_g_per_l",
            "g/L",
            "LB",
            "C4",
            lloq=0.02,
            source="assumption: nephelometry CV ~8%, LLOQ 0.02 g/L",
        ),
        AssayReadout(
            "igg_g_per_l",
            "g/L",
            "LB",
            "IGG",
            source="assumption: nephelometry CV ~8%",
        ),
        AssayReadout(
            "il6_pg_per_ml",
            "pg/mL",
            "LB",
            "IL6",
            lloq=1.5,
            source="assumption: IL-6 immunoassay CV ~20%, LLOQ 1.5 pg/mL",
        ),
        AssayReadout(
            "anc_1e9_per_l",
            "10^9/L",
            "LB",
            "NEUT",
            source="assumption: haematology analyser CV ~10%",
        ),
        AssayReadout(
            "lymphocytes_1e9_per_l",
            "10^9/L",
            "LB",
            "LYM",
            source="assumption: haematology analyser CV ~10%",
        ),
        AssayReadout(
            "platelets_1e9_per_l",
            "10^9/L",
            "LB",
            "PLAT",
            source="assumption: haematology analyser CV ~10%",
        ),
    ]
}
