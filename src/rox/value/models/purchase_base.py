"""What BG/NBD, Pareto/NBD and their limits share: rows, covariates, compression, start values.

:class:`_TransactionModel` turns a customer summary (x, t_x, T, optional covariates) into the
compressed rows the one fitting core (:mod:`rox.value.models.fitting`) works on; each model adds
its likelihood and predictions (:mod:`~rox.value.models.transactions`,
:mod:`~rox.value.models.common_dropout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rox.value.distinct import first_rows, group_codes
from rox.value.models import fitting
from rox.value.models.base import CustomerModel, purchase_rows


def _logaddexp_masked(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """log(exp(a) + mask*exp(b)) and the weights of a and b in it."""
    b = np.where(mask, b, -np.inf)
    m = np.maximum(a, b)
    ea, eb = np.exp(a - m), np.exp(b - m)
    total = ea + eb
    return m + np.log(total), ea / total, eb / total


def moment_start(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Starting (r, alpha) by the method of moments of the purchase rates x/T.

    As if nobody dropped out: a Gamma(r, alpha) mixture of Poisson rates has
    E[x/T] = r/alpha and Var(x/T) = r/alpha^2 + E[1/T] r/alpha.
    """
    span = np.maximum(T, 1e-9)
    rates = x / span
    mean = max(float(np.average(rates, weights=w)), 1e-3)
    excess = float(np.average((rates - mean) ** 2, weights=w)) - mean * float(
        np.average(1 / span, weights=w)
    )
    r = float(np.clip(mean**2 / excess, 0.01, 100.0)) if excess > 0 else 1.0
    return r, r / mean


def weighted_hessian(hess: list[list[Any]], w: np.ndarray) -> np.ndarray:
    """The (k, k) sum over rows of a lower-triangle Hessian of per-row arrays or shared scalars."""
    k = len(hess)
    total = float(w.sum())
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i + 1):
            hij = hess[i][j]
            out[i, j] = out[j, i] = float(w @ hij) if np.ndim(hij) else float(hij) * total
    return out


