"""The fitting core's rules (``rox.value.models.fitting``), on likelihoods with closed-form answers.

Written to kill the mutants of ``bench/mutation.py`` in ``fitting.py`` (#22). The likelihoods are
the textbook ones (Poisson rate; normal mean and standard deviation), whose maximum-likelihood
estimates and observed information are known in closed form: every expected value below is
computed here from those forms, never by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rox.errors import ConvergenceError
from rox.value.models import fitting
from rox.value.models.fitting import FitResult, fit, parameter_draws
from rox.value.models.special import trigamma

X = np.array([1.0, 2.0, 4.0, 7.0])
W = np.array([3.0, 1.0, 2.0, 4.0])  # 10 customers on 4 distinct rows
N = float(W.sum())
MEAN = float(np.sum(W * X) / N)  # 4.1
SD = math.sqrt(float(np.sum(W * (X - MEAN) ** 2) / N))


def poisson(params):
    """Poisson log-likelihood of each row (without log x!) and its gradient in the rate."""
    lam = params[0]
    return X * np.log(lam) - lam, (X / lam - 1.0)[:, None]


def poisson_curvature(params):
    lam = params[0]
    ll = float(np.sum(W * (X * np.log(lam) - lam)))
    return ll, np.array([np.sum(W * (X / lam - 1.0))]), np.array([[-np.sum(W * X) / lam**2]])


def normal(params):
    """Normal log-likelihood (without log sqrt(2 pi)) in (mean, sd) and its gradient."""
    mu, s = params
    ll = -np.log(s) - (X - mu) ** 2 / (2 * s**2)
    return ll, np.column_stack([(X - mu) / s**2, -1 / s + (X - mu) ** 2 / s**3])


def normal_curvature(params):
    mu, s = params
    d = X - mu
    ll = float(np.sum(W * (-np.log(s) - d**2 / (2 * s**2))))
    g = np.array([np.sum(W * d) / s**2, np.sum(W * (-1 / s + d**2 / s**3))])
    h_ms = -2 * np.sum(W * d) / s**3
    h = np.array(
        [[-N / s**2, h_ms], [h_ms, np.sum(W * (1 / s**2 - 3 * d**2 / s**4))]],
    )
    return ll, g, h


def test_fitting_normal_curvature_is_the_numeric_hessian_of_the_likelihood():
    # the analytic derivatives the Newton tests rely on, against central differences of the total
    at = np.array([3.1, 2.2])
    h = 1e-5
    total = lambda p: float(np.sum(W * normal(p)[0]))  # noqa: E731
    num_g = [(total(at + h * e) - total(at - h * e)) / (2 * h) for e in np.eye(2)]
    grad = lambda p: normal_curvature(p)[1]  # noqa: E731
    num_h = np.column_stack([(grad(at + h * e) - grad(at - h * e)) / (2 * h) for e in np.eye(2)])
    ll, g, hess = normal_curvature(at)
    assert ll == pytest.approx(total(at))
    assert np.allclose(g, num_g, rtol=1e-6)
    assert np.allclose(hess, num_h, rtol=1e-6)
    assert np.allclose(np.sum(W[:, None] * normal(at)[1], axis=0), g)


def _hand_poisson():
    # MLE lambda = weighted mean; information N / lambda, so se = sqrt(lambda / N); on the log
    # scale the variance is 1 / (N lambda)
    ll = float(np.sum(W * (X * np.log(MEAN) - MEAN)))
    return MEAN, math.sqrt(MEAN / N), ll, 1.0 / (N * MEAN)


@pytest.mark.parametrize("newton", [False, True])
def test_fitting_poisson_rate_is_the_weighted_mean_with_its_standard_error(newton):
    lam, se, ll, log_var = _hand_poisson()
    found = fit(poisson, [1.0], W, names=["lam"], curvature=poisson_curvature if newton else None)
    assert found.params[0] == pytest.approx(lam, rel=1e-7)
    assert found.standard_errors[0] == pytest.approx(se, rel=1e-4)
    assert found.log_likelihood == pytest.approx(ll, rel=1e-10)
    assert found.covariance is not None
    assert found.covariance[0, 0] == pytest.approx(log_var, rel=1e-4)
    assert found.notes == ()
    assert found.n_iter >= 1
    assert found.gradient_norm < (1e-7 if newton else 1e-3)


@pytest.mark.parametrize("newton", [False, True])
def test_fitting_normal_mean_is_free_and_sd_positive_with_delta_method_errors(newton):
    # MLE: weighted mean and the weighted sd with divisor N; information diag(N / s^2, 2 N / s^2)
    # (mean, sd), so var(mean) = s^2 / N and, on the log scale, var(log s) = 1 / (2 N)
    found = fit(
        normal,
        [0.0, 1.0],
        W,
        names=["mu", "sigma"],
        positive=[False, True],
        curvature=normal_curvature if newton else None,
    )
    assert found.params == pytest.approx([MEAN, SD], rel=1e-6)
    assert found.standard_errors == pytest.approx(
        [SD / math.sqrt(N), SD / math.sqrt(2 * N)], rel=1e-4
    )
    assert found.covariance is not None
    assert found.covariance == pytest.approx(
        np.array([[SD**2 / N, 0.0], [0.0, 1 / (2 * N)]]), rel=1e-4, abs=1e-7
    )
    ll = float(np.sum(W * (-math.log(SD) - (X - MEAN) ** 2 / (2 * SD**2))))
    assert found.log_likelihood == pytest.approx(ll, rel=1e-10)


def test_fitting_a_free_parameter_may_be_negative():
    # the mean of negated data is negative: a free parameter is not clipped to positive
    def neg(p):
        ll, g = normal(np.array([-p[0], p[1]]))
        return ll, g * np.array([-1.0, 1.0])

    found = fit(neg, [0.5, 1.0], W, names=["mu", "sigma"], positive=[False, True])
    assert found.params == pytest.approx([-MEAN, SD], rel=1e-6)


def test_fitting_newton_with_a_negative_or_zero_start_starts_from_its_absolute_value():
    # _start: positive parameters start at log(clip(|start|, lower, upper)); -2 starts at 2,
    # 0 at the lower bound; the fit is the same maximum either way
    lam, *_ = _hand_poisson()
    for start in ([-2.0], [0.0], [1e12]):
        found = fit(poisson, start, W, names=["lam"], curvature=poisson_curvature)
        assert found.params[0] == pytest.approx(lam, rel=1e-7)
        found = fit(poisson, start, W, names=["lam"])
        assert found.params[0] == pytest.approx(lam, rel=1e-6)


def test_fitting_needs_customers():
    with pytest.raises(ConvergenceError, match="nothing to fit: no customers"):
        fit(poisson, [1.0], np.zeros(4), names=["lam"])
    with pytest.raises(ConvergenceError, match="nothing to fit"):
        fit(poisson, [1.0], np.array([0.0, 0.0, -1.0, 0.0]), names=["lam"])
    # the other side: a little weight is enough (the estimate is the one weighted row's x)
    found = fit(poisson, [1.0], np.array([0.0, 0.0, 0.0, 0.5]), names=["lam"])
    assert found.params[0] == pytest.approx(7.0, rel=1e-6)


def _flat(params):
    """Poisson in lam and a second parameter the likelihood does not depend on."""
    ll, g = poisson(params[:1])
    return ll, np.column_stack([g[:, 0], np.zeros(len(X))])


def test_fitting_a_flat_parameter_is_refused_and_named():
    # the Hessian is singular: no standard error is defined, so both parameters are named
    with pytest.raises(ConvergenceError, match=r"flat in lam, nuisance \(estimates 4\.1, 1\)"):
        fit(_flat, [1.0, 1.0], W, names=["lam", "nuisance"])


def _weak(params):
    """Two Poisson rates of the same rows, the second with a thousandth of the information.

    Its log-scale se is 1 / sqrt(0.001 * N * 4.1) = 4.9 > 3: weak; the first's is 0.16.
    """
    ll1, g1 = poisson(params[:1])
    ll2, g2 = poisson(params[1:])
    return ll1 + 0.001 * ll2, np.column_stack([g1[:, 0], 0.001 * g2[:, 0]])


def test_fitting_a_flat_parameter_at_a_known_limit_is_accepted_with_the_note():
    seen = []

    def limit(params, weak):
        seen.append((params.copy(), list(weak)))
        return "a known limit", ["nuisance"]

    found = fit(_weak, [1.0, 1.0], W, names=["lam", "nuisance"], limit_case=limit)
    assert seen[0][1] == ["nuisance"]
    assert seen[0][0] == pytest.approx([MEAN, MEAN], rel=1e-4)
    assert found.notes == ("a known limit",)
    assert found.covariance is None
    assert found.params[0] == pytest.approx(MEAN, rel=1e-6)
    assert np.isnan(found.standard_errors[1])
    with pytest.raises(ConvergenceError, match=r"flat in nuisance \(estimates 4\.1, 4\.1\)"):
        fit(_weak, [1.0, 1.0], W, names=["lam", "nuisance"])
    assert found.standard_errors[0] == pytest.approx(math.sqrt(MEAN / N), rel=1e-3)
    ll = float(np.sum(W * (1.001 * (X * np.log(MEAN) - MEAN))))
    assert found.log_likelihood == pytest.approx(ll, rel=1e-9)


def test_fitting_limit_case_returning_none_leaves_an_identified_fit_as_it_is():
    calls = []
    found = fit(poisson, [1.0], W, names=["lam"], limit_case=lambda p, w: calls.append(w))
    assert calls == [[]]
    assert found.notes == ()
    assert found.covariance is not None


def test_fitting_weakly_identified_means_a_log_scale_se_above_three():
    # a positive parameter with se > 3 * estimate (log-scale se > 3) is weak: a Poisson rate from
    # total weight N has log-scale se 1 / sqrt(N lambda); with lambda = 4.3 that is above 3 for
    # N below 1 / (9 * 4.3) = 0.0258 and below 3 above it (both sides, the estimate unchanged)
    def weak_names(n):
        seen = []
        fit(
            poisson,
            [1.0],
            W * n / N,
            names=["lam"],
            limit_case=lambda p, w: seen.append(w) or ("n", []),
        )
        return seen[0]

    assert weak_names(0.020) == ["lam"]
    assert weak_names(0.032) == []


def test_fitting_a_parameter_at_its_bound_fails_after_every_start():
    # the rate of all-zero data runs to the lower bound: every start fails and the error says so,
    # counting the starts (restarts + 1)
    zero = lambda p: (-p[0] * np.ones(4), -np.ones((4, 1)))  # noqa: E731
    with pytest.raises(
        ConvergenceError, match=r"from 5 starts \(parameter\(s\) lam ran to their bound\)"
    ):
        fit(zero, [1.0], W, names=["lam"])
    with pytest.raises(ConvergenceError, match=r"from 2 starts"):
        fit(zero, [1.0], W, names=["lam"], restarts=1)
    # the upper bound alike: a rate that always grows the likelihood
    up = lambda p: (np.log(p[0]) * np.ones(4), (1 / p[0]) * np.ones((4, 1)))  # noqa: E731
    with pytest.raises(ConvergenceError, match="lam ran to their bound"):
        fit(up, [1.0], W, names=["lam"], upper=1e3)


def test_fitting_non_finite_likelihood_everywhere_fails_with_the_optimiser_message():
    nan = lambda p: (np.full(4, np.nan), np.full((4, 1), np.nan))  # noqa: E731
    with pytest.raises(ConvergenceError, match="did not converge from 5 starts"):
        fit(nan, [1.0], W, names=["lam"])


def test_fitting_restarts_from_perturbed_starts_after_a_failed_first():
    # a likelihood that is NaN near the start (lam < 2) but fine elsewhere: the first start fails
    # and a perturbed restart (normal with sd 0.5 * attempt on the log scale) finds the maximum
    def bumpy(params):
        if params[0] < 1.5:
            return np.full(4, np.nan), np.full((4, 1), np.nan)
        return poisson(params)

    found = fit(bumpy, [1.0], W, names=["lam"], restarts=20, seed=1)
    assert found.params[0] == pytest.approx(MEAN, rel=1e-6)
    with pytest.raises(ConvergenceError, match="from 1 starts"):
        fit(bumpy, [1.0], W, names=["lam"], restarts=0)


def test_fitting_newton_falls_back_when_its_curvature_is_not_finite(monkeypatch):
    # a curvature returning NaN: Newton gives up (None) and the general path fits
    bad = lambda p: (float("nan"), np.array([np.nan]), np.array([[np.nan]]))  # noqa: E731
    found = fit(poisson, [1.0], W, names=["lam"], curvature=bad)
    assert found.params[0] == pytest.approx(MEAN, rel=1e-6)


def test_fitting_newton_tries_the_starts_best_log_likelihood_first():
    # the Poisson log-likelihood per customer is MEAN ln(lam) - lam (MEAN = 4.1, without log x!):
    # lam = 1: -1; 2: 4.1 ln 2 - 2 = 0.842; 3: 4.1 ln 3 - 3 = 1.504; 9: 4.1 ln 9 - 9 = 0.009
    calls = []

    def newton(curvature, x0, total, pos, bounds, natural, first=None):
        lam = float(np.exp(x0[0]))
        calls.append(lam)
        # the start's evaluation is handed on, not computed again
        assert first[0] == pytest.approx(N * (MEAN * math.log(lam) - lam), rel=1e-12)

    import unittest.mock

    with unittest.mock.patch.object(fitting, "_newton", newton):
        found = fit(poisson, [1.0], W, names=["lam"], curvature=poisson_curvature,
                    newton_starts=[[2.0], [9.0], [3.0]])  # fmt: skip
    assert calls == pytest.approx([3.0, 2.0, 9.0, 1.0])
    assert found.params[0] == pytest.approx(MEAN, rel=1e-6)  # (the general path, from 1.0)


def test_fitting_newton_keeps_the_order_of_equal_starts_and_evaluates_a_single_one_itself():
    seen = []

    def newton(curvature, x0, total, pos, bounds, natural, first=None):
        seen.append((float(np.exp(x0[0])), first is None))

    import unittest.mock

    with unittest.mock.patch.object(fitting, "_newton", newton):
        # two equal starts keep their given order (both evaluated); a single one is not
        fit(poisson, [2.0], W, names=["lam"], curvature=poisson_curvature,
            newton_starts=[[2.0]])  # fmt: skip
        fit(poisson, [5.0], W, names=["lam"], curvature=poisson_curvature)
    assert seen == [(pytest.approx(2.0), False), (pytest.approx(2.0), False),
                    (pytest.approx(5.0), True)]  # fmt: skip


def test_fitting_newton_tries_a_start_with_a_non_finite_log_likelihood_last():
    # at lam = 5 the log-likelihood is NaN (its gradient finite): that start is tried after the
    # finite ones, whatever its place; among the finite, 3 (1.504 per customer) before 2 (0.842)
    def curvature(params):
        ll, g, h = poisson_curvature(params)
        return (float("nan") if abs(params[0] - 5.0) < 1e-9 else ll), g, h

    calls = []

    def newton(curvature, x0, total, pos, bounds, natural, first=None):
        calls.append(float(np.exp(x0[0])))

    import unittest.mock

    with unittest.mock.patch.object(fitting, "_newton", newton):
        fit(poisson, [5.0], W, names=["lam"], curvature=curvature,
            newton_starts=[[2.0], [3.0]])  # fmt: skip
        fit(poisson, [2.0], W, names=["lam"], curvature=curvature,
            newton_starts=[[5.0], [3.0]])  # fmt: skip
    assert calls == pytest.approx([3.0, 2.0, 5.0, 3.0, 2.0, 5.0])


def test_fitting_newton_is_exact_in_a_few_steps_and_reaches_the_float_precision():
    found = fitting._newton(
        poisson_curvature,
        np.log([1.0]),
        N,
        np.array([True]),
        [(math.log(1e-8), math.log(1e8))],
        np.exp,
    )
    assert found is not None
    assert found.params[0] == pytest.approx(MEAN, rel=1e-8)
    assert 1 <= found.n_iter <= 20
    assert found.gradient_norm <= 1e-7  # _NEWTON_ACCEPT


def test_fitting_newton_refuses_a_maximum_outside_its_bounds():
    # the maximum (4.3) lies above an upper bound of 4: Newton returns None
    got = fitting._newton(
        poisson_curvature,
        np.log([1.0]),
        N,
        np.array([True]),
        [(math.log(1e-8), math.log(4.0))],
        np.exp,
    )
    assert got is None
    got = fitting._newton(
        poisson_curvature,
        np.log([1.0]),
        N,
        np.array([True]),
        [(math.log(4.5), math.log(1e8))],
        np.exp,
    )
    assert got is None


def test_fitting_newton_refuses_a_poorly_determined_maximum():
    # a log-scale se above 3 (weight 0.02 in all: 1 / sqrt(0.02 * 4.3) = 3.4) is left to the
    # general path; weight 0.032 (se 2.69) is accepted
    def at(total_weight):
        ww = W * total_weight / N

        def curv(params):
            lam = params[0]
            return (
                float(np.sum(ww * (X * np.log(lam) - lam))),
                np.array([np.sum(ww * (X / lam - 1.0))]),
                np.array([[-np.sum(ww * X) / lam**2]]),
            )

        return fitting._newton(curv, np.log([1.0]), total_weight, np.array([True]),
                               [(math.log(1e-8), math.log(1e8))], np.exp)  # fmt: skip

    assert at(0.020) is None
    accepted = at(0.032)
    assert accepted is not None
    assert accepted.standard_errors[0] == pytest.approx(MEAN / math.sqrt(0.032 * MEAN), rel=1e-8)


def test_fitting_newton_limits_a_step_to_e_to_the_5():
    # from lam = 1e-6 the first Newton step on the log scale would be far beyond 5; it is cut to
    # 5 and the method still ends at the maximum
    found = fitting._newton(
        poisson_curvature,
        np.log([1e-6]),
        N,
        np.array([True]),
        [(math.log(1e-8), math.log(1e8))],
        np.exp,
    )
    assert found is not None
    assert found.params[0] == pytest.approx(MEAN, rel=1e-8)


def test_fitting_parameter_draws_are_normal_on_the_fitting_scale():
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    found = FitResult(np.array([2.0, -1.0]), np.array([0.4, 0.3]), 0.0, 0, 0.0, covariance=cov)
    draws = parameter_draws(found, [True, False], 40_000, random_state=5)
    assert draws.shape == (40_000, 2)
    assert np.all(draws[:, 0] > 0)
    logged = np.column_stack([np.log(draws[:, 0]), draws[:, 1]])
    assert logged.mean(axis=0) == pytest.approx([math.log(2.0), -1.0], abs=0.01)
    assert np.cov(logged.T) == pytest.approx(cov, abs=0.003)
    assert np.array_equal(
        parameter_draws(found, [True, False], 3), parameter_draws(found, [True, False], 3, 0)
    )
    with pytest.raises(ValueError, match="no covariance"):
        parameter_draws(FitResult(np.ones(2), np.ones(2), 0.0, 0, 0.0), [True, True], 3)


def test_special_trigamma_is_the_sum_of_inverse_squares():
    # psi'(v) = sum_{k >= 0} 1 / (v + k)^2; psi'(1) = pi^2 / 6, psi'(1/2) = pi^2 / 2
    assert trigamma(1.0) == pytest.approx(math.pi**2 / 6, rel=1e-14)
    assert trigamma(0.5) == pytest.approx(math.pi**2 / 2, rel=1e-14)
    v = 3.7
    assert trigamma(v) == pytest.approx(
        sum(1 / (v + k) ** 2 for k in range(200_000)) + 1 / (v + 2e5), rel=1e-9
    )


def test_fitting_newton_on_a_free_and_a_positive_parameter_has_the_closed_form_covariance():
    # Newton itself (not the general path) on the normal likelihood, from near the maximum: the
    # fitting scale is (mu, log s), so the covariance is diag(s^2 / N, 1 / (2 N)) and the
    # standard errors (s / sqrt(N), s / sqrt(2 N)); a free parameter is not rescaled
    found = fitting._newton(
        normal_curvature,
        np.array([3.0, math.log(1.5)]),
        N,
        np.array([False, True]),
        [(-50.0, 50.0), (math.log(1e-8), math.log(1e8))],
        lambda t: np.array([t[0], math.exp(t[1])]),
    )
    assert found is not None
    assert found.params == pytest.approx([MEAN, SD], rel=1e-7)
    assert found.covariance == pytest.approx(
        np.array([[SD**2 / N, 0.0], [0.0, 1 / (2 * N)]]), rel=1e-6, abs=1e-7
    )
    assert found.standard_errors == pytest.approx(
        [SD / math.sqrt(N), SD / math.sqrt(2 * N)], rel=1e-6
    )
    ll = float(np.sum(W * (-math.log(SD) - (X - MEAN) ** 2 / (2 * SD**2))))
    assert found.log_likelihood == pytest.approx(ll, rel=1e-12)


def test_fitting_default_seed_is_zero():
    # the perturbed restarts are reproducible: the default seed is 0
    def bumpy(params):
        if params[0] < 1.5:
            return np.full(4, np.nan), np.full((4, 1), np.nan)
        return poisson(params)

    default = fit(bumpy, [1.0], W, names=["lam"], restarts=20)
    zero = fit(bumpy, [1.0], W, names=["lam"], restarts=20, seed=0)
    assert (default.n_iter, default.params[0]) == (zero.n_iter, zero.params[0])
    one = fit(bumpy, [1.0], W, names=["lam"], restarts=20, seed=1)
    assert (one.n_iter, one.params[0]) != (zero.n_iter, zero.params[0])


def _hand_newton_poisson(lam0):
    """Newton's method on the Poisson rate, written out on the log scale (theta = log lam).

    Per customer the objective is f = -(m theta - e^theta) (m the weighted mean), so
    g = e^theta - m and h = e^theta > 0 (no shift needed); the step -g / h is cut to 5 at most;
    a step is halved until f decreases by 1e-4 of its predicted gain (Armijo); the method stops
    when |g| <= 1e-10 or the predicted gain is below 1e-14 of the objective.
    """
    m = MEAN
    f = lambda t: -(m * t - math.exp(t))  # noqa: E731
    theta, n_iter = math.log(lam0), 0
    while n_iter < 100:
        g = math.exp(theta) - m
        if abs(g) <= 1e-10:
            break
        n_iter += 1
        step = -g / math.exp(theta)
        step = max(-5.0, min(5.0, step))
        slope = g * step
        if -slope <= 1e-14 * max(1.0, abs(f(theta))):
            break
        t = 1.0
        while f(theta + t * step) > f(theta) + 1e-4 * t * slope:
            t /= 2
        theta += t * step
    return theta, n_iter


@pytest.mark.parametrize("lam0", [1.0, 1e-6, 1e4, 4.0])
def test_fitting_newton_takes_the_steps_of_the_method_written_out(lam0):
    theta, n_iter = _hand_newton_poisson(lam0)
    found = fitting._newton(
        poisson_curvature,
        np.log([lam0]),
        N,
        np.array([True]),
        [(math.log(1e-8), math.log(1e8))],
        np.exp,
    )
    if abs(math.exp(theta) - MEAN) > 1e-7:
        # from 4.0 the float-precision rule stops it with |g| ~ 2e-7, above the 1e-7 accepted
        assert found is None
        return
    assert found is not None
    assert found.n_iter == n_iter
    assert math.log(found.params[0]) == pytest.approx(theta, abs=1e-12)


@pytest.mark.parametrize(
    ("shift", "fits"), [(45.4, True), (46.4, False), (-54.6, False), (-53.6, True)]
)
def test_fitting_a_free_parameter_is_bounded_by_50_either_side(shift, fits):
    # the normal mean of X + shift is 4.1 + shift: 49.5 and -49.5 lie inside [-50, 50],
    # 50.5 and -50.5 do not
    def moved(p):
        return normal(np.array([p[0] - shift, p[1]]))

    if fits:
        found = fit(moved, [0.0, 1.0], W, names=["mu", "sigma"], positive=[False, True])
        assert found.params[0] == pytest.approx(MEAN + shift, rel=1e-6)
    else:
        with pytest.raises(ConvergenceError, match="mu ran to their bound"):
            fit(moved, [0.0, 1.0], W, names=["mu", "sigma"], positive=[False, True])


def test_fitting_a_non_finite_likelihood_with_a_finite_gradient_is_the_worst_value():
    # the objective turns a non-finite log-likelihood into a huge value even when the gradient is
    # finite, so the optimiser's line search backs off from it: a likelihood undefined above
    # lam = 6 is still fitted (4.1) from lam = 0.01, whose first steps overshoot past 6
    def undefined_above_6(params):
        if params[0] > 6:
            return np.full(4, np.nan), np.ones((4, 1))
        return poisson(params)

    found = fit(undefined_above_6, [0.01], W, names=["lam"], restarts=0)
    assert found.params[0] == pytest.approx(MEAN, rel=1e-6)


def test_fitting_tries_restarts_plus_one_distinct_starts_the_first_at_the_start():
    # a likelihood that fails everywhere: the general path tries the start itself, then
    # `restarts` perturbed starts, each different (the optimiser and the check may each evaluate
    # a start, so the distinct points are counted, in order)
    points = []

    def nowhere(params):
        points.append(float(params[0]))
        return np.full(4, np.nan), np.full((4, 1), np.nan)

    with pytest.raises(ConvergenceError, match="from 4 starts"):
        fit(nowhere, [1.0], W, names=["lam"], restarts=3)
    starts = list(dict.fromkeys(points))
    assert len(starts) == 4
    assert starts[0] == pytest.approx(1.0, rel=1e-12)
    assert all(abs(s - 1.0) > 1e-6 for s in starts[1:])


# -- Newton's method on objectives written for one rule each -------------------------------------
# Each helper below is the per-customer objective f (minimised; the log-likelihood is -f) of one
# free parameter, with its exact first and second derivatives, and records every point Newton
# evaluates; total weight 1, so Newton's objective is f itself. The expected points and stops are
# the method of `_newton`'s docstring worked by hand: the Hessian shifted to 1e-6 above zero where
# its lowest eigenvalue is at most 1e-10 (Nocedal & Wright 2006, sec. 3.4), the step cut to 5 at
# most, halved until f falls by 1e-4 of the predicted gain (Armijo), a stop when the gradient is at
# most 1e-10 or the predicted gain at most 1e-14 max(1, |f|), and an end accepted only inside the
# bounds with a gradient of at most 1e-7.


def _recording(f, df, d2f):
    points = []

    def curvature(params):
        x = float(params[0])
        points.append(x)
        return -f(x), np.array([-df(x)]), np.array([[-d2f(x)]])

    return curvature, points


def _newton_free(curvature, x0, bounds=(-50.0, 50.0)):
    return fitting._newton(curvature, np.array([x0]), 1.0, np.array([False]), [bounds], np.array)


def test_fitting_newton_shifts_an_indefinite_hessian_cuts_the_step_and_backtracks():
    # the double well f = x^4 / 4 - x^2 / 2 (minima at +-1, f'' = 3 x^2 - 1) from x = 0.3, where
    # f'' = -0.73: the shifted curvature is -0.73 + (1e-6 + 0.73) = 1e-6, so the step -f'/1e-6 =
    # 2.73e5 is cut to 5; f(5.3), f(2.8) and f(1.55) lie above f(0.3) = -0.043, f(0.925) = -0.245
    # below it: the step is halved three times. Then plain Newton steps end at the minimum x = 1,
    # whose variance is 1 / f''(1) = 1 / 2.
    f = lambda x: x**4 / 4 - x**2 / 2  # noqa: E731
    curvature, points = _recording(f, lambda x: x**3 - x, lambda x: 3 * x**2 - 1)
    found = _newton_free(curvature, 0.3)
    assert points[:5] == pytest.approx([0.3, 5.3, 2.8, 1.55, 0.925], abs=1e-9)
    assert f(1.55) > f(0.3) > f(0.925)
    assert found is not None
    # (to the float-precision stop: a predicted gain below 1e-14, so |x - 1| below 1e-7)
    assert found.params == pytest.approx([1.0], abs=1e-7)
    assert found.covariance == pytest.approx(np.array([[0.5]]), rel=1e-6)
    assert found.log_likelihood == pytest.approx(0.25, rel=1e-12)  # -f(1)


@pytest.mark.parametrize(("curv", "first_step"), [(1e-10, 4e-10 / 1e-6), (2e-10, 2.0)])
def test_fitting_newton_shifts_a_curvature_of_at_most_1e_10(curv, first_step):
    # f = curv / 2 (x - c)^2 with f'(0) = -4e-10 (above the 1e-10 gradient stop): a curvature of
    # exactly 1e-10 is shifted to 1e-6 (step 4e-4); 2e-10 is not (the plain Newton step c = 2)
    c = 4e-10 / curv
    curvature, points = _recording(
        lambda x: curv / 2 * (x - c) ** 2, lambda x: curv * (x - c), lambda x: curv
    )
    _newton_free(curvature, 0.0)
    assert points[1] == pytest.approx(first_step, rel=1e-9)


def _cubic(k):
    """f = -2 x + x^2 / 2 + x^3 / 4 + k x^3: f(0) = 0, f'(0) = -2, f''(0) = 1, f(2) = 8 k."""
    return (
        lambda x: -2 * x + x * x / 2 + x**3 / 4 + k * x**3,
        lambda x: -2 + x + 3 * (0.25 + k) * x**2,
        lambda x: 1 + 6 * (0.25 + k) * x,
    )


