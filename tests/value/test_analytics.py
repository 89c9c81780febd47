"""RFM, CLV, validation, retention, survival and concentration on hand-built and CDNOW data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rox
from rox.errors import MetricError
from rox.testing import insert_rows
from rox.value import (
    churn_rates,
    clv,
    cohorts,
    concentration,
    gini,
    project_retention,
    rfm,
    survival,
    validate,
)
from rox.value.clv import discounted_value
from rox.value.models import BetaGeoModel


def _transactions(ws, rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])
    insert_rows(ws, "transactions", frame.assign(ts=pd.to_datetime(frame["ts"], utc=True)))
    return ws


# -- RFM ------------------------------------------------------------------------------------------
def test_rfm_matches_the_published_cdnow_summary(cdnow_rfm, published_summary):
    ours = cdnow_rfm.frame.assign(ID=cdnow_rfm.frame["customer_id"].astype(int))
    both = published_summary.merge(ours, on="ID", suffixes=("_paper", ""))
    assert len(both) == len(published_summary) == 2357
    assert (both["frequency_paper"] == both["frequency"]).all()
    assert np.abs(both["recency_paper"] - both["recency"]).max() < 0.006  # paper rounds to 0.01
    assert np.abs(both["T_paper"] - both["T"]).max() < 0.006


def test_rfm_by_hand_with_ties_order_and_holdout(ws):
    _transactions(
        ws,
        [
            ("a", "2024-01-15 18:00", 30.0),  # out of order on purpose
            ("a", "2024-01-01 09:00", 10.0),
            ("a", "2024-01-15 09:00", 20.0),  # same day as the 18:00 one: one purchase of 50
            ("a", "2024-01-29 12:00", 70.0),
            ("a", "2024-02-20 12:00", 99.0),  # holdout
            ("b", "2024-01-08 12:00", 5.0),  # one purchase only
            ("c", "2024-02-10 12:00", 5.0),  # first purchase after calibration: not in the cohort
        ],
    )
    result = rfm(ws, calibration_end="2024-01-31", holdout_end="2024-02-29", unit="days")
    got = result.frame.set_index("customer_id").sort_index()
    assert list(got.index) == ["a", "b"]
    assert got.loc["a", ["frequency", "recency", "T", "monetary"]].tolist() == [2, 28, 30, 60]
    assert got.loc["b", ["frequency", "recency", "T"]].tolist() == [0, 0, 23]
    assert np.isnan(got.loc["b", "monetary"])
    assert got["frequency_holdout"].tolist() == [1, 0]
    assert got.loc["a", "duration_holdout"] == 29
    weeks = rfm(ws, calibration_end="2024-01-31").frame.set_index("customer_id")
    assert weeks.loc["a", "T"] == pytest.approx(30 / 7)
    assert result.compressed()["count"].sum() == 2


def test_rfm_errors(ws):
    with pytest.raises(rox.errors.TableNotFoundError, match="no transactions"):
        rfm(ws)
    _transactions(ws, [("a", "2024-01-01", 1.0)])
    with pytest.raises(MetricError, match="holdout_end must be after calibration_end"):
        rfm(ws, calibration_end="2024-02-01", holdout_end="2024-01-01")
    with pytest.raises(MetricError, match="unknown unit 'months'"):
        rfm(ws, unit="months")


# -- CLV ------------------------------------------------------------------------------------------
def test_clv_on_cdnow(cdnow_rfm):
    value = clv(cdnow_rfm, horizon=52, margin=0.3, discount_rate=0.1)
    f = value.frame
    assert len(f) == 2357
    assert (f["clv"] >= 0).all() and f["clv"].is_monotonic_decreasing
    # CLV = margin x spend x discounted purchases: undiscounted it is margin x spend x E[Y]
    flat = clv(cdnow_rfm, horizon=52, margin=0.3, discount_rate=0.0).frame.set_index("customer_id")
    check = flat["clv"] / (0.3 * flat["expected_spend"] * flat["expected_purchases"])
    assert check.to_numpy() == pytest.approx(1.0)
    # discounting lowers value; a longer horizon raises it
    assert value.total < flat["clv"].sum()
    assert clv(cdnow_rfm, horizon=104, margin=0.3).total > value.total
    assert value.aggregate()["customers"].iloc[0] == 2357
    assert f.columns.tolist() == [
        "customer_id", "frequency", "recency", "T", "monetary", "p_alive",
        "expected_purchases", "expected_spend", "clv",
    ]  # fmt: skip
    assert f.index.equals(pd.RangeIndex(len(f)))
    # equal values (the many one-time buyers of a day) are ordered by customer id
    ties = f[f.duplicated("clv", keep=False)]
    assert len(ties) > 100
    assert all(g.is_monotonic_increasing for _, g in ties.groupby("clv")["customer_id"])


@pytest.mark.parametrize("customer", ["1", "18", "1009"])
def test_clv_of_one_customer_by_hand(cdnow_rfm, customer, clv_by_hand):
    """#22: the absolute CLV, from the BG/NBD and Gamma-Gamma closed forms and the discount rate."""
    value = clv(cdnow_rfm, horizon=52, margin=0.3, discount_rate=0.1)
    row = value.frame.set_index("customer_id").loc[customer]
    expected = clv_by_hand(
        row["frequency"],
        row["recency"],
        row["T"],
        0.0 if row["frequency"] == 0 else row["monetary"],
        tuple(value.purchase_model.params_),
        tuple(value.spend_model.params_),
        horizon=52,
        days_per_unit=7,
        margin=0.3,
        discount_rate=0.1,
    )
    assert row["clv"] == pytest.approx(expected, abs=1e-6, rel=0)
    assert expected > 0.01  # a value worth checking to 1e-6


