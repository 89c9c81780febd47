"""Buy-till-you-die models of repeat purchasing: BG/NBD and Pareto/NBD, with covariates.

Both describe a customer by (x, t_x, T): x repeat purchases, the last at t_x, observed until T.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", Marketing Science
24(2)): purchases at rate lambda ~ Gamma(r, alpha); after each purchase the customer drops out with
probability p ~ Beta(a, b). Log-likelihood (their eq. 6), for one customer::

    ln L = ln G(r+x) - ln G(r) + r ln(alpha) + ln B(a, b+x) - ln B(a, b)
           + ln[ (alpha+T)^-(r+x) + 1{x>0} a/(b+x-1) (alpha+t_x)^-(r+x) ]

Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at rate lambda ~ Gamma(r, alpha), a
lifetime ~ Exponential(mu), mu ~ Gamma(s, beta). Likelihood in the form of Fader & Hardie (2005),
"A Note on Deriving the Pareto/NBD Model and Related Expressions", eq. (19)-(22), evaluated in
log-space with the Gaussian hypergeometric function chosen so its argument lies in [0, 1).

Time-invariant covariates z (Fader & Hardie 2007, "Incorporating Time-Invariant Covariates into
the Pareto/NBD and BG/NBD Models"): alpha_i = alpha exp(-g_alpha . z_i) scales the purchase rate
by exp(g_alpha . z_i); BG/NBD: a_i = a exp(g_a . z_i), b_i = b exp(g_b . z_i); Pareto/NBD:
beta_i = beta exp(-g_beta . z_i) scales the dropout rate by exp(g_beta . z_i).

Gradients: analytic for BG/NBD (digamma terms); Pareto/NBD uses central differences of the
log-likelihood in each parameter (SciPy has no derivative of 2F1 in its parameters), on the
compressed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from rox.value.distinct import first_rows, group_codes, on_distinct
from rox.value.models import fitting
from rox.value.models.common_dropout import CommonDropoutModel
from rox.value.models.pareto_gradient import paretonbd_loglik_gradient, paretonbd_totals
from rox.value.models.purchase_base import (
    _logaddexp_masked,
    _matrix,
    _TransactionModel,
    moment_start,
    weighted_hessian,
)
from rox.value.models.special import trigamma

__all__ = ["BetaGeoModel", "ParetoNBDModel", "bgnbd_loglik", "paretonbd_loglik"]


def bgnbd_loglik(
    r: Any,
    alpha: Any,
    a: Any,
    b: Any,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    *,
    distinct: tuple[np.ndarray, np.ndarray] | None = None,
    curvature: bool = False,
) -> tuple[Any, ...]:
    """BG/NBD log-likelihood per customer and its partial derivatives in (r, alpha, a, b).

    ``distinct``: the distinct values of x and each row's index into them; with scalar r, a and
    b the gamma-function terms are then evaluated once per distinct x (the slow part).
    ``curvature``: also return the second derivatives (scalar parameters only), as the lower
    triangle ``h[i][j]`` of per-row arrays or scalars shared by all rows. With
    ``L = log(e^B + e^C)`` the last term of the log-likelihood and ``w_B``, ``w_C`` its
    weights, ``L'' = w_B B'' + w_C C'' + w_B w_C (B' - C')(B' - C')^T``; the gamma-function
    terms give trigamma differences.
    """
    psi = special.digamma
    if distinct is not None and np.ndim(a) == 0 and np.ndim(b) == 0 and np.ndim(r) == 0:
        ux, idx = distinct

        def by_x(fn: Any) -> np.ndarray:
            return np.asarray(fn(ux)[idx])
    else:

        def by_x(fn: Any) -> np.ndarray:
            return np.asarray(fn(x))

    A = (
        by_x(lambda v: special.gammaln(r + v) + special.gammaln(b + v) - special.gammaln(a + b + v))
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.gammaln(a + b)
        - special.gammaln(b)
    )
    B = -(r + x) * np.log(alpha + T)
    has = x > 0
    bx1 = np.where(has, b + x - 1, 1.0)
    log_alpha_tx = np.log(alpha + tx)
    log_alpha_t = np.log(alpha + T)
    C = np.log(a) - np.log(bx1) - (r + x) * log_alpha_tx
    L, wb, wc = _logaddexp_masked(B, C, has)
    d_r = by_x(lambda v: psi(r + v)) - psi(r) + np.log(alpha) - wb * log_alpha_t - wc * log_alpha_tx
    d_alpha = r / alpha - wb * (r + x) / (alpha + T) - wc * (r + x) / (alpha + tx)
    psi_abx = by_x(lambda v: psi(a + b + v))
    d_a = psi(a + b) - psi_abx + wc / a
    d_b = by_x(lambda v: psi(b + v)) + psi(a + b) - psi_abx - psi(b) - wc / bx1
    if not curvature:
        return A + L, d_r, d_alpha, d_a, d_b
    psi1 = trigamma
    psi1_abx = by_x(lambda v: psi1(a + b + v))
    # B' - C' (B' = (-ln(alpha+T), -(r+x)/(alpha+T), 0, 0); C' = (-ln(alpha+t_x),
    # -(r+x)/(alpha+t_x), 1/a, -1/(b+x-1)))
    inv_t, inv_tx = 1.0 / (alpha + T), 1.0 / (alpha + tx)
    delta = (log_alpha_tx - log_alpha_t, (r + x) * (inv_tx - inv_t), -1.0 / a, 1.0 / bx1)
    wbc = wb * wc
    h_rr = by_x(lambda v: psi1(r + v)) - psi1(r) + wbc * delta[0] ** 2
    h_ar = 1.0 / alpha - wb * inv_t - wc * inv_tx + wbc * delta[0] * delta[1]
    h_aa = -r / alpha**2 + (r + x) * (wb * inv_t**2 + wc * inv_tx**2) + wbc * delta[1] ** 2
    h_ab = psi1(a + b) - psi1_abx
    h_bb = by_x(lambda v: psi1(b + v)) + psi1(a + b) - psi1_abx - psi1(b) + wc / bx1**2
    hess = [
        [h_rr],
        [h_ar, h_aa],
        [wbc * delta[0] * delta[2], wbc * delta[1] * delta[2], h_ab - wc / a**2 + wbc / a**2],
        [
            wbc * delta[0] * delta[3],
            wbc * delta[1] * delta[3],
            h_ab + wbc * delta[2] * delta[3],
            h_bb + wbc * delta[3] ** 2,
        ],
    ]
    return A + L, d_r, d_alpha, d_a, d_b, hess


def _log_hyp2f1(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(np.log(special.hyp2f1(a, b, c, z)))


def paretonbd_loglik(
    r: Any, alpha: Any, s: Any, beta: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto/NBD log-likelihood per customer, with ``(log term1, log A0)`` for P(alive)."""
    rsx = r + s + x
    swap = alpha < beta  # use the parameterisation whose 2F1 argument is in [0, 1)
    hi = np.where(swap, beta, alpha)
    lo = np.where(swap, alpha, beta)
    b2 = np.where(swap, r + x, s + 1)
    z1 = (hi - lo) / (hi + tx)
    z2 = (hi - lo) / (hi + T)
    log_f1 = _log_hyp2f1(rsx, b2, rsx + 1, z1) - rsx * np.log(hi + tx)
    log_f2 = _log_hyp2f1(rsx, b2, rsx + 1, z2) - rsx * np.log(hi + T)
    with np.errstate(all="ignore"):
        log_a0 = log_f1 + np.log1p(-np.exp(log_f2 - log_f1))
    log_term1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_term2 = np.log(s) - np.log(rsx) + log_a0
    ll = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.logaddexp(log_term1, log_term2)
    )
    return ll, log_term1, log_term2


