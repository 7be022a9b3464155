"""The kernel cache key covers every source the compiled code depends on.

numba freezes the globals of the modules a kernel imports (the step-size controller's
constants in ``engine/_dopri5.py``, the status codes in ``engine/status.py``) into the machine
code it caches. A key that hashed only the generated file would keep a stale kernel after such
a constant changed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import allocart.engine.compile as compile_mod
from allocart.engine.compile import KERNEL_TEMPLATES, LANE_TEMPLATES, kernel_key
from allocart.engine.sensitivity import SENS_TEMPLATES

ENGINE = Path(compile_mod.__file__).parent
KERNEL_SOURCES = KERNEL_TEMPLATES + LANE_TEMPLATES + SENS_TEMPLATES


def _with_changed(monkeypatch: pytest.MonkeyPatch, module: str, edit) -> None:
    real = compile_mod._module_source

    def fake(name: str) -> str:
        text = real(name)
        return edit(text) if name == module else text

    monkeypatch.setattr(compile_mod, "_module_source", fake)


# The kernels as build_kernel and sensitivity_kernel join them (the lane templates follow
# the kernel template).
KERNELS = (KERNEL_TEMPLATES, KERNEL_TEMPLATES + LANE_TEMPLATES, SENS_TEMPLATES)


@pytest.mark.parametrize("templates", KERNELS, ids=lambda t: "+".join(t))
def test_key_changes_with_a_solver_constant(monkeypatch, templates):
    source = "\n".join((ENGINE / t).read_text(encoding="utf-8") for t in templates)
    before = kernel_key(source)
    assert kernel_key(source) == before  # deterministic

    def edit(text: str) -> str:
        changed, n = re.subn(r"^_FAC_MAX = .*$", "_FAC_MAX = 7.0", text, flags=re.M)
        assert n == 1, "the controller constant _FAC_MAX moved: update this test"
        return changed

    _with_changed(monkeypatch, "allocart.engine._dopri5", edit)
    assert kernel_key(source) != before


@pytest.mark.parametrize("templates", KERNELS, ids=lambda t: "+".join(t))
def test_key_changes_with_every_module_the_templates_import(monkeypatch, templates):
    # The tableau, the controller, the stops, the vector exp/log, exact decay and the status
    # codes live in modules the templates import: an edit to any of them is a new kernel.
    source = "\n".join((ENGINE / t).read_text(encoding="utf-8") for t in templates)
    modules = sorted(compile_mod._imported_allocart_modules(source))
    assert "allocart.engine._dopri5" in modules
    before = kernel_key(source)
    for module in modules:
        with monkeypatch.context() as m:
            _with_changed(m, module, lambda t: t + "\n# changed\n")
            assert kernel_key(source) != before, module


def test_key_follows_imports_transitively(monkeypatch):
    # _sens_src imports engine._stops, which imports engine.events: a change two levels down
    # must still give a new kernel.
    source = (ENGINE / "_sens_src.py").read_text(encoding="utf-8")
    before = kernel_key(source)
    _with_changed(monkeypatch, "allocart.engine.events", lambda t: t + "\n# changed\n")
    assert kernel_key(source) != before


def test_key_ignores_modules_it_does_not_import(monkeypatch):
    source = "import math\nN_STATES = 1\n"
    before = kernel_key(source)
    _with_changed(monkeypatch, "allocart.engine._dopri5", lambda t: t + "\n# changed\n")
    assert kernel_key(source) == before


def test_every_template_import_is_hashed():
    # The templates must import allocart modules only in forms the key's scanner sees.
    for template in KERNEL_SOURCES:
        text = (ENGINE / template).read_text(encoding="utf-8")
        seen = compile_mod._imported_allocart_modules(text)
        written = set(re.findall(r"^\s*(?:from|import)\s+(allocart[\w.]*)", text, flags=re.M))
        assert written <= seen, template
    assert "allocart.engine._dopri5" in compile_mod._imported_allocart_modules(
        (ENGINE / "_kernel_src.py").read_text(encoding="utf-8")
    )
