"""The ROX model's rules, each stated and checked on hand figures (#22: mutation survivors).

The fits themselves (Pareto/NBD with covariates, Gamma-Gamma) are tested in tests/value; here the
purchase and spend fits are *given* (set by hand, with a covariance of zero unless a test needs
draws), so that what is left is the ROX model's own arithmetic: the valuation's closed forms, the
moves, the intervals, the value of one NPS point, the plausibility band, the placebo's seed and the
plain-words summary. Every expected value is computed here by hand or through another code path
(:func:`rox.value.clv.discounted_value`, the CLV's own month-by-month sum), never by the function
under test.

The hand workspace (:func:`hand`): detractors d1 (3 purchases), d2 (2), d3 (1); passives p1 (3),
p2 (2), p3 (2); promoter m1 (2); n1 (2 purchases, no answer); a1 answered (passive) but never
bought. Repeat buyers: detractor 2, passive 3, promoter 1, no response 1. Respondents among the
buyers: 7 (d1-d3, p1-p3, m1).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Iterator

import ibis
import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import ConvergenceError, MetricError
from rox.impact.rox_model import (
    ROXModel,
    _Evaluation,
    _nps_point,
    _plausible,
    _short,
    _Valuation,
    _weights,
    _within,
    retention_elasticity,
)
from rox.value.clv import discounted_value
from rox.value.models import ParetoNBDModel, fitting

mod = importlib.import_module("rox.impact.rox_model")

WEEKS_PER_YEAR = 365.25 / 7
LN2 = math.log(2)


# -- the plain-words pieces ------------------------------------------------------------------------
def test_short_money_switches_to_M_at_a_million_and_to_k_at_ten_thousand():
    """Amounts of 1e6 and more in M (one decimal), 1e4 and more in k, below that in full."""
    assert _short(2_100_000) == "2.1M"
    assert _short(1_000_000) == "1.0M"  # the boundary itself is in M
    assert _short(999_999) == "1000k"  # just below: k
    assert _short(-2_500_000) == "-2.5M"  # the size, not the sign, decides
    assert _short(10_000) == "10k"  # the boundary itself is in k
    assert _short(9_999) == "9,999"  # just below: in full
    assert _short(2_100_000, "EUR") == "EUR 2.1M"
    assert _short(870, "EUR") == "EUR 870"
    assert _short(870) == "870"  # no currency: no code
    assert _short(float("nan")) == "n/a"
    assert _short(None) == "n/a"  # type: ignore[arg-type]


def _frame(purchases: float, dropout: float, spend: float) -> pd.DataFrame:
    total = purchases + dropout + spend
    return pd.DataFrame(
        {
            "channel": list(mod.CHANNELS),
            "meaning": list(mod.CHANNELS.values()),
            "rox": [purchases, dropout, spend],
            "share": [purchases / total, dropout / total, spend / total],
        }
    )


def test_summary_names_the_main_channel_by_its_share():
    """A channel over half the total is 'most of it'; at 0.5 or less, 'the largest part (x%)'."""
    most = ROXModel(frame=_frame(60, 30, 10), total=100.0, low=50.0, high=150.0, moved=3)
    assert "; most of it from more purchases." in str(most)
    half = ROXModel(frame=_frame(10, 50, 40), total=100.0, low=50.0, high=150.0, moved=3)
    assert "; the largest part (50%) from lower dropout." in str(half)
    # the channel of largest size, also when negative
    neg = ROXModel(frame=_frame(-80, 10, 20), total=-50.0, low=-90.0, high=-10.0, moved=3)
    assert "from more purchases" in str(neg)
    # no total: no lead sentence; an empty frame neither
    zero = ROXModel(frame=_frame(60, 30, 10), total=0.0, moved=3)
    assert str(zero).splitlines()[0].endswith("over 3 years.")
    empty = ROXModel(frame=pd.DataFrame(), total=100.0, moved=3)
    assert str(empty).splitlines()[0].endswith("over 3 years.")


def test_summary_says_years_in_the_singular_for_one():
    one = ROXModel(frame=pd.DataFrame(), total=10.0, horizon_years=1.0)
    two = ROXModel(frame=pd.DataFrame(), total=10.0, horizon_years=2.0)
    assert "over 1 year." in str(one)
    assert "over 2 years." in str(two)


def test_summary_lines_for_nps_point_and_placebo_only_when_known():
    plain = str(ROXModel(frame=pd.DataFrame(), total=10.0))
    assert "NPS point" not in plain and "Placebo" not in plain
    full = ROXModel(
        frame=pd.DataFrame(),
        total=10.0,
        nps_point_value=5.0,
        nps_point_low=1.0,
        nps_point_high=9.0,
        placebo_total=1.0,
        placebo_low=-2.0,
        placebo_high=3.0,
        notes=("a note",),
    )
    text = str(full)
    assert "One NPS point is worth about 5 (1–9)." in text
    assert "Placebo (experience shuffled across customers): 1 (-2–3); it covers 0" in text
    assert "note: a note" in text


@pytest.mark.parametrize(
    ("low", "high", "covers"),
    [
        (-2.0, 3.0, True),
        (0.0, 3.0, True),  # 0 on the edge is covered
        (-3.0, 0.0, True),
        (-5.0, 0.5, True),  # 0 inside, 1 outside
        (0.5, 3.0, False),
        (-3.0, -0.5, False),
    ],
)
def test_placebo_vanishes_when_its_interval_covers_zero_edges_included(low, high, covers):
    result = ROXModel(
        frame=pd.DataFrame(), total=1.0, placebo_total=(low + high) / 2, placebo_low=low,
        placebo_high=high,
    )  # fmt: skip
    assert result.placebo_vanishes is covers
    assert ("it covers 0, as it should" in str(result)) is covers
    assert ROXModel(frame=pd.DataFrame(), total=1.0).placebo_vanishes is None


# -- the plausibility band and the retention elasticity --------------------------------------------
def test_retention_elasticity_bounds_and_zero_retention():
    """Retention lies in [0, 1 + i): 0 is allowed (a perpetuity of 0 before: infinite gain)."""
    assert retention_elasticity(0.0, 0.5, 0.1) == math.inf
    # r / (1 + i - r) at i = 10%: 0.95 / 0.15 over 0.9 / 0.2 (above 1 - i, below 1 + i)
    assert retention_elasticity(0.9, 0.95, 0.1) == pytest.approx((0.95 / 0.15) / (0.9 / 0.2) - 1)
    assert retention_elasticity(0.9, 1.05, 0.1) == pytest.approx((1.05 / 0.05) / (0.9 / 0.2) - 1)
    with pytest.raises(MetricError, match=r"retention after=1\.1"):
        retention_elasticity(0.9, 1.1, 0.1)  # 1 + i itself: the perpetuity is infinite
    with pytest.raises(MetricError, match=r"retention before=-0\.01"):
        retention_elasticity(-0.01, 0.5, 0.1)


@pytest.mark.parametrize(
    ("gain", "elastic", "plausible"),
    [
        (float("nan"), 0.2, True),  # nothing to compare
        (0.2, float("nan"), True),
        (0.0009, -0.0009, True),  # both about nothing (under 1e-3), opposite signs or not
        (0.0011, -0.0009, False),  # the gain is something: the signs differ
        (0.0009, -0.0011, False),
        (-0.1, 0.2, False),  # opposite signs
        (0.1, -0.2, False),
        (0.0, 0.2, True),  # no gain where retention rose: inside the band
        (0.301, 0.2, True),  # at most 1.5 x the perpetuity's gain + 1e-3: 0.301
        (0.3015, 0.2, False),
        (-0.301, -0.2, True),  # both negative: the sizes compare
        (-0.3015, -0.2, False),
        (0.001, -0.0009, False),  # 1e-3 itself is something
        (0.0009, -0.001, False),
        (1.5 * 0.2 + 1e-3, 0.2, True),  # the band's edge itself is inside
        (0.5, 0.0, False),  # retention unchanged, a gain: outside
    ],
)
def test_plausible_band(gain, elastic, plausible):
    """Same sign as the retention change and at most 1.5 times the perpetuity's gain (+ 1e-3)."""
    assert _plausible(gain, elastic) is plausible


