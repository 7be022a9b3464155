"""Build a compiled solver kernel for one model right-hand side.

The generated model source and the solver kernel templates (``_kernel_src.py``, and the lane
kernel's ``_lanes*_src.py`` after the lane right-hand side) are joined into one Python file that lives in a cache directory, so numba's on-disk cache
(``@njit(cache=True)``) keys on a stable file: a second process that builds the same kernel
imports the file and loads machine code from the cache instead of compiling again.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import types
from pathlib import Path

import numba

import allocart.jit_cache  # noqa: F401 - numba cache locators, before the decorators
from allocart.errors import SolverError

__all__ = [
    "KERNEL_TEMPLATES",
    "LANE_TEMPLATES",
    "build_kernel",
    "kernel_cache_dir",
    "kernel_key",
    "load_generated",
    "template_source",
]

KERNEL_TEMPLATES = ("_kernel_src.py",)
"""The per-patient kernel's templates (files of this package), in the order they are joined."""
LANE_TEMPLATES = (
    "_lanes_src.py",
    "_lanes_step_src.py",
    "_lanes_dense_src.py",
    "_lanes_group_src.py",
)
"""The lane kernel's templates, joined after the lane right-hand side: the right-hand side and
workspace, the step, dense output, the lanes' bookkeeping."""
_LOCK = threading.Lock()
_REQUIRED = ("rhs", "N_STATES", "N_PARAMS")
_LANES_REQUIRED = (
    "rhs_lanes",
    "pre_lanes",
    "LANES",
    "LANE_P",
    "LANE_T",
    "LANE_Y",
    "LANE_D",
    "LANE_END",
)


def kernel_cache_dir() -> Path:
    """Directory for generated kernel files.

    Returns
    -------
    pathlib.Path
        ``$ALLOCART_CACHE_DIR`` if set, else ``~/.cache/allocart/kernels``.
    """
    env = os.environ.get("ALLOCART_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "allocart" / "kernels"


def template_source(templates: tuple[str, ...], title: str = "solver kernel") -> str:
    """The text of kernel templates of this package, each under a heading naming its file.

    Parameters
    ----------
    templates : tuple of str
        File names in ``allocart/engine``, e.g. :data:`KERNEL_TEMPLATES`.
    title : str
        What the headings call the templates.

    Returns
    -------
    str
        The templates joined in order.
    """
    here = Path(__file__).parent
    return "\n\n".join(
        f"# ---- {title} (allocart/engine/{t}) ----\n{(here / t).read_text(encoding='utf-8')}"
        for t in templates
    )


def _module_names(source: str, label: str, name: str) -> dict[str, ast.AST]:
    """Names a source defines at module level (functions, assignments), to their statements.

    ``label`` names the argument in the error raised when ``source`` is not valid Python.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SolverError(
            f"{label} for kernel {name!r} is not valid Python: {exc.msg} (line {exc.lineno})"
        ) from exc
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _check_source(
    source: str, label: str, name: str, required: tuple[str, ...]
) -> dict[str, ast.AST]:
    """Reject a source (argument ``label``) that lacks the names the kernel relies on, before
    writing anything; returns its module-level names (see :func:`_module_names`)."""
    found = _module_names(source, label, name)
    missing = [k for k in required if k not in found]
    if missing:
        raise SolverError(
            f"{label} for kernel {name!r} must define {', '.join(required)} at module "
            f"level; missing: {', '.join(missing)}"
        )
    return found


def build_kernel(rhs_source: str, name: str, lanes_source: str | None = None) -> types.ModuleType:
    """Compile-on-demand solver kernel for a model right-hand side.

    Parameters
    ----------
    rhs_source : str
        Python source defining ``def rhs(t, y, p, dydt)`` (``t`` float in days, ``y`` float64
        array of shape ``(N_STATES,)``, ``p`` float64 array of shape ``(N_PARAMS,)``; writes
        ``dydt`` in place using only arithmetic and ``math`` functions) and the module-level
        integer constants ``N_STATES`` and ``N_PARAMS``.
    name : str
        Short label used in the file and module name (letters, digits, ``_``).
    lanes_source : str, optional
        Source defining ``rhs_lanes(w)``, the same right-hand side for ``LANES`` patients at
        once on a flat workspace ``w`` (parameters, times, states and derivatives at the
        offsets ``LANE_P``, ``LANE_T``, ``LANE_Y``, ``LANE_D``, lane-minor), and
        ``pre_lanes(w)``, run whenever lanes get new patients, for per-patient constants the
        right-hand side reads below ``LANE_END`` (the first offset the solver may use), e.g.
        :func:`allocart.model.codegen.rhs_source_lanes`. With it the kernel also provides
        ``solve_all_lanes``, the SIMD DOPRI5 integrator that :func:`~allocart.engine.solve_batch`
        then uses for ``dopri5`` (docs/engine.md, "SIMD lanes").

    Returns
    -------
    types.ModuleType
        The imported kernel module. It exposes ``N_STATES``, ``N_PARAMS``, the pure Python
        ``rhs``, ``rhs_jit`` (compiled) and ``solve_all``, the parallel batch integrator used
        by :func:`allocart.engine.solve_batch`.

    Raises
    ------
    SolverError
        If the source is not valid Python or lacks ``rhs``/``N_STATES``/``N_PARAMS``.

    Notes
    -----
    The file name contains :func:`kernel_key`, a hash of the combined source, of every
    ``allocart`` module it imports (transitively) and of numba's version, so a changed model, a
    changed solver constant or a numba upgrade gets a new file and a fresh numba cache. Files are written to a
    temporary name and moved into place with :func:`os.replace`, so a concurrent process
    never imports half a file; an existing file is never rewritten, because numba's cache is
    invalidated by a changed modification time.
    """
    if not isinstance(rhs_source, str):
        raise SolverError(f"rhs_source must be a str, got {type(rhs_source).__name__}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
        raise SolverError(f"kernel name must match [A-Za-z0-9_]{{1,64}}, got {name!r}")
    fn = _check_source(rhs_source, "rhs_source", name, _REQUIRED)["rhs"]
    if not isinstance(fn, ast.FunctionDef) or [a.arg for a in fn.args.args] != [
        "t",
        "y",
        "p",
        "dydt",
    ]:
        raise SolverError(f"rhs_source for kernel {name!r}: rhs must be 'def rhs(t, y, p, dydt):'")
    if lanes_source is not None:
        if not isinstance(lanes_source, str):
            raise SolverError(f"lanes_source must be a str, got {type(lanes_source).__name__}")
        _check_source(lanes_source, "lanes_source", name, _LANES_REQUIRED)

    combined = (
        f"# Generated by allocart.engine.compile.build_kernel for {name!r}; do not edit.\n"
        "# ---- model right-hand side ----\n"
        f"{rhs_source.rstrip()}\n\n\n"
        f"{template_source(KERNEL_TEMPLATES)}"
    )
    if lanes_source is not None:
        combined += (
            "\n\n# ---- model right-hand side, SIMD lanes ----\n"
            f"{lanes_source.rstrip()}\n\n\n"
            f"{template_source(LANE_TEMPLATES, 'lane solver kernel')}"
        )
    return load_generated(combined, name)


def _imported_allocart_modules(source: str) -> set[str]:
    """Names of the ``allocart`` modules a source imports at any depth of its syntax tree."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "allocart" or node.module.startswith("allocart."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name == "allocart" or a.name.startswith("allocart.")
            )
    return found