@pytest.mark.parametrize(
    ("k", "trials"),
    [
        (-1e-4 / 2, [2.0]),  # f(2) = -4e-4: exactly 1e-4 of the predicted gain 4: accepted
        (-6e-4 / 8, [2.0]),  # f(2) = -6e-4: more than enough
        (-2e-4 / 8, [2.0, 1.0]),  # f(2) = -2e-4: not enough; half the step: f(1) = -1.25
        (1e-3 / 8, [2.0, 1.0]),  # f(2) = +1e-3: a rise
    ],
)
def test_fitting_newton_accepts_a_step_by_armijo_sufficient_decrease(k, trials):
    # from 0 the Newton step is 2 (f' = -2, f'' = 1) and the predicted gain 4 (slope -2 * 2): the
    # step is taken when f(2) <= f(0) - 1e-4 * 4, inclusive, else halved. The method then ends
    # at the local minimum, the positive root of f' = 0.
    f, df, d2f = _cubic(k)
    curvature, points = _recording(f, df, d2f)
    found = _newton_free(curvature, 0.0)
    assert f(2.0) == 8 * k  # exactly, so the first case is the boundary itself
    # the trials of the first step, then the next Newton step from the point accepted
    x = trials[-1]
    assert points[1 : 2 + len(trials)] == pytest.approx([*trials, x - df(x) / d2f(x)], abs=1e-15)
    a = 3 * (0.25 + k)
    x_min = (-1 + math.sqrt(1 + 8 * a)) / (2 * a)
    assert found is not None
    assert found.params == pytest.approx([x_min], abs=1e-7)  # to the float-precision stop
    assert found.covariance == pytest.approx(np.array([[1 / d2f(x_min)]]), rel=1e-9)


