"""Reference solvers and machine limits to benchmark the batched engine against.

Helpers
-------
:func:`time_roadrunner`
    libRoadRunner (SUNDIALS CVODE) on an SBML model, one patient after another.
:func:`time_scipy`
    SciPy ``solve_ivp`` (LSODA by default) on a pure Python right-hand side.
:func:`measure_flop_peak`
    Achieved double-precision FLOP/s of RHS-like scalar arithmetic on all numba threads,
    the denominator of ``fraction_of_flop_limit``.
:func:`test_model`
    A 25-state CAR-T-like test model (right-hand side source, SBML, parameters, dosing)
    of the size and stiffness of the real model, for choosing solver methods before the
    real model exists.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "time_roadrunner",
    "time_scipy",
    "measure_flop_peak",
    "TestModel",
    "test_model",
]


# ---------------------------------------------------------------------------------------------
# Test model
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
        from allocart.engine import OP_ADD, EventTable

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
    import re

    out = re.sub(r"\bx(\d+)\b", r"y[\1]", expr)
    out = re.sub(r"\bln\(", "math.log(", out)
    out = re.sub(r"\bexp\(", "math.exp(", out)
    return re.sub(
        r"\b([a-z][a-z0-9]*)\b",
        lambda m: f"p[{pidx[m.group(1)]}]" if m.group(1) in pidx else m.group(1),
        out,
    )


def _build_sbml(state_ids, params, odes, y0, dose_times) -> str:
    import libsbml

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
        ev = model.createEvent()
        ev.setId(f"dose{k}")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        trig.setMath(libsbml.parseL3Formula(f"time >= {float(td)!r}"))
        ea = ev.createEventAssignment()
        ea.setVariable(state_ids[0])
        ea.setMath(libsbml.parseL3Formula(f"{state_ids[0]} + dose"))
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


# ---------------------------------------------------------------------------------------------
# Peers
def time_roadrunner(
    sbml_str: str,
    param_matrix: np.ndarray,
    param_ids: list,
    y0_matrix: np.ndarray | None,
    t_out: np.ndarray,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    *,
    stiff: bool = True,
    state_ids: list | None = None,
) -> tuple[float, np.ndarray]:
    """Simulate patients one after another with libRoadRunner (CVODE).

    One RoadRunner instance is loaded once (compilation is not timed); per patient the model
    is reset, parameters and initial amounts are set through the model's vector setters
    (much cheaper than per-name ``rr[...] = v``) and ``simulate(times=t_out)`` integrates with
    output on the requested grid. Dosing is expressed as SBML events, which CVODE handles by
    root finding and restarting the integration.

    Parameters
    ----------
    sbml_str : str
        SBML model.
    param_matrix : numpy.ndarray, shape (n_pat, len(param_ids))
        Parameter values per patient.
    param_ids : list of str
        SBML ids of the columns of ``param_matrix``.
    y0_matrix : numpy.ndarray, shape (n_pat, n_species), optional
        Initial species amounts (SBML species order); None keeps the model's.
    t_out : numpy.ndarray
        Output times in days (first element is the start time).
    rtol, atol : float
        CVODE relative and absolute tolerances (libRoadRunner rescales a scalar ``atol`` by
        each species' initial amount).
    stiff : bool
        BDF (True, roadrunner's default) or Adams (False).
    state_ids : list of str, optional
        Species order of the returned trajectories; default: the model's.

    Returns
    -------
    patients_per_s : float
        Wall-clock throughput (single thread, as roadrunner runs).
    trajectories : numpy.ndarray, shape (n_pat, n_times, n_species)
    """
    import roadrunner

    # CVODE warns on every event restart ("t + h = t"); the warnings are harmless and
    # printing them would dominate the timing.
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    roadrunner.Logger.disableConsoleLogging()
    rr = roadrunner.RoadRunner(sbml_str)
    integ = rr.getIntegrator()
    integ.setValue("relative_tolerance", float(rtol))
    integ.setValue("absolute_tolerance", float(atol))
    integ.setValue("stiff", bool(stiff))
    integ.setValue("maximum_num_steps", 100_000)
    # Output on the grid only; variable_step would return every internal step.
    integ.setValue("variable_step_size", False)
    model = rr.model
    all_params = list(model.getGlobalParameterIds())
    col = np.array([all_params.index(pid) for pid in param_ids])
    species = list(model.getFloatingSpeciesIds())
    order = None if state_ids is None else [species.index(s) for s in state_ids]
    rr.timeCourseSelections = list(species)
    base = np.array(model.getGlobalParameterValues(), dtype=float)
    t_out = np.asarray(t_out, dtype=float)
    n_pat = param_matrix.shape[0]
    traj = np.empty((n_pat, t_out.size, len(species)))
    tic = time.perf_counter()
    for i in range(n_pat):
        rr.resetAll()
        pv = base.copy()
        pv[col] = param_matrix[i]
        model.setGlobalParameterValues(pv)
        if y0_matrix is not None:
            model.setFloatingSpeciesAmounts(np.asarray(y0_matrix[i], dtype=float))
        res = rr.simulate(times=t_out)
        traj[i] = np.asarray(res)
    elapsed = time.perf_counter() - tic
    if order is not None:
        traj = traj[:, :, order]
    return n_pat / elapsed, traj


def time_scipy(
    rhs_py: Callable,
    param_matrix: np.ndarray,
    y0_matrix: np.ndarray,
    t_out: np.ndarray,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    *,
    events: list | None = None,
    method: str = "LSODA",
) -> tuple[float, np.ndarray]:
    """Simulate patients one after another with SciPy ``solve_ivp``.

    Parameters
    ----------
    rhs_py : callable
        The model's ``rhs(t, y, p, dydt)`` as plain Python (``math`` functions only).
    param_matrix : numpy.ndarray, shape (n_pat, n_params)
    y0_matrix : numpy.ndarray, shape (n_pat, n_states)
    t_out : numpy.ndarray
        Output times in days; integration starts at ``t_out[0]``.
    rtol : float
    atol : float or numpy.ndarray of shape (n_states,)
    events : list of (time, state, value), optional
        Bolus additions, applied to every patient by restarting the integration.
    method : str
        Any ``solve_ivp`` method.

    Returns
    -------
    patients_per_s : float
    trajectories : numpy.ndarray, shape (n_pat, n_times, n_states)
    """
    from scipy.integrate import solve_ivp

    t_out = np.asarray(t_out, dtype=float)
    n_pat, n_states = y0_matrix.shape
    traj = np.empty((n_pat, t_out.size, n_states))
    events = sorted(events or [], key=lambda e: e[0])
    stops = [e[0] for e in events if t_out[0] < e[0] <= t_out[-1]]
    tic = time.perf_counter()
    for i in range(n_pat):
        p = param_matrix[i]
        buf = np.empty(n_states)

        def f(t, y, p=p, buf=buf):
            rhs_py(t, y, p, buf)
            return buf.copy()

        y = np.array(y0_matrix[i], dtype=float)
        t = t_out[0]
        traj[i, 0] = y
        for seg_end in stops + [t_out[-1]]:
            mask = (t_out > t) & (t_out <= seg_end)
            sol = solve_ivp(
                f,
                (t, seg_end),
                y,
                method=method,
                rtol=rtol,
                atol=atol,
                t_eval=t_out[mask] if mask.any() else None,
                dense_output=False,
            )
            y = sol.y[:, -1].copy()
            for te, s, v in events:
                if te == seg_end:
                    y[s] += v
            if mask.any():
                traj[i, mask] = sol.y.T
                if t_out[mask][-1] == seg_end:
                    traj[i, np.nonzero(mask)[0][-1]] = y
            t = seg_end
    elapsed = time.perf_counter() - tic
    return n_pat / elapsed, traj


# ---------------------------------------------------------------------------------------------
# Machine limit
def _flop_kernel():
    import numba

    @numba.njit(parallel=True, cache=False, fastmath=False)
    def run(n_iter, n_workers):
        out = np.zeros(n_workers)
        for w in numba.prange(n_workers):
            # Eight independent chains per worker: enough instruction-level parallelism to
            # cover FMA latency, like the independent terms of a model right-hand side.
            a0 = 1.0 + w * 1e-9
            a1 = a0 + 1e-3
            a2 = a0 + 2e-3
            a3 = a0 + 3e-3
            a4 = a0 + 4e-3
            a5 = a0 + 5e-3
            a6 = a0 + 6e-3
            a7 = a0 + 7e-3
            c = 0.999999
            d = 1e-7
            for _ in range(n_iter):
                # 7 multiply-adds (2 flops each) and one divide per chain and iteration.
                a0 = a0 * c + d
                a1 = a1 * c + d
                a2 = a2 * c + d
                a3 = a3 * c + d
                a4 = a4 * c + d
                a5 = a5 * c + d
                a6 = a6 * c + d
                a7 = a7 * c + d
                a0 = a0 * c + d
                a1 = a1 * c + d
                a2 = a2 * c + d
                a3 = a3 * c + d
                a4 = a4 * c + d
                a5 = a5 * c + d
                a6 = a6 * c + d
                a7 = a7 * c + d
                a0 = a0 * c + d
                a1 = a1 * c + d
                a2 = a2 * c + d
                a3 = a3 * c + d
                a4 = a4 * c + d
                a5 = a5 * c + d
                a6 = a6 * c + d
                a7 = a7 * c + d
                a0 = a0 * c + d
                a1 = a1 * c + d
                a2 = a2 * c + d
                a3 = a3 * c + d
                a4 = a4 * c + d
                a5 = a5 * c + d
                a6 = a6 * c + d
                a7 = a7 * c + d
                s = a0 + a1 + a2 + a3  # 3 adds
                a0 = a0 / (s + 3.0)  # 1 add + 1 divide
                a0 = a0 * 4.0
                a4 = a4 / (1.0 + a5 * 1e-9)
                a4 = a4 * 1.0
            out[w] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7
        return out

    # per iteration: 32 FMAs (64 flops) + 3 adds + add, div, mul + fma-ish, div, mul = 73
    return run, 73


def _simd_flop_kernel():
    import numba

    # "contract" lets LLVM fuse the multiply-adds into FMA instructions, as the lane
    # right-hand side is compiled; no reassociation, so the chains stay chains.
    @numba.njit(parallel=True, cache=False, fastmath={"contract"})
    def run(n_iter, n_workers):
        out = np.zeros(n_workers)
        for w in numba.prange(n_workers):
            # 64 independent chains in one array: a vectorised loop of 8 vectors of 8 doubles,
            # the shape of the lane kernel's arithmetic (8 patients per vector).
            a = np.empty(64)
            for q in range(64):
                a[q] = 1.0 + q * 1e-3 + w * 1e-9
            c = 0.999999
            d = 1e-7
            for _ in range(n_iter):
                for q in range(64):
                    v = a[q]
                    # 16 multiply-adds (32 flops) and one divide (+ add) per element.
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v * c + d
                    v = v / (1.0 + v * 1e-9)
                    a[q] = v
            s = 0.0
            for q in range(64):
                s += a[q]
            out[w] = s
        return out

    # per iteration: 64 elements x (32 + 3) flops
    return run, 64 * 35


def measure_flop_peak(
    seconds: float = 1.0, n_threads: int | None = None, simd: bool = False
) -> float:
    """Achieved double-precision FLOP/s of RHS-like arithmetic on all numba threads.

    Runs independent chains of multiply-adds with some divisions (the mix of a generated
    model right-hand side), one worker per thread, and takes the best of a few repeats.
    ``simd=False``: scalar code, compiled without FMA contraction, the ceiling of the
    per-patient kernel. ``simd=True``: the same arithmetic vectorised 8 patients wide with FMA
    instructions, the ceiling of the SIMD lane kernel. Both are measured ceilings for this kind
    of arithmetic, not the processor's data-sheet peak.

    Parameters
    ----------
    seconds : float
        Approximate duration of each timed repeat.
    n_threads : int, optional
        Threads to use; default numba's current number.
    simd : bool
        Measure the vectorised ceiling instead of the scalar one.

    Returns
    -------
    float
        Floating point operations per second (a multiply-add counts as 2).
    """
    import numba

    run, flops_per_iter = _simd_flop_kernel() if simd else _flop_kernel()
    nw = numba.get_num_threads() if n_threads is None else int(n_threads)
    old = numba.get_num_threads()
    numba.set_num_threads(nw)
    try:
        run(10, nw)  # compile
        n_iter = 1000 if simd else 100_000
        while True:
            tic = time.perf_counter()
            run(n_iter, nw)
            dt = time.perf_counter() - tic
            if dt > 0.05:
                break
            n_iter *= 4
        n_iter = max(1, int(n_iter * seconds / 3 / dt))
        best = math.inf
        for _ in range(3):
            tic = time.perf_counter()
            run(n_iter, nw)
            best = min(best, time.perf_counter() - tic)
    finally:
        numba.set_num_threads(old)
    return flops_per_iter * n_iter * nw / best


# ---------------------------------------------------------------------------------------------
def _rhs_flops(rhs_source: str) -> int:
    """Arithmetic operators in the right-hand side body: a rough FLOP count per evaluation."""
    import ast

    tree = ast.parse(rhs_source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "rhs")
    count = 0
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp):
            count += 1
        elif isinstance(node, ast.Call):
            count += 10  # exp/log: roughly ten flops each
    return count


def compare_on_test_model(
    n_pat: int = 400,
    n_rr: int = 100,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    n_threads: int | None = None,
    repeats: int = 3,
    method: str = "auto",
) -> dict:
    """Engine vs libRoadRunner on :func:`test_model`, both checked against a tight reference.

    Run as ``python -m allocart.bench.engine_peers``. Timings are the best of ``repeats``;
    errors are the maximum over patients, outputs and states of ``|y - ref| / max_t |ref|``
    against the engine at ``rtol=1e-10, atol=1e-12``.

    Returns
    -------
    dict
        ``engine_patients_per_s``, ``roadrunner_patients_per_s``, ``speedup``,
        ``engine_max_err``, ``roadrunner_max_err``, ``rhs_per_patient``, ``steps_per_patient``,
        ``fraction_of_flop_limit``, ``threads``.
    """
    import numba

    from allocart.engine import build_kernel, solve_batch

    m = test_model()
    k = build_kernel(m.rhs_source, "bench_test_model")
    P = m.sample_params(n_pat)
    Y0 = np.tile(m.y0, (n_pat, 1))
    ev = m.events(n_pat)
    t_out = np.arange(0.0, 366.0)
    solve_batch(k, Y0[:2], P[:2], t_out, t0=0.0, events=ev.rows(0, 2))  # compile / load
    ref = solve_batch(k, Y0, P, t_out, t0=0.0, events=ev, rtol=1e-10, atol=1e-12)
    scale = np.abs(ref.y).max(axis=1, keepdims=True) + 1e-6
    best = math.inf
    for _ in range(repeats):
        tic = time.perf_counter()
        res = solve_batch(
            k,
            Y0,
            P,
            t_out,
            t0=0.0,
            events=ev,
            rtol=rtol,
            atol=atol,
            method=method,
            n_threads=n_threads,
        )
        best = min(best, time.perf_counter() - tic)
    eng_err = float((np.abs(res.y - ref.y) / scale).max())
    rr_pps = 0.0
    rr_err = math.nan
    for _ in range(repeats):
        pps, tr = time_roadrunner(
            m.sbml, P[:n_rr], m.param_ids, Y0[:n_rr], t_out, rtol, atol, state_ids=m.state_ids
        )
        rr_pps = max(rr_pps, pps)
    rr_err = float((np.abs(tr - ref.y[:n_rr]) / scale[:n_rr]).max())
    threads = numba.get_num_threads() if n_threads is None else n_threads
    eng_pps = n_pat / best
    flops = eng_pps * float(res.n_rhs.mean()) * _rhs_flops(m.rhs_source)
    return {
        "engine_patients_per_s": eng_pps,
        "roadrunner_patients_per_s": rr_pps,
        "speedup": eng_pps / rr_pps,
        "engine_max_err": eng_err,
        "roadrunner_max_err": rr_err,
        "rhs_per_patient": float(res.n_rhs.mean()),
        "steps_per_patient": float(res.n_steps.mean() + res.n_rejected.mean()),
        "fraction_of_flop_limit": flops / measure_flop_peak(0.5, threads),
        "threads": threads,
    }


if __name__ == "__main__":  # pragma: no cover - manual benchmark
    import json
    import sys

    kw = {}
    for arg in sys.argv[1:]:
        key, _, val = arg.partition("=")
        kw[key] = val if key == "method" else float(val) if "tol" in key else int(val)
    print(json.dumps(compare_on_test_model(**kw), indent=2))
