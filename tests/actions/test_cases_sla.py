"""Service levels and the loop's return, worked out by hand on a few cases (#17).

Five outreach cases and three held out, all opened at 08:00 with a 48 h SLA (due +2 days):

====  ======  =====  ===========  ==========  =====================  ====================
case  owner   tp     first action closed      trigger (NPS score)    afterwards
====  ======  =====  ===========  ==========  =====================  ====================
k1    ana     shop   +2 h         +10 h       r1 (3)                 buys on day 30
k2    ana     shop   +6 h         +60 h       r2 (5)                 NPS 9 on day 40
k3    ben     app    +4 h         (active)    r3 (6)                 NPS 4 on day 20
k4    ben     app    (none)       (active)    low CSAT (1)           nothing
k5    ben     shop   +1 h         +47 h       r5 (6)                 buys on day 200
h1    -       shop   -            -           r6 (4)                 buys on day 10
h2    -       app    -            -           r7 (2)                 nothing
h3    -       app    -            -           r8 (6)                 nothing
====  ======  =====  ===========  ==========  =====================  ====================

Opened 2024-01-01 (k1-k3, h1-h3) and 2024-06-01 (k4, k5); judged at 2024-06-05 12:00, outcomes
seen until 2024-12-31.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

import rox
from rox.actions import cases_needed, loop_return, sla_report
from rox.actions.sla import SlaReport
from rox.errors import ActionError
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01 08:00", tz="UTC")
T1 = pd.Timestamp("2024-06-01 08:00", tz="UTC")
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
NOW = "2024-06-05 12:00"


def _build(ws: rox.Workspace) -> rox.Workspace:
    ids = ["k1", "k2", "k3", "k4", "k5", "h1", "h2", "h3"]
    opened = [T0, T0, T0, T1, T1, T0, T0, T0]
    first = [T0 + 2 * H, T0 + 6 * H, T0 + 4 * H, None, T1 + H, None, None, None]
    closed = [T0 + 10 * H, T0 + 60 * H, None, None, T1 + 47 * H, None, None, None]
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ids,
                "customer_id": [f"c_{i}" for i in ids],
                "opened_at": opened,
                "status": ["closed", "closed", "in_progress", "open", "closed"] + ["holdout"] * 3,
                "response_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"],
                "owner": ["ana", "ana", "ben", "ben", "ben", None, None, None],
                "due_at": [o + 2 * D for o in opened],
                "closed_at": closed,
                "resolution": ["resolved", "resolved", None, None, "declined", None, None, None],
                "touchpoint": ["shop", "shop", "app", "app", "shop", "shop", "app", "app"],
                "arm": ["outreach"] * 5 + ["holdout"] * 3,
                "trigger": ["detractor"] * 3 + ["low_csat"] + ["detractor"] * 4,
                "first_action_at": first,
                "priority": [1] * 8,
                "escalation": [0] * 8,
            }
        ),
    )
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": [*opened, T0 + 40 * D, T0 + 20 * D],
                "metric": ["nps", "nps", "nps", "csat", "nps", "nps", "nps", "nps", "nps", "nps"],
                "score": [3.0, 5.0, 6.0, 1.0, 6.0, 4.0, 2.0, 6.0, 9.0, 4.0],
                "response_id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "f2", "f3"],
                "customer_id": [f"c_{i}" for i in ids] + ["c_k2", "c_k3"],
                "scale": ["0-10", "0-10", "0-10", "1-5"] + ["0-10"] * 6,
            }
        ),
    )
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c_k1", "c_k5", "c_h1", "c_k1", "c_h2"],
                "ts": [T0 + 30 * D, T1 + 200 * D, T0 + 10 * D, T0 - 10 * D, T0 - 5 * D],
                "amount": [100.0, 50.0, 80.0, 400.0, 40.0],
            }
        ),
    )
    # the last day outcomes were seen
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame({"customer_id": ["other"], "ts": [pd.Timestamp("2024-12-31", tz="UTC")],
                      "amount": [1.0]}),
    )  # fmt: skip
    return ws


def test_sla_by_owner_by_hand(ws):
    frame = sla_report(_build(ws), "owner", now=NOW).frame.set_index("owner")
    ana, ben = frame.loc["ana"], frame.loc["ben"]
    assert (ana["cases"], ana["closed"], ana["active"]) == (2, 2, 0)
    assert (ben["cases"], ben["closed"], ben["active"]) == (3, 1, 2)
    assert ana["first_action_hours"] == pytest.approx((2 + 6) / 2)
    assert ana["first_action_hours_median"] == pytest.approx(4.0)
    assert ben["first_action_hours"] == pytest.approx((4 + 1) / 2)  # k4 has no first action
    # ana: k1 closed in 10 h (within), k2 in 60 h (late): 1 of 2
    assert (ana["decided"], ana["within_sla"]) == (2, 1)
    assert ana["share_within_sla"] == pytest.approx(0.5)
    # ben at 06-05 12:00: k3 active and overdue since 01-03 (decided, not within); k4 opened
    # 06-01 08:00, due 06-03 08:00: overdue; k5 closed in 47 h: within. 1 of 3
    assert (ben["decided"], ben["within_sla"], ben["overdue"]) == (3, 1, 2)
    # recovery: NPS detractor cases whose 180 days have passed by 2024-12-31: k1 (bought on day
    # 30), k2 (9 > 5 on day 40), k3 (4 < 6: no), k5 (bought on day 200: after its 180 days)
    assert (ana["detractors"], ana["recovered"], ana["recovery_rate"]) == (2, 2, 1.0)
    assert (ben["detractors"], ben["recovered"], ben["recovery_rate"]) == (2, 0, 0.0)


def test_sla_in_words():
    """The summary line in words: a share of the decided cases, singular and plural, none yet."""

    def said(cases: int, decided: int, within: int, overdue: int) -> str:
        frame = pd.DataFrame(
            {"cases": [cases], "decided": [decided], "within_sla": [within], "overdue": [overdue]}
        )
        return str(SlaReport(frame, None, None))

    assert (
        said(5, 5, 2, 2) == "5 cases: 40% of the 5 decided closed within their SLA; 2 are overdue"
    )
    assert said(1, 1, 0, 1) == "1 case: 0% of the 1 decided closed within their SLA; 1 is overdue"
    assert said(2, 0, 0, 0) == "2 cases: none closed or past its due time yet; 0 are overdue"


def test_sla_before_a_case_is_due_counts_it_nowhere(ws):
    frame = sla_report(_build(ws), None, now="2024-06-02 12:00").frame.iloc[0]
    # k4 (due 06-03 08:00) is neither decided nor overdue; k3 is overdue
    assert (frame["decided"], frame["overdue"]) == (4, 1)


def test_sla_by_touchpoint_and_bad_grouping(ws):
    frame = sla_report(_build(ws), "touchpoint", now=NOW).frame.set_index("touchpoint")
    assert frame.loc["shop", "cases"] == 3 and frame.loc["app", "cases"] == 2
    with pytest.raises(ActionError, match="cannot group cases by"):
        sla_report(ws, "colour")


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_loop_return_by_hand(ws):
    result = loop_return(_build(ws), value="revenue")
    row = result.frame.set_index("measure")
    # observed (opened at least 180 days before 2024-12-31): all five against h1-h3
    # bought again within 180 days: k1 (1 of 5) against h1 (1 of 3)
    assert (row.at["retention", "n_outreach"], row.at["retention", "n_holdout"]) == (5, 3)
    assert result.save_rate == pytest.approx(1 / 5 - 1 / 3)
    z = stats.norm.ppf(0.975)
    l1, u1 = _wilson(1, 5, z)
    l0, u0 = _wilson(1, 3, z)
    d = 1 / 5 - 1 / 3
    assert result.save_low == pytest.approx(d - math.sqrt((1 / 5 - l1) ** 2 + (u0 - 1 / 3) ** 2))
    assert result.save_high == pytest.approx(d + math.sqrt((u1 - 1 / 5) ** 2 + (1 / 3 - l0) ** 2))
    # later NPS: k2 9, k3 4 (outreach); none held out
    assert row.at["later_nps", "outreach"] == pytest.approx(6.5)
    assert row.at["later_nps", "n_holdout"] == 0
    # revenue to date: k1 500, k5 50, the others 0, against h1 80, h2 40, h3 0
    assert row.at["value", "outreach"] == pytest.approx(550 / 5)
    assert row.at["value", "holdout"] == pytest.approx(40.0)
    assert result.recovered_value == pytest.approx((110 - 40) * 5)
    v1, v0 = pd.Series([500.0, 0, 0, 0, 50]).var(), pd.Series([80.0, 40, 0]).var()
    se = math.sqrt(v1 / 5 + v0 / 3)
    df = (v1 / 5 + v0 / 3) ** 2 / ((v1 / 5) ** 2 / 4 + (v0 / 3) ** 2 / 2)
    half = stats.t.ppf(0.975, df) * se
    assert row.at["value", "low"] == pytest.approx(110 - 40 - half)
    assert result.recovered_low == pytest.approx((110 - 40 - half) * 5)


def test_loop_return_needs_both_arms(ws):
    _build(ws)
    with pytest.raises(ActionError, match="both arms"):
        loop_return(ws, value="revenue", trigger="low_csat")


def test_cases_needed_by_hand():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    per_arm = math.ceil(z**2 * 2 * 0.3 * 0.7 / 0.1**2)  # 330: two proportions at p = 0.3
    assert cases_needed(0.10, 0.30, 0.5) == 2 * per_arm
    # a 10% holdout needs (1/0.1 + 1/0.9) / 4 = 2.78 times the equal-arm total
    assert cases_needed(0.10, 0.30, 0.1) == math.ceil(per_arm / 2 * (10 + 1 / 0.9))
    with pytest.raises(ActionError, match="holdout share"):
        cases_needed(0.1, 0.3, 0.0)
