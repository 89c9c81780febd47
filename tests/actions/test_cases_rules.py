"""The case list's and the moves' rules on both sides of each boundary, by hand (#22).

The rules (:mod:`rox.actions.cases`):

- a case is overdue when it is active (open or in progress), has a due time, and that time is
  **before** ``now`` (``due_at < now``): due exactly at ``now`` it is not, one second before it is;
  closed and held-out cases are never overdue;
- the list is sorted by priority (1 first, cases without one last), then due time, then id;
  ``status='active'`` keeps open and in-progress cases, an unknown status is refused naming the
  known ones, ``owner`` / ``customer_id`` / ``overdue`` / ``limit`` narrow it;
- escalating ``levels`` levels raises the priority by that many, to 1 at most (a case without a
  priority gets 1), and adds ``levels`` to the escalation count (none counts as 0); the case
  passes to ``lead`` when one is named, else keeps its owner;
- reopening a case without a due time leaves it without one;
- a missing value is None, NaN, NaT or NA, never a text (not even an empty one) nor 0.

Six cases, judged at NOW = 2024-06-10 12:00:

====  ======  ===========  ========  ==========  ==============
case  owner   status       priority  escalation  due
====  ======  ===========  ========  ==========  ==============
k1    ana     open         2         (none)      NOW - 1 s
k2    ana     open         1         0           NOW
k3    ben     in_progress  3         1           NOW - 1 h
k4    ben     closed       1         0           NOW - 1 h
k5    ana     holdout      1         0           NOW - 1 h
k6    (none)  open         (none)    (none)      (none)
====  ======  ===========  ========  ==========  ==============
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import rox
from rox.actions import escalate, list_cases, reopen, start
from rox.actions.cases import case_columns, is_missing, move_case
from rox.errors import ActionError, CaseStateError
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-06-01 08:00", tz="UTC")
NOW = pd.Timestamp("2024-06-10 12:00", tz="UTC")
H = pd.Timedelta(hours=1)
S = pd.Timedelta(seconds=1)
NAT = pd.NaT
IDS = ["k1", "k2", "k3", "k4", "k5", "k6"]


def _build(ws: rox.Workspace) -> rox.Workspace:
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": IDS,
                "customer_id": ["c1", "c2", "c3", "c1", "c5", "c6"],
                "opened_at": [T0] * 6,
                "status": ["open", "open", "in_progress", "closed", "holdout", "open"],
                "owner": ["ana", "ana", "ben", "ben", "ana", None],
                "due_at": [NOW - S, NOW, NOW - H, NOW - H, NOW - H, NAT],
                "priority": pd.array([2, 1, 3, 1, 1, None], dtype="Int64"),
                "escalation": pd.array([None, 0, 1, 0, 0, None], dtype="Int64"),
                "updated_at": [T0] * 6,
            }
        ),
    )
    return ws


def _ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["case_id"])


def test_overdue_is_active_with_a_due_time_before_now(ws):
    frame = list_cases(_build(ws), now=NOW).frame.set_index("case_id")
    assert frame["overdue"].to_dict() == {
        "k1": True,  # open, due one second before now
        "k2": False,  # open, due exactly now
        "k3": True,  # in progress, due an hour before
        "k4": False,  # closed
        "k5": False,  # held out
        "k6": False,  # no due time
    }
    assert _ids(list_cases(ws, now=NOW, overdue=True).frame) == ["k1", "k3"]
    # one second later k2 is overdue too
    assert _ids(list_cases(ws, now=NOW + S, overdue=True).frame) == ["k2", "k1", "k3"]


def test_the_list_is_by_priority_then_due_time_then_id_without_a_priority_last(ws):
    frame = list_cases(_build(ws), now=NOW).frame
    # priority 1: k4, k5 (due NOW - 1 h, by id) then k2 (due NOW); 2: k1; 3: k3; none: k6
    assert _ids(frame) == ["k4", "k5", "k2", "k1", "k3", "k6"]
    assert list(frame.index) == list(range(6))
    assert list(frame.columns) == [*case_columns(), "overdue"]  # no "index" column
    assert _ids(list_cases(ws, now=NOW, limit=2).frame) == ["k4", "k5"]


def test_the_filters_keep_what_they_name(ws):
    _build(ws)
    assert _ids(list_cases(ws, status="active", now=NOW).frame) == ["k2", "k1", "k3", "k6"]
    assert _ids(list_cases(ws, status="open", now=NOW).frame) == ["k2", "k1", "k6"]
    assert _ids(list_cases(ws, status="holdout", now=NOW).frame) == ["k5"]
    assert _ids(list_cases(ws, owner="ben", now=NOW).frame) == ["k4", "k3"]
    assert _ids(list_cases(ws, customer_id="c1", now=NOW).frame) == ["k4", "k1"]
    both = list_cases(ws, status="active", owner="ana", overdue=True, now=NOW).frame
    assert _ids(both) == ["k1"]
    with pytest.raises(
        ActionError,
        match="unknown case status 'shut': expected one of open, in_progress, closed, holdout "
        "or active",
    ):
        list_cases(ws, status="shut")


def test_the_list_prints_its_count_and_columns_without_the_index(ws):
    text = repr(list_cases(_build(ws), now=NOW))
    lines = text.splitlines()
    assert lines[0] == "CaseList (6 cases)"
    assert lines[1].split() == ["case_id", "customer_id", "status", "owner", "priority", "due_at"]
    assert lines[2].split()[0] == "k4"  # no index column before the id
    assert len(lines) == 2 + 6


def test_escalation_raises_the_priority_by_levels_to_one_at_most(ws):
    _build(ws)
    two = escalate(ws, "k3", lead=None, at=NOW, levels=1)  # priority 3, escalation 1
    assert (two["priority"], two["escalation"], two["owner"]) == (2, 2, "ben")
    far = escalate(ws, "k1", lead="lead", at=NOW, levels=5)  # priority 2, escalation none
    assert (far["priority"], far["escalation"], far["owner"]) == (1, 5, "lead")
    none = escalate(ws, "k6", lead="boss", at=NOW, levels=2)  # no priority, no escalation
    assert (none["priority"], none["escalation"], none["owner"]) == (1, 2, "boss")
    stored = list_cases(ws, now=NOW).frame.set_index("case_id")
    assert stored.loc["k3", "priority"] == 2 and stored.loc["k3", "escalation"] == 2
    assert stored.loc["k1", "priority"] == 1 and stored.loc["k1", "escalation"] == 5
    assert stored.loc["k6", "priority"] == 1 and stored.loc["k6", "escalation"] == 2
    # each move is stamped with the time given, in the case and in its log
    assert (stored.loc[["k1", "k3", "k6"], "updated_at"] == NOW).all()
    log = ws.table("rox_case_events").execute()
    assert list(log["at"]) == [NOW] * 3 and sorted(log["case_id"]) == ["k1", "k3", "k6"]


def test_reopening_a_case_without_a_due_time_leaves_it_without_one(ws):
    _build(ws)
    start(ws, "k6", at=NOW)
    move_case(ws, "k6", "close", at=NOW + H, changes={"resolution": "resolved"})
    after = reopen(ws, "k6", at=NOW + 2 * H)
    assert after["status"] == "open" and after["due_at"] is None
    assert pd.isna(list_cases(ws, now=NOW).frame.set_index("case_id").loc["k6", "due_at"])


def test_a_move_checked_against_a_stale_state_writes_nothing(ws):
    _build(ws)
    seen = list_cases(ws, now=NOW).frame.set_index("case_id").loc["k2"].to_dict()
    seen["case_id"] = "k2"
    start(ws, "k2", at=NOW)  # another process moves it first
    seen_open = {**seen, "status": "open"}
    with pytest.raises(CaseStateError, match="changed while it was being moved"):
        move_case(ws, "k2", "assign", at=NOW, changes={"owner": "zed"}, current=seen_open)
    assert list_cases(ws, now=NOW).frame.set_index("case_id").loc["k2", "owner"] == "ana"


def test_a_missing_value_is_none_nan_nat_or_na_never_a_text_or_zero():
    for v in (None, math.nan, np.nan, pd.NaT, pd.NA):
        assert is_missing(v) is True
    for v in ("", "x", "nan", 0, 0.0, False, pd.Timestamp("2024-01-01", tz="UTC")):
        assert is_missing(v) is False


def test_a_read_only_workspace_cannot_move_a_case(tmp_path):
    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        _build(ws)
    with (
        rox.open(path, read_only=True) as ws,
        pytest.raises(ActionError, match="is open read-only; cases cannot change"),
    ):
        start(ws, "k2", at=NOW)


def test_escalation_is_one_level_unless_told_and_reads_a_listed_row_as_the_case(ws):
    _build(ws)
    one = escalate(ws, "k3", lead=None, at=NOW)  # priority 3, escalation 1: one level
    assert (one["priority"], one["escalation"]) == (2, 2)
    # a row of the case list as the case just read: its missing priority and escalation are NA
    row = list_cases(ws, now=NOW).frame.set_index("case_id").loc["k6"]
    assert pd.isna(row["priority"]) and pd.isna(row["escalation"])
    current = {"case_id": "k6", **row.drop("overdue").to_dict()}
    two = escalate(ws, "k6", lead=None, at=NOW, levels=2, current=current)
    assert (two["priority"], two["escalation"]) == (1, 2)