def test_clv_defaults_and_basis(cdnow_rfm, clv_by_hand):
    """Default CLV: revenue (margin 1) over 52 weeks discounted at 10% a year, said in words."""
    value = clv(cdnow_rfm)
    row = value.frame.set_index("customer_id").loc["1"]
    expected = clv_by_hand(
        row["frequency"], row["recency"], row["T"], row["monetary"],
        tuple(value.purchase_model.params_), tuple(value.spend_model.params_),
    )  # fmt: skip
    assert row["clv"] == pytest.approx(expected, abs=1e-6, rel=0)
    assert value.basis == "CLV over the next 52 weeks, discounted at 10% a year"
    # the lower-level function has the same defaults
    spend = value.spend_model.expected_spend(cdnow_rfm.frame)
    low, _ = discounted_value(value.purchase_model, cdnow_rfm.frame, spend, horizon=52)
    ids = cdnow_rfm.frame["customer_id"]
    assert low == pytest.approx(value.frame.set_index("customer_id").loc[ids, "clv"].to_numpy())
    other = clv(cdnow_rfm, horizon=26, margin=0.3, discount_rate=0.0)
    assert other.basis == "CLV over the next 26 weeks, at a 30% margin"


def test_clv_rejects_bad_settings(cdnow_rfm):
    with pytest.raises(MetricError, match="unknown purchase model"):
        clv(cdnow_rfm, model="nbd")
    with pytest.raises(MetricError, match="horizon must be positive"):
        clv(cdnow_rfm, horizon=0)
    for bad in ({"margin": -0.01}, {"discount_rate": -0.01}):
        with pytest.raises(MetricError, match="margin and discount_rate non-negative"):
            clv(cdnow_rfm, **bad)
    # the bounds themselves are allowed: no margin is worth nothing, no discount is allowed
    assert clv(cdnow_rfm, margin=0.0).total == 0
    assert clv(cdnow_rfm, discount_rate=0.0).total > clv(cdnow_rfm).total
    # any positive horizon, any non-negative rate: half a week, 150% a year
    assert 0 < clv(cdnow_rfm, horizon=0.5).total < clv(cdnow_rfm, horizon=1).total
    assert clv(cdnow_rfm, discount_rate=1.5).total < clv(cdnow_rfm).total


