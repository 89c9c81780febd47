"""Comparisons, rule by rule: periods, p-value corrections, thresholds, verdicts, paired bootstrap.

Written for the mutation score of ``rox.experience.compare`` (#22): each test states the rule it
checks, with the expected value worked out by hand or from an independent formula written out
here (scipy's Welch test, the Holm and Benjamini-Hochberg definitions, the bootstrap replayed),
never from the code under test; thresholds are tested on both sides.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rox.errors import MetricError
from rox.experience import compare
from rox.experience.compare import OTHERS, adjust_pvalues, parse_period
from rox.testing import responses_frame as responses

Z95 = stats.norm.ppf(0.975)  # 1.959964
Z80 = stats.norm.ppf(0.8)  # 0.841621


def _periods(a_scores, b_scores, metric="nps", a_day="2024-01-15", b_day="2024-02-15", **columns):
    """Responses of ``a_scores`` on ``a_day`` and of ``b_scores`` on ``b_day``."""
    frame = pd.concat([responses(metric, a_scores), responses(metric, b_scores)])
    frame["ts"] = pd.to_datetime([a_day] * len(a_scores) + [b_day] * len(b_scores), utc=True)
    for name, values in columns.items():
        frame[name] = values
    return frame.reset_index(drop=True)


# -- periods --------------------------------------------------------------------------------------
def test_half_years_and_iso_weeks():
    # H1 is January to July, H2 July to January; with or without the dash
    assert parse_period("2024H1")[:2] == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-07-01"))
    assert parse_period("2023-H2")[:2] == (pd.Timestamp("2023-07-01"), pd.Timestamp("2024-01-01"))
    # ISO week 5 of 2024 starts on Monday 29 January (week 1 starts on Monday 1 January 2024)
    assert parse_period("2024W05") == (
        pd.Timestamp("2024-01-29"),
        pd.Timestamp("2024-02-05"),
        "2024W05",
    )


def test_pairs_and_triples_of_dates():
    s, e, label = parse_period(("2024-03-01", "2024-04-15"))
    assert (s, e, label) == (
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-04-15"),
        "2024-03-01 to 2024-04-15",
    )
    assert parse_period(["2024-03-01", "2024-04-15", "spring"])[2] == "spring"
    # time zones are dropped (the responses are compared in UTC wall time)
    s, _, _ = parse_period((pd.Timestamp("2024-03-01", tz="UTC"), "2024-04-01"))
    assert s == pd.Timestamp("2024-03-01") and s.tz is None


def test_a_time_of_day_is_one_period_not_a_range():
    # one colon separates START:END; a time of day (two colons) is read as one period, a second
    s, e, label = parse_period("2024-03-05 10:00:00")
    assert (s, e, label) == (
        pd.Timestamp("2024-03-05 10:00:00"),
        pd.Timestamp("2024-03-05 10:00:01"),
        "2024-03-05 10:00:00",
    )


def test_a_period_must_end_after_it_starts():
    # the end is excluded: a period of one day is the shortest a START:END of dates can be
    s, e, _ = parse_period("2024-03-09:2024-03-10")
    assert e - s == pd.Timedelta(days=1)
    with pytest.raises(MetricError, match="ends before it starts"):
        parse_period("2024-03-09:2024-03-09")
    with pytest.raises(MetricError, match="ends before it starts"):
        parse_period(("2024-03-10", "2024-03-09"))


def test_unreadable_periods_are_explained():
    with pytest.raises(MetricError, match="cannot read the period 5"):
        parse_period(5)
    with pytest.raises(MetricError, match="'soon' or 'later' is not a date"):
        parse_period("soon:later")
    with pytest.raises(MetricError, match="cannot read the period 'spring'"):
        parse_period("spring")


# -- multiple comparisons -------------------------------------------------------------------------
def test_holm_by_hand():
    # Holm (1979): sort p ascending, multiply the i-th (from 0) by m - i, running maximum, cap 1
    # sorted 0.01, 0.04, 0.045, 0.5 -> 0.04, 0.12, 0.09, 0.5 -> running max 0.04, 0.12, 0.12, 0.5
    p = [0.5, 0.01, 0.045, 0.04]
    assert adjust_pvalues(p, "holm") == pytest.approx([0.5, 0.04, 0.12, 0.12])
    # the cap at 1: 2 x 0.6 = 1.2 -> 1, and the running maximum carries it to 0.7
    assert adjust_pvalues([0.7, 0.6], "holm") == pytest.approx([1.0, 1.0])


def test_benjamini_hochberg_by_hand():
    # BH (1995): the i-th smallest (from 1) times m / i, then the minimum over it and every
    # larger one; sorted 0.01, 0.04, 0.045, 0.5 -> 0.04, 0.08, 0.06, 0.5 -> 0.04, 0.06, 0.06, 0.5
    p = [0.5, 0.01, 0.045, 0.04]
    assert adjust_pvalues(p, "bh") == pytest.approx([0.5, 0.04, 0.06, 0.06])
    # the largest is never raised: with m = 2, 0.9 x 2 / 1 = 1.8 but 0.95 x 2 / 2 = 0.95 below it
    assert adjust_pvalues([0.9, 0.95], "bh") == pytest.approx([0.95, 0.95])


def test_nan_p_values_are_left_out_of_the_family():
    # two real p-values: m = 2, not 3
    got = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert np.isnan(got[1])
    assert got[[0, 2]] == pytest.approx([0.02, 0.04])
    assert np.isnan(adjust_pvalues([np.nan, np.nan], "holm")).all()
    assert adjust_pvalues([0.2, np.nan, 0.01], "none")[[0, 2]] == pytest.approx([0.2, 0.01])
    with pytest.raises(MetricError, match="unknown correction 'sidak'"):
        adjust_pvalues([0.1, 0.2], "sidak")  # type: ignore[arg-type]
    # a family of one is checked too (and left as it is by either correction)
    with pytest.raises(MetricError, match="unknown correction 'sidak'"):
        adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]
    assert adjust_pvalues([0.1], "holm") == adjust_pvalues([0.1], "bh") == pytest.approx([0.1])


# -- arguments ------------------------------------------------------------------------------------
def test_bad_arguments_are_explained(load):
    ws = load(responses("nps", [10, 0, 9, 3], channel=["web", "web", "app", "app"]))
    with pytest.raises(MetricError, match="unknown metric 'ltv'"):
        compare(ws, "ltv", by="channel")
    for alpha in (0.0, 1.0):
        with pytest.raises(MetricError, match="alpha must be between 0 and 1"):
            compare(ws, "nps", by="channel", alpha=alpha)
    with pytest.raises(MetricError, match="periods must be two periods"):
        compare(ws, "nps", periods=["2024-01", "2024-02", "2024-03"])
    with pytest.raises(MetricError, match="one column at a time"):
        compare(ws, "nps", by=["channel", "touchpoint"])
    with pytest.raises(MetricError, match="groups must be two values"):
        compare(ws, "nps", by="channel", groups=["web", "app", "web"])
    with pytest.raises(MetricError, match="no nps responses with channel = 'shop'"):
        compare(ws, "nps", by="channel", groups=["web", "shop"])
    # paired: no customer answered in both periods; within groups, no group to compare
    with pytest.raises(MetricError, match="no customer answered nps in both 2023 and 2024"):
        compare(ws, "nps", periods=["2023", "2024"], by="channel", paired=True)
    row = compare(ws, "nps", periods=["2023", "2024"], paired=True).frame.iloc[0]
    assert (row["n_a"], row["n_b"], bool(row["low_n"])) == (0, 0, True)
    assert np.isnan(row["difference"]) and np.isnan(row["p_value"])


def test_a_column_without_responses_has_no_groups(load):
    ws = load(responses("nps", [10, 0]))
    with pytest.raises(MetricError, match="channel has fewer than two groups with csat responses"):
        compare(ws, "csat", by="channel")


# -- the figures of a comparison ------------------------------------------------------------------
def test_ces_interval_is_welchs(load):
    a = [2, 3, 4, 3, 2, 3, 1, 5] * 4  # 32 responses
    b = [5, 6, 4, 5, 6, 7] * 6  # 36
    ws = load(_periods(a, b, "ces"))
    for alpha in (0.05, 0.10):
        row = compare(ws, "ces", periods=["2024-01", "2024-02"], alpha=alpha).frame.iloc[0]
        welch = stats.ttest_ind(b, a, equal_var=False)
        ci = welch.confidence_interval(1 - alpha)
        assert row["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert row["difference"] == pytest.approx(np.mean(b) - np.mean(a))
    assert "points on the 1-7 scale higher in 2024-02" in row["verdict"]


def test_nps_interval_at_another_level_and_detectable_difference(load):
    # the case of test_nps_difference_by_hand, at alpha = 0.10: diff ± 1.644854 se
    a = [10] * 20 + [8] * 10 + [3] * 10
    b = [10] * 30 + [8] * 5 + [3] * 5
    ws = load(_periods(a, b))
    pa, da, pb, db = 20.75 / 43, 10.75 / 43, 30.75 / 43, 5.75 / 43
    se = 100 * np.sqrt((pa + da - (pa - da) ** 2) / 43 + (pb + db - (pb - db) ** 2) / 43)
    diff = 100 * ((pb - db) - (pa - da))
    row = compare(ws, "nps", periods=["2024-01", "2024-02"], alpha=0.1).frame.iloc[0]
    z90 = stats.norm.ppf(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((diff - z90 * se, diff + z90 * se))
    # smallest difference detected at 80% power by a two-sided test at alpha: (z_a/2 + z_power) se
    assert row["detectable"] == pytest.approx((z90 + Z80) * se)
    row = compare(ws, "nps", periods=["2024-01", "2024-02"], power=0.9).frame.iloc[0]
    assert row["detectable"] == pytest.approx((Z95 + stats.norm.ppf(0.9)) * se)


def test_csat_detectable_difference_uses_the_wald_errors(load):
    a = [5] * 56 + [2] * 14  # 56/70 satisfied
    b = [4] * 48 + [1] * 32  # 48/80
    ws = load(_periods(a, b, "csat"))
    row = compare(ws, "csat", periods=["2024-01", "2024-02"]).frame.iloc[0]
    se = 100 * np.sqrt(0.8 * 0.2 / 70 + 0.6 * 0.4 / 80)
    assert row["detectable"] == pytest.approx((Z95 + Z80) * se)
    assert (row["estimate_a"], row["estimate_b"]) == pytest.approx((80.0, 60.0))
    assert row["verdict"].startswith("CSAT is 20.0 points lower in 2024-02 than in 2024-01")


def test_filters_narrow_both_periods(load):
    # since / until cut into the periods: a keeps what is after since, b what is before until
    frame = pd.concat(
        [
            _periods([10] * 3, [0] * 4, a_day="2024-01-05", b_day="2024-02-05"),
            _periods([0] * 5, [10] * 6, a_day="2024-01-25", b_day="2024-02-25"),
        ]
    )
    ws = load(frame)
    row = compare(ws, "nps", periods=["2024-01", "2024-02"], since="2024-01-10").frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (5, 10)
    row = compare(ws, "nps", periods=["2024-01", "2024-02"], until="2024-02-10").frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (8, 4)
    # filters outside the periods change nothing
    row = compare(
        ws, "nps", periods=["2024-01", "2024-02"], since="2023-06-01", until="2024-06-01"
    ).frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (8, 10)


def test_periods_within_groups(load):
    # web: 2 of 4 promoters -> 4 of 4; app: 0 of 2 -> 1 of 2 (detractors otherwise)
    frame = _periods(
        [10, 10, 0, 0, 0, 0],
        [10, 10, 10, 10, 10, 0],
        channel=["web"] * 4 + ["app"] * 2 + ["web"] * 4 + ["app"] * 2,
    )
    result = compare(load(frame), "nps", periods=["2024-01", "2024-02"], by="channel")
    assert result.group_columns == ["channel"]
    got = result.frame.set_index("channel")
    assert got.loc["web", ["n_a", "n_b"]].tolist() == [4, 4]
    assert got.loc["web", "difference"] == pytest.approx(100.0)  # 0 -> 100
    assert got.loc["app", "difference"] == pytest.approx(100.0)  # -100 -> 0
    assert result.verdicts == list(got["verdict"])
    assert all(v.startswith("Not judged") for v in result.verdicts)


def test_a_period_without_responses_is_not_judged(load):
    ws = load(_periods([10] * 40, [0] * 40))
    row = compare(ws, "nps", periods=["2024-01", "2024-03"]).frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (40, 0)
    assert row["estimate_a"] == 100 and np.isnan(row["estimate_b"])
    assert bool(row["low_n"]) and not bool(row["significant"])
    assert row["verdict"].startswith("Not judged: too few responses (40 in 2024-01, 0 in 2024-03")
    row = compare(ws, "nps", periods=["2023-12", "2024-01"]).frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (0, 40)


# -- thresholds -----------------------------------------------------------------------------------
def test_min_n_is_the_least_judged_on_each_side(load):
    ws = load(_periods([10] * 12, [0] * 10))
    judged = compare(ws, "nps", periods=["2024-01", "2024-02"], min_n=10).frame.iloc[0]
    assert not judged["low_n"] and judged["significant"]
    short = compare(ws, "nps", periods=["2024-01", "2024-02"], min_n=11).frame.iloc[0]
    assert short["low_n"] and not short["significant"]
    assert "at least 11 each are needed" in short["verdict"]
    # the same on the other side: a has exactly min_n
    ws.backend.raw_sql("DELETE FROM responses")
    ws = load(_periods([10] * 10, [0] * 12))
    judged = compare(ws, "nps", periods=["2024-01", "2024-02"], min_n=10).frame.iloc[0]
    assert not judged["low_n"] and judged["significant"]
    short = compare(ws, "nps", periods=["2024-01", "2024-02"], min_n=11).frame.iloc[0]
    assert short["low_n"] and not short["significant"]


def test_significant_means_p_below_alpha(load):
    ws = load(_periods([10] * 20 + [0] * 20, [10] * 28 + [0] * 12))
    p = compare(ws, "nps", periods=["2024-01", "2024-02"]).frame["p_value"].iloc[0]
    assert 0.001 < p < 0.5
    at = compare(ws, "nps", periods=["2024-01", "2024-02"], alpha=float(p)).frame.iloc[0]
    assert at["p_value"] == p and not at["significant"]  # p = alpha: not below
    above = np.nextafter(p, 1.0)
    assert compare(ws, "nps", periods=["2024-01", "2024-02"], alpha=above).frame["significant"][0]


def test_corrections_apply_only_to_judged_comparisons(load):
    # three channels, each against the others; dealer has too few responses to be judged
    frame = responses(
        "csat",
        [5] * 30 + [1] * 10 + [1] * 30 + [5] * 10 + [5] * 5,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 5,
    )
    ws = load(frame)
    result = compare(ws, "csat", by="channel")
    got = result.frame.set_index("b")
    assert result.correction == "holm"
    assert np.isnan(got.loc["dealer", "p_adjusted"])
    # Holm over the two judged p-values
    raw = got.loc[["app", "web"], "p_value"].to_numpy()
    lo, hi = sorted(raw)
    expected = {lo: min(1, 2 * lo), hi: max(min(1, 2 * lo), hi)}
    assert got.loc[["app", "web"], "p_adjusted"].tolist() == pytest.approx(
        [expected[x] for x in raw]
    )
    bh = compare(ws, "csat", by="channel", correction="bh")
    assert bh.correction == "bh"
    assert "after Benjamini-Hochberg correction" in bh.frame.set_index("b").loc["app", "verdict"]
    # one judged comparison: nothing to correct
    one = compare(ws, "csat", by="channel", reference="web").frame.set_index("b")
    assert one.loc["app", "p_adjusted"] == one.loc["app", "p_value"]
    assert compare(ws, "csat", by="channel", reference="web").correction == "none"
    assert "correction" not in one.loc["app", "verdict"]


def test_group_against_all_others_pools_the_rest(load):
    frame = responses(
        "csat",
        [5] * 40 + [1] * 40 + [5, 1] * 20,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 40,
    )
    got = compare(load(frame), "csat", by="channel").frame.set_index("b")
    # web (40 of 40 satisfied) against app and dealer pooled (20 of 80)
    assert got.loc["web", ["n_a", "n_b"]].tolist() == [80, 40]
    assert got.loc["web", ["estimate_a", "estimate_b"]].tolist() == pytest.approx([25.0, 100.0])
    # app (0 of 40) against web and dealer (60 of 80)
    assert got.loc["app", "estimate_a"] == pytest.approx(75.0)


def test_a_single_group_has_no_others(load):
    ws = load(responses("nps", [10] * 40, channel=["web"] * 40))
    row = compare(ws, "nps", by="channel").frame.iloc[0]
    assert (row["a"], row["b"], row["n_a"], row["n_b"]) == (OTHERS, "web", 0, 40)
    assert row["low_n"]


def test_verdict_p_value_texts(load):
    # the correction named; p-values below 0.001 written as such
    frame = responses(
        "nps",
        [10] * 40 + [0] * 40 + [10, 0] * 20,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 40,
    )
    got = compare(load(frame), "nps", by="channel").frame.set_index("b")
    assert "(interval " in got.loc["web", "verdict"]
    assert "p < 0.001 after Holm correction): a real difference." in got.loc["web", "verdict"]
    dealer = got.loc["dealer"]
    assert dealer["p_value"] == pytest.approx(1.0) and dealer["p_adjusted"] == pytest.approx(1.0)
    assert "(+0.0 points; p = 1 after Holm correction)" in dealer["verdict"]


def test_verdict_gives_raw_and_adjusted_p_when_they_differ(load):
    frame = responses(
        "csat",
        [5] * 26 + [1] * 14 + [5] * 14 + [1] * 26 + [5, 1] * 20,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 40,
    )
    got = compare(load(frame), "csat", by="channel").frame.set_index("b")
    web = got.loc["web"]
    raw, adjusted = f"{web['p_value']:.2g}", f"{web['p_adjusted']:.2g}"
    assert raw != adjusted
    assert f"p = {raw}, {adjusted} after Holm correction" in web["verdict"]


# -- paired comparisons ---------------------------------------------------------------------------
def _replay(diff: np.ndarray, n_resamples: int, seed: int, alpha: float = 0.05):
    """The bootstrap of the mean change over customers, written out: blocks of 200 resamples of
    the customers (with replacement), the percentile interval and the two-sided p-value (twice
    the smaller share of resampled means on either side of 0)."""
    rng = np.random.default_rng(seed)
    n = len(diff)
    means = []
    for start in range(0, n_resamples, 200):
        rows = min(200, n_resamples - start)
        means.append(diff[rng.integers(0, n, size=(rows, n))].mean(axis=1))
    boot = np.concatenate(means)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean()))
    return boot, low, high, p


def test_paired_ces_replays_the_bootstrap(load):
    customers = [f"c{i:02d}" for i in range(12)]  # the replay takes them in this order
    a = [3, 4, 2, 5, 3, 3, 4, 2, 6, 3, 4, 5]
    b = [4, 4, 3, 6, 5, 3, 4, 4, 6, 5, 5, 5]
    ws = load(_periods(a, b, "ces", customer_id=customers + customers))
    result = compare(
        ws, "ces", periods=["2024-01", "2024-02"], paired=True, n_resamples=450, seed=3, min_n=5
    )
    row = result.frame.iloc[0]
    diff = np.array(b, float) - np.array(a, float)
    boot, low, high, p = _replay(diff, 450, 3)
    assert (row["n_a"], row["n_b"]) == (12, 12)
    assert (row["estimate_a"], row["estimate_b"]) == pytest.approx((np.mean(a), np.mean(b)))
    assert row["difference"] == pytest.approx(diff.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["p_value"] == pytest.approx(p)
    assert row["detectable"] == pytest.approx((Z95 + Z80) * boot.std(ddof=1))


def test_paired_nps_scores_each_customer_by_the_mean_of_their_answers(load):
    # c0 answers 10 and 0 in January: its January score is (1 - 1) / 2 = 0, not one of each
    customers = ["c0", "c0", "c1", "c2", "c3", "c0", "c1", "c2", "c3", "c4"]
    a = [10, 0, 3, 8, 10]
    b = [10, 10, 0, 10, 10]  # c4 answered only in February: left out
    ws = load(_periods(a, b, customer_id=customers))
    row = compare(
        ws, "nps", periods=["2024-01", "2024-02"], paired=True, n_resamples=300, min_n=1
    ).frame.iloc[0]
    xa = np.array([0.0, -1.0, 0.0, 1.0])  # c0, c1, c2, c3
    xb = np.array([1.0, 1.0, -1.0, 1.0])
    boot, low, high, p = _replay(xb - xa, 300, 0)
    assert row["n_a"] == 4
    assert (row["estimate_a"], row["estimate_b"]) == pytest.approx((0.0, 50.0))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * low, 100 * high))
    assert row["p_value"] == pytest.approx(p)
    assert row["detectable"] == pytest.approx((Z95 + Z80) * 100 * boot.std(ddof=1))


def test_paired_csat_within_groups_and_no_change(load):
    # web: same answers in both periods (no change: every resampled mean is 0, p = 1);
    # app: one customer, no spread to estimate
    customers = ["w1", "w2", "w3", "a1"]
    frame = _periods(
        [5, 1, 4, 1],
        [5, 1, 4, 5],
        "csat",
        customer_id=customers + customers,
        channel=["web", "web", "web", "app"] * 2,
    )
    result = compare(
        load(frame), "csat", periods=["2024-01", "2024-02"], by="channel", paired=True, min_n=1
    )
    got = result.frame.set_index("channel")
    assert got.loc["web", "n_a"] == 3 and got.loc["app", "n_a"] == 1
    assert got.loc["web", "estimate_a"] == pytest.approx(200 / 3)  # 5 and 4 satisfied
    assert got.loc["web", "difference"] == 0
    assert got.loc["web", "p_value"] == 1.0
    assert got.loc["web", ["ci_low", "ci_high"]].tolist() == [0.0, 0.0]
    assert got.loc["app", "difference"] == pytest.approx(100.0)
    assert np.isnan(got.loc["app", "detectable"])  # one customer: no bootstrap spread


def test_paired_defaults_are_2000_resamples_and_seed_0(load):
    customers = [f"c{i:02d}" for i in range(8)]
    a = [3, 4, 2, 5, 3, 3, 4, 2]
    b = [4, 4, 3, 6, 5, 3, 4, 4]
    ws = load(_periods(a, b, "ces", customer_id=customers + customers))
    row = compare(ws, "ces", periods=["2024-01", "2024-02"], paired=True).frame.iloc[0]
    _, low, high, p = _replay(np.array(b, float) - np.array(a, float), 2000, 0)
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == pytest.approx((low, high, p))


def test_groups_of_responses_without_a_scale(load):
    # responses loaded without a scale are on the metric's default scale: pooled, not dropped
    frame = responses(
        "csat",
        [5] * 30 + [1] * 10 + [1] * 30 + [5] * 10,
        channel=["web"] * 40 + ["app"] * 40,
    )
    frame["scale"] = None
    row = compare(load(frame), "csat", by="channel", groups=["app", "web"]).frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (40, 40)
    assert (row["estimate_a"], row["estimate_b"]) == pytest.approx((25.0, 75.0))


def test_a_difference_under_one_point_has_its_direction(load):
    # CES 3.5 -> 4.0: half a point higher, significant (b has no spread at all)
    ws = load(_periods([3, 4] * 20, [4] * 40, "ces"))
    row = compare(ws, "ces", periods=["2024-01", "2024-02"]).frame.iloc[0]
    assert row["difference"] == pytest.approx(0.5) and row["significant"]
    assert row["verdict"].startswith("CES is 0.5 points on the 1-7 scale higher in 2024-02")


def test_p_values_below_0001_are_written_as_such():
    # the rule of the verdicts: "< 0.001" strictly below; 0.001 itself is written as a value
    from rox.experience.compare import _p

    assert _p(0.000999) == "< 0.001"
    assert _p(0.001) == "= 0.001"
    assert _p(0.0312) == "= 0.031"


def test_paired_groups_keep_responses_without_the_column(load):
    # customers answering without a channel form a group of their own (channel None)
    customers = ["w1", "w2", "n1", "n2"]
    frame = _periods(
        [1, 2, 3, 4],
        [2, 3, 5, 6],
        "ces",
        customer_id=customers + customers,
        channel=["web", "web", None, None] * 2,
    )
    result = compare(
        load(frame), "ces", periods=["2024-01", "2024-02"], by="channel", paired=True, min_n=1
    )
    f = result.frame
    assert len(f) == 2
    web, missing = f[f["channel"] == "web"].iloc[0], f[f["channel"].isna()].iloc[0]
    assert (web["n_a"], web["difference"]) == (2, pytest.approx(1.0))
    assert (missing["n_a"], missing["difference"]) == (2, pytest.approx(2.0))


def test_paired_spread_needs_two_customers(load):
    # two customers are the least with a bootstrap spread (one has none: see above)
    ws = load(_periods([2, 3], [3, 5], "ces", customer_id=["c0", "c1", "c0", "c1"]))
    row = compare(
        ws, "ces", periods=["2024-01", "2024-02"], paired=True, n_resamples=400, min_n=1
    ).frame.iloc[0]
    boot, _, _, _ = _replay(np.array([1.0, 2.0]), 400, 0)
    assert row["detectable"] == pytest.approx((Z95 + Z80) * boot.std(ddof=1))
