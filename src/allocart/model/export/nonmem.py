"""NONMEM export: a control stream (ADVAN13) and its data set (CSV).

The control stream has ``$PROBLEM``, ``$INPUT``, ``$DATA``, ``$SUBROUTINES ADVAN13``,
``$MODEL`` (one ``COMP`` per state, in the model's order), ``$PK`` (individual parameters
``THETA(n)*EXP(ETA(k))`` or their logit-normal form, derived parameters, the CAR-T dose's
bioavailability ``F1``/``F2`` and the baseline states ``A_0(n)``), ``$DES`` (intermediate
quantities and ``DADT(n)``), ``$ERROR`` (the read-outs; ``Y`` is the CAR-T count in blood),
``$THETA`` (every primary parameter, fixed, with its unit and source), ``$OMEGA`` (one
diagonal element per parameter with between-patient variability), ``$SIGMA``,
``$SIMULATION`` and ``$TABLE``. States are referred to as ``A(n)``.

NONMEM's abbreviated code ignores case and reserves some names, so a name that would clash
(``nu_M`` and ``nu_m``; ``Phi``, NONMEM's normal distribution function) gets a trailing
``_``, one that begins like a reserved word (``theta_Phi``, ``eps_fb``) the prefix ``P_``, and a name longer than 20 characters is shortened; the control stream lists every
renamed symbol. Time in the data set starts at 0, the scenario's start.
"""

from __future__ import annotations

import itertools
import re
import textwrap

import sympy as sp

from allocart.model.codegen import inline_intermediates
from allocart.model.export.common import (
    SECTIONS,
    ExportModel,
    eta_name,
    header_lines,
    individual_expression,
    model_sections,
    observation_times,
)
from allocart.model.export.printers import nonmem_code, number

__all__ = ["to_nonmem", "nonmem_data_csv", "nonmem_names", "NONMEM_COLUMNS", "Y_READOUT"]

NONMEM_COLUMNS = ("ID", "TIME", "AMT", "CMT", "EVID", "MDV", "DV")
"""Columns of the data set, as ``$INPUT`` names them."""

Y_READOUT = "car_t_cells_per_ul"
"""Read-out predicted as ``IPRED`` and simulated as ``Y`` (CAR-T cells per uL of blood)."""

MAX_NAME = 20
"""Longest name written (NM-TRAN's limit for user-defined names in older releases)."""

MAX_LINE = 120
"""Longest statement written: longer ones are split through temporaries ``Q1``, ``Q2``...
(well under the line lengths NM-TRAN and Fortran accept)."""

_RESERVED = frozenset(
    """A B C D F G H R S T Y ERR EPS ETA THETA OMEGA SIGMA DADT PRED RES WRES IPRED ID TIME
    AMT CMT EVID MDV DV RATE SS II ADDL MTIME MNEXT MPAST MTDIFF NEWIND NEWL2 ICALL IREP GG HH
    COM EXP LOG LOG10 SQRT ABS INT MOD SIN COS TAN ATAN PHI GAMLN IF THEN ELSE ENDIF DO WHILE
    ENDDO CALL EXIT RETURN TSCALE XSCALE TSTATE FSIZES MIXNUM MIXEST""".split()
)
_RESERVED_PATTERN = re.compile(r"^(?:[FRDS][0-9]+|ALAG[0-9]+|A_0.*|THETA.*|ETA.*|EPS.*|ERR.*)$")


def nonmem_names(export: ExportModel) -> dict[str, str]:
    """NONMEM name of every parameter, derived parameter, intermediate and read-out.

    Names stay as in the model unless they clash with a reserved word or, ignoring case,
    with an earlier name, or are longer than :data:`MAX_NAME` characters.
    """
    m = export.model
    names = (
        [p.name for p in export.parameters]
        + list(m.derived)
        + list(m.intermediates)
        + [ob.name for ob in m.observables]
    )
    taken: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        # NM-TRAN reserves names that begin like THETA, ETA, EPS, ERR or A_0: prefix them.
        base = f"P_{name}" if _RESERVED_PATTERN.match(name.upper()) else name
        new, k = base[:MAX_NAME], 0
        while (
            new.upper() in _RESERVED
            or _RESERVED_PATTERN.match(new.upper())
            or (new.upper() in taken)
        ):
            k += 1
            suffix = "_" if k == 1 else f"_{k}"
            new = base[: MAX_NAME - len(suffix)] + suffix
        taken.add(new.upper())
        out[name] = new
    return out


