"""Shared pieces of the property-based tests of the five input families.

The families are protocol YAML (``tests/trial/test_properties_protocol.py``), clinical records
JSON (``tests/clinical/test_properties_records.py``), NONMEM CSV and SDTM tables
(``tests/data/test_properties_nonmem.py``, ``tests/data/test_properties_sdtm.py``) and parameter
overrides YAML (``tests/model/test_properties_parameters.py``). Each states one property: reading
any input either succeeds or raises an :class:`~allocart.errors.AllocartError` whose message is
one line naming the offending field, column or file, never another exception.

Here: the two Hypothesis settings (:data:`FAST` for the default suite, :data:`SLOW` for the
``slow`` suite), values a user may type by mistake (:func:`weird_values`), mutations of a valid
document (:func:`mutated`) and of a table (:func:`mutated_table`), an input written to a
temporary file or folder (:func:`written`), and the checks of a refusal (:func:`check_refusal`),
of the problems a reader lists (:func:`check_problems`) and of the command line
(:func:`run_main`, :func:`check_cli_refusal`).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import math
import os
import re
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from allocart.cli.app import main
from allocart.errors import AllocartError

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def _examples(default: int) -> int:
    """``default``, or ``ALLOCART_PROPERTY_EXAMPLES`` times ``default`` / 100 when set (a scale in %)."""
    scale = os.environ.get("ALLOCART_PROPERTY_EXAMPLES")
    return max(1, int(default * float(scale) / 100)) if scale else default


def _settings(max_examples: int, *, derandomize: bool) -> settings:
    """Settings of a property: ``max_examples`` (scaled), no deadline, the failing blob printed."""
    return settings(
        max_examples=_examples(max_examples),
        deadline=None,
        derandomize=derandomize,
        suppress_health_check=_HEALTH,
        print_blob=True,
    )


def fast(max_examples: int) -> settings:
    """Settings of a default-suite property: bounded, derandomised (the same inputs every run)."""
    return _settings(max_examples, derandomize=True)


def slow(max_examples: int) -> settings:
    """Settings of a ``slow``-suite property: thousands of random inputs, new ones every run."""
    return _settings(max_examples, derandomize=False)


# ----------------------------------------------------------------------------- values

#: Texts a user may type where a number, a date, a name or a unit is expected.
WEIRD_TEXT = (
    "",
    " ",
    "\t",
    "\n",
    ".",
    "NA",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-1e308",
    "5e-324",
    "-1",
    "-0",
    "0",
    "1",
    "2",
    "3",
    "1.5",
    "99999999999999999999999",
    "1e20",
    "3e8 cells",
    "1e6/kg",
    "1,5",
    "0x10",
    "1_000",
    "\uff13",  # fullwidth digit three: float() reads it
    "\u0663",  # Arabic-Indic digit three
    "\u221e",
    "null",
    "~",
    "true",
    "yes",
    "no",
    "Y",
    "N",
    "F",
    "M",
    "2024-02-30",
    "2024-13-01",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2024-01-01T25:00",
    "2024-01-01T10",
    "2024-01",
    "2024",
    "2024---01",
    "2024-W01",
    "20240105",
    "24:00",
    "2024-01-05 10:00",
    "\u00b5g/L",
    "10^9/L",
    "cells/uL",
    "mg/m2",
    "mg",
    "kg",
    "C",
    "F",
    "%",
    "<0.1",
    "<",
    "<1e400",
    "BLQ",
    "caf\u00e9",
    "\x00",
    "\u2028",
    "\x85",
    "\U0001f489",
    "a\nb",
    "a\r\nb",
    "'",
    '"',
    "{",
    "[",
    "\u2014",
    "\u03a9" * 300,
)

#: Numbers a user may give by mistake (wrong unit, sign, overflow, not a number).
WEIRD_NUMBERS = (
    0,
    -1,
    1,
    2,
    -0.0,
    0.5,
    1e-300,
    5e-324,
    1e20,
    1e300,
    -1e300,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
    2**31,
    2**63,
    2**64,
    -(2**63),
    10**400,
    -(10**400),
)

_DATES = (
    date(1, 1, 1),
    date(9999, 12, 31),
    date(2024, 2, 29),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59),
    datetime(2024, 1, 5, 10, 30, tzinfo=timezone(timedelta(hours=14))),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
)


def times(*, numbers: bool = True) -> st.SearchStrategy[Any]:
    """Times as a user writes them: ISO dates and date-times (odd time zones, the calendar's
    ends), days after an event (huge, negative, tiny), and near misses."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    parts = [
        st.dates().map(date.isoformat),
        st.datetimes().map(datetime.isoformat),
        st.datetimes(timezones=offsets).map(datetime.isoformat),
        st.sampled_from([t for t in WEIRD_TEXT if t[:1].isdigit()]),
    ]
    if numbers:
        parts += [st.floats(), st.integers(), st.sampled_from(WEIRD_NUMBERS)]
    return st.one_of(*parts)


