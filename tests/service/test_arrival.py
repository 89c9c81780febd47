"""Cases on arrival (rox.service.arrival): written in the engine, the same rows as in Python (#19).

On DuckDB a batch's cases are completed and written by one statement of the compiled rules; on
PostgreSQL they are read, completed in Python (``complete_cases``) and written. The same batches
written both ways (``Arrival(in_engine=False)`` takes the Python path on DuckDB) give the same
cases, opening moves and webhooks, in the same order, on rules that exercise every column: a
holdout that holds out about half, priorities from the revenue before the trigger, a team per
rule, an SLA that is no whole number of seconds, a minimum value, two score rules and a rule
left to ``rox cases open`` (friction), responses with and without ids, and later batches whose
triggers fall inside the lives of earlier cases.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import rox

pytest.importorskip("fastapi")

from rox.service.arrival import Arrival
from rox.service.outbox import Hooks
from rox.service.writer import Writer, _Intake
from rox.testing import insert_rows

RULES = """
[loop]
holdout = 0.5
seed = 3
team = "care"
priority_values = [900, 400, 100]

[[rule]]
name = "detractor"
metric = "nps"
max_score = 6
sla_hours = 1.2345678

[[rule]]
name = "low_csat"
metric = "csat"
max_score = 2
sla_hours = 72
min_value = 50
team = "ops"

[[rule]]
name = "friction"
steps = ["pay"]
"""

HOOKS = """
[[endpoint]]
name = "crm"
url = "http://127.0.0.1:9/hook"
secret = "whsec_cm94LW91dGJvdW5kLXRlc3Qtc2VjcmV0LTMyYnl0ZXM="
"""


def _batches(seed: int = 19) -> list[list[dict[str, Any]]]:
    """Six batches of 12 responses by 8 customers, some without an id, over two days."""
    pick = random.Random(seed)
    out = []
    for b in range(6):
        batch = []
        for i in range(12):
            n = b * 12 + i
            metric = pick.choice(["nps", "nps", "csat", "ces"])
            high = {"nps": 10, "csat": 5, "ces": 7}[metric]
            row: dict[str, Any] = {
                "ts": f"2026-05-0{1 + b // 3}T{10 + i:02d}:{b * 7:02d}:00Z",
                "metric": metric,
                "score": float(pick.randint(0 if metric == "nps" else 1, high)),
                "customer_id": f"c{pick.randint(0, 7)}",
                "touchpoint": pick.choice(["shop", "app"]),
            }
            if n % 5:
                row["response_id"] = f"r{n}"
            batch.append(row)
        out.append(batch)
    return out


def _write(path: Path, *, in_engine: bool) -> dict[str, pd.DataFrame]:
    """The batches written by the service's writer, cases on arrival; what the tables hold."""
    ws = rox.open(str(path))
    insert_rows(ws, "transactions", pd.DataFrame({
        "order_id": [f"t{i}" for i in range(7)],
        "customer_id": ["c0", "c1", "c1", "c2", "c3", "c4", "c5"],
        "ts": pd.to_datetime(["2026-04-01 00:00", "2026-04-02 00:00", "2026-05-01 12:00",
                              "2026-04-03 00:00", "2026-04-04 00:00", "2026-04-05 00:00",
                              "2026-04-06 00:00"], utc=True),
        "amount": [1000.0, 300.0, 200.0, 60.0, 450.0, 950.0, 120.0],
    }))  # fmt: skip
    writer = Writer(ws)  # (its batches are committed here, one by one, as its thread does)
    writer.arrival = Arrival(ws, RULES, Hooks.load(HOOKS), in_engine=in_engine)
    for batch in _batches():
        group = [_Intake("responses", [row], True, None) for row in batch]
        writer._commit("responses", group)
        for item in group:
            assert item.future.result()["stored"] == 1
    writer.stop()
    with rox.open(str(path)) as again:
        return {
            name: again.backend.con.execute(f"SELECT * FROM {name} ORDER BY rowid").df()
            for name in ("cases", "rox_case_events", "rox_webhook_deliveries")
        }


