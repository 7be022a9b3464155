"""What a finished run folder holds, read back for the runner's tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd


def operating_characteristics(run_folder: Path) -> pd.DataFrame:
    """The ``operating_characteristics`` table of ``run_folder/results.duckdb``, in a fixed
    order (arm, dose level with the arm-wide rows last, metric) so that two runs compare."""
    con = duckdb.connect(str(run_folder / "results.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT * FROM operating_characteristics ORDER BY arm, dose_level NULLS LAST, metric"
        ).df()
    finally:
        con.close()
