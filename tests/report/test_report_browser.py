"""The report in real headless Chromium: figures render, no network, hostile text stays text."""

from __future__ import annotations

import shutil

import pytest
from playwright import sync_api

from rox.report.workspace_report import write_report

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        # fail, never skip: a run without a browser must not pass as a run that tested it
        pytest.fail(
            "Chromium not found on PATH: scripts/test installs Debian's chromium when it may "
            "(as root or with sudo); else run: sudo apt-get install chromium"
        )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield b
        b.close()


def test_report_renders_offline_in_chromium(browser, hostile_ws, hostile_text, tmp_path):
    path = write_report(hostile_ws, tmp_path / "r.html")
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg")
    n_figures = page.locator(".figure").count()
    assert n_figures >= 4
    assert page.locator(".js-plotly-plot").count() == n_figures
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    # the hostile touchpoint name is shown as text and its script never ran
    assert page.evaluate("window.__pwned") is None
    assert hostile_text in page.inner_text("body")
    page.close()
