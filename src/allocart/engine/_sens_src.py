"""Forward-sensitivity solver kernel source, compiled with one generated ``rhs_sens``.

Never imported on its own: :func:`allocart.engine.sensitivity.sensitivity_kernel` appends this
text to the source made by :func:`allocart.model.sensitivity.sensitivity_source` (which defines
``rhs_sens(t, z, p, D, dz)``, ``N_STATES``, ``N_PARAMS`` and ``N_Q``), writes the file to the
kernel cache and imports it, so numba's on-disk cache serves later processes.

Method: Dormand-Prince 5(4) with FSAL and the PI controller of Hairer, Norsett & Wanner,
*Solving Ordinary Differential Equations I*, 2nd ed. (1993), Sec. II.4-II.5, on the augmented
state ``z = [y, dy/dtheta_1, ..., dy/dtheta_K]``. Only the states enter the error norm (the
"partial error control" of CVODES): the sensitivities follow the same steps, and their
accuracy is that of the linearised system along the accepted solution. The integration stops
exactly at every event and observation time; events add their amounts (and the amounts'
derivatives) to ``z``, and observations see the state after the events at their time.
Each patient is integrated on its own, so results do not depend on how a batch is split.
"""

# ruff: noqa: F821  (rhs_sens, N_STATES come from the generated source above)

import math

import numba
import numpy as np

_FASTMATH = {"contract", "reassoc", "nsz", "arcp"}
_rhs_s = numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)(rhs_sens)

_OK = 0
_MAX_STEPS = 1
_NON_FINITE = 2
_STEP_UNDERFLOW = 3

_C2 = 1.0 / 5.0
_C3 = 3.0 / 10.0
_C4 = 4.0 / 5.0
_C5 = 8.0 / 9.0
_A21 = 1.0 / 5.0
_A31 = 3.0 / 40.0
_A32 = 9.0 / 40.0
_A41 = 44.0 / 45.0
_A42 = -56.0 / 15.0
_A43 = 32.0 / 9.0
_A51 = 19372.0 / 6561.0
_A52 = -25360.0 / 2187.0
_A53 = 64448.0 / 6561.0
_A54 = -212.0 / 729.0
_A61 = 9017.0 / 3168.0
_A62 = -355.0 / 33.0
_A63 = 46732.0 / 5247.0
_A64 = 49.0 / 176.0
_A65 = -5103.0 / 18656.0
_A71 = 35.0 / 384.0
_A73 = 500.0 / 1113.0
_A74 = 125.0 / 192.0
_A75 = -2187.0 / 6784.0
_A76 = 11.0 / 84.0
_E1 = 71.0 / 57600.0
_E3 = -71.0 / 16695.0
_E4 = 71.0 / 1920.0
_E5 = -17253.0 / 339200.0
_E6 = 22.0 / 525.0
_E7 = -1.0 / 40.0
_BETA = 0.04
_EXPO1 = 0.2 - _BETA * 0.75
_SAFE = 0.9
_FAC_MIN = 0.2
_FAC_MAX = 10.0


@numba.njit(cache=True, error_model="numpy")
def _finite(v, m):
    for i in range(m):
        if not math.isfinite(v[i]):
            return False
    return True


