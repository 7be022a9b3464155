"""Per-patient event tables (doses, lymphodepletion, state resets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocart.errors import SolverError

__all__ = ["EventTable", "OP_ADD", "OP_MULTIPLY", "OP_SET"]

OP_ADD = 0
"""Event operation: ``y[state] += value`` (e.g. a bolus dose)."""
OP_MULTIPLY = 1
"""Event operation: ``y[state] *= value`` (e.g. a fractional depletion)."""
OP_SET = 2
"""Event operation: ``y[state] = value`` (e.g. a reset)."""


@dataclass(frozen=True)
class EventTable:
    """Discrete state changes at given times, one row per patient.

    All arrays have shape ``(n_pat, max_events)``. Rows with fewer events are padded with
    ``time = +inf`` (the other fields of padding are ignored).

    Attributes
    ----------
    time : numpy.ndarray of float64
        Event times in days, non-decreasing along each row. Events at the same time are
        applied in column order.
    state : numpy.ndarray of int64
        Index of the state variable the event acts on.
    op : numpy.ndarray of int64
        :data:`OP_ADD` (0), :data:`OP_MULTIPLY` (1) or :data:`OP_SET` (2).
    value : numpy.ndarray of float64
        Operand of the operation (amount added, factor, or new value).

    Notes
    -----
    Integration stops exactly at each event time and restarts from the changed state. Output
    at a time ``t`` is the state *after* all events at ``t`` (right-continuous, as in NONMEM,
    mrgsolve and libRoadRunner). Events before ``t0`` act at ``t0``; events after the last
    output time are ignored.
    """

    time: np.ndarray
    state: np.ndarray
    op: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        time = np.ascontiguousarray(np.asarray(self.time, dtype=np.float64))
        try:
            state = np.ascontiguousarray(np.asarray(self.state).astype(np.int64, casting="safe"))
            op = np.ascontiguousarray(np.asarray(self.op).astype(np.int64, casting="safe"))
        except TypeError as exc:
            raise SolverError(f"EventTable.state and .op must be integer arrays ({exc})") from exc
        value = np.ascontiguousarray(np.asarray(self.value, dtype=np.float64))
        if time.ndim != 2:
            raise SolverError(
                f"EventTable.time must have shape (n_pat, max_events), got shape {time.shape}"
            )
        for label, arr in (("state", state), ("op", op), ("value", value)):
            if arr.shape != time.shape:
                raise SolverError(
                    f"EventTable.{label} has shape {arr.shape}, expected {time.shape} like .time"
                )
        if np.isnan(time).any() or np.isneginf(time).any():
            raise SolverError("EventTable.time contains NaN or -inf; pad unused slots with +inf")
        if time.shape[1] > 1 and (np.diff(time, axis=1) < 0).any():
            row = int(np.nonzero((np.diff(time, axis=1) < 0).any(axis=1))[0][0])
            raise SolverError(
                f"EventTable.time must be non-decreasing along each row; row {row} is "
                f"{time[row].tolist()}"
            )
        live = np.isfinite(time)
        bad_op = live & ((op < 0) | (op > 2))
        if bad_op.any():
            r, c = np.argwhere(bad_op)[0]
            raise SolverError(
                f"EventTable.op[{r}, {c}] = {op[r, c]}; use 0 (add), 1 (multiply) or 2 (set)"
            )
        if (live & ~np.isfinite(value)).any():
            r, c = np.argwhere(live & ~np.isfinite(value))[0]
            raise SolverError(f"EventTable.value[{r}, {c}] = {value[r, c]} is not finite")
        # Padding must still index a valid state inside the kernel; normalise it.
        state = np.where(live, state, 0)
        op = np.where(live, op, 0)
        value = np.where(live, value, 0.0)
        columns: dict[str, np.ndarray] = {"time": time, "state": state, "op": op, "value": value}
        for label, given in columns.items():
            arr = np.ascontiguousarray(given)
            arr.setflags(write=False)
            object.__setattr__(self, label, arr)

    @property
    def n_pat(self) -> int:
        """Number of patient rows."""
        return int(self.time.shape[0])

    def rows(self, start: int, stop: int) -> EventTable:
        """Event table of patients ``start:stop`` (used to simulate in chunks)."""
        return EventTable(
            self.time[start:stop],
            self.state[start:stop],
            self.op[start:stop],
            self.value[start:stop],
        )

    @classmethod
    def empty(cls, n_pat: int) -> EventTable:
        """Table with no events for ``n_pat`` patients."""
        z = np.full((n_pat, 1), np.inf)
        return cls(
            z, np.zeros((n_pat, 1), np.int64), np.zeros((n_pat, 1), np.int64), np.zeros((n_pat, 1))
        )

    @classmethod
    def from_lists(cls, per_patient: list[list[tuple[float, int, int, float]]]) -> EventTable:
        """Build a table from ``[(time, state, op, value), ...]`` per patient (any order of
        distinct times; same-time events keep their list order)."""
        n = len(per_patient)
        m = max([len(r) for r in per_patient] + [1])
        time = np.full((n, m), np.inf)
        state = np.zeros((n, m), np.int64)
        op = np.zeros((n, m), np.int64)
        value = np.zeros((n, m))
        for i, row in enumerate(per_patient):
            row = sorted(row, key=lambda ev: ev[0])  # stable: keeps same-time order
            for k, (t, s, o, v) in enumerate(row):
                time[i, k], state[i, k], op[i, k], value[i, k] = t, s, o, v
        return cls(time, state, op, value)
