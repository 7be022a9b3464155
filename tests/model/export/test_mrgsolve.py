"""mrgsolve export: structure, and the model read back and solved reproduces allocart."""

from __future__ import annotations

import csv
import io
import re

from allocart.model.equations import MODEL
from allocart.model.export import mrgsolve_doses_csv, to_mrgsolve
from allocart.model.export.mrgsolve import mrgsolve_names
from allocart.model.parameters import load_default_parameters
from tests.model.export.agreement import MAX_REL_DIFF, worst_relative_difference
from tests.model.export.r_agreement import check_r_solution
from tests.model.export.reader import read_mrgsolve
from tests.model.export.rscript import run_r, skip_without

BLOCKS = ("$PROB", "$PARAM", "$CMT", "$OMEGA", "$MAIN", "$ODE", "$TABLE", "$CAPTURE")


def test_structure(export):
    text = to_mrgsolve(export)
    assert [b for b in BLOCKS if f"\n{b}" in "\n" + text] == list(BLOCKS)
    code = text[text.index("$MAIN") :]
    assert code.count("(") == code.count(")")
    params = text[text.index("$PARAM") : text.index("$CMT")]
    for p in load_default_parameters().rows:  # every parameter of the table is named
        assert re.search(rf"^(tv_)?{p.name}_? : ", params, re.M), p.name
    cmts = text[text.index("$CMT") : text.index("$OMEGA")]
    assert re.findall(r"^(\w+) : ", cmts, re.M) == list(MODEL.state_names)
    for st in MODEL.states:
        assert f"\ndxdt_{st.name} = " in code and f"\n{st.name}_0 = " in code
        # a declared variable named like mrgsolve's initial value of a compartment clashes
        assert f"double {st.name}_0 " not in code
    assert "F_E = f_E0;" in code and "F_M = 1.0 - f_E0;" in code
    assert mrgsolve_names(export)["Bn_0"] == "Bn_0_"
    rows = list(csv.DictReader(io.StringIO(mrgsolve_doses_csv(export))))
    assert [(float(r["time"]), MODEL.state_names[int(r["cmt"]) - 1]) for r in rows] == [
        (d.time, d.state) for d in export.doses
    ]


def test_read_back_reproduces_simulate(typical, export, export_times):
    model = read_mrgsolve(to_mrgsolve(export), mrgsolve_doses_csv(export))
    rel, name = worst_relative_difference(model.simulate(export_times)[1:], typical.states[0])
    assert rel <= MAX_REL_DIFF, (name, rel)


def test_mrgsolve_reproduces_simulate(typical, export, export_times, tmp_path):
    skip_without("mrgsolve")
    (tmp_path / "model.cpp").write_text(to_mrgsolve(export))
    (tmp_path / "model_doses.csv").write_text(mrgsolve_doses_csv(export))
    frame = run_r(
        "library(mrgsolve)\n"
        'mod <- mread("model", project = ".")\n'
        "mod <- update(zero_re(mod), atol = 1e-12, rtol = 1e-10, maxsteps = 1e6,\n"
        f"  end = {export.end_time!r}, delta = 1)\n"
        'out <- mrgsim(mod, data = read.csv("model_doses.csv"), obsonly = TRUE)\n'
        'write.csv(as.data.frame(out), "out.csv", row.names = FALSE)\n',
        tmp_path,
    )
    check_r_solution(frame, typical, export, export_times)
