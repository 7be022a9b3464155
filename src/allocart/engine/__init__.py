"""Batched ODE solver engine: compiled per-patient adaptive integration of many patients.

See ``docs/engine.md`` for the methods, event semantics and measured performance.
"""

from allocart.engine.compile import build_kernel, kernel_cache_dir
from allocart.engine.events import OP_ADD, OP_MULTIPLY, OP_SET, EventTable
from allocart.engine.solve import (
    METHODS,
    STATUS_MAX_STEPS,
    STATUS_NON_FINITE,
    STATUS_OK,
    STATUS_STEP_UNDERFLOW,
    STATUS_TEXT,
    BatchResult,
    reduce_batch,
    solve_batch,
)

__all__ = [
    "build_kernel",
    "kernel_cache_dir",
    "EventTable",
    "OP_ADD",
    "OP_MULTIPLY",
    "OP_SET",
    "BatchResult",
    "solve_batch",
    "reduce_batch",
    "METHODS",
    "STATUS_OK",
    "STATUS_MAX_STEPS",
    "STATUS_NON_FINITE",
    "STATUS_STEP_UNDERFLOW",
    "STATUS_TEXT",
]
