"""The DuckDB store of a sensitivity run: settings, every completed evaluation, the indices.

``sensitivity.duckdb`` in the run folder holds

* ``settings``: one row, the run's settings as JSON and their hash (what resuming is keyed on);
* ``evaluations``: one row per completed model evaluation: ``stage`` (``morris`` or ``sobol``),
  ``idx`` (row of that stage's design), ``parameter`` values as JSON and one column per output.
  Each batch of evaluations is inserted in one transaction, so an interrupted run (Ctrl-C, a
  killed process) leaves whole batches only, and a restart skips them;
* ``morris``, ``sobol``, ``value_of_information``: the results, written at the end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from allocart.errors import SensitivityError

__all__ = ["SensitivityStore", "settings_hash"]


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``settings``."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class SensitivityStore:
    """Evaluations and results of one sensitivity run in ``<folder>/sensitivity.duckdb``.

    Parameters
    ----------
    folder : path
        The run folder (created when missing).
    settings : dict
        JSON-able settings; a store made with other settings is refused unless ``fresh``.
    outputs : sequence of str
        Output columns of ``evaluations``.
    fresh : bool
        Discard an earlier run in the folder.
    """

    FILE = "sensitivity.duckdb"

    def __init__(
        self, folder: Path, settings: dict[str, Any], outputs: Sequence[str], *, fresh: bool
    ) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise SensitivityError(
                f"out: {str(self.folder)!r} is a file, not a folder", argument="out"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / self.FILE
        self.outputs = tuple(outputs)
        self.hash = settings_hash(settings)
        if fresh:
            self.path.unlink(missing_ok=True)
        self.con = duckdb.connect(str(self.path))
        self.con.execute("CREATE TABLE IF NOT EXISTS settings (hash VARCHAR, settings VARCHAR)")
        old = self.con.execute("SELECT hash FROM settings").fetchall()
        if old and old[0][0] != self.hash:
            self.con.close()
            raise SensitivityError(
                f"out: {str(self.folder)!r} holds a sensitivity run with other settings (hash "
                f"{old[0][0][:12]}, this one {self.hash[:12]}); give another --out, or --fresh to "
                "replace it",
                argument="out",
            )
        if not old:
            self.con.execute(
                "INSERT INTO settings VALUES (?, ?)", [self.hash, json.dumps(settings, default=str)]
            )
        cols = ", ".join(f'"{o}" DOUBLE' for o in self.outputs)
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS evaluations (stage VARCHAR, idx INTEGER, "
            f"parameters VARCHAR, {cols})"
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SensitivityStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def done(self, stage: str) -> set[int]:
        """Rows of ``stage``'s design already evaluated."""
        rows = self.con.execute("SELECT idx FROM evaluations WHERE stage = ?", [stage]).fetchall()
        return {int(r[0]) for r in rows}

    def add(
        self,
        stage: str,
        idx: Sequence[int],
        names: Sequence[str],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
    ) -> None:
        """Store a batch of evaluations in one transaction."""
        df = pd.DataFrame(np.asarray(y, dtype=float), columns=list(self.outputs))
        df.insert(
            0, "parameters", [json.dumps(dict(zip(names, map(float, r), strict=True))) for r in x]
        )
        df.insert(0, "idx", np.asarray(idx, dtype=np.int64))
        df.insert(0, "stage", stage)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.register("_batch", df)
            self.con.execute("INSERT INTO evaluations SELECT * FROM _batch")
            self.con.unregister("_batch")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def outputs_of(self, stage: str, n: int) -> NDArray[np.float64]:
        """Outputs of rows ``0 .. n - 1`` of ``stage``, in design order."""
        cols = ", ".join(f'"{o}"' for o in self.outputs)
        df = self.con.execute(
            f"SELECT idx, {cols} FROM evaluations WHERE stage = ? ORDER BY idx", [stage]
        ).df()
        df = df.drop_duplicates("idx").set_index("idx").reindex(range(n))
        return df[list(self.outputs)].to_numpy(dtype=float)

    def write_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Replace the result tables."""
        for name, df in tables.items():
            self.con.register("_frame", df)
            self.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _frame')
            self.con.unregister("_frame")
