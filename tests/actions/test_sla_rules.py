"""The SLA report's rules on both sides of every boundary, counted by hand (#22).

The boundaries, as decided and documented in :mod:`rox.actions.sla`:

- a case closed **at** its due time is within its SLA (``closed_at <= due_at``); one second
  later it is not;
- a case is decided (and, if still active, overdue) once its due time is **before** ``now``
  (``due_at < now``): due exactly at ``now`` it is neither;
- an NPS detractor scored 0-6: 6 is one, 7 is not; another metric's low score is not.

Seven cases, all opened 2024-01-01 08:00 (data seen until 2024-12-31, so their 180 days have
passed), judged at NOW = 2024-06-10 12:00:

====  =====  ======  ===========  ============  ===============  ===============  ==========
case  team   arm     status       first action  due              closed           trigger
====  =====  ======  ===========  ============  ===============  ===============  ==========
a1    x      out.    closed       +3 h          +48 h            at +48 h         NPS 6, buys
a2    x      out.    closed       +7 h          +48 h            +48 h 1 s        NPS 7
a3    y      out.    in_progress  +1 h          NOW              -                CSAT 1
a4    y      out.    open         -             NOW - 1 s        -                NPS 0
a5    -      (null)  closed       -             (none)           +10 h            -
a6    y      out.    open         -             (none)           -                -
h1    x      hold.   holdout      -             +48 h            -                NPS 2, buys
====  =====  ======  ===========  ============  ===============  ===============  ==========
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import rox
from rox.actions import sla_report
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01 08:00", tz="UTC")
NOW = pd.Timestamp("2024-06-10 12:00", tz="UTC")
H = pd.Timedelta(hours=1)
S = pd.Timedelta(seconds=1)
NAT = pd.NaT


def _build(ws: rox.Workspace) -> rox.Workspace:
    ids = ["a1", "a2", "a3", "a4", "a5", "a6", "h1"]
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ids,
                "customer_id": [f"c_{i}" for i in ids],
                "opened_at": [T0] * 7,
                "status": ["closed", "closed", "in_progress", "open", "closed", "open", "holdout"],
                "response_id": ["r1", "r2", "r3", "r4", None, None, "r7"],
                "owner": ["ana"] * 7,
                "team": ["x", "x", "y", "y", None, "y", "x"],
                "due_at": [T0 + 48 * H, T0 + 48 * H, NOW, NOW - S, NAT, NAT, T0 + 48 * H],
                "closed_at": [T0 + 48 * H, T0 + 48 * H + S, NAT, NAT, T0 + 10 * H, NAT, NAT],
                "touchpoint": ["shop"] * 7,
                "arm": ["outreach"] * 4 + [None] + ["outreach", "holdout"],
                "trigger": ["detractor", "detractor", "low_csat", "detractor", "manual", "manual",
                            "detractor"],
                "first_action_at": [T0 + 3 * H, T0 + 7 * H, T0 + H, NAT, NAT, NAT, NAT],
                "priority": [1] * 7,
                "escalation": [0] * 7,
            }
        ),
    )  # fmt: skip
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": [T0] * 5,
                "metric": ["nps", "nps", "csat", "nps", "nps"],
                "score": [6.0, 7.0, 1.0, 0.0, 2.0],
                "response_id": ["r1", "r2", "r3", "r4", "r7"],
                "customer_id": ["c_a1", "c_a2", "c_a3", "c_a4", "c_h1"],
                "scale": ["0-10", "0-10", "1-5", "0-10", "0-10"],
            }
        ),
    )
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c_a1", "c_h1", "other"],
                "ts": [T0 + 30 * 24 * H, T0 + 20 * 24 * H, pd.Timestamp("2024-12-31", tz="UTC")],
                "amount": [100.0, 80.0, 1.0],
            }
        ),
    )
    return ws


def test_sla_by_team_on_both_sides_of_each_boundary(ws):
    frame = sla_report(_build(ws), "team", now=NOW).frame
    # sorted by team, the cases without one last; the holdout case h1 is never counted
    assert list(frame["team"].iloc[:2]) == ["x", "y"] and pd.isna(frame["team"].iloc[2])
    x, y, none = (frame.iloc[i] for i in range(3))
    # x: a1 closed at its due time (within), a2 one second after (late)
    assert (x["cases"], x["closed"], x["active"]) == (2, 2, 0)
    assert (x["decided"], x["within_sla"], x["overdue"]) == (2, 1, 0)
    assert x["share_within_sla"] == 0.5
    assert (x["first_action_hours"], x["first_action_hours_median"]) == (5.0, 5.0)
    # a1 is a detractor (6) and bought on day 30; a2 scored 7: no detractor
    assert (x["detractors"], x["recovered"], x["recovery_rate"]) == (1, 1, 1.0)
    # y: a3 due exactly now (not decided, not overdue); a4 due a second before (both); a6 no due
    assert (y["cases"], y["closed"], y["active"]) == (3, 0, 3)
    assert (y["decided"], y["within_sla"], y["overdue"]) == (1, 0, 1)
    assert y["share_within_sla"] == 0.0
    assert (y["first_action_hours"], y["first_action_hours_median"]) == (1.0, 1.0)
    # a3's CSAT 1 is no NPS detractor; a4 (NPS 0) did nothing afterwards
    assert (y["detractors"], y["recovered"], y["recovery_rate"]) == (1, 0, 0.0)
    # no team: a5 (no arm recorded: counted) closed without a due time: decided, not within
    assert (none["cases"], none["closed"], none["decided"], none["within_sla"]) == (1, 1, 1, 0)
    assert none["share_within_sla"] == 0.0 and none["overdue"] == 0
    assert math.isnan(none["first_action_hours"]) and math.isnan(none["recovery_rate"])


def test_sla_of_all_cases_counts_every_outreach_case_once(ws):
    row = sla_report(_build(ws), None, now=NOW).frame.iloc[0]
    counts = ["cases", "closed", "active", "decided", "within_sla", "overdue"]
    assert [int(row[c]) for c in counts] == [6, 3, 3, 4, 1, 1]
    assert (row["detractors"], row["recovered"]) == (2, 1)
    assert row["share_within_sla"] == 0.25 and row["recovery_rate"] == 0.5
    # first actions after 3, 7 and 1 hours: mean 11/3, median 3
    assert row["first_action_hours"] == pytest.approx(11 / 3, rel=1e-12)
    assert row["first_action_hours_median"] == pytest.approx(3.0, rel=1e-12)


def test_one_second_later_the_case_due_now_is_overdue(ws):
    row = sla_report(_build(ws), ["team"], now=NOW + S).frame.iloc[1]
    assert row["team"] == "y" and (row["decided"], row["overdue"]) == (2, 2)


def test_grouped_by_two_columns(ws):
    frame = sla_report(_build(ws), ("touchpoint", "team"), now=NOW).frame
    assert list(frame.columns[:2]) == ["touchpoint", "team"]
    assert list(frame["cases"]) == [2, 3, 1]


def test_the_recovery_horizon_is_the_one_given(ws):
    # a1 bought on day 30: within 30 days (inclusive), not within 29
    row = sla_report(_build(ws), None, now=NOW, horizon_days=30).frame.iloc[0]
    assert (row["detractors"], row["recovered"]) == (2, 1)
    row = sla_report(ws, None, now=NOW, horizon_days=29).frame.iloc[0]
    assert (row["detractors"], row["recovered"]) == (2, 0)


# with no outreach case the engine's sums are nulls (of dtype object): zeros, with no warning
def test_only_held_out_cases_give_zero_counts_not_missing_ones(ws):
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ["h1"],
                "customer_id": ["c1"],
                "opened_at": [T0],
                "status": ["holdout"],
                "arm": ["holdout"],
                "due_at": [T0 + 48 * H],
            }
        ),
    )
    report = sla_report(ws, None, now=NOW)
    row = report.frame.iloc[0]
    counts = ["cases", "closed", "active", "decided", "within_sla", "overdue", "detractors"]
    assert [int(row[c]) for c in [*counts, "recovered"]] == [0] * 8
    assert math.isnan(row["share_within_sla"]) and math.isnan(row["recovery_rate"])
    assert report.now == NOW and report.by == ()


def test_only_a_closed_case_is_within_its_sla_whatever_its_closing_time_says(ws):
    # a case imported from another system as open again, with the closing time it had before
    # (rox's own reopen clears it): its status decides, so it is overdue, not within its SLA
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ["r1"],
                "customer_id": ["c1"],
                "opened_at": [T0],
                "status": ["open"],
                "arm": ["outreach"],
                "due_at": [T0 + 48 * H],
                "closed_at": [T0 + 10 * H],
            }
        ),
    )
    row = sla_report(ws, None, now=NOW).frame.iloc[0]
    assert (row["closed"], row["decided"], row["within_sla"], row["overdue"]) == (0, 1, 0, 1)
