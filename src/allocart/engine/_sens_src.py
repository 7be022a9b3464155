"""Forward-sensitivity solver kernel source, compiled with one generated ``rhs_sens``.

Never imported on its own: :func:`allocart.engine.sensitivity.sensitivity_kernel` appends this
text to the source made by :func:`allocart.model.sensitivity.sensitivity_source` (which defines
``rhs_sens(t, z, p, D, dz)``, ``N_STATES``, ``N_PARAMS`` and ``N_Q``), writes the file to the
kernel cache and imports it, so numba's on-disk cache serves later processes.

Method: Dormand-Prince 5(4) with FSAL and the PI controller of Hairer, Norsett & Wanner,
*Solving Ordinary Differential Equations I*, 2nd ed. (1993), Sec. II.4-II.5, on the augmented
state ``z = [y, dy/dtheta_1, ..., dy/dtheta_K]``. The states and each direction's
sensitivities enter the error control (as the full error control of CVODES, ``errconS``), the
sensitivities at a tolerance ``_SENS_TOL`` times looser than the states': a step is accepted
when the largest of those K + 1 weighted norms is within tolerance. The integration stops
exactly at every event and observation time; events add their amounts (and the amounts'
derivatives) to ``z``, and observations see the state after the events at their time.
Each patient is integrated on its own, so results do not depend on how a batch is split.
"""

# ruff: noqa: F821  (rhs_sens, decay_rate, N_STATES, KP, IF_STATE come from the generated source)

import math

import numba
import numpy as np

# The right-hand side's flags of the per-patient kernel, without "reassoc" for the same reason
# (a compiled and a cached kernel must give the same numbers; see _RHS_FASTMATH there).
_FASTMATH = {"contract", "nsz", "arcp"}
_rhs_s = numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)(rhs_sens)
_decay_rate = numba.njit(cache=True, error_model="numpy")(decay_rate)

from allocart.engine._dopri5 import (  # noqa: E402  (Dormand-Prince 5(4) and its controller)
    _BETA,
    _EXPO1,
    DOPRI_A,
    DOPRI_C,
    DOPRI_E,
    accepted_factor,
    error_estimate,
    first_guess,
    rejected_step,
    solution,
    stage_3,
    stage_4,
    stage_5,
    stage_6,
)
from allocart.engine._exact_decay import MAX_DECAY_EXPONENT, exact_decay_switch  # noqa: E402
from allocart.engine._stops import all_finite, record_outputs  # noqa: E402
from allocart.engine.status import (  # noqa: E402
    STATUS_MAX_STEPS as _MAX_STEPS,
    STATUS_NON_FINITE as _NON_FINITE,
    STATUS_OK as _OK,
    STATUS_STEP_UNDERFLOW as _STEP_UNDERFLOW,
)

# Exact decay (docs/engine.md, "Exact decay of the stiff state"; when: engine/_exact_decay.py):
# the model's stiff state IF_STATE and its sensitivities share the parameter-only decay rate
# lam, and these components take the shifted integrating-factor form of the same tableau.
if IF_STATE >= 0:
    _DC = np.array([IF_STATE] + [N_STATES + IF_STATE * KP + j for j in range(KP)], dtype=np.int64)
else:
    _DC = np.zeros(0, dtype=np.int64)

# Sensitivities' error tolerance relative to the states'. Where the states' control chooses
# the steps, sensitivities come out within 3e-5 of a tight solve (tests/engine/test_sensitivity.py);
# looser by 100, their own control takes over only where they would be lost (a step beyond the
# stability limit of a mode the states no longer excite), and costs 3% more steps than none
# (441 against 430 accepted steps per patient-year, 15 simulated patients, measured). At the
# states' own tolerance it costs 49% more (638).
_SENS_TOL = 100.0


@numba.njit(cache=True, error_model="numpy")
def _stop(t, z, ev_t, ev_add, obs_t, out, e, j):
    """At a stop ``t``: add the events at or before ``t`` (from ``e`` on), then record the
    observations at or before ``t`` (from ``j`` on). Returns the new ``(e, j)``."""
    while e < ev_t.shape[0] and ev_t[e] <= t:
        for i in range(z.shape[0]):
            z[i] += ev_add[e, i]
        e += 1
    return e, record_outputs(z, t, obs_t, out, j)


