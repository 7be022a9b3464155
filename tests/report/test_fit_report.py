"""The fit report (:mod:`allocart.report.fit`): the kit's page width, the diagnostics table, the
warning box and NUTS results. Built from the hand-made result of ``tests/fit/test_plots.py``
(no fit), so it runs in seconds."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser

import pandas as pd
import pytest

from allocart.fit.coverage import individual_coverage
from allocart.fit.plots import _save
from allocart.report.fit import patient_diagnostics_frame, write_report
from tests.fit.test_plots import _figures, result  # noqa: F401 (fixture)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.widths: list[int] = []
        self.style = ""
        self.in_style = False
        self.tables: list[dict] = []
        self.warning_depth = 0
        self.warning_text = ""
        self.div_depth = 0
        self.images: list[str] = []
        self.figures = 0
        self._table = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("width", "height"):
            if key == "width" and a.get(key) is not None:
                self.widths.append(int(a[key]))
        for m in re.finditer(r"width\s*:\s*(\d+)px", a.get("style") or ""):
            self.widths.append(int(m.group(1)))
        if tag == "style":
            self.in_style = True
        if tag == "div":
            self.div_depth += 1
            if "warning" in (a.get("class") or "").split() and not self.warning_depth:
                self.warning_depth = self.div_depth
        if tag == "table":
            self._table = {"class": a.get("class") or "", "rows": []}
            self.tables.append(self._table)
        if tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        if tag in ("td", "th") and self._table is not None:
            self._cell = ""
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "figure":
            self.figures += 1

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False
        if tag == "div":
            if self.warning_depth == self.div_depth:
                self.warning_depth = 0
            self.div_depth -= 1
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self._table["rows"][-1].append(self._cell.strip())
            self._cell = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self.in_style:
            self.style += data
        if self.warning_depth:
            self.warning_text += data
        if self._cell is not None:
            self._cell += data


def _report(result, tmp_path, truth_shift: float):  # noqa: F811 (fixture)
    plots = {
        title: _save(fig, tmp_path / f"{title}.png") for title, fig in _figures(result).items()
    }
    truth = pd.DataFrame(
        {
            "id": list(result.problem.ids),
            **{p: result.mode[:, j] * truth_shift for j, p in enumerate(result.param_names)},
        }
    )
    cov = individual_coverage(result, truth)
    path = write_report(
        result,
        tmp_path / f"report_{truth_shift}.html",
        plots=plots,
        coverage=cov,
        extra={"options": {"method": "map"}},
    )
    page = _Page()
    page.feed(path.read_text())
    return page, cov


def test_report_fits_1400_px_and_has_a_diagnostics_table(result, tmp_path):  # noqa: F811 (fixture)
    import base64

    page, _ = _report(result, tmp_path, truth_shift=1.0)
    css_widths = [int(w) for w in re.findall(r"(?:max-)?width\s*:\s*(\d+)px", page.style)]
    assert css_widths and max(css_widths) <= 1400
    assert re.search(r"body\{[^}]*max-width:\s*\d+px", page.style)
    assert all(w <= 1400 for w in page.widths)  # any size declared on an element
    # the figures are scaled down to the page, never wider than it
    assert re.search(r"figure img\{[^}]*max-width:\s*100%", page.style)
    assert page.figures == 3
    assert len(page.images) == 3
    for src in page.images:  # the pictures themselves, not only their declared size
        raw = base64.b64decode(src.split(",", 1)[1])
        assert struct.unpack(">II", raw[16:24])[0] <= 1400
    diag = [t for t in page.tables if "diagnostics" in t["class"].split()]
    assert len(diag) == 1
    header, *rows = diag[0]["rows"]
    assert header[:4] == ["patient", "converged", "iterations", "objective (-log posterior)"]
    assert any(h.startswith("shrinkage ") for h in header)
    assert [r[0] for r in rows] == ["P1", "P2", "P3"] and [r[1] for r in rows] == [
        "yes",
        "yes",
        "no",
    ]
    # the warning box: fixed parameters, the patient that did not converge, the Wald interval
    assert "conditional on" in page.warning_text and "P3" in page.warning_text
    assert "Wald" in page.warning_text and "k_Trej" in page.warning_text
    assert "Coverage check failed" not in page.warning_text
    assert "{" not in "".join(page.warning_text)  # no raw JSON


def test_warning_box_when_coverage_is_low(result, tmp_path):  # noqa: F811 (fixture)
    page, cov = _report(result, tmp_path, truth_shift=3.0)
    assert not cov["passed"] and cov["covered"] == 0 and cov["n"] == 3 * result.problem.k
    assert "Coverage check failed" in page.warning_text
    assert f"0 of {cov['n']}" in page.warning_text


def test_nuts_results_get_the_same_tables(result, tmp_path):  # noqa: F811 (fixture)
    """A NUTS population result (posterior quantiles, R-hat per patient's variable) is reported
    with its per-patient R-hat and ESS, and its sampler warning."""
    import dataclasses

    pop = {
        p: {
            "typical": v["typical"],
            "typical_q05": v["typical_lo"],
            "typical_q95": v["typical_hi"],
            "omega": 0.3,
            "omega_q05": 0.2,
            "omega_q95": 0.5,
        }
        for p, v in result.population.items()
    }
    var = {
        f"{p}[{sid}]": {"r_hat": 1.2 if sid == "P2" else 1.01, "ess_bulk": 50.0, "ess_tail": 60.0}
        for p in result.param_names
        for sid in result.problem.ids
    }
    diag = {
        "sampler": "NUTS (NumPyro)",
        "chains": 4,
        "num_warmup": 10,
        "num_samples": 10,
        "divergences": 3,
        "max_r_hat": 1.2,
        "min_ess_bulk": 50.0,
        "converged": False,
        "variables": var,
    }
    nuts = dataclasses.replace(result, method="nuts", population=pop, diagnostics=diag)
    frame = patient_diagnostics_frame(nuts)
    assert list(frame["converged"]) == [True, False, True] and frame[
        "max R-hat"
    ].max() == pytest.approx(1.2)
    page = _Page()
    page.feed(write_report(nuts, tmp_path / "nuts.html").read_text())
    assert "posterior quantiles" in "".join(c for t in page.tables for r in t["rows"] for c in r)
    assert "sampler has not converged" in page.warning_text
