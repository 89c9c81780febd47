"""Rules of the relative-importance measures that the driver tests do not reach (#22).

Expected values are closed forms: with uncorrelated drivers (an identity block), R**2 is the sum
of the squared correlations with the outcome, and both LMG and Johnson's weights give each driver
its own squared correlation (every order of entry adds r_j**2; ``R^{1/2}`` is the identity).
"""

from __future__ import annotations

import numpy as np
import pytest

from rox.impact._importance import (
    MAX_LMG_DRIVERS,
    lmg,
    pair_correlations,
    positive_definite,
    r_squared,
    relative_weights,
)


def _uncorrelated(r: np.ndarray) -> np.ndarray:
    """Correlation matrix of an outcome and drivers that correlate only with the outcome."""
    p = r.shape[-1]
    corr = np.broadcast_to(np.eye(p + 1), (*r.shape[:-1], p + 1, p + 1)).copy()
    corr[..., 0, 1:] = r
    corr[..., 1:, 0] = r
    return corr


def test_a_stack_of_stacks_of_fifteen_drivers():
    # the most drivers LMG takes (15), in a (5, 6) stack of 30 matrices: more matrices than one
    # batch of 15-driver regressions holds, and a leading shape of more than one axis
    assert MAX_LMG_DRIVERS == 15
    rng = np.random.default_rng(22)
    r = rng.uniform(-0.25, 0.25, size=(5, 6, 15))
    corr = _uncorrelated(r)
    expected = r**2
    np.testing.assert_allclose(lmg(corr), expected, atol=1e-12)
    np.testing.assert_allclose(relative_weights(corr), expected, atol=1e-12)
    np.testing.assert_allclose(r_squared(corr), expected.sum(axis=-1), atol=1e-12)


def test_sixteen_drivers_are_refused_by_lmg():
    corr = _uncorrelated(np.full(16, 0.1))
    with pytest.raises(ValueError, match="LMG takes at most 15 drivers, got 16"):
        lmg(corr)
    # relative weights have no such limit
    np.testing.assert_allclose(relative_weights(corr), np.full(16, 0.01), atol=1e-12)


def test_pair_correlations_are_pearson_with_a_unit_diagonal():
    # complete data: every pair over the same 6 customers, so Pearson's r is numpy's corrcoef;
    # the third variable is constant, its correlations 0 / 0 (NaN) and its diagonal still 1
    x = np.array(
        [
            [1.0, 2.0, 5.0],
            [2.0, 1.0, 5.0],
            [3.0, 4.0, 5.0],
            [4.0, 3.0, 5.0],
            [5.0, 6.0, 5.0],
            [6.0, 8.0, 5.0],
        ]
    )
    q = x.shape[1]
    n = np.full((q, q), float(len(x)))
    s = np.repeat(x.sum(axis=0)[:, None], q, axis=1)  # s[i, j] = sum of variable i
    sq = np.repeat((x**2).sum(axis=0)[:, None], q, axis=1)
    p = x.T @ x
    # stacked as (2, 2, q, q): the rule holds for any leading shape
    stack = [np.broadcast_to(a, (2, 2, q, q)) for a in (n, s, sq, p)]
    corr = pair_correlations(*stack)
    r01 = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert corr.shape == (2, 2, q, q)
    np.testing.assert_allclose(corr[..., 0, 1], r01, rtol=1e-12)
    np.testing.assert_allclose(corr[..., 1, 0], r01, rtol=1e-12)
    assert np.isnan(corr[..., 0, 2]).all() and np.isnan(corr[..., 2, 1]).all()
    np.testing.assert_array_equal(corr[..., np.arange(q), np.arange(q)], 1.0)


def test_positive_definite_needs_the_smallest_eigenvalue_above_tol():
    # the identity's eigenvalues are exactly 1: definite for a tolerance below 1, not at 1
    eye = np.eye(3)
    assert positive_definite(eye, tol=0.999)
    assert not positive_definite(eye, tol=1.0)
    # a NaN correlation is never definite; [[1, .5], [.5, 1]] has eigenvalues 0.5 and 1.5
    assert positive_definite(
        np.array([[[1.0, 0.5], [0.5, 1.0]], [[1.0, np.nan], [np.nan, 1.0]]]), tol=0.4
    ).tolist() == [True, False]