@numba.njit(cache=True, error_model="numpy")
def _decay_stage(i, z, zt, kk, ify, g, n0, sh, lam, h):
    """Stage ``i`` (1..6) of the exact-decay components: overwrites them in ``zt``.

    ``Y_i = e^(-lam c_i h) (y_n - s) + s + h sum_j a_ij e^(-lam (c_i - c_j) h) (k_j + lam Y_j - N0)``
    with ``N0 = f(y_n) + lam y_n`` and the shift ``s = N0 / lam``.
    """
    for c in range(_DC.shape[0]):
        q = _DC[c]
        acc = 0.0
        for jj in range(i):
            acc += DOPRI_A[i, jj] * (g[i] / g[jj]) * (kk[jj, q] + lam * ify[jj, c] - n0[c])
        v = g[i] * (z[q] - sh[c]) + sh[c] + h * acc
        zt[q] = v
        ify[i, c] = v


@numba.njit(cache=True, error_model="numpy", inline="always")
def _decay_error(q, c, znew, kk, ify, g, n0, lam, h):
    """Error estimate of component ``q`` (exact-decay column ``c``) in the exact-decay form."""
    er = DOPRI_E[6] * (kk[6, q] + lam * znew[q] - n0[c])
    for jj in range(6):
        er += DOPRI_E[jj] * (g[6] / g[jj]) * (kk[jj, q] + lam * ify[jj, c] - n0[c])
    return er * h


