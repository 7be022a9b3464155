"""Outcome codes of a patient's integration, shared by the solver kernels and their callers.

The compiled kernels import these integers (numba reads them as compile-time constants), so a
status means the same thing in every kernel and in :class:`allocart.engine.BatchResult`.
"""

__all__ = [
    "STATUS_OK",
    "STATUS_MAX_STEPS",
    "STATUS_NON_FINITE",
    "STATUS_STEP_UNDERFLOW",
    "STATUS_TEXT",
]

STATUS_OK = 0
"""Patient integrated to the last output time."""
STATUS_MAX_STEPS = 1
"""``max_steps`` attempted steps were used before the last output time."""
STATUS_NON_FINITE = 2
"""The state or its derivative became NaN or infinite."""
STATUS_STEP_UNDERFLOW = 3
"""The step size fell below 16 machine epsilons of the current time."""
STATUS_TEXT = {
    STATUS_OK: "ok",
    STATUS_MAX_STEPS: "maximum number of steps reached",
    STATUS_NON_FINITE: "state or derivative became non-finite (NaN or inf)",
    STATUS_STEP_UNDERFLOW: "step size underflow (solution too stiff or singular)",
}
