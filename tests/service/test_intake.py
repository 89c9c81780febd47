"""Intake: rows stored once committed, ingestion's rules as 422s naming the field, idempotency."""

from __future__ import annotations

import threading

import duckdb

import rox


def rows(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_one_response_and_a_batch_are_stored_with_their_load(service, response):
    r = service.client.post("/v1/responses", json=response(1), headers=service.auth("write"))
    assert r.status_code == 201
    assert r.json() == {"received": 1, "stored": 1, "duplicates": 0, "load_id": 1}
    batch = [response(2, score=3), response(3, metric="csat", score=4)]
    r = service.client.post("/v1/responses", json=batch, headers=service.auth("write"))
    assert r.status_code == 201
    assert r.json()["stored"] == 2
    service.stop()
    got = rows(
        service.path,
        "SELECT response_id, metric, score, scale, _load_id FROM responses ORDER BY response_id",
    )
    assert got == [("r1", "nps", 9.0, "0-10", 1), ("r2", "nps", 3.0, "0-10", 2),
                   ("r3", "csat", 4.0, "1-5", 2)]  # fmt: skip
    loads = rows(service.path, "SELECT load_id, table_name, rows_loaded FROM rox_loads ORDER BY 1")
    assert loads == [(1, "responses", 1), (2, "responses", 2)]


def test_events_are_stored(service):
    event = {"customer_id": 7, "ts": "2026-05-01 10:00:00", "step": "visit", "channel": "web"}
    r = service.client.post("/v1/events", json=[event, {**event, "step": "buy"}],
                            headers=service.auth("write"))  # fmt: skip
    assert r.status_code == 201, r.text
    service.stop()
    got = rows(service.path, "SELECT customer_id, step FROM events ORDER BY step")
    assert got == [("7", "buy"), ("7", "visit")]  # ids are text, as in ingestion


def test_ingestion_rules_answer_422_naming_row_and_field(service, response):
    batch = [response(1, score=11), response(2, metric="nope"), response(3, ts="yesterday"),
             response(4, ts="1850-01-01")]  # fmt: skip
    r = service.client.post("/v1/responses", json=batch, headers=service.auth("write"))
    assert r.status_code == 422
    found = {(tuple(e["loc"]), e["msg"].split(" (")[0].split(";")[0]) for e in r.json()["detail"]}
    assert found == {
        (("body", 0, "score"), "outside the nps scale 0-10"),
        (("body", 1, "metric"), "unknown metric"),
        (("body", 2, "ts"), "not a timestamp"),
        (("body", 3, "ts"), "outside the plausible range 1900-01-01 to 2100-12-31"),
    }
    # a single object names the field without an index
    r = service.client.post("/v1/responses", json=response(5, score=-1),
                            headers=service.auth("write"))  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "score"]
    service.stop()
    assert rows(service.path, "SELECT count(*) FROM responses") == [(0,)]


def test_shape_errors_are_422_naming_the_field(service, response):
    auth = service.auth("write")
    missing = {k: v for k, v in response(1).items() if k != "score"}
    r = service.client.post("/v1/responses", json=missing, headers=auth)
    assert r.status_code == 422
    assert any(e["loc"][-1] == "score" and e["type"] == "missing" for e in r.json()["detail"])
    r = service.client.post("/v1/responses", json=response(1, colour="red"), headers=auth)
    assert r.status_code == 422
    assert any(e["loc"][-1] == "colour" for e in r.json()["detail"])
    r = service.client.post("/v1/responses", json=response(1, score="nine"), headers=auth)
    assert r.status_code == 422
    r = service.client.post("/v1/responses", json=[], headers=auth)
    assert r.status_code == 422


def test_a_bad_request_does_not_refuse_its_neighbours_in_the_batch(service, response):
    # concurrent requests share batches; the bad ones are refused alone
    statuses: dict[int, int] = {}

    def post(i: int) -> None:
        body = response(i, score=12 if i % 4 == 0 else 5)
        r = service.client.post("/v1/responses", json=body, headers=service.auth("write"))
        statuses[i] = r.status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i for i, s in statuses.items() if s == 422} == {i for i in range(40) if i % 4 == 0}
    assert {i for i, s in statuses.items() if s == 201} == {i for i in range(40) if i % 4}
    service.stop()
    stored = {r for (r,) in rows(service.path, "SELECT response_id FROM responses")}
    assert stored == {f"r{i}" for i in range(40) if i % 4}


