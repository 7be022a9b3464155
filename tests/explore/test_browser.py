"""``allocart explore`` in a real headless browser (Debian's chromium through Playwright).

The command runs in a subprocess on a free loopback port. The page must render every graph and
the rate table, log no console error and load nothing from outside; changing the dose must
change the plotted data (the typical patient's CAR-T peak rises with the dose). The server is
stopped in every case, within bounded time. As for the report's browser test, a missing chromium
or Playwright skips the test, except on CI (``CI=true``), where it fails.

With ``ALLOCART_EXPLORE_SCREENSHOT=<file.png>`` set, the test also saves a screenshot of the
page (how ``docs/img/explore.png`` is made).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from allocart.explore.compute import PANELS, RATES
from allocart.explore.figures import TRACE_NAMES
from allocart.explore.layout import IDS, graph_id
from tests.helpers_browser import open_page

#: The server's first answer may wait for the solver to compile (a cold numba cache).
START_TIMEOUT_S = 300.0
#: One update of a 40-patient cohort takes about a second; the browser gets ample time.
UPDATE_TIMEOUT_MS = 60_000
#: Time the server gets to stop on SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
N = 40
FIRST_DOSE, SECOND_DOSE = "1e6/kg", "5e6/kg"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """URL of ``allocart explore`` running in a subprocess; stopped at the end in all cases."""
    port = _free_port()
    log = tmp_path_factory.mktemp("explore") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "allocart.cli.app",
                "explore",
                "--no-browser",
                "--port",
                str(port),
                "--n",
                str(N),
                "--dose",
                FIRST_DOSE,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"allocart explore exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"allocart explore did not answer in {START_TIMEOUT_S} s:\n{log.read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)


def _traces(page, key: str) -> list[dict]:
    """Name and y values of every trace of the graph of observable ``key``, as plotted."""
    return page.evaluate(
        """id => Array.from(document.getElementById(id).querySelector('.js-plotly-plot').data,
                  t => ({name: t.name, y: Array.from(t.y)}))""",
        graph_id(key),
    )


def _wait_status(page, needle: str) -> str:
    page.wait_for_function(
        """([id, needle]) => { const s = document.getElementById(id);
               return s && s.innerText.includes(needle) && s.innerText.includes('updated in'); }""",
        arg=[IDS["status"], needle],
        timeout=UPDATE_TIMEOUT_MS,
    )
    return page.locator(f"#{IDS['status']}").inner_text()


def test_explorer_renders_and_a_new_dose_changes_the_plots(server):
    with open_page(server, lambda url: url.startswith(server), 1400, 1100) as page:
        assert page.title() == "allocart explorer"
        status = _wait_status(page, FIRST_DOSE)
        assert f"{N} virtual patients" in status
        page.wait_for_selector(f"#{graph_id(PANELS[-1].key)} .js-plotly-plot .main-svg")
        before = {}
        for p in PANELS:
            traces = _traces(page, p.key)
            assert [t["name"] for t in traces] == list(TRACE_NAMES), p.key
            assert all(len(t["y"]) > 300 for t in traces), p.key
            box = page.locator(f"#{graph_id(p.key)}").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 200, p.key
            before[p.key] = traces
        rows = page.locator("table.rates tbody tr")
        assert rows.count() == len(RATES)
        assert all(f"/{N}" in rows.nth(i).inner_text() for i in range(len(RATES)))
        if shot := os.environ.get("ALLOCART_EXPLORE_SCREENSHOT"):
            Path(shot).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=shot, full_page=True)

        page.fill(f"#{IDS['dose']}", SECOND_DOSE)
        page.press(f"#{IDS['dose']}", "Enter")
        _wait_status(page, SECOND_DOSE)
        car = PANELS[0].key
        peak0 = max(v for v in before[car][3]["y"] if v is not None)
        # the graph redraws after the status line: wait for the typical peak to move
        page.wait_for_function(
            """([id, old]) => { const d = document.getElementById(id)
                    .querySelector('.js-plotly-plot').data;
                 return Math.max(...d[3].y.filter(v => v !== null)) !== old; }""",
            arg=[graph_id(car), peak0],
            timeout=UPDATE_TIMEOUT_MS,
        )
        after = _traces(page, car)
        typical = [t for t in after if t["name"] == "typical patient"][0]["y"]
        typical0 = [t for t in before[car] if t["name"] == "typical patient"][0]["y"]
        # five times the cells: a higher CAR-T peak in the typical patient
        assert max(v for v in typical if v is not None) > max(v for v in typical0 if v is not None)
        assert _traces(page, car)[2]["y"] != before[car][2]["y"]  # the cohort median moved
