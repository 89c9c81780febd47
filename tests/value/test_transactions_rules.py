"""BG/NBD's and Pareto/NBD's rules (``rox.value.models.transactions``) against hand computations.

Written to kill the mutants of ``bench/mutation.py`` in ``transactions.py`` (#22). Every expected
value is computed here from the published formulas, never by the code under test:

- BG/NBD: the likelihood of Fader, Hardie & Lee (2005, eq. 6) written with beta functions as in
  the paper, P(alive) (eq. 11), E[Y(t) | x, t_x, T] (eq. 10) and E[X(t)] (eq. 7), with the
  Gaussian hypergeometric function summed term by term here (not SciPy's);
- Pareto/NBD: the individual likelihood integrated over the dropout time by quadrature (Fader &
  Hardie 2005, "A Note on Deriving the Pareto/NBD Model", eq. 8-10 before the integral is solved),
  and the expectations integrated over the dropout rate's gamma distribution by quadrature;
- covariates (Fader & Hardie 2007): the per-customer parameters alpha exp(-g.z), a exp(g.z),
  b exp(g.z), beta exp(-g.z) put into those hand likelihoods, and gradients by central
  differences of them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from rox.value.models import BetaGeoModel, ParetoNBDModel
from rox.value.models.fitting import FitResult
from rox.value.models.transactions import bgnbd_loglik, paretonbd_loglik

# (x, t_x, T): no repeat purchase, one, several, the last at T, a long history
ROWS = np.array(
    [
        [0.0, 0.0, 38.0],
        [1.0, 5.5, 38.0],
        [2.0, 30.43, 38.86],
        [7.0, 12.0, 20.0],
        [4.0, 30.0, 30.0],
        [15.0, 70.0, 78.0],
    ]
)
X, TX, T = ROWS.T
BG = (0.243, 4.414, 0.793, 2.426)  # FHL 2005's estimates on CDNOW
PNBD = (0.553, 10.58, 0.606, 11.67)  # FH 2005's Pareto/NBD estimates on CDNOW


def _lbeta(p, q):
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


def hand_bgnbd(r, alpha, a, b, x, tx, big_t):
    """FHL 2005 eq. 6: L = B(a, b+x)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
    + 1{x>0} B(a+1, b+x-1)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)); its log."""
    common = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) - _lbeta(a, b)
    first = _lbeta(a, b + x) - (r + x) * math.log(alpha + big_t)
    if x == 0:
        return common + first
    second = _lbeta(a + 1, b + x - 1) - (r + x) * math.log(alpha + tx)
    return common + max(first, second) + math.log1p(math.exp(-abs(first - second)))


def hyp2f1(a, b, c, z):
    """The Gaussian hypergeometric series sum_n (a)_n (b)_n / ((c)_n n!) z^n, term by term."""
    term, total, n = 1.0, 1.0, 0
    while abs(term) > 1e-17 * abs(total) or n < 5:
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        n += 1
        assert n < 200_000
    return total


def hand_bgnbd_alive(r, alpha, a, b, x, tx, big_t):
    """FHL 2005 eq. 11."""
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((alpha + big_t) / (alpha + tx)) ** (r + x))


def hand_bgnbd_expected(t, r, alpha, a, b, x, tx, big_t):
    """FHL 2005 eq. 10: E[Y(t) | x, t_x, T]."""
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + big_t + t)
    )
    return head * tail * hand_bgnbd_alive(r, alpha, a, b, x, tx, big_t)


def hand_pnbd(r, alpha, s, beta, x, tx, big_t):
    """ln L of Pareto/NBD: alive at T, or dropped out at some tau in (t_x, T) (FH 2005 note)."""
    const = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    alive = (alpha + big_t) ** -(r + x) * (beta + big_t) ** -s
    gone = quad(
        lambda u: (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1),
        tx,
        big_t,
        epsabs=0,
        epsrel=1e-13,
        limit=200,
    )[0]
    return const + math.log(alive + s * gone), alive, s * gone


def _mu_integral(s, beta, t):
    """E[(1 - e^(-mu t)) / mu] for mu ~ Gamma(s, rate beta), by quadrature over mu."""
    density = lambda m: math.exp(  # noqa: E731
        s * math.log(beta) + (s - 1) * math.log(m) - beta * m - math.lgamma(s)
    )
    return quad(lambda m: -math.expm1(-m * t) / m * density(m), 0, math.inf, epsrel=1e-12)[0]


def _model(cls, params, covariates=()):
    model = cls(covariates=covariates)
    values = np.asarray(params, float)
    model._fit = FitResult(values, np.full(len(values), np.nan), float("nan"), 0, 0.0)
    return model


def _frame(rows=ROWS, **columns):
    return pd.DataFrame(
        {"frequency": rows[:, 0], "recency": rows[:, 1], "T": rows[:, 2], **columns}
    )


# -- BG/NBD --------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [BG, (1.5, 20.0, 3.0, 0.7), (0.5, 2.0, 0.4, 8.0)])
def test_bgnbd_loglik_is_fhl_2005_eq_6_with_its_gradient(params):
    ll, *grad = bgnbd_loglik(*params, X, TX, T)
    hand = np.array([hand_bgnbd(*params, *row) for row in ROWS])
    assert ll == pytest.approx(hand, rel=1e-12)
    for j in range(4):
        h = 1e-6 * params[j]
        up, down = list(params), list(params)
        up[j] += h
        down[j] -= h
        numeric = [(hand_bgnbd(*up, *row) - hand_bgnbd(*down, *row)) / (2 * h) for row in ROWS]
        assert grad[j] == pytest.approx(numeric, rel=1e-6, abs=1e-7)


def test_bgnbd_loglik_on_distinct_frequencies_only_with_scalar_parameters():
    # the gamma-function terms once per distinct x: the same values; with one parameter per row
    # (covariates) the distinct values are not used (each row's own parameters)
    ux, idx = np.unique(X, return_inverse=True)
    plain = bgnbd_loglik(*BG, X, TX, T, curvature=True)
    once = bgnbd_loglik(*BG, X, TX, T, distinct=(ux, idx), curvature=True)
    for got, want in zip(once[:5], plain[:5], strict=True):
        assert got == pytest.approx(want, rel=1e-14)
    for p in range(4):
        per_row = list(BG)
        per_row[p] = BG[p] * np.linspace(0.5, 2.0, len(X))
        ll = bgnbd_loglik(*per_row, X, TX, T, distinct=(ux, idx))[0]
        hand = [
            hand_bgnbd(*(np.broadcast_to(v, len(X))[i] for v in per_row), *ROWS[i])
            for i in range(len(X))
        ]
        assert ll == pytest.approx(hand, rel=1e-12)


def test_bgnbd_second_derivatives_are_the_differences_of_the_hand_gradient():
    # the lower triangle h[i][j], per row, against central differences of the hand gradient
    *_, hess = bgnbd_loglik(*BG, X, TX, T, curvature=True)

    def hand_grad(p):
        out = []
        for j in range(4):
            h = 1e-5 * p[j]
            up, down = list(p), list(p)
            up[j] += h
            down[j] -= h
            out.append([(hand_bgnbd(*up, *r) - hand_bgnbd(*down, *r)) / (2 * h) for r in ROWS])
        return np.array(out)

    for j in range(4):
        h = 1e-4 * BG[j]
        up, down = list(BG), list(BG)
        up[j] += h
        down[j] -= h
        column = (hand_grad(up) - hand_grad(down)) / (2 * h)  # d grad_i / d p_j, per row
        for i in range(j, 4):
            got = np.broadcast_to(hess[i][j], len(X))
            assert got == pytest.approx(column[i], rel=2e-4, abs=2e-4), (i, j)


def test_bgnbd_p_alive_and_expected_purchases_are_fhl_2005_eq_10_and_11():
    model = BetaGeoModel.from_params(**dict(zip(("r", "alpha", "a", "b"), BG, strict=True)))
    frame = _frame()
    alive = [hand_bgnbd_alive(*BG, *row) for row in ROWS]
    assert model.p_alive(frame) == pytest.approx(alive, rel=1e-12)
    assert model.p_alive(frame)[0] == 1.0  # no repeat purchase: alive for sure
    for t in (1.0, 39.0, 150.0):
        hand = [hand_bgnbd_expected(t, *BG, *row) for row in ROWS]
        assert model.expected_purchases(t, frame) == pytest.approx(hand, rel=1e-10)
    # arrays alike
    got = model.expected_purchases(39.0, X, TX, T)
    assert got == pytest.approx([hand_bgnbd_expected(39.0, *BG, *row) for row in ROWS], rel=1e-10)


@pytest.mark.parametrize("t", [0.5, 39.0, 78.0])
def test_bgnbd_expected_purchases_of_a_new_customer_is_fhl_2005_eq_7(t):
    r, alpha, a, b = BG
    model = BetaGeoModel.from_params(r=r, alpha=alpha, a=a, b=b)
    hand = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    assert model.expected_purchases_new(t) == pytest.approx(hand, rel=1e-10)
    # a new customer is a customer with x = 0 at T = 0
    assert hand == pytest.approx(hand_bgnbd_expected(t, *BG, 0.0, 0.0, 0.0), rel=1e-12)


def test_bgnbd_new_customer_of_a_covariate_model_has_the_base_parameters():
    # E[X(t)] of a new customer reads r, alpha, a, b: the customer at z = 0 of a model with
    # covariates (its coefficients do not enter)
    model = _model(BetaGeoModel, [*BG, 0.4, -0.3, 0.25], covariates=["g"])
    r, alpha, a, b = BG
    hand = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + 39.0)) ** r * hyp2f1(r, b, a + b - 1, 39.0 / (alpha + 39.0)))
    )
    assert model.expected_purchases_new(39.0) == pytest.approx(hand, rel=1e-10)


def test_bgnbd_dropout_level_is_a_over_a_plus_b_and_starts_at_a_1_b_3():
    model = BetaGeoModel()
    assert model._dropout_level(np.array([0.2, 4.0, 0.793, 2.426])) == pytest.approx(
        0.793 / (0.793 + 2.426), rel=1e-15
    )
    start = model._start(X, TX, T, np.ones(len(X)))
    assert start[2:] == [1.0, 3.0]


def test_bgnbd_curvature_totals_are_the_weighted_hand_sums():
    # the totals Newton's method uses: the weighted sums of the rows' log-likelihood and
    # gradient (hand: FHL eq. 6 and its central differences), the Hessian by differences
    w = np.array([3.0, 1.0, 2.0, 5.0, 1.0, 4.0])
    totals = BetaGeoModel()._curvature(X, TX, T, w)
    ll, grad, hess = totals(np.array(BG))
    hand = lambda p: float(w @ [hand_bgnbd(*p, *row) for row in ROWS])  # noqa: E731
    assert ll == pytest.approx(hand(BG), rel=1e-12)
    for j in range(4):
        h = 1e-6 * BG[j]
        up, down = list(BG), list(BG)
        up[j] += h
        down[j] -= h
        assert grad[j] == pytest.approx((hand(up) - hand(down)) / (2 * h), rel=1e-6)
    assert hess == pytest.approx(hess.T)
    # the curvature of ln L in r alone: sum of w (psi'(r + x) - psi'(r)) + the mixture term: by
    # differences of the hand total
    h = 1e-4 * BG[0]
    up, down = list(BG), list(BG)
    up[0] += h
    down[0] -= h
    second = (hand(up) - 2 * hand(BG) + hand(down)) / h**2
    assert hess[0, 0] == pytest.approx(second, rel=1e-4)


def _bg_covariate_total(params, z, w):
    """The hand BG/NBD log-likelihood with FH 2007's covariates: (r, alpha, a, b, g_alpha, g_a,
    g_b) with one covariate column z."""
    r, alpha, a, b, ga, gaa, gb = params
    return float(
        sum(
            wi
            * hand_bgnbd(
                r, alpha * math.exp(-ga * zi), a * math.exp(gaa * zi), b * math.exp(gb * zi), *row
            )
            for wi, zi, row in zip(w, z, ROWS, strict=True)
        )
    )


def test_bgnbd_covariates_scale_alpha_down_and_a_b_up_with_the_chain_rule_gradient():
    z = np.array([0.0, 1.0, 1.0, 0.0, 2.0, 1.0])
    params = np.array([*BG, 0.4, -0.3, 0.25])
    model = BetaGeoModel(covariates=["g"])
    ll, grad = model._loglik(params, X, TX, T, z[:, None])
    hand_rows = [
        hand_bgnbd(
            BG[0],
            BG[1] * math.exp(-0.4 * zi),
            BG[2] * math.exp(-0.3 * zi),
            BG[3] * math.exp(0.25 * zi),
            *row,
        )
        for zi, row in zip(z, ROWS, strict=True)
    ]
    assert ll == pytest.approx(hand_rows, rel=1e-12)
    for j in range(7):
        h = 1e-6 * max(abs(params[j]), 1e-2)
        for i in range(len(X)):
            e = np.zeros(len(X))
            e[i] = 1.0
            up, down = params.copy(), params.copy()
            up[j] += h
            down[j] -= h
            numeric = (_bg_covariate_total(up, z, e) - _bg_covariate_total(down, z, e)) / (2 * h)
            assert grad[i, j] == pytest.approx(numeric, rel=1e-6, abs=1e-8), (i, j)


def test_bgnbd_predictions_with_covariates_use_each_customers_parameters():
    z = np.array([0.0, 1.0, 1.0, 0.0, 2.0, 1.0])
    model = _model(BetaGeoModel, [*BG, 0.4, -0.3, 0.25], covariates=["g"])
    frame = _frame(g=z)
    own = [
        (
            BG[0],
            BG[1] * math.exp(-0.4 * zi),
            BG[2] * math.exp(-0.3 * zi),
            BG[3] * math.exp(0.25 * zi),
        )
        for zi in z
    ]
    assert model.p_alive(frame) == pytest.approx(
        [hand_bgnbd_alive(*p, *row) for p, row in zip(own, ROWS, strict=True)], rel=1e-12
    )
    assert model.expected_purchases(20.0, frame) == pytest.approx(
        [hand_bgnbd_expected(20.0, *p, *row) for p, row in zip(own, ROWS, strict=True)], rel=1e-10
    )


# -- Pareto/NBD ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        PNBD,
        (0.553, 8.0, 0.606, 11.67),
        (1.2, 30.0, 0.9, 30.0),
        (0.8, 5.0, 1.0, 9.0),
        (0.553, 14.0, 0.606, 11.67),
    ],
)
def test_paretonbd_loglik_and_its_two_terms_are_the_integral_by_quadrature(params):
    # alpha < beta (three), alpha = beta, s = 1, alpha > beta (the series in s + 1, not in r + x);
    # (log term1, log term2) are the logs of the
    # likelihood's "alive at T" and "dropped out before T" parts without the constant
    ll, log1, log2 = paretonbd_loglik(*params, X, TX, T)
    for i, row in enumerate(ROWS):
        hand, alive, gone = hand_pnbd(*params, *row)
        assert ll[i] == pytest.approx(hand, rel=1e-10)
        assert math.exp(log1[i]) == pytest.approx(alive, rel=1e-10)
        assert math.exp(log2[i]) == pytest.approx(gone, rel=1e-8)


@pytest.mark.parametrize("params", [(0.553, 40.0, 0.606, 0.5), (0.5, 0.5, 0.606, 40.0)])
def test_paretonbd_loglik_keeps_the_hypergeometric_argument_in_0_1(params):
    # FH 2005's two forms of the integral are equal (Pfaff's transformation), but only the one
    # whose argument z = |alpha - beta| / (max(alpha, beta) + t) lies in [0, 1) is accurate for
    # many purchases: with alpha = 40 above beta = 0.5 and x = 60 the other form, at z = -3.8, is
    # 9e-6 off in ln L; the form chosen is exact to 1e-12 on either side
    rows = np.array([[60.0, 10.0, 40.0], [20.0, 1.0, 30.0], [0.0, 0.0, 30.0]])
    ll = paretonbd_loglik(*params, *rows.T)[0]
    hand = [hand_pnbd(*params, *row)[0] for row in rows]
    assert ll == pytest.approx(hand, rel=1e-12, abs=1e-12)


def test_paretonbd_p_alive_and_expected_purchases_by_quadrature():
    # P(alive) = alive part / likelihood; E[Y(t) | alive] = E[lambda | x, T] E[(1 - e^-mu t)/mu]
    # with lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T) (SMC 1987)
    r, alpha, s, beta = PNBD
    model = ParetoNBDModel.from_params(r=r, alpha=alpha, s=s, beta=beta)
    frame = _frame()
    alive = []
    for row in ROWS:
        _, a_part, g_part = hand_pnbd(*PNBD, *row)
        alive.append(a_part / (a_part + g_part))
    assert model.p_alive(frame) == pytest.approx(alive, rel=1e-8)
    for t in (10.0, 39.0):
        hand = [
            p * (r + row[0]) / (alpha + row[2]) * _mu_integral(s, beta + row[2], t)
            for p, row in zip(alive, ROWS, strict=True)
        ]
        assert model.expected_purchases(t, frame) == pytest.approx(hand, rel=1e-7)


@pytest.mark.parametrize("s", [0.606, 1.0, 1.0 + 1e-10, 2.5])
def test_paretonbd_expected_purchases_at_and_around_s_equal_1(s):
    # the closed form divides by s - 1; at s = 1 (to np.isclose) it is the logarithmic limit;
    # both against E[X(t)] = (r / alpha) E[(1 - e^-mu t) / mu] by quadrature
    r, alpha, beta = 0.553, 10.58, 11.67
    model = ParetoNBDModel.from_params(r=r, alpha=alpha, s=s, beta=beta)
    for t in (5.0, 52.0):
        hand_new = r / alpha * _mu_integral(s, beta, t)
        assert model.expected_purchases_new(t) == pytest.approx(hand_new, rel=1e-7)
        # a customer with x purchases, last at t_x, observed to T
        x, tx, big_t = 3.0, 20.0, 30.0
        _, a_part, g_part = hand_pnbd(r, alpha, s, beta, x, tx, big_t)
        hand = (
            a_part
            / (a_part + g_part)
            * (r + x)
            / (alpha + big_t)
            * _mu_integral(s, beta + big_t, t)
        )
        got = model.expected_purchases(t, np.array([x]), np.array([tx]), np.array([big_t]))
        assert got[0] == pytest.approx(hand, rel=1e-7)


def test_paretonbd_dropout_level_and_starts():
    model = ParetoNBDModel()
    # (s / beta) / (r / alpha): the mean dropout rate over the mean purchase rate
    assert model._dropout_level(np.array([0.5, 8.0, 0.7, 12.0])) == pytest.approx(
        (0.7 / 12.0) / (0.5 / 8.0), rel=1e-15
    )
    # start: r = s = 0.5 and alpha = beta = r over the mean observed rate x / T (z = 0 there);
    # the rate is at least 1e-3, and T at least 1e-9
    w = np.ones(len(X))
    rate = float(np.mean(X / T))
    assert model._start(X, TX, T, w) == pytest.approx([0.5, 0.5 / rate, 0.5, 0.5 / rate])
    zeros = np.zeros(3)
    assert model._start(zeros, zeros, np.array([1.0, 2.0, 3.0]), np.ones(3)) == pytest.approx(
        [0.5, 500.0, 0.5, 500.0]
    )
    # (both sides of the floor: a mean rate of 1.5e-4 starts at 1e-3, one of 2e-3 at itself)
    tiny = np.array([1e-4, 2e-4])
    assert model._start(tiny, tiny, np.ones(2), np.ones(2)) == pytest.approx(
        [0.5, 500.0, 0.5, 500.0]
    )
    small = np.array([1e-3, 3e-3])
    assert model._start(small, small, np.ones(2), np.ones(2)) == pytest.approx(
        [0.5, 250.0, 0.5, 250.0]
    )
    # an observation shorter than 1 counts as it is (x = 1 in T = 0.5 is a rate of 2: mean 1)
    short = model._start(np.array([1.0, 0.0]), np.array([0.4, 0.0]), np.array([0.5, 4.0]), w[:2])
    assert short == pytest.approx([0.5, 0.5, 0.5, 0.5])
    # a customer observed for T = 0 counts at T = 1e-9, not as a division by zero
    start = model._start(
        np.array([0.0, 2.0]), np.array([0.0, 1.0]), np.array([0.0, 4.0]), np.ones(2)
    )
    assert start == pytest.approx([0.5, 0.5 / 0.25, 0.5, 0.5 / 0.25])
    # Newton's second start: BG/NBD's moments for r and alpha, s = 0.5, beta = alpha
    (second,) = model._newton_starts(X, TX, T, w)
    assert second[2] == 0.5
    assert second[3] == second[1]


@pytest.mark.parametrize(
    ("alpha", "beta", "refused"),
    [(1.0, 4.0, False), (40.0, 10.0, False), (1.0, 4.01, True), (40.0, 9.99, True)],
)
def test_paretonbd_newton_refuses_points_with_z_above_three_quarters(alpha, beta, refused):
    # Newton's totals are NaN where |alpha - beta| / max(alpha, beta) > 0.75 (0.75 itself is
    # evaluated): the likelihood there is the weighted sum of the hand likelihoods (on rows with
    # t_x >= 5.5, whose series converge within Newton's 128 terms at z = 0.75)
    rows = ROWS[1:]
    w = np.array([1.0, 2.0, 5.0, 1.0, 4.0])
    totals = ParetoNBDModel()._curvature(*rows.T, w)
    params = np.array([0.553, alpha, 0.606, beta])
    ll, grad, hess = totals(params)
    if refused:
        assert math.isnan(ll)
        assert np.isnan(grad).all() and grad.shape == (4,)
        assert np.isnan(hess).all() and hess.shape == (4, 4)
    else:
        hand = float(w @ [hand_pnbd(*params, *row)[0] for row in rows])
        assert ll == pytest.approx(hand, rel=1e-9)
        assert np.isfinite(grad).all() and np.isfinite(hess).all()


def test_paretonbd_rows_beyond_the_series_take_scipy_and_central_differences():
    # alpha and beta far apart (z near 1): the exact gradient's series does not converge within
    # its terms for long histories, and those rows are evaluated by the closed form and central
    # differences; both against the quadrature likelihood and its central differences
    params = (0.9, 0.02, 1.4, 400.0)
    rows = np.array([[3.0, 1500.0, 3000.0], [0.0, 0.0, 5000.0], [2.0, 10.0, 40.0]])
    x, tx, big_t = rows.T
    model = ParetoNBDModel()
    ll, grad = model._loglik(np.array(params), x, tx, big_t, np.zeros((3, 0)))
    from rox.value.models.pareto_gradient import paretonbd_loglik_gradient

    *_, ok = paretonbd_loglik_gradient(*params, x, tx, big_t, max_terms=64)
    assert not ok.all()  # the fallback is exercised
    for i, row in enumerate(rows):
        assert ll[i] == pytest.approx(hand_pnbd(*params, *row)[0], rel=1e-8)
        for j in range(4):
            h = 1e-5 * params[j]
            up, down = list(params), list(params)
            up[j] += h
            down[j] -= h
            numeric = (hand_pnbd(*up, *row)[0] - hand_pnbd(*down, *row)[0]) / (2 * h)
            assert grad[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (i, j)


def test_paretonbd_covariates_scale_alpha_and_beta_down_with_the_chain_rule_gradient():
    z = np.array([0.0, 1.0, 1.0, 0.0, 2.0, 1.0])
    params = np.array([*PNBD, 0.3, -0.5])
    model = ParetoNBDModel(covariates=["g"])
    ll, grad = model._loglik(params, X, TX, T, z[:, None])

    def hand(p, i):
        return hand_pnbd(
            p[0], p[1] * math.exp(-p[4] * z[i]), p[2], p[3] * math.exp(-p[5] * z[i]), *ROWS[i]
        )[0]

    assert ll == pytest.approx([hand(params, i) for i in range(len(X))], rel=1e-10)
    for j in range(6):
        h = 1e-5 * max(abs(params[j]), 1e-2)
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        numeric = [(hand(up, i) - hand(down, i)) / (2 * h) for i in range(len(X))]
        assert grad[:, j] == pytest.approx(numeric, rel=1e-5, abs=1e-8), j
    # and the predictions read each customer's alpha and beta
    fitted = _model(ParetoNBDModel, params, covariates=["g"])
    frame = _frame(g=z)
    alive = []
    for i, row in enumerate(ROWS):
        own = (PNBD[0], PNBD[1] * math.exp(-0.3 * z[i]), PNBD[2], PNBD[3] * math.exp(0.5 * z[i]))
        _, a_part, g_part = hand_pnbd(*own, *row)
        alive.append(a_part / (a_part + g_part))
    assert fitted.p_alive(frame) == pytest.approx(alive, rel=1e-8)


# -- BG/NBD's limit of a common dropout probability ----------------------------------------------
_LX = np.array([4.0, 3.0, 2.0, 1.0, 3.0, 0.0])
_LTX = np.array([6.0, 5.0, 4.0, 38.0, 39.0, 0.0])
_LT = np.array([40.0, 40.0, 40.0, 40.0, 40.0, 20.0])


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_bgnbd_limit_case_needs_a_plus_b_of_1000_and_the_limits_likelihood(scale):
    # the limit is taken when the fit is flat only in a and b, a + b >= 1000 (inclusive) and the
    # BG/NBD log-likelihood there is within 0.01 of the common-dropout model's maximum (fitted
    # on the same rows). At (r, alpha) of that maximum and a / (a + b) = its p with a + b = 1000,
    # the gap on these six rows is 0.0057 with weights 0.5 to 2 and twice that, 0.0114, with
    # weights twice as large (the limit's estimates are the same, its likelihood doubles)
    from rox.value.models import CommonDropoutModel

    w = scale * np.array([4.0, 2.0, 1.0, 1.0, 1.0, 3.0])
    limit = CommonDropoutModel().fit(_LX, _LTX, _LT, weights=w)
    r, alpha, p = limit.params_
    a = round(p * 1000, 6)
    b = 1000.0 - a
    assert a + b == 1000.0
    gap = abs(float(w @ bgnbd_loglik(r, alpha, a, b, _LX, _LTX, _LT)[0]) - limit.log_likelihood_)
    assert gap == pytest.approx(0.0114 * scale, abs=2e-4)
    model = BetaGeoModel()
    model._rows = (_LX, _LTX, _LT, w)
    found = model._limit_case(np.array([r, alpha, a, b]), ["a", "b"])
    if scale == 1.0:  # more than 0.01 below the limit's maximum: not at the limit
        assert found is None and model.limit_model_ is None
        return
    assert found is not None
    note, undefined = found
    assert undefined == ["a", "b"]
    assert note.startswith("every customer drops out with about the same probability")
    assert f"a / (a + b) = {p:.3g}" in note
    assert isinstance(model.limit_model_, CommonDropoutModel)
    assert model.limit_model_.params_.tolist() == pytest.approx([r, alpha, p])
    # a + b a hair below 1000, a likelihood flat in r too, or a model with covariates: no limit
    for params, flat, covariates in [
        ([r, alpha, a, np.nextafter(b, 0)], ["a", "b"], ()),
        ([r, alpha, a, b], ["r", "a", "b"], ()),
        ([r, alpha, a, b], ["a", "b"], ("g",)),
    ]:
        other = BetaGeoModel(covariates=covariates)
        other._rows = (_LX, _LTX, _LT, w)
        assert other._limit_case(np.array(params), flat) is None
        assert other.limit_model_ is None


def test_paretonbd_newton_totals_stop_the_series_at_128_terms():
    # at z = 0.75 (alpha = 40, beta = 10, allowed) the series of a customer with x = 0, t_x = 0,
    # T = 38 and s = 0.2 needs more than 128 terms (the exact gradient's module flags it) but
    # not many more: Newton's totals are NaN there, so its line search steps back; the general
    # path's likelihood is the quadrature value
    from rox.value.models.pareto_gradient import paretonbd_totals

    x, tx, big_t, w = np.array([0.0]), np.array([0.0]), np.array([38.0]), np.array([1.0])
    params = np.array([0.553, 40.0, 0.2, 10.0])
    assert math.isnan(paretonbd_totals(params, x, tx, big_t, w, max_terms=128)[0])
    longer = paretonbd_totals(params, x, tx, big_t, w, max_terms=129)[0]
    assert longer == pytest.approx(hand_pnbd(*params, 0.0, 0.0, 38.0)[0], rel=1e-10)
    ll, grad, hess = ParetoNBDModel()._curvature(x, tx, big_t, w)(params)
    assert math.isnan(ll) and np.isnan(grad).all() and np.isnan(hess).all()


def test_paretonbd_new_customer_of_a_covariate_model_has_the_base_parameters():
    # E[X(t)] of a new customer reads r, alpha, s, beta: the customer at z = 0 (by quadrature)
    model = _model(ParetoNBDModel, [*PNBD, 0.3, -0.5], covariates=["g"])
    r, alpha, s, beta = PNBD
    assert model.expected_purchases_new(39.0) == pytest.approx(
        r / alpha * _mu_integral(s, beta, 39.0), rel=1e-7
    )
