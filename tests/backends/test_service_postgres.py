"""The intake service on PostgreSQL served by two processes at once (a real server and processes).

Two ``rox serve`` processes on 127.0.0.1 share one PostgreSQL workspace. Each guarantee of the
service must hold across them: the same ``Idempotency-Key`` or natural id sent to both stores once
and answers alike, an invitation is answered once, a detractor's case is opened once, an API key
created at one is valid at the other, and every webhook is delivered once although both processes
run a delivery worker. GDPR erasure finds the customer's rows in every table of the database. The
durability test kills one process with SIGKILL under a bounded load and restarts it.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

import rox  # noqa: E402
from rox.service.erase import subject_hash  # noqa: E402
from rox.service.keys import create_key  # noqa: E402

pytestmark = pytest.mark.postgres

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "rox-two-processes-test-secret"
HOOK_SECRET = "whsec_cm94LXR3by1wcm9jZXNzZXMtdGVzdC1zZWNyZXQ="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psql(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True)


def spawn(url: str, port: int, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A ``rox serve`` process on ``port`` (its errors in a file)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "ROX_SECRET": SECRET}
    cmd = [sys.executable, "-m", "rox", "serve", "-w", url, "--port", str(port),
           "--client-rate", "0", "--key-rate", "0", *extra]  # fmt: skip
    log = Path(tempfile.mkdtemp(prefix="rox-serve-")) / "stderr.txt"
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=out), log


def ready(proc: subprocess.Popen[bytes], log: Path, port: int) -> subprocess.Popen[bytes]:
    """``proc`` once it answers /healthz on ``port``."""
    end = time.monotonic() + 300  # (a busy machine starts Python slowly)
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


def start_all(url: str, ports: list[int], *extra: str) -> list[subprocess.Popen[bytes]]:
    """A ``rox serve`` process on each port, started together."""
    spawned = [spawn(url, port, *extra) for port in ports]
    return [ready(proc, log, port) for (proc, log), port in zip(spawned, ports, strict=True)]


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Receiver:
    """A webhook receiver on 127.0.0.1 that counts each ``webhook-id`` it is sent (answers 200)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                with outer.lock:
                    outer.ids[self.headers["webhook-id"]] += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Pair:
    url: str
    ports: list[int]
    keys: dict[str, str]
    receiver: Receiver
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def both(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once (one thread each, released together); their results in order."""
    results: list[Any] = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i: int) -> None:
        gate.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture(scope="module")
def pair(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    url = postgres_server.new_database()
    with rox.open(url) as ws:
        keys = {s: create_key(ws, s, [s])[1] for s in ("read", "write", "admin")}
    receiver = Receiver()
    hooks = tmp_path_factory.mktemp("hooks") / "webhooks.toml"
    hooks.write_text(
        "[delivery]\nbackoff = 0.05\nmax_delay = 0.2\njitter = 0.0\ntimeout = 2.0\n\n"
        f'[[endpoint]]\nname = "crm"\nurl = "http://127.0.0.1:{receiver.port}/hook"\n'
        f'secret = "{HOOK_SECRET}"\n'
    )
    running = Pair(url, [free_port(), free_port()], keys, receiver)
    try:
        running.procs.extend(start_all(url, running.ports, "--webhooks", str(hooks)))
        yield running
    finally:
        for proc in running.procs:
            stop(proc)
        receiver.close()


def response(rid: str, score: int = 9, customer: str = "c1") -> dict[str, Any]:
    return {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": score, "response_id": rid,
            "customer_id": customer}  # fmt: skip


def test_one_idempotency_key_sent_to_both_processes_is_stored_once(pair):
    def post(i: int, body: dict[str, Any], key: str) -> httpx.Response:
        headers = {**pair.auth("write"), "Idempotency-Key": key}
        return httpx.post(f"{pair.base(i)}/v1/responses", json=body, headers=headers, timeout=30)

    # no natural id: without the key, the two would be two responses
    answers = []
    for n in range(6):
        body = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": n, "customer_id": f"k{n}"}
        a, b = both(*(functools.partial(post, i, body, f"key-{n}") for i in (0, 1)))
        assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
        assert a.json() == b.json()  # the first answer, wherever the retry went
        answers.append(a.json())
    assert all(x["stored"] == 1 for x in answers)
    # the same key with another body, at the other process: refused
    again = post(1, {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 10,
                     "customer_id": "k0"}, "key-0")  # fmt: skip
    assert again.status_code == 422
    assert again.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    with psql(pair.url) as c:
        stored = c.execute(
            "SELECT customer_id, count(*) FROM responses WHERE customer_id LIKE 'k%' GROUP BY 1"
        ).fetchall()
        (keys,) = c.execute(
            "SELECT count(*) FROM rox_idempotency WHERE idempotency_key LIKE 'key-%'"
        ).fetchone()
    assert sorted(stored) == [(f"k{n}", 1) for n in range(6)]
    assert keys == 6


def test_a_natural_id_sent_to_both_is_stored_once_and_opens_one_case(pair):
    def post(i: int) -> httpx.Response:
        body = response("detractor-1", score=2, customer="d1")
        return httpx.post(f"{pair.base(i)}/v1/responses", json=body, headers=pair.auth("write"),
                          timeout=30)  # fmt: skip

    for _ in range(3):
        a, b = both(lambda: post(0), lambda: post(1))
        assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    with psql(pair.url) as c:
        (responses,) = c.execute(
            "SELECT count(*) FROM responses WHERE response_id = 'detractor-1'"
        ).fetchone()
        cases = c.execute("SELECT case_id FROM cases WHERE customer_id = 'd1'").fetchall()
    assert responses == 1
    assert cases == [("detractor-detractor-1",)]  # the built-in detractor rule, once


def test_an_invitation_answered_at_both_processes_is_taken_once(pair):
    asked = {"customer_id": "inv1", "touchpoint": "delivery", "metric": "nps"}
    made = httpx.post(f"{pair.base(0)}/v1/invitations", headers=pair.auth("admin"), json=asked,
                      timeout=30)  # fmt: skip
    assert made.status_code == 201, made.text
    token = made.json()["token"]

    def answer(i: int, score: int) -> int:
        r = httpx.post(f"{pair.base(i)}/s/{token}", content=f"score={score}", timeout=30,
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        return r.status_code

    # the same answer, and two different ones: one is taken, the other is a second use
    assert sorted(both(lambda: answer(0, 8), lambda: answer(1, 8))) == [201, 409]
    assert answer(1, 3) == 409
    with psql(pair.url) as c:
        rows = c.execute("SELECT score FROM responses WHERE customer_id = 'inv1'").fetchall()
    assert rows == [(8.0,)]


def test_an_api_key_made_at_one_process_is_valid_at_the_other(pair):
    made = httpx.post(f"{pair.base(0)}/v1/keys", headers=pair.auth("admin"), timeout=30,
                      json={"name": "late", "scopes": ["read"]})  # fmt: skip
    assert made.status_code == 201
    fresh = {"Authorization": f"Bearer {made.json()['key']}"}
    assert httpx.get(f"{pair.base(1)}/v1/cases", headers=fresh, timeout=30).status_code == 200
    assert httpx.get(f"{pair.base(1)}/v1/keys", headers=fresh, timeout=30).status_code == 403
    bogus = {"Authorization": "Bearer rox_0000_nothing"}
    assert httpx.get(f"{pair.base(1)}/v1/cases", headers=bogus, timeout=30).status_code == 401


def test_every_webhook_is_delivered_once_by_the_two_workers(pair):
    ids = [f"hook-{n}" for n in range(40)]

    def post(i: int, chunk: list[str]) -> None:
        with httpx.Client(timeout=30) as http:
            for rid in chunk:
                r = http.post(f"{pair.base(i)}/v1/responses", json=response(rid, customer=rid),
                              headers=pair.auth("write"))  # fmt: skip
                assert r.status_code == 201, r.text

    both(lambda: post(0, ids[::2]), lambda: post(1, ids[1::2]))
    mine = "SELECT delivery_id, status FROM rox_webhook_deliveries WHERE response_id LIKE 'hook-%'"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        with psql(pair.url) as c:
            states = dict(c.execute(mine).fetchall())
        if set(states.values()) == {"delivered"}:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # (a second sending would have come by now)
    with pair.receiver.lock:
        got = Counter(pair.receiver.ids)
    assert len(states) == 40  # one response.created each (score 9: no case)
    assert set(states.values()) == {"delivered"}
    assert all(got[d] == 1 for d in states)  # each arrived, once
    assert max(got.values()) == 1  # and nothing of the other tests twice either


def test_erase_on_postgres_leaves_no_row_of_the_customer_anywhere(pair):
    with rox.open(pair.url) as ws:
        ws.ingest("customers", pd.DataFrame({"customer_id": ["gone", "friend", "other"],
                                             "referred_by": [None, "gone", "gone"]}))  # fmt: skip
        ws.ingest("transactions", pd.DataFrame({
            "order_id": ["o1", "o2", "o3"], "customer_id": ["gone", "gone", "friend"],
            "ts": ["2026-04-01", "2026-04-02", "2026-04-03"], "amount": [10.0, 20.0, 5.0],
        }))  # fmt: skip
        ws.ingest("events", pd.DataFrame({
            "customer_id": ["gone"] * 3, "ts": ["2026-04-01 10:00", "2026-04-01 10:05",
                                                "2026-04-01 10:09"],
            "step": ["visit", "cart", "checkout"],
        }))  # fmt: skip
        # a refused row of theirs in rejects, as a load leaves it
        bad = pd.DataFrame({"customer_id": ["gone"], "ts": ["not a time"], "amount": [1.0]})
        ws.ingest("transactions", bad, on_error="quarantine")
        with ws.backend.con.transaction(), ws.backend.con.cursor() as cur:  # a table of the user's
            cur.execute("CREATE TABLE notes (customer_id text, note text)")
            cur.execute("INSERT INTO notes VALUES ('gone', 'x'), ('gone', 'y'), ('other', 'z')")
    # their responses arrive through both processes (one opens a case), then they ask
    for i in range(2):
        r = httpx.post(f"{pair.base(i)}/v1/responses", headers=pair.auth("write"), timeout=30,
                       json=response(f"gone-{i}", score=3 + i, customer="gone"))  # fmt: skip
        assert r.status_code == 201
    before = every_text_cell_equal_to(pair.url, "gone")
    assert {t for t, _, _ in before} >= {"customers", "transactions", "events", "responses",
                                         "rejects", "cases", "notes"}  # fmt: skip
    erased = httpx.post(f"{pair.base(1)}/v1/customers/gone/erase", headers=pair.auth("admin"),
                        timeout=60)  # fmt: skip
    assert erased.status_code == 200, erased.text
    # counted by hand from the rows above: 1 customer, 2 orders, 3 events, 2 responses, their
    # one case (a detractor's: the second response falls in its life), 1 rejected value, 2 notes
    assert {k: v for k, v in erased.json()["deleted"].items() if k != "rox_webhook_deliveries"} == {
        "customers": 1, "transactions": 2, "events": 3, "responses": 2, "cases": 1,
        "rejects": 1, "notes": 2,
    }  # fmt: skip
    assert erased.json()["cleared"] == {"customers.referred_by": 2}
    assert every_text_cell_equal_to(pair.url, "gone") == []
    with psql(pair.url) as c:
        audit = c.execute("SELECT action, subject, detail FROM rox_audit").fetchall()
        (others,) = c.execute("SELECT count(*) FROM notes").fetchone()
    assert [(a, s) for a, s, _ in audit] == [("erase", subject_hash("gone"))]
    assert "gone" not in repr(audit)
    assert others == 1


def every_text_cell_equal_to(url: str, value: str) -> list[tuple[str, str, int]]:
    """(table, column, rows) of every text column of every table holding ``value``."""
    found = []
    with psql(url) as c:
        columns = c.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.data_type IN ('text', 'character varying')"
        ).fetchall()
        for table, column in columns:
            (n,) = c.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" = %s OR "{column}" LIKE %s',
                [value, f'%"{value}"%'],
            ).fetchone()
            if n:
                found.append((table, column, n))
    return found


@pytest.mark.slow
def test_acknowledged_responses_survive_a_sigkilled_process_and_are_stored_once(postgres_server):
    url = postgres_server.new_database()
    with rox.open(url) as ws:
        token = create_key(ws, "load", ["write"])[1]
    ports = [free_port(), free_port()]
    headers = {"Authorization": f"Bearer {token}"}
    acked: dict[str, int] = {}
    retried: set[str] = set()
    lock = threading.Lock()
    next_id = iter(range(10**6))
    limit = 1500  # a bounded load

    def client(first: int) -> None:
        with httpx.Client(timeout=10) as http:
            while True:
                with lock:
                    i = next(next_id)
                if i >= limit:
                    return
                rid = f"r{i}"
                body = response(rid, score=i % 11, customer=f"c{i % 97}")
                # until it is answered: a request cut by the kill goes again, to the other process
                target = (first + i) % 2
                while True:
                    try:
                        r = http.post(f"http://127.0.0.1:{ports[target]}/v1/responses", json=body,
                                      headers={**headers, "Idempotency-Key": rid})  # fmt: skip
                    except httpx.HTTPError:
                        with lock:
                            retried.add(rid)
                        target = 1 - target
                        time.sleep(0.05)
                        continue
                    assert r.status_code == 201, r.text
                    with lock:
                        acked[rid] = r.json()["load_id"]
                    break

    procs = start_all(url, ports)
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    try:
        for kill in range(2):
            time.sleep(2)
            print(f"kill {kill}: {len(acked)} acknowledged, {len(retried)} sent again")
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            procs[0] = start_all(url, ports[:1])[0]
        for t in threads:
            t.join(timeout=300)
    finally:
        for proc in procs:
            stop(proc)
    with psql(url) as c:
        stored = [r for (r,) in c.execute("SELECT response_id FROM responses").fetchall()]
        loads = dict(c.execute("SELECT response_id, _load_id FROM responses").fetchall())
    assert len(acked) == limit  # every request was answered in the end
    assert len(retried) > 0  # requests were cut by the kills, and sent again
    assert len(stored) == len(set(stored)), "a response was stored twice"
    assert set(acked) <= set(stored), f"{len(set(acked) - set(stored))} acknowledged were lost"
    # the answer a retry got names the load that stored the response (the first answer)
    assert all(loads[rid] == load for rid, load in acked.items())


def test_a_key_revoked_at_one_process_is_refused_at_the_other_within_the_refresh(pair):
    made = httpx.post(f"{pair.base(0)}/v1/keys", headers=pair.auth("admin"), timeout=30,
                      json={"name": "soon-gone", "scopes": ["read"]})  # fmt: skip
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert httpx.get(f"{pair.base(1)}/v1/cases", headers=key, timeout=30).status_code == 200
    gone = httpx.delete(f"{pair.base(0)}/v1/keys/{made.json()['key_id']}",
                        headers=pair.auth("admin"), timeout=30)  # fmt: skip
    assert gone.status_code == 200
    assert httpx.get(f"{pair.base(0)}/v1/cases", headers=key, timeout=30).status_code == 401
    revoked = time.monotonic()
    while httpx.get(f"{pair.base(1)}/v1/cases", headers=key, timeout=30).status_code == 200:
        assert time.monotonic() - revoked < 30, "still accepted at the other process"
        time.sleep(0.25)
    # ServiceConfig.key_refresh is 5 s (plus a busy machine's slack)
    assert time.monotonic() - revoked < 15


@pytest.mark.parametrize("same", [True, False])
def test_a_key_stored_by_another_process_between_check_and_lock(postgres_server, monkeypatch, same):
    """The batch checked before the lock is checked again when a later load took one of its keys.

    Process A checks a batch; before A takes the lock, process B commits a row with the same
    ``response_id`` (the same content, or another score). Under the lock A sees the later load,
    checks again, and skips the row (same content) or refuses it; it never stores it twice.
    """
    from rox.ingest.shared import SharedBatchWriter
    from rox.service.writer import _arrow_schema, _to_arrow

    url = postgres_server.new_database()
    row = response("raced", score=3, customer="x")
    with rox.open(url) as ws_a, rox.open(url) as ws_b:
        a, b = SharedBatchWriter(ws_a), SharedBatchWriter(ws_b)
        schema = _arrow_schema("responses")
        original = a._check

        def checked_then_raced(table, rows, source):
            out = original(table, rows, source)
            if not getattr(checked_then_raced, "raced", False):
                checked_then_raced.raced = True  # type: ignore[attr-defined]
                theirs = row if same else {**row, "score": 9}
                assert b.append("responses", _to_arrow([theirs], schema)).load_id == 1
            return out

        monkeypatch.setattr(a, "_check", checked_then_raced)
        result = a.append("responses", _to_arrow([row], schema))
        a.close()
        b.close()
    with psql(url) as c:
        stored = c.execute("SELECT score, _load_id FROM responses").fetchall()
        (loads,) = c.execute("SELECT count(*) FROM rox_loads").fetchone()
    if same:
        assert (result.problems, result.skipped, result.load_id) == ([], frozenset({1}), 2)
        assert loads == 2  # B's load, and A's, which stored nothing
    else:
        assert [p.rule for p in result.problems] == [
            "response_id already loaded with different values; rox does not overwrite loaded rows"
        ]
        assert loads == 1  # A's refused batch wrote nothing
    assert stored == [(3.0 if same else 9.0, 1)]  # B's row, once


@pytest.mark.slow
def test_serve_with_two_workers_shares_the_port_and_the_workspace(postgres_server):
    url = postgres_server.new_database()
    with rox.open(url) as ws:
        token = create_key(ws, "load", ["write"])[1]
    port = free_port()
    proc = start_all(url, [port], "--workers", "2")[0]
    try:
        seen: set[int] = set()
        end = time.monotonic() + 120
        while len(seen) < 2 and time.monotonic() < end:  # each request on a new connection
            seen.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["process"])
        assert len(seen) == 2 and proc.pid not in seen  # two workers answer, not the parent
        headers = {"Authorization": f"Bearer {token}"}

        def post(n: int) -> list[int]:
            codes = []
            for i in range(10):
                rid = f"w{i}"  # both threads send the same ten responses, each with its key
                r = httpx.post(f"http://127.0.0.1:{port}/v1/responses", json=response(rid),
                               headers={**headers, "Idempotency-Key": rid}, timeout=30)  # fmt: skip
                codes.append(r.status_code)
            return codes

        assert both(*(functools.partial(post, n) for n in range(4))) == [[201] * 10] * 4
    finally:
        stop(proc)
    with psql(url) as c:
        stored = c.execute("SELECT response_id, count(*) FROM responses GROUP BY 1").fetchall()
        (keys,) = c.execute("SELECT count(*) FROM rox_idempotency").fetchone()
    assert sorted(stored) == sorted((f"w{i}", 1) for i in range(10))
    assert keys == 10