def test_cases_written_in_the_engine_are_those_completed_in_python(tmp_path):
    result = _write(tmp_path / "engine.duckdb", in_engine=True)
    expected = _write(tmp_path / "python.duckdb", in_engine=False)
    cases, moves = result["cases"], result["rox_case_events"]
    assert 8 <= len(cases) < 20  # several batches open cases; later triggers fall in lives
    assert set(cases["arm"]) == {"holdout", "outreach"}
    assert set(cases["priority"]) == {1, 2, 3, 4} and set(cases["team"]) == {"care", "ops"}
    # the times of the write are each run's own: the same within a run, compared apart
    for got in (result, expected):
        assert (got["cases"]["updated_at"].to_numpy() >= got["cases"]["opened_at"].to_numpy()).all()
        at = dict(zip(got["rox_case_events"]["case_id"], got["rox_case_events"]["at"], strict=True))
        assert [at[c] for c in got["cases"]["case_id"]] == list(got["cases"]["updated_at"])
    pd.testing.assert_frame_equal(
        cases.drop(columns="updated_at"), expected["cases"].drop(columns="updated_at")
    )
    pd.testing.assert_frame_equal(
        moves.drop(columns="at"), expected["rox_case_events"].drop(columns="at")
    )
    assert _announced(result) == _announced(expected)
    types = [m["type"] for m in _announced(result)]
    assert types.count("case.opened") == (cases["arm"] == "outreach").sum()


def _announced(tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The deliveries' bodies in order, without the times of the write."""
    out = []
    for text in tables["rox_webhook_deliveries"]["payload"]:
        body = json.loads(text)
        body.pop("timestamp")
        body["data"].pop("updated_at", None)
        out.append(body)
    return out


LIVES_RULES = """
[loop]
holdout = 0

[[rule]]
name = "detractor"
metric = "nps"
max_score = 6
sla_hours = 1
"""


def _opened_by_batches(path: Path, *, in_engine: bool) -> list[list[str]]:
    """The case ids each batch opens: c0's detractor answers around the life of its cases."""
    from rox.actions import close, start

    ws = rox.open(str(path))
    writer = Writer(ws)
    writer.arrival = Arrival(ws, LIVES_RULES, None, in_engine=in_engine)

    def batch(rid: str, ts: str, customer: str = "c0") -> list[str]:
        before = writer.arrival.cases_opened
        row = {"ts": ts, "metric": "nps", "score": 2.0, "customer_id": customer,
               "response_id": rid}  # fmt: skip
        promoter = {**row, "score": 10.0, "customer_id": "c9", "response_id": f"{rid}-p"}
        writer._commit("responses", [_Intake("responses", [r], True, None)
                                     for r in (row, promoter)])  # fmt: skip
        found = ws.backend.con.execute("SELECT case_id FROM cases ORDER BY rowid").fetchall()
        return [c for (c,) in found][before:]

    opened = [
        batch("a", "2026-05-01T10:00:00Z"),  # c0's first case, active from 10:00
        batch("b", "2026-05-01T11:00:00Z"),  # inside its life: nothing
    ]
    start(ws, "detractor-a", at="2026-05-01T11:30:00Z")
    close(ws, "detractor-a", "resolved", at="2026-05-01T12:00:00Z")
    opened += [
        batch("c", "2026-05-01T13:00:00Z"),  # after its life (closed at 12:00): a new case
        batch("d", "2026-05-01T09:00:00Z"),  # before both lives (a late answer): a new case
        batch("e", "2026-05-01T14:00:00Z"),  # inside the life of the case of c: nothing
    ]
    writer.stop()
    return opened


def test_a_batch_whose_triggers_follow_or_precede_every_life_opens_their_cases(tmp_path):
    # (#19) the writer's first query skips the full statement when no trigger may open a
    # case: a batch whose only trigger is outside every life of its customer's cases still
    # opens it, and one inside a life opens nothing, as rox cases open decides it in Python
    result = _opened_by_batches(tmp_path / "engine.duckdb", in_engine=True)
    expected = _opened_by_batches(tmp_path / "python.duckdb", in_engine=False)
    assert result == [["detractor-a"], [], ["detractor-c"], ["detractor-d"], []]
    assert result == expected