# -- the value of one NPS point --------------------------------------------------------------------
def test_nps_point_is_the_rox_per_point_gained():
    """Moving m of R respondents from detractor to passive gains 100 m / R points."""
    data = pd.DataFrame({"group": ["detractor", "detractor", "passive", "promoter", "no response"]})
    ones = np.ones(5)
    # 2 of 4 respondents, one step up: 50 points
    assert _nps_point(data, ones, "nps_group", "detractor", "passive", 100.0, 50.0, 200.0) == (
        pytest.approx(2.0),
        pytest.approx(1.0),
        pytest.approx(4.0),
    )
    # two steps (detractor to promoter): 100 points
    value, low, high = _nps_point(data, ones, "nps_group", "detractor", "promoter", 100.0, 50, 200)
    assert (value, low, high) == pytest.approx((1.0, 0.5, 2.0))
    # weighted: 2 x 3 moved over 2 + 3 + 1 + 1 respondents (the non-respondent's 7 ignored)
    w = np.array([2.0, 3.0, 1.0, 1.0, 7.0])
    value, _, _ = _nps_point(data, w, "nps_group", "detractor", "passive", 100.0, 50.0, 200.0)
    assert value == pytest.approx(100.0 / (100 * 5 / 7))
    # a move down loses points: the interval's ends swap
    value, low, high = _nps_point(data, ones, "nps_group", "passive", "detractor", 100, 50, 200)
    points = 100 * 1 * -1 / 4
    assert (value, low, high) == pytest.approx((100 / points, 200 / points, 50 / points))
    # not between NPS groups: no NPS point
    for by, move, to in (
        ("csat_band", "detractor", "passive"),
        ("nps_group", "no response", "passive"),
        ("nps_group", "detractor", "no response"),
    ):
        assert all(math.isnan(v) for v in _nps_point(data, ones, by, move, to, 1.0, 0.0, 2.0))


# -- the valuation's closed forms ------------------------------------------------------------------
P_R, P_ALPHA, P_S, P_BETA = 2.0, 60.0, 2.5, 300.0
#: Gamma-Gamma given: p = 2, q = 3 and a scale per group (a group's mean spend is gamma p/(q-1)).
SPEND_P, SPEND_Q = 2.0, 3.0
GAMMAS = {"detractor": 40.0, "passive": 50.0, "promoter": 60.0}


def _three_groups(weight: np.ndarray | None = None, spend_groups: bool = True) -> _Valuation:
    """Seven customers of three groups (detractors moved to passive; covariates: detractor and
    promoter, passive the reference); coefficients set per test through ``evaluate``."""
    data = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(7)],
            "frequency": [0, 3, 1, 5, 2, 4, 6],
            "recency": [0.0, 40.0, 10.0, 60.0, 30.0, 70.0, 90.0],
            "T": [50.0, 80.0, 30.0, 100.0, 60.0, 90.0, 110.0],
            "monetary": [np.nan, 100.0, 60.0, 80.0, 30.0, 45.0, 70.0],
            "group": ["detractor"] * 3 + ["passive"] * 2 + ["promoter"] * 2,
        }
    )
    groups = sorted(GAMMAS) if spend_groups else [""]
    gammas = [GAMMAS[g] for g in groups] if spend_groups else [50.0]
    spend = fitting.FitResult(
        np.array([SPEND_P, SPEND_Q, *gammas]), np.full(2 + len(gammas), np.nan), 0.0, 0, 0.0
    )
    purchase = ParetoNBDModel(covariates=["is_detractor", "is_promoter"])
    return _Valuation(
        data=data,
        covariates=["is_detractor", "is_promoter"],
        z=np.array([[1.0, 0.0]] * 3 + [[0.0, 0.0]] * 2 + [[0.0, 1.0]] * 2),
        moved=np.array([True] * 3 + [False] * 4),
        move_index=0,
        purchase=purchase,
        spend=spend,
        spend_groups=groups,
        move="detractor",
        to="passive",
        horizon_years=3.0,
        discount_rate=0.1,
        margin=1.0,
        notes=[],
        weight=np.ones(7) if weight is None else weight,
    )


def _params(g_alpha: tuple[float, float], g_beta: tuple[float, float]) -> np.ndarray:
    return np.array([P_R, P_ALPHA, P_S, P_BETA, *g_alpha, *g_beta])


def _hand_spend(x: float, m: float, gamma: float) -> float:
    """Gamma-Gamma's expected spend per purchase (Fader & Hardie 2013, eq. 5), by hand."""
    w = SPEND_P * x / (SPEND_P * x + SPEND_Q - 1)
    return (1 - w) * gamma * SPEND_P / (SPEND_Q - 1) + (w * m if x else 0.0)


def test_spend_is_gamma_gamma_per_group_and_moved_by_the_ratio_of_scales():
    v = _three_groups()
    observed, counterfactual = v._spend(v.spend.params)
    # by hand: c1 (detractor, x = 3, m = 100): w = 6/8, 0.25 x 40 + 0.75 x 100 = 85
    assert observed[1] == pytest.approx(85.0)
    assert observed[0] == pytest.approx(40.0)  # no repeat purchase: the group's mean, 40 x 2 / 2
    # c3 (passive, x = 5, m = 80): w = 10/12; c5 (promoter, x = 4, m = 45): w = 8/10
    assert observed[3] == pytest.approx(50 / 6 + 80 * 10 / 12)
    assert observed[5] == pytest.approx(0.2 * 60 + 0.8 * 45)
    expected = [_hand_spend(x, m, GAMMAS[g]) for x, m, g in _rows(v)]
    assert observed == pytest.approx(expected)
    # moved detractors: times gamma_passive / gamma_detractor = 50 / 40; others unchanged
    assert counterfactual[:3] == pytest.approx(np.array(expected[:3]) * 1.25)
    assert counterfactual[3:] == pytest.approx(expected[3:])
    # one scale for everyone: no spend channel (ratio 1)
    pooled = _three_groups(spend_groups=False)
    observed, counterfactual = pooled._spend(pooled.spend.params)
    assert observed == pytest.approx([_hand_spend(x, m, 50.0) for x, m, _ in _rows(pooled)])
    assert counterfactual == pytest.approx(observed)


def _rows(v: _Valuation) -> list[tuple[float, float, str]]:
    f = v.data
    return [
        (float(x), 0.0 if math.isnan(m) else float(m), str(g))
        for x, m, g in zip(f["frequency"], f["monetary"], f["group"], strict=True)
    ]


