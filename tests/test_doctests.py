"""The examples in the library's docstrings run and print what they show.

Every module of the package whose docstrings hold an interactive example (``>>>``) is run
through :mod:`doctest`; the generated kernel templates are source text, not importable
modules, and hold none.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import allocart

_ROOT = Path(allocart.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(_ROOT.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(_ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_found() -> None:
    # The public modules document their use by example; an empty list means the scan broke.
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0, f"{name}: no example was run"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
