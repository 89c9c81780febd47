"""The value models' rules, each checked against a hand computation or a published value.

Written to kill the surviving mutants of ``bench/mutation.py`` (#22): every test states the rule it
checks, and its expected values are computed here from the closed forms, never by the model.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from rox.errors import ConvergenceError, NotFittedError
from rox.value.models import GammaGammaModel, ShiftedBetaGeoModel
from rox.value.models.spend import _GammaGammaRows, gamma_gamma_loglik


# -- Gamma-Gamma (spend.py) -----------------------------------------------------------------------
def _gg_log_density(p: float, q: float, gamma: float, x: float, m: float) -> float:
    """ln f(m | x) of Fader & Hardie (2013), eq. 4, written out with math.lgamma."""
    px = p * x
    return (
        math.lgamma(px + q)
        - math.lgamma(px)
        - math.lgamma(q)
        + q * math.log(gamma)
        + (px - 1) * math.log(m)
        + px * math.log(x)
        - (px + q) * math.log(gamma + x * m)
    )


def _gg_density_by_integration(p: float, q: float, gamma: float, x: float, m: float) -> float:
    """The same density from its definition: x m ~ Gamma(p x, rate nu), nu ~ Gamma(q, rate gamma).

    The mean m of x transactions Gamma(p, rate nu) is Gamma(p x, rate x nu); integrate nu out.
    """

    def integrand(nu: float) -> float:
        return stats.gamma.pdf(m, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(
            nu, q, scale=1 / gamma
        )

    value, _ = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
    return float(value)


CASES = [(6.25, 3.74, 15.44, 1.0, 20.0), (6.25, 3.74, 15.44, 4.0, 35.5), (0.8, 1.5, 3.0, 2.0, 0.7)]


@pytest.mark.parametrize(("p", "q", "gamma", "x", "m"), CASES)
def test_spend_density_is_the_gamma_mixture_integrated_out(p, q, gamma, x, m):
    # the closed form (FH 2013 eq. 4) equals the mixture integrated numerically
    by_hand = _gg_log_density(p, q, gamma, x, m)
    assert by_hand == pytest.approx(
        math.log(_gg_density_by_integration(p, q, gamma, x, m)), abs=1e-8
    )
    ll, grad = gamma_gamma_loglik(p, q, gamma, np.array([x]), np.array([m]))
    assert ll[0] == pytest.approx(by_hand, rel=1e-12, abs=1e-12)
    # the gradient: central differences of the hand-written density
    params = np.array([p, q, gamma])
    for j in range(3):
        h = 1e-6 * params[j]
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        numeric = (_gg_log_density(*up, x, m) - _gg_log_density(*down, x, m)) / (2 * h)
        assert grad[0, j] == pytest.approx(numeric, rel=1e-6, abs=1e-7)


def test_spend_totals_are_the_weighted_hand_density_and_its_derivatives():
    # totals(): sum_i w_i ln f_i, its gradient and Hessian, all from the hand-written density
    x = np.array([1.0, 1.0, 2.0, 5.0, 3.0])
    m = np.array([12.0, 40.0, 7.5, 22.0, 90.0])
    w = np.array([3.0, 1.0, 2.0, 1.0, 4.0])
    params = np.array([2.5, 2.2, 11.0])

    def total(v: np.ndarray) -> float:
        return sum(wi * _gg_log_density(*v, xi, mi) for xi, mi, wi in zip(x, m, w, strict=True))

    def numeric_grad(f, v: np.ndarray, h_rel: float = 1e-5) -> np.ndarray:
        out = []
        for j in range(3):
            h = h_rel * v[j]
            up, down = v.copy(), v.copy()
            up[j] += h
            down[j] -= h
            out.append((f(up) - f(down)) / (2 * h))
        return np.array(out)

    ll, grad, hess = _GammaGammaRows(x, m, w).totals(params)
    assert ll == pytest.approx(total(params), rel=1e-12)
    assert grad == pytest.approx(numeric_grad(total, params), rel=1e-6, abs=1e-7)
    numeric_hess = np.column_stack(
        [
            numeric_grad(lambda v, k=k: numeric_grad(total, v, 1e-4)[k], params, 1e-4)
            for k in range(3)
        ]
    )
    assert hess == pytest.approx(numeric_hess, rel=1e-3, abs=1e-4)
    # unweighted rows: the weights default to one each
    assert _GammaGammaRows(x, m).totals(params)[0] == pytest.approx(
        sum(_gg_log_density(*params, xi, mi) for xi, mi in zip(x, m, strict=True)), rel=1e-12
    )


@pytest.fixture(scope="module")
def cdnow_spend(cdnow_transactions) -> pd.DataFrame:
    """Frequency and mean repeat spend of the CDNOW sample over the 39-week calibration.

    Computed here with pandas, as Fader & Hardie (2013) define them: purchases are days (the
    transactions of one day add up), x is the number of days after the first one, m the mean
    spend of those repeat days; calibration to 1997-09-30.
    """
    t = cdnow_transactions.assign(day=pd.to_datetime(cdnow_transactions["ts"], format="%Y%m%d"))
    t = t[t["day"] <= "1997-09-30"]
    daily = t.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    daily = daily.sort_values(["customer_id", "day"])
    repeat = daily[daily.groupby("customer_id").cumcount() > 0]
    per = repeat.groupby("customer_id")["amount"].agg(["size", "mean"])
    customers = daily["customer_id"].unique()
    out = pd.DataFrame({"customer_id": customers}).merge(
        per, left_on="customer_id", right_index=True, how="left"
    )
    return pd.DataFrame(
        {"frequency": out["size"].fillna(0).to_numpy(), "monetary": out["mean"].to_numpy()}
    )


def test_spend_fit_reproduces_fader_hardie_2013(cdnow_spend):
    # FH (2013): p = 6.25, q = 3.74, gamma = 15.44 on the 946 customers with repeat purchases;
    # customers without repeat purchases (monetary NaN) are left out of the fit
    assert len(cdnow_spend) == 2357
    model = GammaGammaModel().fit(cdnow_spend)
    assert model.params_.round(2).tolist() == [6.25, 3.74, 15.44]
    assert model.n_customers_ == 946
    # the fit maximises the hand-written likelihood: no other point nearby is higher
    repeat = cdnow_spend[cdnow_spend["frequency"] > 0]
    best = model.params_.to_numpy()

    def total(v):
        return sum(
            _gg_log_density(*v, xi, mi)
            for xi, mi in zip(repeat["frequency"], repeat["monetary"], strict=True)
        )

    assert model.log_likelihood_ == pytest.approx(total(best), rel=1e-10)
    for j in range(3):
        for step in (0.99, 1.01):
            moved = best.copy()
            moved[j] *= step
            assert total(moved) < total(best)


def test_spend_weights_count_customers(cdnow_spend):
    # a row of weight k is k customers with that (x, m): the same fit as the rows repeated
    repeat = cdnow_spend[cdnow_spend["frequency"] > 0].head(300).reset_index(drop=True)
    k = np.where(np.arange(len(repeat)) % 3 == 0, 3.0, 1.0)
    weighted = GammaGammaModel().fit(repeat, weights=k)
    repeated = GammaGammaModel().fit(repeat.loc[repeat.index.repeat(k.astype(int))])
    assert weighted.params_.to_numpy() == pytest.approx(repeated.params_.to_numpy(), rel=1e-5)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-9)
    assert weighted.n_customers_ == repeated.n_customers_ == k.sum()
    # arrays give the same fit as the frame
    arrays = GammaGammaModel().fit(repeat["frequency"], repeat["monetary"], weights=k)
    assert arrays.params_.to_numpy() == pytest.approx(weighted.params_.to_numpy(), rel=1e-9)


def test_spend_expected_by_hand():
    # FH (2013) eq. 5: E[M | x, m] = (q-1)/(px+q-1) * gamma p/(q-1) + px/(px+q-1) * m,
    # the population mean gamma p/(q-1) for a customer without repeat purchases
    p, q, gamma = 6.25, 3.74, 15.44
    model = GammaGammaModel.from_params(p=p, q=q, gamma=gamma)
    population = gamma * p / (q - 1)  # 35.219...
    assert population == pytest.approx(35.2189781, rel=1e-7)
    expected = [
        population,
        (q - 1) / (p + q - 1) * population + p / (p + q - 1) * 20.0,
        (q - 1) / (4 * p + q - 1) * population + 4 * p / (4 * p + q - 1) * 35.5,
    ]
    frame = pd.DataFrame({"frequency": [0, 1, 4], "monetary": [np.nan, 20.0, 35.5]})
    assert model.expected_spend(frame) == pytest.approx(expected, rel=1e-12)
    got = model.expected_spend(np.array([0, 1, 4]), np.array([np.nan, 20.0, 35.5]))
    assert got == pytest.approx(expected, rel=1e-12)
    assert model.population_mean_spend() == pytest.approx(population, rel=1e-12)


def test_spend_population_mean_needs_q_above_one():
    # gamma p / (q - 1) for q > 1; infinite at q = 1 and below (the mean of nu^-1 diverges)
    assert GammaGammaModel.from_params(p=2, q=1.5, gamma=3).population_mean_spend() == 12.0
    assert GammaGammaModel.from_params(p=2, q=1.0, gamma=3).population_mean_spend() == math.inf
    assert GammaGammaModel.from_params(p=2, q=0.5, gamma=3).population_mean_spend() == math.inf


def test_spend_rows_need_positive_spend_and_two_repeat_customers(cdnow_spend):
    ok = cdnow_spend.head(200).reset_index(drop=True)
    first_repeat = int(np.flatnonzero(ok["frequency"] > 0)[0])
    first_none = int(np.flatnonzero(ok["frequency"] == 0)[0])
    fitted = GammaGammaModel().fit(ok)  # customers without repeat purchases are left out
    assert fitted.n_customers_ == (ok["frequency"] > 0).sum()
    for bad in (0.0, -5.0, np.nan):
        frame = ok.copy()
        frame.loc[first_repeat, "monetary"] = bad
        with pytest.raises(
            ValueError, match=rf"row {first_repeat}: mean spend .* must be positive"
        ):
            GammaGammaModel().fit(frame)
    # a zero spend of a customer without repeat purchases is not checked (not in the fit)
    frame = ok.copy()
    frame.loc[first_none, "monetary"] = 0.0
    same = GammaGammaModel().fit(frame)
    assert same.params_.to_numpy() == pytest.approx(fitted.params_.to_numpy(), rel=1e-9)
    two = pd.DataFrame({"frequency": [0, 2, 1], "monetary": [np.nan, 10.0, 14.0]})
    try:  # two repeat customers pass the check (the fit itself may still not converge)
        GammaGammaModel().fit(two)
    except ConvergenceError as exc:
        assert "at least two" not in str(exc)
        assert str(exc).startswith("Gamma-Gamma: ")
    with pytest.raises(ConvergenceError, match="at least two customers with repeat purchases"):
        GammaGammaModel().fit(two.iloc[:2])
    with pytest.raises(ValueError, match="a DataFrame with frequency and monetary"):
        GammaGammaModel().fit(ok[["frequency"]])


# -- shifted-beta-geometric (sbg.py) --------------------------------------------------------------
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]  # Fader & Hardie (2007), years 0-7


def _sbg_by_recursion(a: float, b: float, n: int) -> tuple[list[float], list[float]]:
    """P(T = t) and S(t), t = 0..n, by the recursions of Fader & Hardie (2007), eqs. 7-8.

    P(T = 1) = a / (a + b), P(T = t) = (b + t - 2) / (a + b + t - 1) P(T = t - 1),
    S(0) = 1, S(t) = S(t - 1) - P(T = t): no beta functions.
    """
    churn, surv = [math.nan], [1.0]
    for t in range(1, n + 1):
        churn.append(a / (a + b) if t == 1 else churn[-1] * (b + t - 2) / (a + b + t - 1))
        surv.append(surv[-1] - churn[-1])
    return churn, surv


def _sbg_loglik(a: float, b: float, survivors: list[float]) -> float:
    """ln L = sum_t (S(t-1) - S(t)) ln P(T = t) + S(n) ln S(n), from the recursions."""
    n = len(survivors) - 1
    churn, surv = _sbg_by_recursion(a, b, n)
    lost = [survivors[t - 1] - survivors[t] for t in range(1, n + 1)]
    return sum(k * math.log(churn[t]) for t, k in enumerate(lost, 1)) + survivors[-1] * math.log(
        surv[n]
    )


def test_sbg_fit_maximises_the_likelihood_of_the_recursions():
    model = ShiftedBetaGeoModel().fit(REGULAR)
    a, b = model.params_.to_numpy()
    # Fader & Hardie (2007): alpha = 0.704, beta = 1.182 for the "regular" segment
    assert [round(a, 3), round(b, 3)] == [0.704, 1.182]
    assert model.log_likelihood_ == pytest.approx(_sbg_loglik(a, b, REGULAR), rel=1e-12)
    for da, db in ((1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99)):
        assert _sbg_loglik(a * da, b * db, REGULAR) < _sbg_loglik(a, b, REGULAR)
    assert model.n_customers_ == 1000
    assert model.periods_ == 7


def test_sbg_survival_and_retention_by_recursion():
    a, b = 0.704, 1.182
    model = ShiftedBetaGeoModel.from_params(alpha=a, beta=b)
    _, surv = _sbg_by_recursion(a, b, 7)
    assert model.survival(7) == pytest.approx(surv, rel=1e-12)
    assert model.survival([0, 2, 7]) == pytest.approx([surv[0], surv[2], surv[7]], rel=1e-12)
    # retention r_t = S(t) / S(t - 1), t = 1..n
    rates = [surv[t] / surv[t - 1] for t in range(1, 8)]
    assert model.retention_rate(7) == pytest.approx(rates, rel=1e-12)
    assert model.retention_rate([1, 3]) == pytest.approx([rates[0], rates[2]], rel=1e-12)
    # period 1: r_1 = b / (a + b) = 1 - P(T = 1)
    assert model.retention_rate(1)[0] == pytest.approx(1.182 / 1.886, rel=1e-12)


def test_sbg_projection_scales_the_survival_to_the_cohort():
    model = ShiftedBetaGeoModel().fit(REGULAR)
    a, b = model.params_.to_numpy()
    _, surv = _sbg_by_recursion(a, b, 3)
    table = model.projection(3)
    assert table["period"].tolist() == [0, 1, 2, 3]
    assert table["survivors"].to_numpy() == pytest.approx(1000 * np.array(surv), rel=1e-12)
    assert np.isnan(table["retention_rate"][0])
    assert table["retention_rate"][1:].to_numpy() == pytest.approx(
        [surv[t] / surv[t - 1] for t in (1, 2, 3)], rel=1e-12
    )
    other = model.projection(3, cohort_size=250)
    assert other["survivors"].to_numpy() == pytest.approx(250 * np.array(surv), rel=1e-12)


def _fits_or_fails_to_converge(survivors) -> None:
    """A fit that passes the input checks: it fits, or stops with a ConvergenceError."""
    with contextlib.suppress(ConvergenceError):
        ShiftedBetaGeoModel().fit(survivors)


def test_sbg_input_rules_on_both_sides():
    # at least two periods (0 and 1)
    with pytest.raises(ValueError, match="at least two periods"):
        ShiftedBetaGeoModel().fit([100])
    _fits_or_fails_to_converge([100, 60])
    with pytest.raises(ValueError, match="at least two periods"):
        ShiftedBetaGeoModel().fit([[100, 60], [90, 50]])
    # non-increasing: a period without churn is allowed, a rise is not
    _fits_or_fails_to_converge([1000, 1000, 631, 468, 382])
    with pytest.raises(ValueError, match="non-increasing"):
        ShiftedBetaGeoModel().fit([1000, 631, 632])
    # non-negative: a cohort that has all churned is allowed
    _fits_or_fails_to_converge([100, 60, 30, 0])
    with pytest.raises(ValueError, match="non-negative"):
        ShiftedBetaGeoModel().fit([100, 60, -1])


def _geometric_loglik(p: float, survivors: list[float]) -> float:
    """Shifted-geometric ln L: churn in t has probability p (1-p)^(t-1); surviving n, (1-p)^n."""
    n = len(survivors) - 1
    lost = [survivors[t - 1] - survivors[t] for t in range(1, n + 1)]
    return sum(k * (math.log(p) + (t - 1) * math.log1p(-p)) for t, k in enumerate(lost, 1)) + (
        survivors[-1] * n * math.log1p(-p)
    )


def test_sbg_geometric_limit_is_within_a_hundredth_of_the_geometric_maximum():
    from rox.value.models.sbg import _no_heterogeneity

    survivors = [1000.0, 800.0, 640.0, 512.0]
    # the geometric maximum: churned / periods at risk = 488 / (200 + 2*160 + 3*128 + 3*512)
    p_hat = 488 / 2440
    assert p_hat == 0.2

    def loglik(params):
        a, b = params
        n = len(survivors) - 1
        churn, surv = _sbg_by_recursion(a, b, n)
        return np.array([*(math.log(c) for c in churn[1:]), math.log(surv[n])]), None

    limit = _no_heterogeneity(np.array(survivors), loglik)
    best = _geometric_loglik(p_hat, survivors)
    big = 1e9  # alpha + beta: the sBG equals the geometric model to ~1e-6 in ln L
    note = limit(np.array([p_hat * big, (1 - p_hat) * big]), ["alpha", "beta"])
    assert note is not None and note[1] == ["alpha", "beta"]
    assert "0.2 per period" in note[0]
    # another direction flat, or alpha + beta below 1000: not this limit
    assert limit(np.array([p_hat * big, (1 - p_hat) * big]), ["alpha", "beta", "x"]) is None
    assert limit(np.array([0.2 * 999, 0.8 * 999]), ["alpha", "beta"]) is None
    # ln L 0.005 below the geometric maximum: the limit; 0.015 below: not
    for gap, is_limit in ((0.005, True), (0.015, False)):
        lo, hi = p_hat, 0.5
        for _ in range(200):  # bisection for the p whose geometric ln L is `gap` below the best
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if best - _geometric_loglik(mid, survivors) < gap else (lo, mid)
        found = limit(np.array([lo * big, (1 - lo) * big]), ["alpha", "beta"])
        assert (found is not None) is is_limit


def test_sbg_geometric_limit_starts_at_alpha_plus_beta_1000():
    from rox.value.models.sbg import _no_heterogeneity

    # a cohort of one (shares): at alpha + beta = 999 or 1000 the sBG's ln L is within 1e-6 of
    # the geometric maximum, so only the rule "alpha + beta >= 1000" tells them apart
    survivors = [1.0, 0.8, 0.64, 0.512]

    def loglik(params):
        churn, surv = _sbg_by_recursion(*params, 3)
        return np.array([*(math.log(c) for c in churn[1:]), math.log(surv[3])]), None

    limit = _no_heterogeneity(np.array(survivors), loglik)
    assert limit(np.array([0.2 * 1000, 0.8 * 1000]), ["alpha", "beta"]) is not None
    assert limit(np.array([0.2 * 999, 0.8 * 999]), ["alpha", "beta"]) is None
    assert limit(np.array([0.2 * 1000, 0.8 * 1000]), ["beta"]) is not None


# -- what every model shares (base.py) ------------------------------------------------------------
def test_base_summary_is_the_wald_interval_at_95_percent():
    from rox.value.models import BetaGeoModel
    from rox.value.models.fitting import FitResult

    model = BetaGeoModel()
    est, se = np.array([0.243, 4.414, 0.793, 2.426]), np.array([0.013, 0.378, 0.186, 0.705])
    model._fit = FitResult(est, se, -9582.4, 5, 0.0)
    table = model.summary()
    z = stats.norm.ppf(0.975)  # 1.959964...
    assert table.index.tolist() == ["r", "alpha", "a", "b"]
    assert table["estimate"].tolist() == est.tolist()
    assert table["standard_error"].tolist() == se.tolist()
    assert table["ci_low"].to_numpy() == pytest.approx(est - z * se, rel=1e-7)  # z to 7 digits
    assert table["ci_high"].to_numpy() == pytest.approx(est + z * se, rel=1e-7)
    assert model.log_likelihood_ == -9582.4


def test_base_repr_names_the_state():
    from rox.value.models import BetaGeoModel
    from rox.value.models.fitting import FitResult

    assert repr(BetaGeoModel()) == "BetaGeoModel()"
    given = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert repr(given) == "BetaGeoModel(r=0.243, alpha=4.414, a=0.793, b=2.426; given parameters)"
    fitted = BetaGeoModel()
    fitted._fit = FitResult(np.array([0.2426, 4.414, 0.7929, 2.426]), np.ones(4), -9582.43, 5, 0.0)
    fitted.n_customers_ = 2357.0
    assert repr(fitted) == (
        "BetaGeoModel(r=0.2426, alpha=4.414, a=0.7929, b=2.426; "
        "log-likelihood -9,582.4, 2,357 customers)"
    )


def test_base_from_params_takes_exactly_the_model_parameters():
    from rox.value.models import BetaGeoModel

    with pytest.raises(ValueError, match=r"takes exactly r, alpha, a, b; missing b$"):
        BetaGeoModel.from_params(r=1, alpha=1, a=1)
    with pytest.raises(ValueError, match=r"takes exactly r, alpha, a, b; unknown s$"):
        BetaGeoModel.from_params(r=1, alpha=1, a=1, b=1, s=1)
    with pytest.raises(ValueError, match=r"; missing b; unknown s$"):
        BetaGeoModel.from_params(r=1, alpha=1, a=1, s=1)
    model = BetaGeoModel.from_params(r=1, alpha=2, a=3, b=4)
    assert model.params_.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert model.standard_errors_.isna().all()
    with pytest.raises(NotFittedError, match="no covariance"):
        model.parameter_draws(3)


def test_base_get_and_set_params_are_the_constructor_arguments():
    from rox.value.models import BetaGeoModel

    model = BetaGeoModel(covariates=["g"])
    model.n_customers_ = 5.0  # learned (trailing underscore) and private state are not params
    model._private = 1
    assert model.get_params() == {"covariates": ("g",)}
    assert model.get_params(deep=False) == {"covariates": ("g",)}
    assert model.set_params(covariates=()) is model
    with pytest.raises(ValueError, match="BetaGeoModel has no parameter 'n_customers_'"):
        model.set_params(n_customers_=3)


def test_base_parameter_draws_are_log_normal_for_the_base_parameters_only():
    from rox.value.models import BetaGeoModel
    from rox.value.models.fitting import FitResult

    # Krinsky & Robb: N(estimate, covariance) on the fitting scale, log for r, alpha, a, b and
    # the covariate coefficients as they are; a covariance written down here
    model = BetaGeoModel(covariates=["g"])
    params = np.array([0.5, 4.0, 0.8, 2.5, -0.3, 0.2, 0.0])
    sd = np.array([0.1, 0.05, 0.2, 0.1, 0.4, 0.3, 0.25])
    model._fit = FitResult(params, sd, -1.0, 1, 0.0, covariance=np.diag(sd**2))
    draws = model.parameter_draws(40_000, random_state=3)
    assert draws.shape == (40_000, 7)
    assert (draws[:, :4] > 0).all()
    logged = np.log(draws[:, :4])
    assert logged.mean(axis=0) == pytest.approx(np.log(params[:4]), abs=0.01)
    assert logged.std(axis=0) == pytest.approx(sd[:4], rel=0.02)
    assert draws[:, 4:].mean(axis=0) == pytest.approx(params[4:], abs=0.01)
    assert draws[:, 4:].std(axis=0) == pytest.approx(sd[4:], rel=0.02)
    assert (draws[:, 4] < 0).mean() == pytest.approx(stats.norm.cdf(0.3 / 0.4), abs=0.01)
    # the same seed gives the same draws; the default seed is 0
    assert np.array_equal(model.parameter_draws(5, random_state=3), draws[:5])
    assert np.array_equal(model.parameter_draws(5), model.parameter_draws(5, random_state=0))


def test_base_purchase_rows_read_frames_arrays_and_counts():
    from types import SimpleNamespace

    from rox.value.models.base import purchase_rows

    frame = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 5.0], "T": [8.0, 9.0]})
    x, tx, t, w = purchase_rows(frame)
    assert (x.tolist(), tx.tolist(), t.tolist(), w.tolist()) == (
        [0.0, 2.0], [0.0, 5.0], [8.0, 9.0], [1.0, 1.0]
    )  # fmt: skip
    counted = frame.assign(count=[3, 4])
    assert purchase_rows(counted)[3].tolist() == [3.0, 4.0]
    assert purchase_rows(counted, weights=[1, 2])[3].tolist() == [1.0, 2.0]  # weights win
    # an RFM result: its compressed rows (with their counts), not every customer
    rfm = SimpleNamespace(frame=frame, compressed=lambda: counted.iloc[[1]])
    assert purchase_rows(rfm)[0].tolist() == [2.0] and purchase_rows(rfm)[3].tolist() == [4.0]
    assert purchase_rows(SimpleNamespace(frame=frame))[0].tolist() == [0.0, 2.0]
    x, tx, t, w = purchase_rows([1, 0], [2.0, 0.0], [3.0, 4.0])
    assert (x.tolist(), w.tolist()) == ([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(TypeError, match="pass an RFM result, a DataFrame"):
        purchase_rows([1, 2])
    with pytest.raises(ValueError, match=r"lacks column\(s\) T, recency$"):
        purchase_rows(frame[["frequency"]])
    with pytest.raises(ValueError, match="must have the same length"):
        purchase_rows([1, 0], [2.0, 0.0], [3.0])
    with pytest.raises(ValueError, match="must have the same length"):
        purchase_rows([1, 0], [2.0, 0.0], [3.0, 4.0], weights=[1.0])
    with pytest.raises(ValueError, match="no customers to fit"):
        purchase_rows([], [], [])


@pytest.mark.parametrize(
    ("x", "tx", "t", "valid"),
    [
        (0, 0.0, 5.0, True),
        (1, 0.0, 5.0, True),  # a repeat purchase on the first day
        (1, 5.0, 5.0, True),  # recency = T
        (1, 5.0 + 1e-10, 5.0, True),  # within the rounding allowance of 1e-9
        (1, 5.0 + 1e-9, 5.0, True),  # at it (recency <= T + 1e-9)
        (1, 5.0 + 1e-8, 5.0, False),
        (-1, 0.0, 5.0, False),
        (1, -1e-12, 5.0, False),
        (0, 1.0, 5.0, False),  # recency without a repeat purchase
        (1, 1.0, np.inf, False),
        (1, 1.0, np.nan, False),
    ],
)
def test_base_purchase_rows_need_a_valid_summary(x, tx, t, valid):
    from rox.value.models.base import purchase_rows

    rows = ([2, x], [1.0, tx], [3.0, t])
    if valid:
        assert purchase_rows(*rows)[1][1] == tx
    else:
        with pytest.raises(ValueError, match=r"row 1: .* is not a valid summary"):
            purchase_rows(*rows)


# -- what BG/NBD and Pareto/NBD share (purchase_base.py) ------------------------------------------
def test_purchase_logaddexp_masked_by_hand():
    from rox.value.models.purchase_base import _logaddexp_masked

    # log(e^a + mask e^b) and the shares e^a / total, mask e^b / total
    a = np.array([0.0, 1.0, 3.0, -2.0])
    b = np.array([math.log(2), 5.0, 1.0, 700.0])
    mask = np.array([True, False, True, True])
    total, wa, wb = _logaddexp_masked(a, b, mask)
    assert total == pytest.approx(
        [math.log(3), 1.0, math.log(math.exp(3) + math.exp(1)), 700.0], rel=1e-12
    )
    assert wa == pytest.approx([1 / 3, 1.0, math.exp(3) / (math.exp(3) + math.e), 0.0], abs=1e-12)
    assert wb == pytest.approx([2 / 3, 0.0, math.e / (math.exp(3) + math.e), 1.0], abs=1e-12)


def test_purchase_moment_start_by_hand():
    from rox.value.models.purchase_base import moment_start

    # rates x/T = 0.1, 0.4, 0, 0.5 with weights 1, 2, 1, 1: mean 1.4/5 = 0.28; variance
    # (0.18^2 + 2 0.12^2 + 0.28^2 + 0.22^2)/5 = 0.0376; E[1/T] = (0.1 + 0.2 + 0.05 + 1/14)/5;
    # excess = 0.0376 - 0.28 E[1/T] = 0.014; r = 0.28^2/0.014 = 5.6, alpha = r/0.28 = 20
    x, T, w = np.array([1.0, 4, 0, 7]), np.array([10.0, 10, 20, 14]), np.array([1.0, 2, 1, 1])
    assert moment_start(x, T, w) == pytest.approx((5.6, 20.0), rel=1e-9)
    # no excess variance over the Poisson's: r = 1, alpha = 1/mean
    same = np.array([2.0, 2.0]), np.array([10.0, 10.0]), np.array([1.0, 1.0])
    assert moment_start(*same) == pytest.approx((1.0, 5.0), rel=1e-12)
    # an excess of exactly 0 (rates 0 and 2 over T = 1: variance 1 = mean 1 * E[1/T] 1) is none
    assert moment_start(np.array([0.0, 2.0]), np.ones(2), np.ones(2)) == (1.0, 1.0)
    # r clipped to [0.01, 100]
    r, alpha = moment_start(np.array([0.0, 100.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert r == pytest.approx((50**2) / (50**2 - 50), rel=1e-12)  # 1.0204..., inside the clip
    r, _ = moment_start(np.array([0.0, 0.0, 0.0, 1e4]), np.ones(4), np.ones(4))
    assert r == pytest.approx(2500**2 / (1875e4 - 2500), rel=1e-12) and r > 0.01
    r, _ = moment_start(np.array([0.0] * 999 + [1e6]), np.ones(1000), np.ones(1000))
    assert r == 0.01  # mean 1000, variance ~ 1e9: r ~ 0.001 -> clipped
    r, alpha = moment_start(np.array([50.0, 51.0]), np.array([100.0, 100.0]), np.ones(2))
    # rates 0.5, 0.51: variance 2.5e-5 < mean/T = 0.00505: no excess, r = 1
    assert (r, alpha) == pytest.approx((1.0, 1 / 0.505), rel=1e-12)
    # nobody buys: the mean rate is floored at 1e-3 (so alpha = r / 1e-3 is finite)
    assert moment_start(np.zeros(3), np.full(3, 5.0), np.ones(3)) == (1.0, 1000.0)
    # T = 0 is taken as 1e-9 (no division by zero): its 1/T = 1e9 swamps the variance, so there
    # is no excess and r = 1, alpha = 1 / mean = 3 (rates 0, 1, 0); were T taken as 1, E[1/T]
    # would be 0.4 and the excess 2/9 - 0.4/3 > 0
    assert moment_start(np.array([0.0, 10.0, 0.0]), np.array([0.0, 10.0, 10.0]), np.ones(3)) == (
        pytest.approx(1.0),
        pytest.approx(3.0),
    )


def test_purchase_moment_start_clips_r_at_100():
    from rox.value.models.purchase_base import moment_start

    # rates 1 and 1.2 over T = 1000: variance 0.01, mean/T = 0.0011, excess 0.0089,
    # r = 1.21/0.0089 = 135.96 -> clipped to 100, alpha = 100/1.1
    r, alpha = moment_start(np.array([1000.0, 1200.0]), np.full(2, 1000.0), np.ones(2))
    assert (r, alpha) == pytest.approx((100.0, 100 / 1.1), rel=1e-12)


def test_purchase_weighted_hessian_sums_the_lower_triangle():
    from rox.value.models.purchase_base import weighted_hessian

    w = np.array([1.0, 2.0, 3.0])
    hess = [[np.array([1.0, 2.0, 3.0])], [0.5, np.array([0.0, 1.0, -1.0])]]
    # h00 = 1 + 4 + 9 = 14; h10 = 0.5 * (1 + 2 + 3) = 3 (a scalar shared by all rows); h11 = -1
    assert weighted_hessian(hess, w).tolist() == [[14.0, 3.0], [3.0, -1.0]]


def _bgnbd_frame() -> pd.DataFrame:
    from rox.value.simulate import simulate_bgnbd

    frame = simulate_bgnbd(600, 0.3, 4.0, 0.8, 2.5, T=39.0, seed=21)
    rng = np.random.default_rng(21)
    return frame.assign(
        g=rng.integers(0, 2, len(frame)).astype(float), h=rng.normal(size=len(frame))
    )


def test_purchase_covariates_scale_each_parameter_in_order():
    from rox.value.models import BetaGeoModel, ParetoNBDModel

    # param_names: the base parameters, then one coefficient per (scaled parameter, covariate)
    model = BetaGeoModel(covariates=["g", "h"])
    assert model.param_names == (
        "r", "alpha", "a", "b", "alpha:g", "alpha:h", "a:g", "a:h", "b:g", "b:h",
    )  # fmt: skip
    assert ParetoNBDModel(covariates=["g"]).param_names == (
        "r",
        "alpha",
        "s",
        "beta",
        "alpha:g",
        "beta:g",
    )
    # FH 2007: alpha_i = alpha exp(-g_alpha z), a_i = a exp(g_a z), b_i = b exp(g_b z)
    params = np.array([0.5, 4.0, 0.8, 2.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    z = np.array([[1.0, 2.0], [0.0, -1.0]])
    r, alpha, a, b = model._individual(params, z)
    assert r.tolist() == [0.5, 0.5]
    assert alpha == pytest.approx(4.0 * np.exp(-np.array([0.1 + 0.4, -0.2])), rel=1e-12)
    assert a == pytest.approx(0.8 * np.exp(np.array([0.3 + 0.8, -0.4])), rel=1e-12)
    assert b == pytest.approx(2.5 * np.exp(np.array([0.5 + 1.2, -0.6])), rel=1e-12)
    assert BetaGeoModel()._individual(params[:4], np.zeros((2, 0))) == [0.5, 4.0, 0.8, 2.5]


def test_purchase_covariate_fit_merges_equal_rows_and_counts_customers():
    from rox.value.models import BetaGeoModel

    frame = _bgnbd_frame()
    model = BetaGeoModel(covariates=["g"]).fit(frame)
    assert model.n_customers_ == len(frame)
    # the same customers, every row twice: the same estimates, twice the log-likelihood
    doubled = BetaGeoModel(covariates=["g"]).fit(pd.concat([frame, frame]))
    assert doubled.params_.to_numpy() == pytest.approx(model.params_.to_numpy(), rel=1e-4)
    assert doubled.log_likelihood_ == pytest.approx(2 * model.log_likelihood_, rel=1e-8)
    assert doubled.n_customers_ == 2 * len(frame)
    # the coefficients start at 0 and may end below it: not forced positive
    assert set(model.params_.index) == {"r", "alpha", "a", "b", "alpha:g", "a:g", "b:g"}


def test_purchase_covariates_need_their_columns_in_a_frame():
    from rox.value.models import BetaGeoModel

    frame = _bgnbd_frame()
    with pytest.raises(ValueError, match=r"lacks covariate column\(s\) z$"):
        BetaGeoModel(covariates=["g", "z"]).fit(frame)
    with pytest.raises(TypeError, match="needs a DataFrame with their columns"):
        BetaGeoModel(covariates=["g"]).fit(frame.to_numpy())
    with pytest.raises(ValueError, match="pass a DataFrame holding the covariate columns"):
        BetaGeoModel(covariates=["g"]).fit(frame["frequency"], frame["recency"], frame["T"])


def test_purchase_arrays_and_frames_fit_alike():
    from rox.value.models import BetaGeoModel

    frame = _bgnbd_frame()
    by_frame = BetaGeoModel().fit(frame)
    by_arrays = BetaGeoModel().fit(frame["frequency"], frame["recency"], frame["T"])
    assert by_arrays.params_.to_numpy() == pytest.approx(by_frame.params_.to_numpy(), rel=1e-9)
    weights = np.where(np.arange(len(frame)) % 2 == 0, 2.0, 1.0)
    weighted = BetaGeoModel().fit(frame["frequency"], frame["recency"], frame["T"], weights=weights)
    assert weighted.n_customers_ == weights.sum()
    assert by_frame.n_customers_ == len(frame)


def test_purchase_distinct_x_follows_the_data():
    from rox.value.models import BetaGeoModel

    model = BetaGeoModel()
    one, other = np.array([3.0, 1.0, 3.0]), np.array([2.0, 5.0])
    values, index = model._distinct_x(one)
    assert (values.tolist(), index.tolist()) == ([1.0, 3.0], [1, 0, 1])
    values, index = model._distinct_x(other)  # new data: not the cached values
    assert (values.tolist(), index.tolist()) == ([2.0, 5.0], [0, 1])


def test_purchase_no_dropout_limit_needs_a_dropout_level_of_at_most_a_thousandth():
    from rox.value.models import BetaGeoModel

    model = BetaGeoModel()
    model.covariates = ()
    model._rows = ()  # not reached: the no-dropout limit is decided first
    # a / (a + b) = 0.001 exactly: the limit; just above: not (and flat must be a, b only)
    at = np.array([0.5, 5.0, 1.0, 999.0])
    note = model._limit_case(at, ["a", "b"])
    assert note is not None and note[1] == ["a", "b"]
    assert note[0].startswith("no dropout is evident in these data: a, b run to the no-dropout")
    assert "dropout level 0.001" in note[0] and "BG/NBD equals the NBD model" in note[0]
    assert model._limit_case(at, ["a"])[1] == ["a"]
    above = np.array([0.5, 5.0, 1.0, 998.0])
    assert model._limit_case(above, ["a", "b"]) is None  # and a + b < 1000: no other limit
    assert model._limit_case(at, ["r", "a"]) is None


def test_purchase_predictions_take_every_customer_not_the_counts():
    from rox.value.models import BetaGeoModel

    model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    frame = pd.DataFrame(
        {
            "frequency": [2, 0, 2],
            "recency": [30.43, 0.0, 30.43],
            "T": [38.86] * 3,
            "count": [5, 1, 2],
        }
    )
    alive = model.p_alive(frame)
    assert len(alive) == 3 and alive[1] == 1.0 and alive[0] == alive[2]
    same = model.p_alive(frame["frequency"], frame["recency"], frame["T"])
    assert same.tolist() == alive.tolist()
    expected = model.expected_purchases(39, frame["frequency"], frame["recency"], frame["T"])
    assert model.expected_purchases(39, frame).tolist() == expected.tolist()
    (x, tx, t, z), codes = model.distinct_rows(frame)
    assert (x.tolist(), tx.tolist(), t.tolist(), z.shape) == (
        [2.0, 0.0], [30.43, 0.0], [38.86, 38.86], (2, 0)
    )  # fmt: skip
    assert codes.tolist() == [0, 1, 0]


def test_purchase_predictions_read_the_covariates_of_each_customer():
    from rox.value.models import BetaGeoModel
    from rox.value.models.fitting import FitResult

    model = BetaGeoModel(covariates=["g"])
    # alpha:g = ln 2: group 1's alpha is halved, as a covariate-free model with alpha / 2 has
    model._fit = FitResult(
        np.array([0.243, 4.414, 0.793, 2.426, math.log(2), 0.0, 0.0]), np.ones(7), 0.0, 0, 0.0
    )
    frame = pd.DataFrame(
        {"frequency": [2, 2], "recency": [30.0, 30.0], "T": [38.0, 38.0], "g": [0.0, 1.0]}
    )
    plain = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    halved = BetaGeoModel.from_params(r=0.243, alpha=4.414 / 2, a=0.793, b=2.426)
    got = model.p_alive(frame)
    assert got[0] == pytest.approx(plain.p_alive(frame.iloc[:1])[0], rel=1e-12)
    assert got[1] == pytest.approx(halved.p_alive(frame.iloc[:1])[0], rel=1e-12)
    (*_, z), codes = model.distinct_rows(frame)
    assert z.tolist() == [[0.0], [1.0]] and codes.tolist() == [0, 1]


def test_sbg_geometric_limit_with_periods_without_churn():
    from rox.value.models.sbg import _no_heterogeneity

    def loglik_of(survivors):
        n = len(survivors) - 1

        def loglik(params):
            churn, surv = _sbg_by_recursion(*params, n)
            with np.errstate(divide="ignore"):
                return np.array([*(np.log(c) for c in churn[1:]), np.log(surv[n])]), None

        return loglik

    # a period without churn (weight 0) adds nothing to the geometric maximum:
    # p_hat = 360 / (200 + 2*0 + 3*160 + 3*640)
    survivors = [1000.0, 800.0, 800.0, 640.0]
    p_hat = 360 / 2600
    limit = _no_heterogeneity(np.array(survivors), loglik_of(survivors))
    big = 1e9
    assert limit(np.array([p_hat * big, (1 - p_hat) * big]), ["alpha", "beta"]) is not None
    # nobody churns: p_hat = 0 and the geometric maximum is ln L = 0 (the zero-weight churn terms,
    # ln 0, left out); an sBG with alpha + beta = 1000 at alpha / (alpha + beta) = 0.5 is far below
    none_churn = [100.0, 100.0, 100.0]
    limit = _no_heterogeneity(np.array(none_churn), loglik_of(none_churn))
    assert limit(np.array([500.0, 500.0]), ["alpha", "beta"]) is None
    assert limit(np.array([1e-9, 1e9]), ["alpha", "beta"]) is not None


# -- BG/NBD's limit of a common dropout probability (common_dropout.py) ---------------------------
def _common_dropout_ll(r: float, alpha: float, p: float, x: float, tx: float, T: float) -> float:
    """FHL (2005) eq. 6 in the limit a, b -> infinity at a / (a + b) = p, written out."""
    inner = (1 - p) ** x * (alpha + T) ** -(r + x)
    if x > 0:
        inner += p * (1 - p) ** (x - 1) * (alpha + tx) ** -(r + x)
    return math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + math.log(inner)


def _common_dropout_total(v, x, tx, t, w) -> float:
    r, alpha, p = v
    inner = (1 - p) ** x * (alpha + t) ** -(r + x) + np.where(
        x > 0, p * (1 - p) ** (x - 1) * (alpha + tx) ** -(r + x), 0.0
    )
    lgamma = np.vectorize(math.lgamma)
    return float(w @ (lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + np.log(inner)))


@pytest.fixture(scope="module")
def common_dropout_data() -> pd.DataFrame:
    from rox.value.simulate import simulate_bgnbd

    data = simulate_bgnbd(3000, 0.5, 4.0, 0.2 * 1e9, 0.8 * 1e9, T=52.0, seed=5)
    return data.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()


def test_common_dropout_fit_maximises_the_hand_likelihood_with_delta_method_errors(
    common_dropout_data,
):
    from rox.value.models import CommonDropoutModel

    d = common_dropout_data
    x, tx, t, w = (d[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "count"))
    # the hand formula (as _common_dropout_ll, vectorised)
    assert _common_dropout_ll(0.5, 4.0, 0.2, x[-1], tx[-1], t[-1]) == pytest.approx(
        _common_dropout_total(np.array([0.5, 4.0, 0.2]), x[-1:], tx[-1:], t[-1:], w[-1:]) / w[-1],
        rel=1e-12,
    )

    def total(v):
        return _common_dropout_total(v, x, tx, t, w)

    model = CommonDropoutModel().fit(d)
    est = model.params_.to_numpy()
    assert model.n_customers_ == 3000
    assert model.log_likelihood_ == pytest.approx(total(est), rel=1e-10)
    for j in range(3):
        for step in (0.98, 1.02):
            moved = est.copy()
            moved[j] *= step
            assert total(moved) < total(est)
    # standard errors: the inverse of the observed information in (r, alpha, p) themselves, by
    # central differences of the hand likelihood (at the maximum the delta method from the odds
    # p/(1-p) is exact)
    h = 1e-4 * est
    info = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h[i], np.eye(3)[j] * h[j]
            info[i, j] = -(
                total(est + ei + ej)
                - total(est + ei - ej)
                - total(est - ei + ej)
                + total(est - ei - ej)
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    assert model.standard_errors_.to_numpy() == pytest.approx(se, rel=0.02)
    assert model._dropout_level(est) == est[2]
    # arrays with weights: the same fit
    arrays = CommonDropoutModel().fit(d["frequency"], d["recency"], d["T"], weights=d["count"])
    assert arrays.params_.to_numpy() == pytest.approx(est, rel=1e-9)
    assert arrays.n_customers_ == 3000


def test_common_dropout_predictions_by_hand():
    from rox.value.models import CommonDropoutModel

    r, alpha, p = 0.6, 5.0, 0.15
    model = CommonDropoutModel.from_params(r=r, alpha=alpha, p=p)
    x, tx, T, t = np.array([0.0, 3.0]), np.array([0.0, 10.0]), np.array([20.0, 30.0]), 26.0
    # P(alive) = 1 / (1 + 1{x>0} p/(1-p) ((alpha+T)/(alpha+t_x))^(r+x))
    alive = [1.0, 1 / (1 + p / (1 - p) * (35 / 15) ** 3.6)]
    assert model.p_alive(x, tx, T) == pytest.approx(alive, rel=1e-12)

    # E[Y(t)|...] = P(alive) E[(1 - e^(-lambda p t)) / p], lambda ~ Gamma(r + x, rate alpha + T):
    # integrated numerically here, not the closed form
    def posterior_mean(shape: float, rate: float) -> float:
        def f(lam: float) -> float:
            return (1 - math.exp(-lam * p * t)) / p * stats.gamma.pdf(lam, shape, scale=1 / rate)

        return integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)[0]

    expected = [alive[0] * posterior_mean(0.6, 25.0), alive[1] * posterior_mean(3.6, 35.0)]
    assert model.expected_purchases(t, x, tx, T) == pytest.approx(expected, rel=1e-8)
    assert model.expected_purchases_new(t) == pytest.approx(posterior_mean(0.6, 5.0), rel=1e-8)


def test_spend_general_path_finds_fader_hardie_2013_too(cdnow_spend, monkeypatch):
    # without Newton's method (the exact-Hessian path), L-BFGS-B on the per-row likelihood
    from rox.value.models import fitting

    monkeypatch.setattr(fitting, "_newton", lambda *args: None)
    model = GammaGammaModel().fit(cdnow_spend)
    assert model.params_.round(2).tolist() == [6.25, 3.74, 15.44]
    assert model.n_customers_ == 946


def test_spend_expected_reads_a_missing_spend_alike_from_frames_and_arrays():
    # a frame's NaN spend and an array's NaN spend are the same input: the same expectation
    # (for x = 0 the population mean, whatever the spend holds)
    model = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
    frame = pd.DataFrame({"frequency": [0, 3], "monetary": [np.nan, np.nan]})
    by_frame = model.expected_spend(frame)
    by_arrays = model.expected_spend(frame["frequency"].to_numpy(), frame["monetary"].to_numpy())
    assert by_frame.tolist() == by_arrays.tolist()
    assert by_frame[0] == pytest.approx(15.44 * 6.25 / 2.74, rel=1e-12)


def test_spend_rows_name_the_first_repeat_customer_without_a_positive_spend():
    from rox.value.models.spend import _spend_rows

    # any positive spend is valid, however small; the error names the first repeat customer
    # whose spend is not positive (customers without repeat purchases are not checked)
    frame = pd.DataFrame({"frequency": [0, 2, 1, 3, 1], "monetary": [np.nan, 0.5, 12.0, 30.0, 4.0]})
    x, m, w = _spend_rows(frame, None, None)
    assert (x.tolist(), m.tolist(), w.tolist()) == (
        [2.0, 1.0, 3.0, 1.0],
        [0.5, 12.0, 30.0, 4.0],
        [1.0] * 4,
    )
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match=r"^row 3: mean spend .* must be positive"):
            _spend_rows(frame.assign(monetary=[np.nan, 0.5, 12.0, bad, 4.0]), None, None)
