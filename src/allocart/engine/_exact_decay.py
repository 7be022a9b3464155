"""When a solver kernel integrates its stiff state by exact decay, shared by the kernels.

The model's stiff state (IL-6) decays at a parameter-only rate ``lam``. Once the step of a
patient has been at the explicit stability limit of that decay (``lam * h >= 3``) for
``IF_ON_STEPS`` accepted steps in a row, the kernels integrate that state with the shifted
integrating-factor (generalised Lawson) form of the Dormand-Prince tableau, exact for decay
towards a constant; back to plain DOPRI5 when ``lam * h < 2`` (docs/engine.md, "Exact decay of
the stiff state").
"""

import numba

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators

__all__ = ["IF_ON_STEPS", "MAX_DECAY_EXPONENT", "exact_decay_switch"]

IF_ON_STEPS = 15
"""Accepted steps in a row at the stability limit before exact decay takes over."""
MAX_DECAY_EXPONENT = 500.0
"""Largest ``lam * h`` of a step in exact-decay form: keeps ``exp(-lam c h)`` far from underflow."""
_ON_AT = 3.0  # lam * h at (beyond) the explicit stability limit of the decay
_OFF_BELOW = 2.0  # lam * h well inside it


@numba.njit(cache=True, error_model="numpy", inline="always")
def exact_decay_switch(x, on, count):
    """Exact decay's state after an accepted step with ``x = lam * h``.

    Returns ``(on, count)``: whether the next steps use exact decay, and the accepted steps in
    a row so far at the stability limit.
    """
    if x >= _ON_AT:
        count += 1
        if count >= IF_ON_STEPS:
            on = True
    elif x < _OFF_BELOW:
        on = False
        count = 0
    else:
        count = 0
    return on, count
