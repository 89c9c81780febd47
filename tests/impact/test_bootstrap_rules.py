"""Rules of pooling value bins before the bootstrap, on hand-built bins (#22).

Each bin holds known customer values; a pooled bin's count, mean and population variance are
checked against those of its customers, computed here by hand (and by numpy on the raw values),
not from the bins' sufficient statistics that :func:`pool_bins` combines.
"""

from __future__ import annotations

import numpy as np
import pytest

from rox.impact.bootstrap import pool_bins

# bin id -> its customers' values (bins 4..10, bin 8 empty; span 10 - 4 + 1 = 7)
VALUES = {
    4: [10.0],
    5: [18.0, 22.0],
    6: [30.0],
    7: [39.0, 40.0, 41.0],
    9: [47.0, 53.0],
    10: [60.0],
}


def _bins() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array(list(VALUES), dtype=np.int64)
    n = np.array([len(v) for v in VALUES.values()], dtype="float64")
    mu = np.array([np.mean(v) for v in VALUES.values()])
    var = np.array([np.var(v) for v in VALUES.values()])
    return ids, n, mu, var


def _customers(*groups: tuple[int, ...]) -> list[list[float]]:
    return [[x for b in group for x in VALUES[b]] for group in groups]


def test_at_most_max_bins_bins_are_left_as_they_are():
    ids, n, mu, var = _bins()
    got = pool_bins(ids, n, mu, var, max_bins=6)  # 6 bins, max 6: no pooling
    for a, b in zip(got, (n, mu, var), strict=True):
        np.testing.assert_array_equal(a, b)


def test_over_max_bins_pools_by_ceil_of_span_over_max_bins_from_the_lowest_bin():
    # 6 bins > 3: f = ceil(7 / 3) = 3, keys (b - 4) // 3 -> {4, 5, 6}, {7, (8), 9}, {10}
    ids, n, mu, var = _bins()
    pooled_n, pooled_mu, pooled_var = pool_bins(ids, n, mu, var, max_bins=3)
    # {10, 18, 22, 30}: mean 80 / 4 = 20, variance (100 + 4 + 4 + 100) / 4 = 52
    # {39, 40, 41, 47, 53}: mean 220 / 5 = 44, variance (25 + 16 + 9 + 9 + 81) / 5 = 28
    # {60}: mean 60, variance 0
    np.testing.assert_allclose(pooled_n, [4, 5, 1])
    np.testing.assert_allclose(pooled_mu, [20.0, 44.0, 60.0])
    np.testing.assert_allclose(pooled_var, [52.0, 28.0, 0.0], atol=1e-12)
    raw = _customers((4, 5, 6), (7, 9), (10,))
    np.testing.assert_allclose(pooled_var, [np.var(v) for v in raw], atol=1e-12)


def test_one_bin_over_max_bins_pools_pairs():
    # 6 bins > 5: f = ceil(7 / 5) = 2, keys (b - 4) // 2 -> {4, 5}, {6, 7}, {9}, {10}
    ids, n, mu, var = _bins()
    pooled_n, pooled_mu, pooled_var = pool_bins(ids, n, mu, var, max_bins=5)
    # {10, 18, 22}: mean 50 / 3, variance ((20/3)^2 + (4/3)^2 + (16/3)^2) / 3 = 672 / 27
    # {30, 39, 40, 41}: mean 37.5, variance (56.25 + 2.25 + 6.25 + 12.25) / 4 = 19.25
    # {47, 53}: mean 50, variance 9; {60}: 60, 0
    np.testing.assert_allclose(pooled_n, [3, 4, 2, 1])
    np.testing.assert_allclose(pooled_mu, [50 / 3, 37.5, 50.0, 60.0])
    np.testing.assert_allclose(pooled_var, [672 / 27, 19.25, 9.0, 0.0], atol=1e-12)
    raw = _customers((4, 5), (6, 7), (9,), (10,))
    np.testing.assert_allclose(pooled_mu, [np.mean(v) for v in raw])
    np.testing.assert_allclose(pooled_var, [np.var(v) for v in raw], atol=1e-12)


@pytest.mark.parametrize("shift", [-3, 0, 1])
def test_pooling_depends_on_bin_offsets_not_on_where_the_bins_start(shift):
    # the same bins moved by `shift` (values too) pool the same way: keys count from min(b)
    ids, n, mu, var = _bins()
    pooled_n, _, pooled_var = pool_bins(ids + shift, n, mu, var, max_bins=3)
    np.testing.assert_allclose(pooled_n, [4, 5, 1])
    np.testing.assert_allclose(pooled_var, [52.0, 28.0, 0.0], atol=1e-12)
