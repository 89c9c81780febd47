"""Closed-loop cases on a real PostgreSQL server: every move is one guarded commit (#17).

A case's move is a compare-and-set ``UPDATE`` of its row plus the move's log row, in one
transaction (``Engine.update``). DuckDB's path is covered in tests/actions/test_cases.py; this
runs the same life of a case on PostgreSQL (its own SQL: ``%s`` parameters, ``rowcount``) and
checks what is stored, by reading the tables back. Spark cannot update a row in place: cases
refuse it with a clear error (tests/actions/test_cases.py).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

import rox
from rox.actions import CaseRules, assign, close, list_cases, open_cases, reopen, start
from rox.errors import CaseStateError
from rox.testing import insert_rows

pytestmark = pytest.mark.postgres

RULES = CaseRules.from_dict(
    {
        "loop": {"holdout": 0.0},
        "rule": [{"name": "detractor", "metric": "nps", "max_score": 6, "sla_hours": 48}],
    }
)


@pytest.fixture
def pg_ws(postgres_server, tmp_path):
    """An empty workspace in a new database on the test PostgreSQL server."""
    with rox.open(postgres_server.new_database()) as ws:
        yield ws


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_the_life_of_a_case_on_postgres(pg_ws):
    insert_rows(
        pg_ws,
        "responses",
        pd.DataFrame(
            {
                "ts": pd.to_datetime(["2024-03-01 09:00", "2024-03-01 10:00"], utc=True),
                "metric": ["nps", "nps"],
                "score": [4.0, 10.0],
                "response_id": ["r1", "r2"],
                "customer_id": ["c1", "c2"],
                "scale": ["0-10", "0-10"],
                "touchpoint": ["delivery", "delivery"],
            }
        ),
    )
    opened = open_cases(pg_ws, RULES, now="2024-03-01 09:30").frame
    assert list(opened["case_id"]) == ["detractor-r1"]  # the promoter opens nothing
    case_id = "detractor-r1"

    assign(pg_ws, case_id, "ana", at="2024-03-01 09:45")
    start(pg_ws, case_id, at="2024-03-01 10:00")
    close(pg_ws, case_id, "resolved", at="2024-03-02 10:00")
    row = list_cases(pg_ws).frame.set_index("case_id").loc[case_id]
    assert (row["status"], row["owner"], row["resolution"]) == ("closed", "ana", "resolved")
    assert row["first_action_at"] == _utc("2024-03-01 10:00")
    assert row["closed_at"] == _utc("2024-03-02 10:00")

    reopen(pg_ws, case_id, at="2024-03-05 00:00", reason="called back")
    row = list_cases(pg_ws).frame.set_index("case_id").loc[case_id]
    assert row["status"] == "open" and pd.isna(row["closed_at"]) and pd.isna(row["resolution"])
    assert row["due_at"] == _utc("2024-03-07 00:00")  # one SLA (48 h) after the reopening

    events = pg_ws.table("rox_case_events").execute().sort_values("at")
    assert list(events["move"]) == ["open", "assign", "start", "close", "reopen"]
    assert list(events["to_status"]) == ["open", "open", "in_progress", "closed", "open"]

    # an illegal move is refused and writes nothing
    with pytest.raises(CaseStateError, match="is open: it cannot close"):
        close(pg_ws, case_id, "resolved", at="2024-03-06 00:00")
    assert pg_ws.count("rox_case_events") == 5


def test_a_stale_move_writes_nothing_on_postgres(pg_ws):
    insert_rows(
        pg_ws,
        "responses",
        pd.DataFrame(
            {
                "ts": pd.to_datetime(["2024-03-01 09:00"], utc=True),
                "metric": ["nps"],
                "score": [2.0],
                "response_id": ["r1"],
                "customer_id": ["c1"],
                "scale": ["0-10"],
                "touchpoint": ["delivery"],
            }
        ),
    )
    open_cases(pg_ws, RULES, now="2024-03-01 09:30")
    log = pa.table({"case_id": ["x"], "move": ["start"]})
    stale = {"status": "in_progress"}  # what another process saw: not the stored state
    fresh = {"status": "open"}
    assert not pg_ws.engine.update(
        "cases", key={"case_id": "detractor-r1"}, expected=stale,
        values={"status": "closed"}, append={"rox_case_events": log},
    )  # fmt: skip
    assert list_cases(pg_ws).frame["status"].iloc[0] == "open"
    assert pg_ws.count("rox_case_events") == 1  # the opening only
    # the same update, guarded by the state actually stored, goes through with its log row
    assert pg_ws.engine.update(
        "cases", key={"case_id": "detractor-r1"}, expected=fresh,
        values={"status": "closed"}, append={"rox_case_events": log},
    )  # fmt: skip
    assert list_cases(pg_ws).frame["status"].iloc[0] == "closed"
    assert "x" in set(pg_ws.table("rox_case_events").execute()["case_id"])
