"""Library errors name the Python argument; the command line shows the flag the user typed."""

from __future__ import annotations

import pytest

import allocart as ac
from allocart.cli.app import _in_flags, main


def test_library_error_names_the_python_argument():
    with pytest.raises(ac.ProductError) as info:
        ac.load_product("no-such-product")
    assert str(info.value).startswith("product: unknown product 'no-such-product'")
    assert info.value.argument == "product"
    with pytest.raises(ac.ProductError) as info:
        ac.Scenario.create("allogeneic-cd19cd20", "abc", "flu-cy")
    assert str(info.value).startswith("dose: cannot read 'abc'")
    assert "--" not in str(info.value).split(";")[0]


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["simulate", "--dose", "abc", "--typical"], "error: --dose: cannot read 'abc'"),
        (["simulate", "--product", "nope", "--typical"], "error: --product: unknown product"),
        (["simulate", "--ld", "nope", "--typical"], "error: --ld: unknown regimen"),
        (["simulate", "--n", "0"], "error: --n: 0 must be"),
    ],
)
def test_command_line_shows_the_flag(argv, start, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(start), err
    assert "\n" not in err


def test_mapping_rules():
    argv = ["simulate", "--dose", "-3"]
    # A name with its unit maps to the option without it.
    assert _in_flags("dose_cells: -3 must be >= 0", "dose_cells", argv).startswith("--dose:")
    # A name that is no option of the command (a field inside a file) is left alone.
    assert _in_flags("cohort_size: 0 must be >= 1", "cohort_size", argv) == (
        "cohort_size: 0 must be >= 1"
    )
    # Only the argument as a whole word, once.
    assert _in_flags("n: n_max and n differ", "n", ["simulate"]) == "--n: n_max and n differ"
    assert _in_flags("any text", None, argv) == "any text"


def test_error_keeps_its_argument_across_processes():
    import pickle

    err = pickle.loads(pickle.dumps(ac.ProductError("dose: bad", argument="dose")))
    assert err.argument == "dose"
    assert str(err) == "dose: bad"


def test_an_exact_option_wins_over_a_shorter_prefix():
    # `allocart cohort` has --n; `allocart design pathways` has --n-doses and --n-cohorts.
    assert _in_flags("n_doses: 0 must be >= 1", "n_doses", ["design", "pathways"]).startswith(
        "--n-doses:"
    )
    assert _in_flags("n: 0 must be >= 1", "n", ["cohort"]).startswith("--n:")
