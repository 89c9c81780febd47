"""The dashboard over HTTP: sign-in and its cookie, who gets in, escaping, caching, static files."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pandas as pd
import plotly
import plotly.graph_objects as go
import pytest

import rox

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from rox.errors import ServiceError
from rox.report.html import Section
from rox.service import ServiceConfig, create_app
from rox.service.dashboard import (
    Page,
    PageCache,
    Pending,
    Reader,
    expensive,
    figure_json,
    overview,
    second_connection,
)
from rox.service.keys import create_key
from rox.service.tokens import TokenExpired, sign, subkey, unsign

HOSTILE = "<script>window.__pwned = 1</script>&\"'"


def make_keys(path: Path) -> dict[str, str]:
    with rox.open(str(path)) as ws:
        return {scope: create_key(ws, scope, [scope])[1] for scope in ("read", "write", "admin")}


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site.duckdb"
    keys = make_keys(path)
    config = ServiceConfig(
        str(path), client_rate=0, key_rate=0, dashboard_refresh=0, dashboard_wait=600, secret="s3"
    )
    with TestClient(create_app(config)) as client:
        yield client, keys


def _sign_in(client: TestClient, key: str, next_path: str = "/dashboard/overview"):
    return client.post("/login", data={"key": key, "next": next_path}, follow_redirects=False)


def _post(client: TestClient, keys, i: int, **over) -> None:
    body = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 9, "response_id": f"r{i}"}
    body.update(over)
    answer = client.post(
        "/v1/responses", json=body, headers={"Authorization": f"Bearer {keys['write']}"}
    )
    assert answer.status_code == 201, answer.text


def _count(page: str) -> int:
    """The first KPI of the overview: responses received."""
    match = re.search(r'class="value">([\d,]+)<', page)
    assert match is not None
    return int(match.group(1).replace(",", ""))


# -- signed tokens -------------------------------------------------------------------------------
def test_a_token_is_the_payload_and_its_hmac_sha256_as_rfc_2104_defines_it():
    token = sign(b"key", {"k": "abc"}, ttl=60, now=1_000_000)
    body, mac = token.split(".")
    # by hand: base64url of the JSON with exp = now + ttl, then HMAC-SHA256 of that text
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) == b'{"k":"abc","exp":1000060}'
    expected = hmac.new(b"key", body.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)) == expected
    assert unsign(b"key", token, now=1_000_059) == {"k": "abc", "exp": 1_000_060}
    with pytest.raises(TokenExpired):  # the expiry itself is past
        unsign(b"key", token, now=1_000_060)
    # a fraction of a second is rounded up: valid when made, expired a second later
    brief = sign(b"key", {}, ttl=0.01, now=1_000_000.5)
    assert unsign(b"key", brief, now=1_000_000.5) == {"exp": 1_000_001}
    with pytest.raises(TokenExpired):
        unsign(b"key", brief, now=1_000_001)


@pytest.mark.parametrize("bad", ["", "abc", ".x", "x.", "e30.AAAA"])
def test_malformed_or_unsigned_tokens_are_refused(bad):
    with pytest.raises(ServiceError):
        unsign(b"key", bad)


def test_a_token_signed_with_another_secret_or_edited_is_refused():
    token = sign(b"key", {"k": "abc"}, ttl=60)
    with pytest.raises(ServiceError, match="signature"):
        unsign(b"other", token)
    mac = token.split(".")[1]
    forged = base64.urlsafe_b64encode(b'{"k":"admin","exp":9999999999}').rstrip(b"=").decode()
    with pytest.raises(ServiceError, match="signature"):
        unsign(b"key", f"{forged}.{mac}")


# -- sign-in -------------------------------------------------------------------------------------
def test_pages_need_a_session_and_send_to_the_sign_in_form(site):
    client, _ = site
    answer = client.get("/dashboard/worth", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/dashboard/worth"
    form = client.get("/login?next=/dashboard/worth")
    assert '<label for="key">' in form.text and 'value="/dashboard/worth"' in form.text


@pytest.mark.parametrize("scope", ["read", "write", None])
def test_only_an_admin_key_signs_in(site, scope):
    client, keys = site
    text = keys[scope] if scope else "rox_nope_nope"
    answer = _sign_in(client, text)
    assert answer.status_code == 401
    assert "rox_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/dashboard/overview", follow_redirects=False).status_code == 303


def test_an_admin_key_gets_an_httponly_strict_cookie_that_opens_the_pages(site):
    client, keys = site
    answer = _sign_in(client, keys["admin"], "/dashboard/journeys")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/journeys"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http here; https (or secure_cookie=True) adds it
    assert keys["admin"] not in answer.headers["set-cookie"]  # the key is not kept
    page = client.get("/dashboard/overview")
    assert page.status_code == 200 and "Responses received" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    signed_out = client.post("/logout", follow_redirects=False)
    assert signed_out.status_code == 303
    assert client.get("/dashboard/overview", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/v1/keys"])
def test_sign_in_never_redirects_off_the_dashboard(site, target):
    client, keys = site
    answer = _sign_in(client, keys["admin"], target)
    assert answer.headers["location"] == "/dashboard/overview"


def test_a_forged_or_expired_session_is_refused(site):
    client, keys = site
    _sign_in(client, keys["admin"])
    real = client.cookies["rox_session"]
    payload = json.loads(base64.urlsafe_b64decode(real.split(".")[0] + "=="))
    key = subkey(b"s3", "session")  # sessions sign with the secret's session subkey
    expired = sign(key, {"k": payload["k"]}, ttl=-1)
    other_secret = sign(subkey(b"not-s3", "session"), {"k": payload["k"]}, ttl=3600)
    unpurposed = sign(b"s3", {"k": payload["k"]}, ttl=3600)  # the secret itself: not a subkey
    for cookie in (expired, other_secret, unpurposed, real[:-2] + "AA"):
        client.cookies.clear()
        client.cookies.set("rox_session", cookie)
        assert client.get("/dashboard/overview", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("rox_session", sign(key, {"k": payload["k"]}, ttl=3600))
    assert client.get("/dashboard/overview", follow_redirects=False).status_code == 200


def test_revoking_the_key_ends_its_sessions_at_once(site):
    client, keys = site
    _sign_in(client, keys["admin"])
    listed = client.get("/v1/keys", headers={"Authorization": f"Bearer {keys['admin']}"}).json()
    admin_id = next(k["key_id"] for k in listed if k["name"] == "admin")
    # (revoked with another admin key: make one through the API)
    other = client.post(
        "/v1/keys",
        json={"name": "second", "scopes": ["admin"]},
        headers={"Authorization": f"Bearer {keys['admin']}"},
    ).json()["key"]
    assert client.get("/dashboard/overview", follow_redirects=False).status_code == 200
    gone = client.delete(f"/v1/keys/{admin_id}", headers={"Authorization": f"Bearer {other}"})
    assert gone.status_code == 200
    assert client.get("/dashboard/overview", follow_redirects=False).status_code == 303


# -- what the pages show -------------------------------------------------------------------------
def test_user_text_is_escaped_on_the_page(site):
    client, keys = site
    _post(client, keys, 1, comment=HOSTILE, touchpoint=HOSTILE)
    _sign_in(client, keys["admin"])
    page = client.get("/dashboard/overview").text
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&amp;&quot;&#x27;" in page


def test_figures_are_inert_json_whatever_their_text():
    fig = go.Figure(go.Bar(x=[HOSTILE], y=[1]), layout={"title": "</script><script>x()</script>"})
    element = figure_json(fig)
    inner = element.removeprefix('<script type="application/json" class="rox-figure">')
    inner = inner.removesuffix("</script>")
    assert "<" not in inner and ">" not in inner and "&" not in inner
    assert json.loads(inner)["layout"]["title"]["text"] == "</script><script>x()</script>"
    assert json.loads(inner)["data"][0]["x"] == [HOSTILE]


def test_a_page_is_recomputed_on_load_when_data_arrived(site):
    client, keys = site
    _post(client, keys, 1)
    _sign_in(client, keys["admin"])
    first = client.get("/dashboard/overview").text
    assert _count(first) == 1
    stamp = re.search(r"Computed at ([^(]+)\(data version (\d+)\)", first)
    again = client.get("/dashboard/overview").text
    assert re.search(r"Computed at ([^(]+)\(data version (\d+)\)", again).groups() == stamp.groups()
    _post(client, keys, 2, score=3)
    assert _count(client.get("/dashboard/overview").text) == 2


def test_within_the_refresh_interval_the_cached_page_is_served(tmp_path):
    path = tmp_path / "cached.duckdb"
    keys = make_keys(path)
    config = ServiceConfig(str(path), client_rate=0, key_rate=0, dashboard_refresh=3600)
    with TestClient(create_app(config)) as client:
        _post(client, keys, 1)
        _sign_in(client, keys["admin"])
        assert _count(client.get("/dashboard/overview").text) == 1
        _post(client, keys, 2)
        assert _count(client.get("/dashboard/overview").text) == 1  # an hour may pass first


def test_the_voice_and_actions_pages_say_what_they_cannot_show_and_unknown_pages_are_404(site):
    client, keys = site
    _sign_in(client, keys["admin"])
    for slug, title in (("voice", "Voice of the customer"), ("actions", "Customers at risk")):
        text = client.get(f"/dashboard/{slug}").text
        assert title in text and "Not available:" in text  # (this workspace has no comments)
    assert client.get("/dashboard/nope").status_code == 404
    empty = client.get("/dashboard/journeys").text
    assert "No journey events yet" in empty


def test_plotly_js_is_served_from_the_installed_package(site):
    client, _ = site
    answer = client.get("/static/plotly.min.js")
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert answer.status_code == 200 and answer.content == shipped.read_bytes()
    assert answer.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/app.py").status_code == 404


# -- the overview's parts: what is expensive kept apart, the rest recomputed on load (#19) -------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from rox.demo import build

    path = tmp_path_factory.mktemp("overview") / "demo.duckdb"
    build(path, n_customers=400, seed=7).close()
    with rox.open(str(path), read_only=True) as ws:
        yield ws


@pytest.fixture(scope="module")
def parts(demo):
    """The demo's expensive part, computed once for the tests of this module."""
    return expensive(demo)


