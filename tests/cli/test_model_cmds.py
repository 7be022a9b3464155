"""The model's command line: simulate, export, params, products."""

import pandas as pd
import pytest

from allocart.cli.app import main
from allocart.model.equations import MODEL
from tests.helpers_cli import run_cli


def test_simulate_typical_states_to_csv(tmp_path, capsys):
    out = tmp_path / "sim.csv"
    assert (
        main(
            [
                "simulate",
                "--product",
                "autologous-cd19",
                "--dose",
                "1e6/kg",
                "--ld",
                "flu-cy",
                "--days",
                "30",
                "--typical",
                "--states",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    df = pd.read_csv(out)
    assert list(df["time"]) == list(range(31))
    for s in MODEL.state_names:
        assert s in df.columns
    assert {"id", "car_t_cells_per_ul", "b_cells_per_ul", "anc_1e9_per_l"} <= set(df.columns)


def test_simulate_population_to_parquet(tmp_path):
    args = ["simulate", "--n", "5", "--seed", "3", "--days", "10", "--dose", "3e8", "--out"]
    out = tmp_path / "sim.parquet"
    assert main([*args, str(out)]) == 0
    df = pd.read_parquet(out)
    assert sorted(df["id"].unique()) == [1, 2, 3, 4, 5]
    again = tmp_path / "again.parquet"
    main([*args, str(again)])
    pd.testing.assert_frame_equal(df, pd.read_parquet(again))


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--product", "nope"], "--product: unknown product 'nope'"),
        (["--dose", "-1e6/kg"], "--dose: '-1e6/kg' is negative"),
        (["--dose", "3e8 furlongs"], "--dose: cannot read '3e8 furlongs'"),
        (["--ld", "nope"], "--ld: unknown regimen 'nope'"),
        (["--out", "x.txt"], "--out: 'x.txt' must end in .csv or .parquet"),
    ],
)
def test_bad_input_gives_one_clear_line(args, needle):
    proc = run_cli(["simulate", "--days", "5", *args])
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_params_file_gives_one_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("k_Trej: 20\n")
    proc = run_cli(["simulate", "--params", str(f)])
    assert (
        proc.returncode == 2 and "`k_Trej` = 20" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_malformed_product_yaml(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\norigin: allogeneic\ntargets: [CD22]\n")
    proc = run_cli(["simulate", "--product", str(f)])
    assert proc.returncode == 2 and "targets" in proc.stderr and "CD22" in proc.stderr


def test_export_sbml(tmp_path):
    out = tmp_path / "m.xml"
    assert (
        main(
            [
                "export",
                "sbml",
                "--product",
                "allogeneic-cd19cd20",
                "--dose",
                "3e8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "<sbml" in out.read_text()


def test_params_and_products_list(capsys):
    assert main(["params", "--json"]) == 0
    assert '"k_Trej"' in capsys.readouterr().out
    assert main(["products"]) == 0
    text = capsys.readouterr().out
    assert "allogeneic-cd19cd20" in text and "flu-cy" in text
