"""The sufficient-statistics bootstrap against textbook bootstraps of the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rox.impact.bootstrap import MAX_BINS, bin_statistics, bootstrap_means, pool_bins, value_bin


def _bins(values: np.ndarray, resolution: float) -> pd.DataFrame:
    """Value bins written independently: floor(sign(v) log1p(|v|) / resolution)."""
    label = np.floor(np.sign(values) * np.log1p(np.abs(values)) / resolution).astype(int)
    g = pd.DataFrame({"bin": label, "v": values}).groupby("bin")["v"]
    return pd.DataFrame(
        {
            "group": "g",
            "bin": g.mean().index,
            "n": g.size().to_numpy(),
            "mu": g.mean().to_numpy(),
            "var": g.var(ddof=0).to_numpy(),
        }
    )


@pytest.fixture(scope="module")
def skewed() -> np.ndarray:
    """20,000 lognormal values: skewed, as lifetime values are."""
    return np.random.default_rng(11).lognormal(mean=5.0, sigma=1.2, size=20_000)


@pytest.mark.parametrize("resolution", [0.01, 0.5])
def test_binned_interval_matches_the_multinomial_bootstrap(skewed, resolution):
    bins = _bins(skewed, resolution)
    draws = bootstrap_means(bins, ["g"], replicates=2000, random_state=5)["g"]
    result = np.percentile(draws, [2.5, 97.5])
    # the textbook bootstrap: resample the 20,000 customers with replacement
    rng = np.random.default_rng(6)
    textbook = np.array(
        [rng.choice(skewed, size=len(skewed), replace=True).mean() for _ in range(2000)]
    )
    expected = np.percentile(textbook, [2.5, 97.5])
    assert result == pytest.approx(expected, rel=0.005)
    # and the normal approximation: mean +- 1.96 sd / sqrt(n)
    half = 1.96 * skewed.std() / np.sqrt(len(skewed))
    assert result == pytest.approx([skewed.mean() - half, skewed.mean() + half], rel=0.005)
    assert draws.std() == pytest.approx(skewed.std() / np.sqrt(len(skewed)), rel=0.05)


def test_within_bin_spread_is_kept(skewed):
    # bins 100 wide on the log scale: one bin, the whole spread drawn from its variance
    draws = bootstrap_means(_bins(skewed, 100.0), ["g"], replicates=4000, random_state=1)["g"]
    assert draws.std() == pytest.approx(skewed.std() / np.sqrt(len(skewed)), rel=0.05)


def test_a_replicate_without_customers_is_nan():
    one = pd.DataFrame({"group": ["g"], "bin": [1], "n": [1], "mu": [5.0], "var": [0.0]})
    draws = bootstrap_means(one, ["g"], replicates=1000, random_state=0)["g"]
    # P(Poisson(1) = 0) = e^-1
    assert np.isnan(draws).mean() == pytest.approx(np.exp(-1), abs=0.05)
    assert set(draws[~np.isnan(draws)]) == {5.0}


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.floats(0.001, 1.0),
)
def test_replicate_means_stay_within_the_values(values, resolution):
    v = np.array(values)
    bins = _bins(v, resolution)
    draws = bootstrap_means(bins, ["g"], replicates=50, random_state=0)["g"]
    finite = draws[np.isfinite(draws)]
    if (bins["var"] == 0).all():  # one value per bin: exact, a weighted mean of the values
        assert np.all(finite >= v.min() - 1e-6 * (1 + v.max()))
        assert np.all(finite <= v.max() + 1e-6 * (1 + v.max()))
    assert len(finite) > 0


@pytest.mark.parametrize(
    ("value", "resolution", "expected"),
    [
        # floor(sign(v) ln(1 + |v|) / resolution), worked out by hand
        (0.0, 0.01, 0),  # ln 1 = 0
        (0.5, 0.01, 40),  # ln 1.5 = 0.405465 -> 40.5
        (100.0, 0.01, 461),  # ln 101 = 4.615121 -> 461.5
        (-10.0, 1.0, -3),  # -ln 11 = -2.397895 -> floor -3
        (-0.5, 0.1, -5),  # -ln 1.5 = -0.405465 -> -4.05 -> floor -5
        (2000.0, 0.5, 15),  # ln 2001 = 7.601402 -> 15.2
    ],
)
def test_value_bin_is_the_floor_of_the_signed_log1p(value, resolution, expected):
    import ibis

    t = ibis.memtable({"v": [value]})
    got = ibis.duckdb.connect().execute(value_bin(t.v, resolution).name("b"))
    assert int(got.iloc[0]) == expected


def _replay(bins: pd.DataFrame, groups: list[str], replicates: int, seed: int) -> dict:
    """The module docstring's seed design, written out: Poisson counts, then Z if any var > 0."""
    rng = np.random.default_rng(seed)
    out = {}
    for group in groups:
        g = bins[bins["group"] == group].sort_values("bin")
        m = rng.poisson(g["n"].to_numpy(float), size=(replicates, len(g))).astype(float)
        total = m @ g["mu"].to_numpy(float)
        if (g["var"].to_numpy(float) > 0).any():
            total = total + np.sqrt(m @ g["var"].to_numpy(float)) * rng.standard_normal(replicates)
        count = m.sum(axis=1)
        out[group] = np.array(
            [t / c if c > 0 else np.nan for t, c in zip(total, count, strict=True)]
        )
    return out


