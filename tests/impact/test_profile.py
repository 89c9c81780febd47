"""The experience profile on the hand-built workspace (tests/impact/conftest.py), value by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError


@pytest.fixture
def frame(small, hand_clv):
    p = rox.impact.profile(small, value=hand_clv, goal="purchase")
    return p.to_frame().set_index("customer_id")


def test_everyone_appears_once(frame):
    # customers c1-c6, c7 only in transactions, c8 only in responses
    assert sorted(frame.index) == [f"c{i}" for i in range(1, 9)]


def test_nps_group_by_latest_answer_at_the_cut_offs(frame):
    result = frame["nps_group"].to_dict()
    expected = {
        "c1": "promoter",  # 10 then 9 (9 is the lowest promoter answer)
        "c2": "detractor",  # 9 then 5
        "c3": "passive",  # 7, the lowest passive answer
        "c4": "promoter",
        "c5": "detractor",  # 6, the highest detractor answer
        "c6": "no response",
        "c7": "no response",
        "c8": "passive",  # 8, the highest passive answer
    }
    assert result == expected
    assert frame.loc["c1", "nps_latest"] == 9
    assert frame.loc["c1", "nps_mean"] == 9.5
    assert frame.loc["c2", "nps_mean"] == 7.0


def test_csat_and_ces_bands_at_their_cut_offs(frame):
    assert frame.loc["c1", "csat_band"] == "satisfied"  # 4
    assert frame.loc["c2", "csat_band"] == "not satisfied"  # 3
    assert frame.loc["c1", "ces_band"] == "easy"  # 5
    assert frame.loc["c3", "ces_band"] == "not easy"  # 4
    assert frame.loc["c4", "csat_band"] == "no response"


def test_contacts_friction_and_recency(frame):
    assert frame.loc["c1", "support_contacts"] == 2
    assert frame.loc["c1", "complaints"] == 1
    assert frame.loc["c1", "friction"] == "no friction"  # reached the purchase
    assert frame.loc["c2", "friction"] == "met friction"  # ended at financing
    assert frame.loc["c2", "friction_points"] == 1
    assert frame.loc["c3", "friction"] == "no journey"
    assert np.isnan(frame.loc["c3", "friction_points"])
    # 2024-03-01 to 2024-12-31 (the data's last day), 2024 a leap year
    assert frame.loc["c1", "days_since_response"] == 305
    assert np.isnan(frame.loc["c6", "days_since_response"])


def test_value_joined(frame):
    assert frame["clv"].to_dict() == {
        "c1": 100.0,
        "c2": 10.0,
        "c3": 50.0,
        "c4": 300.0,
        "c5": 30.0,
        "c6": 20.0,
        "c7": 40.0,
        "c8": 0.0,  # no transaction: no value
    }
    assert frame.loc["c1", "spend"] == 120.0
    assert frame.loc["c8", "spend"] == 0.0
    assert frame.loc["c4", "p_alive"] == 1.0
    assert np.isnan(frame.loc["c8", "p_alive"])


def test_revenue_basis_when_asked(small):
    p = rox.impact.profile(small, value="revenue", goal="purchase")
    f = p.to_frame().set_index("customer_id")
    assert p.value_basis == "revenue to date"
    assert f.loc["c4", "clv"] == 300.0
    assert f["p_alive"].isna().all()


def test_falls_back_to_revenue_with_a_note_when_clv_cannot_be_fitted(small):
    # eight customers with one or two purchases: BG/NBD cannot be fitted on them
    p = rox.impact.profile(small, goal="purchase")
    assert p.value_basis == "revenue to date"
    assert "could not be fitted" in p.value_note


def test_declared_scale_cut_offs_are_respected_and_means_rescaled(ws):
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": ["r1", "r2"],
                "customer_id": ["a", "b"],
                "ts": ["2024-01-01", "2024-01-02"],
                "metric": ["csat", "csat"],
                "score": [9.0, 8.0],
            }
        ),
        mapping={"scales": {"csat": {"low": 1, "high": 10, "top_from": 9}}},
    )
    f = rox.impact.profile(ws, value="revenue").to_frame().set_index("customer_id")
    assert f["csat_band"].to_dict() == {"a": "satisfied", "b": "not satisfied"}
    # 9 on 1-10 is 1 + (9 - 1) / 9 * 4 on the default 1-5
    assert f.loc["a", "csat_mean"] == pytest.approx(1 + 8 / 9 * 4)


def test_bad_value_is_named(small):
    with pytest.raises(MetricError, match="value='margin'"):
        rox.impact.profile(small, value="margin")
    with pytest.raises(MetricError, match="value='margin'"):  # also when no value is asked for
        rox.impact.profile(small, value="margin", columns=["nps_group"])


def test_profile_columns_in_order_and_a_clashing_attribute_left_out(ws):
    from rox.impact.profile import PROFILE_COLUMNS

    ws.ingest("customers", pd.DataFrame({"customer_id": ["a"], "spend": ["high"], "tier": ["x"]}))
    ws.ingest(
        "transactions",
        pd.DataFrame({"customer_id": ["a"], "ts": ["2024-01-01"], "amount": [5.0]}),
    )
    p = rox.impact.profile(ws, value="revenue")
    f = p.to_frame()
    assert tuple(f.columns[: len(PROFILE_COLUMNS)]) == PROFILE_COLUMNS
    assert "tier" in p.attributes
    assert "spend" not in p.attributes
    assert f.loc[0, "spend"] == 5.0


@pytest.mark.parametrize(
    "columns",
    [
        ("nps_group", "clv", "p_alive"),  # what the next best action uses
        ("friction", "support_contacts"),
        ("spend", "segment", "csat_band"),
        ("nps_touchpoint", "ces_band"),  # latest answers only
        ("nps_mean", "nps_group", "responses"),
    ],
)
def test_some_columns_are_those_of_the_whole_profile(small, hand_clv, columns):
    whole = rox.impact.profile(small, value=hand_clv, goal="purchase").to_frame()
    part = rox.impact.profile(small, value=hand_clv, goal="purchase", columns=columns)
    got = part.to_frame()
    # in the profile's order
    assert list(got.columns) == [c for c in whole.columns if c in {"customer_id", *columns}]
    pd.testing.assert_frame_equal(got, whole[list(got.columns)])


def test_some_columns_valued_by_revenue(small):
    whole = rox.impact.profile(small, value="revenue").to_frame()
    got = rox.impact.profile(small, value="revenue", columns=["clv", "p_alive"]).to_frame()
    pd.testing.assert_frame_equal(got, whole[["customer_id", "clv", "p_alive"]])
    assert (got["clv"] == whole["spend"]).all()


def test_an_unknown_column_is_named(small):
    with pytest.raises(MetricError, match="no column 'nps'"):
        rox.impact.profile(small, value="revenue", columns=["nps", "clv"])
