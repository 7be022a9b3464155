"""The entry point: usage errors are Click's short message (exit 2), never a traceback."""

import pytest

from allocart.cli.app import main


@pytest.mark.parametrize(
    "argv,says",
    [
        (["data", "check"], "Missing argument"),
        (["fit", "data.csv"], "Missing option '--out'"),
        (["cohort", "--n", "many"], "Invalid value for '--n'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_are_one_message_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
