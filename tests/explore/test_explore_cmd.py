"""``allocart explore``: options refused in one line before the server starts."""

from __future__ import annotations

import socket
import sys

import pytest

from allocart.cli.app import main
from allocart.cli.explore_cmd import NEEDS_DASH
from allocart.errors import AllocartError
from allocart.explore.app import check_port


def _err(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_a_port_in_use_is_refused_naming_the_flag(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        err = _err(capsys, ["explore", "--no-browser", "--port", str(port)])
    assert err == (f"error: --port: {port} is in use on 127.0.0.1; choose another, e.g. {port + 1}")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--port", "0"], "error: --port: 0 must be a whole number 1-65535"),
        (["--port", "70000"], "error: --port: 70000 must be a whole number 1-65535"),
        (["--host", "no.such.host.invalid"], "error: --host: 'no.such.host.invalid'"),
        (["--dose", "lots"], "error: --dose: cannot read 'lots'"),
        (["--n", "0"], "error: --n: 0 must be a whole number of patients"),
        (["--seed", "-2"], "error: --seed: -2 must be a whole number >= 0"),
        (["--product", "nope"], "error: --product: unknown product 'nope'"),
    ],
)
def test_bad_options_are_refused_in_one_line(capsys, argv, words):
    err = _err(capsys, ["explore", "--no-browser", *argv])
    assert err.startswith(words), err


def test_check_port_accepts_a_free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_port("127.0.0.1", port)  # free again once closed
    with pytest.raises(AllocartError, match="port: True"):
        check_port("127.0.0.1", True)


def test_without_dash_the_command_says_how_to_install_it(capsys, monkeypatch):
    for name in list(sys.modules):
        if name == "dash" or name.startswith(("dash.", "allocart.explore.")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dash", None)  # import dash raises ImportError
    assert _err(capsys, ["explore", "--no-browser"]) == f"error: {NEEDS_DASH}"
