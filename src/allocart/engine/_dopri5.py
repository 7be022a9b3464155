"""The Dormand-Prince 5(4) method's coefficients and step-size controller constants.

Shared by the solver kernel templates (``_kernel_src.py``, ``_lanes_src.py``, ``_sens_src.py``),
which import them into the generated kernel modules; numba reads module-level floats and
arrays as compile-time constants.

References
----------
Hairer E, Norsett SP, Wanner G. Solving Ordinary Differential Equations I, 2nd ed. Springer
1993, Table II.5.5 (tableau), Sec. II.6 (dense output CONTD5), Sec. IV.2 (PI controller).
"""

import numpy as np

# Dormand-Prince 5(4) tableau (Hairer-Norsett-Wanner I, Table II.5.5).
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
# Difference between the 5th- and 4th-order weights: the local error estimate.
_E1 = 71.0 / 57600.0
_E3 = -71.0 / 16695.0
_E4 = 71.0 / 1920.0
_E5 = -17253.0 / 339200.0
_E6 = 22.0 / 525.0
_E7 = -1.0 / 40.0
# Dense output of order 4 (Hairer's CONTD5).
_D1 = -12715105075.0 / 11282082432.0
_D3 = 87487479700.0 / 32700410799.0
_D4 = -10690763975.0 / 1880347072.0
_D5 = 701980252875.0 / 199316789632.0
_D6 = -1453857185.0 / 822651844.0
_D7 = 69997945.0 / 29380423.0

# PI controller of DOPRI5: beta = 0.04 damps the step-size oscillation that a pure
# I controller shows when the step is limited by stability (our quiet phases).
_BETA = 0.04
_EXPO1 = 0.2 - _BETA * 0.75
_SAFE = 0.9
_FAC_MIN = 0.2  # the step may shrink at most 5x after one step
_FAC_MAX = 10.0  # and grow at most 10x

# The tableau as arrays: row i (1..5) gives the input of stage i + 1, row 6 the new value.
DOPRI_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [_A21, 0.0, 0.0, 0.0, 0.0, 0.0],
        [_A31, _A32, 0.0, 0.0, 0.0, 0.0],
        [_A41, _A42, _A43, 0.0, 0.0, 0.0],
        [_A51, _A52, _A53, _A54, 0.0, 0.0],
        [_A61, _A62, _A63, _A64, _A65, 0.0],
        [_A71, 0.0, _A73, _A74, _A75, _A76],
    ]
)
DOPRI_C = np.array([0.0, _C2, _C3, _C4, _C5, 1.0, 1.0])
DOPRI_E = np.array([_E1, 0.0, _E3, _E4, _E5, _E6, _E7])
