"""The at-risk list's rules at their edges: the settings, the contact window, the reasons (#22).

The workspace and the hand-set CLVs are those of tests/actions/test_at_risk.py (conftest.py).
The rules, as documented in :mod:`rox.actions.at_risk`: settings are positive whole numbers
(1 allowed, 0 not); contacts count on the ``contact_days`` days ending with ``as_of`` (both ends
in); counts up to ten are written in words, above in digits; a friction reason names how many
journeys of how many when there were more than one; "no purchase for n days" only when n > 0.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pandas as pd
import pytest

import rox
from rox.actions.at_risk import _count, _reasons
from rox.errors import MetricError
from rox.value.rfm import RFM

CLV_VALUES = {"p1": 1000.0, "p2": 500.0, "p3": 400.0, "p4": 900.0, "p6": 300.0, "p7": 200.0}


def _row(**given):
    row = {
        "nps_group": "passive",
        "nps_latest": math.nan,
        "nps_latest_at": None,
        "nps_touchpoint": None,
        "csat_band": None,
        "csat_mean": math.nan,
        "ces_band": None,
        "ces_mean": math.nan,
        "friction": "no friction",
        "friction_points": 0,
        "journeys": 0,
        "p_alive_before": 0.9,
        "p_alive": 0.5,
        "days_since_purchase": 0,
        "support_contacts": 0,
        "complaints": 0,
    }
    return SimpleNamespace(**{**row, **given})


def test_counts_in_words_up_to_ten_then_in_digits():
    assert _count(0, "call", "calls") == "no calls"
    assert _count(1, "call", "calls") == "one call"
    assert _count(2, "call", "calls") == "two calls"
    assert _count(10, "call", "calls") == "ten calls"
    assert _count(11, "call", "calls") == "11 calls"
    assert _count(1234, "call", "calls") == "1,234 calls"


def test_only_the_fall_when_nothing_else_is_known():
    assert _reasons(_row(), 90, 30) == ["P(alive) fell from 0.90 to 0.50 in 90 days"]


def test_a_purchase_today_is_no_reason_one_day_ago_is():
    assert _reasons(_row(days_since_purchase=0), 90, 30)[-1].startswith("P(alive) fell")
    assert _reasons(_row(days_since_purchase=1), 90, 30)[-1].startswith("no purchase for 1 day")


def test_detractor_sentence_with_and_without_its_day_and_touchpoint():
    assert _reasons(_row(nps_group="detractor", nps_latest=3.0), 90, 30)[0] == "detractor (3)"
    full = _row(
        nps_group="detractor",
        nps_latest=6.0,
        nps_latest_at="2024-11-02 10:00",
        nps_touchpoint="home_delivery",
    )
    assert _reasons(full, 90, 30)[0] == "detractor (6) on 2024-11-02 after home delivery"
    assert _reasons(_row(nps_group="detractor", nps_latest=0.0, nps_touchpoint=""), 90, 30)[0] == (
        "detractor (0)"
    )


def test_csat_and_ces_sentences():
    row = _row(csat_band="not satisfied", csat_mean=2.4, ces_band="not easy", ces_mean=3.5)
    assert _reasons(row, 60, 30)[:2] == [
        "not satisfied at the last CSAT answer (mean 2.4 of 5)",
        "not easy at the last CES answer (mean 3.5 of 7)",
    ]
    assert _reasons(_row(csat_band="satisfied", ces_band="easy"), 60, 30) == [
        "P(alive) fell from 0.90 to 0.50 in 60 days"
    ]


def test_friction_of_one_journey_and_of_several():
    one = _row(friction="met friction", friction_points=1, journeys=1)
    assert _reasons(one, 90, 30)[0] == "their journey ended at a friction point"
    two = _row(friction="met friction", friction_points=1, journeys=2)
    assert _reasons(two, 90, 30)[0] == "one journey of 2 ended at a friction point"
    many = _row(friction="met friction", friction_points=3, journeys=12)
    assert _reasons(many, 90, 30)[0] == "three journeys of 12 ended at a friction point"


def test_contacts_sentences():
    row = _row(support_contacts=1, complaints=11)
    assert _reasons(row, 90, 14)[-2:] == ["one support call in 14 days", "11 complaints in 14 days"]


def test_settings_of_one_are_allowed_and_of_zero_refused(at_risk_ws, given_clv):
    value = given_clv(CLV_VALUES)
    one = rox.actions.at_risk(
        at_risk_ws, value=value, as_of="2024-12-31", top=1, lookback_days=1, contact_days=1
    )
    assert len(one.frame) == 1 and one.since == one.as_of - pd.Timedelta(days=1)
    with pytest.raises(MetricError, match="contact_days=0"):
        rox.actions.at_risk(at_risk_ws, value=value, contact_days=0)
    with pytest.raises(MetricError, match="lookback_days=-1"):
        rox.actions.at_risk(at_risk_ws, value=value, lookback_days=-1)


def test_the_contact_window_ends_on_as_of_inclusive(at_risk_ws, given_clv):
    value = given_clv(CLV_VALUES)
    # p6's complaint is on 12-31: counted when the list is read on 12-31, not on 12-30
    on = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", top=None)
    before = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-30", top=None)
    assert on.frame.set_index("customer_id").at["p6", "complaints"] == 1
    assert before.frame.set_index("customer_id").at["p6", "complaints"] == 0
    # one day of contacts on 12-20: p1's call that day only
    narrow = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-20", contact_days=1)
    assert narrow.frame.set_index("customer_id").at["p1", "support_contacts"] == 1
    assert narrow.contact_days == 1


def test_nobody_at_risk_is_an_empty_list_worth_nothing(at_risk_ws, given_clv):
    value = given_clv(CLV_VALUES)
    result = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", min_clv=10_000)
    assert result.frame.empty and result.customers_at_risk == 0
    assert result.total_value_at_risk == 0.0
    assert str(result).startswith(
        "0 customers at risk on 2024-12-31 (P(alive) fell since 2024-10-02)"
    )


def test_by_default_any_positive_value_at_risk_is_listed(at_risk_ws, given_clv):
    # p2's CLV set to 0.5: its value at risk is tiny but positive, and min_clv defaults to 0
    value = given_clv({**CLV_VALUES, "p2": 0.5})
    result = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31")
    assert result.frame["customer_id"].tolist() == ["p1", "p6", "p7", "p2"]


def test_by_default_the_list_holds_the_top_100(given_clv):
    # 101 customers who bought on 01-02 and 02-01 only: each one's P(alive) fell between 10-02
    # and 12-31 (the same history, so the same fall); CLVs 1..101 rank them by CLV. The default
    # list is the top 100 (c101 down to c2), the count all 101.
    ids = [f"c{i:03d}" for i in range(1, 102) for _ in range(2)]
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "ts": ["2024-01-02", "2024-02-01"] * 101,
            "amount": 10.0,
            "order_id": [f"o{i}" for i in range(len(ids))],
        }
    )
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("transactions", tx)
        value = given_clv({f"c{i:03d}": float(i) for i in range(1, 102)})
        result = rox.actions.at_risk(ws, value=value, as_of="2024-12-31")
    assert result.customers_at_risk == 101
    assert result.frame["customer_id"].tolist() == [f"c{i:03d}" for i in range(101, 1, -1)]


def test_the_day_defaults_to_the_clv_calibration_end_else_the_last_purchase(at_risk_ws, given_clv):
    plain = given_clv(CLV_VALUES)  # no summary: the last transaction's day, p3's on 12-15
    assert rox.actions.at_risk(at_risk_ws, value=plain).as_of == pd.Timestamp("2024-12-15")
    summary = RFM(frame=pd.DataFrame(), unit="weeks", calibration_end=pd.Timestamp("2024-12-20"))
    fitted = dataclasses.replace(plain, summary=summary)
    result = rox.actions.at_risk(at_risk_ws, value=fitted)
    assert result.as_of == pd.Timestamp("2024-12-20")
    assert result.since == pd.Timestamp("2024-09-21")


def test_a_first_purchase_after_tau_is_read_at_x_t_x_t_zero_under_pareto_nbd(at_risk_ws):
    # p6's first purchase (10-03) is after tau (10-02): its P(alive) before is read at the first
    # purchase, x = t_x = T = 0, which is 1 under Pareto/NBD too (at T = 1 day with x = 0 it is
    # below 1: (alpha / (alpha + T))^r (beta / (beta + T))^s ... < 1; FHL's CDNOW estimates)
    from rox.value import CLV
    from rox.value.models import ParetoNBDModel

    frame = pd.DataFrame({"customer_id": list(CLV_VALUES), "clv": list(CLV_VALUES.values())})
    frame["p_alive"] = float("nan")
    model = ParetoNBDModel.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
    value = CLV(frame=frame, purchase_model=model, horizon=52.0, unit="weeks")
    result = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", top=None)
    p6 = result.frame.set_index("customer_id").loc["p6"]
    assert p6["p_alive_before"] == 1.0
    assert p6["p_alive"] < 1.0


def test_the_churn_sentence_names_the_ratio_only_when_it_is_not_one():
    assert _reasons(_row(p_churn=0.1875, hazard_ratio=1.0), 90, 30, hazard=True) == [
        "P(churn within 90 days) 0.19"
    ]
    assert _reasons(_row(p_churn=0.1875, hazard_ratio=2.875), 60, 30, hazard=True) == [
        "P(churn within 60 days) 0.19 (churn hazard 2.88x a passive's)"
    ]
    assert _reasons(
        _row(p_churn=0.1875, hazard_ratio=0.5, days_since_purchase=12), 30, 30, hazard=True
    ) == [
        "P(churn within 30 days) 0.19 (churn hazard 0.50x a passive's)",
        "no purchase for 12 days",
    ]