def _figures(section):
    return [figure_json(f) for f in section.figures]


def test_the_shared_scorecards_and_comparisons_equal_each_figure_computed_alone(demo):
    from rox.experience import compare, measure
    from rox.report.headline import headline

    result = headline(demo, worth=None, audit=None)
    assert sorted(result.touchpoints) == ["ces", "csat", "nps"]
    for metric in ("nps", "csat", "ces"):
        # what the headline and the report's sections computed each on its own before
        alone = measure(demo, metric).frame.iloc[0]
        row = result.frame.set_index("metric").loc[metric]
        assert row["n"] == alone["n"]
        assert (row["estimate"], row["ci_low"], row["ci_high"]) == (
            alone["estimate"],
            alone["ci_low"],
            alone["ci_high"],
        )
        for by, period in ((None, "quarter"), ("touchpoint", None)):
            shared = result.card(demo, by=by, period=period)[metric].frame
            pd.testing.assert_frame_equal(shared, measure(demo, metric, by, period).frame)
        pd.testing.assert_frame_equal(
            result.touchpoints[metric].frame, compare(demo, metric, by="touchpoint").frame
        )
    # made once: the second section asking for a breakdown gets the same object
    assert result.card(demo, period="quarter") is result.card(demo, period="quarter")


@pytest.mark.slow
def test_the_overview_from_its_kept_part_is_the_overview_computed_whole(demo, parts):
    from rox.report.headline import headline

    assert parts.worth is not None and parts.audit is None  # (the worth holds the priced audit)
    built = overview(demo, parts)
    whole = overview(demo)  # (computes its expensive part itself)
    assert [s.title for s in built] == [s.title for s in whole]
    for mine, theirs in zip(built, whole, strict=True):
        assert mine.findings == theirs.findings and mine.kpis == theirs.kpis
        assert len(mine.tables) == len(theirs.tables)
        for a, b in zip(mine.tables, theirs.tables, strict=True):
            pd.testing.assert_frame_equal(a, b, rtol=1e-9)
    # the money leads the headline, as in the report's headline
    assert built[1].findings[0] == headline(demo).findings[0]


