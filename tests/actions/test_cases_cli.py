"""``rox cases ...`` end to end, in this process, on a hand workspace (#17).

c1: a detractor (5) on 2024-03-01 09:00 after spending 6,000; c2: a promoter; c3: a detractor (2)
on 2024-03-02 and again (3) on 2024-03-02 12:00, inside the case of the first.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import rox
from rox.testing import insert_rows

RULES = """
[loop]
holdout = 0.0
[loop.leads]
"cx-recovery" = "lead"

[[rule]]
name = "detractor"
metric = "nps"
max_score = 6
sla_hours = 48
"""


def _workspace(ws: rox.Workspace) -> None:
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c3"],
                "ts": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-01-10"], utc=True),
                "amount": [5_000.0, 1_000.0, 100.0],
            }
        ),
    )
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": pd.to_datetime(
                    [
                        "2024-03-01 09:00",
                        "2024-03-01 00:00",
                        "2024-03-02 00:00",
                        "2024-03-02 12:00",
                    ],
                    utc=True,
                ),
                "metric": ["nps"] * 4,
                "score": [5.0, 10.0, 2.0, 3.0],
                "response_id": ["r1", "r2", "r3", "r4"],
                "customer_id": ["c1", "c2", "c3", "c3"],
                "scale": ["0-10"] * 4,
                "touchpoint": ["delivery", "delivery", "service_visit", "service_visit"],
            }
        ),
    )


@pytest.fixture
def loop(tmp_path, monkeypatch, rox_here):
    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        _workspace(ws)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    monkeypatch.delenv("ROX_WORKSPACE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        return rox_here(*args, "--workspace", path)

    code, out, err = run("cases", "open", "--rules", str(rules), "--format", "json")
    assert code == 0, err
    opened = json.loads(out)
    # c1's detractor answer (r1) and c3's first (r3); c3's second falls inside its case
    assert sorted(c["case_id"] for c in opened) == ["detractor-r1", "detractor-r3"]
    return run, rules


def test_every_move_from_the_command_line(loop):
    run, _ = loop
    assert run("cases", "assign", "detractor-r1", "ana", "--at", "2024-03-01 10:00")[1] == (
        "case detractor-r1 is open, owner ana\n"
    )
    assert run("cases", "start", "detractor-r1", "--at", "2024-03-01 11:00")[1] == (
        "case detractor-r1 is in_progress, owner ana\n"
    )
    assert run("cases", "close", "detractor-r1", "resolved", "--at", "2024-03-02")[1] == (
        "case detractor-r1 is closed, owner ana\n"
    )
    code, out, _ = run("cases", "reopen", "detractor-r1", "--reason", "called back")
    assert (code, out) == (0, "case detractor-r1 is open, owner ana\n")
    assert run("cases", "start", "detractor-r3", "--owner", "bo", "--at", "2024-03-03")[1] == (
        "case detractor-r3 is in_progress, owner bo\n"
    )
    code, out, _ = run("cases", "list", "--format", "json")
    assert code == 0
    status = {c["case_id"]: (c["status"], c["owner"]) for c in json.loads(out)}
    assert status == {"detractor-r1": ("open", "ana"), "detractor-r3": ("in_progress", "bo")}
    code, out, _ = run("cases", "list", "--owner", "bo", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("detractor-r3,")


def test_an_illegal_move_is_one_line_naming_the_case(loop):
    run, _ = loop
    code, out, err = run("cases", "close", "detractor-r1", "resolved")
    assert code != 0 and out == ""
    assert "detractor-r1" in err and "open" in err and "Traceback" not in err


def test_sla_with_escalation_and_a_table(loop):
    run, rules = loop
    code, out, err = run(
        "cases", "sla", "--escalate", "--rules", str(rules), "--now", "2024-03-04 12:00",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert "2 cases escalated" in err  # both past their 48 h
    (row,) = json.loads(out)
    assert row["owner"] == "lead" and row["cases"] == 2
    code, out, _ = run("cases", "sla", "--by", "trigger", "--now", "2024-03-04 12:00")
    assert code == 0 and "Service levels by trigger" in out