def test_replicates_follow_the_documented_seed_design():
    # group a: one value per bin (var 0), so no normal draw; group b: a within-bin variance
    # below 1 (0.25), so one normal draw per replicate, added (not subtracted) to the total
    bins = pd.DataFrame(
        {
            "group": ["a", "a", "b", "b"],
            "bin": [7, 3, 2, 9],
            "n": [2, 3, 4, 1],
            "mu": [10.0, 1.0, 5.0, 20.0],
            "var": [0.0, 0.0, 0.25, 0.0],
        }
    )
    got = bootstrap_means(bins, ["a", "b"], replicates=200, random_state=42)
    expected = _replay(bins, ["a", "b"], 200, 42)
    for group in ("a", "b"):
        np.testing.assert_allclose(got[group], expected[group], rtol=1e-12)
    # the spread of b's draws is kept: with Z drawn, b's means are not all on the grid of bin means
    finite = got["b"][np.isfinite(got["b"])]
    assert len(set(np.round(finite, 9))) > 100


def test_a_group_without_spread_draws_no_normal():
    # the first group has var 0 everywhere: no Z is drawn for it, so the second group's counts
    # are the next Poisson draws of the same generator
    bins = pd.DataFrame(
        {"group": ["a", "b"], "bin": [0, 0], "n": [5, 5], "mu": [1.0, 2.0], "var": [0.0, 0.0]}
    )
    got = bootstrap_means(bins, ["a", "b"], replicates=50, random_state=3)
    rng = np.random.default_rng(3)
    rng.poisson([5.0], size=(50, 1))
    m_b = rng.poisson([5.0], size=(50, 1))[:, 0]
    expected_b = np.where(m_b > 0, 2.0, np.nan)
    np.testing.assert_array_equal(got["b"], expected_b)


def test_bin_statistics_by_hand():
    # group a: 30 and 30.5 share a bin at resolution 0.05 (ln 31 / 0.05 = 68.68, ln 31.5 / 0.05 =
    # 68.9997: bin 68; mean 30.25, population variance 0.25^2 = 0.0625), 100 is alone in bin 92
    # (ln 101 / 0.05 = 92.30); group b has no value (its sums come back as 0, not missing); group
    # c one value, 5, in bin 35 (ln 6 / 0.05 = 35.8)
    import ibis

    t = ibis.memtable(
        {
            "g": ["a", "a", "a", "b", "b", "c"],
            "clv": [30.0, 30.5, 100.0, None, None, 5.0],
            "x": [1.0, None, 2.0, 3.0, None, None],
        }
    )
    sums = {"x_sum": t.x.sum(), "x_n": t.x.count()}
    binned = bin_statistics(t, t.g, 0.05, **sums).sort_values(["group", "bin"])
    a = binned[binned["group"] == "a"]
    assert a["bin"].tolist() == [68, 92]
    assert a["n"].tolist() == [2, 1]
    assert a["mu"].tolist() == pytest.approx([30.25, 100.0])
    assert a["var"].tolist() == pytest.approx([0.0625, 0.0])
    assert a["clv_sum"].tolist() == pytest.approx([60.5, 100.0])
    assert a["x_sum"].tolist() == pytest.approx([1.0, 2.0])
    b = binned[binned["group"] == "b"].iloc[0]
    assert (b["n"], b["mu"], b["var"], b["clv_sum"], b["x_sum"]) == (2, 0.0, 0.0, 0.0, 3.0)
    assert binned[binned["group"] == "c"]["bin"].tolist() == [35]
    # resolution None: one row per group, bin 0, mean = sum / count, no variance (NaN)
    points = bin_statistics(t, t.g, None, **sums).sort_values("group").reset_index(drop=True)
    expected = pd.DataFrame(
        {
            "group": ["a", "b", "c"],
            "n": [3, 2, 1],
            "clv_sum": [160.5, 0.0, 5.0],
            "mu": [53.5, 0.0, 5.0],
            "x_sum": [3.0, 3.0, 0.0],
            "x_n": [2.0, 1.0, 0.0],
            "bin": [0, 0, 0],
        }
    )
    pd.testing.assert_frame_equal(points[expected.columns], expected, check_dtype=False)
    assert points["var"].isna().all()
    assert points["n"].dtype == "int64"


