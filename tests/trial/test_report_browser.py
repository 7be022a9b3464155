"""The report in a real headless browser (Debian's chromium through Playwright).

It must render, log no console error, load nothing from outside, and show every figure with a
non-zero size. Where chromium is missing the test is skipped, except on CI (``CI=true``), where it
fails: CI installs chromium in ``.ci/run`` (see :mod:`tests.helpers_browser`).
"""

from __future__ import annotations

import pytest

from allocart.report.figures import figure_ids
from allocart.report.html import write_report
from allocart.trial.pools import arms_of
from allocart.trial.protocol import protocol_from_dict
from allocart.trial.runner import run_trial
from tests.helpers_browser import open_page
from tests.trial.conftest import small_dict
from tests.trial.fake_cohort import fake_simulate_cohort

#: Arms of ``small_dict()`` and every figure of its report (the run figures and one per arm).
N_ARMS = len(arms_of(protocol_from_dict(small_dict())))
FIGURE_IDS = figure_ids(N_ARMS)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import allocart.population.cohort as cohort

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cohort, "simulate_cohort", fake_simulate_cohort)
        res = run_trial(
            protocol_from_dict(small_dict()),
            tmp_path_factory.mktemp("report") / "run",
            workers=1,
            progress=False,
            report=write_report,
        )
    return res.report


def test_report_renders_without_errors_and_every_figure_is_visible(report):
    local = ("file:", "data:")
    with open_page(report.as_uri(), lambda url: url.startswith(local), 1280, 900) as page:
        assert page.title().startswith("Allogeneic CD19/CD20")
        assert page.locator("h1").inner_text().strip()
        assert page.locator("table").count() >= 3
        imgs = page.locator("img.figure")
        assert imgs.count() == len(FIGURE_IDS)
        safety = page.locator("#safety")
        safety.scroll_into_view_if_needed()
        assert safety.is_visible() and safety.inner_text().strip() == "Safety per dose"
        assert page.locator("table.safety").count() == N_ARMS
        for fid in FIGURE_IDS:
            img = page.locator(f"#fig-{fid} img")
            img.scroll_into_view_if_needed()
            assert img.is_visible(), fid
            loaded = img.evaluate("e => e.complete && e.naturalWidth > 0 && e.naturalHeight > 0")
            assert loaded, f"figure {fid} did not load"
            box = img.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, (fid, box)


def test_report_is_one_self_contained_file(report):
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count('src="data:image/png;base64,') == len(FIGURE_IDS)
    assert "<script" not in text  # nothing to fail in a browser console
    assert "http://" not in text and "https://" not in text