def test_observed_value_with_two_covariates_is_each_groups_clv():
    """A customer's observed value is the CLV path's with their own rates: alpha e^{-g_alpha . z},
    beta e^{-g_beta . z} (purchase rate lambda0 e^{g_alpha . z}, dropout mu0 e^{g_beta . z})."""
    g_alpha, g_beta = (-LN2, 0.3), (LN2, -0.4)
    v = _three_groups()
    point = v.evaluate(_params(g_alpha, g_beta), v.spend.params)
    spend, _ = v._spend(v.spend.params)
    for rows, (ga, gb) in (
        (slice(0, 3), (g_alpha[0], g_beta[0])),
        (slice(3, 5), (0.0, 0.0)),
        (slice(5, 7), (g_alpha[1], g_beta[1])),
    ):
        model = ParetoNBDModel.from_params(
            r=P_R, alpha=P_ALPHA * math.exp(-ga), s=P_S, beta=P_BETA * math.exp(-gb)
        )
        value, _ = discounted_value(
            model,
            v.data.iloc[rows],
            spend[rows],
            horizon=3 * WEEKS_PER_YEAR,
            unit="weeks",
            discount_rate=0.1,
        )
        assert point.observed[rows] == pytest.approx(value, rel=1e-9)
        assert point.p_alive[rows] == pytest.approx(model.p_alive(v.data.iloc[rows]), rel=1e-12)
    # the promoters are not moved: their counterfactual is their observed value
    assert point.counterfactual[3:] == pytest.approx(point.observed[3:])


def test_weights_count_in_the_totals_and_the_moved_rox_is_the_difference():
    """Totals and channels count each customer weight times; unweighted and per-moved do not."""
    w = np.array([2.0, 0.5, 3.0, 1.0, 1.0, 4.0, 1.0])
    v = _three_groups(weight=w)
    point = v.evaluate(_params((-LN2, 0.0), (LN2, 0.0)), v.spend.params)
    rox = point.counterfactual - point.observed
    assert (rox[:3] > 0).all() and (rox[3:] == 0).all()
    assert point.per_moved == pytest.approx(rox[:3])
    assert point.unweighted == pytest.approx(rox[:3].sum())
    assert point.total == pytest.approx((rox * w).sum())
    for c in mod.CHANNELS:
        assert point.channels[c] == pytest.approx((point.parts[c] * w).sum())
    assert sum(point.channels.values()) == pytest.approx(point.total)


def test_retention_given_alive_is_the_gamma_mixture_of_staying_a_year():
    """Given alive, mu ~ Gamma(s, B): a year's retention (B / (B + 52.18))^s, averaged over the
    moved customers weighted by P(alive)."""
    v = _three_groups()
    point = v.evaluate(_params((0.0, 0.0), (LN2, 0.0)), v.spend.params)
    t = np.array([50.0, 80.0, 30.0])
    b0 = P_BETA / 2 + t  # beta_i = beta e^{-ln 2}
    b1 = 2 * b0  # the counterfactual: the dropout rate halved, B doubled
    pa = point.p_alive[:3]
    r0, r1 = v.retention(point)
    year = WEEKS_PER_YEAR
    assert r0 == pytest.approx(float((pa * (b0 / (b0 + year)) ** P_S).sum() / pa.sum()))
    assert r1 == pytest.approx(float((pa * (b1 / (b1 + year)) ** P_S).sum() / pa.sum()))
    assert r0 < r1 < 1
    # nobody alive: no retention to tell
    dead = point.__class__(**{**point.__dict__, "p_alive": np.zeros(7)})
    assert all(math.isnan(x) for x in v.retention(dead))


def test_per_customer_has_the_draws_interval_for_the_moved_and_zero_for_the_others():
    v = _three_groups()
    point = v.evaluate(_params((-LN2, 0.0), (0.0, 0.0)), v.spend.params)
    draws = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0], [3.0, 30.0, 300.0]])
    per = v.per_customer(point, draws, [25.0, 75.0])
    assert list(per.columns) == [
        "customer_id", "group", "moved", "value", "counterfactual", "rox", "rox_low",
        "rox_high", "purchases", "dropout", "spend",
    ]  # fmt: skip
    # percentiles over the draws of each moved customer: 25% of (1, 2, 3) is 1.5, 75% is 2.5
    assert per["rox_low"].tolist() == pytest.approx([1.5, 15.0, 150.0, 0, 0, 0, 0])
    assert per["rox_high"].tolist() == pytest.approx([2.5, 25.0, 250.0, 0, 0, 0, 0])
    assert per["rox"].to_numpy() == pytest.approx(point.counterfactual - point.observed)
    assert per[["purchases", "dropout", "spend"]].sum(axis=1).to_numpy() == pytest.approx(
        per["rox"].to_numpy()
    )


def test_spend_levels_are_the_groups_mean_spend():
    """A group's population mean spend per purchase is gamma p / (q - 1); none for q <= 1."""
    v = _three_groups()
    levels = v.spend_levels()
    assert levels["group"].tolist() == ["detractor", "passive", "promoter"]
    assert levels["gamma"].tolist() == [40.0, 50.0, 60.0]
    assert levels["mean_spend"].tolist() == pytest.approx([40.0, 50.0, 60.0])  # p/(q-1) = 1
    v.spend = fitting.FitResult(np.array([3.0, 4.0, 30.0]), np.full(3, np.nan), 0.0, 0, 0.0)
    v.spend_groups = [""]
    levels = v.spend_levels()
    assert levels["group"].tolist() == ["(everyone)"]
    assert levels["mean_spend"].tolist() == pytest.approx([30.0 * 3 / 3])
    for q in (1.0, 0.5):  # no finite mean at q = 1 and below
        v.spend = fitting.FitResult(np.array([3.0, q, 30.0]), np.full(3, np.nan), 0.0, 0, 0.0)
        assert v.spend_levels()["mean_spend"].tolist() == [math.inf]


def test_draws_of_spend_are_seeded_one_after_the_purchases_and_log_scale():
    """The spend parameters (all positive) are drawn on the log scale with seed + 1."""
    v = _three_groups()
    cov = np.diag([0.01, 0.02, 0.03, 0.04, 0.05])
    v.spend = fitting.FitResult(
        np.array([SPEND_P, SPEND_Q, 40.0, 50.0, 60.0]), np.full(5, 0.1), 0.0, 0, 0.0, (), cov
    )
    v.purchase._fit = fitting.FitResult(
        _params((0.0, 0.0), (0.0, 0.0)), np.full(8, 0.1), 0.0, 0, 0.0, (), np.zeros((8, 8))
    )
    seen: list[np.ndarray] = []
    v.evaluate = lambda params, spend: seen.append(spend)  # type: ignore[method-assign]
    v.draws(3, 11)
    centre = np.log([SPEND_P, SPEND_Q, 40.0, 50.0, 60.0])
    by_hand = np.exp(np.random.default_rng(12).multivariate_normal(centre, cov, 3, method="eigh"))
    assert np.array(seen) == pytest.approx(by_hand, rel=1e-12)


def test_coefficients_rate_ratios_only_for_covariates():
    v = _three_groups()
    v.purchase._fit = fitting.FitResult(
        _params((-LN2, 0.5), (LN2, 0.0)), np.full(8, 0.1), 0.0, 0, 0.0
    )
    table = v.coefficients().set_index("parameter")
    assert table["rate_ratio"].iloc[:4].isna().all()
    assert table.loc["alpha:is_detractor", "rate_ratio"] == pytest.approx(0.5)
    assert table.loc["beta:is_detractor", "rate_ratio"] == pytest.approx(2.0)
    assert table.loc["alpha:is_promoter", "rate_ratio"] == pytest.approx(math.exp(0.5))
    assert table.loc["alpha", "low"] == pytest.approx(P_ALPHA - 1.959964 * 0.1)