class BetaGeoModel(_TransactionModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    covariates : sequence of str, optional
        Numeric columns of the data (e.g. ``detractor`` 0/1) that scale the purchase rate
        (``alpha:<col>``) and the dropout distribution (``a:<col>``, ``b:<col>``).

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha``, ``a``, ``b`` (and covariate coefficients).
    standard_errors_ : pandas.Series
    log_likelihood_ : float
    n_customers_ : float

    Examples
    --------
    >>> import pandas as pd
    >>> from rox.value.models import BetaGeoModel
    >>> summary = pd.read_csv("tests/data/cdnow/cdnow_customers_summary.csv")  # doctest: +SKIP
    >>> BetaGeoModel().fit(summary).params_.round(3).tolist()  # doctest: +SKIP
    [0.243, 4.414, 0.793, 2.426]
    """

    base_params = ("r", "alpha", "a", "b")
    label = "BG/NBD"
    _scaled = (("alpha", -1), ("a", 1), ("b", 1))
    _dropout = (("a", "b"), "NBD")

    def _dropout_level(self, params: np.ndarray) -> float:
        """Mean dropout probability after a purchase, a / (a + b)."""
        return float(params[2] / (params[2] + params[3]))

    def _limit_case(self, params: np.ndarray, flat: list[str]) -> tuple[str, list[str]] | None:
        """The no-dropout limit, or the limit of a common dropout probability.

        As a and b grow at a fixed ratio, p ~ Beta(a, b) collapses to p = a / (a + b) and BG/NBD
        to :class:`~rox.value.models.CommonDropoutModel`. A fit is at that limit when the
        likelihood is flat only in a and b, a + b is large, and the BG/NBD log-likelihood is
        within 0.01 of that model's maximum (fitted here, explicitly); its predictions are then
        that model's. The flat direction is not always seen in the standard errors (on the ridge
        they come from finite differences of a nearly constant function), so a + b >= 1000 with
        the log-likelihood at the limit's maximum is enough: a beta distribution that narrow
        (standard deviation below 0.016) is a common probability for any data. Where the
        optimiser stops along the ridge is decided by floating point, so neither that point's
        standard errors nor its exact a and b are used.
        """
        found = super()._limit_case(params, flat)
        a, b = params[2], params[3]
        if found is not None or self.covariates or set(flat) - {"a", "b"}:
            return found
        if a + b < 1e3:
            return None
        x, tx, t, w = self._rows
        limit = CommonDropoutModel().fit(x, tx, t, weights=w)
        r, alpha = params[:2]
        fitted = float(w @ bgnbd_loglik(r, alpha, a, b, x, tx, t)[0])
        if abs(fitted - limit.log_likelihood_) > 0.01:
            return None
        self.limit_model_ = limit
        values = ", ".join(f"{k}={v:.4g}" for k, v in limit.params_.items())
        note = (
            f"every customer drops out with about the same probability after a purchase: a and b "
            f"run to the limit a + b -> infinity at a / (a + b) = {a / (a + b):.3g} (a + b = "
            f"{a + b:.3g}), where BG/NBD equals the NBD with a common dropout probability; that "
            f"model was fitted ({values}; log-likelihood {limit.log_likelihood_:,.1f}) and the "
            "predictions are its; the standard errors of a and b are undefined"
        )
        return note, ["a", "b"]

    def _start(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> list[float]:
        """Starting values: r and alpha by moments (:func:`moment_start`), a = 1, b = 3."""
        r, alpha = moment_start(x, T, w)
        return [r, alpha, 1.0, 3.0]

    def _curvature(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> fitting.LogLikelihoodWithCurvature:
        def totals(params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            r, alpha, a, b = params
            ll, *grad, hess = bgnbd_loglik(
                r, alpha, a, b, x, tx, T, distinct=self._distinct_x(x), curvature=True
            )
            return float(w @ ll), np.array([w @ g for g in grad]), weighted_hessian(hess, w)

        return totals

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.covariates:
            r, alpha, a, b = params
            ll, *grads = bgnbd_loglik(r, alpha, a, b, x, tx, T, distinct=self._distinct_x(x))
            return ll, np.column_stack(grads)
        r, alpha, a, b = self._individual(params, z)
        ll, d_r, d_alpha, d_a, d_b = bgnbd_loglik(r, alpha, a, b, x, tx, T)
        grads = [d_r, d_alpha, d_a, d_b]
        # chain rule: alpha_i = alpha exp(-g.z), a_i = a exp(g.z), b_i = b exp(g.z)
        grads[1] = d_alpha * alpha / params[1]
        grads[2] = d_a * a / params[2]
        grads[3] = d_b * b / params[3]
        for sign, d_base, value in ((-1, d_alpha, alpha), (1, d_a, a), (1, d_b, b)):
            grads.extend(((sign * d_base * value)[:, None] * z).T)
        return ll, np.column_stack(grads)

    # -- predictions ------------------------------------------------------------------------------
    def _p_alive(self, x: np.ndarray, tx: np.ndarray, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        """P(alive) at T (FHL 2005, eq. 11): a closed form in logs, cheap per customer."""
        if self.limit_model_ is not None:
            return self.limit_model_._p_alive(x, tx, t, z)
        r, alpha, a, b = self._individual(self._fitted().params, z)
        has = x > 0
        with np.errstate(all="ignore"):
            log_ratio = (
                np.log(a)
                - np.log(np.where(has, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
            )
        return np.where(has, 1.0 / (1.0 + np.exp(log_ratio)), 1.0)

    def _expected(
        self, t: float, x: np.ndarray, tx: np.ndarray, tt: np.ndarray, z: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (FHL 2005, eq. 10); the 2F1 term once per distinct (x, T)."""
        if self.limit_model_ is not None:
            return self.limit_model_._expected(t, x, tx, tt, z)
        params = self._fitted().params

        def hyp_of(x: np.ndarray, tt: np.ndarray, *z: np.ndarray) -> np.ndarray:
            r, alpha, a, b = self._individual(params, _matrix(z, len(x)))
            return np.asarray(special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + tt + t)))

        r, alpha, a, b = self._individual(params, z)
        hyp = on_distinct(hyp_of, x, tt, *z.T)
        first = (a + b + x - 1) / (a - 1)
        second = 1 - ((alpha + tt) / (alpha + tt + t)) ** (r + x) * hyp
        return np.asarray(first * second * self._p_alive(x, tx, tt, z))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected purchases in (0, t] of a new customer, E[X(t)] (FHL 2005, eq. 7)."""
        if isinstance(self.limit_model_, CommonDropoutModel):
            return self.limit_model_.expected_purchases_new(t)
        r, alpha, a, b = self._fitted().params[:4]
        t = np.asarray(t, dtype="float64")
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))


#: Largest hypergeometric argument z = |alpha - beta| / max(alpha, beta) (at t = 0) that
#: Newton's path evaluates; beyond it the general path decides (its series fall back to SciPy).
_NEWTON_MAX_Z = 0.75


class ParetoNBDModel(_TransactionModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    Parameters
    ----------
    covariates : sequence of str, optional
        Numeric columns scaling the purchase rate (``alpha:<col>``) and the dropout rate
        (``beta:<col>``).
    """

    base_params = ("r", "alpha", "s", "beta")
    label = "Pareto/NBD"
    _scaled = (("alpha", -1), ("beta", -1))
    _dropout = (("s", "beta"), "NBD")

    def _dropout_level(self, params: np.ndarray) -> float:
        """Mean dropout rate per unit of time relative to the purchase rate, (s/beta)/(r/alpha)."""
        return float((params[2] / params[3]) / (params[0] / params[1]))

    def _start(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> list[float]:
        """Starting values: the observed mean purchase rate r/alpha at r = 0.5; beta = alpha.

        With beta = alpha the hypergeometric argument z is 0, where its series converges at once.
        """
        rate = max(float(np.mean(x / np.maximum(T, 1e-9))), 1e-3)
        return [0.5, 0.5 / rate, 0.5, 0.5 / rate]

    def _newton_starts(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[list[float]]:
        """Starting values: r and alpha by BG/NBD's moments of x/T, s = 0.5, beta = alpha.

        Newton's method from ``_start`` (r = 0.5) fails where purchase rates are far less
        heterogeneous (the default demo: r = 2.6); this start, close to the truth there, is
        tried before the general path.
        """
        r, alpha = moment_start(x, T, w)
        return [[r, alpha, 0.5, alpha]]

    def _curvature(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> fitting.LogLikelihoodWithCurvature:
        """Exact totals for Newton's method (:mod:`~rox.value.models.pareto_gradient`).

        NaN where some row's series has not converged: Newton then gives way to the general path.
        """
        code_a, code_b = group_codes([x, tx]), group_codes([x, T])
        pairs = (first_rows(code_a), code_a, first_rows(code_b), code_b)

        def totals(params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            # a trial point far from the maximum may need long series (z near 1 where alpha and
            # beta are far apart): refused at once, Newton's line search steps back instead
            alpha, beta = params[1], params[3]
            if abs(alpha - beta) / max(alpha, beta) > _NEWTON_MAX_Z:
                return float("nan"), np.full(4, np.nan), np.full((4, 4), np.nan)
            ll, grad, hess, _ = paretonbd_totals(params, x, tx, T, w, max_terms=128, distinct=pairs)
            return ll, grad, hess

        return totals

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The log-likelihood and its exact gradient (:mod:`~rox.value.models.pareto_gradient`).

        Rows where the gradient's series does not converge (alpha and beta far apart) take the
        value from SciPy's 2F1 and central differences of it; covariates by the chain rule
        (alpha_i = alpha exp(-g.z), beta_i = beta exp(-g.z)).
        """
        r, alpha, s, beta = self._individual(params, z)
        ll, grad, _, ok = paretonbd_loglik_gradient(r, alpha, s, beta, x, tx, T, max_terms=64)
        if not ok.all():
            ll, grad = ll.copy(), grad.copy()
            rows = ~ok

            def part(v: Any) -> Any:
                return v[rows] if np.ndim(v) else v

            own = [part(v) for v in (r, alpha, s, beta)]
            xr, txr, tr = x[rows], tx[rows], T[rows]

            def value(q: list[Any]) -> np.ndarray:
                return paretonbd_loglik(q[0], q[1], q[2], q[3], xr, txr, tr)[0]

            ll[rows] = value(own)
            for j in range(4):
                h = 1e-6 * max(float(np.max(np.abs(own[j]))), 1e-2)
                up, down = list(own), list(own)
                up[j], down[j] = own[j] + h, own[j] - h
                grad[rows, j] = (value(up) - value(down)) / (2 * h)
        if not self.covariates:
            return ll, grad
        out = [
            grad[:, 0],
            grad[:, 1] * alpha / params[1],
            grad[:, 2],
            grad[:, 3] * beta / params[3],
        ]
        out.extend(((-grad[:, 1] * alpha)[:, None] * z).T)
        out.extend(((-grad[:, 3] * beta)[:, None] * z).T)
        return ll, np.column_stack(out)

    def _p_alive(self, x: np.ndarray, tx: np.ndarray, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        """P(alive) at T (Fader & Hardie 2005 note), once per distinct row (two 2F1 terms)."""
        params = self._fitted().params

        def alive(x: np.ndarray, tx: np.ndarray, t: np.ndarray, *z: np.ndarray) -> np.ndarray:
            r, alpha, s, beta = self._individual(params, _matrix(z, len(x)))
            _, log_term1, log_term2 = paretonbd_loglik(r, alpha, s, beta, x, tx, t)
            return np.asarray(1.0 / (1.0 + np.exp(log_term2 - log_term1)))

        return on_distinct(alive, x, tx, t, *z.T)

    def _expected(
        self, t: float, x: np.ndarray, tx: np.ndarray, tt: np.ndarray, z: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (SMC 1987; Fader & Hardie 2005 note)."""
        return self._expected_given(t, x, tt, z, self._p_alive(x, tx, tt, z))

    def _expected_at(
        self, ts: Sequence[float], x: np.ndarray, tx: np.ndarray, tt: np.ndarray, z: np.ndarray
    ) -> list[np.ndarray]:
        """``_expected`` at each of ``ts``, with P(alive) (two 2F1 terms a row) computed once."""
        alive = self._p_alive(x, tx, tt, z)
        return [self._expected_given(float(t), x, tt, z, alive) for t in ts]

    def _expected_given(
        self, t: float, x: np.ndarray, tt: np.ndarray, z: np.ndarray, alive: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] given each row's P(alive) at T."""
        r, alpha, s, beta = self._individual(self._fitted().params, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            general = (
                (r + x)
                * (beta + tt)
                / ((alpha + tt) * (s - 1))
                * (1 - ((beta + tt) / (beta + tt + t)) ** (s - 1))
            )
            at_one = (r + x) * (beta + tt) / (alpha + tt) * np.log((beta + tt + t) / (beta + tt))
        return np.asarray(np.where(np.isclose(s, 1.0), at_one, general) * alive)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected purchases in (0, t] of a new customer (SMC 1987)."""
        r, alpha, s, beta = self._fitted().params[:4]
        t = np.asarray(t, dtype="float64")
        if np.isclose(s, 1.0):
            return np.asarray(r * beta / alpha * np.log((beta + t) / beta))
        return np.asarray(r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1)))