def test_fitting_newton_judges_each_halved_step_by_its_own_predicted_gain():
    # f = -2 x + x^2 / 2 + b x^3 + d x^4 with f(1) = -5e-4 and f(2) = +1e-3 (b + d = 1.4995,
    # b + 2 d = 0.250125): from 0 the step 2 (predicted gain 4) rises and is halved; at t = 1/2
    # the decrease asked for is 1e-4 * 1/2 * 4 = 2e-4, and f(1) = -5e-4 gives it, so x = 1 is
    # accepted (not the 8e-4 of 1e-4 / t, nor a further halving to 0.5); the next step is Newton's
    # from 1
    d = 0.250125 - 1.4995
    b = 1.4995 - d
    f = lambda x: -2 * x + x * x / 2 + b * x**3 + d * x**4  # noqa: E731
    df = lambda x: -2 + x + 3 * b * x**2 + 4 * d * x**3  # noqa: E731
    d2f = lambda x: 1 + 6 * b * x + 12 * d * x**2  # noqa: E731
    assert f(1.0) == pytest.approx(-5e-4, abs=1e-12)
    assert f(2.0) == pytest.approx(1e-3, abs=1e-12)
    curvature, points = _recording(f, df, d2f)
    found = _newton_free(curvature, 0.0)
    assert points[1:4] == pytest.approx([2.0, 1.0, 1.0 - df(1.0) / d2f(1.0)], abs=1e-15)
    # it ends at the local minimum between 0 and 1: the real root of f' there (numpy's roots)
    roots = [r.real for r in np.roots([4 * d, 3 * b, 1, -2]) if abs(r.imag) < 1e-12]
    x_min = next(r for r in roots if 0 < r < 1 and d2f(r) > 0)
    assert found is not None
    assert found.params == pytest.approx([x_min], abs=1e-7)


