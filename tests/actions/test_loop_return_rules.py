"""The loop's return, its power statement and Welch's interval, worked out by hand (#22).

Nine cases opened 2024-01-01 08:00 unless said (data seen until 2024-12-31, horizon 180 days):

====  ======  ==========  ===========================  ===============  ==============
case  arm     trigger     bought (day: amount)         later NPS (day)  counted
====  ======  ==========  ===========================  ===============  ==============
o1    out.    detractor   10: 100                      9 (40)           yes
o2    out.    detractor   200: 50 (after 180 days)     7 (40)           yes
o3    out.    detractor   -                            -                yes
o4    out.    low_csat    -                            -                yes
o5    out.    detractor   opened 2024-11-01; 5: 70     -                no: not observed
q1    hold.   detractor   -                            5 (40)           yes
q2    hold.   detractor   -                            3 (40)           yes
q3    hold.   detractor   5: 30                        -                yes
n1    (null)  detractor   3: 20                        -                no: no arm
====  ======  ==========  ===========================  ===============  ==============

Retention (bought within 180 days): 1 of 4 against 1 of 3. Later NPS: 9, 7 against 5, 3 (means 8
and 4, sample variances 2 and 2: Welch's se = sqrt(2/2 + 2/2), df = 2^2 / (1 + 1) = 2). Revenue
to date: 100, 50, 0, 0 against 0, 0, 30.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

import rox
from rox.actions import cases_needed, loop_return
from rox.actions.loop_return import LoopReturn, _welch
from rox.errors import ActionError
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01 08:00", tz="UTC")
D = pd.Timedelta(days=1)


def _build(ws: rox.Workspace) -> rox.Workspace:
    ids = ["o1", "o2", "o3", "o4", "o5", "q1", "q2", "q3", "n1"]
    opened = [T0] * 4 + [pd.Timestamp("2024-11-01", tz="UTC")] + [T0] * 4
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ids,
                "customer_id": [f"c_{i}" for i in ids],
                "opened_at": opened,
                "status": ["closed"] * 5 + ["holdout"] * 3 + ["closed"],
                "arm": ["outreach"] * 5 + ["holdout"] * 3 + [None],
                "trigger": ["detractor"] * 3 + ["low_csat"] + ["detractor"] * 5,
            }
        ),
    )
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": [T0 + 40 * D] * 4,
                "metric": ["nps"] * 4,
                "score": [9.0, 7.0, 5.0, 3.0],
                "response_id": ["f1", "f2", "f3", "f4"],
                "customer_id": ["c_o1", "c_o2", "c_q1", "c_q2"],
                "scale": ["0-10"] * 4,
            }
        ),
    )
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c_o1", "c_o2", "c_o5", "c_q3", "c_n1", "other"],
                "ts": [
                    T0 + 10 * D,
                    T0 + 200 * D,
                    opened[4] + 5 * D,
                    T0 + 5 * D,
                    T0 + 3 * D,
                    pd.Timestamp("2024-12-31", tz="UTC"),
                ],
                "amount": [100.0, 50.0, 70.0, 30.0, 20.0, 1.0],
            }
        ),
    )
    return ws


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def _cases_needed(save_rate: float, baseline: float, h: float, level=0.95, power=0.8) -> int:
    """Per arm: (z_{1-a/2} + z_power)^2 2 p (1 - p) / d^2 at the baseline p (the planner's
    proportions formula), then N = n / 2 (1 / h + 1 / (1 - h))."""
    z = stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)
    per_arm = math.ceil(z**2 * 2 * baseline * (1 - baseline) / save_rate**2)
    return math.ceil(per_arm / 2 * (1 / h + 1 / (1 - h)))


def test_loop_return_counts_observed_cases_with_an_arm(ws):
    result = loop_return(_build(ws), value="revenue")
    row = result.frame.set_index("measure")
    assert (row.at["retention", "n_outreach"], row.at["retention", "n_holdout"]) == (4, 3)
    assert (row.at["retention", "outreach"], row.at["retention", "holdout"]) == (0.25, 1 / 3)
    assert result.save_rate == pytest.approx(1 / 4 - 1 / 3, abs=1e-15)
    assert row.at["retention", "difference"] == pytest.approx(1 / 4 - 1 / 3, abs=1e-15)
    z = stats.norm.ppf(0.975)
    (l1, u1), (l0, u0) = _wilson(1, 4, z), _wilson(1, 3, z)
    d = 1 / 4 - 1 / 3
    assert result.save_low == pytest.approx(d - math.hypot(1 / 4 - l1, u0 - 1 / 3), rel=1e-12)
    assert result.save_high == pytest.approx(d + math.hypot(u1 - 1 / 4, 1 / 3 - l0), rel=1e-12)
    assert result.holdout_share == pytest.approx(3 / 7, rel=1e-15)
    assert result.cases_needed == _cases_needed(0.05, 1 / 3, 3 / 7)


def test_later_nps_is_welch_on_the_answers(ws):
    row = loop_return(_build(ws), value="revenue").frame.set_index("measure").loc["later_nps"]
    assert (row["outreach"], row["holdout"], row["n_outreach"], row["n_holdout"]) == (8, 4, 2, 2)
    half = stats.t.ppf(0.975, 2) * math.sqrt(2)
    assert row["difference"] == 4
    assert (row["low"], row["high"]) == (pytest.approx(4 - half), pytest.approx(4 + half))


def test_recovered_value_is_the_mean_difference_times_the_outreach_cases(ws):
    result = loop_return(_build(ws), value="revenue", level=0.9)
    row = result.frame.set_index("measure").loc["value"]
    assert (row["outreach"], row["holdout"], row["difference"]) == (37.5, 10.0, 27.5)
    v1, v0 = pd.Series([100.0, 50, 0, 0]).var(), pd.Series([0.0, 0, 30]).var()
    a, b = v1 / 4, v0 / 3
    df = (a + b) ** 2 / (a**2 / 3 + b**2 / 2)
    half = stats.t.ppf(0.95, df) * math.sqrt(a + b)
    assert (row["low"], row["high"]) == (pytest.approx(27.5 - half), pytest.approx(27.5 + half))
    assert result.recovered_value == pytest.approx(27.5 * 4)
    assert result.recovered_low == pytest.approx((27.5 - half) * 4)
    assert result.recovered_high == pytest.approx((27.5 + half) * 4)
    assert result.level == 0.9 and result.value_basis
    z = stats.norm.ppf(0.95)
    (l1, u1), (l0, u0) = _wilson(1, 4, z), _wilson(1, 3, z)
    assert result.save_low == pytest.approx(-1 / 12 - math.hypot(1 / 4 - l1, u0 - 1 / 3))
    assert result.save_high == pytest.approx(-1 / 12 + math.hypot(u1 - 1 / 4, 1 / 3 - l0))


def test_one_trigger_and_a_shorter_horizon(ws):
    result = loop_return(_build(ws), value="revenue", trigger="detractor")
    assert result.frame.set_index("measure").at["retention", "n_outreach"] == 3
    assert result.save_rate == pytest.approx(1 / 3 - 1 / 3, abs=1e-15)
    # within 9 days o1 (day 10) has not bought yet, q3 (day 5) has; and o5's 9 days (from
    # 2024-11-01) have passed by 2024-12-31, so it counts, with its purchase on day 5
    result = loop_return(ws, value="revenue", horizon_days=9, target_save_rate=0.1)
    assert result.frame.set_index("measure").at["retention", "n_outreach"] == 5
    assert result.save_rate == pytest.approx(1 / 5 - 1 / 3, abs=1e-15)
    assert result.horizon_days == 9 and result.target_save_rate == 0.1
    assert result.cases_needed == _cases_needed(0.1, 1 / 3, 3 / 8)


def test_the_planning_baseline_is_kept_within_one_and_99_percent(ws):
    # within 4 days nobody held out bought again (q3 on day 5): the baseline 0 is planned as 1%
    # (o5, opened 2024-11-01, counts: 5 outreach cases against 3)
    result = loop_return(_build(ws), value="revenue", horizon_days=4)
    assert result.frame.set_index("measure").at["retention", "holdout"] == 0
    assert result.cases_needed == _cases_needed(0.05, 0.01, 3 / 8)
    # seen only until 2024-06-29 (less than 180 days after 2024-01-01): nothing is observed
    with pytest.raises(ActionError, match="both arms"):
        loop_return(ws, value="revenue", as_of="2024-06-29")


def test_every_held_out_customer_bought_again_plans_at_99_percent(ws):
    _build(ws)
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {"customer_id": ["c_q1", "c_q2"], "ts": [T0 + 2 * D] * 2, "amount": [1.0, 1.0]}
        ),
    )
    result = loop_return(ws, value="revenue")
    assert result.frame.set_index("measure").at["retention", "holdout"] == 1
    assert result.cases_needed == _cases_needed(0.05, 0.99, 3 / 7)


def test_welch_interval_needs_two_answers_in_each_arm():
    assert all(math.isnan(v) for v in _welch(1.0, 0.5, 1, 0.0, 0.5, 5, 0.95))
    assert all(math.isnan(v) for v in _welch(1.0, 0.5, 5, 0.0, 0.5, 1, 0.95))
    low, high = _welch(1.0, 0.5, 2, 0.0, 0.5, 2, 0.95)
    a = 0.5 / 2
    df = (2 * a) ** 2 / (a**2 / 1 + a**2 / 1)
    half = stats.t.ppf(0.975, df) * math.sqrt(2 * a)
    assert (low, high) == (pytest.approx(1 - half, rel=1e-12), pytest.approx(1 + half, rel=1e-12))
    # no spread at all: the difference itself, both ends
    assert _welch(3.0, 0.0, 4, 1.0, 0.0, 3, 0.95) == (2.0, 2.0)


def test_welch_interval_uneven_arms_by_hand():
    low, high = _welch(10.0, 4.0, 5, 7.0, 9.0, 10, 0.9)
    a, b = 4 / 5, 9 / 10
    df = (a + b) ** 2 / (a**2 / 4 + b**2 / 9)
    half = stats.t.ppf(0.95, df) * math.sqrt(a + b)
    assert (low, high) == (pytest.approx(3 - half, rel=1e-12), pytest.approx(3 + half, rel=1e-12))


def test_cases_needed_at_other_levels_and_shares():
    assert cases_needed(0.05, 0.2, 0.2, level=0.9, power=0.9) == _cases_needed(
        0.05, 0.2, 0.2, 0.9, 0.9
    )
    assert cases_needed(0.10, 0.30, 0.25) == _cases_needed(0.10, 0.30, 0.25)


def test_cases_needed_bounds_on_both_sides():
    # 1 / h + 1 / (1 - h): symmetric in h and 1 - h, least at equal arms
    assert (
        cases_needed(0.1, 0.3, 1e-3) == cases_needed(0.1, 0.3, 0.999) > cases_needed(0.1, 0.3, 0.5)
    )
    for share in (0.0, 1.0, -0.1, 1.1):
        with pytest.raises(ActionError, match="holdout share"):
            cases_needed(0.1, 0.3, share)
    for save_rate, baseline in ((0.0, 0.3), (1.0, 0.3), (0.1, 0.0), (0.1, 1.0)):
        with pytest.raises(ActionError, match="fractions in"):
            cases_needed(save_rate, baseline, 0.5)
    assert cases_needed(0.999, 0.001, 0.5) >= 2 and cases_needed(0.001, 0.999, 0.5) >= 2


def _said(save_low: float) -> str:
    frame = pd.DataFrame(
        {
            "measure": ["retention"],
            "outreach": [0.5],
            "holdout": [0.25],
            "n_outreach": [40],
            "n_holdout": [4],
        }
    )
    return str(LoopReturn(frame, save_rate=0.25, save_low=save_low, save_high=0.5))


def test_a_save_is_shown_only_when_the_interval_is_above_zero():
    assert "the outreach saves customers" in _said(0.001)
    assert "no save is shown (the interval includes zero)" in _said(0.0)
    assert "no save is shown" in _said(-0.1)
    assert "50.0% of 40 outreach cases against 25.0% of 4 held out" in _said(0.1)
