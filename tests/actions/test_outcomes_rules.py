"""The cases' outcomes on both sides of each boundary, by hand (#22).

The rules (:mod:`rox.actions.outcomes`), for a case opened at ``t`` with a horizon of ``h`` days:

- a purchase counts when it is in ``(t, t + h]``: one at ``t`` does not, one a second later does;
  one at ``t + h`` does, one a second later does not; another customer's never;
- a later answer is in ``(t, t + h]`` too and is not the trigger itself; ``later_nps`` is the
  first later NPS answer, ``later_score`` the first later answer on the trigger's metric;
- ``scored_higher`` is ``later_score > trigger_score``: an equal score is not higher, no later
  answer is false; ``recovered`` is ``bought_again`` or ``scored_higher``;
- a case is ``observed`` once ``t + h <= as_of``: at ``as_of = t + h`` it is, a second before not;
- ``data_end`` is the latest transaction or response time, in UTC.

Horizon 10 days; every case opened at T = 2024-03-01 12:00:

====  ========  ========  =================================================  =====================
case  customer  trigger   purchases                                          later answers
====  ========  ========  =================================================  =====================
e1    u1        CSAT 2    at T (not after)                                   NPS 9 at T (not
                                                                             after), CSAT 2 at +1 d
e2    u2        CSAT 2    at T + 1 s                                         NPS 3 at +1 d, NPS 9 at
                                                                             +2 d, CSAT 4 at +3 d
e3    u3        NPS 5     at T + 10 d                                        NPS 8 at T + 10 d 1 s
e4    u4        NPS 5     at T + 10 d 1 s                                    NPS 6 at T + 10 d
e5    u5        NPS 5     (u1's purchases only)                              the trigger, again
                          (the trigger answered after the opening, at +1 h)  at +1 h: not later
====  ========  ========  =================================================  =====================
"""

from __future__ import annotations

import pandas as pd
import pytest

import rox
from rox.actions.outcomes import case_outcomes, data_end
from rox.testing import insert_rows

T = pd.Timestamp("2024-03-01 12:00", tz="UTC")
D = pd.Timedelta(days=1)
S = pd.Timedelta(seconds=1)
H = pd.Timedelta(hours=1)
IDS = ["e1", "e2", "e3", "e4", "e5"]


def _build(ws: rox.Workspace) -> rox.Workspace:
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": IDS,
                "customer_id": ["u1", "u2", "u3", "u4", "u5"],
                "opened_at": [T] * 5,
                "status": ["open"] * 5,
                "response_id": ["t1", "t2", "t3", "t4", "t5"],
            }
        ),
    )
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["u1", "u2", "u3", "u4"],
                "ts": [T, T + S, T + 10 * D, T + 10 * D + S],
                "amount": [10.0, 20.0, 30.0, 40.0],
            }
        ),
    )
    rows = [  # (response, customer, time, metric, score)
        ("t1", "u1", T, "csat", 2.0),
        ("t2", "u2", T, "csat", 2.0),
        ("t3", "u3", T, "nps", 5.0),
        ("t4", "u4", T, "nps", 5.0),
        ("t5", "u5", T + H, "nps", 5.0),
        ("l0", "u1", T, "nps", 9.0),  # at the opening: not after it
        ("l1", "u1", T + D, "csat", 2.0),
        ("l2a", "u2", T + D, "nps", 3.0),
        ("l2b", "u2", T + 2 * D, "nps", 9.0),
        ("l2c", "u2", T + 3 * D, "csat", 4.0),
        ("l3", "u3", T + 10 * D + S, "nps", 8.0),
        ("l4", "u4", T + 10 * D, "nps", 6.0),
    ]
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": [r[0] for r in rows],
                "customer_id": [r[1] for r in rows],
                "ts": [r[2] for r in rows],
                "metric": [r[3] for r in rows],
                "score": [r[4] for r in rows],
                "scale": ["1-5" if r[3] == "csat" else "0-10" for r in rows],
            }
        ),
    )
    return ws


