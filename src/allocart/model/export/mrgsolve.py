"""mrgsolve export: a model specification file (``.cpp``) and its data set of doses (CSV).

``$PARAM`` holds every primary parameter (``tv_<name>`` for the typical value of one with
between-patient variability), annotated with its description and unit; ``$OMEGA`` one labelled
``eta_<name>`` per varying parameter; ``$CMT`` the 36 states with their units; ``$MAIN`` the
individual and derived parameters, the CAR-T dose's bioavailability (``F_E``, ``F_M``) and the
baseline states (``E_0 = ...``); ``$ODE`` the intermediate quantities and ``dxdt_``
equations; ``$TABLE``/``$CAPTURE`` the read-outs (intermediates written out, since ``$ODE``'s
values need not be those at the output time). Sources of the parameters are listed in
``$PROB``. The doses are a data set (``ID, time, amt, cmt, evid``; ``cmt`` is the compartment
number in ``$CMT`` order) with the same content as an ``ev()`` object.

Typical patient::

    library(mrgsolve)
    mod <- mread("model", project = ".")          # reads model.cpp
    doses <- read.csv("model_doses.csv")
    out <- mrgsim(zero_re(mod), data = doses, end = 372, delta = 1)
"""

from __future__ import annotations

import sympy as sp

from allocart.model.codegen import inline_intermediates
from allocart.model.export.common import (
    ExportModel,
    eta_name,
    header_lines,
    model_sections,
    typical_name,
)
from allocart.model.export.printers import cpp_code, number

__all__ = ["to_mrgsolve", "mrgsolve_doses_csv", "mrgsolve_names"]


def _annotation(text: str) -> str:
    """mrgsolve annotations are ``name : value : text``: no colon or newline in the text."""
    return "".join(c if c.isascii() and c not in ":\n" else " " for c in text)


def mrgsolve_names(export: ExportModel) -> dict[str, str]:
    """mrgsolve spelling of the model's names: a parameter, derived parameter, intermediate
    or read-out named like one of mrgsolve's compartment variables (``Bn_0``, the initial
    value of ``Bn``; ``F_E``, ``D_``, ``R_``, ``ALAG_``) gets a trailing ``_``."""
    m = export.model
    reserved = {
        f"{prefix}{s}" for s in m.state_names for prefix in ("F_", "D_", "R_", "ALAG_", "dxdt_")
    } | {f"{s}_0" for s in m.state_names}
    names = [
        *(p.name for p in export.parameters),
        *m.derived,
        *m.intermediates,
        *(ob.name for ob in m.observables),
    ]
    out = {}
    for name in names:
        new = name
        while new in reserved or new in m.state_names:
            new += "_"
        out[name] = new
    return out


def to_mrgsolve(
    export: ExportModel, *, doses_file: str = "model_doses.csv", stem: str = "model"
) -> str:
    """Write ``export`` as an mrgsolve model specification.

    Parameters
    ----------
    export : ExportModel
        From :func:`allocart.model.export.common.build_export`.
    doses_file : str
        Name of the doses data set written beside it (for the usage lines).
    stem : str
        Name of the model file without ``.cpp`` (for the usage lines).

    Returns
    -------
    str
        The ``.cpp`` model file.
    """
    m = export.model
    names = mrgsolve_names(export)
    sub = {sp.Symbol(k): sp.Symbol(v) for k, v in names.items() if k != v}

    def code(expr: sp.Expr) -> str:
        return cpp_code(expr.xreplace(sub))

    lines = ["$PROB"] + [f"# {h}" for h in header_lines(export)]
    lines += [
        "",
        "Typical patient (random effects set to 0):",
        "  library(mrgsolve)",
        f'  mod <- mread("{stem}", project = ".")  # this file saved as {stem}.cpp',
        f'  doses <- read.csv("{doses_file}")',
        f"  out <- mrgsim(zero_re(mod), data = doses, end = {number(export.end_time)}, delta = 1)",
        "",
    ]
    renamed = [f"{k} -> {v}" for k, v in names.items() if k != v]
    if renamed:
        lines += ["Renamed (mrgsolve names X_0 and F_X after compartment X): " + ", ".join(renamed)]
    lines += ["", "Parameters: name, value, unit, between-patient CV, source"]
    for p in export.parameters:
        lines.append(
            f"- {p.name} = {number(p.value)} {p.unit}, CV {p.iiv:g}: {_annotation(p.source)}"
        )
    lines += ["", "$PARAM @annotated"]
    for p in export.parameters:
        name = typical_name(p.name) if p.transform != "fixed" else names[p.name]
        lines.append(
            f"{name} : {number(p.value)} : {_annotation(p.description or p.name)} ({p.unit})"
        )
    lines += ["", "$CMT @annotated"]
    for st in m.states:
        lines.append(f"{st.name} : {_annotation(st.description)} ({st.unit})")
    if export.varying:
        lines += ["", "$OMEGA @annotated"]
        for p in export.varying:
            lines.append(
                f"{eta_name(p.name)} : {number(p.omega2)} : {p.transform}-normal variability of "
                f"{p.name}, CV {p.iiv:g}"
            )

    def declare(name: str, expr: sp.Expr, _: object) -> str:
        return f"double {names[name]} = {code(expr)};"

    lines += ["", "$MAIN"]
    lines += model_sections(
        export,
        "// ",
        {
            "individual": declare,
            "derived": declare,
            "bioavailability": lambda state, expr, _: f"F_{state} = {code(expr)};",
            "initial": lambda name, expr, _: f"{name}_0 = {code(expr)};",
        },
    )
    lines += ["", "$ODE"]
    lines += model_sections(
        export,
        "// ",
        {
            "intermediates": declare,
            "odes": lambda name, expr, _: f"dxdt_{name} = {code(expr)};",
        },
    )
    lines += ["", "$TABLE"]
    for ob in m.observables:
        lines.append(
            f"double {names[ob.name]} = {code(inline_intermediates(ob.expr, m))};  // {ob.unit}"
        )
    lines += ["", "$CAPTURE " + " ".join(names[ob.name] for ob in m.observables), ""]
    return "\n".join(lines)


def mrgsolve_doses_csv(export: ExportModel) -> str:
    """The doses as an mrgsolve data set (CSV: ``ID,time,amt,cmt,evid``)."""
    index = {s: i + 1 for i, s in enumerate(export.model.state_names)}
    rows = ["ID,time,amt,cmt,evid"]
    for d in export.doses:
        rows.append(f"1,{number(d.time)},{number(d.amount)},{index[d.state]},1")
    return "\n".join(rows) + "\n"
