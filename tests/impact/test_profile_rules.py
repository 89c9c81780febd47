"""The experience profile's rules, each stated and checked by hand (#22: mutation testing).

On the hand-built workspace (tests/impact/conftest.py): a count is 0, not missing, for a customer
without any of what it counts (answers, support contacts, complaints, purchases); a profile of
some columns builds only what they need (no lifetime-value fit, so no value basis nor note, and
no journeys, so no goal); ``as_of`` is a day in UTC (a naive one read as UTC, an aware one
converted), and a text that is no date is named; an answer takes the cut-offs of its own metric
and scale label (two metrics may share a label), and each metric's column only its answers;
the goal given is the one a journey must reach; a fitted CLV is used only when every customer's
value is finite (else revenue to date, with the reason).
"""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.value import CLV


@pytest.fixture
def whole(small, hand_clv):
    return rox.impact.profile(small, value=hand_clv, goal="purchase")


def test_counts_are_zero_for_customers_without_any(whole):
    f = whole.to_frame().set_index("customer_id")
    # answers (any metric): c1 two NPS, a CSAT and a CES; c8 one; c6 and c7 none
    assert f["responses"].to_dict() == {
        "c1": 4, "c2": 3, "c3": 2, "c4": 1, "c5": 1, "c6": 0, "c7": 0, "c8": 1
    }  # fmt: skip
    # events: c1 two support calls and a complaint; c2 and c4 other steps; the rest none
    assert f["support_contacts"].to_dict() == {f"c{i}": 2 if i == 1 else 0 for i in range(1, 9)}
    assert f["complaints"].to_dict() == {f"c{i}": 1 if i == 1 else 0 for i in range(1, 9)}
    assert f["purchases"].to_dict() == {
        "c1": 2, "c2": 1, "c3": 1, "c4": 2, "c5": 1, "c6": 1, "c7": 1, "c8": 0
    }  # fmt: skip


def test_a_profile_of_some_columns_builds_only_what_they_need(small):
    # the default value is a fitted CLV, which cannot be fitted here (basis: revenue, with a
    # note); asked for the NPS group alone, nothing is fitted and no journey is read
    part = rox.impact.profile(small, columns=["nps_group"])
    assert (part.value_basis, part.value_note, part.goal) == ("", "", None)
    assert list(part.to_frame().columns) == ["customer_id", "nps_group"]
    whole = rox.impact.profile(small)
    assert whole.value_basis == "revenue to date" and "could not be fitted" in whole.value_note
    assert whole.goal is not None
    # one column given as a text is that column
    one = rox.impact.profile(small, value="revenue", columns="clv").to_frame()
    assert list(one.columns) == ["customer_id", "clv"]


def test_as_of_is_a_day_in_utc(small):
    # c1's latest answer is on 2024-03-01; to 2025-01-01 is 306 days (2024 a leap year)
    def days(as_of):
        p = rox.impact.profile(small, value="revenue", as_of=as_of, columns=["days_since_response"])
        return p.as_of, p.to_frame().set_index("customer_id").loc["c1", "days_since_response"]

    assert days("2025-01-01") == (pd.Timestamp("2025-01-01", tz="UTC"), 306)
    # 05:00 in Tokyo is 20:00 the day before in UTC
    assert days("2025-01-01 05:00+09:00") == (pd.Timestamp("2024-12-31 20:00", tz="UTC"), 305)
    with pytest.raises(MetricError, match="as_of='soon' is not a date"):
        rox.impact.profile(small, as_of="soon")


def test_a_scale_is_matched_by_metric_and_label_together(ws):
    # an NPS answer on the default 0-10 and a CSAT answer on a declared 0-10 (satisfied from 8):
    # the same label, different cut-offs; each answer takes its own metric's
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": ["r1", "r2"],
                "customer_id": ["a", "b"],
                "ts": ["2024-01-01", "2024-01-02"],
                "metric": ["nps", "csat"],
                "score": [8.0, 8.0],
            }
        ),
        mapping={"scales": {"csat": {"low": 0, "high": 10, "top_from": 8}}},
    )
    f = rox.impact.profile(ws, value="revenue").to_frame().set_index("customer_id")
    assert f.loc["a", "nps_group"] == "passive"  # 8 on NPS: 7-8
    assert f.loc["b", "csat_band"] == "satisfied"  # 8 >= 8 on the declared scale
    assert f.loc["b", "csat_mean"] == pytest.approx(1 + 8 / 10 * 4)  # on the default 1-5


def test_each_metric_column_reads_its_own_metrics_answers(whole, ws):
    f = whole.to_frame().set_index("customer_id")
    # CES on its default 1-7: c1 answered 5, c3 4; c2 no CES (NPS and CSAT only)
    assert f.loc["c1", "ces_mean"] == 5.0 and f.loc["c3", "ces_mean"] == 4.0
    assert pd.isna(f.loc["c2", "ces_mean"])
    # the latest NPS answer's time and touchpoint, not those of a later CSAT answer
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": ["r1", "r2"],
                "customer_id": ["a", "a"],
                "ts": ["2024-01-01", "2024-02-01"],
                "metric": ["nps", "csat"],
                "score": [9.0, 2.0],
                "touchpoint": ["web", "store"],
            }
        ),
    )
    g = rox.impact.profile(ws, value="revenue").to_frame().set_index("customer_id")
    assert g.loc["a", "nps_latest_at"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert g.loc["a", "nps_touchpoint"] == "web"
    assert g.loc["a", "csat_band"] == "not satisfied"  # 2 on 1-5


def test_the_goal_given_is_the_one_reached(small):
    # with "financing" as the goal, c2's one journey (website visit, financing) reached it and
    # c4's (a website visit) did not; the default goal here would be the purchase
    p = rox.impact.profile(small, value="revenue", goal="financing")
    f = p.to_frame().set_index("customer_id")
    assert p.goal == "financing"
    assert (f.loc["c2", "friction"], f.loc["c4", "friction"]) == ("no friction", "met friction")


@pytest.mark.parametrize("c1_value", [100.0, float("inf")])
def test_a_fitted_clv_is_used_only_when_every_value_is_finite(
    small, hand_clv, monkeypatch, c1_value
):
    # the fit replaced by the hand values (c1's made infinite in the second case): a CLV with a
    # value that is not finite gives way to revenue to date, with the reason
    frame = hand_clv.frame.copy()
    frame.loc[frame["customer_id"] == "c1", "clv"] = c1_value
    module = importlib.import_module("rox.impact.profile")  # (rox.impact.profile: the function)
    monkeypatch.setattr(module, "clv", lambda ws: CLV(frame=frame, horizon=52.0))
    p = rox.impact.profile(small)
    f = p.to_frame().set_index("customer_id")
    if c1_value == 100.0:
        assert (p.value_basis, p.value_note) == (hand_clv.basis, "")
        assert f.loc["c4", "clv"] == 300.0 and f.loc["c4", "p_alive"] == 1.0
    else:
        assert p.value_basis == "revenue to date"
        assert p.value_note == "the lifetime-value model gave some customers no finite value"
        assert f.loc["c4", "clv"] == 300.0 and pd.isna(f.loc["c4", "p_alive"])
        assert f.loc["c1", "clv"] == 120.0  # c1's revenue to date
