"""Running an exported model in R, where R and the tool's package are installed."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@functools.cache
def r_package_available(package: str) -> bool:
    """Whether ``Rscript`` exists and loads ``package``."""
    if shutil.which("Rscript") is None:
        return False
    proc = subprocess.run(
        ["Rscript", "-e", f"suppressMessages(library({package}))"],
        capture_output=True,
        timeout=120,
    )
    return proc.returncode == 0


def skip_without(package: str) -> None:
    """Skip the calling test, saying why, when R or ``package`` is missing."""
    if not r_package_available(package):
        pytest.skip(
            f"R with {package} is not installed: Debian (bookworm) packages r-base but not "
            f"r-cran-{package.lower()}, and CRAN is not reachable here; the Python reader of the "
            "exported file (tests/model/export/reader.py) checks the same agreement"
        )


def run_r(script: str, folder: Path, out: str = "out.csv") -> pd.DataFrame:
    """Run ``script`` in ``folder`` and read the CSV it writes."""
    (folder / "run.R").write_text(script)
    proc = subprocess.run(
        ["Rscript", "run.R"], cwd=folder, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pd.read_csv(folder / out)


def states_at(frame: pd.DataFrame, time_col: str, times: np.ndarray, names) -> np.ndarray:
    """Rows of ``frame`` at ``times`` (first row of each time), columns ``names``."""
    frame = frame.drop_duplicates(subset=time_col, keep="last").set_index(time_col)
    return frame.loc[times, list(names)].to_numpy(dtype=float)
