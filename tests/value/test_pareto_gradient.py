"""Pareto/NBD's exact gradient and Hessian (#16): SciPy's 2F1, quadrature, finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy.integrate import quad

from rox.value.distinct import first_rows, group_codes
from rox.value.models import ParetoNBDModel
from rox.value.models.pareto_gradient import (
    _series,
    paretonbd_loglik_gradient,
    paretonbd_totals,
)
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


# --- an independent reference: the integral of Fader & Hardie (2005) by quadrature -------------
# ln L = ln G(r+x) - ln G(r) + r ln(alpha) + s ln(beta)
#        + ln[ (alpha+T)^-(r+x) (beta+T)^-s + s int_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du ],
# the individual likelihood lambda^x e^-(lambda+mu)T + lambda^x mu int_{t_x}^T e^-(lambda+mu)u du
# averaged over lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta) (FH 2005, eq. 3-4); written here
# from the model, not from the module's series, and integrated by SciPy's quad.

# (x, t_x, T): no repeat purchase, t_x = T (nobody can have dropped out since), a short and a very
# long calibration period, many purchases
REGIMES = np.array(
    [
        [0.0, 0.0, 30.0],
        [0.0, 0.0, 0.5],
        [3.0, 10.0, 30.0],
        [5.0, 30.0, 30.0],
        [2.0, 5.0, 400.0],
        [20.0, 38.0, 39.0],
        [1.0, 0.2, 1500.0],
    ]
)
# alpha > beta and alpha < beta (the series runs in s + 1 or in r + x), z near 0 and z up to 0.8
QUAD_PARAMS = [
    (0.55, 10.58, 0.61, 11.67),
    (0.55, 12.0, 0.61, 9.0),
    (1.7, 2.0, 0.8, 10.0),
    (0.9, 25.0, 2.2, 5.0),
    (2.5, 70.0, 0.9, 89.0),
    (0.7, 8.0, 1.3, 8.0),  # alpha = beta: z = 0, the series is its first term
]


def _quad_loglik(params, x, tx, t):
    r, alpha, s, beta = params
    out = []
    for xi, ti, big_t in zip(x, tx, t, strict=True):
        alive = (alpha + big_t) ** -(r + xi) * (beta + big_t) ** -s
        integral = quad(
            lambda u, xi=xi: (alpha + u) ** -(r + xi) * (beta + u) ** -(s + 1),
            ti,
            big_t,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )[0]
        out.append(
            math.lgamma(r + xi)
            - math.lgamma(r)
            + r * math.log(alpha)
            + s * math.log(beta)
            + math.log(alive + s * integral)
        )
    return np.array(out)


@pytest.mark.parametrize("params", QUAD_PARAMS)
def test_loglik_and_gradient_match_the_integral_by_quadrature(params):
    # rule: ln L and its gradient in (r, alpha, s, beta) are FH 2005's, in every data regime and on
    # both sides of alpha = beta; the gradient is the central difference of the quadrature's ln L
    x, tx, t = REGIMES.T
    ll, grad, _, ok = paretonbd_loglik_gradient(*params, x, tx, t)
    assert ok.all()
    np.testing.assert_allclose(ll, _quad_loglik(params, x, tx, t), rtol=1e-11, atol=1e-11)
    for j in range(4):
        h = 1e-5 * params[j]
        up, down = np.array(params, float), np.array(params, float)
        up[j] += h
        down[j] -= h
        numeric = (_quad_loglik(up, x, tx, t) - _quad_loglik(down, x, tx, t)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("params", QUAD_PARAMS)
def test_hessian_in_every_regime_is_the_finite_differences_of_the_gradient(params):
    # rule: the Hessian is the derivative of the (quadrature-checked) gradient, t_x = T included
    x, tx, t = REGIMES.T
    _, _, hess, ok = paretonbd_loglik_gradient(*params, x, tx, t, second=True)
    assert ok.all()
    for j in range(4):
        numeric = _central(lambda q: paretonbd_loglik_gradient(*q, x, tx, t)[1], params, j)
        np.testing.assert_allclose(hess[:, :, j], numeric, rtol=1e-5, atol=1e-7)


def test_max_terms_bounds_the_series_and_flags_the_rows_beyond():
    # rule: a row whose series has not converged within max_terms terms is flagged not converged
    # and is not summed further; with room (64 terms) it converges to the default's value.
    # alpha = 10 > beta = 6 at t_x = 0: z = 4 / 10, about 40 terms to 1e-16 of the sum
    params = (0.5, 10.0, 0.5, 6.0)
    x, tx, t = np.array([0.0]), np.array([0.0]), np.array([30.0])
    *_, ok = paretonbd_loglik_gradient(*params, x, tx, t, max_terms=32)
    assert not ok.any()
    ll, _, _, ok = paretonbd_loglik_gradient(*params, x, tx, t, max_terms=64)
    assert ok.all()
    np.testing.assert_allclose(ll, _quad_loglik(params, x, tx, t), rtol=1e-12)


def test_series_stops_when_its_last_terms_fall_below_1e_16_of_the_sums():
    # rule (module docstring): with K terms (K = 16, 32, 64, ... up to max_terms) a row is
    # converged when the terms are falling ((b + K) z < K + 1: the next term is smaller) and the
    # last term of S and of dS/dz is at most 1e-16 of its sum; the terms written out here,
    # u_k = (b)_k z^k / k! / (c + k) and k (b)_k z^(k-1) / k! / (c + k), in exact log-gamma form
    z = np.repeat(np.linspace(0.02, 0.9, 45), 9)
    b = np.tile(np.repeat([0.3, 1.5, 6.0], 3), 45)
    c = np.tile([0.5, 3.0, 25.0], 135)
    for max_terms in (16, 32, 64, 128, 256):
        expected = np.zeros(len(z), dtype=bool)
        for terms in (16, 32, 64, 128, 256):
            if terms > max_terms:
                break
            k = np.arange(terms, dtype=float)[None, :]
            log_u = (
                special.gammaln(b[:, None] + k)
                - special.gammaln(b[:, None])
                - special.gammaln(k + 1)
                + k * np.log(z[:, None])
            )
            u = np.exp(log_u) / (c[:, None] + k)
            v = k * np.exp(log_u) / z[:, None] / (c[:, None] + k)
            falling = (b + terms) * z < terms + 1
            expected |= (
                falling & (u[:, -1] <= 1e-16 * u.sum(axis=1)) & (v[:, -1] <= 1e-16 * v.sum(axis=1))
            )
        *_, done = _series(c, b, z, max_terms=max_terms)
        np.testing.assert_array_equal(done, expected, err_msg=f"max_terms={max_terms}")


def test_hessian_only_on_request_and_the_same_with_distinct_pairs(rows):
    # rule: hess is None unless second=True; with distinct pairs (the series once per (x, t_x)
    # and (x, T) pair) every row's ll, gradient and Hessian are those computed row by row
    x, tx, t = rows
    params = PARAMS[0]
    assert paretonbd_loglik_gradient(*params, x, tx, t)[2] is None
    code_a, code_b = group_codes([x, tx]), group_codes([x, t])
    pairs = (first_rows(code_a), code_a, first_rows(code_b), code_b)
    ll, grad, hess, _ = paretonbd_loglik_gradient(*params, x, tx, t, second=True)
    ll_d, grad_d, hess_d, _ = paretonbd_loglik_gradient(
        *params, x, tx, t, second=True, distinct=pairs
    )
    np.testing.assert_allclose(ll_d, ll, rtol=1e-14)
    np.testing.assert_allclose(grad_d, grad, rtol=1e-13)
    np.testing.assert_allclose(hess_d, hess, rtol=1e-12)


def test_totals_are_nan_and_flagged_when_a_series_does_not_converge(rows):
    # rule: paretonbd_totals returns no numbers (NaN, NaN x 4, NaN 4 x 4) and False when any row's
    # series has not converged (alpha = 5, beta = 300: z close to 1), for the caller's fallback
    x, tx, t = rows
    total, grad, hess, converged = paretonbd_totals(
        np.array([2.0, 5.0, 1.5, 300.0]), x, tx, t, np.ones(len(x))
    )
    assert converged is False
    assert np.isnan(total)
    assert grad.shape == (4,) and np.isnan(grad).all()
    assert hess.shape == (4, 4) and np.isnan(hess).all()