def test_while_the_expensive_part_is_computed_the_rest_of_the_overview_is_shown(demo, parts):
    whole = overview(demo, parts)
    waiting = overview(demo, Pending(0.0))
    titles = [s.title for s in waiting]
    assert titles[:3] == ["Responses received (latest 20 listed)", "Headline", titles[2]]
    assert titles[2] == "What experience is worth"
    assert "Being computed (started 1970-01-01 00:00:00 UTC)" in waiting[2].findings[0]
    assert not waiting[2].figures and not waiting[2].tables
    # the headline without the money; every metric section as in the whole overview
    assert waiting[1].findings == whole[1].findings[1 : 1 + len(waiting[1].findings)]
    later = {s.title: s for s in whole}
    for section in waiting[3:]:
        assert _figures(section) == _figures(later[section.title])


class _Place:
    """Runs each call on a thread when released (a stand-in for a dashboard Reader)."""

    def __init__(self):
        self.started = []

    def __call__(self, slug, fn):
        gate = threading.Event()
        future = Future()

        def run():
            gate.wait(10)
            future.set_result(fn(None))

        threading.Thread(target=run, daemon=True).start()
        self.started.append(gate)
        return future

    def release(self):
        for gate in self.started:
            gate.set()


def _settle():
    time.sleep(0.05)  # (the released thread sets its result)