def _symbols(export: ExportModel, names: dict[str, str]) -> dict[sp.Symbol, sp.Symbol]:
    """Substitution of the model's symbols by their NONMEM spelling (states as ``A(n)``)."""
    sub = {sp.Symbol(k): sp.Symbol(v) for k, v in names.items() if k != v}
    for i, s in enumerate(export.model.state_names):
        sub[sp.Symbol(s)] = sp.Symbol(f"A({i + 1})")
    return sub


def _comment(text: str, width: int = 100) -> list[str]:
    flat = "".join(c if c.isascii() else "?" for c in text)
    return ["; " + line for line in textwrap.wrap(flat, width)] or [";"]


def _split(lhs: str, expr: sp.Expr, temps: itertools.count) -> list[str]:
    """``lhs = expr`` as statements of at most :data:`MAX_LINE` characters.

    Sums and products too long for one line are cut into groups of terms or factors, each
    assigned to a temporary ``Q<n>`` first; the last statement assigns ``lhs``.
    """
    pre: list[str] = []
    limit = MAX_LINE - 12

    def shorten(e: sp.Expr) -> sp.Expr:
        if len(nonmem_code(e)) <= limit or not e.args:
            return e
        args = [shorten(a) for a in e.args]
        if not (e.is_Add or e.is_Mul):
            return e.func(*args)
        groups: list[list[sp.Expr]] = [[]]
        for a in args:
            if groups[-1] and len(nonmem_code(e.func(*groups[-1], a))) > limit:
                groups.append([])
            groups[-1].append(a)
        if len(groups) == 1:
            return e.func(*args)
        names = []
        for g in groups:
            name = f"Q{next(temps)}"
            pre.append(f"{name} = {nonmem_code(e.func(*g))}")
            names.append(sp.Symbol(name))
        return shorten(e.func(*names))

    out = shorten(expr)
    return [*pre, f"{lhs} = {nonmem_code(out)}"]


