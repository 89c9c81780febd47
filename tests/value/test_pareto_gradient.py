"""Pareto/NBD's exact gradient and Hessian (#16) against SciPy's 2F1 and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from rox.value.distinct import first_rows, group_codes
from rox.value.models import ParetoNBDModel
from rox.value.models.pareto_gradient import paretonbd_loglik_gradient, paretonbd_totals
from rox.value.models.transactions import paretonbd_loglik

# alpha > beta, alpha < beta (the series runs in the other parameter), far from CDNOW's values
PARAMS = [(0.55, 10.58, 0.61, 11.67), (0.55, 12.0, 0.61, 9.0), (2.5, 70.0, 0.9, 89.0)]


@pytest.fixture(scope="module")
def rows(published_summary):
    return tuple(published_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))


def _central(fn, p, j):
    h = 1e-6 * p[j]
    up, down = np.array(p, float), np.array(p, float)
    up[j] += h
    down[j] -= h
    return (fn(up) - fn(down)) / (2 * h)


@pytest.mark.parametrize("params", PARAMS)
def test_loglik_equals_scipys_and_gradient_its_finite_differences(rows, params):
    x, tx, t = rows
    ll, grad, _, ok = paretonbd_loglik_gradient(*params, x, tx, t)
    assert ok.all()
    expected = paretonbd_loglik(*params, x, tx, t)[0]
    np.testing.assert_allclose(ll, expected, rtol=0, atol=1e-12)
    for j in range(4):
        numeric = _central(lambda q: paretonbd_loglik(*q, x, tx, t)[0], params, j)
        # central differences of SciPy's value: truncation ~h^2, rounding ~1e-16/h = 1e-10
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("params", PARAMS)
def test_hessian_is_the_finite_differences_of_the_gradient(rows, params):
    x, tx, t = rows
    _, _, hess, _ = paretonbd_loglik_gradient(*params, x, tx, t, second=True)
    for j in range(4):
        numeric = _central(lambda q: paretonbd_loglik_gradient(*q, x, tx, t)[1], params, j)
        np.testing.assert_allclose(hess[:, :, j], numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("params", PARAMS)
def test_totals_are_the_weighted_sums_of_the_rows(rows, params):
    x, tx, t = rows
    w = np.random.default_rng(5).integers(1, 5, len(x)).astype(float)
    code_a, code_b = group_codes([x, tx]), group_codes([x, t])
    pairs = (first_rows(code_a), code_a, first_rows(code_b), code_b)
    ll, grad, hess, _ = paretonbd_loglik_gradient(*params, x, tx, t, second=True)
    total, total_grad, total_hess, converged = paretonbd_totals(
        np.array(params), x, tx, t, w, distinct=pairs
    )
    assert converged
    assert total == pytest.approx(float(w @ ll), rel=1e-13)
    np.testing.assert_allclose(total_grad, w @ grad, rtol=1e-12)
    np.testing.assert_allclose(total_hess, np.einsum("n,nij->ij", w, hess), rtol=1e-10)


def test_rows_whose_series_does_not_converge_fall_back_to_scipy(rows):
    # alpha = 5, beta = 300: z = 295 / (300 + t) is close to 1, beyond the series' terms
    x, tx, t = rows
    params = np.array([2.0, 5.0, 1.5, 300.0])
    *_, ok = paretonbd_loglik_gradient(*params, x, tx, t)
    assert not ok.all()
    model = ParetoNBDModel()
    ll, grad = model._loglik(params, x, tx, t, np.zeros((len(x), 0)))
    np.testing.assert_allclose(ll, paretonbd_loglik(*params, x, tx, t)[0], atol=1e-12)
    numeric = _central(lambda q: paretonbd_loglik(*q, x, tx, t)[0], params, 3)
    np.testing.assert_allclose(grad[:, 3], numeric, rtol=1e-5, atol=1e-8)