def test_a_load_after_new_data_shows_the_last_page_until_the_new_one_is_ready():
    built = []

    def build(ws):
        built.append(len(built))
        return [Section(f"page {len(built)}")]

    page = Page("p", "P", build)
    place = _Place()
    cache = PageCache(0, live=place, wait=0.05)

    async def scenario():
        first = asyncio.ensure_future(cache.get(page, 1))
        await asyncio.sleep(0.1)
        assert not first.done()  # a page's first load waits for it whole
        place.release()
        body, _, note = await first
        assert "page 1" in body and note == ""
        assert (await cache.get(page, 1))[0] == body and len(place.started) == 1  # cached
        body, _, note = await cache.get(page, 2)  # new data: recomputation under way
        assert "page 1" in body and note == "a newer page is being computed (data version 2)"
        assert len(place.started) == 2
        assert "page 1" in (await cache.get(page, 2))[0] and len(place.started) == 2  # one at once
        place.release()
        _settle()
        body, _, note = await cache.get(page, 2)
        assert "page 2" in body and note == ""

    asyncio.run(scenario())


def test_the_expensive_part_is_computed_once_and_again_only_after_its_refresh_interval():
    parts = []

    def costly(ws):
        parts.append(len(parts) + 1)
        return f"parts {len(parts)}"

    page = Page("o", "O", lambda ws, p: [Section(f"with {p}")], costly)
    live, background = _Place(), _Place()
    cache = PageCache(0, live=live, background=background, expensive_refresh=3600, wait=0.05)

    async def scenario():
        first = asyncio.ensure_future(cache.get(page, 1))
        await asyncio.sleep(0.2)
        live.release()  # the page is shown without its expensive part, which is under way
        body, _, note = await first
        assert "Pending(since=" in body and note == "its worth of experience is being computed"
        background.release()
        _settle()
        body, _, note = await cache.get(page, 1)  # ready: the rest is recomputed with it
        assert "Pending(since=" in body and "a newer page is being computed" in note
        live.release()
        _settle()
        body, _, note = await cache.get(page, 1)
        assert "with parts 1" in body and note.startswith("its worth of experience at ")
        assert note.endswith("(data version 1)")
        # new data within the hour: the rest is recomputed, the expensive part is kept
        second = asyncio.ensure_future(cache.get(page, 2))
        await asyncio.sleep(0.1)
        live.release()
        await second
        _settle()
        body, _, _ = await cache.get(page, 2)
        assert "with parts 1" in body and parts == [1] and len(background.started) == 1

    asyncio.run(scenario())


def test_a_reader_reads_what_the_writer_committed_on_a_thread_of_its_own(tmp_path):
    path = str(tmp_path / "reader.duckdb")
    with rox.open(path) as ws:
        reader = Reader(lambda: second_connection(ws, path), "rox-test-reader")
        try:
            assert reader.call(lambda r: r.count("responses")).result(60) == 0
            ws.backend.raw_sql(
                "INSERT INTO responses (response_id, ts, metric, score) "
                "VALUES ('r1', TIMESTAMPTZ '2026-05-01 10:00:00+00', 'nps', 9)"
            )
            seen = reader.call(lambda r: (r.count("responses"), threading.current_thread().name))
            assert seen.result(60) == (1, "rox-test-reader")
            zone = reader.call(lambda r: r.backend.raw_sql("SELECT current_setting('TimeZone')"))
            assert zone.result(60).fetchone()[0] == "UTC"
        finally:
            reader.stop()