# -- rox_model() with the fits given ---------------------------------------------------------------
#: The hand workspace: (customer, NPS score or None, purchase days, amounts).
CUSTOMERS = [
    ("d1", 3, ["2024-01-05", "2024-03-01", "2024-06-10"], [30.0, 40.0, 50.0]),
    ("d2", 2, ["2024-02-01", "2024-08-01"], [20.0, 25.0]),
    ("d3", 5, ["2024-04-01"], [60.0]),
    ("p1", 7, ["2024-01-10", "2024-05-01", "2024-09-01"], [50.0, 55.0, 60.0]),
    ("p2", 8, ["2024-03-01", "2024-10-01"], [40.0, 45.0]),
    ("p3", 7, ["2024-02-15", "2024-11-15"], [70.0, 65.0]),
    ("m1", 10, ["2024-01-20", "2024-12-31"], [80.0, 90.0]),
    ("n1", None, ["2024-05-05", "2024-07-07"], [35.0, 30.0]),
    ("a1", 8, [], []),
]
#: The covariates of the hand workspace (every group but the target, passive), in order.
COVARIATES = ["is_detractor", "is_no_response", "is_promoter"]
GIVEN = np.array([P_R, P_ALPHA, P_S, P_BETA, -LN2, 0.0, 0.2, LN2, 0.0, -0.3])
SPEND_GROUPS = ["detractor", "no response", "passive", "promoter"]
GIVEN_SPEND = np.array([SPEND_P, SPEND_Q, 40.0, 50.0, 50.0, 60.0])


def _workspace() -> rox.Workspace:
    """The hand workspace (see the module), in memory."""
    ws = rox.open("duckdb://:memory:")
    tx = [
        (c, day, amount)
        for c, _, days, amounts in CUSTOMERS
        for day, amount in zip(days, amounts, strict=True)
    ]
    ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [t[0] for t in tx],
                "ts": [t[1] for t in tx],
                "amount": [t[2] for t in tx],
                "order_id": [f"o{i}" for i in range(len(tx))],
            }
        ),
    )
    answers = [(c, s) for c, s, _, _ in CUSTOMERS if s is not None]
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": [f"r{i}" for i in range(len(answers))],
                "customer_id": [a[0] for a in answers],
                "ts": "2024-06-01",
                "metric": "nps",
                "score": [float(a[1]) for a in answers],
            }
        ),
    )
    return ws


@pytest.fixture(scope="module")
def hand_ws() -> Iterator[rox.Workspace]:
    """The hand workspace, shared by the tests that only read it."""
    ws = _workspace()
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def hand(hand_ws: rox.Workspace) -> rox.impact.ExperienceProfile:
    """The hand workspace's profile, valued by revenue (as rox_model profiles a workspace)."""
    return rox.impact.profile(hand_ws, value="revenue")


