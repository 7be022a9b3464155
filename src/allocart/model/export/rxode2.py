"""rxode2 export: an R file with the model function (``ini()`` and ``model()``) and ``et()``.

The file defines ``allocart_model``, an rxode2 user-interface model function, and
``allocart_events``, the scenario's event table. ``ini()`` holds every primary parameter fixed
(``fix()``) with its unit and source as a ``label()``, and one ``eta_<name> ~ omega^2`` per
parameter with between-patient variability; ``model()`` computes the individual and derived
parameters, the bioavailability of the CAR-T dose (``f(E)``, ``f(M)``), the baseline states
(``E(0) <- ...``), the intermediate quantities, the ODEs and the read-outs.

Typical patient::

    source("model.R")
    sim <- rxode2::rxSolve(rxode2::zeroRe(allocart_model), allocart_events)
"""

from __future__ import annotations

import sympy as sp

from allocart.model.export.common import (
    ExportModel,
    eta_name,
    header_lines,
    model_sections,
    typical_name,
)
from allocart.model.export.printers import number, r_code

__all__ = ["to_rxode2", "typical_name", "eta_name"]


def _label(text: str) -> str:
    return text.replace("\\", "/").replace('"', "'").replace("\n", " ")


def to_rxode2(
    export: ExportModel,
    *,
    obs_times: tuple[float, ...] | None = None,
    file_name: str = "model.R",
) -> str:
    """Write ``export`` as an rxode2 model file (R).

    Parameters
    ----------
    export : ExportModel
        From :func:`allocart.model.export.common.build_export`.
    obs_times : tuple of float, optional
        Sampling times of the event table (export time, days); default every day from 0 to
        the horizon.
    file_name : str
        Name the file is saved under (for the usage lines).

    Returns
    -------
    str
        R source defining ``allocart_model`` and ``allocart_events``.
    """
    lines = [f"# {h}" for h in header_lines(export)]
    lines += [
        "#",
        "# Typical patient (random effects set to 0) and a virtual population:",
        f'#   source("{file_name}")',
        "#   typical <- rxode2::rxSolve(rxode2::zeroRe(allocart_model), allocart_events)",
        "#   cohort <- rxode2::rxSolve(allocart_model, allocart_events, nSub = 100)",
        "",
        "library(rxode2)",
        "",
        "allocart_model <- function() {",
        "  ini({",
    ]
    for p in export.parameters:
        name = typical_name(p.name) if p.transform != "fixed" else p.name
        lines.append(
            f"    {name} <- fix({number(p.value)})"
            f'; label("{_label(f"{p.name} [{p.unit}]: {p.description} (source: {p.source})")}")'
        )
    for p in export.varying:
        lines.append(
            f"    {eta_name(p.name)} ~ {number(p.omega2)}  "
            f"# {p.transform}-normal, CV {p.iiv:g}, omega^2 = log(1 + CV^2)"
        )

    def assign(name: str, expr: sp.Expr, _: object) -> str:
        return f"    {name} <- {r_code(expr)}"

    lines += ["  })", "  model({"]
    lines += model_sections(
        export,
        "    # ",
        {
            "individual": assign,
            "derived": assign,
            "initial": lambda name, expr, st: f"    {name}(0) <- {r_code(expr)}  # {st.unit}",
            "intermediates": assign,
            "odes": lambda name, expr, st: (
                f"    d/dt({name}) <- {r_code(expr)}  # {st.description}"
            ),
            "bioavailability": lambda state, expr, _: f"    f({state}) <- {r_code(expr)}",
            "observables": lambda name, expr, ob: f"    {name} <- {r_code(expr)}  # {ob.unit}",
        },
    )
    lines += ["  })", "}", "", "# Dosing and lymphodepletion, then sampling times (days)."]
    lines.append("allocart_events <- et()")
    for d in export.doses:
        lines.append(
            f"allocart_events <- et(allocart_events, time = {number(d.time)}, "
            f'amt = {number(d.amount)}, cmt = "{d.state}")  # {d.unit}: {d.what}'
        )
    if obs_times is None:
        lines.append(
            f"allocart_events <- et(allocart_events, seq(0, {number(export.end_time)}, by = 1))"
        )
    else:
        times = ", ".join(number(t) for t in obs_times)
        lines.append(f"allocart_events <- et(allocart_events, c({times}))")
    lines.append("")
    return "\n".join(lines)
