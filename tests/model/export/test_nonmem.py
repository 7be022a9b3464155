"""NONMEM export: pharmpy parses the control stream and names every parameter; the model read
back and solved reproduces allocart; the data set starts at time 0."""

from __future__ import annotations

import csv
import io
import re

import pytest

from allocart.model.equations import MODEL
from allocart.model.export import nonmem_data_csv, to_nonmem
from allocart.model.export.nonmem import MAX_LINE, MAX_NAME, NONMEM_COLUMNS, nonmem_names
from allocart.model.parameters import load_default_parameters
from tests.model.export.agreement import MAX_REL_DIFF, worst_relative_difference
from tests.model.export.reader import read_nonmem

RECORDS = (
    "$PROBLEM",
    "$INPUT",
    "$DATA",
    "$SUBROUTINES",
    "$MODEL",
    "$PK",
    "$DES",
    "$ERROR",
    "$THETA",
    "$OMEGA",
    "$SIGMA",
    "$SIMULATION",
    "$TABLE",
)


@pytest.fixture(scope="module")
def files(export, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nonmem")
    (folder / "model.ctl").write_text(to_nonmem(export, data_file="model.csv"))
    (folder / "model.csv").write_text(nonmem_data_csv(export))
    return folder


def test_structure(export):
    text = to_nonmem(export)
    records = re.findall(r"^(\$[A-Z]+)", text, re.M)
    assert [r for k, r in enumerate(records) if k == 0 or records[k - 1] != r] == list(RECORDS)
    assert records.count("$OMEGA") == len(export.varying)
    assert "$SUBROUTINES ADVAN13" in text
    assert re.findall(r"COMP=\((\w+)", text) == list(MODEL.state_names)
    code = text[text.index("\n$PK") : text.index("\n$THETA")]
    assert code.count("(") == code.count(")")
    assert all(len(line) <= MAX_LINE for line in code.splitlines() if not line.startswith(";"))
    for i, _ in enumerate(MODEL.states):
        assert f"\nDADT({i + 1}) = " in code and f"\nA_0({i + 1}) = " in code
    names = nonmem_names(export)
    assert all(len(v) <= MAX_NAME for v in names.values())
    assert len({v.upper() for v in names.values()}) == len(names)  # NONMEM ignores case
    assert names["nu_m"] != names["nu_M"] and names["Phi"] != "Phi"
    theta = text[text.index("\n$THETA") : text.index("\n$OMEGA")]
    labels = re.findall(r"^\S+ FIX ; (\w+)$", theta, re.M)
    table = load_default_parameters().rows
    assert labels == [f"TV_{p.name}" for p in table]
    for k, p in enumerate(table):  # each THETA feeds the parameter of its name
        assert re.search(rf"^{re.escape(names[p.name])} = .*THETA\({k + 1}\)", code, re.M), p.name


def test_pharmpy_parses_and_names_every_parameter(export, files):
    pharmpy_modeling = pytest.importorskip("pharmpy.modeling")
    model = pharmpy_modeling.read_model(files / "model.ctl")
    table = load_default_parameters().rows
    varying = [p.name for p in export.varying]
    names = nonmem_names(export)
    thetas = [p for p in model.parameters.names if p not in model.random_variables.parameter_names]
    assert thetas == [f"TV_{p.name}" for p in table]
    variances = [p for p in model.parameters.names if p in model.random_variables.parameter_names]
    assert variances[: len(varying)] == [f"eta_{n}" for n in varying]  # the OMEGA of each ETA
    assert len(model.random_variables.etas.names) == len(varying)
    defined = {str(s.symbol) for s in model.statements.before_odes if hasattr(s, "symbol")}
    assert {names[p.name] for p in table} <= defined
    ode = model.statements.ode_system
    assert set(ode.compartment_names) >= set(MODEL.state_names) - {"GCSF"}
    data = model.dataset
    assert list(data.columns) == list(NONMEM_COLUMNS)
    assert data["TIME"].min() == 0 and data["TIME"].is_monotonic_increasing


def test_data_set_starts_at_zero_with_doses_first(export):
    rows = list(csv.DictReader(io.StringIO(nonmem_data_csv(export))))
    times = [float(r["TIME"]) for r in rows]
    assert times[0] == 0.0 and times == sorted(times)
    doses = [(float(r["TIME"]), int(r["CMT"]), float(r["AMT"])) for r in rows if r["EVID"] == "1"]
    assert doses == [(d.time, MODEL.state_names.index(d.state) + 1, d.amount) for d in export.doses]
    for k, r in enumerate(rows[:-1]):  # a dose precedes the observation at its time
        nxt = rows[k + 1]
        if r["EVID"] == "0" and nxt["EVID"] == "1":
            assert float(nxt["TIME"]) > float(r["TIME"])


def test_read_back_reproduces_simulate(typical, export, export_times):
    model = read_nonmem(to_nonmem(export), nonmem_data_csv(export))
    rel, name = worst_relative_difference(model.simulate(export_times)[1:], typical.states[0])
    assert rel <= MAX_REL_DIFF, (name, rel)