class Given:
    """Stand-ins for the fits: the purchase and spend parameters given, covariance ``cov``."""

    def __init__(self, monkeypatch, cov: float = 0.0, fail: int | None = None) -> None:
        self.calls: list[pd.DataFrame] = []
        given, calls = self, self.calls

        class Purchase(ParetoNBDModel):
            def fit(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
                calls.append(data.copy())
                assert list(self.covariates) == COVARIATES
                n = len(GIVEN)
                self._fit = fitting.FitResult(
                    GIVEN.copy(), np.full(n, 0.1), -1.0, 1, 0.0, (), np.eye(n) * given.cov
                )
                self.n_customers_ = float(len(data))
                return self

        def spend(frame: pd.DataFrame, groups: list[str]) -> fitting.FitResult:
            assert groups == SPEND_GROUPS
            if fail is not None and len(calls) >= fail:
                raise ConvergenceError("no fit here")
            n = len(GIVEN_SPEND)
            return fitting.FitResult(
                GIVEN_SPEND.copy(), np.full(n, 0.1), -1.0, 1, 0.0, (), np.eye(n) * given.cov
            )

        self.cov = cov
        monkeypatch.setattr(mod, "ParetoNBDModel", Purchase)
        monkeypatch.setattr(mod, "_fit_spend", spend)
        monkeypatch.setattr(mod, "MIN_REPEAT_CUSTOMERS", 2)


def _run(ws: rox.Workspace | rox.impact.ExperienceProfile, **kw) -> ROXModel:
    return rox.impact.rox_model(ws, **{"draws": 3, "placebo": False, **kw})


def test_rox_model_totals_are_the_moved_customers_rox(hand, monkeypatch):
    """The ROX is the sum of the moved customers' (detractors with a purchase) counterfactual -
    observed value; the channels split it; no parameter uncertainty: the interval is the point."""
    Given(monkeypatch)
    result = _run(hand)
    per = result.per_customer()
    assert per["customer_id"].tolist() == ["d1", "d2", "d3", "m1", "n1", "p1", "p2", "p3"]
    assert per["moved"].tolist() == [True] * 3 + [False] * 5
    assert result.moved == 3 and result.customers == 8
    rox_sum = per["rox"].sum()
    assert result.total == pytest.approx(rox_sum) and result.total > 0
    assert result.unweighted_total == pytest.approx(rox_sum)
    assert result.observed_value == pytest.approx(per.loc[per["moved"], "value"].sum())
    assert (result.low, result.high) == pytest.approx((result.total, result.total), rel=1e-9)
    by = result.frame.set_index("channel")
    assert by["rox"].sum() == pytest.approx(result.total)
    for c in mod.CHANNELS:
        assert by.loc[c, "rox"] == pytest.approx(per[c].sum())
        assert by.loc[c, "share"] == pytest.approx(per[c].sum() / rox_sum)
    # one NPS point: 3 detractors of 7 respondents moved one step: 300/7 points
    assert result.nps_point_value == pytest.approx(result.total / (300 / 7))
    assert result.nps_point_low == pytest.approx(result.low / (300 / 7))
    assert result.nps_point_high == pytest.approx(result.high / (300 / 7))
    assert not result.weighted
    # the dropout channel relative to the moved customers' observed value, against the band
    assert result.dropout_gain == pytest.approx(by.loc["dropout", "rox"] / result.observed_value)
    assert result.retention_observed < result.retention_counterfactual
    r0, r1 = result.retention_observed, result.retention_counterfactual
    assert result.elasticity_gain == pytest.approx((r1 / (1.1 - r1)) / (r0 / (1.1 - r0)) - 1)


def test_rox_model_defaults(hand_ws, hand, monkeypatch):
    """Defaults: 3 years, 10% a year, margin 1, a spend scale per group, 200 draws, the placebo
    run, seed 0 (the same as random_state=None)."""
    Given(monkeypatch)
    asked: list[tuple[int, int]] = []
    draws = _Valuation.draws

    def few(self, n, seed):  # the draws asked for recorded, three made (a fast test)
        asked.append((n, seed))
        return draws(self, 3, seed)

    monkeypatch.setattr(_Valuation, "draws", few)
    result = rox.impact.rox_model(hand_ws)  # a workspace: profiled by revenue
    assert asked == [(200, 0), (200, 0)]  # the model's and the placebo's
    assert (result.horizon_years, result.discount_rate, result.margin) == (3.0, 0.1, 1.0)
    assert result.draws == 200 and result.confidence == 0.95
    assert result.spend_levels["group"].tolist() == SPEND_GROUPS
    assert not math.isnan(result.placebo_total)


def test_rox_model_seed_none_is_seed_0(hand, monkeypatch):
    """random_state=None seeds the draws and the placebo's shuffle with 0 (1 shuffles otherwise)."""
    Given(monkeypatch)
    seeded_0 = _run(hand, placebo=True, random_state=0)
    seeded_none = _run(hand, placebo=True, random_state=None)
    assert seeded_none.placebo_total == pytest.approx(seeded_0.placebo_total, rel=1e-12)
    assert _run(hand, placebo=True, random_state=1).placebo_total != pytest.approx(
        seeded_0.placebo_total
    )


def test_placebo_shuffles_the_groups_with_seed_plus_7919(hand, monkeypatch):
    """The placebo is the same valuation on the groups permuted by default_rng(seed + 7919)."""
    given = Given(monkeypatch)
    result = _run(hand, placebo=True, random_state=4)
    shuffled = given.calls[1]
    groups = given.calls[0]["group"].to_numpy()
    by_hand = np.random.default_rng(4 + 7919).permutation(groups)
    assert shuffled["group"].tolist() == by_hand.tolist()
    # no parameter uncertainty given: the placebo's interval is its point
    assert (result.placebo_low, result.placebo_high) == pytest.approx(
        (result.placebo_total, result.placebo_total), rel=1e-9
    )


def test_placebo_that_cannot_be_fitted_is_a_note(hand, monkeypatch):
    Given(monkeypatch, fail=2)
    result = _run(hand, placebo=True)
    assert math.isnan(result.placebo_total) and result.placebo_vanishes is None
    assert any("the placebo model could not be fitted (no fit here)" in n for n in result.notes)


def test_rox_model_spend_by_group_false_has_no_spend_channel(hand, monkeypatch):
    Given(monkeypatch)

    def pooled(frame, groups):
        assert groups == [""]
        return fitting.FitResult(
            np.array([2.0, 3.0, 50.0]), np.full(3, 0.1), -1.0, 1, 0.0, (), np.zeros((3, 3))
        )

    monkeypatch.setattr(mod, "_fit_spend", pooled)
    result = _run(hand, spend_by_group=False)
    assert result.frame.set_index("channel").loc["spend", "rox"] == 0.0
    assert result.spend_levels["group"].tolist() == ["(everyone)"]


def test_interval_is_the_percentiles_of_the_finite_draws(hand, monkeypatch):
    """The interval: the (1 - confidence)/2 and (1 + confidence)/2 percentiles of the draws'
    totals, draws without a finite total left out (and said so)."""
    Given(monkeypatch)
    totals = [float(t) for t in range(1, 41)] + [float("nan"), float("inf")]

    def draws(self, n, seed):
        return [
            _Evaluation(
                observed=np.zeros(8),
                counterfactual=np.zeros(8),
                parts={},
                channels={"purchases": t / 2, "dropout": t / 4, "spend": t / 4},
                total=t,
                unweighted=2 * t,
                per_moved=np.full(3, t),
                b_observed=np.ones(8),
                b_counterfactual=np.ones(8),
                s=2.0,
                p_alive=np.ones(8),
            )
            for t in totals
        ]

    monkeypatch.setattr(_Valuation, "draws", draws)
    result = _run(hand, draws=42, confidence=0.95)
    # 40 finite totals 1..40: position 39 x 0.025 = 0.975 -> 1.975; 39 x 0.975 = 38.025 -> 39.025
    assert (result.low, result.high) == pytest.approx((1.975, 39.025))
    assert (result.unweighted_low, result.unweighted_high) == pytest.approx((3.95, 78.05))
    by = result.frame.set_index("channel")
    assert (by.loc["purchases", "rox_low"], by.loc["purchases", "rox_high"]) == pytest.approx(
        (1.975 / 2, 39.025 / 2)
    )
    assert "2 of 42 parametric draws gave no finite value" in " ".join(result.notes)
    # one NPS point: 300/7 points (3 of 7 respondents one step up), the point and the interval
    assert result.nps_point_value == pytest.approx(result.total / (300 / 7))
    assert (result.nps_point_low, result.nps_point_high) == pytest.approx(
        (1.975 / (300 / 7), 39.025 / (300 / 7))
    )
    # 80%: positions 39 x 0.1 = 3.9 and 39 x 0.9 = 35.1
    result = _run(hand, draws=42, confidence=0.8)
    assert (result.low, result.high) == pytest.approx((4.9, 36.1))
    per = result.per_customer()
    assert per.loc[per["moved"], "rox_low"].tolist() == pytest.approx([4.9] * 3)
    # two finite draws are enough; one is not
    totals[:] = [1.0, 3.0, float("nan")]
    result = _run(hand, draws=3, confidence=0.5)
    assert (result.low, result.high) == pytest.approx((1.5, 2.5))
    totals[:] = [1.0, float("nan"), float("nan")]
    with pytest.raises(ConvergenceError, match="fewer than two"):
        _run(hand, draws=3)


def test_every_draw_finite_no_note(hand, monkeypatch):
    Given(monkeypatch, cov=1e-4)
    result = _run(hand, draws=5)
    assert not any("parametric draws gave no finite value" in n for n in result.notes)
    assert result.low < result.total < result.high


def test_weights_in_rox_model(hand, monkeypatch):
    """Each moved respondent counts weight times; respondents too, in the NPS point."""
    Given(monkeypatch)
    plain = _run(hand)
    weights = pd.Series(
        [2.0, 1.0, 0.5, 1.0, 1.0, 3.0, 1.0], index=["d1", "d2", "d3", "p1", "p2", "p3", "m1"]
    )
    weighted = _run(hand, weights=weights)
    per = plain.per_customer().set_index("customer_id")
    w = weights.reindex(per.index).fillna(0.0)
    assert weighted.weighted
    assert weighted.total == pytest.approx(float((per["rox"] * w).sum()))
    assert weighted.unweighted_total == pytest.approx(plain.total)
    assert weighted.observed_value == pytest.approx(float((per["value"] * w)[per["moved"]].sum()))
    points = 100 * 3.5 / 9.5  # 3.5 detractors moved (weighted) of 9.5 respondents
    assert weighted.nps_point_value == pytest.approx(weighted.total / points)
    assert "Weighted to the customer base" in str(weighted)


def test_within_moves_only_those_and_a_table_works_too(hand, monkeypatch):
    Given(monkeypatch)
    whole = _run(hand).per_customer().set_index("customer_id")
    part = _run(hand, within=["d1", "d3", "p1"])
    assert part.moved == 2 and part.customers == 8
    assert part.total == pytest.approx(whole.loc[["d1", "d3"], "rox"].sum())
    # among the respondents within (d1, d3, p1): 2 of 3 moved, 200/3 points
    assert part.nps_point_value == pytest.approx(part.total / (200 / 3))
    table = ibis.memtable({"customer_id": ["d1", "d3", "p1"]})
    assert _run(hand, within=table).total == pytest.approx(part.total)


def test_argument_bounds(hand, monkeypatch):
    """confidence in (0, 1), at least 2 draws, a positive horizon, margin and rate >= 0."""
    Given(monkeypatch)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(MetricError, match=f"confidence={bad}"):
            _run(hand, confidence=bad)
    assert _run(hand, draws=2).draws == 2  # two draws: enough
    for kw in ({"horizon_years": 0.0}, {"margin": -0.01}, {"discount_rate": -0.01}):
        with pytest.raises(MetricError, match="horizon_years must be positive"):
            _run(hand, **kw)
    free = _run(hand, margin=0.0, discount_rate=0.0, horizon_years=0.5)
    assert free.total == 0.0 and free.margin == 0.0  # no margin: worth nothing
    assert "over 0.5 years" in str(free)


def test_repeat_buyers_needed_in_both_groups(hand, monkeypatch):
    """At least MIN_REPEAT_CUSTOMERS repeat buyers in the moved and the target group: the hand
    detractors have 2, passives 3, promoters 1."""
    Given(monkeypatch)  # MIN_REPEAT_CUSTOMERS = 2
    assert _run(hand).moved == 3  # detractors: exactly 2, enough
    with pytest.raises(MetricError, match=r"'promoter' \(to\) has 1 customers with repeat"):
        _run(hand, move="passive", to="promoter")
    monkeypatch.setattr(mod, "MIN_REPEAT_CUSTOMERS", 3)
    with pytest.raises(MetricError, match=r"'detractor' \(move\) has 2 customers"):
        _run(hand)
    with pytest.raises(MetricError, match=r"'detractor' \(to\) has 2 customers"):
        _run(hand, move="passive", to="detractor")


def test_currency_and_profile_rules(hand, monkeypatch):
    Given(monkeypatch)
    with _workspace() as ws:
        ws.set_setting("currency", "EUR")
        result = _run(rox.impact.profile(ws, value="revenue"))
    assert result.currency == "EUR"
    assert "worth about EUR " in str(result)
    assert _run(hand).currency == ""  # none set: no code
    with pytest.raises(MetricError, match="pass the profile's options to profile"):
        _run(hand, goal="purchase")
    orphan = rox.impact.ExperienceProfile(table=hand.table)
    with pytest.raises(MetricError, match="no workspace to read the transactions"):
        _run(orphan)


def test_implausible_dropout_is_flagged_with_a_note(hand, monkeypatch):
    given = Given(monkeypatch)
    monkeypatch.setattr(mod, "_plausible", lambda gain, elastic: False)
    result = _run(hand)
    assert not result.plausible
    assert any(n.startswith("outside the plausible band") for n in result.notes)
    del given
    monkeypatch.setattr(mod, "_plausible", lambda gain, elastic: True)
    assert not any(n.startswith("outside") for n in _run(hand).notes)


# -- the rows valued, the moves within, the weights ------------------------------------------------
def test_customer_rows_are_the_buyers_rfm_in_weeks_with_their_group(hand):
    """One row per buyer (a1 never bought), ids in order, RFM to the last purchase (2024-12-31)
    in weeks, and the group of ``by`` (no answer: the grouping's last group)."""
    rows = mod._customer_rows(hand, "nps_group")
    assert list(rows.columns) == ["customer_id", "frequency", "recency", "T", "monetary", "group"]
    assert rows.index.tolist() == list(range(8))
    assert rows["customer_id"].tolist() == ["d1", "d2", "d3", "m1", "n1", "p1", "p2", "p3"]
    assert (
        rows["group"].tolist() == ["detractor"] * 3 + ["promoter", "no response"] + ["passive"] * 3
    )
    assert rows["frequency"].tolist() == [2, 1, 0, 1, 1, 2, 1, 1]
    d1 = rows.iloc[0]
    assert d1["T"] == pytest.approx(361 / 7)  # 2024-01-05 to 2024-12-31
    assert d1["recency"] == pytest.approx(157 / 7)  # 2024-01-05 to 2024-06-10
    assert d1["monetary"] == pytest.approx(45.0)  # the repeat purchases' mean: (40 + 50) / 2
    # no CSAT answers at all: everyone is the grouping's 'no response'
    assert set(mod._customer_rows(hand, "csat_band")["group"]) == {"no response"}


def test_no_transactions_is_a_clear_error():
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest(
            "responses",
            pd.DataFrame(
                {"response_id": ["r1"], "customer_id": ["x"], "ts": ["2024-01-01"],
                 "metric": ["nps"], "score": [3.0]}
            ),
        )  # fmt: skip
        p = rox.impact.profile(ws, value="revenue")
        with pytest.raises(MetricError, match="no transactions to fit the ROX model on"):
            mod._customer_rows(p, "nps_group")


def test_within_rules():
    data = pd.DataFrame({"customer_id": ["a", "b", "c"]})
    assert _within(data, None).tolist() == [True, True, True]
    assert _within(data, ["c", "a", "zz"]).tolist() == [True, False, True]
    assert _within(data, ibis.memtable({"customer_id": ["b"]})).tolist() == [False, True, False]
    with pytest.raises(MetricError, match="within= needs a customer_id column"):
        _within(data, ibis.memtable({"id": ["b"]}))
    with pytest.raises(MetricError, match="not one string"):
        _within(data, "a")


class _NonResponse:
    """Stands for rox.impact.NonResponse: its weights() by customer_id."""

    def __init__(self, weights: pd.Series) -> None:
        self._w = weights

    def weights(self) -> pd.Series:
        return self._w


def test_weights_rules():
    """Respondents (valued) need a weight; others weigh 0; weights finite and >= 0."""
    data = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "n"], "group": ["detractor", "passive", "promoter",
                                                         "no response"]}
    )  # fmt: skip
    every = np.ones(4, dtype=bool)
    assert _weights(data, None, "nps_group", every).tolist() == [1.0, 1.0, 1.0, 1.0]
    w = pd.Series([2.0, 0.0, 1.5, 9.0], index=["a", "b", "c", "n"])
    # a weight of 0 is allowed; the non-respondent's weight is not used (0)
    assert _weights(data, w, "nps_group", every).tolist() == [2.0, 0.0, 1.5, 0.0]
    assert _weights(data, _NonResponse(w), "nps_group", every).tolist() == [2.0, 0.0, 1.5, 0.0]
    # a respondent not valued needs no weight; the non-respondent needs none either
    some = np.array([True, True, False, True])
    out = _weights(data, w[["a", "b"]], "nps_group", some)
    assert out.tolist() == [2.0, 0.0, 0.0, 0.0]
    with pytest.raises(MetricError, match="1 respondents of nps_group among the customers valued"):
        _weights(data, w[["a", "b", "n"]], "nps_group", every)
    with pytest.raises(MetricError, match="must be finite and non-negative"):
        _weights(data, w.where(w.index != "a", -0.5), "nps_group", every)
    with pytest.raises(MetricError, match="must be finite and non-negative"):
        _weights(data, w.where(w.index != "c", np.inf), "nps_group", every)
    with pytest.raises(MetricError, match="two weights"):
        _weights(data, pd.concat([w, w[["a"]]]), "nps_group", every)
    with pytest.raises(MetricError, match="expects a NonResponse or a pandas Series"):
        _weights(data, {"a": 1.0}, "nps_group", every)  # type: ignore[arg-type]


