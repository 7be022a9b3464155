"""Patient data: the :class:`Dataset` and its readers and writers (NONMEM, CDISC SDTM as CSV or
SAS XPORT), and the CDISC ADaM tables (ADSL, ADAE, ADPC) of a dataset or a virtual trial.

See ``docs/data.md`` for the formats and the column mappings.
"""

from allocart.data.adam import (
    AdamInput,
    adam_input_from_dataset,
    adam_input_from_run,
    build_adam,
    write_adam,
)
from allocart.data.dataset import Dataset
from allocart.data.formats import FORMATS, detect_format, read_dataset, write_dataset
from allocart.data.nonmem import NonmemSpec, read_nonmem, write_nonmem
from allocart.data.observables import OBSERVABLES, AssayReadout
from allocart.data.problems import DataValidationError, Problem
from allocart.data.records import records_from_observations
from allocart.data.residual_errors import residual_error_cv, residual_error_rows
from allocart.data.schema import DOSE_KINDS, DOSE_UNITS
from allocart.data.sdtm import SdtmOptions, SdtmStudy, load_sdtm, read_sdtm, write_sdtm
from allocart.data.simulated import DEFAULT_SAMPLE_DAYS, dataset_from_simulation
from allocart.errors import DataError

__all__ = [
    "AdamInput",
    "DEFAULT_SAMPLE_DAYS",
    "DOSE_KINDS",
    "DOSE_UNITS",
    "FORMATS",
    "OBSERVABLES",
    "DataError",
    "DataValidationError",
    "adam_input_from_dataset",
    "adam_input_from_run",
    "build_adam",
    "Dataset",
    "NonmemSpec",
    "AssayReadout",
    "Problem",
    "SdtmOptions",
    "SdtmStudy",
    "dataset_from_simulation",
    "detect_format",
    "load_sdtm",
    "read_dataset",
    "read_nonmem",
    "read_sdtm",
    "records_from_observations",
    "residual_error_cv",
    "residual_error_rows",
    "write_adam",
    "write_dataset",
    "write_nonmem",
    "write_sdtm",
]
