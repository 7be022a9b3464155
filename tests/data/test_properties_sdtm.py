"""Property: no SDTM study folder gives a traceback; every refusal is one line naming file and column.

A valid study (DM, EX, LB, PC, VS, AE, QS tables written by :func:`write_sdtm` from a dataset with
every record kind) is changed in a few places (odd cells: NaN, infinities, huge or negative
numbers, wrong units and codes, partial, impossible or out-of-range dates, unicode, line breaks;
columns dropped, duplicated, renamed or added; rows dropped, duplicated, cut short or
lengthened; tables dropped, emptied, replaced by bytes that are no table, or duplicated as
SAS XPORT) and random tables are generated; :func:`load_sdtm`, :func:`read_sdtm` and, for a few
inputs, ``allocart data check`` either read them or raise a :class:`DataError` of one line
naming the file; every problem they list is one line naming its file and, for a row, its column.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.clinical import units
from allocart.data import DataValidationError, load_sdtm, read_sdtm, write_sdtm
from allocart.data.sdtm import DOMAINS, KINETIC_CODES, LAB_ALIASES
from allocart.errors import DataError
from tests.data.conftest import PILOT, hand_dataset
from tests.properties import (
    check_cli_refusal,
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


def _seed() -> dict[str, list[list[str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_sdtm(hand_dataset(), Path(tmp) / "study")
        return {p.stem.upper(): read_csv_rows(p.read_text()) for p in sorted(folder.glob("*.csv"))}


SEED = _seed()
COLUMNS = sorted({c for rows in SEED.values() for c in rows[0]})

_UNITS = sorted(
    {a.unit for a in units.ANALYTES.values()}
    | {u for a in units.ANALYTES.values() for u in a.factors}
    | {u for _, factors in units.VITALS.values() for u in factors}
    | {
        "cells",
        "cells/kg",
        "10^6 cells/kg",
        "x10E6 cells",
        "10^99 cells",
        "mg",
        "mg/m2",
        "copies/ug",
        "%",
        "fraction",
        "m2",
    }
)
_CODES = sorted(
    {c for c, _ in units.ANALYTES}
    | set(units.VITALS)
    | set(LAB_ALIASES)
    | set(KINETIC_CODES)
    | {"BSA", "PGA", "ARTHRITI"}
)

#: Results below a limit, well and badly written.
_CENSORED = st.sampled_from(
    [
        "<0.1",
        "<1",
        "< 5",
        "BLQ<1",
        "<LLOQ 2",
        "<0",
        "<.",
        "<e",
        "<-",
        "<1e400",
        "BLQ",
        "NQ",
        "<LLOQ",
    ]
)

#: Cells of each column's kind that may be wrong.
HINTS = {
    **{c: time_cells() for c in COLUMNS if c.endswith("DTC")},
    **{
        c: number_cells()
        for c in COLUMNS
        if c.endswith(("NRLO", "NRHI", "LLOQ", "DOSE", "TOXGR")) or c in ("AGE",)
    },
    **{c: number_cells() | st.just("") for c in COLUMNS if c.endswith("STRESN")},
    **{c: number_cells() | _CENSORED for c in COLUMNS if c.endswith(("ORRES", "STRESC"))},
    **{
        c: st.one_of(st.sampled_from(_UNITS), table_cells())
        for c in COLUMNS
        if c.endswith(("U", "DOSU"))
    },
    **{
        c: st.one_of(st.sampled_from(_CODES), table_cells())
        for c in COLUMNS
        if c.endswith("TESTCD")
    },
    "USUBJID": st.sampled_from(["P-01", "P-02", "P-03", "", "p-01", " P-01"]),
    "SEX": st.sampled_from(["F", "M", "U", "1", ""]),
    "AGEU": st.sampled_from(["YEARS", "MONTHS", "DAYS", "HOURS", ""]),
    "EXTRT": st.sampled_from(
        ["CAR-T", "FLUDARABINE", "CYCLOPHOSPHAMIDE", "tisagenlecleucel", "PLACEBO", ""]
    ),
    "EXCAT": st.sampled_from(["CAR-T", "LYMPHODEPLETION", ""]),
    "QSCAT": st.sampled_from(["SLEDAI-2K", "PGA", "SF-36", ""]),
    "QSORRES": st.sampled_from(["Y", "N", "1", "0", "maybe", "", "4"]),
    "AESEV": st.sampled_from(["MILD", "MODERATE", "SEVERE", "FATAL", "x", ""]),
    "LBSTAT": st.sampled_from(["NOT DONE", ""]),
    "LBSPEC": st.sampled_from(["URINE", "BLOOD", "urine", "CSF", ""]),
}

#: Bytes of a table that is no table: empty, a text file, the start of an XPORT header, binary.
NOT_TABLES = st.sampled_from(
    [
        b"",
        b"\n",
        b"not,a\x00table",
        b"\xff\xfe\x00\x00",
        b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  ",
        b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  " * 4,
    ]
) | st.binary(max_size=200)


def _rewrite_result(draw, rows: list[list[str]], domain: str) -> list[list[str]]:
    """One result of LB or PC written as text only: no --STRESN, a --STRESC and --ORRES such as
    ``<0.1`` (below the LLOQ), ``BLQ`` or a number, and perhaps a new --LLOQ."""
    header = rows[0]
    r = draw(st.integers(1, len(rows) - 1))
    row = list(rows[r]) + [""] * max(0, len(header) - len(rows[r]))
    text = draw(_CENSORED | number_cells())
    for col, value in (
        (f"{domain}STRESN", ""),
        (f"{domain}STRESC", text),
        (f"{domain}ORRES", text),
        (f"{domain}LLOQ", draw(st.sampled_from(["", "0.1", "0", "-1", "1e400", "x"]))),
    ):
        if col in header:
            row[header.index(col)] = value
    return rows[:r] + [row] + rows[r + 1 :]


@st.composite
def mutated_studies(draw):
    """The seed study changed: table contents, and whole tables (dropped, not tables, XPORT twins)."""
    tables: dict[str, bytes] = {}
    touched: set[str] = set()
    changed = set(
        draw(st.lists(st.sampled_from(sorted(SEED)), min_size=1, max_size=3, unique=True))
    )
    for name, rows in SEED.items():
        fname = f"{name.lower()}.csv"
        if name in changed:
            how = draw(
                st.sampled_from(
                    [
                        "cells",
                        "cells",
                        "cells",
                        "cells",
                        "drop",
                        "not_table",
                        "xpt_twin",
                        "upper_case",
                    ]
                )
            )
            touched.add(fname)
            if how == "drop":
                continue
            if how == "not_table":
                tables[fname] = draw(NOT_TABLES)
                continue
            if how == "xpt_twin":
                tables[f"{name.lower()}.xpt"] = draw(NOT_TABLES)
            if how == "upper_case":
                fname = f"{name}.CSV"
            rows, cols = draw(mutated_table(rows, COLUMNS, hints=HINTS))
            touched |= cols
            if name in ("LB", "PC") and len(rows) > 1 and draw(st.booleans()):
                rows = _rewrite_result(draw, rows, name)
        tables[fname] = csv_text(rows).encode("utf-8", "surrogatepass")
    return tables, touched


@st.composite
def random_studies(draw):
    """Tables of random domains with some of the known columns (and others) and random cells."""
    tables: dict[str, bytes] = {}
    for name in draw(st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=4, unique=True)):
        header = draw(
            st.lists(st.sampled_from(COLUMNS) | st.text(max_size=6), min_size=1, max_size=10)
        )
        n = draw(st.integers(0, 4))
        rows = [header] + [[draw(HINTS.get(c, table_cells())) for c in header] for _ in range(n)]
        tables[f"{name.lower()}.csv"] = csv_text(rows).encode("utf-8", "surrogatepass")
    return tables, set()


def _check(case) -> None:
    tables, _ = case
    with written("study", tables) as folder:
        names = lambda m: "study" in m  # noqa: E731 - every message names the folder or a file in it
        study, exc = check_refusal(lambda: load_sdtm(folder), names, DataError)
        if study is not None:
            check_problems(study.problems, "study")
            for note in study.notes:
                assert len(note.splitlines()) == 1, note
            assert (study.dataset is None) == bool(study.problems)
        _, exc = check_refusal(lambda: read_sdtm(folder), names, DataError)
        if isinstance(exc, DataValidationError):
            check_problems(exc.problems, "study")


def _check_cli(case) -> None:
    tables, _ = case
    with written("study", tables) as folder:
        code, err = run_main(["data", "check", str(folder), "--json"])
    check_cli_refusal(code, err, lambda m: "study" in m)


def test_the_seed_reads_back():
    tables = {f"{k.lower()}.csv": csv_text(v).encode() for k, v in SEED.items()}
    with written("study", tables) as folder:
        assert read_sdtm(folder) == hand_dataset()


@given(mutated_studies())
@fast(50)
def test_mutated_studies(case):
    _check(case)


@given(random_studies())
@fast(30)
def test_random_studies(case):
    _check(case)


@given(mutated_studies())
@fast(5)
def test_cli_data_check_refuses_in_one_line(case):
    _check_cli(case)


_PILOT_DM = PILOT / "dm.xpt"
needs_pilot = pytest.mark.skipif(
    not _PILOT_DM.is_file(),
    reason="the CDISC pilot SDTM tables are not in shared/ beside the repository",
)


@st.composite
def damaged_xport(draw):
    """The CDISC pilot's DM table (SAS XPORT) cut short, with bytes overwritten or appended."""
    data = bytearray(_PILOT_DM.read_bytes())
    how = draw(st.sampled_from(["cut", "overwrite", "overwrite_header", "append"]))
    if how == "cut":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "append":
        return bytes(data[: draw(st.integers(0, 4000))]) + draw(st.binary(max_size=200))
    end = 800 if how == "overwrite_header" else len(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, end - 1))
        chunk = draw(st.binary(min_size=1, max_size=8))
        data[i : i + len(chunk)] = chunk
    return bytes(data)


