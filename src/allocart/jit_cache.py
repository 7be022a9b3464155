"""Numba's on-disk cache of allocart's compiled functions, kept fresh across modules.

Numba decides whether a cached machine-code file is still valid from the source of the one file
that defines the function (:meth:`numba.core.caching.UserProvidedCacheLocator.get_source_stamp`
hashes that file). A compiled function carries the code of every jitted function it calls,
inlined or linked in, and those often live in other modules: the TITE-BOIN and BF-BOIN kernels
(:mod:`allocart.design.tite_boin`, :mod:`allocart.design.bfboin`) call the enrolment calendar of
:mod:`allocart.design.enrolment` and the BOIN rules of :mod:`allocart.design.boin`; the solver's
kernels call :mod:`allocart.engine._dopri5`. After a change to a callee alone, numba would load
the caller's stale machine code.

The locators here take the place of numba's for functions defined in allocart's own files: the
cache folder is numba's usual one, but the source stamp is a digest of every allocart module
that uses numba, so any change to jitted allocart code recompiles every allocart function once.
Functions of other packages, and the solver kernels generated into the cache folder (keyed on
their own sources, :func:`allocart.engine.compile.kernel_key`), keep numba's locators.

:func:`install` runs when this module is imported. Numba picks a function's locator when the
function is decorated, so every allocart module that defines a jitted function imports this
module before its first decorator (``tests/test_jit_cache.py`` checks that each does)::

    import allocart.jit_cache  # noqa: F401  (numba cache locators, before the decorators)
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from numba.core import caching

__all__ = ["PACKAGE_DIR", "jitted_sources_digest", "install", "LOCATORS"]

#: The folder of the installed ``allocart`` package.
PACKAGE_DIR = Path(__file__).resolve().parent


def _inside_package(py_file: str, root: Path) -> bool:
    try:
        Path(py_file).resolve().relative_to(root)
    except ValueError:
        return False
    return True


@functools.cache
def jitted_sources_digest(root: Path) -> bytes:
    """SHA-256 over the path and text of every module under ``root`` that uses numba.

    Computed once per process (a package's sources do not change under a running program; a
    changed file is seen by the next process).

    Parameters
    ----------
    root : Path
        The package folder (:data:`PACKAGE_DIR` for allocart's functions).

    Returns
    -------
    bytes
        The digest; numba stores it in each cache index as the source stamp.
    """
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" not in text:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(text)
        digest.update(b"\0")
    return digest.digest()


class _PackageStamp:
    """The source stamp of an allocart function: the digest of every jitted allocart module."""

    def get_source_stamp(self) -> Any:
        return jitted_sources_digest(PACKAGE_DIR)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if not _inside_package(py_file, PACKAGE_DIR):
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]


def _numba(*names: str) -> Any:
    # Numba made its caching classes public (CacheImpl, UserProvidedCacheLocator, ...) after
    # 0.59, the oldest release allocart accepts; the private names are those of older releases.
    for name in names:
        if hasattr(caching, name):
            return getattr(caching, name)
    raise ImportError(f"numba.core.caching has none of {names}: this numba is not supported")


_CacheImpl = _numba("CacheImpl", "_CacheImpl")
_UserProvided = _numba("UserProvidedCacheLocator", "_UserProvidedCacheLocator")
_InTree = _numba("InTreeCacheLocator", "_InTreeCacheLocator")
_UserWide = _numba("UserWideCacheLocator", "_UserWideCacheLocator")


class PackageUserProvidedCacheLocator(_PackageStamp, _UserProvided):  # type: ignore[misc,valid-type]
    """Numba's ``NUMBA_CACHE_DIR`` locator, with the package-wide source stamp."""


class PackageInTreeCacheLocator(_PackageStamp, _InTree):  # type: ignore[misc,valid-type]
    """Numba's ``__pycache__`` locator, with the package-wide source stamp."""


class PackageUserWideCacheLocator(_PackageStamp, _UserWide):  # type: ignore[misc,valid-type]
    """Numba's per-user cache locator (read-only installs), with the package-wide source stamp."""


#: In numba's order of preference: the cache folder the user names, ``__pycache__`` beside the
#: module, then a per-user folder.
LOCATORS = (
    PackageUserProvidedCacheLocator,
    PackageInTreeCacheLocator,
    PackageUserWideCacheLocator,
)


def install() -> None:
    """Put allocart's locators ahead of numba's (idempotent).

    Numba tries its locator classes in order and keeps the first that accepts a function;
    allocart's accept only functions defined in allocart's files. ``NUMBA_CACHE_LOCATOR_CLASSES``,
    when a user sets it, still overrides the list, as numba documents.
    """
    classes = _CacheImpl._locator_classes
    for cls in reversed(LOCATORS):
        if cls not in classes:
            classes.insert(0, cls)


install()