@pytest.mark.parametrize(("gradient", "n_iter"), [(1e-10, 0), (2e-10, 1)])
def test_fitting_newton_stops_at_a_gradient_of_at_most_1e_10(gradient, n_iter):
    # f = (x - c)^2 / 2 from 0, f'(0) = -c: a gradient of exactly 1e-10 is converged before any
    # iteration; at 2e-10 one iteration is counted (which then stops at the float-precision rule:
    # a predicted gain of 4e-20), both ending where they started, an accepted maximum
    c = gradient
    curvature, points = _recording(lambda x: (x - c) ** 2 / 2, lambda x: x - c, lambda x: 1.0)
    found = _newton_free(curvature, 0.0)
    assert found is not None
    assert found.n_iter == n_iter
    assert found.params == [0.0]
    assert found.gradient_norm == gradient
    assert points == [0.0]


# f = V - G x + 2 x^2 from 0: f(0) = V, f'(0) = -G, f'' = 4, so the Newton step is G / 4 and the
# predicted gain G^2 / 4 = 2^-46 with G = 2^-22; that is exactly 1e-14 V for this V
_G = 2.0**-22
_V_AT_THE_FLOAT_LIMIT = 2.0**-46 / 1e-14  # 1.42


@pytest.mark.parametrize("value", [_V_AT_THE_FLOAT_LIMIT, 1.40, 0.5])
def test_fitting_newton_stops_when_the_predicted_gain_is_below_float_precision(value):
    # the stop is -slope <= 1e-14 max(1, |f|), inclusive: at V = 1.42 it stops where it is (and
    # the gradient G = 2.4e-7, above the 1e-7 accepted, leaves the fit to the general path);
    # at V = 1.40 (and at V = 0.5, where max(1, |f|) = 1) the step is taken and ends at G / 4
    assert 1e-14 * _V_AT_THE_FLOAT_LIMIT == _G**2 / 4
    curvature, points = _recording(lambda x: value - _G * x + 2 * x * x, lambda x: -_G + 4 * x,
                                   lambda x: 4.0)  # fmt: skip
    found = _newton_free(curvature, 0.0)
    if value == _V_AT_THE_FLOAT_LIMIT:
        assert found is None
        assert points == [0.0]
    else:
        assert found is not None
        assert found.params == [_G / 4]
        assert found.n_iter == 1


