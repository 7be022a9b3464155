"""Reading and writing the files a user names: every file-level problem in one place.

Every loader of a user's YAML or JSON file (protocols, products and regimens, parameter
overrides, clinical records, population tables) reads it through :func:`load_yaml` or
:func:`load_json`, and every command that writes a file or a folder checks the path with
:func:`check_output` before the work starts. A problem with the file itself — missing, a folder
where a file is expected, unreadable, too large, not UTF-8, not valid YAML or JSON, nested too
deeply, an output that cannot be written — is raised as one line that names the file, says what
is wrong and what to do::

    protocol: file 'p.yaml' is not UTF-8 text (byte 0xff at position 8); save it as UTF-8
    --out: cannot write 'notes.txt/x.csv': 'notes.txt' is a file, not a folder; choose another path

The error is a :class:`~allocart.errors.FileError` and also an instance of the loader's own
error class (``DesignError`` for protocols, ``ProductError`` for products, ...), so callers
catching either keep working. :func:`os_error_message` turns any ``OSError`` about a file into
the same kind of line; the command line uses it for errors raised by writers it does not check
in advance.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from allocart.errors import AllocartError, FileError

__all__ = [
    "MAX_TEXT_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "read_text",
    "load_yaml",
    "load_json",
    "parse_json",
    "check_output",
    "is_file",
    "os_error_message",
    "file_error",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
]

#: Largest YAML or JSON file read (50 MB): far above any protocol, product or records file,
#: small enough that a mistaken path (a data dump, a disk image) fails at once.
MAX_TEXT_BYTES = 50 * 1024 * 1024

#: Deepest nesting of mappings and lists accepted in a YAML or JSON file. The deepest input of
#: the package (clinical records: patients > records > record > mapping > list) needs about 8.
MAX_DEPTH = 100

#: Most values a YAML file may expand to once its aliases are resolved (a guard against
#: "billion laughs" files, whose few lines expand to billions of values).
MAX_VALUES = 5_000_000


_ERROR_CLASSES: dict[type[AllocartError], type[FileError]] = {}


def _error_class(base: type[AllocartError]) -> type[FileError]:
    """A FileError that is also a ``base`` (e.g. DesignError), so both ``except`` clauses catch it.

    One class per ``base``, made once, so that errors of the same kind share a class.
    """
    if issubclass(base, FileError):
        return base
    if base not in _ERROR_CLASSES:
        _ERROR_CLASSES[base] = _make_error_class(base)
    return _ERROR_CLASSES[base]


def _make_error_class(base: type[AllocartError]) -> type[FileError]:

    def __reduce__(self: BaseException) -> tuple[Any, tuple[str, type[AllocartError]]]:
        return file_error, (str(self), base)  # picklable across processes

    return type(
        base.__name__,
        (FileError, base),
        {"__module__": base.__module__, "__doc__": FileError.__doc__, "__reduce__": __reduce__},
    )


def file_error(message: str, error: type[AllocartError] = FileError) -> FileError:
    """The exception for a file-level problem: a :class:`FileError` that is also an ``error``.

    A message that starts with a Python argument name (``"params: file ... does not exist"``)
    records it as the error's ``argument``, which the command line shows as its flag.
    """
    lead = re.match(r"([A-Za-z_]\w*):", message)
    return _error_class(error)(message, argument=lead.group(1) if lead else None)


def _show(path: Path | str) -> str:
    return repr(str(path))


def os_error_message(exc: OSError, what: str | None, *, writing: bool = False) -> str:
    """One line naming the file of ``exc`` (an ``OSError``), what went wrong and what to do.

    ``what`` names the option or input (``"--out"``, ``"protocol"``) and starts the line; None
    starts it with the problem.
    """
    text = _os_error_text(exc, what or "", writing=writing)
    return text if what else text.removeprefix(": ")


def _os_error_text(exc: OSError, what: str, *, writing: bool) -> str:
    name = exc.filename if exc.filename is not None else "?"
    shown = _show(name)
    verb = "write" if writing else "read"
    code = exc.errno
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        if writing:
            return f"{what}: cannot {verb} {shown}: a folder on its path does not exist; create it or choose another path"
        return f"{what}: file {shown} does not exist; check the path"
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        fix = (
            "choose a folder you can write to"
            if writing
            else "make it readable or copy it somewhere readable"
        )
        return f"{what}: cannot {verb} {shown} (permission denied); {fix}"
    if isinstance(exc, IsADirectoryError) or code == errno.EISDIR:
        return f"{what}: {shown} is a folder, not a file; give the path of a file"
    if isinstance(exc, NotADirectoryError) or code == errno.ENOTDIR:
        return f"{what}: cannot {verb} {shown}: part of the path is a file, not a folder; choose another path"
    if code == errno.ENAMETOOLONG:
        return f"{what}: the path {shown[:60]}... is too long for the file system ({len(str(name))} characters); shorten it"
    if isinstance(exc, FileExistsError) or code == errno.EEXIST:
        return f"{what}: {shown} already exists; remove it or choose another path"
    if code == errno.ENOSPC:
        return f"{what}: cannot {verb} {shown}: no space left on the device; free some space or choose another disk"
    if code == errno.EROFS:
        return f"{what}: cannot {verb} {shown}: the file system is read-only; choose another path"
    reason = exc.strerror or str(exc)
    return f"{what}: cannot {verb} {shown} ({reason}); check the path"


def is_file(path: str | Path) -> bool:
    """``Path(path).is_file()``, False (not an exception) for a name the system cannot look up."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # name too long, NUL byte, ...
        return False