@pytest.mark.parametrize(
    ("max_bins", "expected"),
    [
        # bins 0, 1, 2, 5 span 6: f = ceil(6 / 2) = 3 pools 0-2 (the values 1; 2 +- sqrt(0.5)
        # twice; 3: mean 2, variance (1 + 2 x 0.5 + 1) / 4 = 0.75) and keeps 5
        (2, ([4.0, 1.0], [2.0, 10.0], [0.75, 0.0])),
        # f = ceil(6 / 3) = 2 pools 0-1 (mean 5/3, variance (4/9 + 2 (0.5 + 1/9)) / 3 = 5/9)
        (3, ([3.0, 1.0, 1.0], [5 / 3, 3.0, 10.0], [5 / 9, 0.0, 0.0])),
        # four bins, at most four: kept as they are
        (4, ([1.0, 2.0, 1.0, 1.0], [1.0, 2.0, 3.0, 10.0], [0.0, 0.5, 0.0, 0.0])),
    ],
)
def test_pool_bins_pools_whole_multiples_of_the_bin_width(max_bins, expected):
    got = pool_bins(
        np.array([0, 1, 2, 5]),
        np.array([1.0, 2.0, 1.0, 1.0]),
        np.array([1.0, 2.0, 3.0, 10.0]),
        np.array([0.0, 0.5, 0.0, 0.0]),
        max_bins,
    )
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_pooled_bins_keep_the_skew_of_the_textbook_bootstrap():
    # 300 lognormal values (sigma 1.2: skewed): about 100 bins at resolution 0.05, pooled to 32;
    # the 95% bounds stay within 5% of the half-width of the textbook bootstrap's (resampling
    # the customers), where the symmetric normal interval misses by about 10%
    values = np.random.default_rng(3).lognormal(mean=5.0, sigma=1.2, size=300)
    bins = _bins(values, 0.05)
    assert len(bins) > MAX_BINS
    draws = bootstrap_means(bins, ["g"], replicates=20_000, random_state=1)["g"]
    got = np.percentile(draws, [2.5, 97.5])
    rng = np.random.default_rng(9)
    textbook = values[rng.integers(0, len(values), size=(20_000, len(values)))].mean(axis=1)
    expected = np.percentile(textbook, [2.5, 97.5])
    half = (expected[1] - expected[0]) / 2
    assert np.abs(got - expected).max() < 0.05 * half
    normal = values.mean() + np.array([-1, 1]) * 1.96 * values.std() / np.sqrt(len(values))
    assert np.abs(normal - expected).min() > 0.08 * half


def test_one_bin_per_group_keeps_the_variance():
    # max_bins=1 pools every bin: the draws' spread is still sd / sqrt(n)
    values = np.random.default_rng(11).lognormal(mean=5.0, sigma=1.2, size=5_000)
    draws = bootstrap_means(
        _bins(values, 0.05), ["g"], replicates=4000, random_state=2, max_bins=1
    )["g"]
    assert draws.std() == pytest.approx(values.std() / np.sqrt(len(values)), rel=0.05)