@pytest.mark.parametrize(("gradient", "accepted"), [(1e-7, True), (1.5e-7, False)])
def test_fitting_newton_accepts_an_end_with_a_gradient_of_at_most_1e_7(gradient, accepted):
    # f = 1e6 - G x + x^2 / 2 from 0: the predicted gain G^2 (1e-14, 2.25e-14) is below
    # 1e-14 * 1e6, so Newton stops where it starts, with the gradient G
    curvature, _ = _recording(lambda x: 1e6 - gradient * x + x * x / 2, lambda x: x - gradient,
                              lambda x: 1.0)  # fmt: skip
    found = _newton_free(curvature, 0.0)
    if accepted:
        assert found is not None
        assert found.gradient_norm == gradient
        assert found.params == [0.0]
    else:
        assert found is None


@pytest.mark.parametrize(
    ("c", "bounds", "interior"),
    [
        (2.0, (-3.0, 2.0), False),  # the maximum on the upper bound
        (2.0, (-3.0, 2.5), True),
        (-2.0, (-2.0, 3.0), False),  # on the lower bound
        (-2.0, (-2.5, 3.0), True),
    ],
)
def test_fitting_newton_accepts_only_an_interior_maximum(c, bounds, interior):
    # f = (x - c)^2 / 2 from c / 2: one exact Newton step lands on c; a maximum on a bound is not
    # interior (the general path decides), one inside the bounds is the fit
    curvature, points = _recording(lambda x: (x - c) ** 2 / 2, lambda x: x - c, lambda x: 1.0)
    found = _newton_free(curvature, c / 2, bounds)
    assert points[1] == c
    if interior:
        assert found is not None
        assert found.params == [c]
    else:
        assert found is None


