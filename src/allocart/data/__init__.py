"""Patient data: the :class:`Dataset` and its readers and writers (NONMEM, CDISC SDTM).

See ``docs/data.md`` for the formats and the column mappings.
"""

from allocart.data.dataset import (
    DEFAULT_SAMPLE_DAYS,
    DOSE_KINDS,
    DOSE_UNITS,
    OBSERVABLES,
    Dataset,
    DataValidationError,
    Observable,
    Problem,
    dataset_from_simulation,
    records_from_observations,
)
from allocart.data.formats import FORMATS, detect_format, read_dataset, write_dataset
from allocart.data.nonmem import NonmemSpec, read_nonmem, write_nonmem
from allocart.data.sdtm import SdtmOptions, SdtmStudy, load_sdtm, read_sdtm, write_sdtm
from allocart.errors import DataError

__all__ = [
    "DEFAULT_SAMPLE_DAYS",
    "DOSE_KINDS",
    "DOSE_UNITS",
    "FORMATS",
    "OBSERVABLES",
    "DataError",
    "DataValidationError",
    "Dataset",
    "NonmemSpec",
    "Observable",
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
    "write_dataset",
    "write_nonmem",
    "write_sdtm",
]
