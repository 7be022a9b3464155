"""Numba's disk cache of allocart functions is invalidated by a change to any jitted module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest
from numba.core import caching

import allocart.design.boin as boin
from allocart import jit_cache

CALLER = """
import numba
from pkg.callee import step

@numba.njit(cache=True)
def run(x):
    return step(x)
"""

CALLEE = """
import numba

@numba.njit(cache=True)
def step(x):
    return x + {inc}
"""

# Run in a fresh process: numba chooses a locator when the function is decorated and loads
# cached machine code only across processes.
SCRIPT = """
import sys
from pathlib import Path
import allocart.jit_cache as jc
if sys.argv[2] == "package":
    jc.PACKAGE_DIR = Path(sys.argv[1]) / "pkg"
sys.path.insert(0, sys.argv[1])
from pkg.caller import run
print(run(1.0))
"""


def _run(tmp: Path, mode: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp), mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(out.stdout.strip())


@pytest.mark.parametrize(("mode", "after_change"), [("package", 3.0), ("numba", 2.0)])
def test_a_changed_callee_recompiles_its_caller(tmp_path, mode, after_change):
    # "numba" is the control: with numba's own locators the caller's cached machine code, which
    # carries the callee's old body, is loaded after the callee changed (2.0, stale). Inside the
    # package the stamp covers every jitted module, so the caller is compiled again (3.0).
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "caller.py").write_text(CALLER)
    (pkg / "callee.py").write_text(CALLEE.format(inc=1))
    assert _run(tmp_path, mode) == 2.0
    assert _run(tmp_path, mode) == 2.0  # from the cache
    (pkg / "callee.py").write_text(CALLEE.format(inc=2))
    assert _run(tmp_path, mode) == after_change


def _jitted_modules() -> list[Path]:
    out = []
    for path in sorted(jit_cache.PACKAGE_DIR.rglob("*.py")):
        # Kernel templates are compiled from the cache folder under their own key.
        if path.name.endswith("_src.py") or path.name == "jit_cache.py":
            continue
        if re.search(r"^@(numba\.)?(njit|jit)\b", path.read_text(encoding="utf-8"), re.M):
            out.append(path)
    return out


def test_every_jitted_module_installs_the_locators_before_its_decorators():
    modules = _jitted_modules()
    assert len(modules) >= 10
    for path in modules:
        text = path.read_text(encoding="utf-8")
        first = re.search(r"^@(numba\.)?(njit|jit)\b", text, re.M)
        imp = re.search(r"^import allocart\.jit_cache\b", text, re.M)
        assert imp and imp.start() < first.start(), path.relative_to(jit_cache.PACKAGE_DIR)


def test_allocart_functions_take_the_package_locators():
    assert list(caching.CacheImpl._locator_classes[:3]) == list(jit_cache.LOCATORS)
    jitted = [v for v in vars(boin).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert jitted, "allocart.design.boin defines jitted functions"
    for fn in jitted:
        locator = fn._cache._impl.locator
        assert isinstance(locator, jit_cache.LOCATORS), type(locator)
        assert locator.get_source_stamp() == jit_cache.jitted_sources_digest(jit_cache.PACKAGE_DIR)


def test_functions_outside_the_package_keep_numbas_locators(tmp_path):
    (tmp_path / "outside_mod.py").write_text(CALLEE.format(inc=1))
    sys.path.insert(0, str(tmp_path))
    try:
        import outside_mod
    finally:
        sys.path.remove(str(tmp_path))
    locator = outside_mod.step._cache._impl.locator
    assert not isinstance(locator, jit_cache.LOCATORS)


def test_digest_covers_jitted_modules_only(tmp_path):
    (tmp_path / "jitted.py").write_text("import numba\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    before = jit_cache.jitted_sources_digest.__wrapped__(tmp_path)
    (tmp_path / "plain.py").write_text("x = 2\n")
    assert jit_cache.jitted_sources_digest.__wrapped__(tmp_path) == before
    (tmp_path / "jitted.py").write_text(textwrap.dedent("import numba\nY = 1\n"))
    assert jit_cache.jitted_sources_digest.__wrapped__(tmp_path) != before
