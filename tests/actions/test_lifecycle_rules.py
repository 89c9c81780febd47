"""The lifecycle rules' own edges and words, on both sides of each (#22).

Each threshold's documented range: ``0 < lapsed_below < at_risk_below <= 1`` and
``0 <= at_risk_after_days < lapsed_after_days``; numbers may be written as integers where a
fraction is expected, never as booleans. The log is the one of tests/actions/test_lifecycle.py
(tests/actions/conftest.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import rox
from rox.actions import LifecycleRules
from rox.actions.lifecycle import Lifecycle
from rox.errors import MetricError

RECENCY = {"signal": "recency", "at_risk_after_days": 100, "lapsed_after_days": 200}


def test_probability_thresholds_on_both_sides_of_each_edge():
    LifecycleRules(lapsed_below=1e-9, at_risk_below=0.5)  # just above 0: allowed
    for lapsed, at_risk in ((0.0, 0.5), (-0.1, 0.5), (0.5, 0.5), (0.6, 0.5)):
        with pytest.raises(MetricError, match="0 < lapsed_below < at_risk_below <= 1"):
            LifecycleRules(lapsed_below=lapsed, at_risk_below=at_risk)
    LifecycleRules(lapsed_below=0.4999, at_risk_below=0.5)


def test_day_thresholds_on_both_sides_of_each_edge():
    LifecycleRules(at_risk_after_days=199, lapsed_after_days=200)
    for at_risk, lapsed in ((200, 200), (201, 200), (-1, 200)):
        with pytest.raises(MetricError, match="0 <= at_risk_after_days < lapsed_after_days"):
            LifecycleRules(at_risk_after_days=at_risk, lapsed_after_days=lapsed)


def test_the_documented_defaults():
    rules = LifecycleRules()
    assert (rules.signal, rules.at_risk_below, rules.lapsed_below) == ("p_alive", 0.5, 0.2)
    assert (rules.at_risk_after_days, rules.lapsed_after_days) == (180, 365)


def test_settings_from_a_mapping_take_integers_for_fractions_but_no_booleans():
    assert LifecycleRules.from_mapping({"at_risk_below": 1, "lapsed_below": 0.5}).at_risk_below == 1
    for key, value in (("at_risk_below", True), ("lapsed_below", False), ("signal", 1)):
        with pytest.raises(MetricError, match=f"lifecycle setting {key} = "):
            LifecycleRules.from_mapping({key: value})
    with pytest.raises(MetricError, match=r"expected int$"):
        LifecycleRules.from_mapping({"lapsed_after_days": 200.0})
    with pytest.raises(MetricError, match="expected int or float"):
        LifecycleRules.from_mapping({"at_risk_below": "half"})
    assert LifecycleRules.from_mapping({}) == LifecycleRules()


def test_the_rules_in_words():
    assert LifecycleRules().describe() == (
        "P(alive) at the period's end: active from 0.5, at risk from 0.2, lapsed below"
    )
    assert LifecycleRules(**RECENCY).describe() == (  # type: ignore[arg-type]
        "days since the last purchase at the period's end: active up to 100, at risk up to "
        "200, lapsed beyond"
    )


def test_the_summary_says_the_rules_and_the_note(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    text = str(result)
    assert text.startswith("Lifecycle by quarter (days since the last purchase")
    assert "note:" not in text and result.note == ""
    noted = Lifecycle(frame=result.frame, rules=result.rules, period="quarter", note="why")
    assert str(noted).splitlines()[1] == "note: why"


def test_a_running_quarter_is_read_on_the_data_s_last_day_and_the_others_on_theirs(
    lifecycle_ws, given_clv
):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(
        lifecycle_ws, "quarter", rules=RECENCY, value=value, as_of="2024-11-15"
    )
    ends = result.frame.drop_duplicates("period")[["period", "period_start", "period_end"]]
    assert [str(d) for d in ends["period_end"]] == [
        "2024-03-31",
        "2024-06-30",
        "2024-09-30",
        "2024-11-15",
    ]
    assert [str(d) for d in ends["period_start"]] == [
        "2024-01-01",
        "2024-04-01",
        "2024-07-01",
        "2024-10-01",
    ]
    # g bought on 10-01 after being lapsed: reactivated in the running quarter as well
    t = result.table.execute()
    g = t[t["customer_id"] == "g"].sort_values("period_start")
    assert g["phase"].tolist() == ["new", "at risk", "lapsed", "reactivated"]
    assert g["from_phase"].tolist() == ["not yet a customer", "new", "at risk", "lapsed"]
    # days since the last purchase, to each quarter's end (g: 03-13 then 10-01)
    assert g["days_since_purchase"].tolist() == [18, 109, 201, 45]
    assert g["spend"].tolist() == [10.0, 0.0, 0.0, 25.0]


def test_months_are_labelled_by_year_and_month(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(
        lifecycle_ws, "month", rules=RECENCY, value=value, as_of="2024-03-20"
    )
    frame = result.frame.drop_duplicates("period")
    assert frame["period"].tolist() == ["2024-01", "2024-02", "2024-03"]
    assert [str(d) for d in frame["period_end"]] == ["2024-01-31", "2024-02-29", "2024-03-20"]
    # by 03-20: h (01-01) and m (01-05) new in January; f and g (03-13, 03-14) new in March
    counts = result.counts()
    assert counts.loc["2024-01", "new"] == 2 and counts.loc["2024-03", "new"] == 2
    assert counts.loc["2024-02"].sum() == 2  # h and m, in no new phase


def test_no_lapsed_customers_give_no_reactivation_rate():
    frame = pd.DataFrame({"period": ["a", "b"], "phase": ["new", "new"], "customers": [1, 1]})
    reactivation = pd.DataFrame(
        {"period": ["b"], "lapsed_before": [0], "reactivated": [0], "rate": [math.nan]}
    )
    rate, low, high = Lifecycle(frame=frame, reactivation=reactivation).reactivation_rate()
    assert math.isnan(rate) and math.isnan(low) and math.isnan(high)


def test_a_transaction_log_without_purchases_up_to_as_of_is_refused(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    with pytest.raises(MetricError, match="no transactions up to 2023-12-31"):
        rox.actions.lifecycle(lifecycle_ws, rules=RECENCY, value=value, as_of="2023-12-31")


def test_a_move_made_by_one_customer_alone_is_a_share_of_one(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    q4 = result.matrix("2024Q4", share=True)
    # into Q4: h alone was active (and stays so), k alone arrives; g alone of two lapsed returns
    assert q4.loc["active", "active"] == 1.0 and q4.loc["active"].sum() == 1.0
    assert q4.loc["not yet a customer", "new"] == 1.0
    assert q4.loc["lapsed", "reactivated"] == 0.5 and q4.loc["lapsed", "lapsed"] == 0.5
    assert q4.loc["new"].isna().all()  # nobody was new in Q3


def test_counts_give_zero_for_a_phase_without_rows():
    frame = pd.DataFrame(
        {"period": ["2024Q1", "2024Q2"], "phase": ["new", "active"], "customers": [3, 2]}
    )
    counts = Lifecycle(frame=frame).counts()
    assert counts.loc["2024Q1"].tolist() == [3, 0, 0, 0, 0]
    assert counts.loc["2024Q2"].tolist() == [0, 0, 2, 0, 0]


def test_moves_are_listed_by_period_then_phases_in_display_order(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    moves = result.migrations
    assert list(moves.columns) == ["period", "from_phase", "to_phase", "customers"]
    assert moves.index.tolist() == list(range(len(moves)))
    before = "not yet a customer"
    # the moves of tests/actions/test_lifecycle.py's table, phases in the order of PHASES
    assert list(moves.itertuples(index=False, name=None)) == [
        ("2024Q1", before, "new", 7),
        ("2024Q2", before, "new", 1),  # b
        ("2024Q2", "new", "active", 2),  # a d
        ("2024Q2", "new", "at risk", 5),  # e f g h m
        ("2024Q3", "new", "at risk", 1),  # b
        ("2024Q3", "active", "at risk", 2),  # a d
        ("2024Q3", "at risk", "active", 1),  # h bought
        ("2024Q3", "at risk", "at risk", 2),  # e f
        ("2024Q3", "at risk", "lapsed", 2),  # g m
        ("2024Q4", before, "new", 1),  # k
        ("2024Q4", "active", "active", 1),  # h
        ("2024Q4", "at risk", "lapsed", 5),  # a b d e f
        ("2024Q4", "lapsed", "reactivated", 1),  # g
        ("2024Q4", "lapsed", "lapsed", 1),  # m
    ]


def _model_p_alive(x: int, tx_days: int, t_days: int) -> float:
    """P(alive) as the fitted model itself gives it (times in weeks, as the CLV's unit)."""
    from rox.value.models import BetaGeoModel

    # the CDNOW estimates of tests/actions/conftest.py (Fader, Hardie & Lee 2005, table 1)
    model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    days = np.array([tx_days, t_days], dtype="float64") / 7
    return float(model.p_alive(np.array([float(x)]), days[:1], days[1:])[0])


def test_a_p_alive_equal_to_a_threshold_is_on_its_upper_side(lifecycle_ws, given_clv):
    # m: x = 2, t_x = 36 days; T = 269 days at Q3's end, 361 at Q4's. A P(alive) exactly at
    # at_risk_below is active, exactly at lapsed_below at risk (the thresholds are ">=").
    p3, p4 = _model_p_alive(2, 36, 269), _model_p_alive(2, 36, 361)
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    rules = {"at_risk_below": p3, "lapsed_below": p4}
    t = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=rules, value=value).table.execute()
    m = t[t["customer_id"] == "m"].sort_values("period_start")
    assert m["p_alive"].iloc[2:].tolist() == [p3, p4]  # the very numbers compared
    assert m["phase"].tolist() == ["new", "active", "active", "at risk"]


