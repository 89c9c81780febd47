"""Intervals against published values, hand computation and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rox.experience import adjust_pvalues, intervals


def test_wilson_matches_the_textbook_value():
    # 8 successes of 10: Wilson 95% interval 0.4902 to 0.9433 (Newcombe 1998, Table I style)
    _, _, low, high = intervals.wilson(0.8, 10)
    assert (round(float(low), 4), round(float(high), 4)) == (0.4902, 0.9433)


def test_newcombe_matches_newcombe_1998_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80 = 0.2000,
    # method 10 (hybrid score): 0.0524 to 0.3339
    low, high = intervals.newcombe_difference(48 / 80, 80, 56 / 70, 70)
    assert (round(float(low), 4), round(float(high), 4)) == (0.0524, 0.3339)


def test_adjusted_wald_by_hand():
    # 4 promoters, 2 passives, 4 detractors: adjusted shares (4 + 3/4) / 13 each
    center, se, low, high = intervals.nps_adjusted_wald(0.4, 0.4, 10)
    pa = 4.75 / 13
    expected_se = np.sqrt((2 * pa - 0.0) / 13)
    assert float(center) == pytest.approx(0.0)
    assert float(se) == pytest.approx(expected_se)
    assert float(high) == pytest.approx(1.959964 * expected_se, rel=1e-6)
    assert float(low) == pytest.approx(-float(high))


def test_wald_nps_by_hand():
    _, se, low, _ = intervals.nps_wald(0.5, 0.2, 100)
    expected = np.sqrt((0.5 + 0.2 - 0.3**2) / 100)
    assert float(se) == pytest.approx(expected)
    assert float(low) == pytest.approx(0.3 - 1.959964 * expected, rel=1e-6)


def test_t_interval_by_hand():
    x = np.array([1, 2, 3, 4, 5], dtype=float)
    _, se, low, high = intervals.mean_t(x.mean(), x.std(ddof=1), 5)
    # t(0.975, 4) = 2.776445
    assert float(se) == pytest.approx(np.sqrt(2.5 / 5))
    assert (float(low), float(high)) == pytest.approx(
        (3 - 2.776445 * 0.707107, 3 + 2.776445 * 0.707107), rel=1e-5
    )


def test_t_interval_needs_two_responses():
    _, se, low, high = intervals.mean_t(4.0, np.nan, 1)
    assert np.isnan([se, low, high]).all()


@pytest.mark.parametrize(("p", "d", "n"), [(0.5, 0.2, 50), (0.7, 0.1, 200), (0.3, 0.4, 30)])
def test_adjusted_wald_coverage_by_simulation(p, d, n):
    rng = np.random.default_rng(1)
    draws = rng.multinomial(n, [p, 1 - p - d, d], size=20_000)
    _, _, low, high = intervals.nps_adjusted_wald(draws[:, 0] / n, draws[:, 2] / n, n)
    coverage = np.mean((low <= p - d) & (p - d <= high))
    # Rocks (2016): the adjusted Wald keeps close to nominal coverage even for small n
    assert 0.93 <= coverage <= 0.97


def test_wald_undercovers_for_small_n_where_adjusted_does_not():
    rng = np.random.default_rng(2)
    p, d, n = 0.85, 0.05, 20
    draws = rng.multinomial(n, [p, 1 - p - d, d], size=20_000)
    truth = p - d
    cover = {}
    for name, fn in (("wald", intervals.nps_wald), ("adj", intervals.nps_adjusted_wald)):
        _, _, low, high = fn(draws[:, 0] / n, draws[:, 2] / n, n)
        cover[name] = np.mean((low <= truth) & (truth <= high))
    assert cover["wald"] < 0.93 < cover["adj"]


def test_wilson_coverage_by_simulation():
    # coverage of any binomial interval oscillates with p (Brown, Cai & DasGupta 2001); averaged
    # over p, Wilson's is close to nominal
    rng = np.random.default_rng(3)
    n = 40
    p = rng.uniform(0.1, 0.9, size=40_000)
    x = rng.binomial(n, p)
    _, _, low, high = intervals.wilson(x / n, n)
    assert 0.94 <= np.mean((low <= p) & (p <= high)) <= 0.96


def test_bootstrap_agrees_with_wald_for_large_n():
    _, _, lw, hw = intervals.nps_wald(0.5, 0.2, 2000)
    _, _, lb, hb = intervals.nps_bootstrap(0.5, 0.2, 2000, n_resamples=4000, seed=1)
    assert float(lb) == pytest.approx(float(lw), abs=0.01)
    assert float(hb) == pytest.approx(float(hw), abs=0.01)


@given(
    p=st.floats(0, 1),
    d=st.floats(0, 1),
    n=st.integers(0, 10_000),
    level=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_adjusted_wald_interval_is_inside_the_range(p, d, n, level):
    if p + d > 1:
        p, d = p / (p + d), d / (p + d)
    _, se, low, high = intervals.nps_adjusted_wald(p, d, n, level)
    assert -1 <= float(low) <= float(high) <= 1
    assert float(se) > 0


def test_holm_and_bh_match_hand_computed_values():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(p, "none") == pytest.approx(p)


def test_adjustment_leaves_unjudged_comparisons_out():
    result = adjust_pvalues([0.01, np.nan, 0.02], "holm")
    assert result[0] == pytest.approx(0.02)
    assert np.isnan(result[1])
    assert result[2] == pytest.approx(0.02)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_adjusted_pvalues_are_at_least_the_raw_ones(p):
    for method in ("holm", "bh"):
        adjusted = adjust_pvalues(p, method)
        assert (adjusted >= np.asarray(p) - 1e-12).all()
        assert (adjusted <= 1).all()
    assert (adjust_pvalues(p, "holm") >= adjust_pvalues(p, "bh") - 1e-12).all()


def test_detectable_difference():
    # (1.96 + 0.8416) * se
    assert float(intervals.detectable_difference(1.0)) == pytest.approx(2.8016, abs=1e-4)


def test_confidence_level_is_strictly_between_0_and_1():
    assert intervals.z_value(0.95) == pytest.approx(1.959964, rel=1e-6)
    assert intervals.z_value(0.999) == pytest.approx(3.290527, rel=1e-6)  # below 1: accepted
    assert intervals.z_value(0.001) == pytest.approx(0.001253, rel=1e-3)  # above 0: accepted
    for level in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=f"between 0 and 1, not {level}"):
            intervals.z_value(level)


def test_wald_nps_is_clipped_to_the_range():
    # 9 promoters of 10 (Wald): 0.9 +- 1.96 sqrt(0.09 / 10) = 0.714 to 1.086, clipped at 1
    _, _, low, high = intervals.nps_wald(0.9, 0.0, 10)
    assert (float(low), float(high)) == pytest.approx((0.9 - 1.959964 * 0.3 / np.sqrt(10), 1.0))
    _, _, low, high = intervals.nps_wald(0.0, 0.9, 10)
    assert (float(low), float(high)) == pytest.approx((-1.0, -0.9 + 1.959964 * 0.3 / np.sqrt(10)))


def test_adjusted_wald_with_no_and_one_response():
    # n = 0: the shares (NaN from 0 / 0) are not used; only the pseudo-responses count
    center, se, low, high = intervals.nps_adjusted_wald(np.nan, np.nan, 0)
    assert float(center) == 0 and float(se) == pytest.approx(np.sqrt(0.5 / 3))
    assert (float(low), float(high)) == pytest.approx((-0.8001, 0.8001), abs=1e-4)
    # n = 1, one promoter: shares (1 + 3/4) / 4 and (0 + 3/4) / 4
    center, se, _, _ = intervals.nps_adjusted_wald(1.0, 0.0, 1)
    pa, da = 1.75 / 4, 0.75 / 4
    assert float(center) == pytest.approx(pa - da)
    assert float(se) == pytest.approx(np.sqrt((pa + da - (pa - da) ** 2) / 4))
    # n = 1, one detractor: the shares mirrored
    center, _, _, _ = intervals.nps_adjusted_wald(0.0, 1.0, 1)
    assert float(center) == pytest.approx(da - pa)


def test_adjusted_wald_is_clipped_to_the_range():
    # 5 promoters of 5: shares 5.75 / 8 and 0.75 / 8, interval 0.625 +- 1.96 * 0.2296, clipped at 1
    pa, da = 5.75 / 8, 0.75 / 8
    half = 1.959964 * np.sqrt((pa + da - (pa - da) ** 2) / 8)
    _, _, low, high = intervals.nps_adjusted_wald(1.0, 0.0, 5)
    assert (float(low), float(high)) == pytest.approx((pa - da - half, 1.0))
    _, _, low, high = intervals.nps_adjusted_wald(0.0, 1.0, 5)
    assert (float(low), float(high)) == pytest.approx((-1.0, da - pa + half))


def test_bootstrap_center_defaults_and_small_groups():
    center, se, low, high = intervals.nps_bootstrap([0.5, 1.0, 0.5], [0.2, 0.0, 0.2], [100, 1, 0])
    assert center.tolist() == pytest.approx([0.3, 1.0, 0.3])  # p - d, as observed
    # one response, a promoter: every resample is +1
    assert (low[1], high[1], se[1]) == (1.0, 1.0, 0.0)
    assert np.isnan([low[2], high[2], se[2]]).all()  # no responses: no interval
    assert low[0] < 0.3 < high[0]
    # documented defaults: 2,000 resamples, seed 0 (the same interval on every run)
    default = intervals.nps_bootstrap(0.5, 0.2, 100)
    again = intervals.nps_bootstrap(0.5, 0.2, 100, n_resamples=2000, seed=0)
    assert [float(v) for v in again] == [float(v) for v in default]
    other = intervals.nps_bootstrap(0.5, 0.2, 100, n_resamples=2001, seed=0)
    assert [float(v) for v in other] != [float(v) for v in default]


def test_bootstrap_percentiles_follow_the_level():
    # at level 0.5 the percentile interval is the 25th to 75th: about 0.674 Wald se either side
    _, _, lw, hw = intervals.nps_wald(0.5, 0.2, 400, level=0.5)
    _, _, lb, hb = intervals.nps_bootstrap(0.5, 0.2, 400, level=0.5, n_resamples=20_000, seed=1)
    assert (float(lb), float(hb)) == pytest.approx((float(lw), float(hw)), abs=0.005)


def test_wilson_se_wald_proportion_and_t_with_two_responses_by_hand():
    # wilson's se is the Wald standard error sqrt(p (1 - p) / n)
    assert float(intervals.wilson(0.8, 10)[1]) == pytest.approx(np.sqrt(0.16 / 10))
    # Wald proportion interval at the default 95%: 0.5 +- 1.96 * 0.05
    _, se, low, high = intervals.proportion_wald(0.5, 100)
    assert (float(se), float(low), float(high)) == pytest.approx((0.05, 0.402002, 0.597998))
    # 9 of 10: 0.9 + 1.96 * 0.0949 = 1.086, clipped at 1
    assert float(intervals.proportion_wald(0.9, 10)[3]) == 1.0
    # two responses, 1 and 3: mean 2, sd sqrt(2), se 1, t(0.975, 1) = 12.706205
    _, se, low, high = intervals.mean_t(2.0, np.sqrt(2), 2)
    assert (float(se), float(low), float(high)) == pytest.approx((1.0, -10.706205, 14.706205))


def test_detectable_difference_by_hand():
    # (z_0.975 + z_0.8) se = (1.959964 + 0.841621) se
    assert intervals.detectable_difference([1.0, 2.0]).tolist() == pytest.approx(
        [2.801585, 5.603170], rel=1e-6
    )


def test_two_sided_p_values_by_hand():
    # normal: P(|Z| > 1.959964) = 0.05, either sign; Student t with 4 df: P(|T| > 2.776445) = 0.05
    assert intervals.two_sided_p([1.959964, -1.959964, 0.0]).tolist() == pytest.approx(
        [0.05, 0.05, 1.0], abs=1e-7
    )
    assert intervals.t_two_sided_p([2.776445, -2.776445], 4).tolist() == pytest.approx(
        [0.05, 0.05], abs=1e-7
    )


def test_bootstrap_se_is_the_sample_sd_of_the_replayed_resamples():
    # #22: the resampling replayed with the same seed (three resamples of two groups: 10
    # responses with shares 0.5 / 0.3 / 0.2, 5 with 0.3 / 0.3 / 0.4); the bootstrap se is the
    # sample standard deviation (n - 1) of the three resampled NPS, not ddof=0 or 2
    _, se, low, high = intervals.nps_bootstrap(
        [0.5, 0.3], [0.2, 0.4], [10, 5], n_resamples=3, seed=11
    )
    rng = np.random.default_rng(11)
    draws = rng.multinomial([10, 5], [[0.5, 0.3, 0.2], [0.3, 0.3, 0.4]], size=(3, 2))
    nps = (draws[..., 0] - draws[..., 2]) / np.array([10, 5])
    for g in range(2):
        values = nps[:, g]
        sd = np.sqrt(((values - values.mean()) ** 2).sum() / (3 - 1))
        assert se[g] == pytest.approx(sd, rel=1e-12)
        assert (low[g], high[g]) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))