@numba.njit(cache=True, error_model="numpy")
def _integrate(z0, p, D, t0, ev_t, ev_add, obs_t, rtol, atol, max_steps, out):
    """One patient; fills ``out`` (n_obs, NZ). Returns ``(status, accepted steps)``."""
    nz = z0.shape[0]
    ns = N_STATES
    n_ev = ev_t.shape[0]
    n_obs = obs_t.shape[0]
    z = z0.copy()
    znew = np.empty(nz)
    ztmp = np.empty(nz)
    k1 = np.empty(nz)
    k2 = np.empty(nz)
    k3 = np.empty(nz)
    k4 = np.empty(nz)
    k5 = np.empty(nz)
    k6 = np.empty(nz)
    k7 = np.empty(nz)
    eps = 2.220446049250313e-16
    t = t0
    e = 0
    j = 0
    while e < n_ev and ev_t[e] <= t:
        for i in range(nz):
            z[i] += ev_add[e, i]
        e += 1
    while j < n_obs and obs_t[j] <= t:
        for i in range(nz):
            out[j, i] = z[i]
        j += 1
    n_acc = 0
    n_try = 0
    h = -1.0
    fac_old = 1e-4
    while j < n_obs:
        t_seg = obs_t[j]
        if e < n_ev and ev_t[e] < t_seg:
            t_seg = ev_t[e]
        _rhs_s(t, z, p, D, k1)
        if not _finite(k1, nz):
            return _NON_FINITE, n_acc
        if h <= 0.0:
            # Hairer's HINIT, first part: step from the ratio of state to derivative norms.
            dnf = 0.0
            dny = 0.0
            for i in range(ns):
                sk = atol[i] + rtol * abs(z[i])
                dnf += (k1[i] / sk) ** 2
                dny += (z[i] / sk) ** 2
            h = 1e-6 if (dnf <= 1e-10 or dny <= 1e-10) else 0.01 * math.sqrt(dny / dnf)
        reject = False
        while t < t_seg:
            if n_try >= max_steps:
                return _MAX_STEPS, n_acc
            if h < 16.0 * eps * max(abs(t), 1.0):
                return _STEP_UNDERFLOW, n_acc
            last = False
            h_before = h
            if t + 1.01 * h >= t_seg:
                h = t_seg - t
                last = True
            n_try += 1
            for i in range(nz):
                ztmp[i] = z[i] + h * _A21 * k1[i]
            _rhs_s(t + _C2 * h, ztmp, p, D, k2)
            for i in range(nz):
                ztmp[i] = z[i] + h * (_A31 * k1[i] + _A32 * k2[i])
            _rhs_s(t + _C3 * h, ztmp, p, D, k3)
            for i in range(nz):
                ztmp[i] = z[i] + h * (_A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i])
            _rhs_s(t + _C4 * h, ztmp, p, D, k4)
            for i in range(nz):
                ztmp[i] = z[i] + h * (_A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i])
            _rhs_s(t + _C5 * h, ztmp, p, D, k5)
            for i in range(nz):
                ztmp[i] = z[i] + h * (_A61 * k1[i] + _A62 * k2[i] + _A63 * k3[i] + _A64 * k4[i] + _A65 * k5[i])
            t_new = t_seg if last else t + h
            _rhs_s(t_new, ztmp, p, D, k6)
            for i in range(nz):
                znew[i] = z[i] + h * (_A71 * k1[i] + _A73 * k3[i] + _A74 * k4[i] + _A75 * k5[i] + _A76 * k6[i])
            _rhs_s(t_new, znew, p, D, k7)
            acc = 0.0
            poison = 0.0
            for i in range(ns):
                er = h * (_E1 * k1[i] + _E3 * k3[i] + _E4 * k4[i] + _E5 * k5[i] + _E6 * k6[i] + _E7 * k7[i])
                sk = atol[i] + rtol * max(abs(z[i]), abs(znew[i]))
                acc += (er / sk) ** 2
                poison += znew[i] * 0.0
            for i in range(ns, nz):
                poison += znew[i] * 0.0 + k7[i] * 0.0
            err = math.sqrt(acc / ns) + poison
            if not math.isfinite(err):
                h *= 0.25
                reject = True
                continue
            fac11 = err**_EXPO1
            fac = fac11 / (fac_old**_BETA)
            fac = max(1.0 / _FAC_MAX, min(1.0 / _FAC_MIN, fac / _SAFE))
            h_new = h / fac
            if err <= 1.0:
                fac_old = max(err, 1e-4)
                n_acc += 1
                for i in range(nz):
                    z[i] = znew[i]
                    k1[i] = k7[i]
                t = t_new
                if reject:
                    h_new = min(h_new, h)
                reject = False
                # After landing on a stop, carry the step that was proposed before it was
                # shortened, not one inferred from the short step.
                h = h_before if last else h_new
            else:
                h = h / min(1.0 / _FAC_MIN, fac11 / _SAFE)
                reject = True
        t = t_seg
        while e < n_ev and ev_t[e] <= t:
            for i in range(nz):
                z[i] += ev_add[e, i]
            e += 1
        while j < n_obs and obs_t[j] <= t:
            for i in range(nz):
                out[j, i] = z[i]
            j += 1
    return _OK, n_acc


@numba.njit(cache=True, parallel=True, error_model="numpy")
def solve_sens_all(z0, p, D, t0, ev_t, ev_add, obs_t, rtol, atol, max_steps, out, status, n_steps):
    """Integrate every patient (rows of ``z0``) in parallel; see :func:`_integrate`."""
    for k in numba.prange(z0.shape[0]):
        st, na = _integrate(z0[k], p[k], D[k], t0[k], ev_t[k], ev_add[k], obs_t[k], rtol, atol, max_steps, out[k])
        status[k] = st
        n_steps[k] = na
