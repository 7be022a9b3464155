"""Library errors speak of Python arguments, never of command-line flags.

A message of the library names the argument a Python caller passed (``dose: ...``) and records
it as ``AllocartError.argument``; the command line replaces it by its flag (``--dose: ...``).
A message written with a flag in the library would tell a Python user about an option they
never saw.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import allocart

SRC = Path(allocart.__file__).parent
FLAG = re.compile(r"^--[a-z][a-z0-9-]*")


def _leading_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _library_raises():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "cli":  # the command line speaks of flags
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                yield rel, node.lineno, node.exc


def test_no_library_error_starts_with_a_flag():
    offenders = []
    for rel, line, call in _library_raises():
        text = _leading_text(call.args[0])
        if text is not None and FLAG.match(text):
            offenders.append(f"{rel}:{line}: {text[:50]!r}")
    assert not offenders, "library errors naming CLI flags:\n" + "\n".join(offenders)


def test_errors_that_name_an_argument_record_it():
    # `raise XError(f"name: ...")` with a Python name first should say which argument it is.
    named = recorded = 0
    for _rel, _line, call in _library_raises():
        text = _leading_text(call.args[0])
        if text and re.match(r"^[a-z_][a-z0-9_]*: ", text):
            named += 1
            recorded += any(k.arg == "argument" for k in call.keywords)
    assert named > 50
    # Field names inside files (protocol fields, record fields) are not arguments, so not every
    # such message records one; the arguments of the public functions do.
    assert recorded > 40
