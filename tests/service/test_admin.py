"""Admin reads (metrics, cases), exports, and GDPR erasure leaving no row of the customer."""

from __future__ import annotations

import io
import shutil

import duckdb
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import rox
from rox.service import ServiceConfig, create_app
from rox.service.erase import subject_hash
from rox.service.keys import create_key


def test_metrics_by_group_with_intervals_match_a_hand_count(service, response):
    # channel app: promoters 9, 10, 10 and detractor 3 -> NPS (3 - 1) / 4 = 50
    # channel web: passive 7, detractor 0 -> NPS -50
    scores = {"app": [9, 10, 10, 3], "web": [7, 0]}
    batch = [
        response(f"{ch}{i}", score=s, channel=ch)
        for ch, values in scores.items()
        for i, s in enumerate(values)
    ]
    assert service.client.post("/v1/responses", json=batch,
                               headers=service.auth("write")).status_code == 201  # fmt: skip
    r = service.client.get("/v1/metrics/nps", params={"by": "channel"},
                           headers=service.auth("read"))  # fmt: skip
    assert r.status_code == 200
    got = {row["channel"]: row for row in r.json()}
    assert got["app"]["estimate"] == pytest.approx(50.0)
    assert got["web"]["estimate"] == pytest.approx(-50.0)
    assert got["app"]["n"] == 4
    assert got["app"]["ci_low"] < 50 < got["app"]["ci_high"]
    by_month = service.client.get("/v1/metrics/nps", params={"period": "month"},
                                  headers=service.auth("read")).json()  # fmt: skip
    assert [row["period"][:7] for row in by_month] == ["2026-05"]
    assert by_month[0]["estimate"] == pytest.approx(100 * (3 - 2) / 6)
    bad = service.client.get("/v1/metrics/nps", params={"by": "colour"},
                             headers=service.auth("read"))  # fmt: skip
    assert bad.status_code == 422
    assert "colour" in bad.json()["detail"]


def test_export_csv_and_parquet_give_the_rows_back(service, response):
    batch = [response(1, comment="ok, fine"), response(2, score=4)]
    service.client.post("/v1/responses", json=batch, headers=service.auth("write"))
    r = service.client.get("/v1/export/responses", headers=service.auth("admin"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(r.text)).sort_values("response_id")
    assert frame["response_id"].tolist() == ["r1", "r2"]
    assert frame["comment"].tolist()[0] == "ok, fine"
    assert "_key" not in frame.columns
    r = service.client.get("/v1/export/responses", params={"format": "parquet"},
                           headers=service.auth("admin"))  # fmt: skip
    frame = pd.read_parquet(io.BytesIO(r.content)).sort_values("response_id")
    assert frame["score"].tolist() == [9.0, 4.0]
    assert service.client.get("/v1/export/rox_api_keys",
                              headers=service.auth("admin")).status_code == 422  # fmt: skip


def test_cases_are_listed_newest_first(service):
    service.stop()
    with rox.open(str(service.path)) as ws:
        ws.ingest("cases", pd.DataFrame({
            "case_id": ["k1", "k2"], "customer_id": ["c1", "c2"],
            "opened_at": ["2026-05-01", "2026-05-02"], "status": ["open", "closed"],
        }))  # fmt: skip
    with TestClient(create_app(ServiceConfig(str(service.path)))) as client:
        got = client.get("/v1/cases", headers=service.auth("read")).json()
        assert [c["case_id"] for c in got] == ["k2", "k1"]
        got = client.get("/v1/cases", params={"status": "open"},
                         headers=service.auth("read")).json()  # fmt: skip
        assert [c["case_id"] for c in got] == ["k1"]


def every_text_cell_equal_to(path, value: str) -> list[tuple[str, str, int]]:
    """(table, column, rows) of every text column of every table holding ``value``."""
    con = duckdb.connect(str(path), read_only=True)
    found = []
    try:
        columns = con.execute(
            "SELECT c.table_name, c.column_name FROM duckdb_columns() AS c "
            "JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name) "
            "WHERE c.data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            (n,) = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" = ? OR "{column}" LIKE ?',
                [value, f'%"{value}"%'],
            ).fetchone()
            if n:
                found.append((table, column, n))
    finally:
        con.close()
    return found


def test_erase_leaves_no_row_of_the_customer_anywhere(demo_path, tmp_path):
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_path, path)
    with rox.open(str(path)) as ws:
        rox.journey.build_index(ws)
        token = create_key(ws, "dpo", ["admin"])[1]
        # the customer with the most rows across the tables
        (who,) = ws.backend.con.execute(
            "SELECT customer_id FROM (SELECT customer_id FROM transactions UNION ALL "
            "SELECT customer_id FROM events UNION ALL SELECT customer_id FROM responses) "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()
        # a refused row of theirs in rejects, as a load would leave it
        bad = pd.DataFrame({"customer_id": [who], "ts": ["not a time"], "amount": [1.0]})
        ws.ingest("transactions", bad, on_error="quarantine")
    before = every_text_cell_equal_to(path, who)
    assert {t for t, _, _ in before} >= {"customers", "transactions", "events", "responses",
                                         "rejects", "rox_journey_events"}  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(ServiceConfig(str(path)))) as client:
        # their latest response arrives through the service, and then they ask to be forgotten
        r = client.post("/v1/responses", json={"ts": "2026-05-01", "metric": "nps", "score": 2,
                                               "customer_id": who}, headers=auth)  # fmt: skip
        assert r.status_code == 201
        erased = client.post(f"/v1/customers/{who}/erase", headers=auth)
        assert erased.status_code == 200
        deleted = erased.json()["deleted"]
        assert deleted["responses"] >= 1
        assert deleted["rejects"] == 1  # the row's one problem (ts)
        assert erased.json()["cleared"] == {"customers.referred_by": 5}  # they referred five
        again = client.post(f"/v1/customers/{who}/erase", headers=auth).json()
        assert again == {"deleted": {}, "cleared": {}}
    assert every_text_cell_equal_to(path, who) == []
    con = duckdb.connect(str(path), read_only=True)
    audit = con.execute("SELECT actor, action, subject, detail FROM rox_audit").fetchall()
    journeys = con.execute("SELECT count(*) FROM rox_journey_index").fetchone()[0]
    con.close()
    assert len(audit) == 2
    assert audit[0][1] == "erase"
    assert audit[0][2] == subject_hash(who)
    assert who not in repr(audit)
    assert journeys == 1  # the journey index was rebuilt without them


def test_erase_refuses_an_empty_id(ws_file):
    from rox.service.erase import erase_customer

    with pytest.raises(rox.errors.ServiceError, match="give the id"):
        erase_customer(ws_file, " ", actor="cli")