def test_a_customer_lapsed_by_p_alive_who_buys_again_is_reactivated(
    lifecycle_ws, given_clv, p_alive_by_hand
):
    # z: 01-01 and 01-10 (x = 1, t_x = 9 days), then 12-01. P(alive) at Q2's end (T = 181) and
    # Q3's (T = 273) below 0.3: lapsed; buying in Q4 after that: reactivated
    assert p_alive_by_hand(1, 9, 181) < 0.3 and p_alive_by_hand(1, 9, 273) < 0.3
    lifecycle_ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["z", "z", "z"],
                "ts": ["2024-01-01", "2024-01-10", "2024-12-01"],
                "amount": [5.0, 5.0, 5.0],
                "order_id": ["z1", "z2", "z3"],
            }
        ),
    )
    value = given_clv(dict.fromkeys("abdefghkmz", 1.0))
    rules = {"at_risk_below": 0.5, "lapsed_below": 0.3}
    t = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=rules, value=value).table.execute()
    z = t[t["customer_id"] == "z"].sort_values("period_start")
    assert z["phase"].tolist() == ["new", "lapsed", "lapsed", "reactivated"]


def test_a_period_of_one_customer_gives_shares_of_one_and_zero(lifecycle_ws, given_clv):
    # by 2024-01-04 only h has bought (01-01): Q1 holds one new customer
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(
        lifecycle_ws, "quarter", rules=RECENCY, value=value, as_of="2024-01-04"
    )
    f = result.frame.set_index("phase")
    assert f.loc["new", "customers"] == 1 and f.loc["new", "share"] == 1.0
    assert f.loc["new", "spend"] == 10.0
    others = f.drop(index="new")
    assert (others["customers"] == 0).all() and (others["share"] == 0.0).all()
    assert (others["spend"] == 0.0).all() and (others["clv"] == 0.0).all()
    assert others["clv_mean"].isna().all() and f.loc["new", "clv_mean"] == 1.0