@pytest.mark.parametrize(("cap", "n_iter"), [(4, 4), (3, None), (100, 5)])
def test_fitting_newton_stops_at_its_iteration_cap(monkeypatch, cap, n_iter):
    # Newton on the Poisson rate from 1 takes 5 iterations (written out in
    # _hand_newton_poisson); after 4 the gradient is 3.7e-9 (accepted, below 1e-7), after 3 it
    # is 1.7e-4 (refused: None, the general path fits). The cap counts iterations, inclusive.
    _, steps = _hand_newton_poisson(1.0)
    assert steps == 5
    monkeypatch.setattr(fitting, "_NEWTON_MAXITER", cap)
    found = fitting._newton(poisson_curvature, np.log([1.0]), N, np.array([True]),
                            [(math.log(1e-8), math.log(1e8))], np.exp)  # fmt: skip
    if n_iter is None:
        assert found is None
        # through fit: Newton gives up at the cap and the general path finds the same maximum
        assert fit(poisson, [1.0], W, names=["lam"], curvature=poisson_curvature).params[
            0
        ] == pytest.approx(MEAN, rel=1e-6)
    else:
        assert found is not None
        assert found.n_iter == n_iter
        assert found.params[0] == pytest.approx(MEAN, rel=1e-8)


def test_fitting_newton_does_not_start_where_the_likelihood_is_not_finite():
    # a log-likelihood of -inf at the start (its derivatives finite, the quadratic's): no step is
    # taken, Newton gives up at once
    curvature, points = _recording(
        lambda x: math.inf if x == 0.0 else (x - 1) ** 2 / 2, lambda x: x - 1, lambda x: 1.0
    )
    assert _newton_free(curvature, 0.0) is None
    assert points == [0.0]