# -- the fits' plumbing ----------------------------------------------------------------------------
def _fit_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "frequency": [0, 2, 1, 3, 4],
            "recency": [0.0, 20.0, 10.0, 30.0, 40.0],
            "T": [50.0, 60.0, 40.0, 70.0, 80.0],
            "monetary": [np.nan, 30.0, 50.0, 40.0, 20.0],
            "group": ["detractor", "detractor", "passive", "passive", "detractor"],
        }
    )


class Recorder:
    """In place of rox.value.models.fitting: records what ``fit`` is given, returns ``found``."""

    def __init__(self, found: fitting.FitResult | None, error: Exception | None = None) -> None:
        self.found, self.error = found, error
        self.seen: dict[str, object] = {}
        self.FitResult = fitting.FitResult
        self.parameter_draws = fitting.parameter_draws

    def fit(self, loglik, start, weights, *, names, positive=None, **kw):  # type: ignore[no-untyped-def]
        self.seen.update(
            loglik=loglik, start=start, weights=weights, names=names, positive=positive
        )
        if self.error is not None:
            raise self.error
        return self.found


def test_fit_spend_fits_the_repeat_buyers_with_a_scale_per_group(monkeypatch):
    """Gamma-Gamma on the customers with repeat purchases (frequency > 0); the parameters are
    p, q and one scale per group, each customer's scale gradient in their group's column; the
    start p = 1, q = 2 and every scale the mean spend."""
    found = fitting.FitResult(
        np.array([2.0, 3.0, 10.0, 20.0]), np.full(4, 0.1), -1.0, 1, 0.0, (), np.eye(4)
    )
    rec = Recorder(found)
    monkeypatch.setattr(mod, "fitting", rec)
    got = mod._fit_spend(_fit_frame(), ["detractor", "passive"])
    assert got is found
    assert rec.seen["names"] == ["p", "q", "gamma:detractor", "gamma:passive"]
    assert rec.seen["start"] == pytest.approx([1.0, 2.0, 35.0, 35.0])  # mean of 30, 50, 40, 20
    assert list(rec.seen["weights"]) == [1.0] * 4
    params = np.array([2.0, 3.0, 10.0, 20.0])
    ll, grad = rec.seen["loglik"](params)
    x = np.array([2.0, 1.0, 3.0, 4.0])  # b, c, d, e: a has no repeat purchase
    m = np.array([30.0, 50.0, 40.0, 20.0])
    scale = np.array([10.0, 20.0, 20.0, 10.0])  # detractor, passive, passive, detractor
    ll_gg, grad_gg = mod.gamma_gamma_loglik(2.0, 3.0, scale, x, m)
    assert ll == pytest.approx(ll_gg)
    assert grad[:, :2] == pytest.approx(grad_gg[:, :2])
    assert grad[:, 2] == pytest.approx(np.where([1, 0, 0, 1], grad_gg[:, 2], 0.0))
    assert grad[:, 3] == pytest.approx(np.where([0, 1, 1, 0], grad_gg[:, 2], 0.0))
    # one scale for everyone
    mod._fit_spend(_fit_frame(), [""])
    assert rec.seen["names"] == ["p", "q", "gamma"]
    ll, grad = rec.seen["loglik"](np.array([2.0, 3.0, 10.0]))
    ll_gg, grad_gg = mod.gamma_gamma_loglik(2.0, 3.0, np.full(4, 10.0), x, m)
    assert ll == pytest.approx(ll_gg)
    assert grad == pytest.approx(grad_gg)


