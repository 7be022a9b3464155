"""SIMD lane solver kernel: Dormand-Prince 5(4) for groups of ``LANES`` patients at once.

Like ``_kernel_src.py`` this file is never imported on its own: ``build_kernel`` appends it,
followed by the other lane templates (``_lanes_step_src.py``: the step of all lanes;
``_lanes_dense_src.py``: dense output and moving on; ``_lanes_group_src.py``: the lanes'
bookkeeping and the entry point ``solve_all_lanes``), after a model's lane right-hand side
``rhs_lanes(w)`` (see :func:`allocart.model.codegen.rhs_source_lanes`), which they call. This
one compiles the right-hand side and lays out the workspace.

Every lane holds one patient with its own time, step size, controller memory, event pointer
and output pointer; nothing is done in lockstep. Only the arithmetic is shared: each stage
evaluates the right-hand side and the stage combinations for all lanes with one vector
instruction per operation. Per-lane decisions (accept/reject, dense output, events, failure)
are scalar. A lane whose patient finishes or fails takes the next patient at once (from a
counter shared by the groups of all threads); lanes left without patients at the end keep
computing harmless values that are never read.

Layout: everything the vector loops touch lives in one flat float64 workspace ``W`` per
group, at compile-time constant offsets (state ``i`` of lane ``l`` at ``BASE + i * LANES + l``).
LLVM vectorises a loop only if it can prove that its stores do not overlap its loads; with
separate arrays it would need run-time overlap checks, which it refuses for loops as short as
the 8 lanes, so the layout is what makes the arithmetic SIMD. The workspace starts on a
64-byte boundary (every block is a multiple of 8 doubles), so no vector straddles two cache
lines.

Lanes never mix: no operation combines two lanes, so a patient's result is bitwise the same
whichever lane it occupies and whoever shares its group, i.e. independent of batch size,
chunking and threads. A batch of one patient runs through the same code.

The method, controller, error norm, initial step, events and failure handling are those of
``_integrate_patient`` in ``_kernel_src.py`` (method code 0); see ``docs/engine.md``.
"""

# ruff: noqa: F821  (rhs_lanes, pre_lanes, LANES, LANE_*, N_STATES come from the lane
# right-hand side compiled into the same module)

import numba

from allocart.engine._vmath import vexp as _vexp  # the names the lane right-hand side calls
from allocart.engine._vmath import vlog as _vlog

# The lane right-hand side: contraction into FMAs and reciprocals, but no reassociation (see
# the note on vexp in engine/_vmath.py); with the loop vectorised this matters far less than for
# _rhs.
_LANE_FASTMATH = {"contract", "arcp", "nsz"}
_rhs_lanes = numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)(rhs_lanes)
_pre_lanes = numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)(pre_lanes)

# ---- workspace layout (offsets in doubles); the right-hand side's block comes first ----
_NL = N_STATES * LANES
_WY = LANE_END  # state at the lane's current time (after the right-hand side's blocks)
_WYN = _WY + _NL  # 5th-order solution at the end of the step
_WK1 = _WYN + _NL  # stage derivatives; the 7th (FSAL) stage stays in the LANE_D block
_WK2 = _WK1 + _NL
_WK3 = _WK2 + _NL
_WK4 = _WK3 + _NL
_WK5 = _WK4 + _NL
_WK6 = _WK5 + _NL
_WH = _WK6 + _NL  # step size of each lane, repeated for every state
_WATOL = _WH + _NL  # absolute tolerance of each state, repeated for every lane
_WERR = _WATOL + _NL  # squared scaled error, per state and lane
_WMASK = _WERR + _NL  # 1.0 where the lane's step was accepted, repeated for every state
# Dense output (Hairer's CONTD5) reuses blocks that are free once the error is known, which
# keeps the workspace (about 44 kB for the model) inside a 48 kB L1 data cache.
_WDA = _WK2  # y1 - y0
_WDB = _WK3  # h k1 - (y1 - y0)
_WDC = _WK4  # (y1 - y0) - h k7 - bspl
_WDD = _WK5  # h sum(d_i k_i)
_WDS = _WERR  # the output's fraction s of the step, repeated for every state
_WDV = _WK6  # interpolated states
_WEN = _WMASK + _NL  # error norm per lane
_WFO = _WEN + LANES  # controller memory per lane (err_old)
_WPW1 = _WFO + LANES  # en ** _EXPO1 per lane
_WPW2 = _WPW1 + LANES  # fac_old ** _BETA per lane
_WIFM = _WPW2 + LANES  # exact-decay state (IF_STATE): 1.0 where the lane's step uses it
_WIFL = _WIFM + LANES  # its decay rate lam
_WIFS = _WIFL + LANES  # shift N(t_n) / lam (the quasi-steady state at the step's start)
_WIFN = _WIFS + LANES  # N(t_n) = f + lam * y at the step's start
_WIFH = _WIFN + LANES  # step size
_WIFG = _WIFH + LANES  # exp(-lam c_i h), i = 0..6
_WIFY = _WIFG + 7 * LANES  # stage values of the state, i = 0..6
_WIFD = _WIFY + 7 * LANES  # its dense-output coefficients, 7 rows (see the dense output)
_WIFD_USE = _WIFD + 7 * LANES  # 1.0 where those coefficients apply to the lane's step
_WIFE = _WIFD_USE + LANES  # its squared scaled error in exact-decay form
_WIFK3 = _WIFE + LANES  # its third stage derivative (for the dense output)
_WSIZE = _WIFK3 + LANES


@numba.njit(cache=True, error_model="numpy")
def vexp_jit(x):
    """:func:`_vexp` as the lane right-hand side sees it, for testing."""
    return _vexp_rhs(x)


@numba.njit(cache=True, error_model="numpy")
def vlog_jit(x):
    """:func:`_vlog` as the lane right-hand side sees it, for testing."""
    return _vlog_rhs(x)


@numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)
def _vexp_rhs(x):
    return _vexp(x)


@numba.njit(cache=True, error_model="numpy", fastmath=_LANE_FASTMATH)
def _vlog_rhs(x):
    return _vlog(x)


@numba.njit(cache=True, error_model="numpy")
def rhs_lanes_jit(w):
    """Compiled lane right-hand side on a workspace (see ``rhs_source_lanes``), for testing."""
    _rhs_lanes(w)


@numba.njit(cache=True, error_model="numpy")
def pre_lanes_jit(w):
    """Compiled per-patient constants of the lane right-hand side, for testing."""
    _pre_lanes(w)
