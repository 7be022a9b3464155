"""Kernel building: cache file, atomic write, reuse across processes, source validation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from allocart.engine import build_kernel, kernel_cache_dir
from allocart.errors import SolverError

DECAY_SRC = """
import math

N_STATES = 1
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = -p[0] * y[0]
"""


def test_cache_file_named_by_hash(decay_kernel):
    path = decay_kernel.__file__
    assert os.path.dirname(path) == str(kernel_cache_dir())
    assert os.path.basename(path).startswith("allocart_kernel_test_decay_")
    assert build_kernel(DECAY_SRC, "test_decay") is decay_kernel
    other = build_kernel(DECAY_SRC + "\n# changed\n", "test_decay")
    assert other.__file__ != path
    assert not [f for f in os.listdir(kernel_cache_dir()) if f.endswith(".tmp")]


def test_fresh_process_loads_from_numba_cache(decay_kernel):
    import numpy as np

    from allocart.engine import solve_batch

    # Make sure this process compiled (and cached) the kernel.
    solve_batch(decay_kernel, np.ones((1, 1)), np.ones((1, 1)), [0.0, 1.0], t0=0.0)
    code = textwrap.dedent(f"""
        import numpy as np
        from allocart.engine import build_kernel, solve_batch
        k = build_kernel({DECAY_SRC!r}, "test_decay")
        solve_batch(k, np.ones((1, 1)), np.ones((1, 1)), [0.0, 1.0], t0=0.0)
        s = k.solve_all.stats
        print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    # numba's own account, not a wall time: the integrator came from the on-disk cache and
    # nothing was compiled in the fresh process.
    hits, misses = map(int, out.stdout.strip().splitlines()[-1].split())
    assert (hits, misses) == (1, 0)


@pytest.mark.parametrize(
    "src,match",
    [
        ("def rhs(t, y, p, dydt):\n    pass\n", "missing: N_STATES, N_PARAMS"),
        ("N_STATES = 1\nN_PARAMS = 1\ndef rhs(t, y, dydt):\n    pass\n", "def rhs"),
        ("N_STATES = 1\nN_PARAMS = 1\ndef rhs(t, y, p, dydt):\n  pass\n pass\n", "not valid"),
    ],
)
def test_bad_sources_rejected(src, match):
    with pytest.raises(SolverError, match=match):
        build_kernel(src, "bad")


def test_bad_name_rejected():
    with pytest.raises(SolverError, match="kernel name"):
        build_kernel(DECAY_SRC, "../evil")
