"""did()'s rules, each stated and checked on hand figures (#22: mutation testing's survivors).

The ``spread`` workspace has NPS answers in each of the four parts of a 100-day ``before`` window
(start 2024-07-01 UTC, so ``lo`` = 2024-03-23 and each part 25 days: from 03-23, 04-17, 05-12 and
06-06), answers on the windows' edges (one at ``lo``, one at a part's first instant, one at the
start, one at ``hi`` = 2024-10-09), and a control part with a single answer. The expected figures
come from the scores by :func:`_nps` below (written from the definitions, not from rox) and from
numpy's weighted ``polyfit`` for the pre-period trend.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.impact import Target, did
from rox.impact.did import did_estimate, trend_difference

START = "2024-07-01"
T0 = pd.Timestamp(START, tz="UTC")
LO = T0 - pd.Timedelta(days=100)  # 2024-03-23
HI = T0 + pd.Timedelta(days=100)  # 2024-10-09
Z95 = 1.959963984540054

#: The before window's NPS scores by group and part (25 days each), and the after window's.
TARGET_PARTS = [[10, 0], [10, 8], [10, 10, 0], [0, 8]]
CONTROL_PARTS = [[10, 0], [10, 0], [7], [10, 0]]
TARGET_AFTER = [10, 10, 9, 7]  # the 10 first is given at the start itself
CONTROL_AFTER = [10, 7, 0, 8]


def _nps(scores: list[int]) -> tuple[float, float]:
    """NPS points and the variance of that mean: 100^2 (p + d - (p - d)^2) / n."""
    n = len(scores)
    p = sum(s >= 9 for s in scores) / n
    d = sum(s <= 6 for s in scores) / n
    return 100 * (p - d), 1e4 * (p + d - (p - d) ** 2) / n


def _responses(rows: list[tuple[str, pd.Timestamp, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "metric": "nps",
            "score": [float(r[2]) for r in rows],
        }
    )


@pytest.fixture
def spread():
    with rox.open("duckdb://:memory:") as ws:
        ids = [f"{g}{i}" for g in "tc" for i in range(1, 5)]
        ws.ingest("customers", pd.DataFrame({"customer_id": ids, "segment": list("ttttcccc")}))
        day = pd.Timedelta(days=1)
        rows: list[tuple[str, pd.Timestamp, int]] = []
        for g, parts in (("t", TARGET_PARTS), ("c", CONTROL_PARTS)):
            for k, scores in enumerate(parts):
                part = LO + k * 25 * day
                for i, s in enumerate(scores):
                    # the first answer of each part at its first instant (part 0: at lo itself)
                    rows.append((f"{g}{i + 1}", part + i * 3 * day, s))
        for g, scores in (("t", TARGET_AFTER), ("c", CONTROL_AFTER)):
            rows += [(f"{g}{i + 1}", T0 + i * 20 * day, s) for i, s in enumerate(scores)]
        rows.append(("t1", HI, 0))  # at hi: outside the after window (end exclusive)
        ws.ingest("responses", _responses(rows))
        # transactions over a longer span than the answers (the default window is the answers')
        ws.ingest(
            "transactions",
            pd.DataFrame(
                {
                    "customer_id": ["c1", "c1"],
                    "ts": ["2024-01-01", "2024-12-01"],
                    "amount": [5.0, 5.0],
                    "order_id": ["o1", "o2"],
                }
            ),
        )
        yield ws


def _flat(parts: list[list[int]]) -> list[int]:
    return [s for part in parts for s in part]


def test_nps_did_counts_lo_and_the_start_in_and_hi_out(spread):
    # the four cells by hand: the answer at lo is in the before window, the one at the start in
    # the after window, the one at hi in neither
    target = Target("segment", ("t",)).customers(spread)
    result = did(spread, target, START, window_days=100)
    cells = {
        ("target", "before"): _nps(_flat(TARGET_PARTS)),
        ("target", "after"): _nps(TARGET_AFTER),
        ("control", "before"): _nps(_flat(CONTROL_PARTS)),
        ("control", "after"): _nps(CONTROL_AFTER),
    }
    effect = (cells["target", "after"][0] - cells["target", "before"][0]) - (
        cells["control", "after"][0] - cells["control", "before"][0]
    )
    se = math.sqrt(sum(v for _, v in cells.values()))
    assert result.effect == pytest.approx(effect)
    assert result.se == pytest.approx(se)
    assert result.low == pytest.approx(effect - Z95 * se)
    assert result.high == pytest.approx(effect + Z95 * se)
    assert result.p_value == pytest.approx(math.erfc(abs(effect / se) / math.sqrt(2)))
    frame = result.frame.set_index(["group", "window"])
    for key, (mean, var) in cells.items():
        assert frame.loc[key, "mean"] == pytest.approx(mean)
        assert frame.loc[key, "se"] == pytest.approx(math.sqrt(var))
    assert frame.loc[("target", "before"), "n"] == 9  # with the answer at lo
    assert frame.loc[("target", "after"), "n"] == 4  # with the one at the start, not at hi
    assert result.before == (LO, T0) and result.after == (T0, HI)


def test_pre_period_trend_is_the_weighted_slope_over_the_four_parts(spread):
    # one point per 25-day part, at its middle in years; D_k target minus control, V_k the sum of
    # the two cells' variances (control's part 2 has one answer: NPS 0, variance 0)
    target = Target("segment", ("t",)).customers(spread)
    result = did(spread, target, START, window_days=100)
    years = (np.arange(4) + 0.5) * 25 / 365.25
    d = np.array(
        [_nps(t)[0] - _nps(c)[0] for t, c in zip(TARGET_PARTS, CONTROL_PARTS, strict=True)]
    )
    v = np.array(
        [_nps(t)[1] + _nps(c)[1] for t, c in zip(TARGET_PARTS, CONTROL_PARTS, strict=True)]
    )
    coef, cov = np.polyfit(years, d, 1, w=1 / np.sqrt(v), cov="unscaled")
    assert result.trend == pytest.approx(coef[0])
    assert result.trend_se == pytest.approx(math.sqrt(cov[0, 0]))
    p = math.erfc(abs(coef[0] / math.sqrt(cov[0, 0])) / math.sqrt(2))
    assert result.trend_p == pytest.approx(p)
    assert 0.05 < p < 0.95
    assert result.parallel  # p above 1 - 0.95
    # parallel while the p-value is at least 1 - confidence, not parallel below
    assert did(spread, target, START, window_days=100, confidence=1 - p + 1e-6).parallel
    assert not did(spread, target, START, window_days=100, confidence=1 - p - 1e-6).parallel
    assert "NOT parallel" not in str(result)


def test_default_window_is_the_longest_the_answers_fit(spread):
    # answers from lo to hi: 100 days each side (the transactions' span, 153 days after the start,
    # is not the answers')
    target = Target("segment", ("t",)).customers(spread)
    result = did(spread, target, START)
    assert result.before == (LO, T0) and result.after == (T0, HI)


def test_one_part_is_allowed_and_leaves_trends_untestable(spread):
    target = Target("segment", ("t",)).customers(spread)
    result = did(spread, target, START, window_days=100, bins=1)
    assert result.effect == pytest.approx(did(spread, target, START, window_days=100).effect)
    assert math.isnan(result.trend) and math.isnan(result.trend_p)
    assert result.parallel  # not testable counts as compatible
    with pytest.raises(MetricError, match="bins=0: expected at least 1"):
        did(spread, target, START, window_days=100, bins=0)


def test_confidence_strictly_between_0_and_1(spread):
    target = Target("segment", ("t",)).customers(spread)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(MetricError, match="expected a level between 0 and 1"):
            did(spread, target, START, window_days=100, confidence=bad)
    result = did(spread, target, START, window_days=100, confidence=0.5)
    assert result.high - result.low == pytest.approx(2 * 0.6744897501960817 * result.se)


def test_window_days_at_least_one(spread):
    target = Target("segment", ("t",)).customers(spread)
    with pytest.raises(MetricError, match="window_days=0: expected a positive number"):
        did(spread, target, START, window_days=0)


def test_empty_cells_are_named(spread):
    # a 2-day window: no answer before the start (the last are on 06-09), the start's after
    target = Target("segment", ("t",)).customers(spread)
    with pytest.raises(
        MetricError, match=r"^no NPS answers in target before, control before: nothing to compare$"
    ):
        did(spread, target, START, window_days=2)


@pytest.fixture
def edges():
    """t1 and c1 answer 10 at 2024-07-01 12:00 and 2024-07-02 00:00 (the first and last answers)."""
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("customers", pd.DataFrame({"customer_id": ["t1", "c1"], "segment": ["t", "c"]}))
        first, last = (
            pd.Timestamp("2024-07-01 12:00", tz="UTC"),
            pd.Timestamp("2024-07-02", tz="UTC"),
        )
        rows = [(c, ts, 10) for c in ("t1", "c1") for ts in (first, last)]
        ws.ingest("responses", _responses(rows))
        yield ws


def test_start_must_be_after_the_first_answer_and_at_most_the_last(edges):
    target = Target("segment", ("t",)).customers(edges)
    first, last = pd.Timestamp("2024-07-01 12:00", tz="UTC"), pd.Timestamp("2024-07-02", tz="UTC")
    for outside in (first, last + pd.Timedelta(seconds=1)):
        with pytest.raises(MetricError, match="is not inside the responses"):
            did(edges, target, outside)
    for inside in (first + pd.Timedelta(seconds=1), last):
        result = did(edges, target, inside)  # the window: 1 day (the shortest)
        assert result.after == (inside, inside + pd.Timedelta(days=1))
        # every answer 10: no change and no variance, so no p-value
        assert result.effect == 0.0 and result.se == 0.0
        assert math.isnan(result.p_value)
        assert result.parallel and math.isnan(result.trend_p)


def test_did_estimate_uses_all_four_cells():
    # (30 - 10) - (17 - 12) = 15; se sqrt(4 + 4 + 1 + 1)
    cells = pd.DataFrame(
        {"mean": [10.0, 30.0, 12.0, 17.0], "var": [4.0, 4.0, 1.0, 1.0]},
        index=pd.MultiIndex.from_tuples(
            [("target", "before"), ("target", "after"), ("control", "before"), ("control", "after")]
        ),
    )
    assert did_estimate(cells) == (15.0, math.sqrt(10.0))


def test_trend_difference_drops_points_not_finite_or_without_variance():
    # three good points (slope 1 through (0, 0), (1, 1), (2, 2)) and one bad point each time:
    # a NaN time, a NaN difference, an infinite or zero variance
    good_t, good_d, good_v = [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]
    for t, d, v in ((np.nan, 9.0, 1.0), (3.0, np.nan, 1.0), (3.0, 9.0, np.inf), (3.0, 9.0, 0.0)):
        slope, se, _ = trend_difference([*good_t, t], [*good_d, d], [*good_v, v])
        assert slope == pytest.approx(1.0)
        assert se == pytest.approx(math.sqrt(1 / 2))  # 1 / sum (t - 1)^2
    # two good points and a bad one: too few
    for v in (np.inf, 0.0):
        assert math.isnan(trend_difference([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1.0, 1.0, v])[0])


def test_trend_difference_p_value_is_two_sided_normal():
    # slope 1, se sqrt(1/2): z = sqrt 2, p = erfc(z / sqrt 2) = erfc(1)
    _, _, p = trend_difference([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    assert p == pytest.approx(math.erfc(1.0))


#: Spend: (customer, when, amount, product). The panel (first purchase before lo) is t1-t3 and
#: c1-c3; t4's first purchase is inside the windows, c4's at lo itself (not before it: not in the
#: panel). Every before part has purchases of both groups; one purchase at lo (in), one at a
#: part's first instant, one at the start (after), one at hi (out).
PURCHASES = [
    *[(c, pd.Timestamp("2024-01-01", tz="UTC"), 5.0, "shop") for c in ("t1", "t2", "t3")],
    *[(c, pd.Timestamp("2024-01-01", tz="UTC"), 5.0, "shop") for c in ("c1", "c2", "c3")],
    ("t1", LO, 10.0, "shop"),
    ("c1", LO + pd.Timedelta(days=2), 10.0, "shop"),
    ("t2", LO + pd.Timedelta(days=25), 20.0, "shop"),
    ("c2", LO + pd.Timedelta(days=28), 5.0, "care"),
    ("t1", LO + pd.Timedelta(days=58), 10.0, "shop"),
    ("t3", LO + pd.Timedelta(days=58), 10.0, "shop"),
    ("c1", LO + pd.Timedelta(days=53), 10.0, "shop"),
    ("t2", LO + pd.Timedelta(days=80), 5.0, "shop"),
    ("c3", LO + pd.Timedelta(days=80), 10.0, "shop"),
    ("t1", T0, 30.0, "care"),
    ("t3", T0 + pd.Timedelta(days=31), 15.0, "shop"),
    ("c1", T0 + pd.Timedelta(days=31), 10.0, "care"),
    ("c3", T0 + pd.Timedelta(days=45), 25.0, "shop"),
    ("t3", HI, 1000.0, "shop"),
    ("t4", T0 + pd.Timedelta(days=31), 500.0, "shop"),
    ("c4", LO, 7.0, "shop"),  # a first purchase at lo itself: not before the windows
]


def _spending(purchases):
    ws = rox.open("duckdb://:memory:")
    ids = [f"{g}{i}" for g in "tc" for i in range(1, 5)]
    ws.ingest("customers", pd.DataFrame({"customer_id": ids, "segment": list("ttttcccc")}))
    ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [p[0] for p in purchases],
                "ts": [p[1] for p in purchases],
                "amount": [p[2] for p in purchases],
                "product": [p[3] for p in purchases],
                "order_id": [f"o{i}" for i in range(len(purchases))],
            }
        ),
    )
    return ws


@pytest.fixture
def spending():
    with _spending(PURCHASES) as ws:
        yield ws


PANEL = {"target": ["t1", "t2", "t3"], "control": ["c1", "c2", "c3"]}


def _spent(
    customer: str, start: pd.Timestamp, end: pd.Timestamp, products=None, purchases=PURCHASES
) -> float:
    """What ``customer`` spent from ``start`` (inclusive) to ``end`` (exclusive)."""
    return sum(
        a
        for c, ts, a, p in purchases
        if c == customer and start <= ts < end and (products is None or p in products)
    )


def _changes(group: str, products=None) -> np.ndarray:
    return np.array(
        [_spent(c, T0, HI, products) - _spent(c, LO, T0, products) for c in PANEL[group]]
    )


def test_spend_did_is_welch_on_the_panels_changes(spending):
    # the changes after - before of the panel (t4 bought first inside: not in it), the purchase at
    # lo before, the one at the start after, the one at hi in neither; Welch's variance
    target = Target("segment", ("t",)).customers(spending)
    result = did(spending, target, START, outcome="spend", window_days=100)
    t, c = _changes("target"), _changes("control")
    assert t.tolist() == [10.0, -25.0, 5.0] and c.tolist() == [-10.0, -5.0, 15.0]
    effect = t.mean() - c.mean()
    se = math.sqrt(t.var(ddof=1) / 3 + c.var(ddof=1) / 3)
    assert result.effect == pytest.approx(effect)
    assert result.se == pytest.approx(se)
    frame = result.frame.set_index(["group", "window"])
    assert frame.loc[("target", "after - before"), "n"] == 3
    assert frame.loc[("target", "before"), "mean"] == pytest.approx(55 / 3)
    assert frame.loc[("target", "after"), "mean"] == pytest.approx(45 / 3)


#: The purchases without t2's of day 25: the target's panel buys nothing in the second part.
QUIET_PART = [p for p in PURCHASES if p[:3] != ("t2", LO + pd.Timedelta(days=25), 20.0)]


@pytest.mark.parametrize("purchases", [PURCHASES, QUIET_PART], ids=["every_part", "quiet_part"])
def test_spend_trend_is_the_weighted_slope_of_spend_per_panel_customer(purchases):
    # each part's spend per panel customer (0 for those who did not buy in it) by group, its
    # variance s^2 / 3; D_k and V_k as for NPS. A part in which a group's panel bought nothing is
    # a mean of 0 with variance 0 for that group (not a part left out of the trend).
    assert len(QUIET_PART) == len(PURCHASES) - 1
    with _spending(purchases) as ws:
        target = Target("segment", ("t",)).customers(ws)
        result = did(ws, target, START, outcome="spend", window_days=100)
    d, v = [], []
    for k in range(4):
        a, b = LO + pd.Timedelta(days=25 * k), LO + pd.Timedelta(days=25 * (k + 1))
        spent = {
            g: np.array([_spent(c, a, b, purchases=purchases) for c in PANEL[g]]) for g in PANEL
        }
        d.append(spent["target"].mean() - spent["control"].mean())
        v.append(spent["target"].var(ddof=1) / 3 + spent["control"].var(ddof=1) / 3)
    years = (np.arange(4) + 0.5) * 25 / 365.25
    coef, cov = np.polyfit(years, d, 1, w=1 / np.sqrt(v), cov="unscaled")
    assert result.trend == pytest.approx(coef[0])
    assert result.trend_se == pytest.approx(math.sqrt(cov[0, 0]))


def test_spend_trend_untestable_when_the_target_bought_nothing_before(spending):
    # of the product care, the target bought only after the start: no before part to compare
    target = Target("segment", ("t",)).customers(spending)
    result = did(spending, target, START, outcome="spend", window_days=100, products=("care",))
    t, c = _changes("target", {"care"}), _changes("control", {"care"})
    assert result.effect == pytest.approx(t.mean() - c.mean())
    assert math.isnan(result.trend) and result.parallel
    frame = result.frame.set_index(["group", "window"])["mean"]
    assert frame["target", "before"] == 0.0 and frame["target", "after"] == pytest.approx(10.0)


def test_spend_needs_two_panel_customers_in_each_group(spending):
    two = ibis.memtable({"customer_id": ["t1", "t2"]})  # t3 joins the control
    result = did(spending, two, START, outcome="spend", window_days=100)
    t = _changes("target")[:2]
    c = np.append(_changes("control"), _changes("target")[2])
    assert result.effect == pytest.approx(t.mean() - c.mean())
    with pytest.raises(MetricError, match="need at least 2 customers who bought before"):
        did(spending, ibis.memtable({"customer_id": ["t1"]}), START, outcome="spend",
            window_days=100)  # fmt: skip


def test_covers_includes_both_ends_and_str_names_the_unit(spread, spending):
    target = Target("segment", ("t",)).customers(spread)
    nps = did(spread, target, START, window_days=100)
    assert nps.covers(nps.low) and nps.covers(nps.high)
    assert not nps.covers(nps.low - 1e-9) and not nps.covers(nps.high + 1e-9)
    assert str(nps).startswith("Difference in differences (NPS points): ")
    spenders = Target("segment", ("t",)).customers(spending)
    spend = did(spending, spenders, START, outcome="spend", window_days=100)
    assert str(spend).startswith("Difference in differences (spend per customer): ")


def test_default_window_is_whole_days_up_to_the_last_answer(spread):
    # 2 s after the start: the last answer (at hi) is 100 days - 2 s later; the longest window of
    # whole days that still holds it (end exclusive) is 99 days, though 100 days fit before
    target = Target("segment", ("t",)).customers(spread)
    t0 = T0 + pd.Timedelta(seconds=2)
    result = did(spread, target, t0)
    assert result.after == (t0, t0 + pd.Timedelta(days=99))


def test_window_of_one_day_is_allowed(edges):
    target = Target("segment", ("t",)).customers(edges)
    last = pd.Timestamp("2024-07-02", tz="UTC")
    result = did(edges, target, last, window_days=1)
    assert result.before == (last - pd.Timedelta(days=1), last)


@pytest.fixture
def cents(ingest_purchases):
    """t1, t2 (target) and c1, c2 bought on 2024-01-01, then a little around 2024-07-01."""
    with rox.open("duckdb://:memory:") as ws:
        ids = ["t1", "t2", "c1", "c2"]
        ws.ingest("customers", pd.DataFrame({"customer_id": ids, "segment": list("ttcc")}))
        before, after = "2024-06-15", "2024-07-15"
        tx = [(c, "2024-01-01", 1.0) for c in ids]
        tx += [(c, before, 1.0) for c in ids]
        tx += [("t1", after, 1.1), ("t2", after, 1.3), ("c1", after, 1.0), ("c2", after, 1.2)]
        ingest_purchases(ws, tx)
        yield ws


def test_p_value_whenever_the_standard_error_is_positive(cents):
    # changes: target 0.1, 0.3; control 0, 0.2: effect 0.1, se sqrt(0.02 / 2 + 0.02 / 2) = 0.14
    target = Target("segment", ("t",)).customers(cents)
    result = did(cents, target, START, outcome="spend", window_days=30)
    assert result.effect == pytest.approx(0.1)
    assert result.se == pytest.approx(math.sqrt(0.02))
    assert result.p_value == pytest.approx(math.erfc(0.1 / math.sqrt(0.02) / math.sqrt(2)))
