"""Comparisons: tests by hand, error rates by simulation, corrections, verdicts, planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rox.errors import MetricError
from rox.experience import compare, intervals, sample_size
from rox.experience.compare import OTHERS, parse_period
from rox.testing import responses_frame as responses


def _two_periods(a_scores, b_scores, metric="nps", **columns):
    frame = pd.concat([responses(metric, a_scores), responses(metric, b_scores)])
    frame["ts"] = ["2024-01-15"] * len(a_scores) + ["2024-02-15"] * len(b_scores)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for name, values in columns.items():
        frame[name] = values
    return frame.reset_index(drop=True)


def test_nps_difference_by_hand(load):
    a = [10] * 20 + [8] * 10 + [3] * 10  # NPS 25
    b = [10] * 30 + [8] * 5 + [3] * 5  # NPS 62.5
    ws = load(_two_periods(a, b))
    row = compare(ws, "nps", periods=["2024-01", "2024-02"]).frame.iloc[0]
    assert (row["n_a"], row["n_b"]) == (40, 40)
    assert row["difference"] == pytest.approx(37.5)
    # #22, written out (Rocks 2016): each side gets 3/4 promoter, 3/2 passive, 3/4 detractor
    # pseudo-responses; var of NPS = p + d - (p - d)^2 over n + 3; z and the interval from scipy
    pa, da = 20.75 / 43, 10.75 / 43
    pb, db = 30.75 / 43, 5.75 / 43
    var_a = (pa + da - (pa - da) ** 2) / 43
    var_b = (pb + db - (pb - db) ** 2) / 43
    diff, se = 100 * ((pb - db) - (pa - da)), 100 * np.sqrt(var_a + var_b)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(diff / se), rel=1e-9)
    # the 95% interval: diff ± 1.959964 se (not 1.645, a 90% interval)
    z = stats.norm.ppf(0.975)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((diff - z * se, diff + z * se))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2.2882, 67.4792), abs=1e-4)
    assert bool(row["significant"])
    assert row["verdict"].startswith("NPS is 37.5 points higher in 2024-02 than in 2024-01")


def test_nps_test_keeps_its_level_under_the_null():
    # simulate many null comparisons through the same arithmetic compare() uses
    rng = np.random.default_rng(5)
    n, p, d = 150, 0.45, 0.2
    a = rng.multinomial(n, [p, 1 - p - d, d], size=20_000)
    b = rng.multinomial(n, [p, 1 - p - d, d], size=20_000)
    ca, sa, _, _ = intervals.nps_adjusted_wald(a[:, 0] / n, a[:, 2] / n, n)
    cb, sb, _, _ = intervals.nps_adjusted_wald(b[:, 0] / n, b[:, 2] / n, n)
    rejected = intervals.two_sided_p((cb - ca) / np.sqrt(sa**2 + sb**2)) < 0.05
    assert 0.04 <= rejected.mean() <= 0.06


def test_csat_difference_uses_newcombe(load):
    a = [5] * 56 + [2] * 14  # 56/70 satisfied
    b = [4] * 48 + [1] * 32  # 48/80
    ws = load(_two_periods(a, b, "csat"))
    row = compare(ws, "csat", periods=["2024-01", "2024-02"]).frame.iloc[0]
    assert row["difference"] == pytest.approx(-20.0)
    # Newcombe (1998) example (a), mirrored: -0.3339 to -0.0524
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-33.39, -5.24), abs=0.01)
    # #22: the pooled two-proportion z-test, written out: se0 = sqrt(pool (1 - pool) (1/na + 1/nb))
    pool = (56 + 48) / (70 + 80)
    z = (48 / 80 - 56 / 70) / np.sqrt(pool * (1 - pool) * (1 / 70 + 1 / 80))
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert row["p_value"] == pytest.approx(0.008045, abs=1e-6)  # z = -2.6502


def test_ces_difference_uses_welch(load):
    ws = load(_two_periods([2, 3, 4, 3, 2, 3] * 6, [5, 6, 4, 5, 6, 7] * 6, "ces"))
    row = compare(ws, "ces", periods=["2024-01", "2024-02"]).frame.iloc[0]
    from scipy import stats

    a = np.array([2, 3, 4, 3, 2, 3] * 6)
    b = np.array([5, 6, 4, 5, 6, 7] * 6)
    expected = stats.ttest_ind(b, a, equal_var=False).pvalue
    assert row["p_value"] == pytest.approx(expected, rel=1e-6)


def test_groups_under_min_n_are_flagged_not_judged(load):
    a = [10] * 5 + [0] * 5
    b = [10] * 10
    ws = load(_two_periods(a, b))
    row = compare(ws, "nps", periods=["2024-01", "2024-02"]).frame.iloc[0]
    assert bool(row["low_n"]) and not bool(row["significant"])
    assert np.isnan(row["p_adjusted"])
    assert row["verdict"].startswith("Not judged: too few responses (10 in 2024-01, 10 in 2024-02")


def test_non_significant_verdict_says_what_could_be_detected(load):
    ws = load(_two_periods([10, 8, 3] * 20, [10, 8, 3] * 20))
    row = compare(ws, "nps", periods=["2024-01", "2024-02"]).frame.iloc[0]
    assert not row["significant"]
    assert "only differences of about" in row["verdict"]
    assert row["detectable"] > 0


def test_each_group_against_the_others_with_holm(load):
    frame = responses(
        "csat",
        [5] * 40 + [1] * 40 + [5, 1] * 20,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 40,
    )
    result = compare(load(frame), "csat", by="channel")
    got = result.frame.set_index("b")
    assert set(got["a"]) == {OTHERS}
    assert result.correction == "holm"
    assert got.loc["web", "significant"] and got.loc["app", "significant"]
    assert got.loc["dealer", "difference"] == pytest.approx(0.0)
    raw = got["p_value"].to_numpy()
    assert (got["p_adjusted"].to_numpy() >= raw).all()


def test_reference_and_two_groups(load):
    frame = responses(
        "nps",
        [10] * 40 + [0] * 40 + [8] * 40,
        channel=["web"] * 40 + ["app"] * 40 + ["dealer"] * 40,
    )
    ws = load(frame)
    ref = compare(ws, "nps", by="channel", reference="dealer").frame
    assert ref[["a", "b"]].values.tolist() == [["dealer", "app"], ["dealer", "web"]]
    pair = compare(ws, "nps", by="channel", groups=["app", "web"]).frame.iloc[0]
    assert pair["difference"] == pytest.approx(200.0)
    with pytest.raises(MetricError, match="no nps responses with channel = 'shop'"):
        compare(ws, "nps", by="channel", reference="shop")


def test_paired_comparison_bootstraps_over_customers(load):
    customers = [f"c{i}" for i in range(60)]
    a = [3] * 60
    b = [10] * 40 + [3] * 20
    frame = _two_periods(a, b, customer_id=customers + customers)
    result = compare(load(frame), "nps", periods=["2024-01", "2024-02"], paired=True)
    row = result.frame.iloc[0]
    assert result.test == "paired bootstrap over customers"
    assert (row["n_a"], row["difference"]) == (60, pytest.approx(200 * 40 / 60))
    assert row["p_value"] < 0.01


def test_bad_comparisons_are_explained(load):
    ws = load(responses("nps", [10]))
    with pytest.raises(MetricError, match="give periods"):
        compare(ws, "nps")
    with pytest.raises(MetricError, match="cannot read the period '2024Q5'"):
        compare(ws, "nps", periods=["2024Q5", "2024Q1"])
    with pytest.raises(MetricError, match="paired comparisons are between periods"):
        compare(ws, "nps", by="channel", paired=True)


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("2024-07", "2024-07-01", "2024-08-01"),
        ("2024Q3", "2024-07-01", "2024-10-01"),
        ("2024H2", "2024-07-01", "2025-01-01"),
        ("2024", "2024-01-01", "2025-01-01"),
        ("2024-W01", "2024-01-01", "2024-01-08"),
        ("2024-03-05:2024-03-09", "2024-03-05", "2024-03-09"),
    ],
)
def test_period_labels(spec, start, end):
    s, e, label = parse_period(spec)
    assert (s, e, label) == (pd.Timestamp(start), pd.Timestamp(end), spec)


def test_sample_size_planner():
    assert sample_size("nps", margin=5).n == 1534  # 1.96^2 / 0.05^2 - 3
    # (1.96 + 0.8416)^2 * 2 / 0.1^2 - 3 = 1566.8
    assert sample_size("nps", difference=10).n == 1567
    plan = sample_size("nps", margin=5, promoters=50, detractors=20)
    assert plan.n == int(np.ceil(1.959964**2 * (0.7 - 0.09) / 0.0025 - 3))
    assert sample_size("csat", margin=3, satisfied=80).n == int(np.ceil(1.959964**2 * 0.16 / 9e-4))
    assert sample_size("ces", margin=0.1, sd=1.0).n == 385
    with pytest.raises(MetricError, match="either margin= or difference="):
        sample_size("nps")


@pytest.mark.parametrize("power", [0.0, 1.0])
def test_sample_size_refuses_a_power_of_0_or_1(power):
    with pytest.raises(MetricError, match="power must be between 0 and 1"):
        sample_size("nps", difference=10, power=power)
    # just inside the bounds, a plan (power near 1 needs many responses; near 0, few)
    inside = 1e-9 if power == 0 else 1 - 1e-9
    assert sample_size("nps", difference=10, power=inside).n >= 1


def test_planner_margin_is_met_by_simulation():
    n = sample_size("nps", margin=5, promoters=50, detractors=20).n
    rng = np.random.default_rng(9)
    draws = rng.multinomial(n, [0.5, 0.3, 0.2], size=2000)
    _, _, low, high = intervals.nps_adjusted_wald(draws[:, 0] / n, draws[:, 2] / n, n)
    assert np.median((high - low) / 2) == pytest.approx(0.05, abs=0.002)


# -- the planted effects of the demo brand --------------------------------------------------------
def test_demo_financing_csat_is_the_lowest_and_significantly_so(demo):
    result = compare(demo, "csat", by="touchpoint")
    worst = result.frame.sort_values("difference").iloc[0]
    assert worst["b"] == "financing"
    assert worst["significant"] and worst["difference"] < -20


def test_demo_nps_rises_after_the_service_change(demo):
    row = compare(demo, "nps", periods=["2023-07-01:2024-07-01", "2024-07-01:2025-07-01"])
    assert row.frame["significant"].iloc[0]
    assert row.frame["difference"].iloc[0] > 5
