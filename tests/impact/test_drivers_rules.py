"""Rules of :func:`rox.impact.key_drivers` that the driver tests do not pin down (#22).

Each test states the rule it checks: the documented defaults, the argument checks on both sides
of their bounds, the cut-offs of the binary outcomes on both sides, the columns worked out by
hand. Expected values come from the data as a reader writes them down (NumPy's Pearson
correlation on hand-set labels, means and ranges by hand), never from the code under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rox.errors import MetricError
from rox.impact import _importance as imp
from rox.impact import key_drivers
from rox.impact.drivers import _check_corr, _Driver, _percentiles, _ranks, _themes_to_leave_out
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _answers(ws, nps, drivers: dict[str, np.ndarray], ids=None) -> list[str]:
    """NPS (0-10) and CSAT (1-5) answers at touchpoints, one per customer; NaN: no answer."""
    ids = ids or [f"C{i:04d}" for i in range(len(nps))]
    rows = [
        {"customer_id": c, "metric": "nps", "score": float(s), "scale": "0-10",
         "touchpoint": "relationship"}
        for c, s in zip(ids, nps, strict=True) if not np.isnan(s)
    ]  # fmt: skip
    for tp, scores in drivers.items():
        rows += [
            {"customer_id": c, "metric": "csat", "score": float(s), "scale": "1-5",
             "touchpoint": tp}
            for c, s in zip(ids, scores, strict=True) if not np.isnan(s)
        ]  # fmt: skip
    insert_rows(ws, "responses", pd.DataFrame(rows).assign(ts=T0))
    return ids


def _random(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """NPS driven by two CSAT touchpoints (a strongly, b weakly), integers as answered."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, n).astype(float)
    b = rng.integers(1, 6, n).astype(float)
    nps = np.clip(np.round(1.2 * a + 0.4 * b + rng.normal(0, 1.5, n)), 0, 10)
    return nps, {"a": a, "b": b}


def test_defaults_are_the_documented_ones(ws):
    """500 replicates over 200 blocks (as many as customers below 200), seed 0, 95%, pairwise."""
    nps, drivers = _random(250, seed=1)
    _answers(ws, nps, drivers)
    result = key_drivers(ws, "nps")
    # every customer answered everything: each replicate's matrix is a Gram matrix, positive
    # definite, so none is left out
    assert (result.blocks, result.n_boot, result.level) == (200, 500, 0.95)
    assert (result.missing, result.n_customers, result.n_dropped) == ("pairwise", 250, 0)
    seeded = key_drivers(ws, "nps", seed=0)
    pd.testing.assert_frame_equal(result.to_frame(), seeded.to_frame())
    assert result.r2_low == seeded.r2_low
    assert key_drivers(ws, "nps", seed=1).r2_low != result.r2_low


@pytest.fixture
def sparse(ws):
    """40 customers; CSAT at c answered by the first 30 of them, at d by the first 29."""
    nps, drivers = _random(40, seed=3)
    drivers["c"] = np.where(np.arange(40) < 30, drivers["b"], np.nan)
    drivers["d"] = np.where(np.arange(40) < 29, drivers["b"], np.nan)
    _answers(ws, nps, {"a": drivers["a"], "c": drivers["c"], "d": drivers["d"]})
    return ws


def test_min_n_default_is_30_customers_a_pair(sparse):
    """Pairwise, a correlation resting on 30 customers is kept by default, on 29 refused."""
    kept = key_drivers(sparse, "nps", drivers=["csat:a", "csat:c"], n_boot=0)
    assert kept.frame.set_index("driver").loc["csat:c", "n"] == 30
    with pytest.raises(
        MetricError, match=r"only 29 customers have both the outcome and 'csat:d' \(min_n=30\)"
    ):
        key_drivers(sparse, "nps", drivers=["csat:a", "csat:d"], n_boot=0)
    assert key_drivers(sparse, "nps", drivers=["csat:d"], n_boot=0, min_n=29).n_customers == 29


def _churn_data(ws, days_before_end: np.ndarray, seed: int) -> np.ndarray:
    """Customers whose last purchase is ``days_before_end`` days before the data's last day."""
    n = len(days_before_end)
    nps, drivers = _random(n, seed=seed)
    ids = _answers(ws, nps, drivers)
    end = pd.Timestamp("2025-01-01 12:00", tz="UTC")
    last = end - pd.to_timedelta(days_before_end, unit="D")
    tx = pd.DataFrame(
        {
            "customer_id": ids * 2,
            "ts": [*([end - pd.Timedelta(days=900)] * n), *last],
            "amount": 10.0,
        }
    )
    insert_rows(ws, "transactions", tx)
    return drivers["a"]