def to_nonmem(export: ExportModel, *, data_file: str = "model.csv") -> str:
    """Write ``export`` as a NONMEM control stream.

    Parameters
    ----------
    export : ExportModel
        From :func:`allocart.model.export.common.build_export`.
    data_file : str
        Name of the data set (``$DATA``), written by :func:`nonmem_data_csv`.

    Returns
    -------
    str
        The control stream.
    """
    m = export.model
    names = nonmem_names(export)
    sub = _symbols(export, names)

    temps = itertools.count(1)

    def assign(lhs: str, expr: sp.Expr) -> list[str]:
        return _split(lhs, expr.xreplace(sub), temps)

    state_index = {s: i + 1 for i, s in enumerate(m.state_names)}
    theta = {p.name: i + 1 for i, p in enumerate(export.parameters)}
    eta = {p.name: k + 1 for k, p in enumerate(export.varying)}

    lines = [f"$PROBLEM {export.title}"]
    for h in header_lines(export):
        lines += _comment(h)
    lines += _comment(
        "The data set's TIME starts at 0, the scenario's start. Typical patient: set every "
        "$OMEGA to 0 FIX. Y is the CAR-T count in blood with a proportional residual error "
        "whose variance ($SIGMA) is 0 here: set it to that of your assay before estimating."
    )
    renamed = [f"{k} -> {v}" for k, v in names.items() if k != v]
    if renamed:
        lines += _comment("Renamed for NONMEM: " + ", ".join(renamed))
    lines += [
        f"$INPUT {' '.join(NONMEM_COLUMNS)}",
        f"$DATA {data_file} IGNORE=@",
        "$SUBROUTINES ADVAN13 TOL=9",
        "$MODEL",
    ]
    for st in m.states:
        dflt = " DEFDOSE" if st.name == "E" else ""
        lines.append(f"  COMP=({st.name}{dflt}) ; A({state_index[st.name]}): {st.description}")
    lines += ["", "$PK", f"; {SECTIONS['individual']}"]
    for p in export.parameters:
        typical = sp.Symbol(f"THETA({theta[p.name]})")
        if p.name in eta:
            expr = individual_expression(p, typical, sp.Symbol(f"ETA({eta[p.name]})"))
        else:
            expr = typical
        lines += _split(names[p.name], expr, temps)
    lines += model_sections(
        export,
        "; ",
        {
            "derived": lambda name, expr, _: assign(names[name], expr),
            "bioavailability": lambda state, expr, _: assign(f"F{state_index[state]}", expr),
            "initial": lambda name, expr, _: assign(f"A_0({state_index[name]})", expr),
        },
    )
    lines += ["", "$DES"]
    lines += model_sections(
        export,
        "; ",
        {
            "intermediates": lambda name, expr, _: assign(names[name], expr),
            "odes": lambda name, expr, _: assign(f"DADT({state_index[name]})", expr),
        },
    )
    lines += ["", "$ERROR"]
    lines += model_sections(
        export,
        "; ",
        {"observables": lambda name, expr, _: assign(names[name], inline_intermediates(expr, m))},
    )
    lines += [f"IPRED = {names[Y_READOUT]}", "Y = IPRED*(1 + EPS(1))", "", "$THETA"]
    for p in export.parameters:
        label = f"TV_{p.name}"  # not the $PK variable's name, so pharmpy takes it
        lines.append(f"{number(p.value).upper()} FIX ; {label}")
        lines += _comment(f"  [{p.unit}] range {p.lower:g} to {p.upper:g}; {p.source}")
    if eta:
        lines.append("")
        for p in export.varying:  # one record each, so that pharmpy names every ETA
            lines += _comment(f"{p.transform}-normal variability of {p.name}, CV {p.iiv:g}")
            lines.append(f"$OMEGA {number(p.omega2).upper()} ; {eta_name(p.name)}")
    lines += [
        "",
        "$SIGMA 0 FIX ; proportional residual error of Y (set to the assay's)",
        "",
        "$SIMULATION (20260) ONLYSIMULATION",
        "; for estimation replace $SIMULATION by e.g. $ESTIMATION METHOD=1 INTERACTION",
        "$TABLE ID TIME",
        *textwrap.wrap(" ".join(names[ob.name] for ob in m.observables), MAX_LINE),
        "NOPRINT ONEHEADER NOAPPEND FILE=sdtab_allocart",
        "",
    ]
    return "\n".join(lines)


def nonmem_data_csv(export: ExportModel, obs_times: tuple[float, ...] | None = None) -> str:
    """The data set: dose records (``EVID=1``) and observation records (``EVID=0``).

    Observations are every day from 0 to the horizon unless ``obs_times`` is given; at a time
    with both, the dose comes first, so the observation sees it.
    """
    index = {s: i + 1 for i, s in enumerate(export.model.state_names)}
    times = observation_times(export) if obs_times is None else obs_times
    rows: list[tuple[float, int, str]] = []
    for k, d in enumerate(export.doses):
        rows.append((d.time, k, f"1,{number(d.time)},{number(d.amount)},{index[d.state]},1,1,0"))
    n = len(rows)
    for k, t in enumerate(times):
        rows.append((float(t), n + k, f"1,{number(t)},0,0,0,0,0"))
    rows.sort(key=lambda r: (r[0], r[1]))
    return ",".join(NONMEM_COLUMNS) + "\n" + "\n".join(r[2] for r in rows) + "\n"
