"""The dashboard over HTTP: sign-in and its cookie, who gets in, escaping, caching, static files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest

import rox

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from rox.errors import ServiceError
from rox.service import ServiceConfig, create_app
from rox.service.dashboard import figure_json
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
