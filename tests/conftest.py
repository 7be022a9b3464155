"""Shared test configuration."""

import os
from pathlib import Path

# Compiled kernels are cached per checkout so repeated test runs skip compilation.
os.environ.setdefault(
    "ALLOCART_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "kernels")
)
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba")
)