def test_the_frame_has_its_documented_columns(lifecycle_ws, given_clv):
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    assert list(result.frame.columns) == [
        "period",
        "period_start",
        "period_end",
        "phase",
        "customers",
        "share",
        "spend",
        "clv",
        "clv_mean",
    ]
    assert result.frame.index.tolist() == list(range(4 * 5))


def test_reactivation_counts_only_the_lapsed_who_come_back(lifecycle_ws, given_clv):
    # y buys once on 01-02: 180 days at Q2's end (at risk), 272 at Q3's (lapsed), lapsed in Q4.
    # Into Q4, three were lapsed (g, m, y) and one of them (g) came back: 1 of 3.
    lifecycle_ws.ingest(
        "transactions",
        pd.DataFrame(
            {"customer_id": ["y"], "ts": ["2024-01-02"], "amount": [5.0], "order_id": ["y1"]}
        ),
    )
    value = given_clv(dict.fromkeys("abdefghkmy", 1.0))
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    r = result.reactivation
    assert list(r.columns) == [
        "period",
        "lapsed_before",
        "reactivated",
        "rate",
        "rate_low",
        "rate_high",
    ]
    assert r.index.tolist() == [0, 1, 2]
    assert r["period"].tolist() == ["2024Q2", "2024Q3", "2024Q4"]  # every period but the first
    assert r["lapsed_before"].tolist() == [0, 0, 3]
    assert r["reactivated"].tolist() == [0, 0, 1]
    assert r["rate"].iloc[2] == pytest.approx(1 / 3, rel=1e-15)


def test_one_lapsed_customer_who_stays_lapsed_is_a_rate_of_zero(lifecycle_ws, given_clv):
    # lapsed after 210 days: at Q3's end only m (233 days) is lapsed, g (201) at risk; into Q4
    # m stays lapsed: 0 of 1
    value = given_clv(dict.fromkeys("abdefghkm", 1.0))
    rules = {**RECENCY, "lapsed_after_days": 210}
    r = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=rules, value=value).reactivation
    q4 = r.set_index("period").loc["2024Q4"]
    assert (q4["lapsed_before"], q4["reactivated"], q4["rate"]) == (1, 0, 0.0)
