"""Fixtures for the engine tests: small models compiled once per session.

Kernels are cached in a per-user directory under the system temporary directory (unless
ALLOCART_CACHE_DIR is set), so repeated test runs load compiled code instead of compiling.
"""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault(
    "ALLOCART_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"allocart-test-kernels-{os.getuid()}")
)

from allocart.engine import build_kernel  # noqa: E402

DECAY_SRC = '''
import math

N_STATES = 1
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = -p[0] * y[0]
'''

LINEAR2_SRC = '''
N_STATES = 2
N_PARAMS = 4


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0] + p[1] * y[1]
    dydt[1] = p[2] * y[0] + p[3] * y[1]
'''

LOTKA_SRC = '''
N_STATES = 2
N_PARAMS = 4


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0] - p[1] * y[0] * y[1]
    dydt[1] = -p[2] * y[1] + p[3] * y[0] * y[1]
'''

VDP_SRC = '''
N_STATES = 2
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = y[1]
    dydt[1] = p[0] * (1.0 - y[0] * y[0]) * y[1] - y[0]
'''

# Blows up: y' = p*y with huge p overflows to inf within the horizon.
GROWTH_SRC = '''
import math

N_STATES = 1
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0]
'''


@pytest.fixture(scope="session")
def decay_kernel():
    return build_kernel(DECAY_SRC, "test_decay")


@pytest.fixture(scope="session")
def linear2_kernel():
    return build_kernel(LINEAR2_SRC, "test_linear2")


@pytest.fixture(scope="session")
def lotka_kernel():
    return build_kernel(LOTKA_SRC, "test_lotka")


@pytest.fixture(scope="session")
def vdp_kernel():
    return build_kernel(VDP_SRC, "test_vdp")


@pytest.fixture(scope="session")
def growth_kernel():
    return build_kernel(GROWTH_SRC, "test_growth")