def _check_xport(data: bytes) -> None:
    """A damaged XPORT table among the seed's other tables: read or refused in one line."""
    tables = {f"{k.lower()}.csv": csv_text(v).encode() for k, v in SEED.items() if k != "DM"}
    _check(({**tables, "dm.xpt": data}, set()))


@needs_pilot
@given(damaged_xport())
@fast(30)
def test_damaged_xport_tables(data):
    _check_xport(data)


@pytest.mark.slow
@needs_pilot
@given(damaged_xport())
@slow(1000)
def test_damaged_xport_tables_long(data):
    _check_xport(data)


@pytest.mark.slow
@given(mutated_studies())
@slow(2000)
def test_mutated_studies_long(case):
    _check(case)


@pytest.mark.slow
@given(random_studies())
@slow(1000)
def test_random_studies_long(case):
    _check(case)


@pytest.mark.slow
@given(mutated_studies())
@slow(100)
def test_cli_data_check_refuses_in_one_line_long(case):
    _check_cli(case)


def _study(table: str, changes: dict[str, str], row: int = 1) -> dict[str, bytes]:
    tables = {k: [list(r) for r in v] for k, v in SEED.items()}
    for col, value in changes.items():
        tables[table][row][tables[table][0].index(col)] = value
    return {f"{k.lower()}.csv": csv_text(v).encode() for k, v in tables.items()}


