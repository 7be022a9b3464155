"""Problems found in data files and the error that lists them.

Every problem found by :meth:`allocart.data.Dataset.validate` or a reader is a :class:`Problem`
naming the file, the row and the column; they are raised together as one
:class:`DataValidationError` (an :class:`allocart.errors.DataError`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from allocart.errors import DataValidationError

__all__ = ["DataValidationError", "Problem", "one_line", "raise_problems"]

#: Characters that end a line (``str.splitlines`` splits on each).
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break written as its escape (``\\n``), so that a cell or a
    column name holding one cannot split a problem over two lines."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], str(text))


@dataclass(frozen=True)
class Problem:
    """One problem of a data file: where it is and what is wrong.

    ``row`` is the file line for files read from disk (the header is row 1, the first data
    row is row 2) or, for tables in memory (:meth:`Dataset.validate`), the 0-based row index;
    None when the problem concerns a whole file, table or column.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return one_line(f"{', '.join(where)}: {self.message}")


def raise_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`DataValidationError` if ``problems`` is not empty."""
    if problems:
        raise DataValidationError(problems)