def _module_source(module: str) -> str:
    """Text of an importable module's file ("" when it has no source file)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return ""
    return Path(spec.origin).read_text(encoding="utf-8")


def kernel_key(combined: str) -> str:
    """Cache key of a kernel source: it and everything its compiled code depends on.

    numba freezes the globals of every module the kernel imports (solver constants such as the
    step-size controller's bounds) into the machine code it caches, so the key hashes, besides
    the kernel source itself and numba's version, the source of every ``allocart`` module the
    kernel imports, followed transitively. A change to any of them gives a new file name and so
    a fresh compilation instead of a stale cached kernel.

    Parameters
    ----------
    combined : str
        The complete generated module source.

    Returns
    -------
    str
        20 hexadecimal digits.
    """
    h = hashlib.sha256((combined + "\0numba=" + numba.__version__).encode("utf-8"))
    seen: set[str] = set()
    todo = sorted(_imported_allocart_modules(combined))
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        text = _module_source(module)
        h.update(f"\0{module}\0".encode() + text.encode("utf-8"))
        todo.extend(sorted(_imported_allocart_modules(text) - seen))
    return h.hexdigest()[:20]


def load_generated(combined: str, name: str) -> types.ModuleType:
    """Write generated kernel source to the cache (once) and import it.

    Parameters
    ----------
    combined : str
        The complete module source.
    name : str
        Short label for the file and module name.

    Returns
    -------
    types.ModuleType
        The imported module; the same object for the same source within a process.
    """
    mod_name = f"allocart_kernel_{name}_{kernel_key(combined)}"

    with _LOCK:
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        cache = kernel_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SolverError(
                f"kernel cache directory {str(cache)!r} cannot be created ({exc}); set "
                "ALLOCART_CACHE_DIR to a writable directory"
            ) from exc
        path = cache / f"{mod_name}.py"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{mod_name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(combined)
                # Another process may have won the race; its file has the same content,
                # and keeping it preserves the mtime its numba cache entries refer to.
                if path.exists():
                    os.unlink(tmp)
                else:
                    os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - defensive
            raise SolverError(f"cannot import kernel file {str(path)!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise SolverError(f"kernel {name!r} failed to load from {str(path)!r}: {exc}") from exc
        return module
