"""A 25-state CAR-T-like test model for the engine benchmarks.

:func:`test_model` gives its right-hand side source, an equivalent SBML model, parameters and
dosing, of the size and stiffness of the real model, for comparing solvers on the same
problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from allocart.engine import OP_ADD, EventTable

__all__ = ["TestModel", "test_model"]


@dataclass(frozen=True)
class TestModel:
    """A benchmark model in the two forms the solvers need.

    Attributes
    ----------
    rhs_source : str
        Source for :func:`allocart.engine.build_kernel`.
    sbml : str
        Equivalent SBML Level 3 model (species with rate rules, dosing events).
    state_ids, param_ids : list of str
        Names in SBML order (``x0..``, ``k0..``); the engine uses the same order.
    params : numpy.ndarray, shape (n_params,)
        Typical parameter values (rates per day).
    y0 : numpy.ndarray, shape (n_states,)
        Initial state, including the first dose.
    dose_times : numpy.ndarray
        Times (days) of the later doses, each adding ``params[dose_index]`` to state 0.
    dose_index : int
        Index of the dose parameter.
    """

    rhs_source: str
    sbml: str
    state_ids: list
    param_ids: list
    params: np.ndarray
    y0: np.ndarray
    dose_times: np.ndarray
    dose_index: int

    def sample_params(self, n_pat: int, cv: float = 0.3, seed: int = 0) -> np.ndarray:
        """Log-normal between-patient variability around :attr:`params`, shape (n_pat, n_params)."""
        rng = np.random.default_rng(seed)
        eta = rng.normal(0.0, cv, size=(n_pat, self.params.size))
        eta[:, self.dose_index] = 0.0
        return self.params[None, :] * np.exp(eta)

    def events(self, n_pat: int):
        """Dosing :class:`~allocart.engine.EventTable` for ``n_pat`` patients."""

        m = self.dose_times.size
        return EventTable(
            np.tile(self.dose_times, (n_pat, 1)),
            np.zeros((n_pat, m), np.int64),
            np.full((n_pat, m), OP_ADD, np.int64),
            np.full((n_pat, m), self.params[self.dose_index]),
        )


# (parameter name, value). Rates are per day; the drug elimination kel = 4/day and the
# cytokine clearances (3-3.5/day) are the fast modes, as in the real model.
_PARAMS = [
    ("ka", 1.0),
    ("ktr", 1.5),
    ("kel", 4.0),
    ("k12", 0.5),
    ("k21", 0.3),
    ("ic50", 1.0),
    ("rho", 1.6),
    ("kmb", 50.0),
    ("kout", 0.8),
    ("kin", 0.4),
    ("de", 0.25),
    ("kem", 0.05),
    ("kme", 0.02),
    ("kex", 0.1),
    ("dx", 0.1),
    ("kill", 2.0),
    ("kme50", 10.0),
    ("prodb", 20.0),
    ("kmat", 0.3),
    ("db", 0.05),
    ("kpb", 0.01),
    ("kab", 1.0),
    ("dab", 0.033),
    ("kil6", 0.5),
    ("dil6", 3.5),
    ("difn", 3.0),
    ("kinf", 0.2),
    ("dinf", 0.1),
    ("dose", 10.0),
]
# One expression per state, in x<i>/k<name> notation, using exp/ln and arithmetic only.
_STIM_B = "(x13/(x13 + kmb))"
_STIM_T = "(x14/(x14 + kmb))"
_KILL_B = "(kill*x6/(x6 + kme50))"
_KILL_T = "(kill*x7/(x7 + kme50))"
_SUPP = "(1/(1 + x4/ic50))"
_ODES = [
    "-ka*x0",
    "ka*x0 - ktr*x1",
    "ktr*(x1 - x2)",
    "ktr*(x2 - x3)",
    "ktr*x3 - kel*x4 - k12*x4 + k21*x5",
    "k12*x4 - k21*x5",
    f"rho*{_SUPP}*x6*{_STIM_B} - de*x6 - kout*x6 + kin*x7 - kem*x6"
    f" + kme*x8*({_STIM_B} + {_STIM_T}) - kex*x6*{_STIM_B}",
    f"rho*{_SUPP}*x7*{_STIM_T} - de*x7 + kout*x6 - kin*x7 - kem*x7 - kex*x7*{_STIM_T}",
    f"kem*(x6 + x7) - kme*x8*({_STIM_B} + {_STIM_T}) - 0.002*x8",
    f"kex*(x6*{_STIM_B} + x7*{_STIM_T}) - dx*x9",
    "prodb*(1 + 0.2*ln(1 + x18)) - kmat*x10",
    f"kmat*(x10 - x11) - {_KILL_B}*x11",
    f"kmat*(x11 - x12) - {_KILL_B}*x12",
    f"kmat*x12 - db*x13 - 0.3*x13 + 0.1*x14 - {_KILL_B}*x13 - kpb*x13",
    f"0.3*x13 - 0.1*x14 - {_KILL_T}*x14 - db*x14 - kpb*x14*(1 + x20/(x20 + 5))",
    "kpb*(x13 + x14) - 0.22*x15",
    "0.02*x15 - 0.005*x16",
    "kab*(x15 + 0.5*x16) - dab*x17",
    f"kil6*(x6*{_STIM_B} + x7*{_STIM_T}) + 0.05*x20 - dil6*x18",
    f"0.3*(x6*{_STIM_B} + x7*{_STIM_T}) - difn*x19",
    "kinf*x17/(x17 + 100)*(1 + x19/(x19 + 1)) - dinf*x20",
    "0.01*x20 - 0.005*x21*x23/(x23 + 10)",
    "0.1*(ln(1 + x20 + x21) - x22)",
    "0.5 - 0.05*x23 + 0.01*x23*x18/(x18 + 1)",
    "5 - 0.05*x24 - 0.02*x24*x4/(x4 + ic50) + 0.01*x24*x19",
]
_Y0 = [
    10.0,
    0,
    0,
    0,
    0,
    0,
    1.0,
    0,
    0,
    0,
    66.7,
    66.7,
    66.7,
    40.0,
    110.0,
    1.8,
    7.0,
    100.0,
    0,
    0,
    1.0,
    1.0,
    0.7,
    10.0,
    100.0,
]


def _to_python(expr: str, pidx: dict) -> str:

    out = re.sub(r"\bx(\d+)\b", r"y[\1]", expr)
    out = re.sub(r"\bln\(", "math.log(", out)
    out = re.sub(r"\bexp\(", "math.exp(", out)
    return re.sub(
        r"\b([a-z][a-z0-9]*)\b",
        lambda m: f"p[{pidx[m.group(1)]}]" if m.group(1) in pidx else m.group(1),
        out,
    )


def _build_sbml(state_ids, params, odes, y0, dose_times) -> str:
    # libsbml (and the SBML writer on it) loaded only when the SBML form is built
    import libsbml

    from allocart.model.sbml import add_event

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId("engine_test_model")
    comp = model.createCompartment()
    comp.setId("c")
    comp.setSize(1.0)
    comp.setConstant(True)
    for sid, v in zip(state_ids, y0):
        s = model.createSpecies()
        s.setId(sid)
        s.setCompartment("c")
        s.setInitialAmount(float(v))
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)
    for name, v in params:
        p = model.createParameter()
        p.setId(name)
        p.setValue(float(v))
        p.setConstant(True)
    for sid, expr in zip(state_ids, odes):
        rule = model.createRateRule()
        rule.setVariable(sid)
        ast = libsbml.parseL3Formula(expr)
        if ast is None:
            raise ValueError(f"cannot parse {expr!r}: {libsbml.getLastParseL3Error()}")
        rule.setMath(ast)
    for k, td in enumerate(dose_times):
        add_event(
            model,
            f"dose{k}",
            libsbml.parseL3Formula(f"time >= {float(td)!r}"),
            [(state_ids[0], libsbml.parseL3Formula(f"{state_ids[0]} + dose"))],
            fires_at_start=True,
        )
    return libsbml.writeSBMLToString(doc)


def test_model() -> TestModel:
    """The 25-state, 29-parameter benchmark model with doses every 28 days for 6 months.

    Returns
    -------
    TestModel
    """
    state_ids = [f"x{i}" for i in range(len(_ODES))]
    pidx = {name: i for i, (name, _) in enumerate(_PARAMS)}
    lines = [
        "import math",
        "",
        f"N_STATES = {len(_ODES)}",
        f"N_PARAMS = {len(_PARAMS)}",
        "",
        "",
        "def rhs(t, y, p, dydt):",
    ]
    for i, expr in enumerate(_ODES):
        lines.append(f"    dydt[{i}] = {_to_python(expr, pidx)}")
    rhs_source = "\n".join(lines) + "\n"
    dose_times = np.array([28.0, 56.0, 84.0, 112.0, 140.0])
    params = np.array([v for _, v in _PARAMS])
    y0 = np.array(_Y0, dtype=float)
    sbml = _build_sbml(state_ids, _PARAMS, _ODES, y0, dose_times)
    return TestModel(
        rhs_source, sbml, state_ids, [n for n, _ in _PARAMS], params, y0, dose_times, pidx["dose"]
    )


# Not a pytest test despite the name.
test_model.__test__ = False  # type: ignore[attr-defined]
TestModel.__test__ = False  # type: ignore[attr-defined]