@numba.njit(cache=True, error_model="numpy")
def _integrate(z0, p, D, t0, ev_t, ev_add, obs_t, rtol, atol, max_steps, out):
    """One patient; fills ``out`` (n_obs, NZ). Returns ``(status, accepted steps)``."""
    nz = z0.shape[0]
    ns = N_STATES
    nd = _DC.shape[0]
    n_ev = ev_t.shape[0]
    n_obs = obs_t.shape[0]
    z = z0.copy()
    znew = np.empty(nz)
    ztmp = np.empty(nz)
    kk = np.empty((7, nz))
    ify = np.empty((7, max(nd, 1)))
    n0 = np.empty(max(nd, 1))
    sh = np.empty(max(nd, 1))
    g = np.ones(7)
    lam = _decay_rate(p) if nd > 0 else 0.0
    if_on = False
    if_cnt = 0
    eps = 2.220446049250313e-16
    t = t0
    e, j = _stop(t, z, ev_t, ev_add, obs_t, out, 0, 0)
    n_acc = 0
    n_try = 0
    h = -1.0
    fac_old = 1e-4
    while j < n_obs:
        t_seg = obs_t[j]
        if e < n_ev and ev_t[e] < t_seg:
            t_seg = ev_t[e]
        _rhs_s(t, z, p, D, kk[0])
        if not all_finite(kk[0], nz):
            return _NON_FINITE, n_acc
        if h <= 0.0:
            # Hairer's HINIT, first part: step from the ratio of state to derivative norms.
            dnf = 0.0
            dny = 0.0
            for i in range(ns):
                sk = atol[i] + rtol * abs(z[i])
                dnf += (kk[0, i] / sk) ** 2
                dny += (z[i] / sk) ** 2
            h = first_guess(dnf, dny)
        reject = False
        while t < t_seg:
            if n_try >= max_steps:
                return _MAX_STEPS, n_acc
            if h < 16.0 * eps * max(abs(t), 1.0):
                return _STEP_UNDERFLOW, n_acc
            on = if_on and lam > 0.0
            if on:
                h = min(h, MAX_DECAY_EXPONENT / lam)
            last = False
            h_before = h
            if t + 1.01 * h >= t_seg:
                h = t_seg - t
                last = True
            n_try += 1
            t_new = t_seg if last else t + h
            if on:
                for i in range(1, 7):
                    g[i] = math.exp(-lam * DOPRI_C[i] * h)
                for c in range(nd):
                    q = _DC[c]
                    n0[c] = kk[0, q] + lam * z[q]
                    sh[c] = n0[c] / lam
                    ify[0, c] = z[q]
            k1 = kk[0]
            k2 = kk[1]
            k3 = kk[2]
            k4 = kk[3]
            k5 = kk[4]
            k6 = kk[5]
            for q in range(nz):
                ztmp[q] = z[q] + h * DOPRI_A[1, 0] * k1[q]
            if on:
                _decay_stage(1, z, ztmp, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t + DOPRI_C[1] * h, ztmp, p, D, k2)
            for q in range(nz):
                ztmp[q] = z[q] + h * stage_3(k1[q], k2[q])
            if on:
                _decay_stage(2, z, ztmp, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t + DOPRI_C[2] * h, ztmp, p, D, k3)
            for q in range(nz):
                ztmp[q] = z[q] + h * stage_4(k1[q], k2[q], k3[q])
            if on:
                _decay_stage(3, z, ztmp, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t + DOPRI_C[3] * h, ztmp, p, D, k4)
            for q in range(nz):
                ztmp[q] = z[q] + h * stage_5(k1[q], k2[q], k3[q], k4[q])
            if on:
                _decay_stage(4, z, ztmp, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t + DOPRI_C[4] * h, ztmp, p, D, k5)
            for q in range(nz):
                ztmp[q] = z[q] + h * stage_6(k1[q], k2[q], k3[q], k4[q], k5[q])
            if on:
                _decay_stage(5, z, ztmp, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t_new, ztmp, p, D, k6)
            for q in range(nz):
                znew[q] = z[q] + h * solution(k1[q], k3[q], k4[q], k5[q], k6[q])
            if on:
                _decay_stage(6, z, znew, kk, ify, g, n0, sh, lam, h)
            _rhs_s(t_new, znew, p, D, kk[6])
            acc = 0.0
            poison = 0.0
            k7 = kk[6]
            for i in range(ns):
                er = error_estimate(h, k1[i], k3[i], k4[i], k5[i], k6[i], k7[i])
                if on and i == IF_STATE:
                    er = _decay_error(i, 0, znew, kk, ify, g, n0, lam, h)
                sk = atol[i] + rtol * max(abs(z[i]), abs(znew[i]))
                acc += (er / sk) ** 2
                poison += znew[i] * 0.0
            err = math.sqrt(acc / ns)
            # Each direction's sensitivities have their own norm, at _SENS_TOL times the
            # states' tolerance, and the step answers to the largest. With the states alone, a
            # patient resting at an equilibrium has a zero error estimate, the step grows past
            # the stability limit of the fast modes, and the sensitivities, which are
            # perturbations of that equilibrium, grow without bound while the states stay put.
            for jd in range(KP):
                acs = 0.0
                for i in range(ns):
                    q = ns + i * KP + jd
                    er = error_estimate(h, k1[q], k3[q], k4[q], k5[q], k6[q], k7[q])
                    if on and i == IF_STATE:
                        er = _decay_error(q, 1 + jd, znew, kk, ify, g, n0, lam, h)
                    sk = _SENS_TOL * (atol[i] + rtol * max(abs(z[q]), abs(znew[q])))
                    acs += (er / sk) ** 2
                    poison += znew[q] * 0.0 + kk[6, q] * 0.0
                err = max(err, math.sqrt(acs / ns))
            err += poison
            if not math.isfinite(err):
                h *= 0.25
                reject = True
                continue
            fac11 = err**_EXPO1
            h_new = h / accepted_factor(fac11, fac_old**_BETA)
            if err <= 1.0:
                fac_old = max(err, 1e-4)
                n_acc += 1
                if nd > 0:
                    if_on, if_cnt = exact_decay_switch(lam * h, if_on, if_cnt)
                for i in range(nz):
                    z[i] = znew[i]
                    kk[0, i] = kk[6, i]
                t = t_new
                if reject:
                    h_new = min(h_new, h)
                reject = False
                # After landing on a stop, carry the step that was proposed before it was
                # shortened, not one inferred from the short step.
                h = h_before if last else h_new
            else:
                h = rejected_step(h, fac11)
                reject = True
        t = t_seg
        e, j = _stop(t, z, ev_t, ev_add, obs_t, out, e, j)
    return _OK, n_acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def solve_sens_serial(
    z0, p, D, t0, ev_t, ev_add, obs_t, rtol, atol, max_steps, out, status, n_steps
):
    """Integrate patients one after another without the GIL (callers run threads of these)."""
    for k in range(z0.shape[0]):
        st, na = _integrate(
            z0[k], p[k], D[k], t0[k], ev_t[k], ev_add[k], obs_t[k], rtol, atol, max_steps, out[k]
        )
        status[k] = st
        n_steps[k] = na
