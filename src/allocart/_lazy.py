"""Names a package exports but loads on first use (PEP 562 module ``__getattr__``).

``allocart`` and ``allocart.report`` export names whose modules pull in heavy dependencies
(numba, DuckDB, matplotlib); loading them only when a name is first read keeps imports fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package with lazily loaded exports.

    Parameters
    ----------
    package : str
        The package's name, for the error of an unknown attribute.
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so later look-ups skip
        ``__getattr__``; its ``__all__`` is listed by ``__dir__``.
    exports : mapping of str to (str, str)
        Public name -> (module that defines it, name there).
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(target[0]), target[1])
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace["__all__"]))

    return __getattr__, __dir__