@pytest.mark.parametrize(
    "tables, says",
    [
        (
            _study("LB", {"LBSTRESN": "", "LBSTRESC": "<."}),
            ["lb.csv, row 2, column LBSTRESC", "'<.'"],
        ),
        (
            _study("PC", {"PCSTRESN": "", "PCSTRESC": "<e"}),
            ["pc.csv, row 2, column PCSTRESC", "'<e'"],
        ),
        (
            _study("LB", {"LBSTRESN": "", "LBSTRESC": "<1e400"}),
            ["lb.csv, row 2, column LBSTRESC", "not a finite number"],
        ),
        (
            _study("EX", {"EXDOSU": "10^400 cells"}, row=3),
            ["ex.csv, row 4, column EXDOSU", "10^400"],
        ),
        (_study("DM", {"AGE": "200"}), ["dm.csv, row 2, column AGE", "between 0 and 130"]),
        (
            _study("LB", {"LBDTC": "9999-12-31T23:59:59-14:00"}),
            ["lb.csv, row 2, column LBDTC", "outside the calendar"],
        ),
    ],
    ids=[
        "lb-censored-dot",
        "pc-censored-e",
        "lb-censored-1e400",
        "cells-10^400",
        "age-200",
        "date-time-zone-past-9999",
    ],
)
def test_inputs_that_gave_tracebacks_or_nameless_lines(tables, says):
    with written("study", tables) as folder:
        with pytest.raises(DataValidationError) as exc:
            read_sdtm(folder)
    check_problems(exc.value.problems, "study")
    for word in says:
        assert word in str(exc.value), (word, str(exc.value))


def test_a_note_on_a_code_with_a_line_break_is_one_line():
    with written("study", _study("LB", {"LBTESTCD": "X\nY"})) as folder:
        study = load_sdtm(folder)
    note = next(n for n in study.notes if "not used" in n)
    assert "X\\nY" in note and len(note.splitlines()) == 1, note