@pytest.mark.parametrize(("gradient", "error"), [(1e-3, "did not converge"), (0.9e-3, "flat in a")])
def test_fitting_general_path_needs_a_gradient_below_1e_3(gradient, error):
    # a likelihood flat in value whose gradient says otherwise: L-BFGS-B's line search fails
    # where it starts, with that gradient; 1e-3 per customer is not converged (strict), 0.9e-3 is,
    # and then the flat likelihood is refused as not identified
    lik = lambda p: (np.zeros(1), np.full((1, 1), -gradient))  # noqa: E731
    with pytest.raises(ConvergenceError, match=error):
        fit(lik, [0.0], np.ones(1), names=["a"], positive=[False])


def test_fitting_a_zero_variance_is_no_standard_error():
    # the saddle of a b at (0, 0): the gradient is zero where it starts, the Hessian
    # [[0, 1], [1, 0]] is its own inverse, so both variances are exactly 0: not a standard error
    # of 0 (NaN), and the fit is refused as flat in both
    saddle = lambda p: (np.array([-p[0] * p[1]]), np.array([[-p[1], -p[0]]]))  # noqa: E731
    with pytest.raises(ConvergenceError, match=r"flat in a, b \(estimates 0, 0\)"):
        fit(saddle, [0.0, 0.0], np.ones(1), names=["a", "b"], positive=[False, False])
