"""Machine limit of the engine benchmarks: achieved double-precision FLOP/s of RHS-like scalar
arithmetic on all numba threads, and a FLOP count of a right-hand side."""

from __future__ import annotations

import ast
import math
import time

import numba
import numpy as np

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators

__all__ = ["measure_flop_peak", "rhs_flops"]


def _flop_kernel():

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
                # 4 multiply-adds (2 flops each) per chain and iteration, in a loop of constant
                # trip count that LLVM unrolls, then two divides.
                for _rep in range(4):
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
                    for _rep in range(16):
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


def rhs_flops(rhs_source: str) -> int:
    """Arithmetic operators in the right-hand side body: a rough FLOP count per evaluation."""

    tree = ast.parse(rhs_source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "rhs")
    count = 0
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp):
            count += 1
        elif isinstance(node, ast.Call):
            count += 10  # exp/log: roughly ten flops each
    return count
