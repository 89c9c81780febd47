"""The dashboard in real headless Chromium, against a real ``rox serve`` on 127.0.0.1.

Sign in with an admin key; every page renders, its plotly charts draw (an svg each) and the
browser logs no error (the pages' Content-Security-Policy violations would be errors too); a
response posted with a comment holding a script shows as text on the overview and never runs.
Screenshots of each page go to ``test-artifacts/service/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
sync_api = pytest.importorskip("playwright.sync_api")

import rox  # noqa: E402
from rox.service.keys import create_key  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "service"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = '<script>window.__pwned = 1</script><b id="bold">bold?</b> & done'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(path: Path, port: int) -> subprocess.Popen[bytes]:
    """``rox serve`` on 127.0.0.1:port, its pages recomputed on every load after new data."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "rox", "serve", "-w", str(path), "--port", str(port),
           "--client-rate", "0", "--key-rate", "0", "--dashboard-refresh", "0",
           "--dashboard-wait", "600"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300  # (a busy machine starts Python slowly)
    while time.monotonic() < end:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A served demo brand of 400 customers; yields its base URL and a key per scope."""
    from rox.demo import build

    path = tmp_path_factory.mktemp("dashboard") / "demo.duckdb"
    build(path, n_customers=400, seed=7).close()
    with rox.open(str(path)) as ws:
        keys = {scope: create_key(ws, scope, [scope])[1] for scope in ("write", "admin")}
    port = _free_port()
    proc = serve(path, port)
    try:
        yield f"http://127.0.0.1:{port}", keys
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = shutil.which("chromium")
    if executable is None:
        # fail, never skip: a run without a browser must not pass as a run that tested it
        pytest.fail("Chromium not found on PATH: sudo apt-get install chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield b
        b.close()


def _watched(browser, base: str):
    """A new page whose errors and off-server requests are recorded."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(240_000)  # a page is computed on load; the machine is shared
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    local = (base, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))
    return page, errors, elsewhere


def _sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/dashboard/overview")
    assert page.url.startswith(f"{base}/login")
    page.get_by_label("API key (scope admin)").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/dashboard/overview")


def test_pages_render_their_charts_without_errors(browser, server):
    base, keys = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, errors, elsewhere = _watched(browser, base)
    _sign_in(page, base, keys["admin"])
    cookie = next(c for c in page.context.cookies() if c["name"] == "rox_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session
    charts = {"overview": 4, "worth": 1, "journeys": 3, "voice": 0, "actions": 0}
    for slug, least in charts.items():
        page.goto(f"{base}/dashboard/{slug}")
        if least:
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {least}"
            )
        drawn = page.locator(".js-plotly-plot").count()
        assert drawn == page.locator("script.rox-figure").count() >= least, slug
        page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
    shown = page.inner_text("main").lower()  # (the actions page, last)
    assert "customers at risk" in shown  # (the list, or why it cannot be made on 400 customers)
    assert errors == []
    assert elsewhere == []  # plotly.js and everything else came from the server
    page.close()


def test_a_posted_script_stays_inert_text_and_is_counted(browser, server):
    base, keys = server
    page, errors, _ = _watched(browser, base)
    _sign_in(page, base, keys["admin"])
    before = int(page.locator(".kpi .value").first.inner_text().replace(",", ""))
    answer = httpx.post(
        f"{base}/v1/responses",
        json={
            "ts": "2026-05-01T10:00:00Z",
            "metric": "nps",
            "score": 2,
            "comment": HOSTILE,
            "touchpoint": HOSTILE,
            "response_id": "hostile-1",
        },
        headers={"Authorization": f"Bearer {keys['write']}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    page.reload()
    page.wait_for_selector(".js-plotly-plot .main-svg")
    after = int(page.locator(".kpi .value").first.inner_text().replace(",", ""))
    assert after == before + 1
    text = page.inner_text("main")
    assert HOSTILE in text  # shown as the very text posted
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#bold").count() == 0  # no element was made of it
    page.screenshot(path=str(ARTIFACTS / "overview-hostile.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_survey_answered_without_javascript_on_a_phone_is_counted_on_the_dashboard(
    browser, server
):
    base, keys = server
    invitation = {"customer_id": "C-phone", "touchpoint": "delivery", "language": "it"}
    made = httpx.post(
        f"{base}/v1/invitations",
        json=invitation,
        headers={"Authorization": f"Bearer {keys['admin']}"},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    phone = browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    form = phone.new_page()
    form.goto(base + made.json()["url"])
    legend = form.locator("fieldset legend").inner_text()
    assert legend == "Quanto è probabile che ci consiglieresti a un amico o a un collega?"
    for part in ("form", "fieldset", "textarea", "button"):  # it fits the phone's width
        box = form.locator(part).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, part
    form.get_by_label("9", exact=True).check()
    form.get_by_label("C'è qualcosa che vorresti dirci? (facoltativo)").fill("<i>ottimo</i>")
    form.screenshot(path=str(ARTIFACTS / "survey-phone.png"), full_page=True)
    form.get_by_role("button", name="Invia").click()
    assert "Grazie" in form.inner_text("main")
    phone.close()

    page, errors, _ = _watched(browser, base)
    _sign_in(page, base, keys["admin"])
    page.wait_for_selector(".js-plotly-plot .main-svg")
    main = page.inner_text("main")
    assert "SURVEY RESPONSE RATE" in main.upper() and "1 of 1 forms shown" in main
    assert "<i>ottimo</i>" in main
    page.screenshot(path=str(ARTIFACTS / "overview-survey.png"), full_page=True)
    assert errors == []
    page.close()
