"""The engine's logistic fit behind the drivers of a binary outcome, against a fit written out.

The reference is Newton-Raphson (IRLS) in numpy on the drivers standardised with the sample mean
and the standard deviation with ``n - 1`` (what :class:`rox.impact._logistic.Logit` documents:
slopes per standard deviation), the intercept on a column of ones.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from rox.errors import ConvergenceError, MetricError
from rox.impact._logistic import bootstrap_logistic, fit_logistic


def _irls(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    theta = np.zeros(design.shape[1])
    for _ in range(100):
        prob = 1 / (1 + np.exp(-design @ theta))
        step = np.linalg.solve(
            design.T @ (design * (prob * (1 - prob))[:, None]), design.T @ (y - prob)
        )
        theta += step
        if np.abs(step).max() < 1e-13:
            break
    return theta


def _fit(y: np.ndarray, x: np.ndarray, block: np.ndarray):
    """fit_logistic on a memtable of the rows, with the totals written from the rows."""
    data = np.column_stack([y, x])
    q = data.shape[1]
    frame = pd.DataFrame(data, columns=[f"v{i}" for i in range(q)]).assign(_block=block)
    total = {
        "N": np.full((q, q), float(len(y))),
        "S": np.repeat(data.sum(axis=0)[:, None], q, axis=1),
        "P": data.T @ data,
    }
    blocks = np.unique(block).astype(np.int64)
    return fit_logistic(ibis.memtable(frame), q - 1, total, blocks)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(22)
    n = 300
    # drivers far from 0 (a mean of 100 and of 4, small spreads): the fit is on standardised ones
    x = np.column_stack([100 + rng.normal(0, 0.5, n), 4 + rng.normal(0, 1.0, n)])
    eta = -0.5 + 2.0 * (x[:, 0] - 100) + 0.6 * (x[:, 1] - 4)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return y, x, rng.integers(0, 4, n)


def test_fit_is_irls_on_the_standardised_drivers(rows):
    y, x, block = rows
    fit = _fit(y, x, block)
    mean, sd = x.mean(axis=0), x.std(axis=0, ddof=1)
    z = (x - mean) / sd
    theta = _irls(y, np.column_stack([np.ones(len(y)), z]))
    np.testing.assert_allclose(fit.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(fit.sd, sd, rtol=1e-9)  # (sums of squares: cancellation)
    np.testing.assert_allclose(fit.theta, theta, rtol=1e-7)
    np.testing.assert_allclose(fit.coef_std, theta[1:], rtol=1e-7)
    prob = 1 / (1 + np.exp(-(theta[0] + z @ theta[1:])))
    assert fit.r_yp == pytest.approx(np.corrcoef(y, prob)[0, 1], rel=1e-7)
    # the per-block score is (y - p) z summed over the block's rows: about 0 in total at the fit
    design = np.column_stack([np.ones(len(y)), z])
    for b in range(4):
        rows_b = block == b
        np.testing.assert_allclose(fit.score_b[b], design[rows_b].T @ (y - prob)[rows_b], atol=1e-6)
        w = prob[rows_b] * (1 - prob[rows_b])
        np.testing.assert_allclose(
            fit.info_b[b], design[rows_b].T @ (design[rows_b] * w[:, None]), rtol=1e-7
        )
    assert np.abs(fit.score_b.sum(axis=0)).max() < 1e-6


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_an_outcome_everyone_shares_is_refused(rows, value):
    _, x, block = rows
    with pytest.raises(MetricError, match=f"every customer analysed has the outcome = {value:g}"):
        _fit(np.full(len(x), value), x, block)


def test_one_customer_with_the_outcome_is_enough_to_start(rows):
    # ybar = 1/300: just inside (0, 1), so the fit starts (at the log-odds of ybar)
    _, x, block = rows
    y = np.zeros(len(x))
    y[0] = 1.0
    y[1] = 1.0
    fit = _fit(y, x, block)
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    theta = _irls(y, np.column_stack([np.ones(len(y)), z]))
    np.testing.assert_allclose(fit.theta, theta, rtol=1e-6)


def _nearly_separated(c: float) -> tuple[np.ndarray, np.ndarray]:
    """40 points on [-1, 1], outcome 1 above 0, and two overlapping points at +-c."""
    grid = np.linspace(-1, 1, 40)
    x = np.concatenate([grid, [c, -c]])
    y = np.concatenate([(grid > 0).astype(float), [0.0, 1.0]])
    return y, x[:, None]


@pytest.mark.parametrize(("c", "refused"), [(0.0114, False), (0.0108, True)])
def test_a_slope_beyond_30_per_sd_is_refused_as_separation(c, refused):
    # the nearer the overlapping points to 0, the steeper the fit: the reference's slope is just
    # below 30 log-odds per standard deviation for c = 0.0114, just above for c = 0.0108
    y, x = _nearly_separated(c)
    z = (x - x.mean()) / x.std(ddof=1)
    theta = _irls(y, np.column_stack([np.ones(len(y)), z]))
    assert (29 < abs(theta[1]) < 30) if not refused else (30 < abs(theta[1]) < 31)
    block = np.arange(len(y)) % 2
    if refused:
        with pytest.raises(ConvergenceError, match="did not converge"):
            _fit(y, x, block)
    else:
        np.testing.assert_allclose(_fit(y, x, block).theta, theta, rtol=1e-6, atol=1e-9)


def test_no_resamples_give_no_replicates(rows):
    y, x, block = rows
    fit = _fit(y, x, block)
    out = bootstrap_logistic({}, fit, np.empty((0, 4)))
    assert out.shape == (0, 2)


def test_a_replicate_is_one_newton_step_towards_the_reweighted_fit(rows):
    # Hu & Kalbfleisch's one step from the full fit on a resample's score and information lands
    # near the resample's own maximum (Newton converges quadratically), not away from it
    from rox.impact._importance import logistic_relative_weights

    y, x, block = rows
    fit = _fit(y, x, block)
    data = np.column_stack([y, x])
    stats = {k: [] for k in "NSQP"}
    for b in range(4):
        d = data[block == b]
        q = d.shape[1]
        stats["N"].append(np.full((q, q), float(len(d))))
        stats["S"].append(np.repeat(d.sum(axis=0)[:, None], q, axis=1))
        stats["Q"].append(np.repeat((d**2).sum(axis=0)[:, None], q, axis=1))
        stats["P"].append(d.T @ d)
    stats = {k: np.array(v) for k, v in stats.items()}
    w_block = np.array([1.0, 2.0, 1.0, 1.0])
    got = bootstrap_logistic(stats, fit, w_block[None, :])[0]
    # the reference: the weighted maximum written out (each row counted w times)
    w = w_block[block]
    n = w.sum()
    mean = (w[:, None] * x).sum(axis=0) / n
    sd = np.sqrt((w[:, None] * (x - mean) ** 2).sum(axis=0) / (n - 1))
    z = (x - mean) / sd
    design = np.column_stack([np.ones(len(y)), z])
    theta = np.zeros(3)
    for _ in range(100):
        prob = 1 / (1 + np.exp(-design @ theta))
        step = np.linalg.solve(
            design.T @ (design * (w * prob * (1 - prob))[:, None]), design.T @ (w * (y - prob))
        )
        theta += step
    prob = 1 / (1 + np.exp(-design @ theta))
    cov = np.cov(np.column_stack([y, prob, x]), rowvar=False, aweights=w)
    r_yp = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    var = np.diag(cov)[2:]
    rxx = cov[2:, 2:] / np.sqrt(np.outer(var, var))
    expected = logistic_relative_weights(rxx, theta[1:], np.asarray(r_yp))
    full = logistic_relative_weights(rxx, fit.coef_std, np.asarray(fit.r_yp))
    # (the last step is the formula checked against rwa's in test_drivers.py)
    assert got == pytest.approx(expected, rel=0.01)
    assert (np.abs(got - full) > 0.05 * full).all()  # the resample moved it: 6-12% here


def test_a_singular_information_stops_the_fit(rows):
    # a driver repeated: the information matrix is singular, Newton's step cannot be solved
    y, x, block = rows
    with pytest.raises(ConvergenceError, match="did not converge"):
        _fit(y, np.column_stack([x, x[:, 0]]), block)
