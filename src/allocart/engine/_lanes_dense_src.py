"""Lane solver kernel, after the step: dense output and moving the accepted lanes on.

Part of the lane kernel (see ``_lanes_src.py``, whose workspace layout it uses): outputs
inside accepted steps from Hairer's CONTD5 interpolant (and the exact-decay state's own
interpolant), then ``y <- y_new`` and ``k1 <- k7`` as vector selects (docs/engine.md,
"SIMD lanes").
"""

# ruff: noqa: F821  (LANES, LANE_*, N_STATES, IF_STATE and the workspace offsets come from the
# sources compiled before this one into the same module)

import numba

from allocart.engine._dopri5 import DOPRI_C
from allocart.engine._vmath import vexp as _vexp


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lane_dense_output(W, pid, j, t, t_new, t_out, out, any_if):
    """Outputs strictly inside ``(t, t_new)`` of the accepted lanes from the dense output
    (Hairer's CONTD5; exact decay plus a quadratic for the exact-decay state), one output time
    per lane and round, all lanes at once; advances each lane's output index ``j``."""
    n = N_STATES
    L = LANES
    n_out = t_out.shape[0]
    if any_if:
        # Dense output of the exact-decay state: exact decay plus the response to the
        # quadratic through N(t) - N(t_n) at t_n, the third stage and t_new (N = f + lam y),
        # then a linear correction to meet y_new at the end of the step. Computed for
        # every lane without branches (so that the loop is vector code, exp included) and
        # used only where _WIFD_USE is set; the other lanes' values (possibly inf or NaN,
        # e.g. z = 0 for an idle lane) are never read.
        for l in range(L):
            qq = IF_STATE * L + l
            lam = W[_WIFL + l]
            hl = W[_WIFH + l]
            n0 = W[_WIFN + l]
            a3 = W[_WIFK3 + l] + lam * W[_WIFY + 2 * L + l] - n0
            a7 = W[LANE_D + qq] + lam * W[_WYN + qq] - n0
            bq = (a3 - DOPRI_C[2] * a7) / (DOPRI_C[2] * DOPRI_C[2] - DOPRI_C[2])
            aq = a7 - bq
            v0 = W[_WY + qq] - W[_WIFS + l]
            z = lam * hl
            ez = _vexp(-z)
            den1 = z * lam
            den2 = z * z * lam
            yend = (
                ez * v0
                + W[_WIFS + l]
                + (aq * (z - 1.0 + ez) / den1 + bq * (z * z - 2.0 * z + 2.0 - 2.0 * ez) / den2)
            )
            W[_WIFD + l] = v0
            W[_WIFD + L + l] = aq
            W[_WIFD + 2 * L + l] = bq
            W[_WIFD + 3 * L + l] = z
            W[_WIFD + 4 * L + l] = den1
            W[_WIFD + 5 * L + l] = den2
            W[_WIFD + 6 * L + l] = W[_WYN + qq] - yend
            use = W[_WIFM + l] != 0.0 and W[_WMASK + l] != 0.0
            W[_WIFD_USE + l] = 1.0 if use else 0.0
    # One output time per lane and round, interpolated for all lanes at once; lanes
    # without an output in this round interpolate at s = 0 (never stored).
    while True:
        n_round = 0
        for l in range(L):
            W[_WDS + l] = 0.0
            if pid[l] >= 0 and W[_WMASK + l] != 0.0:
                jj = j[l]
                if jj < n_out and t_out[jj] < t_new[l]:
                    W[_WDS + l] = (t_out[jj] - t[l]) / W[_WH + l]
                    n_round += 1
        if n_round == 0:
            break
        for q in range(L, _NL):
            W[_WDS + q] = W[_WDS + q - L]
        for q in range(_NL):
            sq = W[_WDS + q]
            s1 = 1.0 - sq
            W[_WDV + q] = W[_WY + q] + sq * (
                W[_WDA + q] + s1 * (W[_WDB + q] + sq * (W[_WDC + q] + s1 * W[_WDD + q]))
            )
        if any_if:
            # Branch-free over lanes, like the coefficients above.
            for l in range(L):
                sq = W[_WDS + l]
                zq = W[_WIFD + 3 * L + l] * sq
                ez = _vexp(-zq)
                # p(tau) = aq*theta + bq*theta**2, theta = tau/h = zq/z
                v = (
                    ez * W[_WIFD + l]
                    + W[_WIFS + l]
                    + (
                        W[_WIFD + L + l] * (zq - 1.0 + ez) / W[_WIFD + 4 * L + l]
                        + W[_WIFD + 2 * L + l]
                        * (zq * zq - 2.0 * zq + 2.0 - 2.0 * ez)
                        / W[_WIFD + 5 * L + l]
                    )
                )
                v = v + sq * W[_WIFD + 6 * L + l]
                qd = _WDV + IF_STATE * L + l
                W[qd] = v if W[_WIFD_USE + l] != 0.0 else W[qd]
        for l in range(L):
            k = pid[l]
            if k < 0 or W[_WMASK + l] == 0.0:
                continue
            jj = j[l]
            if jj < n_out and t_out[jj] < t_new[l]:
                for i in range(n):
                    out[k, jj, i] = W[_WDV + i * L + l]
                j[l] = jj + 1


@numba.njit(cache=True, error_model="numpy", inline="always")
def _lane_advance(W):
    """Accepted lanes move on: ``y <- y_new``, ``k1 <- k7`` (FSAL), as vector selects."""
    L = LANES
    for q in range(L, _NL):
        W[_WMASK + q] = W[_WMASK + q - L]
    # Both operands are loaded before the choice, so that LLVM sees a select and a plain
    # store (vector code) instead of a conditional store (a scalar loop with branches).
    for q in range(_NL):
        take = W[_WMASK + q] != 0.0
        y_old = W[_WY + q]
        y_new = W[_WYN + q]
        k_old = W[_WK1 + q]
        k_new = W[LANE_D + q]
        W[_WY + q] = y_new if take else y_old
        W[_WK1 + q] = k_new if take else k_old