def test_churn_default_is_more_than_365_days_without_a_purchase(ws):
    """365 days since the last purchase is not churn; 366 is (the default ``inactive_after``)."""
    rng = np.random.default_rng(4)
    days = rng.choice([0, 365, 366, 700], size=60)
    days[0] = 0  # the data's last day
    a = _churn_data(ws, days, seed=4)
    churned = (days > 365).astype(float)
    assert 0 < churned.sum() < 60 and (days == 365).any() and (days == 366).any()
    result = key_drivers(ws, "churn", drivers=["csat:a"], n_boot=0)
    assert result.n_customers == 60
    expected = np.corrcoef(a, churned)[0, 1]
    assert result.frame["correlation"].iloc[0] == pytest.approx(expected, rel=1e-9)
    # with a 365-day cut written out, the same labels
    again = key_drivers(ws, "churn", drivers=["csat:a"], n_boot=0, inactive_after=365)
    pd.testing.assert_frame_equal(again.to_frame(), result.to_frame())


def test_min_mentions_default_is_10_customers(ws):
    """A theme joined unnamed needs 10 of the customers analysed to mention it by default."""
    nps, drivers = _random(40, seed=5)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    mentions = pd.DataFrame(
        {
            "customer_id": [*ids[:10], *ids[20:29], *ids[30:32], *ids[32:34], *ids[10:20], None],
            "theme": ["ten"] * 10
            + ["nine"] * 9
            + ["two"] * 2
            + ["deux"] * 2
            + [None] * 10
            + ["ten"],
        }
    )  # (a mention without a theme or without a customer is no mention)
    result = key_drivers(ws, "nps", drivers=["csat:a"], themes=mentions, n_boot=0)
    assert list(result.frame["driver"].sort_values()) == ["csat:a", "theme:ten"]
    assert result.themes_left_out == {
        "theme:nine": "mentioned by 9 of the customers analysed (min_mentions=10)",
        "theme:deux": "mentioned by 2 of the customers analysed (min_mentions=10)",
        "theme:two": "mentioned by 2 of the customers analysed (min_mentions=10)",
    }
    # in the themes' order: most mentioned first, then by label
    assert list(result.themes_left_out) == ["theme:nine", "theme:deux", "theme:two"]
    ten = np.isin(ids, ids[:10]).astype(float)
    frame = result.frame.set_index("driver")
    assert frame.loc["theme:ten", "correlation"] == pytest.approx(np.corrcoef(ten, nps)[0, 1])
    assert frame.loc["theme:ten", "performance"] == 0.25  # 10 of 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_boot": -1}, "n_boot=-1"),
        ({"blocks": 1}, "blocks=1"),
        ({"min_n": 1}, "min_n=1"),
        ({"min_mentions": 0}, "min_mentions=0"),
        ({"level": 0.0}, "level=0.0 must lie strictly between 0 and 1"),
        ({"missing": "listwise"}, "missing='listwise'; expected 'complete' or 'pairwise'"),
    ],
)
def test_arguments_just_outside_their_bounds_are_refused(ws, kwargs, message):
    nps, drivers = _random(40, seed=6)
    _answers(ws, nps, drivers)
    with pytest.raises(MetricError, match=message):
        key_drivers(ws, "nps", **kwargs)


def test_arguments_at_their_bounds_are_allowed(ws):
    """n_boot 0, blocks 2, min_n 2 and min_mentions 1 are the smallest allowed."""
    nps, drivers = _random(40, seed=6)
    ids = _answers(ws, nps, drivers)
    mentions = pd.DataFrame({"customer_id": ids[:3], "theme": "three"})
    result = key_drivers(
        ws, "nps", n_boot=0, blocks=2, min_n=2, min_mentions=1, themes=mentions, level=0.5
    )
    assert (result.n_boot, result.blocks, result.themes_left_out) == (0, 2, {})
    assert np.isnan(result.r2_low) and np.isnan(result.frame["rw_low"]).all()


def test_percentile_interval_by_hand():
    """The 2.5% and 97.5% points (here 25% and 75%: level 0.5) of the replicates, NumPy's linear
    interpolation; fewer than two replicates give no interval."""
    values = np.array([4.0, 1.0, 3.0, 2.0, 5.0])
    assert _percentiles(values, 0.5) == (2.0, 4.0)  # positions 1 and 3 of 0..4, sorted
    assert _percentiles(values, 0.8) == pytest.approx((1.4, 4.6))  # positions 0.4 and 3.6
    lo, hi = _percentiles(np.array([1.0, 3.0]), 0.5)
    assert (lo, hi) == (1.5, 2.5)
    assert all(np.isnan(_percentiles(np.array([1.0]), 0.5)))
    assert all(np.isnan(_percentiles(np.array([]), 0.5)))


