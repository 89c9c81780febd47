"""Gamma-Gamma model of spend per transaction.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis";
Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers, so
their mean spend is gamma p / (q - 1). Given x transactions with mean value m, the log-density of
m (Fader & Hardie 2013, eq. 4; the full density, so log-likelihoods compare with other tools)::

    ln f = ln G(px+q) - ln G(px) - ln G(q) + q ln(gamma) + (px-1) ln(m) + px ln(x)
           - (px+q) ln(gamma + x m)

and the expected mean spend of a customer (eq. 5) is
``(q - 1)/(px + q - 1) * gamma p/(q - 1) + px/(px + q - 1) * m``.
Only customers with repeat purchases (x > 0) enter the fit, as in the papers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from rox.errors import ConvergenceError
from rox.value.models import fitting
from rox.value.models.base import CustomerModel
from rox.value.models.special import trigamma

__all__ = ["GammaGammaModel", "gamma_gamma_loglik"]


def gamma_gamma_loglik(
    p: float, q: float, gamma: float, x: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-density of each customer's mean spend and its gradient in (p, q, gamma)."""
    return _GammaGammaRows(x, m)(p, q, gamma)


class _GammaGammaRows:
    """The Gamma-Gamma log-likelihood over fixed data, with the per-row constants computed once.

    The gamma-function terms depend on x only, so they are evaluated once per distinct x (a few
    hundred values) and broadcast; only ``log(gamma + x m)`` is computed per row at each step.
    """

    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray | None = None) -> None:
        self.x = x
        self.m = m
        self.xm = x * m
        self.log_m = np.log(m)
        self.values, self.index = np.unique(x, return_inverse=True)
        self.log_x = np.log(x)
        w = np.ones_like(x) if w is None else w
        # for :meth:`totals`: the weights per distinct x, and the sums that do not move
        self.w_by_x = np.bincount(self.index, weights=w, minlength=len(self.values))
        self.weights = np.stack([w * x, w])  # rows: w x, w
        self.total = float(w.sum())
        self.wx_log_mx = float(self.weights[0] @ (self.log_m + self.log_x))
        self.w_log_m = float(w @ self.log_m)

    def __call__(self, p: float, q: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        psi = special.digamma
        ux = self.values
        g_terms = special.gammaln(p * ux + q) - special.gammaln(p * ux) - special.gammaln(q)
        d_terms = psi(p * ux + q) - psi(p * ux)
        dq_terms = psi(p * ux + q) - psi(q)
        x, px = self.x, p * self.x
        log_denom = np.log(gamma + self.xm)
        ll = (
            g_terms[self.index]
            + q * np.log(gamma)
            + (px - 1) * self.log_m
            + px * self.log_x
            - (px + q) * log_denom
        )
        d_p = x * (d_terms[self.index] + self.log_m + self.log_x - log_denom)
        d_q = dq_terms[self.index] + np.log(gamma) - log_denom
        d_gamma = q / gamma - (px + q) / (gamma + self.xm)
        return ll, np.column_stack([d_p, d_q, d_gamma])

    def totals(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted totals of the log-likelihood, its gradient and Hessian in (p, q, gamma).

        The same likelihood as :meth:`__call__`, summed: with ``L = log(gamma + x m)``,
        ``sum ln f = sum_x W_x [ln G(px+q) - ln G(px)] - W ln G(q) + q W ln(gamma)
        + p sum w x (ln m + ln x) - sum w ln m - p sum w x L - q sum w L``, so each step costs
        one logarithm and one reciprocal per row; the rest is per distinct x.
        """
        p, q, gamma = params
        u, wu, big_w = self.values, self.w_by_x, self.total
        pu = p * u
        denom = gamma + self.xm
        inv = 1.0 / denom
        (a, b), (c, d), (e, f) = (
            self.weights @ np.log(denom),
            self.weights @ inv,
            self.weights @ (inv * inv),
        )
        ll = (
            wu @ (special.gammaln(pu + q) - special.gammaln(pu))
            - big_w * special.gammaln(q)
            + q * big_w * np.log(gamma)
            + p * self.wx_log_mx
            - self.w_log_m
            - p * a
            - q * b
        )
        psi_pq = special.digamma(pu + q)
        grad = np.array(
            [
                (wu * u) @ (psi_pq - special.digamma(pu)) + self.wx_log_mx - a,
                wu @ psi_pq - big_w * special.digamma(q) + big_w * np.log(gamma) - b,
                q * big_w / gamma - p * c - q * d,
            ]
        )
        t_pq = trigamma(pu + q)
        h_pq = (wu * u) @ t_pq
        h_pg = -c
        h_qg = big_w / gamma - d
        hess = np.array(
            [
                [(wu * u * u) @ (t_pq - trigamma(pu)), h_pq, h_pg],
                [h_pq, wu @ t_pq - big_w * trigamma(q), h_qg],
                [h_pg, h_qg, -q * big_w / gamma**2 + p * e + q * f],
            ]
        )
        return float(ll), grad, hess


class GammaGammaModel(CustomerModel):
    """Gamma-Gamma spend model.

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q``, ``gamma``.

    Notes
    -----
    It assumes spend is independent of purchase frequency; check with
    ``numpy.corrcoef(frequency, monetary)`` on the repeat customers before relying on it.
    """

    base_params = ("p", "q", "gamma")
    label = "Gamma-Gamma"

    def fit(self, data: Any, monetary: Any = None, *, weights: Any = None) -> GammaGammaModel:
        """Fit on customers with repeat purchases.

        Parameters
        ----------
        data : RFM, DataFrame or array
            An RFM summary or a DataFrame with ``frequency`` and ``monetary``, or the frequency
            array (then pass ``monetary``). Rows with frequency 0 are left out.
        """
        x, m, w = _spend_rows(data, monetary, weights)
        start = [1.0, 2.0, float(np.mean(m))]
        try:
            rows = _GammaGammaRows(x, m, w)
            self._fit = fitting.fit(
                lambda p: rows(p[0], p[1], p[2]),
                start,
                w,
                names=self.param_names,
                curvature=rows.totals,
            )
        except ConvergenceError as exc:
            raise ConvergenceError(f"Gamma-Gamma: {exc}") from None
        self.n_customers_ = float(w.sum())
        return self

    def expected_spend(self, data: Any, monetary: Any = None) -> np.ndarray:
        """Expected mean spend per transaction of each customer (population mean when x = 0)."""
        p, q, gamma = self._fitted().params
        if monetary is None:
            frame = data.frame if hasattr(data, "frame") else data
            x = frame["frequency"].to_numpy(dtype="float64")
            m = frame["monetary"].fillna(0).to_numpy(dtype="float64")
        else:
            x = np.asarray(data, dtype="float64")
            m = np.nan_to_num(np.asarray(monetary, dtype="float64"))
        population = gamma * p / (q - 1)
        weight = p * x / (p * x + q - 1)
        return np.asarray((1 - weight) * population + weight * m)

    def population_mean_spend(self) -> float:
        """Mean spend per transaction in the population, gamma p / (q - 1) (q > 1)."""
        p, q, gamma = self._fitted().params
        return float(gamma * p / (q - 1)) if q > 1 else float("inf")


def _spend_rows(data: Any, monetary: Any, weights: Any) -> tuple[np.ndarray, ...]:
    if monetary is None:
        frame = data.frame if hasattr(data, "frame") else data
        if not isinstance(frame, pd.DataFrame) or not {"frequency", "monetary"} <= set(frame):
            raise ValueError("pass an RFM result or a DataFrame with frequency and monetary")
        x, m = frame["frequency"], frame["monetary"]
    else:
        x, m = data, monetary
    x_ = np.asarray(x, dtype="float64")
    m_ = np.asarray(m, dtype="float64")
    w = np.ones_like(x_) if weights is None else np.asarray(weights, dtype="float64")
    keep = x_ > 0
    if (m_[keep] <= 0).any() or np.isnan(m_[keep]).any():
        i = int(np.flatnonzero(keep & ~(m_ > 0))[0])
        raise ValueError(f"row {i}: mean spend {m_[i]!r} must be positive for a repeat customer")
    if keep.sum() < 2:
        raise ConvergenceError("Gamma-Gamma needs at least two customers with repeat purchases")
    return x_[keep], m_[keep], w[keep]