def test_fit_spend_refusals(monkeypatch):
    found = fitting.FitResult(np.array([2.0, 1.0, 10.0]), np.full(3, 0.1), -1.0, 1, 0.0, (), None)
    rec = Recorder(found)
    monkeypatch.setattr(mod, "fitting", rec)
    two = _fit_frame().iloc[[0, 1, 2]]  # two repeat buyers: enough to try
    with pytest.raises(ConvergenceError, match="no finite mean spend"):
        mod._fit_spend(two, [""])  # q = 1 and no covariance
    rec.found = fitting.FitResult(np.array([2.0, 1.0, 10.0]), np.full(3, 0.1), -1.0, 1, 0.0, (),
                                  np.eye(3))  # fmt: skip
    with pytest.raises(ConvergenceError, match="no finite mean spend"):
        mod._fit_spend(two, [""])  # q = 1 exactly: no finite mean
    rec.found = fitting.FitResult(np.array([2.0, 1.01, 10.0]), np.full(3, 0.1), -1.0, 1, 0.0, (),
                                  None)  # fmt: skip
    with pytest.raises(ConvergenceError, match="no covariance"):
        mod._fit_spend(two, [""])
    rec.found = fitting.FitResult(np.array([2.0, 1.01, 10.0]), np.full(3, 0.1), -1.0, 1, 0.0, (),
                                  np.eye(3))  # fmt: skip
    assert mod._fit_spend(two, [""]) is rec.found  # q just above 1, with a covariance
    with pytest.raises(ConvergenceError, match="at least two customers with repeat purchases"):
        mod._fit_spend(_fit_frame().iloc[[0, 1]], [""])
    rec.error = ConvergenceError("flat")
    with pytest.raises(ConvergenceError, match="spend model could not be fitted: flat"):
        mod._fit_spend(two, [""])


def test_homogeneous_dropout_fixes_s_at_100(monkeypatch):
    """The refit: s fixed at HOMOGENEOUS_S (left out of the fitted parameters, put back with no
    variance), the other parameters fitted by the same likelihood."""
    frame = _fit_frame()
    frame["is_detractor"] = (frame["group"] == "detractor").astype("float64")
    cov5 = np.arange(25.0).reshape(5, 5)
    found = fitting.FitResult(
        np.array([2.0, 60.0, 300.0, -0.5, 0.4]), np.array([0.1, 0.2, 0.3, 0.4, 0.5]), -7.0, 3,
        0.0, (), cov5,
    )  # fmt: skip
    rec = Recorder(found)
    monkeypatch.setattr(mod, "fitting", rec)
    model = mod._homogeneous_dropout(frame, ["is_detractor"], ["detractor"], ValueError("ridge"))
    assert rec.seen["names"] == [
        "r", "alpha", "beta", "alpha:is_detractor", "beta:is_detractor"
    ]  # fmt: skip
    assert rec.seen["positive"] == [True, True, True, False, False]
    reference = ParetoNBDModel(covariates=["is_detractor"])
    x, tx, t, w, z = reference._data(frame)
    start = reference._start(x, tx, t, w)
    assert rec.seen["start"] == pytest.approx(
        [start[0], start[1], start[1] * 100 / start[2], 0.0, 0.0]
    )
    q = np.array([2.0, 60.0, 300.0, -0.5, 0.4])
    ll, grad = rec.seen["loglik"](q)
    ll_full, grad_full = reference._loglik(np.array([2.0, 60.0, 100.0, 300.0, -0.5, 0.4]),
                                           x, tx, t, z)  # fmt: skip
    assert ll == pytest.approx(ll_full)
    assert grad == pytest.approx(np.delete(grad_full, 2, axis=1))
    assert model.params_.tolist() == pytest.approx([2.0, 60.0, 100.0, 300.0, -0.5, 0.4])
    se = model.standard_errors_.to_numpy()
    assert math.isnan(se[2]) and se[[0, 1, 3, 4, 5]] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    cov = model._fitted().covariance
    assert (cov[2] == 0).all() and (cov[:, 2] == 0).all()
    assert np.delete(np.delete(cov, 2, axis=0), 2, axis=1) == pytest.approx(cov5)
    assert model.n_customers_ == 5.0
    assert model.notes_[0].startswith("the free Pareto/NBD fit ran along the ridge")
    assert "(ridge)" in model.notes_[0] and "1/sqrt(s) = 10%" in model.notes_[0]
    # no covariance, or no fit: a clear error naming both failures
    rec.found = fitting.FitResult(q, np.full(5, 0.1), -7.0, 3, 0.0, (), None)
    with pytest.raises(ConvergenceError, match="common dropout rate per group has no covariance"):
        mod._homogeneous_dropout(frame, ["is_detractor"], ["detractor"], ValueError("ridge"))
    rec.error = ConvergenceError("flat too")
    with pytest.raises(ConvergenceError, match=r"detractor covariates could not be fitted \(ridge"):
        mod._homogeneous_dropout(frame, ["is_detractor"], ["detractor"], ValueError("ridge"))


