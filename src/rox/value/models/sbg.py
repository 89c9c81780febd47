"""Shifted-beta-geometric (sBG) model of contractual retention.

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing 21(1).

Each customer renews every period with probability 1 - theta until they churn; theta ~ Beta(a, b)
across customers (``alpha``, ``beta`` in the paper). With the survivors S(t) of a cohort observed at
periods 0..n::

    P(T = t) = B(a + 1, b + t - 1) / B(a, b)        churn in period t
    S(t)     = B(a, b + t) / B(a, b)               still a customer after t periods
    ln L     = sum_t (S(t-1) - S(t)) ln P(T = t) + S(n) ln S(n)

and the retention rate in period t is r_t = (b + t - 1) / (a + b + t - 1), rising with t as the
likelier churners leave.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from rox.value.models import fitting
from rox.value.models.base import CustomerModel

__all__ = ["ShiftedBetaGeoModel"]


def _log_beta_grad(a: Any, b: Any) -> tuple[Any, Any]:
    psi_ab = special.digamma(a + b)
    return special.digamma(a) - psi_ab, special.digamma(b) - psi_ab


class ShiftedBetaGeoModel(CustomerModel):
    """sBG model of a contractual cohort's survival.

    Examples
    --------
    >>> from rox.value.models import ShiftedBetaGeoModel
    >>> regular = [1000, 631, 468, 382, 326, 289, 262, 241]  # Fader & Hardie (2007), years 0-7
    >>> model = ShiftedBetaGeoModel().fit(regular)
    >>> model.params_.round(3).tolist()
    [0.704, 1.182]
    """

    base_params = ("alpha", "beta")
    label = "sBG"

    def fit(self, survivors: Any) -> ShiftedBetaGeoModel:
        """Fit on the number of customers still active at periods 0, 1, ..., n.

        Parameters
        ----------
        survivors : sequence of int
            Customers active at the start (period 0) and after each period; non-increasing.
        """
        s = np.asarray(survivors, dtype="float64")
        if s.ndim != 1 or len(s) < 2:
            raise ValueError("survivors must list at least two periods (0 and 1)")
        if (np.diff(s) > 0).any() or (s < 0).any():
            raise ValueError("survivors must be non-negative and non-increasing")
        churned = -np.diff(s)
        t = np.arange(1, len(s), dtype="float64")
        n = t[-1]
        weights = np.append(churned, s[-1])

        def loglik(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            a, b = params
            ga, gb = _log_beta_grad(a, b)
            # churn in period t: ln B(a+1, b+t-1) - ln B(a, b)
            pa, pb = _log_beta_grad(a + 1, b + t - 1)
            ll_churn = special.betaln(a + 1, b + t - 1) - special.betaln(a, b)
            # survive all n periods: ln B(a, b+n) - ln B(a, b)
            sa, sb = _log_beta_grad(a, b + n)
            ll_alive = special.betaln(a, b + n) - special.betaln(a, b)
            ll = np.append(ll_churn, ll_alive)
            d_a = np.append(pa - ga, sa - ga)
            d_b = np.append(pb - gb, sb - gb)
            return ll, np.column_stack([d_a, d_b])

        self._fit = fitting.fit(
            loglik,
            [1.0, 1.0],
            weights,
            names=self.param_names,
            limit_case=_no_heterogeneity(s, loglik),
        )
        self.n_customers_ = float(s[0])
        self.periods_ = len(s) - 1
        return self

    def survival(self, periods: int | Any) -> np.ndarray:
        """S(t) for t = 0..periods (or at the given periods)."""
        a, b = self._fitted().params
        t = np.arange(periods + 1) if np.ndim(periods) == 0 else np.asarray(periods, float)
        return np.asarray(np.exp(np.asarray(special.betaln(a, b + t) - special.betaln(a, b))))

    def retention_rate(self, periods: int | Any) -> np.ndarray:
        """Retention rate r_t = (b + t - 1)/(a + b + t - 1) for t = 1..periods."""
        a, b = self._fitted().params
        t = np.arange(1, periods + 1) if np.ndim(periods) == 0 else np.asarray(periods, float)
        return np.asarray((b + t - 1) / (a + b + t - 1))

    def projection(self, periods: int, cohort_size: float | None = None) -> pd.DataFrame:
        """Projected survivors and retention rates for periods 0..``periods``."""
        size = self.n_customers_ if cohort_size is None else cohort_size
        surv = self.survival(periods)
        rate = np.append(np.nan, self.retention_rate(periods))
        return pd.DataFrame(
            {
                "period": np.arange(periods + 1),
                "survival": surv,
                "survivors": size * surv,
                "retention_rate": rate,
            }
        )


def _no_heterogeneity(survivors: np.ndarray, loglik: fitting.LogLikelihood) -> fitting.LimitCase:
    """The shifted-geometric limit of the sBG (Fader & Hardie 2007), for these data.

    When every customer churns with the same probability, the beta distribution of that
    probability collapses to a point: alpha and beta grow without bound at a fixed ratio, and the
    likelihood rises toward that of the shifted-geometric model without reaching it. A fit is at
    this limit when alpha + beta is large and its log-likelihood is within 0.01 of the
    geometric model's maximum (closed form: churned / periods at risk). Where the optimiser stops
    along that ridge is decided by floating point, so this test uses neither that point's
    standard errors nor its exact values.
    """
    churned = -np.diff(survivors)
    at_risk = float(
        np.sum(churned * np.arange(1, len(survivors))) + survivors[-1] * (len(survivors) - 1)
    )
    p_hat = float(churned.sum()) / at_risk if at_risk else 0.0
    t = np.arange(1, len(survivors), dtype="float64")
    weights = np.append(churned, survivors[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = np.append(np.log(p_hat) + (t - 1) * np.log1p(-p_hat), t[-1] * np.log1p(-p_hat))
        best_geometric = float(np.sum(np.where(weights > 0, weights * geometric, 0.0)))

    def limit(params: np.ndarray, flat: list[str]) -> tuple[str, list[str]] | None:
        a, b = params
        fitted = float(np.sum(weights * loglik(params)[0]))
        if set(flat) - {"alpha", "beta"} or a + b < 1e3 or fitted < best_geometric - 0.01:
            return None
        note = (
            f"no heterogeneity is evident in these data: alpha and beta run to the limit where "
            f"every customer churns with the same probability, {a / (a + b):.3g} per period "
            f"(alpha + beta = {a + b:.3g}); there sBG equals the shifted-geometric model, whose "
            "predictions these are; the standard errors of alpha and beta are undefined"
        )
        return note, ["alpha", "beta"]

    return limit
