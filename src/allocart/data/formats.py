"""Choosing a reader or writer by format name or by what is on disk.

A folder is an SDTM study (one table per domain); a ``.csv`` file is a NONMEM-style dataset.
Format ``xpt`` is an SDTM study whose tables are SAS XPORT v5 files: the reader reads either
file type, so on input it is ``sdtm``; on output it writes ``dm.xpt`` ... in place of CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from allocart.data.dataset import Dataset
from allocart.data.nonmem import NonmemSpec, read_nonmem, write_nonmem
from allocart.data.sdtm import SdtmOptions, read_sdtm, write_sdtm
from allocart.errors import DataError

__all__ = ["FORMATS", "SDTM_FORMATS", "detect_format", "read_dataset", "write_dataset"]

#: Format names of the command line.
FORMATS = ("nonmem", "sdtm", "xpt")

#: Formats written as a folder of SDTM tables.
SDTM_FORMATS = ("sdtm", "xpt")


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of ``path``: ``fmt`` when given (checked), else ``sdtm`` for a folder and
    ``nonmem`` for a ``.csv`` file.

    Parameters
    ----------
    path : path
        The dataset file or folder.
    fmt : {"nonmem", "sdtm", "xpt"}, optional
        The format named by the caller (case and surrounding blanks ignored).

    Raises
    ------
    DataError
        On an unknown format name, or a path whose format cannot be told.
    """
    path = Path(path)
    if fmt is not None:
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            raise DataError(
                f"format: {fmt!r} is not one of {', '.join(FORMATS)}", argument="format"
            )
        return fmt
    if path.is_dir():
        return "sdtm"
    if path.suffix.lower() == ".csv":
        return "nonmem"
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(
        f"{path}: cannot tell the format; give a folder of SDTM tables or a NONMEM .csv, or pass --format"
    )


def read_dataset(
    path: str | Path,
    fmt: str | None = None,
    *,
    nonmem: NonmemSpec | None = None,
    sdtm: SdtmOptions | None = None,
) -> Dataset:
    """Read a NONMEM CSV or an SDTM folder (see :func:`detect_format`) into a validated Dataset."""
    kind = detect_format(path, fmt)
    if kind == "nonmem":
        return read_nonmem(path, nonmem)
    return read_sdtm(path, sdtm)  # sdtm or xpt: the reader takes .xpt and .csv tables


def write_dataset(ds: Dataset, path: str | Path, fmt: str | None = None, **kwargs: Any) -> Path:
    """Write ``ds`` as NONMEM (``path`` a ``.csv``) or SDTM (``path`` a folder; ``xpt``: the
    tables as SAS XPORT v5 files)."""
    path = Path(path)
    if fmt is None:
        fmt = "nonmem" if path.suffix.lower() == ".csv" else "sdtm"
    kind = detect_format(path, fmt)
    if kind == "nonmem":
        if path.suffix.lower() != ".csv":
            raise DataError(
                f"out: {str(path)!r} must end in .csv for the NONMEM format", argument="out"
            )
        return write_nonmem(ds, path, kwargs.get("nonmem"))
    if path.suffix:
        raise DataError(
            f"out: {str(path)!r} must be a folder (no suffix) for the SDTM format", argument="out"
        )
    options = {k: v for k, v in kwargs.items() if k != "nonmem"}
    return write_sdtm(ds, path, table_format="xpt" if kind == "xpt" else "csv", **options)
