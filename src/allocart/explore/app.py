"""The explorer's web app (Dash): :func:`create_app` builds it, :func:`serve` runs it locally.

``allocart explore`` calls :func:`serve`. The first computation loads the compiled solver
from the disk cache (or compiles it once); :func:`serve` does it before the server answers,
so the first page shows at once.
"""

from __future__ import annotations

import errno
import socket
import threading
import webbrowser

import dash

from allocart.errors import AllocartError
from allocart.explore.callbacks import register
from allocart.explore.compute import Choice, explore
from allocart.explore.layout import layout

__all__ = ["create_app", "serve", "check_port"]


def create_app(initial: Choice | None = None) -> dash.Dash:
    """The explorer app, its controls set to ``initial`` (default: :class:`Choice`'s defaults)."""
    app = dash.Dash(
        __name__,
        title="allocart explorer",
        serve_locally=True,
        update_title=None,  # type: ignore[arg-type]  # None (no "Updating..." title) is documented
    )
    app.layout = layout(initial or Choice())
    register(app)
    return app


def check_port(host: str, port: int) -> None:
    """Refuse a port that is out of range or already in use on ``host``, in one line.

    Raises
    ------
    AllocartError
        Naming ``port`` or ``host`` (the command line: ``--port``, ``--host``) and what to do.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AllocartError(f"port: {port!r} must be a whole number 1-65535", argument="port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise AllocartError(
            f"host: {host!r} is not an address of this machine", argument="host"
        ) from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AllocartError(
                    f"port: {port} is in use on {host}; choose another, e.g. {port + 1}",
                    argument="port",
                ) from None
            raise AllocartError(
                f"host: cannot listen on {host}:{port} ({exc.strerror})", argument="host"
            ) from None


def serve(
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    open_browser: bool = True,
    initial: Choice | None = None,
) -> None:
    """Serve the explorer on ``http://host:port/`` until interrupted.

    Parameters
    ----------
    host : str
        Address to listen on; the default, loopback, is reachable from this machine only.
    port : int
        TCP port.
    open_browser : bool
        Open the page in the default web browser once the server starts.
    initial : Choice, optional
        Initial setting of the controls.

    Raises
    ------
    AllocartError
        On a port in use, an address that is not this machine's, or an initial choice the
        model refuses.
    """
    check_port(host, port)
    choice = initial or Choice()
    ex = explore(choice)  # loads (or compiles) the solver before the first request
    app = create_app(choice)
    url = f"http://{host}:{port}/"
    print(
        f"allocart explorer on {url} (typical patient and {choice.n} virtual patients in "
        f"{ex.seconds:.1f} s); Ctrl+C stops it",
        flush=True,
    )
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    app.run(host=host, port=port, debug=False)
