"""The BG/NBD's limit of a common dropout probability: the NBD with geometric dropout.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", Marketing Science
24(2)) lets each customer drop out after a purchase with probability p ~ Beta(a, b). As a and b
grow without bound at a fixed ratio, a / (a + b) = p, the beta distribution collapses to the point
p (its variance p(1 - p) / (a + b + 1) goes to 0): every customer drops out after each purchase
with the same probability p. The likelihood and predictions of that limit follow from FHL (2005)
term by term, since for fixed x

- B(a, b + x) / B(a, b) = prod_{j<x} (b + j) / (a + b + j)  ->  (1 - p)^x,
- a / (b + x - 1)  ->  p / (1 - p),
- (a + b + x - 1) / (a - 1)  ->  1 / p,
- 2F1(r + x, b + x; a + b + x - 1; z) = sum_n (r+x)_n (b+x)_n / (a+b+x-1)_n z^n / n!
  ->  sum_n (r+x)_n ((1 - p) z)^n / n! = (1 - (1 - p) z)^-(r + x).

Log-likelihood of one customer (FHL eq. 6 in the limit)::

    ln L = ln G(r+x) - ln G(r) + r ln(alpha)
           + ln[ (1-p)^x (alpha+T)^-(r+x) + 1{x>0} p (1-p)^(x-1) (alpha+t_x)^-(r+x) ]

P(alive | x, t_x, T) (FHL eq. 11) = 1 / (1 + 1{x>0} p/(1-p) ((alpha+T)/(alpha+t_x))^(r+x)).
Expected purchases of a new customer in (0, t] (FHL eq. 7) = (1 - (alpha / (alpha + p t))^r) / p.
Conditional expectation (FHL eq. 10)::

    E[Y(t) | x, t_x, T] = (1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p * P(alive | x, t_x, T)

The last two are also direct: an active customer buying at rate lambda drops out at rate
lambda p, so E[X(t) | lambda] = (1 - e^(-lambda p t)) / p, averaged over the Gamma(r, alpha)
(prior) or Gamma(r + x, alpha + T) (posterior) distribution of lambda.

p lies in (0, 1); the fitting core optimises positive parameters on the log scale, so the
likelihood is written in the odds q = p / (1 - p) and the estimate and its standard error are
mapped back to p (delta method: dp/dq = (1 - p)^2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from rox.value.models import fitting
from rox.value.models.base import purchase_rows
from rox.value.models.purchase_base import _logaddexp_masked, _TransactionModel, moment_start

__all__ = ["CommonDropoutModel", "common_dropout_loglik"]


def common_dropout_loglik(
    r: Any, alpha: Any, p: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Log-likelihood per customer and its partial derivatives in (r, alpha, p) (see module)."""
    has = x > 0
    log_q = np.log1p(-p)
    log_alpha_t, log_alpha_tx = np.log(alpha + T), np.log(alpha + tx)
    b = x * log_q - (r + x) * log_alpha_t
    c = np.log(p) + (x - 1) * log_q - (r + x) * log_alpha_tx
    tail, wb, wc = _logaddexp_masked(b, c, has)
    ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + tail
    d_r = (
        special.digamma(r + x)
        - special.digamma(r)
        + np.log(alpha)
        - wb * log_alpha_t
        - wc * log_alpha_tx
    )
    d_alpha = r / alpha - wb * (r + x) / (alpha + T) - wc * (r + x) / (alpha + tx)
    d_p = -wb * x / (1 - p) + wc * (1 / p - (x - 1) / (1 - p))
    return ll, d_r, d_alpha, d_p


class CommonDropoutModel(_TransactionModel):
    """NBD purchasing with a common dropout probability: BG/NBD's limit as a, b -> infinity.

    Each customer buys at rate lambda ~ Gamma(r, alpha) and drops out after each repeat purchase
    with the same probability ``p`` (see the module for the likelihood, its derivation from
    Fader, Hardie & Lee 2005 and the predictions). :class:`BetaGeoModel` fits this model when its
    a and b run to that limit.

    Examples
    --------
    >>> from rox.value.models import CommonDropoutModel
    >>> from rox.value.simulate import simulate_bgnbd
    >>> data = simulate_bgnbd(20_000, 0.5, 4.0, 0.2 * 1e9, 0.8 * 1e9, T=52.0, seed=3)
    >>> CommonDropoutModel().fit(data).params_.round(2).tolist()
    [0.5, 4.05, 0.2]
    """

    base_params = ("r", "alpha", "p")
    label = "NBD with a common dropout probability"
    #: No covariates: a class constant, so that the constructor stores nothing (estimator contract).
    covariates: tuple[str, ...] = ()

    def __init__(self) -> None:
        """Take no settings."""

    def fit(
        self, data: Any, recency: Any = None, T: Any = None, *, weights: Any = None
    ) -> CommonDropoutModel:
        """Fit by maximum likelihood (the data as for :meth:`BetaGeoModel.fit`).

        Returns
        -------
        self
        """
        if recency is not None:
            x, tx, t, w = purchase_rows(data, recency, T, weights)
        else:
            x, tx, t, w, _ = self._data(data, weights)
        r0, alpha0 = moment_start(x, t, w)  # as if nobody dropped out

        def loglik(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r, alpha, q = params
            p = q / (1 + q)
            ll, d_r, d_alpha, d_p = common_dropout_loglik(r, alpha, p, x, tx, t)
            return ll, np.column_stack([d_r, d_alpha, d_p * (1 - p) ** 2])

        found = fitting.fit(loglik, [r0, alpha0, 0.25], w, names=("r", "alpha", "p/(1-p)"))
        q, se_q = found.params[2], found.standard_errors[2]
        p = q / (1 + q)
        self._fit = fitting.FitResult(
            np.array([found.params[0], found.params[1], p]),
            np.array([found.standard_errors[0], found.standard_errors[1], se_q * (1 - p) ** 2]),
            found.log_likelihood,
            found.n_iter,
            found.gradient_norm,
            found.notes,
        )
        self.n_customers_ = float(w.sum())
        return self

    def _dropout_level(self, params: np.ndarray) -> float:
        return float(params[2])

    def _p_alive(self, x: np.ndarray, tx: np.ndarray, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        """P(alive) at T (FHL 2005 eq. 11 in the limit; see module)."""
        r, alpha, p = self._fitted().params
        has = x > 0
        with np.errstate(all="ignore"):
            log_ratio = (
                np.log(p) - np.log1p(-p) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
            )
        return np.asarray(np.where(has, 1.0 / (1.0 + np.exp(log_ratio)), 1.0))

    def _expected(
        self, t: float, x: np.ndarray, tx: np.ndarray, tt: np.ndarray, z: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (FHL 2005 eq. 10 in the limit; see module)."""
        r, alpha, p = self._fitted().params
        kept = ((alpha + tt) / (alpha + tt + p * t)) ** (r + x)
        return np.asarray((1 - kept) / p * self._p_alive(x, tx, tt, z))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected purchases in (0, t] of a new customer (FHL 2005 eq. 7 in the limit)."""
        r, alpha, p = self._fitted().params
        t = np.asarray(t, dtype="float64")
        return np.asarray((1 - (alpha / (alpha + p * t)) ** r) / p)
