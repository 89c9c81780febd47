"""Closed-loop cases: the rules that open them, the holdout, every legal and illegal move (#17)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pytest

import rox
from rox.actions import (
    CaseRules,
    assign,
    close,
    escalate,
    escalate_breached,
    list_cases,
    open_cases,
    reopen,
    start,
)
from rox.actions.cases import MOVES
from rox.actions.holdout import assign_arms, holdout_draw
from rox.errors import ActionError, CaseStateError
from rox.testing import insert_rows

#: Rules without a holdout (every trigger gets outreach), and with (nearly) all held out.
NO_HOLDOUT = CaseRules.load().__class__.from_dict(
    {
        "loop": {"holdout": 0.0, "leads": {"cx-recovery": "lead", "ana": "lead", "lead": "boss"}},
        "rule": [{"name": "detractor", "metric": "nps", "max_score": 6, "sla_hours": 48}],
    }
)
ALL_HELD = CaseRules.from_dict(
    {
        "loop": {"holdout": 0.999999},
        "rule": [{"name": "detractor", "metric": "nps", "max_score": 6}],
    }
)


def _t(*times: str) -> pd.DatetimeIndex:
    return pd.to_datetime(list(times), utc=True, format="ISO8601")


def _workspace(ws: rox.Workspace) -> rox.Workspace:
    """c1: detractor (5) on 2024-03-01 09:00 after spending 6,000; c2: promoter; c3: detractor
    (2) on 2024-03-02 and again (3) on 2024-03-02 12:00, after spending 100."""
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c3", "c1"],
                "ts": _t("2024-01-05", "2024-02-01", "2024-01-10", "2024-03-01 09:00"),
                "amount": [5_000.0, 1_000.0, 100.0, 999.0],  # the last one is not *before*
            }
        ),
    )
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": _t("2024-03-01 09:00", "2024-03-01", "2024-03-02", "2024-03-02 12:00"),
                "metric": ["nps"] * 4,
                "score": [5.0, 10.0, 2.0, 3.0],
                "response_id": ["r1", "r2", "r3", "r4"],
                "customer_id": ["c1", "c2", "c3", "c3"],
                "scale": ["0-10"] * 4,
                "touchpoint": ["delivery", "delivery", "service_visit", "service_visit"],
            }
        ),
    )
    return ws


def test_rules_open_one_case_per_trigger_once(ws):
    _workspace(ws)
    opened = open_cases(ws, NO_HOLDOUT, now="2024-03-03").frame.set_index("case_id")
    # c3's second answer falls inside the life of the case its first one opened
    assert sorted(opened.index) == ["detractor-r1", "detractor-r3"]
    c1 = opened.loc["detractor-r1"]
    assert c1["value"] == 6_000.0  # revenue strictly before the trigger
    assert c1["priority"] == 1  # 6,000 >= 5,000
    assert opened.loc["detractor-r3", "priority"] == 4  # 100 < 300
    assert c1["due_at"] == pd.Timestamp("2024-03-03 09:00", tz="UTC")  # 48 h
    assert c1["touchpoint"] == "delivery" and c1["arm"] == "outreach"
    # idempotent: running the rules again opens nothing
    assert len(open_cases(ws, NO_HOLDOUT, now="2024-03-04")) == 0
    assert ws.count("cases") == 2
    events = ws.table("rox_case_events").execute()
    assert sorted(events["case_id"]) == ["detractor-r1", "detractor-r3"]
    assert set(events["move"]) == {"open"}


def test_a_trigger_after_a_case_closed_opens_a_new_one(ws):
    _workspace(ws)
    open_cases(ws, NO_HOLDOUT, until="2024-03-02 06:00")
    start(ws, "detractor-r3", at="2024-03-02 08:00")
    close(ws, "detractor-r3", "resolved", at="2024-03-02 10:00")
    again = open_cases(ws, NO_HOLDOUT)
    assert list(again.frame["case_id"]) == ["detractor-r4"]  # 12:00, after the closing at 10:00


def test_friction_rule_for_high_value_customers(ws):
    _workspace(ws)
    insert_rows(
        ws,
        "events",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c3"],
                "ts": _t("2024-03-05", "2024-03-06", "2024-03-06"),
                "step": ["configurator", "financing", "financing"],
                "journey": ["j1", "j1", "j3"],
            }
        ),
    )
    rules = CaseRules.load(
        """
