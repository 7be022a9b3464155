"""Fixtures for the engine tests: small models compiled once per session.

Kernels are cached in a per-user directory under the system temporary directory (unless
ALLOCART_CACHE_DIR is set), so repeated test runs load compiled code instead of compiling.
"""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault(
    "ALLOCART_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"allocart-test-kernels-{os.getuid()}"),
)

from allocart.engine import build_kernel  # noqa: E402

DECAY_SRC = """
import math

N_STATES = 1
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = -p[0] * y[0]
"""

LINEAR2_SRC = """
N_STATES = 2
N_PARAMS = 4


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0] + p[1] * y[1]
    dydt[1] = p[2] * y[0] + p[3] * y[1]
"""

LOTKA_SRC = """
N_STATES = 2
N_PARAMS = 4


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0] - p[1] * y[0] * y[1]
    dydt[1] = -p[2] * y[1] + p[3] * y[0] * y[1]
"""

VDP_SRC = """
N_STATES = 2
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = y[1]
    dydt[1] = p[0] * (1.0 - y[0] * y[0]) * y[1] - y[0]
"""

# Blows up: y' = p*y with huge p overflows to inf within the horizon.
GROWTH_SRC = """
import math

N_STATES = 1
N_PARAMS = 1


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0]
"""


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


# Three decoupled equations that exercise everything the lane kernel must get right: a log
# (Gompertz growth), an explicit time dependence through exp, and a linear rate that can be
# made to overflow (failure) or stiff (step limit). The lane source is the same right-hand side
# on the lane workspace (parameters, times, states, derivatives; lane-minor).
LANES3_SRC = """
import math

N_STATES = 3
N_PARAMS = 5


def rhs(t, y, p, dydt):
    dydt[0] = p[0] * y[0] * math.log(p[1] / y[0])
    dydt[1] = -p[2] * y[1] + math.exp(-p[3] * t)
    dydt[2] = p[4] * y[2]
"""

_L = 8
_P, _T = 0, 5 * _L
_Y = _T + _L
_D = _Y + 3 * _L
LANES3_LANES_SRC = f"""
LANES = {_L}
LANE_P = {_P}
LANE_T = {_T}
LANE_Y = {_Y}
LANE_D = {_D}
LANE_END = {_D + 3 * _L}


def pre_lanes(w):
    pass


def rhs_lanes(w):
    for l in range(LANES):
        t = w[{_T} + l]
        y0 = w[{_Y} + l]
        y1 = w[{_Y + _L} + l]
        y2 = w[{_Y + 2 * _L} + l]
        w[{_D} + l] = w[{_P} + l] * y0 * _vlog(w[{_P + _L} + l] / y0)
        w[{_D + _L} + l] = -w[{_P + 2 * _L} + l] * y1 + _vexp(-w[{_P + 3 * _L} + l] * t)
        w[{_D + 2 * _L} + l] = w[{_P + 4 * _L} + l] * y2
"""


@pytest.fixture(scope="session")
def lanes3_kernel():
    return build_kernel(LANES3_SRC, "test_lanes3", LANES3_LANES_SRC)
