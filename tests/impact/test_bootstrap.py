"""The sufficient-statistics bootstrap against textbook bootstraps of the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rox.impact.bootstrap import bootstrap_means


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