def test_natural_ids_store_once_and_refuse_other_values(service, response):
    auth = service.auth("write")
    assert service.client.post("/v1/responses", json=response(1), headers=auth).status_code == 201
    again = service.client.post("/v1/responses", json=response(1), headers=auth)
    assert again.status_code == 201
    assert again.json()["stored"] == 0
    assert again.json()["duplicates"] == 1
    other = service.client.post("/v1/responses", json=response(1, score=2), headers=auth)
    assert other.status_code == 422
    detail = other.json()["detail"][0]
    assert detail["loc"] == ["body", "response_id"]
    assert "already loaded with different values" in detail["msg"]
    service.stop()
    assert rows(service.path, "SELECT score FROM responses") == [(9.0,)]


def test_idempotency_key_returns_the_first_answer_and_stores_once(service, response):
    auth = {**service.auth("write"), "Idempotency-Key": "k-1"}
    body = response(1, response_id=None)  # no natural id: only the key protects it
    del body["response_id"]
    first = service.client.post("/v1/responses", json=body, headers=auth)
    assert first.status_code == 201
    second = service.client.post("/v1/responses", json=body, headers=auth)
    assert second.status_code == 201
    assert second.json() == first.json()
    changed = service.client.post("/v1/responses", json={**body, "score": 1}, headers=auth)
    assert changed.status_code == 422
    assert changed.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    # another key of another client is another request
    other = {**service.auth("admin"), "Idempotency-Key": "k-1"}
    assert service.client.post("/v1/responses", json={**body, "score": 1},
                               headers=other).status_code == 201  # fmt: skip
    service.stop()
    assert rows(service.path, "SELECT score FROM responses ORDER BY score") == [(1.0,), (9.0,)]
    assert rows(service.path, "SELECT count(*) FROM rox_idempotency") == [(2,)]


def test_idempotency_survives_a_restart(tmp_path, response):
    from fastapi.testclient import TestClient

    from rox.service import ServiceConfig, create_app
    from rox.service.keys import create_key

    path = tmp_path / "w.duckdb"
    with rox.open(str(path)) as ws:
        token = create_key(ws, "w", ["write"])[1]
    auth = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same"}
    body = {k: v for k, v in response(1).items() if k != "response_id"}
    answers = []
    for _ in range(2):
        with TestClient(create_app(ServiceConfig(str(path)))) as client:
            answers.append(client.post("/v1/responses", json=body, headers=auth).json())
    assert answers[0] == answers[1]
    assert rows(path, "SELECT count(*) FROM responses") == [(1,)]


def test_a_failed_commit_is_503_and_stores_nothing_then_the_service_goes_on(
    service, response, monkeypatch
):
    from rox.errors import WorkspaceWriteError
    from rox.ingest.batch import BatchWriter

    real = BatchWriter.append
    calls = []

    def failing_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise WorkspaceWriteError("cannot write to workspace: No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BatchWriter, "append", failing_once)
    auth = service.auth("write")
    failed = service.client.post("/v1/responses", json=response(1), headers=auth)
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "1"
    assert "No space left" in failed.json()["detail"]
    assert service.client.post("/v1/responses", json=response(1), headers=auth).status_code == 201
    service.stop()
    assert rows(service.path, "SELECT response_id FROM responses") == [("r1",)]


def test_one_idempotency_key_sent_twice_at_once_is_stored_once(service, response):
    auth = {**service.auth("write"), "Idempotency-Key": "together"}
    body = {k: v for k, v in response(1).items() if k != "response_id"}
    answers = []

    def post() -> None:
        answers.append(service.client.post("/v1/responses", json=body, headers=auth).json())

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({repr(a) for a in answers}) == 1
    service.stop()
    assert rows(service.path, "SELECT count(*) FROM responses") == [(1,)]
