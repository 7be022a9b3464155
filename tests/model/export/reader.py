"""A small reader of the exported mrgsolve, rxode2 and NONMEM files, and a SciPy solver for them.

The reader knows only the target formats, not allocart's model: it parses the written text
(parameter values, individual-parameter and derived statements, initial conditions,
bioavailability, intermediate quantities, ODEs and the dose table) into sympy, sets every
random effect to 0 (the typical patient), and integrates the ODEs with SciPy's LSODA from time
0, applying each dose (times its bioavailability) at its time. What it returns is the
trajectory a tool reading the file would compute, found independently of allocart's engine
and of the code that wrote the file.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_FUNCS = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "pow": sp.Pow,
    "EXP": sp.exp,
    "LOG": sp.log,
    "SQRT": sp.sqrt,
}


def parse(text: str) -> sp.Expr:
    """An arithmetic expression of R, C++ or Fortran syntax, every identifier a Symbol."""
    text = text.replace("^", "**")
    local = {n: _FUNCS.get(n) or sp.Symbol(n) for n in set(_IDENT.findall(text))}
    return sp.sympify(text, locals=local, rational=False)


@dataclass
class ReadModel:
    """A model read back from a file.

    ``fixed`` are statements evaluated once (parameters, derived quantities); ``initial``,
    ``fraction`` and ``odes`` map a state to its initial value, bioavailability and derivative;
    ``dynamic`` are statements evaluated at each time (intermediate quantities), in order;
    ``doses`` are (time, state, amount).
    """

    states: list[str]
    fixed: list[tuple[str, sp.Expr]]
    initial: dict[str, sp.Expr]
    fraction: dict[str, sp.Expr]
    dynamic: list[tuple[str, sp.Expr]]
    odes: dict[str, sp.Expr]
    doses: list[tuple[float, str, float]]

    def simulate(self, times: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
        """States at ``times`` (from time 0), shape (len(times), n_states)."""
        env: dict[sp.Symbol, sp.Float] = {}
        for name, expr in self.fixed:
            env[sp.Symbol(name)] = sp.Float(float(sp.sympify(expr).xreplace(env)))
        y0 = np.array([float(sp.sympify(self.initial[s]).xreplace(env)) for s in self.states])
        frac = {s: float(sp.sympify(e).xreplace(env)) for s, e in self.fraction.items()}
        inter: dict[sp.Symbol, sp.Expr] = {}
        for name, expr in self.dynamic:
            inter[sp.Symbol(name)] = expr.xreplace(env).xreplace(inter)
        rhs = [self.odes[s].xreplace(env).xreplace(inter) for s in self.states]
        syms = [sp.Symbol(s) for s in self.states]
        free = set().union(*(e.free_symbols for e in rhs)) - set(syms)
        assert not free, f"unresolved names in the ODEs: {sorted(map(str, free))[:10]}"
        f = sp.lambdify([syms], rhs, "math", cse=True)
        index = {s: i for i, s in enumerate(self.states)}
        atol = np.maximum(np.abs(y0) * 1e-12, 1e-14)
        out = np.full((len(times), len(self.states)), np.nan)
        y, t = y0.copy(), 0.0
        ends = sorted({d[0] for d in self.doses if d[0] <= times[-1]} | {float(times[-1])})
        for end in ends:
            if end > t:
                mask = (times >= t) & (times < end)
                sol = solve_ivp(
                    lambda _t, yy: f(yy),
                    (t, end),
                    y,
                    method="LSODA",
                    t_eval=np.append(times[mask], end),
                    rtol=rtol,
                    atol=atol,
                )
                assert sol.success, sol.message
                out[mask] = sol.y[:, :-1].T
                y = sol.y[:, -1].copy()
            for td, s, amt in self.doses:  # outputs at a dose time are taken after it
                if td == end:
                    y[index[s]] += amt * frac.get(s, 1.0)
            out[times == end] = y
            t = end
        return out


def _block(text: str, start: str, end: str) -> str:
    a = text.index(start) + len(start)
    return text[a : text.index(end, a)]


def read_rxode2(text: str) -> ReadModel:
    """Read the file written by ``allocart export rxode2``."""
    ini = _block(text, "ini({", "})")
    body = _block(text, "model({", "  })\n}")
    fixed: list[tuple[str, sp.Expr]] = []
    for line in ini.splitlines():
        line = line.split("#")[0].strip()
        if m := re.match(r"(\w+) <- fix\(([^)]*)\)", line):
            fixed.append((m[1], sp.Float(float(m[2]))))
        elif m := re.match(r"(\w+) ~ ", line):
            fixed.append((m[1], sp.Float(0.0)))
    states: list[str] = []
    initial, fraction, odes = {}, {}, {}
    dynamic: list[tuple[str, sp.Expr]] = []
    seen_ode = False
    for line in body.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        lhs, rhs = (x.strip() for x in line.split("<-", 1))
        if m := re.fullmatch(r"d/dt\((\w+)\)", lhs):
            states.append(m[1])
            odes[m[1]] = parse(rhs)
            seen_ode = True
        elif m := re.fullmatch(r"(\w+)\(0\)", lhs):
            initial[m[1]] = parse(rhs)
        elif m := re.fullmatch(r"f\((\w+)\)", lhs):
            fraction[m[1]] = parse(rhs)
        elif initial:  # after the initial conditions: quantities of the states
            if not seen_ode:
                dynamic.append((lhs, parse(rhs)))
        else:
            fixed.append((lhs, parse(rhs)))
    doses = []
    for m in re.finditer(r'time = ([^,]+), amt = ([^,]+), cmt = "(\w+)"', text):
        doses.append((float(m[1]), m[3], float(m[2])))
    return ReadModel(states, fixed, initial, fraction, dynamic, odes, doses)


def read_mrgsolve(text: str, doses_csv: str) -> ReadModel:
    """Read the model file and doses written by ``allocart export mrgsolve``."""
    fixed: list[tuple[str, sp.Expr]] = []
    for line in _block(text, "$PARAM @annotated", "$").strip().splitlines():
        name, value, _ = (x.strip() for x in line.split(":", 2))
        fixed.append((name, sp.Float(float(value))))
    states = [
        line.split(":")[0].strip()
        for line in _block(text, "$CMT @annotated", "$").strip().splitlines()
    ]
    for line in _block(text, "$OMEGA @annotated", "$").strip().splitlines():
        fixed.append((line.split(":")[0].strip(), sp.Float(0.0)))
    initial, fraction, odes = {}, {}, {}
    for line in _block(text, "$MAIN", "$ODE").splitlines():
        line = line.split("//")[0].strip().rstrip(";")
        if not line:
            continue
        lhs, rhs = (x.strip() for x in line.split("=", 1))
        if lhs.startswith("double "):
            fixed.append((lhs.removeprefix("double ").strip(), parse(rhs)))
        elif lhs.startswith("F_"):
            fraction[lhs[2:]] = parse(rhs)
        elif lhs.endswith("_0") and lhs[:-2] in states:
            initial[lhs[:-2]] = parse(rhs)
        else:
            fixed.append((lhs, parse(rhs)))
    dynamic = []
    for line in _block(text, "$ODE", "$TABLE").splitlines():
        line = line.split("//")[0].strip().rstrip(";")
        if not line:
            continue
        lhs, rhs = (x.strip() for x in line.split("=", 1))
        if lhs.startswith("dxdt_"):
            odes[lhs[5:]] = parse(rhs)
        else:
            dynamic.append((lhs.removeprefix("double ").strip(), parse(rhs)))
    doses = [
        (float(r["time"]), states[int(r["cmt"]) - 1], float(r["amt"]))
        for r in csv.DictReader(io.StringIO(doses_csv))
        if r["evid"] == "1"
    ]
    return ReadModel(states, fixed, initial, fraction, dynamic, odes, doses)


def _nonmem(text: str) -> str:
    text = re.sub(r"\bA_0\((\d+)\)", r"A0_\1", text)
    text = re.sub(r"\bA\((\d+)\)", r"A_\1", text)
    text = re.sub(r"\bTHETA\((\d+)\)", r"THETA_\1", text)
    text = re.sub(r"\bETA\((\d+)\)", "0.0", text)
    return re.sub(r"\bDADT\((\d+)\)", r"DADT_\1", text)


def read_nonmem(control: str, data_csv: str) -> ReadModel:
    """Read the control stream and data set written by ``allocart export nonmem``."""
    comps = re.findall(r"COMP=\((\w+)", control)
    states = [f"A_{i + 1}" for i in range(len(comps))]
    thetas = []
    for line in _block(control, "$THETA", "$").splitlines():
        line = line.split(";")[0].strip()
        if line:
            thetas.append(float(line.split()[0]))
    fixed = [(f"THETA_{i + 1}", sp.Float(v)) for i, v in enumerate(thetas)]
    initial, fraction, odes, dynamic = {}, {}, {}, []
    for line in _nonmem(_block(control, "$PK", "$DES")).splitlines():
        line = line.split(";")[0].strip()
        if not line:
            continue
        lhs, rhs = (x.strip() for x in line.split("=", 1))
        if lhs.startswith("A0_"):
            initial["A_" + lhs[3:]] = parse(rhs)
        elif re.fullmatch(r"F\d+", lhs):
            fraction["A_" + lhs[1:]] = parse(rhs)
        else:
            fixed.append((lhs, parse(rhs)))
    for line in _nonmem(_block(control, "$DES", "$ERROR")).splitlines():
        line = line.split(";")[0].strip()
        if not line:
            continue
        lhs, rhs = (x.strip() for x in line.split("=", 1))
        if lhs.startswith("DADT_"):
            odes["A_" + lhs[5:]] = parse(rhs)
        else:
            dynamic.append((lhs, parse(rhs)))
    doses = [
        (float(r["TIME"]), f"A_{int(r['CMT'])}", float(r["AMT"]))
        for r in csv.DictReader(io.StringIO(data_csv))
        if r["EVID"] == "1"
    ]
    return ReadModel(states, fixed, initial, fraction, dynamic, odes, doses)
