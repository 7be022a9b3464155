"""A page in a real headless browser (Debian's chromium through Playwright) for the browser tests.

The report's test (``tests/trial/test_report_browser.py``) and the explorer's
(``tests/explore/test_browser.py``) open their page with :func:`open_page`: it fails the test
when the page logs a console error, a request fails or anything is loaded from outside. Where
chromium or Playwright is missing the test is skipped (:func:`browser_available`), except on CI
(``CI=true``), where it fails: CI installs chromium in ``.ci/run``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_available() -> None:
    """Skip the test (fail it on CI) when chromium or Playwright is missing."""
    missing = []
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install allocart[test])")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"the browser test needs {' and '.join(missing)}; .ci/run installs chromium"
            )
        pytest.skip(f"needs {' and '.join(missing)}")


@contextlib.contextmanager
def open_page(url: str, is_local: Callable[[str], bool], width: int, height: int) -> Iterator[Any]:
    """A Playwright page of ``width`` x ``height`` pixels that has loaded ``url``; the browser is
    closed on exit, and then the test fails on any console error, failed request or request to a
    URL that ``is_local`` refuses.
    """
    browser_available()
    # Playwright is an optional test dependency, imported once the browser is known to be there.
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    failed: list[str] = []
    external: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=ARGS,
            headless=True,
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("request", lambda r: None if is_local(r.url) else external.append(r.url))
            page.goto(url, wait_until="load")
            yield page
        finally:
            browser.close()
    assert errors == [], errors
    assert failed == [], failed
    assert external == [], external