def _outcomes(ws: rox.Workspace, as_of: pd.Timestamp = T + 30 * D) -> pd.DataFrame:
    frame = case_outcomes(ws, horizon_days=10, as_of=as_of).execute()
    return frame.set_index("case_id").loc[IDS]


def _na(v: object) -> object:
    return None if pd.isna(v) else v


def test_a_purchase_counts_after_the_opening_up_to_the_horizon_inclusive(ws):
    o = _outcomes(_build(ws))
    assert o["bought_again"].tolist() == [False, True, True, False, False]


def test_the_first_later_answers_other_than_the_trigger_within_the_horizon(ws):
    o = _outcomes(_build(ws))
    assert o["trigger_metric"].tolist() == ["csat", "csat", "nps", "nps", "nps"]
    assert o["trigger_score"].tolist() == [2.0, 2.0, 5.0, 5.0, 5.0]
    # e1: its NPS 9 at the opening is not later; e2: the first NPS (3 at +1 d, not 9 at +2 d);
    # e3: 8 is one second past the horizon;
    # e4: 6 exactly at the horizon counts; e5: its only answer is the trigger itself
    assert [_na(v) for v in o["later_nps"]] == [None, 3.0, None, 6.0, None]
    assert [_na(v) for v in o["later_score"]] == [2.0, 4.0, None, 6.0, None]


def test_scored_higher_is_strictly_higher_and_recovered_is_either(ws):
    o = _outcomes(_build(ws))
    # e1: 2 -> 2 is not higher; e2: 2 -> 4 is; e4: 5 -> 6 is; e3, e5: no later answer
    assert o["scored_higher"].tolist() == [False, True, False, True, False]
    assert o["recovered"].tolist() == [False, True, True, True, False]


def test_a_case_is_observed_once_its_horizon_has_passed(ws):
    _build(ws)
    assert _outcomes(ws, as_of=T + 10 * D)["observed"].tolist() == [True] * 5
    assert _outcomes(ws, as_of=T + 10 * D - S)["observed"].tolist() == [False] * 5


def test_the_outcomes_keep_the_case_columns_and_add_theirs(ws):
    frame = case_outcomes(_build(ws), horizon_days=10, as_of=T).execute()
    assert list(frame.columns)[-8:] == [
        "trigger_metric",
        "trigger_score",
        "bought_again",
        "later_nps",
        "later_score",
        "scored_higher",
        "recovered",
        "observed",
    ]
    assert not any(c.startswith("_") for c in frame.columns)
    assert sorted(frame["case_id"]) == IDS


def test_the_data_end_is_the_latest_transaction_or_response_in_utc(ws):
    _build(ws)
    assert data_end(ws) == T + 10 * D + S  # u4's purchase and u3's answer, both at +10 d 1 s
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": ["z"],
                "customer_id": ["u9"],
                "ts": [T + 20 * D],
                "metric": ["nps"],
                "score": [1.0],
                "scale": ["0-10"],
            }
        ),
    )
    end = data_end(ws)
    assert end == T + 20 * D and str(end.tz) == "UTC"


def test_the_data_end_of_a_workspace_without_data_is_now(ws):
    before = pd.Timestamp.now(tz="UTC")
    end = data_end(ws)
    assert before <= end <= pd.Timestamp.now(tz="UTC")


def test_the_default_as_of_is_the_data_end(ws):
    _build(ws)  # data end T + 10 d 1 s: every case's horizon has passed
    frame = case_outcomes(ws, horizon_days=10).execute()
    assert frame["observed"].all()
    assert not case_outcomes(ws, horizon_days=10 + 2 / 86_400).execute()["observed"].any()


@pytest.mark.parametrize("days", [10.5, 1 / 24])
def test_a_fractional_horizon_is_counted_in_seconds(ws, days):
    _build(ws)
    o = case_outcomes(ws, horizon_days=days, as_of=T + 30 * D).execute().set_index("case_id")
    # within 1 hour only e2's purchase (T + 1 s); within 10.5 days e2, e3 and e4's
    expected = {"e2"} if days < 1 else {"e2", "e3", "e4"}
    assert set(o.index[o["bought_again"]]) == expected