def test_ranks_largest_first_ties_in_driver_order():
    np.testing.assert_array_equal(_ranks(np.array([0.1, 0.3, 0.3, 0.2])), [4, 1, 2, 3])


def test_detractor_is_a_mean_nps_answer_at_or_below_6(ws):
    """A customer whose NPS answers average 6 (5 and 7) is a detractor; 6.5 (6 and 7) is not."""
    rng = np.random.default_rng(7)
    n = 60
    first = rng.choice([3, 5, 6, 7, 9], size=n).astype(float)
    second = np.where(first == 5, 7.0, np.where(first == 6, rng.choice([6.0, 7.0], n), np.nan))
    a = rng.integers(1, 6, n).astype(float)
    ids = _answers(ws, first, {"a": a})
    more = [
        {"customer_id": c, "metric": "nps", "score": s, "scale": "0-10", "touchpoint": "x"}
        for c, s in zip(ids, second, strict=True)
        if not np.isnan(s)
    ]
    insert_rows(ws, "responses", pd.DataFrame(more).assign(ts=T0))
    mean = np.where(np.isnan(second), first, (first + np.nan_to_num(second)) / 2)
    detractor = (mean <= 6).astype(float)
    assert (mean == 6).any() and (mean == 6.5).any() and 0 < detractor.sum() < n
    result = key_drivers(ws, "detractor", drivers=["csat:a"], n_boot=0)
    expected = np.corrcoef(a, detractor)[0, 1]
    assert result.frame["correlation"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert result.binary and result.missing == "complete"


def test_performance_columns_by_hand(ws):
    """performance is the driver's mean; performance_pct puts it on 0-100 of the observed range."""
    nps = np.array([9, 7, 3, 8, 10, 2, 6, 5, 9, 4], dtype=float)
    a = np.array([5, 4, 1, 4, 5, 2, 3, 2, 4, 1], dtype=float)  # range 1-5, mean 3.1
    b = np.array([3, 3, 2, np.nan, 4, 2, np.nan, 3, 2, 3], dtype=float)  # range 2-4, mean 2.75
    _answers(ws, nps, {"a": a, "b": b})
    result = key_drivers(ws, "nps", min_n=5, n_boot=0)
    frame = result.frame.set_index("driver")
    assert frame.loc["csat:a", "performance"] == pytest.approx(3.1)
    assert frame.loc["csat:a", "performance_pct"] == pytest.approx(100 * (3.1 - 1) / 4)
    assert frame.loc["csat:b", "performance"] == pytest.approx(2.75)
    assert frame.loc["csat:b", "performance_pct"] == pytest.approx(100 * (2.75 - 2) / 2)
    assert list(frame.loc[["csat:a", "csat:b"], "n"]) == [10, 8]
    # the shares of R**2 in percent
    r2 = result.r2
    np.testing.assert_allclose(frame["rw_pct"], 100 * frame["rw"] / r2)
    np.testing.assert_allclose(frame["lmg_pct"], 100 * frame["lmg"] / r2)
    assert frame["rw_pct"].sum() == pytest.approx(100)


def test_no_complete_case_counts_the_customers_with_some_driver(ws):
    """Complete cases: nobody answered at both a and b, so none is kept out of 40 with some."""
    nps, drivers = _random(40, seed=8)
    first = np.arange(40) < 20
    _answers(ws, nps, {"a": np.where(first, drivers["a"], np.nan),
                       "b": np.where(first, np.nan, drivers["b"])})  # fmt: skip
    with pytest.raises(MetricError, match=r"only 0 of the 40 customers with the outcome and some"):
        key_drivers(ws, "nps", missing="complete")


def test_an_attribute_needs_two_values_and_a_known_type(ws):
    nps, drivers = _random(40, seed=9)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    region = np.where(np.arange(40) < 25, "north", "south")
    insert_rows(
        ws,
        "customers",
        pd.DataFrame({"customer_id": ids, "region": region, "segment": "gold",
                      "first_seen": T0}),
    )  # fmt: skip
    result = key_drivers(ws, "nps", attributes=["region"], n_boot=0)
    frame = result.frame.set_index("driver")
    assert sorted(frame.index) == ["csat:a", "region=south"]  # north (25 of 40): the reference
    assert frame.loc["region=south", "kind"] == "attribute"
    south = (region == "south").astype(float)
    assert frame.loc["region=south", "correlation"] == pytest.approx(np.corrcoef(south, nps)[0, 1])
    with pytest.raises(MetricError, match=r"customers\.segment has fewer than two values"):
        key_drivers(ws, "nps", attributes=["segment"], n_boot=0)
    with pytest.raises(MetricError, match=r"customers\.first_seen is .*expected a number, boolean"):
        key_drivers(ws, "nps", attributes=["first_seen"], n_boot=0)
    for hidden in ("_key", "customer_id"):  # no drivers: the id, rox's columns
        with pytest.raises(MetricError, match=r"\(columns: first_seen, segment, region\)$"):
            key_drivers(ws, "nps", attributes=[hidden], n_boot=0)
    # an attribute both named as a driver and given in attributes= is one driver
    once = key_drivers(ws, "nps", drivers=["csat:a", "region"], attributes=["region"], n_boot=0)
    assert sorted(once.frame["driver"]) == ["csat:a", "region=south"]
    with pytest.raises(MetricError, match="a driver is named twice"):
        key_drivers(ws, "nps", drivers=["csat:a", "csat:a"], n_boot=0)


def test_themes_that_add_up_to_one_with_a_tie_leave_out_the_first_label(ws):
    """Every customer mentions exactly one theme; p and q are tied as the most mentioned (15
    each), so the first in the drivers' order (most mentioned, then by label) is the reference."""
    nps, drivers = _random(40, seed=10)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    theme = ["q"] * 15 + ["p"] * 15 + ["r"] * 10
    result = key_drivers(
        ws,
        "nps",
        drivers=["csat:a"],
        themes=pd.DataFrame({"customer_id": ids, "theme": theme}),
        n_boot=0,
    )
    assert list(result.themes_left_out) == ["theme:p"]
    assert sorted(result.frame["driver"]) == ["csat:a", "theme:q", "theme:r"]


def test_an_outcome_without_variation_has_nothing_to_explain(ws):
    _, drivers = _random(40, seed=11)
    _answers(ws, np.full(40, 8.0), drivers)
    with pytest.raises(
        MetricError,
        match=r"^the outcome has the same value for every customer analysed; nothing to explain$",
    ):
        key_drivers(ws, "nps", n_boot=0)


def test_answers_on_two_scales_are_refused(ws):
    nps, drivers = _random(40, seed=12)
    ids = _answers(ws, nps, drivers)
    other = pd.DataFrame({"customer_id": ids[:3], "metric": "csat", "score": 7.0,
                          "scale": "1-10", "touchpoint": "a"})  # fmt: skip
    insert_rows(ws, "responses", other.assign(ts=T0))
    with pytest.raises(MetricError, match="csat answers come on several scales"):
        key_drivers(ws, "nps", n_boot=0)


def test_nps_answers_on_two_scales_are_refused_for_its_outcomes(ws):
    nps, drivers = _random(40, seed=13)
    ids = _answers(ws, nps, drivers)
    other = pd.DataFrame({"customer_id": ids[:3], "metric": "nps", "score": 3.0,
                          "scale": "1-5", "touchpoint": "b"})  # fmt: skip
    insert_rows(ws, "responses", other.assign(ts=T0))
    with pytest.raises(MetricError, match="nps answers come on several scales"):
        key_drivers(ws, "nps", drivers=["csat:a"], n_boot=0)


def test_csat_outcome_is_explained_by_ces_touchpoints(ws):
    """The csat outcome: each customer's mean CSAT answer; its default drivers are CES."""
    rng = np.random.default_rng(14)
    n = 40
    ids = [f"C{i:04d}" for i in range(n)]
    csat_a = rng.integers(1, 6, n).astype(float)
    csat_b = rng.integers(1, 6, n).astype(float)
    ces = np.clip(np.round(csat_a + rng.normal(0, 1, n)), 1, 7)
    rows = pd.concat(
        [
            pd.DataFrame({"customer_id": ids, "metric": "csat", "score": csat_a, "scale": "1-5",
                          "touchpoint": "a"}),
            pd.DataFrame({"customer_id": ids, "metric": "csat", "score": csat_b, "scale": "1-5",
                          "touchpoint": "b"}),
            pd.DataFrame({"customer_id": ids, "metric": "ces", "score": ces, "scale": "1-7",
                          "touchpoint": "checkout"}),
        ]
    )  # fmt: skip
    insert_rows(ws, "responses", rows.assign(ts=T0))
    result = key_drivers(ws, "csat", n_boot=0)
    assert list(result.frame["driver"]) == ["ces:checkout"]
    expected = np.corrcoef(ces, (csat_a + csat_b) / 2)[0, 1]
    assert result.frame["correlation"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert result.r2 == pytest.approx(expected**2, rel=1e-9)
    with pytest.raises(MetricError, match="no nps answers carry a touchpoint; name the drivers"):
        key_drivers(ws, "csat", driver_metric="nps", n_boot=0)
    # the outcome's own answers need one scale too
    other = pd.DataFrame({"customer_id": ids[:2], "metric": "csat", "score": 8.0,
                          "scale": "1-10", "touchpoint": "c"})  # fmt: skip
    insert_rows(ws, "responses", other.assign(ts=T0))
    with pytest.raises(MetricError, match="csat answers come on several scales"):
        key_drivers(ws, "csat", n_boot=0)


def test_a_named_theme_without_themes_analyses_the_comments(ws):
    """``themes=None`` with a driver named ``theme:<label>``: the comments are analysed (rox.voice)
    and the label looked up among their themes."""
    nps, drivers = _random(40, seed=15)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    text = np.where(np.arange(40) % 2 == 0, "The app crashes on login", "Good service overall")
    comments = pd.DataFrame({"customer_id": ids, "metric": "nps", "score": nps, "scale": "0-10",
                             "touchpoint": "relationship", "comment": text})  # fmt: skip
    insert_rows(ws, "responses", comments.assign(ts=T0))
    with pytest.raises(MetricError, match=r"'theme:nowhere': no comment has the theme 'nowhere'"):
        key_drivers(ws, "nps", drivers=["csat:a", "theme:nowhere"], n_boot=0)


def test_lmg_for_at_most_15_drivers(ws):
    """LMG (2**p subsets) is computed for up to 15 drivers; with 16 its columns are empty."""
    rng = np.random.default_rng(16)
    n = 80
    scores = {f"t{k:02d}": rng.integers(1, 6, n).astype(float) for k in range(16)}
    nps = np.clip(np.round(sum(scores.values()) / 4 + rng.normal(0, 1, n)), 0, 10)
    _answers(ws, nps, scores)
    fifteen = key_drivers(ws, "nps", drivers=[f"csat:t{k:02d}" for k in range(15)], n_boot=0)
    assert np.isfinite(fifteen.frame["lmg"]).all()
    assert fifteen.frame["lmg"].sum() == pytest.approx(fifteen.r2)
    sixteen = key_drivers(ws, "nps", n_boot=20)  # (nor for the replicates)
    assert len(sixteen.frame) == 16 and sixteen.frame["lmg"].isna().all()
    assert sixteen.frame["lmg_low"].isna().all() and sixteen.frame["rw_low"].notna().all()
    assert sixteen.frame["rank_lmg"].isna().all() and not sixteen.frame["ranks_differ"].any()


def test_default_drivers_are_the_touchpoints_of_customers_answers(ws):
    """Answers without a customer or without a touchpoint name no default driver."""
    nps, drivers = _random(40, seed=17)
    _answers(ws, nps, drivers)
    stray = pd.DataFrame(
        {"customer_id": [None, "C0001"], "metric": "csat", "score": 4.0, "scale": "1-5",
         "touchpoint": ["ghost", None]}
    )  # fmt: skip
    insert_rows(ws, "responses", stray.assign(ts=T0))
    result = key_drivers(ws, "nps", n_boot=0)
    assert sorted(result.frame["driver"]) == ["csat:a", "csat:b"]
    with pytest.raises(MetricError, match=r"no csat answers at touchpoint 'ghost'; expected"):
        key_drivers(ws, "nps", drivers=["csat:ghost"], n_boot=0)


def test_numeric_and_boolean_attributes_as_they_are_text_tied_by_value(ws):
    """Numbers and booleans are drivers as they are (True as 1); a text column's reference is its
    most frequent value, the first by value among ties (x and y: 20 customers each)."""
    nps, drivers = _random(40, seed=18)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    age = 20.0 + np.arange(40) % 7 * 5
    vip = np.arange(40) % 3 == 0
    ws.ingest(
        "customers",
        pd.DataFrame({"customer_id": ids, "age": age.astype(int), "vip": vip,
                      "segment": np.where(np.arange(40) % 2 == 0, "y", "x")}),
    )  # fmt: skip
    result = key_drivers(ws, "nps", attributes=["age", "vip", "segment"], n_boot=0)
    frame = result.frame.set_index("driver")
    assert sorted(frame.index) == ["age", "csat:a", "segment=y", "vip"]
    assert frame.loc["age", "performance"] == pytest.approx(age.mean())
    assert frame.loc["vip", "performance"] == pytest.approx(vip.mean())
    for name, x in (("age", age), ("vip", vip.astype(float))):
        assert frame.loc[name, "correlation"] == pytest.approx(np.corrcoef(x, nps)[0, 1])


def test_two_themes_that_add_up_to_one_leave_the_more_mentioned_out(ws):
    """Two themes, one per customer: yes (25) and no (15) add up to 1, so yes is the reference."""
    nps, drivers = _random(40, seed=20)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    theme = ["no"] * 15 + ["yes"] * 25
    mentions = pd.DataFrame({"customer_id": ids, "theme": theme})
    result = key_drivers(ws, "nps", drivers=["csat:a"], themes=mentions, n_boot=0)
    assert list(result.themes_left_out) == ["theme:yes"]
    assert result.themes_left_out["theme:yes"].startswith("the reference")
    assert sorted(result.frame["driver"]) == ["csat:a", "theme:no"]


#: The outcome (first) and three drivers, written out: relative weights rank the third driver
#: first and LMG the second (their 0.2577 vs 0.2517 and 0.2468 vs 0.2409); both put the first
#: driver last.
THREE = np.array(
    [
        [1.0, 0.36, 0.43, -0.46],
        [0.36, 1.0, 0.24, -0.67],
        [0.43, 0.24, 1.0, 0.21],
        [-0.46, -0.67, 0.21, 1.0],
    ]
)


def _exactly_correlated(corr: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows whose sample correlation matrix is ``corr`` (whitened noise times Cholesky)."""
    e = np.random.default_rng(seed).normal(size=(n, len(corr)))
    e -= e.mean(axis=0)
    e = e @ np.linalg.inv(np.linalg.cholesky(np.cov(e, rowvar=False))).T
    return 5 + e @ np.linalg.cholesky(corr).T


def _r2_of(corr: np.ndarray, subset: tuple[int, ...]) -> float:
    """R**2 of the outcome (0) on the drivers ``subset``: r' R^-1 r."""
    if not subset:
        return 0.0
    r = corr[0, list(subset)]
    return float(r @ np.linalg.solve(corr[np.ix_(subset, subset)], r))


def test_relative_weights_lmg_and_the_rank_flag_on_three_drivers_by_hand(ws):
    """Johnson's weights (Lambda = R_xx^1/2 by eigendecomposition, beta = Lambda^-1 r_xy, weight_j
    = sum_k Lambda_jk**2 beta_k**2) and LMG (each driver's gain in R**2 averaged over the 6 orders)
    of a written-out matrix; ``ranks_differ`` is True for the two drivers the methods swap, False
    for the one both put last."""
    data = _exactly_correlated(THREE, n=40, seed=21)
    np.testing.assert_allclose(np.corrcoef(data, rowvar=False), THREE, atol=1e-12)
    _answers(ws, data[:, 0], {"x": data[:, 1], "y": data[:, 2], "z": data[:, 3]})
    vals, vecs = np.linalg.eigh(THREE[1:, 1:])
    lam = vecs @ np.diag(np.sqrt(vals)) @ vecs.T
    beta = np.linalg.solve(lam, THREE[1:, 0])
    rw = lam**2 @ beta**2
    gains = np.zeros(3)
    for order in itertools.permutations((1, 2, 3)):
        for k, j in enumerate(order):
            gains[j - 1] += _r2_of(THREE, order[: k + 1]) - _r2_of(THREE, order[:k])
    lmg = gains / 6
    r2 = _r2_of(THREE, (1, 2, 3))
    assert np.argsort(-rw).tolist() == [2, 1, 0] and np.argsort(-lmg).tolist() == [1, 2, 0]

    result = key_drivers(ws, "nps", n_boot=0)
    frame = result.frame.set_index("driver").loc[["csat:x", "csat:y", "csat:z"]]
    np.testing.assert_allclose(frame["rw"], rw, rtol=1e-9)
    np.testing.assert_allclose(frame["lmg"], lmg, rtol=1e-9)
    np.testing.assert_allclose(frame["correlation"], THREE[1:, 0], rtol=1e-9)
    assert result.r2 == pytest.approx(r2, rel=1e-9)
    np.testing.assert_allclose(frame["rw_pct"], 100 * rw / r2, rtol=1e-9)
    np.testing.assert_allclose(frame["lmg_pct"], 100 * lmg / r2, rtol=1e-9)
    assert frame["rank_rw"].tolist() == [3, 2, 1]
    assert frame["rank_lmg"].tolist() == [3, 1, 2]
    assert frame["ranks_differ"].tolist() == [False, True, True]
    # most important (relative weight) first, numbered from 0, the documented columns only
    assert result.frame["driver"].tolist() == ["csat:z", "csat:y", "csat:x"]
    assert result.frame.index.tolist() == [0, 1, 2]
    assert result.frame.columns.tolist() == [
        "driver", "kind", "metric", "touchpoint", "n", "performance", "performance_pct",
        "correlation", "rw", "rw_low", "rw_high", "rw_pct", "lmg", "lmg_low", "lmg_high",
        "lmg_pct", "rank_rw", "rank_lmg", "ranks_differ", "label",
    ]  # fmt: skip


def _weighted_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Pearson's r of the rows repeated ``w`` times (NumPy's frequency weights)."""
    c = np.cov(x, y, fweights=w)
    return float(c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]))


def test_bootstrap_resamples_blocks_dealt_in_turn_by_customer_id(ws):
    """The customers, in customer_id order, are dealt into ``blocks`` blocks in turn (the i-th,
    from 0, into block i mod blocks); a replicate draws as many blocks with replacement, uniformly
    (multinomial counts from NumPy's generator seeded with ``seed``), and each pairwise correlation
    is that of the customers having both variables, each counted as often as its block was drawn.
    Replicates whose matrix is not positive definite (smallest eigenvalue at or below 1e-8) are left
    out; R**2's interval is the 10% and 90% points (level 0.8) of the others."""
    rng = np.random.default_rng(22)
    n, blocks, n_boot, seed = 15, 4, 60, 5
    a = rng.integers(1, 6, n).astype(float)
    b = rng.integers(1, 6, n).astype(float)
    b[[2, 7, 11]] = np.nan  # missing answers: pairwise correlations
    nps = np.clip(np.round(a + 0.5 * np.nan_to_num(b, nan=3) + rng.normal(0, 1, n)), 0, 10)
    ids = [f"K{i:02d}" for i in range(n)]
    order = np.argsort(ids)[::-1]  # inserted in reverse: the dealing follows the ids, not the rows
    _answers(ws, nps[order], {"a": a[order], "b": b[order]}, ids=[ids[i] for i in order])
    result = key_drivers(ws, "nps", blocks=blocks, n_boot=n_boot, seed=seed, min_n=5, level=0.8)
    assert result.blocks == blocks
    draws = np.random.default_rng(seed).multinomial(blocks, np.full(blocks, 1 / blocks), n_boot)
    has_b = ~np.isnan(b)
    r2s = []
    for counts in draws:
        w = counts[np.arange(n) % blocks]
        r_a = _weighted_corr(nps, a, w)
        r_b = _weighted_corr(nps[has_b], b[has_b], w[has_b])
        r_ab = _weighted_corr(a[has_b], b[has_b], w[has_b])
        corr = np.array([[1, r_a, r_b], [r_a, 1, r_ab], [r_b, r_ab, 1]])
        if np.isfinite(corr).all() and np.linalg.eigvalsh(corr)[0] > 1e-8:
            r2s.append(_r2_of(corr, (1, 2)))
    assert 0 < len(r2s) < n_boot  # some replicates are left out, most are kept
    assert result.n_boot == len(r2s)
    assert (result.r2_low, result.r2_high) == pytest.approx(np.quantile(r2s, [0.1, 0.9]), rel=1e-9)
    # as many blocks as customers at most: 15 of 200
    assert key_drivers(ws, "nps", n_boot=0, min_n=5).blocks == n


@pytest.fixture
def gappy(ws):
    """30 customers with NPS and CSAT at a and b, 5 with NPS and a only, 3 with NPS only, 4 with
    a and b and no NPS answer."""
    nps, drivers = _random(42, seed=23)
    a, b = drivers["a"], drivers["b"].copy()
    nps[38:] = np.nan
    a[35:38] = np.nan
    b[30:38] = np.nan
    _answers(ws, nps, {"a": a, "b": b})
    return ws


def test_customers_analysed_have_the_outcome_and_some_driver(gappy):
    """Pairwise: the customers analysed are the 35 with an NPS answer and some driver; each
    driver's ``n`` counts those of them who have it."""
    result = key_drivers(gappy, "nps", n_boot=0, min_n=20)
    assert (result.n_customers, result.n_dropped) == (35, 0)
    assert result.frame.set_index("driver")["n"].to_dict() == {"csat:a": 35, "csat:b": 30}


def test_complete_cases_drop_those_missing_a_driver_at_min_n_and_below(gappy):
    """Complete cases: the 30 with every driver are kept, the 5 with the outcome and only a are
    dropped (neither the 3 without a driver nor the 4 without NPS count); 30 complete cases meet
    min_n=30, not 31 (whatever the number of blocks)."""
    result = key_drivers(gappy, "nps", missing="complete", blocks=4, n_boot=0)
    assert (result.n_customers, result.n_dropped, result.blocks) == (30, 5, 4)
    with pytest.raises(
        MetricError,
        match=r"only 30 of the 35 customers with the outcome and some driver have every driver "
        r"\(min_n=31\)",
    ):
        key_drivers(gappy, "nps", missing="complete", blocks=4, min_n=31, n_boot=0)


def test_pairwise_with_fewer_customers_than_min_n_names_the_pair(ws):
    """Pairwise, 29 customers with NPS and one driver: the pair (outcome, driver) is below
    min_n=30 and named; with min_n=29 it is kept."""
    nps, drivers = _random(29, seed=24)
    _answers(ws, nps, {"a": drivers["a"]})
    with pytest.raises(
        MetricError, match=r"^only 29 customers have both the outcome and 'csat:a' \(min_n=30\)"
    ):
        key_drivers(ws, "nps", n_boot=0)
    assert key_drivers(ws, "nps", n_boot=0, min_n=29).n_customers == 29


def test_a_constant_outcome_or_driver_is_named_with_its_role(ws):
    """A variable with one value over every customer analysed: the outcome has nothing to explain,
    a driver cannot be one; one constant only among the customers of a pair names the pair."""
    nps, drivers = _random(40, seed=25)
    a, b = drivers["a"], drivers["b"].copy()
    b[:30] = 3.0  # constant among the 30 who answered at a, varied among the other 10
    a[30:] = np.nan
    c = np.full(40, 4.0)
    _answers(ws, nps, {"a": a, "b": b, "c": c})
    with pytest.raises(
        MetricError,
        match=r"^'csat:b' has the same value for every customer who has 'csat:a' \(or the "
        r"reverse\), so their correlation is undefined",
    ):
        key_drivers(ws, "nps", drivers=["csat:a", "csat:b"], n_boot=0)
    with pytest.raises(
        MetricError,
        match=r"^'csat:c' has the same value for every customer analysed; it cannot be a driver$",
    ):
        key_drivers(ws, "nps", drivers=["csat:b", "csat:c"], n_boot=0)


@pytest.mark.parametrize(("value", "n"), [(0.1, 113), (0.7, 37), (2.2, 113), (123.456, 113)])
def test_a_constant_attribute_is_refused_whatever_the_rounding_of_its_sums(ws, value, n):
    """An attribute with one value for every customer cannot be a driver, also when the rounding
    of its sums leaves it a tiny variance (n * sum(x**2) - sum(x)**2 of 113 times 0.1 is not 0):
    its smallest and largest values are equal. (Regression: these were kept, with a correlation
    of rounding noise, about 5e-8, and no performance_pct.)"""
    nps, drivers = _random(n, seed=27)
    ids = _answers(ws, nps, {"a": drivers["a"]})
    ws.ingest("customers", pd.DataFrame({"customer_id": ids, "w": value}))
    with pytest.raises(
        MetricError, match=r"^'w' has the same value for every customer analysed; it cannot be a"
    ):
        key_drivers(ws, "nps", attributes=["w"], n_boot=0)


def test_a_smallest_eigenvalue_at_1e_8_is_singular():
    """The correlation matrix is refused when its smallest eigenvalue is at or below 1e-8 (a
    diagonal matrix's eigenvalues are its diagonal, exactly); just above, it is accepted."""
    specs = [_Driver("csat:a", metric="csat", touchpoint="a")]
    with pytest.raises(MetricError, match=r"singular or not positive definite .*around 'csat:a'"):
        _check_corr(np.diag([1.0, 1e-8]), specs, np.zeros(2, dtype=bool))
    _check_corr(np.diag([1.0, np.nextafter(1e-8, 1.0)]), specs, np.zeros(2, dtype=bool))


def test_themes_whose_block_has_an_eigenvalue_at_1e_8_add_up_to_one(monkeypatch):
    """Themes joined unnamed: their correlation block counts as singular (they add up to one,
    the most mentioned is the reference) at a smallest eigenvalue of 1e-8, not just above."""
    specs = [_Driver("theme:p", theme="p"), _Driver("theme:q", theme="q")]
    # one block: 20 customers, p mentioned by 12, q by 8; every pair has all 20
    n = np.full((1, 3, 3), 20.0)
    s = np.zeros((1, 3, 3))
    s[0, 0, :] = 100.0
    s[0, 1, :] = 12.0
    s[0, 2, :] = 8.0
    stats = {"N": n, "S": s, "Q": s.copy(), "P": np.zeros((1, 3, 3))}
    for smallest, left_out in ((1e-8, ["theme:p"]), (np.nextafter(1e-8, 1.0), [])):
        monkeypatch.setattr(imp, "pair_correlations", lambda *_, v=smallest: np.diag([1.0, v]))
        assert list(_themes_to_leave_out(stats, specs, min_mentions=5)) == left_out