# -- validation -----------------------------------------------------------------------------------
def test_validation_table_and_tracking_on_cdnow(cdnow_ws, cdnow_rfm):
    model = BetaGeoModel().fit(cdnow_rfm)
    check = validate(model, cdnow_rfm, cdnow_ws)
    assert check.frame["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert check.frame["customers"].sum() == 2357
    # actual mean holdout purchases rise with calibration frequency, and so do predictions
    assert check.frame["actual"].is_monotonic_increasing
    assert check.frame["predicted"].is_monotonic_increasing
    tracking = check.tracking
    assert len(tracking) == 78  # weeks from 1997-01-01 to 1998-06-30
    assert tracking["actual"].is_monotonic_increasing
    # the 78-week cumulative repeat purchases: model within 5% of the actual count
    assert tracking["predicted"].iloc[-1] == pytest.approx(tracking["actual"].iloc[-1], rel=0.05)
    assert abs(check.error) < 0.15
    fig = check.plot()
    assert len(fig.data) == 4


# -- retention ------------------------------------------------------------------------------------
def test_cohorts_and_churn_by_hand(ws):
    _transactions(
        ws,
        [
            ("a", "2024-01-05", 1),
            ("a", "2024-02-05", 1),
            ("a", "2024-04-05", 1),
            ("b", "2024-01-20", 1),
            ("b", "2024-03-01", 1),
            ("c", "2024-02-10", 1),
            ("c", "2024-03-10", 1),
        ],
    )
    result = cohorts(ws, "month")
    jan = result.frame[result.frame["cohort"] == pd.Timestamp("2024-01-01")].set_index("period")
    assert jan["active"].to_dict() == {0: 2, 1: 1, 2: 1, 3: 1}
    assert jan["surviving"].to_dict() == {0: 2, 1: 2, 2: 2, 3: 1}
    assert jan["retention"].to_dict() == {0: 1.0, 1: 0.5, 2: 0.5, 3: 0.5}
    assert result.matrix().shape == (2, 4)
    churn = churn_rates(ws, "month").set_index("period")
    # February: a and b were active in January; only a bought again
    assert churn.loc[pd.Timestamp("2024-02-01"), ["active_before", "churned"]].tolist() == [2, 1]
    # April: b and c were active in March; neither bought in April
    assert churn.loc[pd.Timestamp("2024-04-01"), "churn_rate"] == 1.0


def test_survival_by_group(ws):
    insert_rows(
        ws,
        "customers",
        pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["x", "x", "y", "y"]}),
    )
    _transactions(
        ws,
        [
            ("a", "2023-01-01", 1),
            ("a", "2023-03-01", 1),  # lost: last purchase long ago
            ("b", "2023-01-01", 1),
            ("b", "2024-12-01", 1),  # still active (censored)
            ("c", "2023-06-01", 1),
            ("d", "2023-06-01", 1),  # both lost at once
            ("d", "2024-12-31", 1),
        ],
    )
    result = survival(ws, by="segment", inactive_after=180)
    med = result.medians.set_index("group")
    assert med.loc["x", ["customers", "lost"]].tolist() == [2, 1]
    curve = result.frame[result.frame["group"] == "x"].set_index("days")["survival"]
    assert curve.loc[59] == pytest.approx(0.5)  # a lost at day 59 of 2 at risk
    assert result.plot().data


def test_project_retention_reproduces_the_observed_years():
    regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    out = project_retention(regular[:5], periods=7)
    # fitted on years 0-4 only, the projection of years 5-7 stays close (Fader & Hardie 2007)
    assert out["survivors"].iloc[5:].to_numpy() == pytest.approx(regular[5:], rel=0.1)
    assert out["observed"].iloc[:5].tolist() == regular[:5]


# -- concentration --------------------------------------------------------------------------------
def test_gini_by_hand():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # (n - 1) / n for one holder
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)


def test_concentration_top_share_by_hand(ws):
    _transactions(ws, [(f"c{i}", "2024-01-01", v) for i, v in enumerate([80, 5, 5, 5, 5])])
    result = concentration(ws, top=0.2)
    assert result.top_share == pytest.approx(0.8)
    assert result.customers == 5 and result.total == 100
    assert str(result) == "The top 20% of 5 customers hold 80.0% of revenue; Gini 0.600."


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200))
def test_concentration_invariants(values):
    if sum(values) == 0:  # nothing to share out: refused, and Gini is undefined
        with pytest.raises(MetricError, match="no value to measure"):
            concentration(values, top=0.2)
        assert np.isnan(gini(values))
        return
    result = concentration(values, top=0.2)
    assert 0 <= result.gini <= 1
    assert 0.2 - 1e-9 <= result.top_share <= 1 + 1e-9
    lorenz = result.frame["value_share"].to_numpy()
    assert np.all(np.diff(lorenz) >= -1e-12)
    assert lorenz[0] == 0 and lorenz[-1] == pytest.approx(1)
    assert np.all(lorenz <= result.frame["customer_share"].to_numpy() + 1e-9)
