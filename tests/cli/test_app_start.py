"""The command line starts without loading the heavy libraries its commands use."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numba", "jax", "numpyro", "duckdb", "sympy", "dash", "pandas", "matplotlib")


def test_help_loads_no_heavy_library():
    code = (
        f"import sys, allocart.cli.app; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loaded at start: {out.stdout.strip()}"