[[rule]]
name = "friction"
steps = ["financing"]
min_value = 1500
sla_hours = 72
"""
    )
    opened = open_cases(ws, rules).frame
    assert list(opened["case_id"]) == ["friction-j1:financing"]  # c3 is worth 100
    assert opened["due_at"].iloc[0] == pd.Timestamp("2024-03-09", tz="UTC")


def test_holdout_is_reproducible_and_recomputable_by_hand():
    ids = [f"detractor-r{i}" for i in range(20_000)]
    arms = assign_arms(ids, 0.10, seed=17)
    assert arms == assign_arms(list(reversed(ids))[::-1], 0.10, seed=17)
    digest = hashlib.blake2b(b"17:detractor-r0", digest_size=8).digest()
    assert holdout_draw("detractor-r0", 17) == int.from_bytes(digest, "big") / 2**64
    assert (arms[0] == "holdout") == (holdout_draw("detractor-r0", 17) < 0.10)
    held = arms.count("holdout")
    sd = (20_000 * 0.1 * 0.9) ** 0.5  # binomial: 2,000 +- 42
    assert abs(held - 2_000) < 4 * sd
    assert assign_arms(ids, 0.10, seed=18) != arms  # the seed matters
    with pytest.raises(ActionError, match=r"\[0, 1\)"):
        assign_arms(ids, 1.0, seed=17)


# -- the state machine: every move from every state ----------------------------------------------
def _case_in(ws: rox.Workspace, state: str) -> str:
    _workspace(ws)
    if state == "holdout":
        open_cases(ws, ALL_HELD, until="2024-03-02", now="2024-03-01 09:00")
        return "detractor-r1"
    open_cases(ws, NO_HOLDOUT, until="2024-03-02", now="2024-03-01 09:00")
    if state in ("in_progress", "closed"):
        start(ws, "detractor-r1", at="2024-03-01 10:00")
    if state == "closed":
        close(ws, "detractor-r1", "resolved", at="2024-03-01 11:00")
    return "detractor-r1"


def _do(ws: rox.Workspace, case_id: str, move: str) -> dict:
    at = "2024-03-01 12:00"
    if move == "start":
        return start(ws, case_id, at=at)
    if move == "assign":
        return assign(ws, case_id, "ben", at=at)
    if move == "close":
        return close(ws, case_id, "unreachable", at=at)
    if move == "reopen":
        return reopen(ws, case_id, at=at)
    return escalate(ws, case_id, lead="lead", at=at)


STATES = ("open", "in_progress", "closed", "holdout")
ALL_MOVES = ("start", "assign", "close", "reopen", "escalate")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("move", ALL_MOVES)
def test_every_move_from_every_state(ws, state, move):
    case_id = _case_in(ws, state)
    expected = {
        ("open", "start"): "in_progress",
        ("open", "assign"): "open",
        ("open", "escalate"): "open",
        ("in_progress", "close"): "closed",
        ("in_progress", "assign"): "in_progress",
        ("in_progress", "escalate"): "in_progress",
        ("closed", "reopen"): "open",
    }
    logged = ws.count("rox_case_events") if ws.engine.has_table("rox_case_events") else 0
    if (state, move) in expected:
        result = _do(ws, case_id, move)
        stored = list_cases(ws, customer_id="c1").frame.iloc[0]
        assert result["status"] == stored["status"] == expected[state, move]
        assert ws.count("rox_case_events") == logged + 1
        last = ws.table("rox_case_events").execute().sort_values("at").iloc[-1]
        assert (last["move"], last["from_status"], last["to_status"]) == (
            move,
            state,
            expected[state, move],
        )
    else:
        with pytest.raises(CaseStateError) as info:
            _do(ws, case_id, move)
        text = str(info.value)
        assert case_id in text and f"is {state}" in text and f"cannot {move}" in text
        allowed = list(MOVES[state]) or ["none"]
        assert all(m in text for m in allowed)
        assert ws.count("rox_case_events") == logged  # nothing written
        assert list_cases(ws, customer_id="c1").frame["status"].iloc[0] == state


def test_the_table_of_moves_is_the_issues():
    assert {s: set(m) for s, m in MOVES.items()} == {
        "open": {"start", "assign", "escalate"},
        "in_progress": {"close", "assign", "escalate"},
        "closed": {"reopen"},
        "holdout": set(),
    }


def test_moves_record_times_owner_and_resolution(ws):
    case_id = _case_in(ws, "open")
    assign(ws, case_id, "ana", at="2024-03-01 09:30")
    start(ws, case_id, at="2024-03-01 10:00")
    close(ws, case_id, "declined", at="2024-03-02 10:00")
    row = list_cases(ws, customer_id="c1").frame.iloc[0]
    assert row["owner"] == "ana" and row["resolution"] == "declined"
    assert row["first_action_at"] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    assert row["closed_at"] == pd.Timestamp("2024-03-02 10:00", tz="UTC")
    reopened = reopen(ws, case_id, at="2024-03-05 00:00", reason="customer called back")
    assert reopened["closed_at"] is None and reopened["resolution"] is None
    # due again one SLA (48 h) after the reopening
    row = list_cases(ws, customer_id="c1").frame.iloc[0]
    assert row["due_at"] == pd.Timestamp("2024-03-07 00:00", tz="UTC")
    start(ws, case_id, at="2024-03-05 01:00")  # the first action keeps its first time
    row = list_cases(ws, customer_id="c1").frame.iloc[0]
    assert row["first_action_at"] == pd.Timestamp("2024-03-01 10:00", tz="UTC")


def test_bad_resolution_owner_and_unknown_case(ws):
    case_id = _case_in(ws, "in_progress")
    with pytest.raises(ActionError, match="resolved, unreachable, declined"):
        close(ws, case_id, "fixed")
    with pytest.raises(ActionError, match="owner must be named"):
        assign(ws, case_id, "  ")
    with pytest.raises(ActionError, match="no case 'nope'"):
        start(ws, "nope")


def test_a_stale_move_is_refused_and_writes_nothing(ws):
    case_id = _case_in(ws, "open")
    log = pa.table({"case_id": ["x"], "move": ["start"]})
    done = ws.engine.update(
        "cases",
        key={"case_id": case_id},
        expected={"status": "in_progress"},  # what another process saw: not the stored state
        values={"status": "closed"},
        append={"rox_case_events": log},
    )
    assert done is False
    assert list_cases(ws, customer_id="c1").frame["status"].iloc[0] == "open"
    assert "x" not in set(ws.table("rox_case_events").execute()["case_id"])


def test_moves_survive_reopening_the_workspace(tmp_path):
    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        case_id = _case_in(ws, "open")
        start(ws, case_id, at="2024-03-01 10:00")
    with rox.open(path, read_only=True) as ws:
        assert list_cases(ws).frame.set_index("case_id").loc[case_id, "status"] == "in_progress"


# -- escalation ----------------------------------------------------------------------------------
def test_escalation_one_level_per_sla_overdue_up_to_the_cap(ws):
    case_id = _case_in(ws, "open")  # due 2024-03-03 09:00, SLA 48 h, priority 1
    assign(ws, case_id, "ana", at="2024-03-01 10:00")
    assert escalate_breached(ws, NO_HOLDOUT, now="2024-03-03 08:59").frame.empty  # not yet due
    first = escalate_breached(ws, NO_HOLDOUT, now="2024-03-03 10:00").frame
    assert list(first["level"]) == [1] and list(first["owner"]) == ["lead"]  # ana's lead
    assert escalate_breached(ws, NO_HOLDOUT, now="2024-03-03 11:00").frame.empty  # same level
    # 96 h overdue = 2 SLA periods: level 1 + 2 = 3, capped at max_escalations = 2
    second = escalate_breached(ws, NO_HOLDOUT, now="2024-03-07 09:00").frame
    assert list(second["level"]) == [2] and list(second["owner"]) == ["boss"]
    row = list_cases(ws, customer_id="c1").frame.iloc[0]
    assert row["escalation"] == 2 and row["priority"] == 1  # priority 1 stays 1


def test_escalation_moves_priority_up(ws):
    _workspace(ws)
    open_cases(ws, NO_HOLDOUT)
    escalate_breached(ws, NO_HOLDOUT, now="2024-03-04 13:00")  # c3's case: due 03-04 00:00
    row = list_cases(ws, customer_id="c3").frame.iloc[0]
    assert row["priority"] == 3 and row["escalation"] == 1 and row["owner"] == "lead"


# -- bad rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[rule]]\nname = 'x'\nmetric = 'nps'\n", "needs max_score"),
        ("[[rule]]\nname = 'x'\n", "either metric"),
        ("[[rule]]\nname = 'x'\nmetric = 'sat'\nmax_score = 1\n", "not one of nps, csat, ces"),
        ("[loop]\nholdout = 1.5\n[[rule]]\nname = 'x'\nsteps = ['a']\n", "holdout"),
        ("[loop]\nspeed = 1\n[[rule]]\nname = 'x'\nsteps = ['a']\n", "unknown \\[loop\\]"),
        ("[[rule]]\nname = 'x'\nsteps = ['a']\ncolour = 1\n", "unknown settings"),
        ("[[rule]]\nname = 'a b'\nsteps = ['a']\n", "letters, digits"),
        ("[loop]\n", "no \\[\\[rule\\]\\]"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_rules_are_named(toml, message):
    with pytest.raises(ActionError, match=message):
        CaseRules.load(toml + "\n")


def test_cases_need_a_writable_engine_that_can_update(ws):
    case_id = _case_in(ws, "open")
    # Spark's lake cannot change a row in place: the base engine says so
    from rox.engines import Engine

    with pytest.raises(rox.errors.EngineNotSupportedError, match="in place"):
        Engine.update(ws.engine, "cases", {"case_id": case_id}, {}, {"status": "x"})


def test_the_policy_and_the_rules_name_a_missing_file_and_an_unknown_section(tmp_path):
    # (one loader reads both: rox.actions._toml)
    from rox.actions import Policy

    missing = tmp_path / "nope.toml"
    with pytest.raises(ActionError, match=f"^case rules file {missing} does not exist$"):
        CaseRules.load(missing)
    with pytest.raises(ActionError, match=f"^policy file {missing} does not exist$"):
        Policy.load(str(missing))
    with pytest.raises(ActionError, match=r"^unknown sections in the case rules: \['rules'\]$"):
        CaseRules.load("[[rules]]\nname = 'x'\n")
    with pytest.raises(ActionError, match=r"^unknown sections in the policy: \['actions'\]$"):
        Policy.load("[[actions]]\nname = 'x'\n")
    with pytest.raises(ActionError, match=r"^the policy is not valid TOML: "):
        Policy.load("[nba\n")
    # the first bad entry is named, in order
    two = "[[rule]]\nname = 'a b'\nsteps = ['x']\n[[rule]]\nname = 'c'\ncolour = 1\n"
    with pytest.raises(ActionError, match="'a b': use letters"):
        CaseRules.load(two)
    path = tmp_path / "rules.toml"
    path.write_text("[[rule]]\nname = 'from_file'\nsteps = ['x']\n")
    assert CaseRules.load(path).rules[0].name == "from_file"


def test_case_rows_write_missing_values_as_nulls_and_keep_the_others():  # #19
    """A batch's new cases as Arrow: NaN, NaT and None are nulls; a column not given is null."""
    from datetime import UTC, datetime

    from rox.actions.cases import case_rows

    frame = pd.DataFrame(
        {
            "case_id": ["k1", "k2"],
            "customer_id": ["c1", "c2"],
            "opened_at": pd.to_datetime(["2026-05-01 10:00", "2026-05-02 11:30"], utc=True),
            "status": ["open", "holdout"],
            "due_at": [pd.Timestamp("2026-05-03", tz="UTC"), pd.NaT],
            "value": [125.5, float("nan")],
            "priority": [2, 4],
            "team": [None, "ops"],
        }
    )
    result = case_rows(frame).to_pydict()
    assert result["_key"] == ["k1", "k2"]
    assert result["opened_at"] == [
        datetime(2026, 5, 1, 10, tzinfo=UTC),
        datetime(2026, 5, 2, 11, 30, tzinfo=UTC),
    ]
    assert result["due_at"] == [datetime(2026, 5, 3, tzinfo=UTC), None]
    assert result["value"] == [125.5, None]
    assert result["priority"] == [2, 4]
    assert result["team"] == [None, "ops"]
    assert result["owner"] == [None, None]
    assert result["_load_id"] == [None, None]
