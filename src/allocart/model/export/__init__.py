"""Exports of a scenario to pharmacometric tools: mrgsolve, rxode2 and NONMEM.

Each is generated from the model definition (:mod:`allocart.model.equations`) and the
scenario's dosing, like the numba, JAX and SBML forms; :mod:`allocart.model.export.common`
holds what they share (parameters and their variability, doses on a time axis starting at 0).
"""

from allocart.model.export.common import ExportModel as ExportModel
from allocart.model.export.common import build_export as build_export
from allocart.model.export.mrgsolve import mrgsolve_doses_csv as mrgsolve_doses_csv
from allocart.model.export.mrgsolve import to_mrgsolve as to_mrgsolve
from allocart.model.export.nonmem import nonmem_data_csv as nonmem_data_csv
from allocart.model.export.nonmem import to_nonmem as to_nonmem
from allocart.model.export.rxode2 import to_rxode2 as to_rxode2