def test_valuation_fit_falls_back_beyond_s_100_or_without_covariance(monkeypatch):
    """The free fit is kept up to s = 100; beyond it, or without a covariance, the fixed-s refit
    is used and its note kept (the first)."""
    frame = _fit_frame()
    fallbacks: list[str] = []
    refit = ParetoNBDModel(covariates=["is_detractor"])
    refit._fit = fitting.FitResult(np.array([2.0, 60.0, 100.0, 300.0, 0.0, 0.0]),
                                   np.full(6, 0.1), -1.0, 1, 0.0, ("refit note", "second"),
                                   np.eye(6))  # fmt: skip

    def homogeneous(frame, covariates, groups, error):  # type: ignore[no-untyped-def]
        assert covariates == ["is_detractor"] and groups == ["detractor"]
        assert frame["is_detractor"].tolist() == [1.0, 1.0, 0.0, 0.0, 1.0]
        fallbacks.append(str(error))
        return refit

    state = {"s": 100.0, "cov": np.eye(6)}

    class Purchase(ParetoNBDModel):
        def fit(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
            params = np.array([2.0, 60.0, state["s"], 300.0, 0.0, 0.0])
            self._fit = fitting.FitResult(params, np.full(6, 0.1), -1.0, 1, 0.0, (), state["cov"])
            return self

    monkeypatch.setattr(mod, "ParetoNBDModel", Purchase)
    monkeypatch.setattr(mod, "_homogeneous_dropout", homogeneous)
    monkeypatch.setattr(
        mod, "_fit_spend", lambda frame, groups: fitting.FitResult(
            np.array([2.0, 3.0, 10.0, 20.0]), np.full(4, 0.1), -1.0, 1, 0.0, (), np.eye(4)
        )
    )  # fmt: skip

    def fit(**kw):  # type: ignore[no-untyped-def]
        return _Valuation.fit(frame, "detractor", "passive", 3.0, 0.1, 1.0, True, **kw)

    kept = fit()
    assert fallbacks == [] and kept.notes == []
    assert kept.purchase.params_["s"] == 100.0  # s = 100 itself: the free fit stands
    assert kept.covariates == ["is_detractor"] and kept.move_index == 0
    assert kept.moved.tolist() == [True, True, False, False, True]
    assert kept.spend_groups == ["detractor", "passive"]
    assert kept.weight.tolist() == [1.0] * 5
    state["s"] = 100.5
    beyond = fit()
    assert beyond.purchase is refit and beyond.notes == ["refit note"]
    assert fallbacks[-1].startswith("s = 100, beyond 100")
    state["s"], state["cov"] = 2.0, None
    assert fit().purchase is refit and fallbacks[-1] == "no covariance"
    # moved: the detractors within; the weights as given
    state["cov"] = np.eye(6)
    within = fit(valued=np.array([True, False, True, True, True]), weight=np.arange(5.0))
    assert within.moved.tolist() == [True, False, False, False, True]
    assert within.weight.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # the target group is the reference: move promoter-like 'passive' to 'detractor'
    other = _Valuation.fit(frame, "passive", "detractor", 3.0, 0.1, 1.0, True)
    assert other.covariates == ["is_passive"] and other.moved.tolist() == [
        False, False, True, True, False
    ]  # fmt: skip


# -- rules added after the first retry -------------------------------------------------------------
def test_discounted_life_a_last_part_month_is_discounted_at_the_horizon():
    """Months end every 1/12 year; a horizon a few days past a month end ends one more, short,
    period discounted at the horizon (a month end closer than 1e-9 weeks to it is the horizon)."""
    month = 365.25 / 12 / 7
    h_years = 1 / 12 + 3 / 365.25  # a month and three days
    h = h_years * WEEKS_PER_YEAR
    s, b = 3.0, 50.0

    def f(t: float) -> float:  # E[(1 - exp(-mu t)) / mu], mu ~ Gamma(3, 50)
        return b / (s - 1) * (1 - (b / (b + t)) ** (s - 1))

    by_hand = f(month) / 1.1 ** (1 / 12) + (f(h) - f(month)) / 1.1**h_years
    got = mod._discounted_life(np.array([b]), s, h_years, 0.10)
    assert got == pytest.approx([by_hand], rel=1e-12)


def test_retention_with_little_chance_of_being_alive(hand, monkeypatch):
    """P(alive) weights summing to less than 1 still give the weighted average."""
    v = _three_groups()
    point = v.evaluate(_params((0.0, 0.0), (LN2, 0.0)), v.spend.params)
    pa = np.array([0.4, 0.3, 0.0, 1.0, 1.0, 1.0, 1.0])
    low = point.__class__(**{**point.__dict__, "p_alive": pa})
    b0 = P_BETA / 2 + np.array([50.0, 80.0])
    r0, _ = v.retention(low)
    assert r0 == pytest.approx(
        float(
            (
                0.4 * (b0[0] / (b0[0] + WEEKS_PER_YEAR)) ** P_S
                + 0.3 * (b0[1] / (b0[1] + WEEKS_PER_YEAR)) ** P_S
            )
            / 0.7
        )
    )


def test_no_retention_before_no_elasticity(hand, monkeypatch):
    """An observed retention of 0 has no elasticity (NaN), and the band then holds."""
    Given(monkeypatch)
    monkeypatch.setattr(_Valuation, "retention", lambda self, point: (0.0, 0.5))
    result = _run(hand)
    assert math.isnan(result.elasticity_gain) and result.plausible


def test_a_group_without_any_repeat_buyer_has_zero(hand, monkeypatch):
    """A group absent from the repeat buyers counts 0 of them (here with a minimum of 1)."""
    Given(monkeypatch)
    monkeypatch.setattr(mod, "MIN_REPEAT_CUSTOMERS", 1)
    with pytest.raises(MetricError, match=r"'not satisfied' \(move\) has 0 customers"):
        _run(hand, by="csat_band")


def test_a_buyer_the_profile_lacks_is_in_the_no_answer_group(hand):
    """A profile narrowed by the caller (here without d3) leaves buyers out: the ROX model still
    values them, in the grouping's last group (no response)."""
    narrowed = dataclasses.replace(hand, table=hand.table.filter(hand.table.customer_id != "d3"))
    rows = mod._customer_rows(narrowed, "nps_group").set_index("customer_id")
    assert rows.loc["d3", "group"] == "no response"
    assert rows.loc["d1", "group"] == "detractor"


def test_spend_levels_just_above_q_1_are_finite():
    """q = 1.5: a finite mean spend gamma p / (q - 1) = 2 gamma p."""
    v = _three_groups()
    v.spend = fitting.FitResult(np.array([3.0, 1.5, 30.0]), np.full(3, np.nan), 0.0, 0, 0.0)
    v.spend_groups = [""]
    assert v.spend_levels()["mean_spend"].tolist() == pytest.approx([30.0 * 3 / 0.5])
