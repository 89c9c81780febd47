"""What every customer-value model shares: fitted parameters, their errors, the data they take.

Models are scikit-learn style estimators: configure in ``__init__``, learn in ``fit`` (returning
``self``), read fitted attributes with a trailing underscore, and ``get_params``/``set_params``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rox.errors import NotFittedError
from rox.value.models.fitting import FitResult, parameter_draws

__all__ = ["CustomerModel", "purchase_rows"]


class CustomerModel:
    """Base of the models: parameters and their summary."""

    #: Names of the model's parameters (without covariate coefficients), in order.
    base_params: ClassVar[tuple[str, ...]] = ()
    #: Name shown in summaries.
    label: ClassVar[str] = ""

    _fit: FitResult | None = None
    n_customers_: float = 0.0

    # -- scikit-learn protocol --------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn protocol)."""
        del deep
        return {
            k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")
        }

    def set_params(self, **params: Any) -> CustomerModel:
        """Set constructor arguments (scikit-learn protocol)."""
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"{type(self).__name__} has no parameter {k!r}")
            setattr(self, k, v)
        return self

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the fitted parameters, in order (covariate coefficients last)."""
        return self.base_params

    @classmethod
    def from_params(cls, **params: float) -> CustomerModel:
        """A model with given parameters (for scenarios and simulation checks), not fitted.

        Examples
        --------
        >>> from rox.value.models import BetaGeoModel
        >>> BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        BetaGeoModel(r=0.243, alpha=4.414, a=0.793, b=2.426; given parameters)
        """
        model = cls()
        missing = [p for p in model.param_names if p not in params]
        unknown = [p for p in params if p not in model.param_names]
        if missing or unknown:
            raise ValueError(
                f"{cls.__name__} takes exactly {', '.join(model.param_names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        values = np.array([float(params[p]) for p in model.param_names])
        model._fit = FitResult(values, np.full(len(values), np.nan), float("nan"), 0, 0.0)
        return model

    # -- fitted state -----------------------------------------------------------------------------
    def _fitted(self) -> FitResult:
        if self._fit is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")
        return self._fit

    @property
    def params_(self) -> pd.Series:
        """Maximum-likelihood estimates."""
        return pd.Series(self._fitted().params, index=list(self.param_names), name="estimate")

    @property
    def standard_errors_(self) -> pd.Series:
        """Asymptotic standard errors (from the Hessian)."""
        return pd.Series(
            self._fitted().standard_errors, index=list(self.param_names), name="standard_error"
        )

    @property
    def notes_(self) -> tuple[str, ...]:
        """Diagnostics of the fit to read before using it (empty when there are none)."""
        return self._fitted().notes

    @property
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood."""
        return self._fitted().log_likelihood

    def parameter_draws(self, n: int, random_state: int | None = 0) -> np.ndarray:
        """``n`` draws of the parameters from their asymptotic normal distribution.

        Drawn on the fitting scale (log for positive parameters, so every draw is positive;
        coefficients as they are) from ``N(estimate, inverse observed information)``, then
        mapped back: the parametric uncertainty of anything computed from the parameters
        (e.g. Krinsky & Robb 1986). Returns an array of shape ``(n, k)`` in
        :attr:`param_names` order.

        Raises
        ------
        NotFittedError
            If the model is not fitted, or its fit has no covariance (given parameters, or a
            fit at a limit of the model, whose flat directions have none).
        """
        found = self._fitted()
        if found.covariance is None:
            raise NotFittedError(
                f"this {type(self).__name__} has no covariance of its estimates to draw from "
                "(given parameters, or a fit at a limit of the model)"
            )
        positive = [i < len(self.base_params) for i in range(len(found.params))]
        return parameter_draws(found, positive, n, random_state)

    def summary(self) -> pd.DataFrame:
        """Estimates, standard errors and 95% intervals (Wald, on the natural scale)."""
        est, se = self.params_, self.standard_errors_
        return pd.DataFrame(
            {
                "estimate": est,
                "standard_error": se,
                "ci_low": est - 1.959964 * se,
                "ci_high": est + 1.959964 * se,
            }
        )

    def __repr__(self) -> str:
        if self._fit is None:
            return f"{type(self).__name__}()"
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        if np.isnan(self.log_likelihood_):
            return f"{type(self).__name__}({values}; given parameters)"
        return (
            f"{type(self).__name__}({values}; log-likelihood {self.log_likelihood_:,.1f}, "
            f"{self.n_customers_:,.0f} customers)"
        )


def purchase_rows(
    data: Any = None,
    recency: Any = None,
    T: Any = None,
    weights: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x, t_x, T, weights)`` arrays from an RFM result, a DataFrame or arrays.

    A DataFrame needs ``frequency``, ``recency`` and ``T``; a ``count`` column (as in
    :meth:`rox.value.RFM.compressed`) is used as the weights.
    """
    if recency is None:
        frame = data.frame if hasattr(data, "frame") else data
        if hasattr(data, "compressed"):
            frame = data.compressed()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("pass an RFM result, a DataFrame, or frequency, recency and T arrays")
        missing = {"frequency", "recency", "T"} - set(frame.columns)
        if missing:
            raise ValueError(f"the data lacks column(s) {', '.join(sorted(missing))}")
        x, tx, t = frame["frequency"], frame["recency"], frame["T"]
        if weights is None and "count" in frame:
            weights = frame["count"]
    else:
        x, tx, t = data, recency, T
    x_, tx_, t_ = (np.asarray(v, dtype="float64") for v in (x, tx, t))
    w = np.ones_like(x_) if weights is None else np.asarray(weights, dtype="float64")
    if not (x_.shape == tx_.shape == t_.shape == w.shape):
        raise ValueError("frequency, recency, T and weights must have the same length")
    if len(x_) == 0:
        raise ValueError("no customers to fit")
    bad = (x_ < 0) | (tx_ < 0) | (tx_ > t_ + 1e-9) | ((x_ == 0) & (tx_ != 0)) | ~np.isfinite(t_)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"row {i}: frequency={x_[i]:g}, recency={tx_[i]:g}, T={t_[i]:g} is not a valid "
            "summary (need 0 <= recency <= T, and recency 0 when frequency is 0)"
        )
    return x_, tx_, t_, w