def _matrix(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Covariate columns as the (n, k) matrix (k may be 0)."""
    return np.column_stack(columns) if columns else np.zeros((n, 0))


class _TransactionModel(CustomerModel):
    """Shared data handling of BG/NBD and Pareto/NBD: rows, covariates, compression."""

    #: Which base parameter each covariate group scales, and the sign of its exponent.
    _scaled: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __init__(self, covariates: Sequence[str] = ()) -> None:
        self.covariates = tuple(covariates)

    @property
    def param_names(self) -> tuple[str, ...]:
        coefs = tuple(f"{p}:{c}" for p, _ in self._scaled for c in self.covariates)
        return self.base_params + coefs

    def _data(self, data: Any, weights: Any = None) -> tuple[np.ndarray, ...]:
        """(x, t_x, T, weights, Z) from ``data``; rows sharing all values are merged."""
        frame = data.frame if hasattr(data, "frame") else data
        if not self.covariates:
            x, tx, t, w = purchase_rows(data, weights=weights)
            return x, tx, t, w, np.zeros((len(x), 0))
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("a model with covariates needs a DataFrame with their columns")
        missing = [c for c in self.covariates if c not in frame.columns]
        if missing:
            raise ValueError(f"the data lacks covariate column(s) {', '.join(missing)}")
        cols = ["frequency", "recency", "T", *self.covariates]
        compressed = frame.groupby(cols, sort=False).size().rename("count").reset_index()
        x, tx, t, w = purchase_rows(compressed)
        z = compressed[list(self.covariates)].to_numpy(dtype="float64")
        return x, tx, t, w, z

    def _distinct_x(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct frequencies and each row's index into them (cached for one fit's data)."""
        cached = getattr(self, "_x_cache", None)
        if cached is None or cached[0] is not x:
            values, index = np.unique(x, return_inverse=True)
            self._x_cache = (x, values, index)
            cached = self._x_cache
        return cached[1], cached[2]

    def _individual(self, params: np.ndarray, z: np.ndarray) -> list[Any]:
        """Each row's base parameters after the covariates' scaling (scalars without any)."""
        k = len(self.base_params)
        if not self.covariates:
            return [float(p) for p in params[:k]]
        values = [np.full(len(z), p) for p in params[:k]]
        coefs = (
            params[k:].reshape(len(self._scaled), len(self.covariates))
            if self.covariates
            else np.zeros((len(self._scaled), 0))
        )
        for (name, sign), g in zip(self._scaled, coefs, strict=True):
            i = self.base_params.index(name)
            values[i] = values[i] * np.exp(sign * (z @ g))
        return values

    def _start(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> list[float]:
        raise NotImplementedError

    def fit(
        self, data: Any, recency: Any = None, T: Any = None, *, weights: Any = None
    ) -> _TransactionModel:
        """Fit by maximum likelihood.

        Parameters
        ----------
        data : RFM, DataFrame or array
            An :class:`~rox.value.RFM` summary (fitted on its compressed rows), a DataFrame with
            ``frequency``, ``recency``, ``T`` (and ``count``, and the covariate columns), or the
            frequency array (then pass ``recency`` and ``T``).
        weights : array, optional
            Customers per row.

        Returns
        -------
        self
        """
        if recency is not None:
            x, tx, t, w = purchase_rows(data, recency, T, weights)
            z = np.zeros((len(x), 0))
            if self.covariates:
                raise ValueError("pass a DataFrame holding the covariate columns")
        else:
            x, tx, t, w, z = self._data(data, weights)
        self.limit_model_ = None
        self._rows = (x, tx, t, w)  # for a limit case's own fit
        start = self._start(x, tx, t, w) + [0.0] * (len(self._scaled) * len(self.covariates))
        positive = [True] * len(self.base_params) + [False] * (len(start) - len(self.base_params))
        self._fit = fitting.fit(
            lambda p: self._loglik(p, x, tx, t, z),
            start,
            w,
            names=self.param_names,
            positive=positive,
            limit_case=self._limit_case,
            curvature=None if self.covariates else self._curvature(x, tx, t, w),
            newton_starts=() if self.covariates else self._newton_starts(x, tx, t, w),
        )
        self.n_customers_ = float(w.sum())
        return self

    def _curvature(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> fitting.LogLikelihoodWithCurvature | None:
        """The log-likelihood with its second derivatives, where the model has them."""
        return None

    def _newton_starts(
        self, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> list[list[float]]:
        """Further starting values for Newton's method (none by default)."""
        return []

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    #: The dropout parameters, and the name of the model without dropout they reduce to.
    _dropout: ClassVar[tuple[tuple[str, ...], str]] = ((), "")
    #: The model of a limit case this fit reduced to and whose predictions it gives, or None.
    limit_model_: _TransactionModel | None = None
    _rows: tuple[np.ndarray, ...] = ()

    def _limit_case(self, params: np.ndarray, flat: list[str]) -> tuple[str, list[str]] | None:
        """Accept the no-dropout limit: the likelihood is then flat in the dropout parameters."""
        names, reduced = self._dropout
        if not flat or not set(flat) <= set(names) or self._dropout_level(params) > 1e-3:
            return None
        note = (
            f"no dropout is evident in these data: {', '.join(flat)} run to the no-dropout limit "
            f"(dropout level {self._dropout_level(params):.2g}), where {self.label} equals the "
            f"{reduced} model; predictions are that model's, and the standard errors of "
            f"{', '.join(flat)} are undefined"
        )
        return note, flat

    def _dropout_level(self, params: np.ndarray) -> float:
        raise NotImplementedError

    def _rows_for_prediction(self, data: Any, recency: Any, T: Any) -> tuple[np.ndarray, ...]:
        if recency is not None:
            x, tx, t, _ = purchase_rows(data, recency, T)
            return x, tx, t, np.zeros((len(x), 0))
        frame = data.frame if hasattr(data, "frame") else data
        # per customer: a ``count`` column is not a weight here
        x, tx, t, _ = purchase_rows(frame, weights=np.ones(len(frame)))
        z = (
            frame[list(self.covariates)].to_numpy(dtype="float64")
            if self.covariates
            else np.zeros((len(x), 0))
        )
        return x, tx, t, z

    def distinct_rows(
        self,
        data: Any,
        recency: Any = None,
        T: Any = None,
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The distinct (x, t_x, T, covariates) rows of ``data`` and each customer's row index.

        Predictions depend on nothing else, so they are computed once per distinct row.
        """
        x, tx, t, z = self._rows_for_prediction(data, recency, T)
        keys = [x, tx, t, *z.T]
        codes = group_codes(keys)
        first = first_rows(codes)
        values = [k[first] for k in keys]
        uz = np.column_stack(values[3:]) if len(values) > 3 else np.zeros((len(first), 0))
        return (values[0], values[1], values[2], uz), codes

    # Predictions are computed per customer; each model evaluates its costly special functions
    # once per distinct row of what they depend on (``on_distinct``).
    def p_alive(self, data: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """Probability that each customer is still active at the end of their observation."""
        return self._p_alive(*self._rows_for_prediction(data, recency, T))

    def expected_purchases(
        self, t: float, data: Any, recency: Any = None, T: Any = None
    ) -> np.ndarray:
        """Expected repeat purchases of each customer in the next ``t``."""
        return self._expected(float(t), *self._rows_for_prediction(data, recency, T))

    def _p_alive(
        self,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        z: np.ndarray,
    ) -> np.ndarray:
        raise NotImplementedError

    def _expected(
        self,
        t: float,
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        z: np.ndarray,
    ) -> np.ndarray:
        raise NotImplementedError

    def _expected_at(
        self,
        ts: Sequence[float],
        x: np.ndarray,
        tx: np.ndarray,
        T: np.ndarray,
        z: np.ndarray,
    ) -> list[np.ndarray]:
        """``_expected`` at each of ``ts``; a model computes once what does not depend on t."""
        return [self._expected(float(t), x, tx, T, z) for t in ts]
