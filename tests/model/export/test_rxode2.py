"""rxode2 export: structure, and the model read back and solved reproduces allocart."""

from __future__ import annotations

import re

from allocart.model.equations import MODEL
from allocart.model.export import to_rxode2
from allocart.model.parameters import load_default_parameters
from tests.model.export.agreement import MAX_REL_DIFF, worst_relative_difference
from tests.model.export.r_agreement import check_r_solution
from tests.model.export.reader import read_rxode2
from tests.model.export.rscript import run_r, skip_without


def test_structure(export):
    text = to_rxode2(export)
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
    ini = text[text.index("ini({") : text.index("model({")]
    body = text[text.index("model({") :]
    for p in load_default_parameters().rows:  # every parameter of the table is named
        assert re.search(rf"^\s+(tv_)?{p.name} <- fix\(", ini, re.M), p.name
    for p in export.varying:
        assert re.search(rf"^\s+eta_{p.name} ~ [0-9.e-]+", ini, re.M), p.name
        assert re.search(rf"^    {p.name} <- .*tv_{p.name}\b.*eta_{p.name}\b", body, re.M)
    for st in MODEL.states:
        assert f"d/dt({st.name}) <- " in body and f"    {st.name}(0) <- " in body
    assert "f(E) <- f_E0" in body and "f(M) <- 1 - f_E0" in body
    doses = re.findall(
        r'et\(allocart_events, time = ([0-9.]+), amt = ([0-9.e+]+), cmt = "(\w+)"', text
    )
    assert [(float(t), s) for t, _, s in doses] == [(d.time, d.state) for d in export.doses]
    assert "t_offset_days = -7" in text


def test_read_back_reproduces_simulate(typical, export, export_times):
    res = read_rxode2(to_rxode2(export)).simulate(export_times)[1:]
    rel, name = worst_relative_difference(res, typical.states[0])
    assert rel <= MAX_REL_DIFF, (name, rel)


def test_rxode2_reproduces_simulate(typical, export, export_times, tmp_path):
    skip_without("rxode2")
    (tmp_path / "model.R").write_text(to_rxode2(export))
    frame = run_r(
        'source("model.R")\n'
        "sim <- rxode2::rxSolve(rxode2::zeroRe(allocart_model), allocart_events,\n"
        "  atol = 1e-12, rtol = 1e-10, maxsteps = 1e6, returnType = 'data.frame')\n"
        'write.csv(sim, "out.csv", row.names = FALSE)\n',
        tmp_path,
    )
    check_r_solution(frame, typical, export, export_times)