def read_text(
    path: str | Path,
    *,
    what: str,
    error: type[AllocartError] = FileError,
    max_bytes: int | None = None,
    kind: str = "text",
) -> str:
    """The UTF-8 text of a user's file, or one line saying why it cannot be read.

    Parameters
    ----------
    path : path
        The file.
    what : str
        What the file is, as the user named it: ``"protocol"``, ``"--params"``...
    error : AllocartError subclass
        The loader's error class; the raised error is also a :class:`FileError`.
    max_bytes : int, optional
        Largest size read (default :data:`MAX_TEXT_BYTES`).
    kind : str
        The format, for the message on a file that is too large (``"YAML"``, ``"JSON"``).

    Raises
    ------
    FileError
        Missing, a folder, unreadable, larger than ``max_bytes`` or not UTF-8.
    """
    if max_bytes is None:
        max_bytes = MAX_TEXT_BYTES
    p = Path(path)
    try:
        if p.is_dir():
            raise file_error(
                f"{what}: {_show(p)} is a folder, not a file; give the path of a file", error
            )
        size = p.stat().st_size
        if size > max_bytes:
            raise file_error(
                f"{what}: file {_show(p)} is {_size(size)}, over the {_size(max_bytes)} limit for "
                f"{kind} files; give a smaller file",
                error,
            )
        data = _read_bytes(p, max_bytes)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(p)
        raise file_error(os_error_message(exc, what), error) from None
    if len(data) > max_bytes:  # grew while being read, or a special file without a size
        raise file_error(
            f"{what}: file {_show(p)} is over the {_size(max_bytes)} limit for {kind} files; give a smaller file",
            error,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        line = data[: exc.start].count(b"\n") + 1
        raise file_error(
            f"{what}: file {_show(p)} is not UTF-8 text (byte 0x{bad} at line {line}, position {exc.start}); "
            "save it as UTF-8",
            error,
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB".replace(".0 MB", " MB") if n >= 2**20 else f"{n:,} bytes"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(max_bytes + 1)


def _check_shape(data: Any, label: str, error: type[AllocartError], *, count: bool) -> None:
    """Refuse data nested deeper than MAX_DEPTH or (YAML aliases) expanding to over MAX_VALUES values."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if count and seen > MAX_VALUES:
            raise file_error(
                f"{label} expands to more than {MAX_VALUES:,} values (through YAML aliases); "
                "write the values out or split the file",
                error,
            )
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= MAX_DEPTH and children:
            raise file_error(
                f"{label} is nested more than {MAX_DEPTH} levels deep; flatten it", error
            )
        stack.extend((c, depth + 1) for c in children)


def load_yaml(
    path: str | Path,
    *,
    what: str,
    error: type[AllocartError] = FileError,
    max_bytes: int | None = None,
) -> Any:
    """Read a user's YAML file (``yaml.safe_load``); every problem is one line (see :func:`read_text`).

    Raises
    ------
    FileError
        As :func:`read_text`, or if the text is not valid YAML, is nested more than
        :data:`MAX_DEPTH` levels deep or expands to more than :data:`MAX_VALUES` values.
    """
    text = read_text(path, what=what, error=error, max_bytes=max_bytes, kind="YAML")
    return parse_yaml(text, label=f"{what}: file {_show(path)}", error=error)


#: What a YAML tag reads a scalar as, for a message about a value it cannot read.
_YAML_KINDS = {
    "tag:yaml.org,2002:timestamp": "date",
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
}


class _YamlValueError(yaml.constructor.ConstructorError):
    """A value YAML reads by its form (a date, a number) that is not one."""


@cache
def _yaml_loader() -> type[yaml.SafeLoader]:
    """``yaml.SafeLoader`` whose errors on a value (an unquoted ``2024-02-30``, an integer of
    5,000 digits, ``!!int x``) are YAML errors with the value's line and column, not tracebacks."""

    class Loader(yaml.SafeLoader):
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except yaml.YAMLError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                kind = _YAML_KINDS.get(node.tag, "value")
                shown = repr(node.value) if isinstance(node.value, str) else f"a {kind}"
                if len(shown) > 60:
                    shown = f"{shown[:40]}...' ({len(node.value)} characters)"
                why = " ".join(str(exc).split()).split(";")[0][:120]
                raise _YamlValueError(
                    None, None, f"{shown} is not a valid {kind} ({why})", node.start_mark
                ) from None

    return Loader


def parse_yaml(text: str, *, label: str, error: type[AllocartError] = FileError) -> Any:
    """Parse YAML text; ``label`` starts every message (e.g. ``"protocol: file 'p.yaml'"``)."""
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        fix = (
            "correct it, or quote it if it is text"
            if isinstance(exc, _YamlValueError)
            else "fix the syntax"
        )
        raise file_error(f"{label} is not valid YAML{where}: {problem}; {fix}", error) from None
    except RecursionError:
        raise file_error(f"{label} is nested too deeply to read; flatten it", error) from None
    _check_shape(data, label, error, count=True)
    return data


def load_json(
    path: str | Path,
    *,
    what: str,
    error: type[AllocartError] = FileError,
    max_bytes: int | None = None,
) -> Any:
    """Read a user's JSON file; every problem is one line (see :func:`read_text`).

    Raises
    ------
    FileError
        As :func:`read_text`, or if the text is not valid JSON or is nested more than
        :data:`MAX_DEPTH` levels deep.
    """
    text = read_text(path, what=what, error=error, max_bytes=max_bytes, kind="JSON")
    return parse_json(text, label=f"{what}: file {_show(path)}", error=error)


def parse_json(text: str, *, label: str, error: type[AllocartError] = FileError) -> Any:
    """Parse JSON text; ``label`` starts every message."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise file_error(
            f"{label} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the syntax",
            error,
        ) from None
    except ValueError as exc:  # an integer of more digits than Python converts (4,300)
        why = " ".join(str(exc).split()).split(";")[0]
        raise file_error(f"{label} is not valid JSON: {why}; shorten the number", error) from None
    except RecursionError:
        raise file_error(
            f"{label} is nested more than {MAX_DEPTH} levels deep; flatten it", error
        ) from None
    _check_shape(data, label, error, count=False)
    return data


def check_output(
    path: str | Path,
    *,
    what: str = "--out",
    folder: bool = False,
    overwrite: bool = True,
    error: type[AllocartError] = FileError,
) -> Path:
    """Check, before any work, that ``path`` can be written; create nothing.

    Parameters
    ----------
    path : path
        The file (or, with ``folder``, the folder) to be written.
    what : str
        The option naming it (``"--out"``).
    folder : bool
        Whether ``path`` is a folder (created if missing) rather than a file.
    overwrite : bool
        Whether an existing file may be replaced (False: refuse it).

    Raises
    ------
    FileError
        If ``path`` is the wrong kind (a folder where a file is written, or the reverse),
        exists where that is refused, lies below a file, or its folder cannot be written.
    """
    p = Path(path)
    shown = _show(p)
    try:
        if p.exists():
            if folder and not p.is_dir():
                raise file_error(f"{what}: {shown} is a file, not a folder; give a folder", error)
            if not folder and p.is_dir():
                raise file_error(f"{what}: {shown} is a folder; give a file name inside it", error)
            if not overwrite:
                raise file_error(
                    f"{what}: {shown} already exists; remove it or choose another path", error
                )
            if not os.access(p, os.W_OK):
                raise file_error(
                    f"{what}: cannot write {shown} (permission denied); choose a path you can write to",
                    error,
                )
            if folder and not os.access(p, os.X_OK):
                raise file_error(
                    f"{what}: cannot write in {shown} (permission denied); choose a folder you can write to",
                    error,
                )
            return p
        # The nearest existing folder on the path must be a folder we can create entries in.
        parent = p.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise file_error(
                f"{what}: cannot write {shown}: {_show(parent)} is a file, not a folder; choose another path",
                error,
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise file_error(
                f"{what}: cannot write {shown}: no permission to write in {_show(parent)}; "
                "choose a folder you can write to",
                error,
            )
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(p)
        raise file_error(os_error_message(exc, what, writing=True), error) from None
    return p


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Create or replace ``path`` atomically: readers see the old file or the whole new one.

    ``write(tmp)`` fills a temporary file next to ``path`` (same folder, so the final move is a
    rename on one file system); the file is flushed to disk and moved into place with
    :func:`os.replace` (atomic on POSIX and Windows). The temporary name is
    ``.<name>.tmp<pid>``, hidden and unique per process; it is removed if ``write`` fails.

    Parameters
    ----------
    path : path
        The file to write; its folder must exist.
    write : callable
        ``write(tmp)`` writes the whole content to the path ``tmp`` (e.g.
        ``lambda p: frame.to_csv(p, index=False)``).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", lambda p: p.write_text("abc")).read_text()
    'abc'
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns ``path``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically as UTF-8 (see :func:`atomic_write`); returns ``path``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> atomic_write_text(folder / "b.txt", "día").read_bytes()
    b'd\\xc3\\xada'
    """
    return atomic_write_bytes(path, text.encode("utf-8"))