def numbers() -> st.SearchStrategy[Any]:
    """Numbers that are wrong by sign, unit (a factor of 10^3 or 10^6), overflow or type."""
    return st.one_of(
        st.floats(),
        st.integers(),
        st.sampled_from(WEIRD_NUMBERS),
        st.sampled_from(WEIRD_NUMBERS).map(str),
        st.floats(-1e7, 1e7).map(lambda v: v * 1e6),
    )


def number_cells() -> st.SearchStrategy[str]:
    """Cells of a numeric column: wrong by sign, unit, overflow, or not numbers at all."""
    return st.one_of(
        numbers().map(str),
        st.floats().map(repr),
        st.sampled_from(["", ".", "-1", "0", "1e400", "1e308", "nan", "inf", "1,5", "\uff13"]),
    )


def time_cells() -> st.SearchStrategy[str]:
    """Cells of a date column: ISO dates and date-times (odd time zones, the calendar's ends)."""
    return times(numbers=False) | st.sampled_from(["", ".", "2024", "2024-01", "2024---05"])


def scalars(
    *, dates: bool = True, text: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[Any]:
    """One wrong value: null, a boolean, a huge, negative or non-finite number, odd text, a date.

    ``dates``: YAML reads unquoted dates as date objects; JSON has none.
    """
    parts = [
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.sampled_from(WEIRD_NUMBERS),
        st.sampled_from(WEIRD_TEXT),
        text if text is not None else st.text(max_size=12),
    ]
    if dates:
        parts += [st.sampled_from(_DATES), st.dates(), st.datetimes()]
    return st.one_of(*parts)


def keys(names: Iterable[str] = ()) -> st.SearchStrategy[str]:
    """Mapping keys: known field names, their misspellings, odd text."""
    names = sorted(set(names))
    parts: list[st.SearchStrategy[str]] = [st.text(max_size=10), st.sampled_from(WEIRD_TEXT)]
    if names:
        parts += [st.sampled_from(names)] * 3
        parts.append(st.sampled_from(names).map(lambda s: s.upper()))
        parts.append(st.sampled_from(names).map(lambda s: s + " "))
    return st.one_of(*parts)


def weird_values(
    names: Iterable[str] = (), *, dates: bool = True, str_keys: bool = True
) -> st.SearchStrategy[Any]:
    """A wrong value, possibly a list or a mapping of wrong values (nested a few levels)."""
    names = tuple(names)
    key = (
        keys(names) if str_keys else st.one_of(keys(names), st.integers(), st.booleans(), st.none())
    )
    return st.recursive(
        scalars(dates=dates),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=3)
        ),
        max_leaves=6,
    )


# ----------------------------------------------------------------------------- documents


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


def _retyped(value: Any) -> list[Any]:
    """The same value as another type: text, a list, a mapping, a number with a unit..."""
    out: list[Any] = [str(value), [value], {"value": value}, None]
    if isinstance(value, bool):
        out += [int(value), "yes" if value else "no"]
    elif isinstance(value, int):
        out += [f"{value} mg", value * 1_000_000, -value, str(value) + "e400", 10**400]
        if abs(value) < 2**1000:
            out.append(float(value))
    elif isinstance(value, float):
        if math.isfinite(value):
            out += [int(value), value * 1e6, -value, value / 1e6, f"{value:g} cells"]
        out += [math.nan, math.inf]
    elif isinstance(value, str):
        out += [value.upper(), " " + value + " ", value * 40, value + "\n", value.encode().hex()]
        try:
            out.append(float(value))
        except ValueError:
            pass
    elif isinstance(value, dict):
        out += [list(value.values()), list(value), {}]
    elif isinstance(value, list):
        out += [value[0] if value else None, {str(i): v for i, v in enumerate(value)}, []]
    return out


