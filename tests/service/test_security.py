"""Keys and scopes (401/403), keys stored hashed, body size (413), malformed JSON, rates (429)."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

import rox
from rox.service import ServiceConfig, create_app
from rox.service.keys import create_key, key_hash, list_keys, revoke_key


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/v1/responses", "write"),
        ("post", "/v1/events", "write"),
        ("get", "/v1/metrics/nps", "read"),
        ("get", "/v1/cases", "read"),
        ("get", "/v1/keys", "admin"),
        ("get", "/v1/export/responses", "admin"),
        ("post", "/v1/customers/c1/erase", "admin"),
    ],
)
def test_401_without_a_valid_key_and_403_without_the_scope(service, method, path, scope):
    call = getattr(service.client, method)
    assert call(path).status_code == 401
    assert call(path).headers["www-authenticate"] == "Bearer"
    assert call(path, headers={"Authorization": "Bearer rox_nope_nope"}).status_code == 401
    assert call(path, headers={"Authorization": "Basic abc"}).status_code == 401
    for other in ("read", "write", "admin"):
        status = call(path, headers=service.auth(other)).status_code
        allowed = other == scope or other == "admin"
        assert (status != 403) == allowed, (other, status)
        assert status != 401


def test_keys_are_stored_hashed_created_listed_and_revoked_through_the_api(service):
    admin = service.auth("admin")
    made = service.client.post("/v1/keys", json={"name": "app", "scopes": ["write"]},
                               headers=admin)  # fmt: skip
    assert made.status_code == 201
    token = made.json()["key"]
    assert token.startswith(f"rox_{made.json()['key_id']}_")
    listed = service.client.get("/v1/keys", headers=admin).json()
    assert [k["name"] for k in listed] == ["read", "write", "admin", "app"]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    auth = {"Authorization": f"Bearer {token}"}
    assert service.client.get("/v1/cases", headers=auth).status_code == 403  # write only
    revoked = service.client.delete(f"/v1/keys/{made.json()['key_id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert service.client.post("/v1/events", json={}, headers=auth).status_code == 401
    assert service.client.delete("/v1/keys/nosuch", headers=admin).status_code == 404
    bad = service.client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422
    service.stop()
    con = duckdb.connect(str(service.path), read_only=True)
    stored = con.execute("SELECT * FROM rox_api_keys").fetchall()
    con.close()
    text = repr(stored)
    assert token not in text
    assert key_hash(token) in text
    assert all(secret not in text for secret in service.keys.values())


def test_keys_in_python(tmp_path):
    with rox.open(str(tmp_path / "k.duckdb")) as ws:
        key, token = create_key(ws, "reporting", ["read", "read"])
        assert key.scopes == frozenset({"read"})
        assert key.allows("read")
        assert not key.allows("write")
        assert revoke_key(ws, key.key_id).revoked_at is not None
        assert not list_keys(ws)[0].allows("read")
        with pytest.raises(rox.errors.ServiceError, match="unknown scope"):
            create_key(ws, "x", ["sudo"])
        with pytest.raises(rox.errors.ServiceError, match="no API key"):
            revoke_key(ws, "missing")
    assert token.count("_") >= 2


def test_body_over_the_limit_is_413_with_or_without_content_length(tmp_path):
    path = tmp_path / "w.duckdb"
    with rox.open(str(path)) as ws:
        token = create_key(ws, "w", ["write"])[1]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with TestClient(create_app(ServiceConfig(str(path), max_body=1000))) as client:
        big = b"[" + b",".join([b'{"ts": "2026-05-01", "metric": "nps", "score": 9}'] * 40) + b"]"
        r = client.post("/v1/responses", content=big, headers=auth)
        assert r.status_code == 413
        assert "1,000 bytes" in r.json()["detail"]

        def chunks():
            yield big[:600]
            yield big[600:]

        assert client.post("/v1/responses", content=chunks(), headers=auth).status_code == 413
        small = b'{"ts": "2026-05-01", "metric": "nps", "score": 9}'
        assert client.post("/v1/responses", content=small, headers=auth).status_code == 201


def test_malformed_json_is_422(service):
    headers = {**service.auth("write"), "Content-Type": "application/json"}
    r = service.client.post("/v1/responses", content=b'{"ts": "2026-05-01", ', headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_rate_limits_per_key_and_per_client_answer_429_with_retry_after(tmp_path):
    path = tmp_path / "w.duckdb"
    with rox.open(str(path)) as ws:
        a = create_key(ws, "a", ["read"])[1]
        b = create_key(ws, "b", ["read"])[1]
    # per key: 3 at once, then 0.5 per second (the next token is 2 s away)
    app = create_app(ServiceConfig(str(path), client_rate=0, key_rate=0.5, key_burst=3))
    with TestClient(app) as client:
        got = [client.get("/v1/cases", headers={"Authorization": f"Bearer {a}"}) for _ in range(4)]
        assert [r.status_code for r in got] == [200, 200, 200, 429]
        assert got[3].headers["retry-after"] == "2"
        # another key has its own bucket
        assert client.get("/v1/cases", headers={"Authorization": f"Bearer {b}"}).status_code == 200
    # per client: 2 at once, then 0.25 per second, whatever the key (even none)
    app = create_app(ServiceConfig(str(path), client_rate=0.25, client_burst=2, key_rate=0))
    with TestClient(app) as client:
        got = [client.get("/v1/cases") for _ in range(3)]
        assert [r.status_code for r in got] == [401, 401, 429]
        assert got[2].headers["retry-after"] == "4"


def test_token_bucket_by_hand():
    from rox.service.limits import RateLimiter

    limiter = RateLimiter(rate=2.0, burst=3)  # 3 at once, then one every 0.5 s
    assert [limiter.wait("a", now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("a", now=10.0) == pytest.approx(0.5)
    assert limiter.wait("a", now=10.49) == pytest.approx(0.01)  # just short of a token
    assert limiter.wait("a", now=10.5) == 0.0  # (the refused try took nothing)
    assert limiter.wait("b", now=10.5) == 0.0  # another name, another bucket
    assert limiter.wait("a", now=100.0) == 0.0  # refilled, but never above the burst:
    assert [limiter.wait("a", now=100.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    assert RateLimiter(rate=0, burst=1).wait("a") == 0.0  # no limit
