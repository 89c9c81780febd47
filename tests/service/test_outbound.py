"""Cases opened as responses arrive, and outbound webhooks, with a real receiver on 127.0.0.1.

The receiver is a small HTTP server in a thread; it checks every message's signature with the
``standardwebhooks`` package (as a receiver would), records it, and answers as scripted.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

import rox

pytest.importorskip("fastapi")
standardwebhooks = pytest.importorskip("standardwebhooks")

from fastapi.testclient import TestClient  # noqa: E402
from standardwebhooks.webhooks import Webhook  # noqa: E402

from rox.actions import open_cases  # noqa: E402
from rox.errors import ServiceError  # noqa: E402
from rox.service import ServiceConfig, create_app  # noqa: E402
from rox.service.delivery import Outcome, next_state, retry_after  # noqa: E402
from rox.service.keys import create_key  # noqa: E402
from rox.service.outbox import Hooks  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"rox-outbound-test-secret-32bytes").decode()
RULES = """
[loop]
holdout = 0.0

[[rule]]
name = "detractor"
metric = "nps"
max_score = 6
sla_hours = 48
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook receiver on 127.0.0.1: verifies, records, answers ``answer(message)``."""

    def __init__(self, port: int, answer: Callable[[dict[str, Any]], tuple[int, dict[str, str]]]):
        self.port = port
        self.answer = answer
        self.got: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload = Webhook(SECRET).verify(body, headers)  # raises if not signed right
                message = {"id": headers["webhook-id"], "at": time.monotonic(),
                           "payload": payload, "body": body, "headers": headers}  # fmt: skip
                with outer.lock:
                    outer.got.append(message)
                    code, extra = outer.answer(message)
                self.send_response(code)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def ok(message: dict[str, Any]) -> tuple[int, dict[str, str]]:
    return 200, {}


def hooks_file(tmp_path: Path, port: int, **delivery: float) -> Path:
    settings = {"backoff": 0.05, "max_delay": 0.2, "jitter": 0.0, "timeout": 2.0, **delivery}
    lines = ["[delivery]", *(f"{k} = {v}" for k, v in settings.items())]
    lines += ["", "[[endpoint]]", 'name = "crm"', f'url = "http://127.0.0.1:{port}/hook"',
              f'secret = "{SECRET}"']  # fmt: skip
    path = tmp_path / "webhooks.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Running:
    def __init__(self, path: Path, webhooks: Path | None, keys: dict[str, str]) -> None:
        rules = path.parent / "rules.toml"
        rules.write_text(RULES)
        config = ServiceConfig(str(path), client_rate=0, key_rate=0, case_rules=str(rules),
                               webhooks=str(webhooks) if webhooks else None)  # fmt: skip
        self.client = TestClient(create_app(config))
        self.client.__enter__()
        self.keys = keys
        self.stopped = False

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def post(self, *responses: dict[str, Any]) -> Any:
        r = self.client.post("/v1/responses", json=list(responses), headers=self.auth("write"))
        assert r.status_code == 201, r.text
        return r.json()

    def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/v1/deliveries", params=params, headers=self.auth())
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()
        return out

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.client.__exit__(None, None, None)


def keys_for(path: Path) -> dict[str, str]:
    with rox.open(str(path)) as ws:
        return {s: create_key(ws, s, [s])[1] for s in ("read", "write", "admin")}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    path = tmp_path / "w.duckdb"
    keys = keys_for(path)
    made: list[Running] = []

    def make(webhooks: Path | None = None) -> Running:
        running = Running(path, webhooks, keys)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()


def nps(i: int, score: float, customer: str | None = None) -> dict[str, Any]:
    return {"ts": f"2026-05-01T10:{i % 60:02d}:00Z", "metric": "nps", "score": score,
            "response_id": f"r{i}", "customer_id": customer or f"c{i}"}  # fmt: skip


def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("not reached in time")


# -- cases on arrival -----------------------------------------------------------------------------
def test_a_detractor_has_its_case_when_the_post_returns_and_never_two(start):
    service = start()
    service.post(nps(1, 3), nps(2, 9), nps(3, 6.0), nps(4, 7))
    cases = service.client.get("/v1/cases", headers=service.auth("read")).json()
    assert sorted(c["case_id"] for c in cases) == ["detractor-r1", "detractor-r3"]
    assert {c["response_id"] for c in cases} == {"r1", "r3"}
    assert all(c["status"] == "open" and c["arm"] == "outreach" for c in cases)
    # the same responses again, and a second detractor answer of c1 while its case is open
    service.post(nps(1, 3), nps(3, 6.0))
    service.post(nps(5, 0, customer="c1"))
    cases = service.client.get("/v1/cases", headers=service.auth("read")).json()
    assert sorted(c["case_id"] for c in cases) == ["detractor-r1", "detractor-r3"]


def test_cases_on_arrival_are_those_rox_cases_open_finds(start, tmp_path):
    """The batch rules (``rox cases open``) on the same responses are the oracle."""
    service = start()
    rows = [nps(i, (i * 7) % 11, customer=f"c{i % 9}") for i in range(40)]
    for i in range(0, 40, 8):  # in five batches
        service.post(*rows[i : i + 8])
    arrived = service.client.get("/v1/cases", headers=service.auth("read"),
                                 params={"limit": 1000}).json()  # fmt: skip
    service.stop()
    other = tmp_path / "batch.duckdb"
    with rox.open(str(other)) as ws:
        import pandas as pd

        ws.ingest("responses", pd.DataFrame(rows))
        found = open_cases(ws, RULES)
    assert sorted(c["case_id"] for c in arrived) == sorted(found.frame["case_id"])
    assert len(arrived) == 9  # one per customer: each of the 9 has a detractor answer


def test_the_built_in_rules_open_detractor_and_low_csat_cases(service, response):
    """No --case-rules: the built-in rules (two response rules, a 10% holdout) apply."""
    from rox.actions.holdout import HOLDOUT, holdout_draw

    rows = [response(1, score=2), response(2, metric="csat", score=1, customer_id="c9"),
            response(3, metric="csat", score=4), response(4, score=8)]  # fmt: skip
    r = service.client.post("/v1/responses", json=rows, headers=service.auth("write"))
    assert r.status_code == 201
    cases = service.client.get("/v1/cases", headers=service.auth("read")).json()
    assert sorted(c["case_id"] for c in cases) == ["detractor-r1", "low_csat-r2"]
    for c in cases:  # the arm is the holdout's draw from the case id (seed 17, share 0.10)
        expected = HOLDOUT if holdout_draw(c["case_id"], 17) < 0.10 else "outreach"
        assert c["arm"] == expected
    assert {c["case_id"]: c["due_at"] for c in cases} == {
        "detractor-r1": "2026-05-03T10:00:00.000Z",  # 48 h
        "low_csat-r2": "2026-05-04T10:00:00.000Z",  # 72 h
    }


def test_no_cases_on_arrival_when_turned_off(tmp_path):
    path = tmp_path / "w.duckdb"
    keys = keys_for(path)
    app = create_app(ServiceConfig(str(path), client_rate=0, key_rate=0, cases_on_arrival=False))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {keys['write']}"}
        assert client.post("/v1/responses", json=nps(1, 0), headers=auth).status_code == 201
    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT count(*) FROM cases").fetchone() == (0,)


# -- webhooks -------------------------------------------------------------------------------------
def test_messages_are_signed_and_carry_the_response_and_its_case(start, tmp_path):
    port = free_port()
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks_file(tmp_path, port))
        service.post(nps(1, 2, customer="c1"))
        until(lambda: len(receiver.got) == 2)
        by_type = {m["payload"]["type"]: m for m in receiver.got}
        assert set(by_type) == {"response.created", "case.opened"}
        data = by_type["response.created"]["payload"]["data"]
        assert data["response_id"] == "r1" and data["score"] == 2.0
        assert data["ts"] == "2026-05-01T10:01:00Z" and data["customer_id"] == "c1"
        case = by_type["case.opened"]["payload"]["data"]
        assert case["case_id"] == "detractor-r1" and case["status"] == "open"
        assert case["due_at"] == "2026-05-03T10:01:00Z"
        log = service.deliveries()
        assert {d["status"] for d in log} == {"delivered"} and {d["attempts"] for d in log} == {1}
        assert {d["delivery_id"] for d in log} == {m["id"] for m in receiver.got}
        assert {d["last_status_code"] for d in log} == {200}
        # a promoter: its response is announced, no case
        service.post(nps(2, 10))
        until(lambda: len(receiver.got) == 3)
        assert receiver.got[-1]["payload"]["type"] == "response.created"
    finally:
        receiver.stop()


def test_a_receiver_down_for_a_while_loses_nothing_and_ids_are_stable(start, tmp_path):
    port = free_port()  # nothing listens yet: connections are refused
    service = start(hooks_file(tmp_path, port, max_attempts=1000))
    for i in range(6):
        service.post(nps(10 * i, 9), nps(10 * i + 1, 1))
    until(lambda: min(d["attempts"] for d in service.deliveries()) >= 2)
    pending = service.deliveries(status="pending")
    assert len(pending) == 6 * 2 + 6  # 12 responses, 6 detractors' cases
    assert all(d["last_status_code"] is None and "Connect" in d["last_error"] for d in pending)
    seen: set[str] = set()

    def first_refused(message: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if message["id"] in seen:  # a retry of one already refused once
            return 200, {}
        seen.add(message["id"])
        return 503, {}

    receiver = Receiver(port, first_refused).start()
    try:
        until(lambda: not service.deliveries(status="pending"))
        log = service.deliveries()
        assert {d["status"] for d in log} == {"delivered"}
        ids = [m["id"] for m in receiver.got]
        assert sorted(set(ids)) == sorted(d["delivery_id"] for d in log)
        assert all(ids.count(i) == 2 for i in set(ids))  # each refused once, then the same id
        bodies: dict[str, set[bytes]] = {}
        for m in receiver.got:
            bodies.setdefault(m["id"], set()).add(m["body"])
        assert all(len(b) == 1 for b in bodies.values())  # byte for byte the same message
        created = [m["payload"]["data"]["response_id"] for m in receiver.got
                   if m["payload"]["type"] == "response.created"]  # fmt: skip
        assert sorted(set(created)) == sorted(f"r{10 * i + j}" for i in range(6) for j in (0, 1))
    finally:
        receiver.stop()


def test_give_up_after_max_attempts_and_no_retry_on_a_client_error(start, tmp_path):
    port = free_port()
    answers = {"r1": 503, "r2": 400}

    def scripted(message: dict[str, Any]) -> tuple[int, dict[str, str]]:
        return answers[message["payload"]["data"]["response_id"]], {}

    receiver = Receiver(port, scripted).start()
    try:
        service = start(hooks_file(tmp_path, port, max_attempts=3))
        service.post(nps(1, 9), nps(2, 9))
        until(lambda: not service.deliveries(status="pending"))
        log = {d["response_id"]: d for d in service.deliveries()}
        assert log["r1"]["status"] == "failed" and log["r1"]["attempts"] == 3
        assert log["r1"]["last_status_code"] == 503 and log["r1"]["last_error"].startswith("HTTP")
        assert log["r2"]["status"] == "failed" and log["r2"]["attempts"] == 1
        assert log["r2"]["last_status_code"] == 400
        assert [m["payload"]["data"]["response_id"] for m in receiver.got].count("r1") == 3
    finally:
        receiver.stop()


def test_retry_after_is_honoured(start, tmp_path):
    port = free_port()

    def busy_once(message: dict[str, Any]) -> tuple[int, dict[str, str]]:
        return (429, {"Retry-After": "1"}) if len(receiver.got) == 1 else (200, {})

    receiver = Receiver(port, busy_once).start()
    try:
        service = start(hooks_file(tmp_path, port, max_delay=5.0))
        service.post(nps(1, 9))
        until(lambda: len(receiver.got) == 2)
        assert receiver.got[1]["at"] - receiver.got[0]["at"] >= 0.95  # not the 0.05 s back-off
        assert receiver.got[0]["id"] == receiver.got[1]["id"]
    finally:
        receiver.stop()


def test_replay_one_delivery_and_all_of_a_response(start, tmp_path):
    port = free_port()
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks_file(tmp_path, port))
        service.post(nps(1, 2), nps(2, 10))
        until(lambda: len(receiver.got) == 3)
        first = {m["id"]: m for m in receiver.got}
        one = service.deliveries(response_id="r2")[0]["delivery_id"]
        r = service.client.post(f"/v1/deliveries/{one}/replay", headers=service.auth())
        assert r.status_code == 202
        (new,) = r.json()["replayed"]
        assert new != one
        until(lambda: len(receiver.got) == 4)
        assert receiver.got[-1]["id"] == new and receiver.got[-1]["body"] == first[one]["body"]
        r = service.client.post("/v1/deliveries/replay", params={"response_id": "r1"},
                                headers=service.auth())  # fmt: skip
        assert r.status_code == 202 and len(r.json()["replayed"]) == 2  # response and case
        until(lambda: len(receiver.got) == 6)
        assert {m["payload"]["type"] for m in receiver.got[-2:]} == {"response.created",
                                                                     "case.opened"}  # fmt: skip
        replays = [d for d in service.deliveries() if d["replay_of"] is not None]
        assert len(replays) == 3 and {d["status"] for d in replays} == {"delivered"}
        assert service.client.post("/v1/deliveries/msg_nope/replay",
                                   headers=service.auth()).status_code == 404  # fmt: skip
        assert service.client.post("/v1/deliveries/replay", params={"response_id": "r9"},
                                   headers=service.auth()).status_code == 404  # fmt: skip
    finally:
        receiver.stop()


def test_closing_a_case_through_the_api_announces_it(start, tmp_path):
    port = free_port()
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks_file(tmp_path, port))
        service.post(nps(1, 0))
        auth = service.auth("write")
        r = service.client.post("/v1/cases/detractor-r1/close", json={"resolution": "resolved"},
                                headers=auth)  # fmt: skip
        assert r.status_code == 409  # an open case is started first
        r = service.client.post("/v1/cases/detractor-r1/start", json={"owner": "ana"},
                                headers=auth)  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "in_progress"
        r = service.client.post("/v1/cases/detractor-r1/close", json={"resolution": "resolved"},
                                headers=auth)  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert r.json()["resolution"] == "resolved" and r.json()["closed_at"].endswith("Z")
        until(lambda: any(m["payload"]["type"] == "case.closed" for m in receiver.got))
        closed = next(m for m in receiver.got if m["payload"]["type"] == "case.closed")
        data = closed["payload"]["data"]
        assert data["case_id"] == "detractor-r1" and data["resolution"] == "resolved"
        assert data["owner"] == "ana" and data["closed_at"] is not None
        assert service.client.post("/v1/cases/nope/start", json={},
                                   headers=auth).status_code == 404  # fmt: skip
    finally:
        receiver.stop()


def test_pending_deliveries_are_resumed_after_a_restart(start, tmp_path):
    """The outbox is in the workspace: what was committed and not sent is sent by the next run."""
    port = free_port()
    hooks = hooks_file(tmp_path, port, backoff=30.0, max_delay=60.0)
    service = start(hooks)
    service.post(nps(1, 1), nps(2, 9))
    until(lambda: all(d["attempts"] == 1 for d in service.deliveries()))
    service.stop()  # (the receiver was down: all three pending, next attempt in 30 s)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.execute(
            "SELECT count(*) FROM rox_webhook_deliveries WHERE status = 'pending'"
        ).fetchone() == (3,)
        con.execute("UPDATE rox_webhook_deliveries SET next_attempt_at = now()")  # (due now)
    receiver = Receiver(port, ok).start()
    try:
        again = start(hooks)
        until(lambda: len(receiver.got) == 3)
        assert {d["status"] for d in again.deliveries()} == {"delivered"}
    finally:
        receiver.stop()


def test_a_refused_batch_writes_no_delivery(start, tmp_path):
    port = free_port()
    service = start(hooks_file(tmp_path, port))
    r = service.client.post("/v1/responses", json=[nps(1, 2), nps(2, 42)],
                            headers=service.auth("write"))  # fmt: skip
    assert r.status_code == 422
    assert service.deliveries() == []
    assert service.client.get("/v1/cases", headers=service.auth("read")).json() == []


def test_the_delivery_routes_need_an_admin_key(start, tmp_path):
    service = start(hooks_file(tmp_path, free_port()))
    routes = [("get", "/v1/deliveries", {}), ("post", "/v1/deliveries/msg_x/replay", {}),
              ("post", "/v1/deliveries/replay", {"response_id": "r1"})]  # fmt: skip
    for method, url, params in routes:
        assert service.client.request(method, url, params=params).status_code == 401
        for scope in ("read", "write"):
            got = service.client.request(method, url, params=params, headers=service.auth(scope))
            assert got.status_code == 403, (url, scope)
    move = service.client.post("/v1/cases/x/start", json={}, headers=service.auth("read"))
    assert move.status_code == 403
    assert service.client.post("/v1/cases/x/start", json={}).status_code == 401


def test_erasure_removes_the_customers_deliveries(start, tmp_path):
    service = start(hooks_file(tmp_path, free_port()))
    service.post(nps(1, 1, customer="gone"), nps(2, 9, customer="kept"))
    r = service.client.post("/v1/customers/gone/erase", headers=service.auth())
    assert r.json()["deleted"]["rox_webhook_deliveries"] == 2  # its response and its case
    assert {d["customer_id"] for d in service.deliveries()} == {"kept"}


# -- the retry schedule and the configuration -----------------------------------------------------
def test_backoff_doubles_is_capped_and_yields_to_a_longer_retry_after():
    hooks = Hooks(backoff=5.0, max_delay=60.0, max_attempts=8, jitter=0.5)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def wait(attempts: int, outcome: Outcome, draw: float = 0.0) -> float:
        state = next_state(hooks, attempts, outcome, now, draw=draw)
        return float((state["next_attempt_at"] - now).total_seconds())

    down = Outcome("m", None, "ConnectError")
    assert [wait(n, down) for n in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 40.0, 60.0]
    assert wait(2, down, draw=0.5) == 10.0 * 1.25  # stretched by jitter * draw
    assert wait(1, Outcome("m", 429, retry_after=30.0)) == 30.0
    assert wait(3, Outcome("m", 503, retry_after=3.0)) == 20.0  # the back-off is longer
    assert wait(1, Outcome("m", 503, retry_after=7200.0)) == 60.0  # capped
    for code in (408, 429, 500, 503):
        assert next_state(hooks, 7, Outcome("m", code), now)["status"] == "pending"
        assert next_state(hooks, 8, Outcome("m", code), now)["status"] == "failed"
    for code in (301, 400, 401, 404, 410, 422):
        assert next_state(hooks, 1, Outcome("m", code), now)["status"] == "failed"
    assert next_state(hooks, 1, Outcome("m", 204), now)["status"] == "delivered"


def test_the_default_schedule_tries_for_about_two_and_a_half_hours():
    hooks = Hooks()  # 12 attempts, 5 s doubled, at most 3,600 s
    now = datetime(2026, 1, 1, tzinfo=UTC)
    waits = []
    for attempts in range(1, 13):
        state = next_state(hooks, attempts, Outcome("m", 503), now, draw=0.0)
        if state["status"] == "failed":
            break
        waits.append((state["next_attempt_at"] - now).total_seconds())
    assert attempts == 12 and len(waits) == 11
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert sum(waits) == 8715  # 2.42 h, as docs/service.md says


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90.0
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None
    assert (now + timedelta(seconds=90)).isoformat() == "2026-01-01T12:01:30+00:00"


def test_bad_webhook_files_are_refused_naming_the_setting(tmp_path, monkeypatch):
    def load(text: str) -> Hooks:
        return Hooks.load(text + "\n")

    good = f'[[endpoint]]\nname = "a"\nurl = "http://x/h"\nsecret = "{SECRET}"'
    assert load(good).endpoints[0].events == ("response.created", "case.opened", "case.closed")
    with pytest.raises(ServiceError, match="whsec_"):
        load('[[endpoint]]\nname = "a"\nurl = "http://x/h"\nsecret = "plain"')
    with pytest.raises(ServiceError, match="url"):
        load(f'[[endpoint]]\nname = "a"\nurl = "ftp://x"\nsecret = "{SECRET}"')
    with pytest.raises(ServiceError, match=r"case\.reopened"):
        load(good + '\nevents = ["case.reopened"]')
    with pytest.raises(ServiceError, match="ROX_NO_SUCH"):
        load('[[endpoint]]\nname = "a"\nurl = "http://x/h"\nsecret_env = "ROX_NO_SUCH"')
    with pytest.raises(ServiceError, match="max_attempts"):
        load("[delivery]\nmax_attempts = 0\n" + good)
    with pytest.raises(ServiceError, match="unique"):
        load(good + "\n" + good)
    monkeypatch.setenv("ROX_TEST_SECRET", SECRET)
    hooks = load('[[endpoint]]\nname = "a"\nurl = "http://x/h"\nsecret_env = "ROX_TEST_SECRET"')
    assert hooks.endpoints[0].secret == SECRET
    with pytest.raises(ServiceError, match="does not exist"):
        Hooks.load(tmp_path / "missing.toml")


def test_the_signature_verifies_for_this_body_and_secret_only(start, tmp_path):
    from standardwebhooks.webhooks import WebhookVerificationError

    port = free_port()
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks_file(tmp_path, port))
        service.post(nps(1, 9))
        until(lambda: len(receiver.got) == 1)
        body, headers = receiver.got[0]["body"], receiver.got[0]["headers"]
        assert json.loads(body)["type"] == "response.created"
        assert headers["webhook-signature"].startswith("v1,")
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(body.replace(b"9.0", b"10.0"), headers)
        other = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-by").decode()
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(body, headers)
    finally:
        receiver.stop()


# -- a crash between commit and send --------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_loses_no_webhook_of_an_acknowledged_response_or_its_case(tmp_path):
    """A real ``rox serve`` killed with SIGKILL twice while it takes writes and sends webhooks.

    Afterwards every stored response has had its ``response.created`` received, every case its
    ``case.opened``, each event has one delivery (one ``webhook-id``), and every id in the log
    reached the receiver (retries of an id may repeat it: the receiver dedupes by id).
    """
    import os
    import signal
    import subprocess
    import sys

    import httpx

    src = Path(__file__).resolve().parents[2] / "src"
    path = tmp_path / "w.duckdb"
    keys = keys_for(path)
    token = keys["write"]
    (tmp_path / "rules.toml").write_text(RULES)
    receiver_port, port = free_port(), free_port()
    hooks = hooks_file(tmp_path, receiver_port, max_attempts=1000)
    receiver = Receiver(receiver_port, ok).start()

    def serve() -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(src)}
        cmd = [sys.executable, "-m", "rox", "serve", "-w", str(path), "--port", str(port),
               "--client-rate", "0", "--key-rate", "0", "--webhooks", str(hooks),
               "--case-rules", str(tmp_path / "rules.toml")]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            assert proc.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("the server did not start")

    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    numbers = iter(range(10**6))

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                with lock:
                    i = next(numbers)
                if i >= 1500:
                    return
                body = nps(i, i % 11, customer=f"c{i % 53}")
                while True:  # until answered: a request the server died under is sent again
                    try:
                        r = http.post(f"http://127.0.0.1:{port}/v1/responses", json=body,
                                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    assert r.status_code == 201, r.text
                    with lock:
                        acked.add(body["response_id"])
                    break

    proc = serve()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for _ in range(2):
            time.sleep(3)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = serve()
        for t in threads:
            t.join()
        admin = {"Authorization": f"Bearer {keys['admin']}"}

        def settled() -> bool:
            url = f"http://127.0.0.1:{port}/v1/deliveries"
            answer = httpx.get(url, params={"status": "pending"}, headers=admin, timeout=10)
            return answer.status_code == 200 and answer.json() == []

        until(settled, seconds=180)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)
    receiver.stop()
    con = duckdb.connect(str(path), read_only=True)
    stored = {r for (r,) in con.execute("SELECT response_id FROM responses").fetchall()}
    cases = {r for (r,) in con.execute("SELECT case_id FROM cases").fetchall()}
    log = con.execute(
        "SELECT delivery_id, event_type, response_id, case_id, status FROM rox_webhook_deliveries"
    ).fetchall()
    con.close()
    assert acked <= stored and len(cases) > 0
    created = [r for _, kind, r, _, _ in log if kind == "response.created"]
    opened = [c for _, kind, _, c, _ in log if kind == "case.opened"]
    assert sorted(created) == sorted(stored)  # one delivery per response, none missing
    assert sorted(opened) == sorted(cases)  # one per case (holdout 0: every case announced)
    assert {status for *_, status in log} == {"delivered"}
    assert {d for d, *_ in log} == {m["id"] for m in receiver.got}  # every id reached it
    got_created = [m["payload"]["data"]["response_id"] for m in receiver.got
                   if m["payload"]["type"] == "response.created"]  # fmt: skip
    assert set(got_created) == stored


def test_cli_lists_the_log_and_replays_with_the_service_stopped(start, tmp_path, rox_here):
    from rox.errors import EXIT_CODES

    port = free_port()
    hooks = hooks_file(tmp_path, port)
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks)
        service.post(nps(1, 2))
        until(lambda: len(receiver.got) == 2)
        service.stop()
        ws = str(tmp_path / "w.duckdb")
        code, out, err = rox_here("deliveries", "list", "-w", ws, "-f", "json")
        assert code == 0, err
        log = json.loads(out)
        assert sorted(d["event_type"] for d in log) == ["case.opened", "response.created"]
        assert {d["status"] for d in log} == {"delivered"}
        code, _, err = rox_here("deliveries", "replay", "--response", "r1", "-w", ws)
        assert code == EXIT_CODES[ServiceError] and "--webhooks" in err
        code, out, err = rox_here("deliveries", "replay", "--response", "r1", "-w", ws,
                                  "--webhooks", str(hooks))  # fmt: skip
        assert code == 0, err
        new_ids = out.split()
        code, out, _ = rox_here("deliveries", "list", "-w", ws, "--status", "pending", "-f", "json")
        assert sorted(d["delivery_id"] for d in json.loads(out)) == sorted(new_ids)
        assert len(new_ids) == 2
        again = start(hooks)  # the next run sends them
        until(lambda: len(receiver.got) == 4)
        assert {m["id"] for m in receiver.got[2:]} == set(new_ids)
        assert again.deliveries(status="pending") == []
    finally:
        receiver.stop()


def test_case_moves_made_with_the_cli_are_announced_and_the_next_run_sends_them(
    start, tmp_path, rox_here
):
    """`rox cases open|close --webhooks` write the same messages as the service, in the moves'
    transactions; without --webhooks they write none; `rox serve` sends what they wrote."""
    import pandas as pd

    from rox.errors import EXIT_CODES

    port = free_port()
    hooks = hooks_file(tmp_path, port)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    ws = str(tmp_path / "w.duckdb")
    keys_for(tmp_path / "w.duckdb")  # (what `start` would make: the same keys file)
    with rox.open(ws) as w:
        w.ingest("responses", pd.DataFrame([nps(1, 0), nps(2, 9), nps(3, 5)]))
    code, _, err = rox_here("cases", "open", "--rules", rules, "--webhooks", tmp_path / "no.toml",
                            "-w", ws)  # fmt: skip
    assert code == EXIT_CODES[ServiceError] and "no.toml" in err  # before anything is written
    code, _, err = rox_here("cases", "open", "--rules", rules, "--webhooks", hooks, "-w", ws)
    assert code == 0, err
    for case in ("detractor-r1", "detractor-r3"):
        assert rox_here("cases", "start", case, "--owner", "ana", "-w", ws)[0] == 0
    code, _, err = rox_here("cases", "close", "detractor-r1", "resolved", "--webhooks", hooks,
                            "-w", ws)  # fmt: skip
    assert code == 0, err
    assert rox_here("cases", "close", "detractor-r3", "declined", "-w", ws)[0] == 0  # no hooks
    with duckdb.connect(ws) as con:
        pending = con.execute(
            "SELECT event_type, case_id FROM rox_webhook_deliveries "
            "WHERE status = 'pending' ORDER BY event_type, case_id"
        ).fetchall()
    assert pending == [
        ("case.closed", "detractor-r1"),
        ("case.opened", "detractor-r1"),
        ("case.opened", "detractor-r3"),
    ]
    receiver = Receiver(port, ok).start()
    try:
        service = start(hooks)  # the next run of the service sends them
        until(lambda: len(receiver.got) == 3)
        by = {(m["payload"]["type"], m["payload"]["data"]["case_id"]): m for m in receiver.got}
        closed = by["case.closed", "detractor-r1"]["payload"]["data"]
        assert closed["status"] == "closed" and closed["resolution"] == "resolved"
        assert closed["owner"] == "ana" and closed["closed_at"] is not None
        opened = by["case.opened", "detractor-r3"]["payload"]["data"]
        assert opened["status"] == "open" and opened["due_at"] == "2026-05-03T10:03:00Z"
        assert service.deliveries(status="pending") == []
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("holdout", "announced"),
    [(0.0, ["detractor-r1", "detractor-r3"]), (0.40, ["detractor-r3"]), (0.46, [])],
)
def test_cases_opened_in_batch_are_announced_but_the_held_out(tmp_path, holdout, announced):
    """A held-out case gets no outreach, so no case.opened (as on arrival). The cases' holdout
    draws (seed 17) are 0.350 for detractor-r1 and 0.451 for detractor-r3: a share of 0.40
    holds out r1 only, 0.46 both."""
    import pandas as pd

    from rox.actions.holdout import holdout_draw
    from rox.service.arrival import announce_openings

    assert round(holdout_draw("detractor-r1", 17), 3) == 0.350
    assert round(holdout_draw("detractor-r3", 17), 3) == 0.451
    hooks = Hooks.load(hooks_file(tmp_path, free_port()))
    with rox.open(str(tmp_path / "w.duckdb")) as ws:
        ws.ingest("responses", pd.DataFrame([nps(1, 0), nps(2, 9), nps(3, 5)]))
        rules = RULES.replace("holdout = 0.0", f"holdout = {holdout}")
        opened = open_cases(ws, rules, announce=announce_openings(hooks))
        assert sorted(opened.frame["case_id"]) == ["detractor-r1", "detractor-r3"]
        log = ws.table("rox_webhook_deliveries").execute()
    assert sorted(log["case_id"]) == announced
    assert set(log["event_type"]) <= {"case.opened"}