@st.composite
def mutated(
    draw: Any,
    base: Any,
    names: Iterable[str] = (),
    *,
    dates: bool = True,
    str_keys: bool = True,
    max_mutations: int = 3,
    hints: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> tuple[Any, set[str]]:
    """A valid document ``base`` changed in 1..``max_mutations`` places.

    Each change walks from the root to a field and drops, duplicates, retypes, renames or
    replaces it (a wrong value, a scaled number, a nested structure) or adds an unknown field.
    ``hints`` maps field names to values of the field's kind that may be wrong (extreme dates
    for a time, unknown units for a unit...): a replaced field of that name (or an item of a
    list of that name) takes one of them half of the time.
    Returns the document and the names of the keys on the paths changed (the fields a
    refusal should name).
    """
    doc = copy.deepcopy(base)
    touched: set[str] = set()
    values = weird_values(names, dates=dates, str_keys=str_keys)
    hints = hints or {}
    for _ in range(draw(st.integers(1, max_mutations))):
        parent: Any = None
        slot: Any = None
        name: Any = None  # the key of the field changed, or of the list holding it
        node = doc
        # walk down: each level continues with probability 3/4 while there are children
        while _children(node) and draw(st.integers(0, 3)) > 0:
            parent, slot = node, draw(st.sampled_from(_children(node)))
            touched.add(str(slot) if isinstance(slot, str) else f"[{slot}]")
            name = slot if isinstance(slot, str) else name
            node = node[slot]
        op = draw(
            st.sampled_from(
                ["replace", "drop", "duplicate", "retype", "rename", "add", "nest", "swap"]
            )
        )
        if parent is None:  # the root itself
            if op in ("replace", "retype") and draw(st.integers(0, 9)) == 0:
                doc = draw(values) if op == "replace" else draw(st.sampled_from(_retyped(doc)))
                continue
            if isinstance(doc, dict):
                k = draw(keys(names))
                doc[k] = draw(values)
                touched.add(k)
            continue
        if op == "replace":
            hint = hints.get(name) if isinstance(name, str) else None
            parent[slot] = draw(hint) if hint is not None and draw(st.booleans()) else draw(values)
        elif op == "drop":
            del parent[slot]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(slot, copy.deepcopy(node))
            elif isinstance(node, list) and node:
                node.append(copy.deepcopy(node[draw(st.integers(0, len(node) - 1))]))
            else:
                parent[slot] = [node, copy.deepcopy(node)]
        elif op == "retype":
            parent[slot] = draw(st.sampled_from(_retyped(node)))
        elif op == "rename" and isinstance(parent, dict):
            new = draw(
                st.sampled_from(
                    [
                        slot.upper(),
                        slot + " ",
                        slot.replace("_", "-"),
                        slot.replace("_", ""),
                        slot[:-1],
                        slot + "s",
                        slot + "\n",
                    ]
                    if isinstance(slot, str) and slot
                    else ["x"]
                )
                | keys(names)
            )
            parent[new] = parent.pop(slot)
            touched.add(str(new))
        elif op == "add":
            target = (
                node if isinstance(node, dict) else parent if isinstance(parent, dict) else None
            )
            if target is not None:
                k = draw(keys(names))
                target[k] = draw(values)
                touched.add(k)
            elif isinstance(parent, list):
                parent.append(draw(values))
        elif op == "nest":
            for _ in range(draw(st.integers(1, 4))):
                node = [node] if draw(st.booleans()) else {draw(keys(names)): node}
            parent[slot] = node
        elif op == "swap":
            others = [c for c in _children(parent) if c != slot]
            if others:
                other = draw(st.sampled_from(others))
                parent[slot], parent[other] = parent[other], parent[slot]
                touched.add(str(other) if isinstance(other, str) else f"[{other}]")
    return doc, touched


def field_names(model: Any, _seen: set[type] | None = None) -> set[str]:
    """Every field name of a pydantic model and of the models it holds (recursively)."""
    import typing

    from pydantic import BaseModel

    seen = _seen if _seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out.add(name)
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                out |= field_names(tp, seen)
            stack.extend(typing.get_args(tp))
    return out


#: Unquoted YAML values that YAML reads by their form and that are not what they look like:
#: impossible dates, numbers of more digits than Python converts, tags of the wrong kind,
#: YAML 1.1 sexagesimals and booleans.
YAML_TOKENS = (
    "2024-02-30",
    "2024-13-01",
    "0000-01-01",
    "2024-01-01 25:00:00",
    "2024-01-01T10:00:00+99:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2024-01-05",
    "!!float x",
    "!!int x",
    "!!timestamp x",
    "!!bool maybe",
    "!!binary zz",
    "!!set {1: 2}",
    "!!omap [1]",
    "!!python/object:os.system x",
    "0x_",
    "0o8",
    "1" * 5000,
    "-" + "9" * 4400,
    "1." + "0" * 5000,
    "190:20:30",
    "1_000",
    ".nan",
    ".inf",
    "-.inf",
    "~",
    "yes",
    "off",
    "&a [*a]",
    "*undefined",
    "[",
    "{a: 1, a: 2}",
    "'unterminated",
    "\t1",
)


@st.composite
def yaml_text(draw: Any, text: str) -> str:
    """YAML ``text`` with one value replaced by, or one line added with, a token of :data:`YAML_TOKENS`."""
    lines = text.splitlines()
    token = draw(st.sampled_from(YAML_TOKENS))
    values = [i for i, line in enumerate(lines) if ": " in line or line.lstrip().startswith("- ")]
    if values and draw(st.integers(0, 3)):
        i = draw(st.sampled_from(values))
        line = lines[i]
        cut = line.index(": ") + 2 if ": " in line else line.index("- ") + 2
        lines[i] = line[:cut] + token
    else:
        lines.append(f"{draw(st.sampled_from(['name', 'extra', 'x', 'parameters']))}: {token}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- tables


def table_cells() -> st.SearchStrategy[str]:
    """Text of a cell a site may write: odd numbers, units, dates, unicode, newlines."""
    return st.one_of(
        st.sampled_from(WEIRD_TEXT),
        st.text(max_size=12),
        st.floats().map(repr),
        st.integers().map(str),
        st.sampled_from(WEIRD_NUMBERS).map(str),
    )


@st.composite
def mutated_table(
    draw: Any,
    rows: list[list[str]],
    columns: Iterable[str] = (),
    *,
    max_mutations: int = 4,
    hints: Mapping[str, st.SearchStrategy[str]] | None = None,
) -> tuple[list[list[str]], set[str]]:
    """A CSV table (header first) changed in 1..``max_mutations`` places.

    Cells get odd values or are emptied; columns are dropped, duplicated, renamed or added;
    rows are dropped, duplicated, shortened or lengthened. ``hints`` maps column names to
    cells of the column's kind that may be wrong (a huge ADDL, a date out of range...): a
    changed cell of that column takes one of them half of the time.
    Returns the rows and the header names of the columns changed.
    """
    rows = [list(r) for r in rows]
    touched: set[str] = set()
    hints = hints or {}

    def cell(column: str) -> Any:
        hint = hints.get(column.strip().upper())
        return draw(hint) if hint is not None and draw(st.booleans()) else draw(table_cells())

    names = sorted(set(columns))
    header_names = (
        st.one_of(st.sampled_from(names), st.text(max_size=8)) if names else st.text(max_size=8)
    )
    for _ in range(draw(st.integers(1, max_mutations))):
        width = len(rows[0]) if rows else 0
        n = len(rows)
        op = draw(
            st.sampled_from(
                [
                    "cell",
                    "cell",
                    "cell",
                    "column_cells",
                    "drop_column",
                    "duplicate_column",
                    "rename_column",
                    "add_column",
                    "drop_row",
                    "duplicate_row",
                    "ragged_row",
                    "only_header",
                    "swap_cells",
                ]
            )
        )
        if not rows or width == 0:
            break
        if op in ("cell", "column_cells", "swap_cells") and n > 1:
            c = draw(st.integers(0, width - 1))
            touched.add(rows[0][c])
            if op == "cell":
                r = draw(st.integers(1, n - 1))
                if c < len(rows[r]):
                    rows[r][c] = cell(rows[0][c])
            elif op == "column_cells":
                value = cell(rows[0][c])
                for r in range(1, n):
                    if c < len(rows[r]):
                        rows[r][c] = value
            else:
                r1, r2 = draw(st.integers(1, n - 1)), draw(st.integers(1, n - 1))
                if c < len(rows[r1]) and c < len(rows[r2]):
                    rows[r1][c], rows[r2][c] = rows[r2][c], rows[r1][c]
        elif op == "drop_column":
            c = draw(st.integers(0, width - 1))
            touched.add(rows[0][c])
            rows = [r[:c] + r[c + 1 :] for r in rows]
        elif op == "duplicate_column":
            c = draw(st.integers(0, width - 1))
            touched.add(rows[0][c])
            rows = [r + [r[c]] if c < len(r) else r for r in rows]
        elif op == "rename_column":
            c = draw(st.integers(0, width - 1))
            touched.add(rows[0][c])
            rows[0][c] = draw(
                st.sampled_from([rows[0][c].lower(), " " + rows[0][c], rows[0][c] + "\n", ""])
                | header_names
            )
            touched.add(rows[0][c])
        elif op == "add_column":
            name = (
                draw(st.sampled_from(sorted(hints)) | header_names) if hints else draw(header_names)
            )
            touched.add(name)
            if draw(st.booleans()):
                rows = [rows[0] + [name]] + [r + [cell(name)] for r in rows[1:]]
            else:
                value = cell(name)
                rows = [rows[0] + [name]] + [r + [value] for r in rows[1:]]
        elif op == "drop_row" and n > 1:
            del rows[draw(st.integers(1, n - 1))]
        elif op == "duplicate_row" and n > 1:
            r = draw(st.integers(1, n - 1))
            rows.insert(r, list(rows[r]))
        elif op == "ragged_row" and n > 1:
            r = draw(st.integers(1, n - 1))
            if draw(st.booleans()):
                rows[r] = rows[r][: draw(st.integers(0, max(0, len(rows[r]) - 1)))]
            else:
                rows[r] = rows[r] + [draw(table_cells())]
        elif op == "only_header":
            rows = rows[:1]
    return rows, touched


def csv_text(rows: list[list[str]]) -> str:
    """The rows as CSV text (quoted where a cell needs it)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def read_csv_rows(text: str) -> list[list[str]]:
    return [list(r) for r in csv.reader(io.StringIO(text))]


@contextlib.contextmanager
def written(name: str, content: str | bytes | Mapping[str, bytes]) -> Iterator[Path]:
    """The path of ``name`` in a new temporary folder (removed on exit), holding ``content``.

    Text is written as UTF-8, bytes as they are; a mapping makes ``name`` a folder of files
    (file name -> bytes).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.mkdir()
            for fname, data in content.items():
                (path / fname).write_bytes(data)
        yield path


# ----------------------------------------------------------------------------- the property


def check_refusal(
    call: Callable[[], Any],
    identifiers: Iterable[str] | Callable[[str], bool],
    error: type[AllocartError] = AllocartError,
) -> tuple[Any, AllocartError | None]:
    """Run ``call``: it returns, or raises ``error`` whose message is one line naming a field.

    ``identifiers``: the names a refusal may name (fields, columns, the file), or a predicate
    on the message. Any other exception fails the test with its traceback.
    Returns ``(result, None)`` or ``(None, error)``.
    """
    try:
        return call(), None
    except AllocartError as exc:
        assert isinstance(exc, error), f"{type(exc).__name__} is not a {error.__name__}: {exc}"
        check_message(str(exc), identifiers)
        return None, exc
    except Exception as exc:  # noqa: BLE001 - the property: nothing but an AllocartError
        raise AssertionError(
            f"{type(exc).__name__} instead of a one-line refusal:\n{traceback.format_exc()}"
        ) from exc


def check_message(msg: str, identifiers: Iterable[str] | Callable[[str], bool]) -> None:
    """``msg`` is one line, not empty, and names one of ``identifiers`` (or satisfies it)."""
    assert msg.strip(), "empty error message"
    assert len(msg.splitlines()) == 1, f"message of {len(msg.splitlines())} lines: {msg!r}"
    if callable(identifiers):
        assert identifiers(msg), f"message names no field: {msg!r}"
    else:
        given = [str(n) for n in identifiers]
        names = {n.strip() for n in given if len(n.strip()) >= 2}
        names |= {repr(n)[1:-1] for n in names}  # a name with odd characters is shown escaped
        names |= {repr(n) for n in given}  # an empty or blank name is shown quoted
        names |= {f"`{n}`" for n in given}  # a short one is shown in backticks
        names |= {repr(n)[:24] for n in given if len(repr(n)) > 24}  # a long one, cut short
        # a one-character name counts as a word of its own (``A: unknown field``)
        short = [n.strip() for n in given if len(n.strip()) == 1]
        assert any(n in msg for n in names) or any(
            re.search(rf"(?<!\w){re.escape(n)}(?!\w)", msg) for n in short
        ), f"message names none of {sorted(names)[:30]}: {msg!r}"


def check_problems(problems: Iterable[Any], place: str) -> None:
    """Each problem a reader lists is one line naming ``place`` (its file or folder) and, for a
    problem of a row, its column."""
    for p in problems:
        text = str(p)
        assert len(text.splitlines()) == 1, text
        assert place in p.file, text
        assert p.row is None or p.column is not None, (
            f"a problem of row {p.row} names no column: {text}"
        )


def run_main(argv: list[str]) -> tuple[int, str]:
    """``allocart <argv>`` run in this process: its exit code and what it wrote on stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def check_cli_refusal(
    code: int, err: str, identifiers: Iterable[str] | Callable[[str], bool]
) -> None:
    """A command either succeeded (exit 0) or refused (exit 2) in one ``error:`` line that
    names one of ``identifiers`` (see :func:`check_message`)."""
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
        check_message(err.rstrip("\n"), identifiers)


def names_in(doc: Any) -> set[str]:
    """Every mapping key of a document, as text."""
    out: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            out |= {str(k) for k in node}
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return out
