"""``allocart export mrgsolve|rxode2|nonmem|sbml``: files written, time 0, one-line refusals."""

from __future__ import annotations

import csv

import libsbml
import pytest

from allocart.cli.app import main
from allocart.model.equations import MODEL


@pytest.mark.parametrize(
    ("tool", "name", "companion"),
    [
        ("mrgsolve", "m.cpp", "m_doses.csv"),
        ("rxode2", "m.R", None),
        ("nonmem", "m.ctl", "m.csv"),
    ],
)
def test_export_writes_the_model_and_its_doses(tool, name, companion, tmp_path, capsys):
    out = tmp_path / "sub" / name
    argv = ["export", tool, "--product", "autologous-cd19", "--dose", "1e6/kg"]
    argv += ["--regimen", "reduced", "--days", "60", "--redose", "30:3e8", "--out", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert "autologous-cd19" in text and "t_offset_days = -7" in text
    assert all(s in text for s in MODEL.state_names)
    assert "time 0 is day -7" in capsys.readouterr().out.lower()
    if companion is not None:
        rows = list(csv.reader((tmp_path / "sub" / companion).open()))
        times = [float(r[1]) for r in rows[1:]]
        # reduced: fludarabine and cyclophosphamide days -5 to -3; infusions days 0 and 30
        assert min(times) >= 0 and 37.0 in times and 7.0 in times
    else:
        assert 'time = 37.0, amt = 300000000.0, cmt = "E"' in text


def test_export_sbml_starts_at_zero(tmp_path, capsys):
    out = tmp_path / "m.xml"
    assert main(["export", "sbml", "--product", "autologous-cd20", "--out", str(out)]) == 0
    m = libsbml.readSBMLFromString(out.read_text()).getModel()
    assert m.getParameter("t_offset_days").getValue() == -7.0
    assert "simulate from time 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["export", "mrgsolve", "--out", "m.txt"], "--out"),
        (["export", "nonmem", "--out", "m.csv"], "--out"),
        (["export", "rxode2", "--dose", "-3"], "--dose"),
        (["export", "nonmem", "--regimen", "nope"], "nope"),
        (["export", "mrgsolve", "--redose", "x"], "--redose"),
    ],
)
def test_bad_options_are_refused_in_one_line(argv, flag, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and flag in err
    assert not any(tmp_path.iterdir())
