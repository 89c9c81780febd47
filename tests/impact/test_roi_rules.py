"""roi()'s rules, each stated and checked on hand figures (#22: mutation testing's survivors).

roi() fits a CLV model and measures by difference in differences; both are tested elsewhere, so
here the CLV is the hand one (tests/impact/conftest.py's ``hand_clv``, put in place of
``rox.value.clv``) and, for the measured part, the differences in differences are given
(:class:`DiD` results set by hand in place of ``did``). What is left is roi()'s own arithmetic.

The hand workspace's latest NPS answers (tests/impact/conftest.py): segment a is c1 (promoter), c2
and c5 (detractors): 3 respondents; segment b is c3 (passive), c4 (promoter) and c6 (no answer):
2 respondents. Both segments: 5 respondents, 2 detractors, 1 passive.
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.impact import Change, Initiative, Target, roi
from rox.impact.did import DiD

roi_module = importlib.import_module("rox.impact.roi")  # (rox.impact.roi is the function)

START = pd.Timestamp("2024-07-01", tz="UTC")
#: What each move is worth in the flat value model below: (value, low, high).
WORTH = {"detractor": (100.0, 80.0, 120.0), "passive": (10.0, 5.0, 20.0)}


@pytest.fixture
def hand(small, hand_clv, monkeypatch):
    """The hand workspace, with the hand CLV in place of a fitted one (its horizons recorded)."""
    horizons: list[float] = []

    def fitted(ws, *, horizon):
        horizons.append(horizon)
        return hand_clv

    monkeypatch.setattr(roi_module, "clv", fitted)
    small.horizons = horizons
    return small


class Flat:
    """A value model worth WORTH[move] whatever the customers; it records its calls."""

    def __init__(self, ids: bool = False) -> None:
        self.ids = ids  # whether to record the customers seen (a query each call)
        self.calls: list[tuple[str, str, str, list[str]]] = []

    def __call__(self, p, *, by, move, to):
        ids = sorted(p.table.execute()["customer_id"]) if self.ids else []
        self.calls.append((by, move, to, ids))
        return WORTH[move]


def _plan(cost: float, change: str, segments=("a",), horizon=1.0, **kwargs) -> Initiative:
    return Initiative(
        "plan",
        cost,
        Target("segment", tuple(segments)),
        START,
        Change.parse(change),
        horizon_years=horizon,
        **kwargs,
    )


def test_projected_value_roi_and_payback_by_hand(hand):
    # a move worth 100 (80 to 120) for a cost of 40 over 2 years: ROI (100 - 40) / 40 = 1.5,
    # payback 40 / (100 / 24) = 9.6 months; the model sees only the target's customers
    model = Flat(ids=True)
    result = roi(hand, _plan(40.0, "detractors to passive", horizon=2.0), value_model=model,
                 measure=False)  # fmt: skip
    assert hand.horizons == [2.0 * 52]  # the CLV over the horizon, in weeks
    assert model.calls == [("nps_group", "detractor", "passive", ["c1", "c2", "c5"])]
    assert (result.projected_value, result.projected_low, result.projected_high) == WORTH[
        "detractor"
    ]
    assert result.projected_roi == pytest.approx(1.5)
    assert result.payback_months == pytest.approx(9.6)
    rows = result.frame.set_index("figure")
    assert rows.loc["projected ROI", "estimate"] == pytest.approx(1.5)
    assert rows.loc["projected ROI", "low"] == pytest.approx((80 - 40) / 40)
    assert rows.loc["projected ROI", "high"] == pytest.approx((120 - 40) / 40)
    assert rows.loc["payback", "estimate"] == pytest.approx(9.6)
    assert result.value_model == "a value model given" and result.nps is None
    assert "paid back in about 10 months." in str(result)


def test_payback_within_the_horizon_only(hand):
    # value 100 over 1 year (12 months): a cost of 100 is paid back at 12 months exactly (kept),
    # a cost of 101 after 12.12 (not within the horizon: NaN)
    at = roi(hand, _plan(100.0, "detractors to passive"), value_model=Flat(), measure=False)
    assert at.payback_months == pytest.approx(12.0)
    after = roi(hand, _plan(101.0, "detractors to passive"), value_model=Flat(), measure=False)
    assert math.isnan(after.payback_months)
    assert "never paid back within the horizon." in str(after)


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_no_payback_without_value(hand, value):
    result = roi(
        hand,
        _plan(10.0, "detractors to passive"),
        value_model=lambda p, **kw: (value, value, value),
        measure=False,
    )
    assert math.isnan(result.payback_months)
    assert result.projected_roi == pytest.approx((value - 10) / 10)


def test_points_move_detractors_first_then_passives(hand):
    # both segments: 5 respondents, 2 detractors, 1 passive. +50 points moves 2.5 customers: both
    # detractors (share 1), then half the passive: 100 + 10 / 2, low 80 + 2.5, high 120 + 10
    model = Flat()
    result = roi(hand, _plan(1.0, "+50 NPS points", ("a", "b")), value_model=model, measure=False)
    assert [c[1] for c in model.calls] == ["detractor", "passive"]
    assert (result.projected_value, result.projected_low, result.projected_high) == (
        pytest.approx(105.0),
        pytest.approx(82.5),
        pytest.approx(130.0),
    )
    # +60 moves exactly every detractor and passive; +61 is more than they can give
    full = roi(hand, _plan(1.0, "+60 NPS points", ("a", "b")), value_model=Flat(), measure=False)
    assert full.projected_value == pytest.approx(110.0)
    with pytest.raises(MetricError, match=r"^\+61 NPS points is more than the target's"):
        roi(hand, _plan(1.0, "+61 NPS points", ("a", "b")), value_model=Flat(), measure=False)


def test_points_skip_an_empty_group(hand):
    # segment a: 3 respondents, 2 detractors, no passive: +50 moves 1.5 of the 2 detractors
    model = Flat()
    a = roi(hand, _plan(1.0, "+50 NPS points", ("a",)), value_model=model, measure=False)
    assert [c[1] for c in model.calls] == ["detractor"]
    assert a.projected_value == pytest.approx(0.75 * 100)
    # segment b: 2 respondents, no detractor, 1 passive: +50 moves the passive
    model = Flat()
    b = roi(hand, _plan(1.0, "+50 NPS points", ("b",)), value_model=model, measure=False)
    assert [c[1] for c in model.calls] == ["passive"]
    assert b.projected_value == pytest.approx(10.0)


def test_points_need_respondents(hand):
    plan = Initiative("plan", 1.0, Target("customer_id", ("c6",)), START, Change(points=5.0))
    with pytest.raises(MetricError, match="the target has no NPS respondents to move"):
        roi(hand, plan, value_model=Flat(), measure=False)


def _did(outcome: str, effect: float, low: float, high: float, buyers: int = 0, p=0.5) -> DiD:
    rows = [{"group": "target", "window": "after - before", "n": buyers, "mean": 0.0, "se": 0.0}]
    return DiD(
        frame=pd.DataFrame(rows),
        outcome=outcome,
        effect=effect,
        low=low,
        high=high,
        trend_p=p,
        parallel=p >= 0.05,
        before=(START - pd.Timedelta(days=30), START),
        after=(START, START + pd.Timedelta(days=30)),
    )


@pytest.fixture
def measured(hand, monkeypatch):
    """did() replaced: NPS +50 points (40 to 60), spend +2 a customer (1 to 3) over 30 buyers."""
    calls: list[dict] = []
    given = {"nps": _did("nps", 50.0, 40.0, 60.0), "spend": _did("spend", 2.0, 1.0, 3.0, 30)}

    def fake(ws, treated, start, **kwargs):
        calls.append(kwargs)
        return given[kwargs["outcome"]]

    monkeypatch.setattr(roi_module, "did", fake)
    hand.did_calls = calls
    hand.given = given
    return hand


def test_measured_money_roi_and_rox_by_hand(measured):
    # money: 2 x 30 = 60 (1 x 30 to 3 x 30) for a cost of 40: ROI 0.5 (-0.25 to 1.25). ROX: the
    # NPS change, 50 points in both segments, is +50 NPS points: 105 (82.5 to 130) as above
    plan = _plan(40.0, "detractors to passive", ("a", "b"), window_days=30, products=("s",))
    result = roi(measured, plan, value_model=Flat(), confidence=0.9)
    assert [c["window_days"] for c in measured.did_calls] == [30, 30]
    assert [c["confidence"] for c in measured.did_calls] == [0.9, 0.9]
    assert measured.did_calls[1]["products"] == ("s",)
    assert result.measured_money == pytest.approx(60.0)
    assert result.measured_roi == pytest.approx(0.5)
    assert (result.measured_rox, result.measured_rox_low, result.measured_rox_high) == (
        pytest.approx(105.0),
        pytest.approx(82.5),
        pytest.approx(130.0),
    )
    rows = result.frame.set_index("figure")
    assert rows.loc["measured money", ["low", "high"]].tolist() == [30.0, 90.0]
    assert rows.loc["measured ROI", "estimate"] == pytest.approx(0.5)
    assert rows.loc["measured ROI", "low"] == pytest.approx(-0.25)
    assert rows.loc["measured ROI", "high"] == pytest.approx(1.25)
    assert rows.loc["NPS difference in differences", "estimate"] == 50.0
    assert rows.loc["spend difference in differences", "high"] == 3.0
    assert rows.loc["measured ROX value", "estimate"] == pytest.approx(105.0)
    text = str(result)
    assert "over its 30 buying customers that is 60.00" in text or "30 buying customers" in text
    assert "ROI +50%" in text
    assert f"ROX {(105 - 40) / 40:+.0%} on the cost" in text
    assert "Warning" not in text


def test_a_measured_fall_values_the_rise_negated(measured):
    # NPS -50 points (-60 to -40): the value of +50 points negated, its ends swapped
    measured.given["nps"] = _did("nps", -50.0, -60.0, -40.0)
    result = roi(measured, _plan(40.0, "detractors to passive", ("a", "b")), value_model=Flat())
    assert (result.measured_rox, result.measured_rox_low, result.measured_rox_high) == (
        pytest.approx(-105.0),
        pytest.approx(-130.0),
        pytest.approx(-82.5),
    )


def test_the_measured_rox_claims_only_what_its_value_model_allows(measured, monkeypatch):
    # a value model the user gives is neither the ROX model (causal under its assumptions) nor
    # the fallback (associational): the sentence says its values hold as far as it does
    plan = _plan(40.0, "detractors to passive", ("a", "b"))
    given = str(roi(measured, plan, value_model=Flat()))
    assert "the values of the experience changes hold only as far as the value model given" in given
    assert "associational" not in given and "causal only under the ROX model" not in given

    def unfit(*args, **kwargs):
        raise MetricError("passive has 3 customers with repeat purchases (a stand-in)")

    monkeypatch.setattr(roi_module, "rox_model", unfit)
    fallback = str(roi(measured, plan))
    assert "experience changes are associational (experience groups compared within" in fallback
    assert "value model given" not in fallback and "causal only under the ROX" not in fallback


def test_trends_not_parallel_are_warned(measured):
    measured.given["spend"] = _did("spend", 2.0, 1.0, 3.0, 30, p=0.01)
    text = str(roi(measured, _plan(40.0, "detractors to passive", ("a", "b")), value_model=Flat()))
    assert "the target's spend trend differed from the others' (p = 0.01)" in text
    assert "the target's NPS trend differed" not in text


def test_not_measured_says_why(hand):
    # the hand workspace's answers end before 2030: did() cannot measure, the projection stands
    plan = Initiative("p", 1.0, Target("segment", ("a",)), pd.Timestamp("2030-01-01", tz="UTC"),
                      Change.parse("detractors to passive"))  # fmt: skip
    result = roi(hand, plan, value_model=Flat())
    assert result.nps is None and result.spend is None and math.isnan(result.measured_money)
    assert len(result.notes) == 1 and result.notes[0].startswith("Not measured: the start")
    assert "measured money" not in set(result.frame["figure"])
    assert result.projected_value == 100.0


class FakeROX:
    def __init__(self, total: float) -> None:
        self.total, self.low, self.high = total, total - 1, total + 1


def test_the_rox_model_values_by_default_once_per_move(hand, monkeypatch):
    # the ROX model is fitted once per move (the projection and the measured ROX share it), on the
    # whole profile, with the target's customers moved, over the horizon
    fits: list[dict] = []

    def fit(whole, **kwargs):
        fits.append(kwargs)
        return FakeROX(1000.0)

    monkeypatch.setattr(roi_module, "rox_model", fit)
    monkeypatch.setattr(
        roi_module, "did", lambda ws, treated, start, **kw: _did(kw["outcome"], 20.0, 10.0, 30.0, 5)
    )
    plan = _plan(500.0, "+20 NPS points", ("a", "b"), horizon=2.0)
    result = roi(hand, plan)
    # +20 points of 5 respondents: 1 of the 2 detractors, so half the detractor move: 500
    assert result.projected_value == pytest.approx(500.0)
    assert result.measured_rox == pytest.approx(500.0)
    assert [(f["by"], f["move"], f["to"]) for f in fits] == [("nps_group", "detractor", "passive")]
    assert fits[0]["horizon_years"] == 2.0 and fits[0]["placebo"] is False
    assert (fits[0]["draws"], fits[0]["random_state"]) == (200, 0)  # the documented defaults
    assert sorted(fits[0]["within"].execute()["customer_id"]) == [f"c{i}" for i in range(1, 7)]
    assert result.value_model == "the ROX model" and result.notes == ()
    assert "over 2 years" in result.value_basis
    assert "causal only under the ROX model's assumptions" in str(result)


def test_falls_back_to_the_difference_in_means_with_the_reason(hand, monkeypatch):
    def unfit(*args, **kwargs):
        raise MetricError("passive has 3 customers with repeat purchases (a stand-in)")

    monkeypatch.setattr(roi_module, "rox_model", unfit)
    replicates: list[int] = []
    real = roi_module.counterfactual

    def recorded(p, **kwargs):
        replicates.append(kwargs["replicates"])
        return real(p, **kwargs)

    # (on these few customers 500 and 501 replicates give the same interval: the count is read)
    monkeypatch.setattr(roi_module, "counterfactual", recorded)
    result = roi(hand, _plan(500.0, "detractors to passive", ("a", "b")), measure=False)
    assert replicates == [500]  # the documented bootstrap
    assert result.value_model == "the difference in means of the experience groups"
    assert result.notes[0].endswith("passive has 3 customers with repeat purchases (a stand-in).")
    whole = rox.impact.profile(hand, value=roi_module.clv(hand, horizon=52.0))
    target = whole.table.filter(whole.table.customer_id.isin([f"c{i}" for i in range(1, 7)]))
    expected = rox.impact.counterfactual(
        dataclasses.replace(whole, table=target),
        move="detractor",
        to="passive",
        replicates=500,
    )
    assert result.projected_value == pytest.approx(expected.total)
    assert result.projected_low == pytest.approx(expected.low)


def test_the_measured_sentences_need_both_measurements():
    # an ROI built with the NPS measured and not the spend says nothing measured
    plan = _plan(40.0, "detractors to passive")
    only_nps = roi_module.ROI(
        frame=pd.DataFrame(), initiative=plan, nps=_did("nps", 50.0, 40.0, 60.0), spend=None
    )
    assert "Measured" not in str(only_nps)
    assert str(only_nps).startswith("plan: costs 40")


def test_any_positive_value_pays_back(hand):
    # a value of 0.5 over a year for a cost of 0.04: 0.04 / (0.5 / 12) = 0.96 months
    result = roi(
        hand,
        _plan(0.04, "detractors to passive"),
        value_model=lambda p, **kw: (0.5, 0.5, 0.5),
        measure=False,
    )
    assert result.payback_months == pytest.approx(0.96)


def test_a_small_measured_rise_is_valued_as_a_rise(measured):
    # NPS +0.5 points: 0.025 of the 5 respondents moved, 0.0125 of the 2 detractors' move:
    # 1.25 (1 to 1.5), not negated
    measured.given["nps"] = _did("nps", 0.5, 0.1, 0.9)
    result = roi(measured, _plan(40.0, "detractors to passive", ("a", "b")), value_model=Flat())
    assert (result.measured_rox, result.measured_rox_low, result.measured_rox_high) == (
        pytest.approx(1.25),
        pytest.approx(1.0),
        pytest.approx(1.5),
    )


def test_rox_model_value_defaults(hand, monkeypatch):
    # built directly: 200 parametric draws, seed 0
    seen: list[dict] = []
    monkeypatch.setattr(roi_module, "rox_model", lambda whole, **kw: seen.append(kw) or FakeROX(1))
    whole = rox.impact.profile(hand, value=roi_module.clv(hand, horizon=52.0))
    model = roi_module.ROXModelValue(whole, horizon_years=1.0)
    assert model(whole, by="nps_group", move="detractor", to="passive") == (1, 0, 2)
    assert (seen[0]["draws"], seen[0]["random_state"]) == (200, 0)
