"""Checks of command-line values shared by several commands, each failing with one line.

File paths are checked by :mod:`allocart.files`; this module holds the other shared options.
"""

from __future__ import annotations

from allocart.errors import AllocartError, DesignError

__all__ = ["check_seed", "check_scheduler_address", "DEFAULT_DASK_PORT"]

#: Port of a Dask scheduler address given without one (Dask's default).
DEFAULT_DASK_PORT = 8786


def check_seed(
    value: int | None, option: str = "--seed", error: type[AllocartError] = AllocartError
) -> None:
    """Refuse a negative seed (NumPy seeds are whole numbers >= 0)."""
    if value is not None and value < 0:
        raise error(f"{option}: {value!r} must be a whole number >= 0 (a seed), e.g. {option} 1")


def check_scheduler_address(address: str | None) -> None:
    """Refuse a ``--scheduler`` that is not a Dask address (checked before any work; connects to nothing).

    Raises
    ------
    DesignError
        On an unknown scheme (``nonsense://host``) or an unreadable host and port.
    """
    if address is None:
        return
    try:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import get_backend
    except ImportError:  # the run reports that dask.distributed is needed
        return
    text = str(address).strip()
    try:
        scheme, location = parse_address(text)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(location, DEFAULT_DASK_PORT)
    except (ValueError, TypeError) as exc:
        raise DesignError(
            f"--scheduler: {address!r} is not a Dask scheduler address ({' '.join(str(exc).split())}); "
            "give one such as tcp://127.0.0.1:8786"
        ) from None
