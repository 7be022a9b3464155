"""Options, inputs and outputs shared by several commands (``allocart.cli.shared``)."""

from __future__ import annotations

import json

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from allocart.cli.shared import (
    check_table_output,
    echo_json,
    echo_measurements,
    parameter_table,
)
from allocart.errors import AllocartError, ModelError
from allocart.model.parameters import load_default_parameters


@pytest.mark.parametrize("name", ["t.csv", "t.CSV", "t.parquet", "sub/t.Parquet"])
def test_table_output_accepts_csv_and_parquet(tmp_path, name):
    check_table_output(tmp_path / name, ModelError)
    check_table_output(None, ModelError)  # printed, not written


def test_table_output_refuses_other_suffixes_with_the_flag(tmp_path):
    with pytest.raises(ModelError, match=r"^--out: .*t\.txt' must end in \.csv or \.parquet$"):
        check_table_output(tmp_path / "t.txt", ModelError)
    (tmp_path / "folder.csv").mkdir()  # a folder where the table goes: refused, by default class
    with pytest.raises(AllocartError, match="--out"):
        check_table_output(tmp_path / "folder.csv")


@given(st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c, max_size=3)))
def test_echo_json_round_trips(value):
    app = typer.Typer()
    app.command()(lambda: echo_json(value))
    assert json.loads(CliRunner().invoke(app, []).output) == value


def test_echo_measurements_one_aligned_line_each(capsys):
    echo_measurements({"seconds": 1234.5678, "patients": 8})
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{'seconds':28s} 1,235", f"{'patients':28s} 8"]


def test_parameter_table_applies_overrides_and_names_the_flag(tmp_path):
    assert parameter_table(None, "--params").values() == load_default_parameters().values()
    f = tmp_path / "over.yaml"
    f.write_text("k_Trej: 0.3\n")
    assert parameter_table(f, "--params")["k_Trej"].value == 0.3  # 1/day, as written
    f.write_text("no_such_parameter: 1\n")
    with pytest.raises(AllocartError, match="--model-params"):
        parameter_table(f, "--model-params")
