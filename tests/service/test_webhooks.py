"""Inbound webhooks: Standard Webhooks signatures (good, wrong, stale), Formbricks payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from fastapi.testclient import TestClient

from rox.service import ServiceConfig, create_app

SECRET_BYTES = b"rox-webhook-test-secret-0123456789"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


def signed_headers(body: bytes, msg_id: str = "msg_1", at: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers, computed by hand from the specification (not the package)."""
    ts = str(int(time.time() if at is None else at))
    mac = hmac.new(SECRET_BYTES, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }


@pytest.fixture
def hooks(tmp_path):
    path = tmp_path / "hooks.duckdb"
    app = create_app(ServiceConfig(str(path), webhook_secret=SECRET, client_rate=0))
    with TestClient(app) as client:
        yield client, path


def formbricks(event: str = "responseFinished", score: object = 9, rid: str = "fb1") -> bytes:
    return json.dumps({
        "webhookId": "wh1",
        "event": event,
        "data": {
            "id": rid, "createdAt": "2026-05-01T10:00:00.000Z",
            "updatedAt": "2026-05-01T10:02:00.000Z", "surveyId": "onboarding",
            "finished": event == "responseFinished",
            "data": {"q-nps": score, "q-why": "the setup was <b>quick</b>"},
            "contact": {"id": "ct1", "userId": "C42"},
        },
    }).encode()  # fmt: skip


def stored(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT response_id, customer_id, score, touchpoint, comment FROM responses"
        ).fetchall()
    finally:
        con.close()


def test_formbricks_finished_response_is_stored_once(hooks):
    client, path = hooks
    url = "/v1/webhooks/formbricks?score=q-nps&comment=q-why"
    body = formbricks()
    first = client.post(url, content=body, headers=signed_headers(body))
    assert first.status_code == 201, first.text
    # Formbricks retries the same message: same webhook-id, stored once, same answer
    retry = client.post(url, content=body, headers=signed_headers(body))
    assert retry.json() == first.json()
    # created and updated events of the response are acknowledged and ignored
    created = formbricks("responseCreated")
    ignored = client.post(url, content=created, headers=signed_headers(created, "msg_2"))
    assert ignored.status_code == 200
    assert ignored.json() == {"ignored": "not a finished response"}
    client.__exit__(None, None, None)
    assert stored(path) == [("formbricks:fb1", "C42", 9.0, "onboarding",
                             "the setup was <b>quick</b>")]  # fmt: skip


def test_bad_signatures_are_401_and_store_nothing(hooks):
    client, path = hooks
    url = "/v1/webhooks/formbricks?score=q-nps"
    body = formbricks()
    good = signed_headers(body)
    tampered = body.replace(b'"q-nps": 9', b'"q-nps": 0')
    assert client.post(url, content=tampered, headers=good).status_code == 401
    stale = signed_headers(body, at=(datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    assert client.post(url, content=body, headers=stale).status_code == 401
    wrong = {**good, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    assert client.post(url, content=body, headers=wrong).status_code == 401
    unsigned = {"content-type": "application/json"}
    assert client.post(url, content=body, headers=unsigned).status_code == 401
    client.__exit__(None, None, None)
    assert stored(path) == []


def test_formbricks_payload_problems_are_422(hooks):
    client, _ = hooks
    body = formbricks(score="nine")
    r = client.post("/v1/webhooks/formbricks?score=q-nps", content=body,
                    headers=signed_headers(body))  # fmt: skip
    assert r.status_code == 422
    assert "not a number" in r.json()["detail"]
    body = formbricks(score=9)
    r = client.post("/v1/webhooks/formbricks?score=q-other", content=body,
                    headers=signed_headers(body, "m3"))  # fmt: skip
    assert r.status_code == 422
    assert "'q-other'" in r.json()["detail"]
    body = formbricks(score=12)
    r = client.post("/v1/webhooks/formbricks?score=q-nps", content=body,
                    headers=signed_headers(body, "m4"))  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "outside the nps scale 0-10"


def test_generic_signed_webhook_takes_the_responses_body(hooks):
    client, path = hooks
    body = json.dumps([{"ts": "2026-05-01", "metric": "csat", "score": 5, "response_id": "g1"}])
    r = client.post("/v1/webhooks/responses", content=body.encode(),
                    headers=signed_headers(body.encode(), "g-1"))  # fmt: skip
    assert r.status_code == 201, r.text
    bad = json.dumps({"ts": "2026-05-01", "metric": "csat"}).encode()
    r = client.post("/v1/webhooks/responses", content=bad, headers=signed_headers(bad, "g-2"))
    assert r.status_code == 422
    client.__exit__(None, None, None)
    assert [row[0] for row in stored(path)] == ["g1"]


def test_webhooks_are_404_without_a_secret(service):
    r = service.client.post("/v1/webhooks/formbricks?score=q", content=b"{}")
    assert r.status_code == 404
