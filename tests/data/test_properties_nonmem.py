"""Property: no NONMEM CSV gives a traceback; every refusal is one line naming the file and column.

A valid dataset (every dose kind, censored and quantified read-outs, covariates) written by
:func:`write_nonmem` is changed in a few places (odd cells: NaN, infinities, huge or negative
numbers, units, dates, unicode, line breaks; columns dropped, duplicated, renamed or added; rows
dropped, duplicated, cut short or lengthened) and random tables are generated;
:func:`read_nonmem` with several reading options and, for a few inputs, ``allocart data check``
either read them or raise a :class:`DataError` of one line naming the file (and, for a problem
of a row, its column).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.data import DataValidationError, NonmemSpec, read_nonmem, write_nonmem
from allocart.errors import DataError
from tests.data.conftest import hand_dataset
from tests.properties import (
    check_cli_refusal,
    check_message,
    check_problems,
    check_refusal,
    csv_text,
    fast,
    mutated_table,
    number_cells,
    read_csv_rows,
    run_main,
    slow,
    table_cells,
    time_cells,
    written,
)

#: Cells of each column's kind that may be wrong.
HINTS = {
    **{
        c: number_cells()
        for c in (
            "TIME",
            "AMT",
            "DV",
            "LLOQ",
            "ADDL",
            "II",
            "SS",
            "RATE",
            "WT",
            "HT",
            "BSA",
            "AGE",
            "MDV",
            "BLQ",
        )
    },
    "EVID": st.sampled_from(["0", "1", "2", "3", "4", "5", "-1", "1.5", "1.0", "", "."]),
    "CMT": st.sampled_from(["1", "2", "3", "4", "1.0", "car_t", "99", "", "."]),
    "DVID": st.sampled_from([str(i) for i in range(0, 15)] + ["b_cells_per_ul", "4.0", "x", ""]),
    "AMTU": st.sampled_from(["cells", "cells/kg", "mg/m2", "mg", "CELLS", "", "."]),
    "SEX": st.sampled_from(["F", "M", "1", "2", "0", "female", "x", ""]),
    "FEMALE": st.sampled_from(["0", "1", "2", "1.0", "yes", ""]),
    "INFDATE": time_cells(),
    "ID": st.sampled_from(["1", "1.0", "2", "", ".", "01", "-1", "1e400"]),
}


def _seed() -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_nonmem(hand_dataset(with_clinical=False), Path(tmp) / "seed.csv")
        return read_csv_rows(path.read_text())


SEED = _seed()

#: Columns the reader knows: those :func:`write_nonmem` writes (the seed's header) and those it
#: reads but never writes.
COLUMNS = (*SEED[0], "ADDL", "II", "SS", "RATE", "C", "SEX")

SPECS = st.builds(
    NonmemSpec,
    time_unit=st.sampled_from(["day", "hour", "week"]),
    log_dv=st.booleans(),
    sex_female_code=st.sampled_from([None, "1", "2", "F"]),
)


@st.composite
def mutated_files(draw):
    rows, touched = draw(mutated_table(SEED, COLUMNS, hints=HINTS))
    if len(rows) > 1 and draw(st.integers(0, 3)) == 0:  # additional doses: ADDL every II
        header = rows[0] + ["ADDL", "II"]
        rows = [header] + [
            r + ([draw(HINTS["ADDL"]), draw(HINTS["II"])] if draw(st.booleans()) else [".", "."])
            for r in rows[1:]
        ]
        touched |= {"ADDL", "II"}
    return csv_text(rows), touched


@st.composite
def random_files(draw):
    """A table with some of the known columns (and others) and random cells."""
    header = draw(st.lists(st.sampled_from(COLUMNS) | st.text(max_size=6), min_size=1, max_size=12))
    n = draw(st.integers(0, 5))
    rows = [header] + [[draw(table_cells()) for _ in header] for _ in range(n)]
    return csv_text(rows), set(header)


def check_data_error(exc: DataError, file: str, columns: set[str]) -> None:
    """The refusal names the file; each problem of a row names its column; each is one line."""
    check_message(str(exc), lambda m: file in m)
    if isinstance(exc, DataValidationError):
        check_problems(exc.problems, file)


def _check(text: str, touched: set[str], spec: NonmemSpec, *, raw: bool = False) -> None:
    with written("data.csv", text.encode("utf-8", "surrogatepass") if raw else text) as path:
        _, exc = check_refusal(
            lambda: read_nonmem(path, spec), lambda m: "data.csv" in m, DataError
        )
        if exc is not None:
            check_data_error(exc, "data.csv", touched)


def _check_cli(text: str, log_dv: bool) -> None:
    with written("data.csv", text) as path:
        code, err = run_main(
            ["data", "check", str(path), "--json", *(["--log-dv"] if log_dv else [])]
        )
    check_cli_refusal(code, err, lambda m: "data.csv" in m)


def test_the_seed_reads_back():
    with written("data.csv", csv_text(SEED)) as path:
        assert read_nonmem(path) == hand_dataset(with_clinical=False)


def test_log_dv_too_large_for_exp_names_row_and_column():
    """exp(DV) beyond the largest float: refused with the row and the column, not an OverflowError."""
    rows = [list(r) for r in SEED]
    dv = rows[0].index("DV")
    row = next(i for i, r in enumerate(rows) if i and r[dv] not in (".", ""))
    rows[row][dv] = "800"
    with written("data.csv", csv_text(rows)) as path:
        with pytest.raises(DataValidationError) as exc:
            read_nonmem(path, NonmemSpec(log_dv=True))
    msg = str(exc.value)
    assert f"row {row + 1}" in msg and "column DV" in msg and "\n" not in msg, msg


@given(mutated_files(), SPECS)
@fast(120)
def test_mutated_files(case, spec):
    _check(*case, spec)


@given(random_files(), SPECS)
@fast(60)
def test_random_files(case, spec):
    _check(*case, spec)


@given(mutated_files(), st.booleans())
@fast(8)
def test_cli_data_check_refuses_in_one_line(case, log_dv):
    _check_cli(case[0], log_dv)


@pytest.mark.slow
@given(mutated_files(), SPECS)
@slow(3000)
def test_mutated_files_long(case, spec):
    _check(*case, spec)


@pytest.mark.slow
@given(random_files(), SPECS)
@slow(1500)
def test_random_files_long(case, spec):
    _check(*case, spec)


@pytest.mark.slow
@given(mutated_files(), st.booleans())
@slow(100)
def test_cli_data_check_refuses_in_one_line_long(case, log_dv):
    _check_cli(case[0], log_dv)


def _changed(change) -> list[list[str]]:
    rows = [list(r) for r in SEED]
    change(rows)
    return rows


def _set(rows, column, value, row=None):
    c = rows[0].index(column)
    for i in range(1, len(rows)) if row is None else [row]:
        rows[i][c] = value


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda rows: rows.__setitem__(
                slice(None),
                [r + (["ADDL", "II"] if i == 0 else ["1e7", "0.001"]) for i, r in enumerate(rows)],
            ),
            ["row 2, column ADDL", "from 0 to 1000"],
        ),
        (
            lambda rows: _set(rows, "TIME", "1e9", row=1),
            ["row 2, column TIME", "more than 100 years"],
        ),
        (
            lambda rows: _set(rows, "INFDATE", "9999-12-31"),
            ["column infusion_date", "leaves the calendar"],
        ),
        (
            lambda rows: _set(rows, "INFDATE", "9999-12-31T23:59:59-14:00"),
            ["column infusion_date", "outside the calendar"],
        ),
        (lambda rows: rows[0].__setitem__(0, "ID\x0cX"), ["column ID", "'ID\\x0cX'"]),
    ],
    ids=[
        "addl-1e7",
        "time-1e9-days",
        "infusion-9999-12-31",
        "infusion-time-zone-past-9999",
        "header-form-feed",
    ],
)
def test_inputs_that_gave_tracebacks_hangs_or_broken_lines(change, says):
    with written("data.csv", csv_text(_changed(change))) as path:
        with pytest.raises(DataValidationError) as exc:
            read_nonmem(path)
    check_data_error(exc.value, "data.csv", set())
    for word in says:
        assert word in str(exc.value), (word, str(exc.value))
