"""Customer lifetime value: expected purchases x expected spend, discounted, per customer.

CLV over a horizon is summed month by month (the discrete approximation of Fader, Hardie & Lee
2005, "RFM and CLV", also used by lifetimes)::

    CLV_i = margin * E[M_i] * sum_k (E[Y_i(t_k)] - E[Y_i(t_{k-1})]) / (1 + d)^(t_k / year)

with E[Y_i(t)] the purchase model's expected purchases of customer i in the next t (BG/NBD or
Pareto/NBD), E[M_i] the Gamma-Gamma expected spend, d the annual discount rate and t_k the end of
month k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.results import Result
from rox.value.choice import CANDIDATES, ModelChoice, choose_purchase_model
from rox.value.models import GammaGammaModel
from rox.value.rfm import RFM, UNITS, rfm

if TYPE_CHECKING:
    from rox.value.models.purchase_base import _TransactionModel
    from rox.workspace import Workspace

__all__ = ["CLV", "clv", "discounted_value"]

PurchaseModel = Literal["auto", "bgnbd", "paretonbd"]
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, eq=False)
class CLV(Result):
    """Customer lifetime value per customer, with the models behind it.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer: ``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary``,
        ``p_alive``, ``expected_purchases`` (in the horizon), ``expected_spend`` (per purchase)
        and ``clv`` (discounted margin over the horizon), sorted by ``clv``, highest first.
    purchase_model, spend_model
        The fitted models.
    choice : ModelChoice
        Which purchase model was used and why (``str(choice)`` says it in words; its frame has
        every candidate's scores).
    horizon : float
        In ``unit``.
    """

    purchase_model: Any = None
    spend_model: Any = None
    horizon: float = 0.0
    unit: str = "weeks"
    margin: float = 1.0
    discount_rate: float = 0.0
    summary: RFM | None = field(default=None, repr=False)
    choice: ModelChoice | None = field(default=None, repr=False)

    _plotter = "rox.viz.value:plot_clv"

    @property
    def basis(self) -> str:
        """What the values are, in words.

        For example ``"CLV over the next 52 weeks, discounted at 10% a year"``, and the margin when
        not all revenue is profit.
        """
        return clv_basis(self.horizon, self.unit, self.discount_rate, self.margin)

    @property
    def total(self) -> float:
        """The customer base's value: the sum of CLV."""
        return float(self.frame["clv"].sum())

    def aggregate(self) -> pd.DataFrame:
        """Totals: customers, expected purchases, expected value, mean and median CLV."""
        f = self.frame
        return pd.DataFrame(
            [
                {
                    "customers": len(f),
                    "expected_purchases": f["expected_purchases"].sum(),
                    "clv_total": f["clv"].sum(),
                    "clv_mean": f["clv"].mean(),
                    "clv_median": f["clv"].median(),
                    "active_share": f["p_alive"].mean(),
                    "horizon": f"{self.horizon:g} {self.unit}",
                }
            ]
        )


def clv_basis(horizon: float, unit: str, discount_rate: float, margin: float) -> str:
    """What CLV values are, in words (see :attr:`CLV.basis`)."""
    basis = f"CLV over the next {horizon:g} {unit}"
    if discount_rate:
        basis += f", discounted at {discount_rate:.0%} a year"
    if margin != 1:
        basis += f", at a {margin:.0%} margin"
    return basis


def discounted_value(
    purchase_model: _TransactionModel,
    data: pd.DataFrame,
    spend: np.ndarray,
    *,
    horizon: float,
    unit: str = "weeks",
    margin: float = 1.0,
    discount_rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted value and expected purchases of each customer over ``horizon`` (see module)."""
    rows, index = purchase_model.distinct_rows(data)  # predictions depend on (x, t_x, T) only
    value, expected = discounted_purchases(
        purchase_model, rows, horizon=horizon, unit=unit, discount_rate=discount_rate
    )
    return margin * spend * value[index], expected[index]


def discounted_purchases(
    purchase_model: _TransactionModel,
    rows: tuple[np.ndarray, ...],
    *,
    horizon: float,
    unit: str = "weeks",
    discount_rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted and plain expected purchases over ``horizon`` of each ``(x, t_x, T, z)`` row.

    The sum of the module docstring without ``margin * E[M]``: a customer's CLV is this
    discounted count times their margin per purchase.
    """
    days = UNITS[unit]
    month = _DAYS_PER_YEAR / 12 / days
    ends = np.append(np.arange(month, horizon, month), horizon)
    value = np.zeros(len(rows[0]))
    before = np.zeros(len(rows[0]))
    for t, cumulative in zip(ends, purchase_model._expected_at(ends.tolist(), *rows), strict=True):
        years = t * days / _DAYS_PER_YEAR
        value += (cumulative - before) / (1 + discount_rate) ** years
        before = cumulative
    return value, before


def clv(
    ws: Workspace | RFM,
    *,
    calibration_end: Any = None,
    holdout_end: Any = None,
    horizon: float = 52.0,
    unit: Literal["weeks", "days"] = "weeks",
    margin: float = 1.0,
    discount_rate: float = 0.1,
    model: PurchaseModel = "auto",
) -> CLV:
    """Fit the purchase and spend models on the transactions and value every customer.

    Parameters
    ----------
    ws : Workspace or RFM
        A workspace (its transactions are summarised in the engine) or an RFM summary.
    calibration_end : date-like, optional
        Fit on transactions up to this day (default: the last one).
    holdout_end : date-like, optional
        With ``calibration_end``: the end of a holdout period, on which ``model="auto"`` judges
        the candidates' predictions (without one, it uses the BIC).
    horizon : float
        How far ahead to value, in ``unit`` (default one year).
    margin : float
        Share of revenue that is profit (1 = value revenue).
    discount_rate : float
        Annual discount rate.
    model : {'auto', 'bgnbd', 'paretonbd'}
        Purchase model. ``auto`` (the default) fits BG/NBD and Pareto/NBD (each possibly at a
        recognised limit) and keeps the one with the better holdout predictions, or the lower
        BIC without a holdout (:mod:`rox.value.choice`); ``CLV.choice`` says which and why.

    Returns
    -------
    CLV

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> value = rox.value.clv(ws, horizon=52, margin=0.2)
    >>> value.frame.columns[-3:].tolist()
    ['expected_purchases', 'expected_spend', 'clv']
    """
    if model != "auto" and model not in CANDIDATES:
        raise MetricError(f"unknown purchase model {model!r}; expected auto, bgnbd or paretonbd")
    if horizon <= 0 or margin < 0 or discount_rate < 0:
        raise MetricError("horizon must be positive, margin and discount_rate non-negative")
    summary = (
        ws
        if isinstance(ws, RFM)
        else rfm(ws, calibration_end=calibration_end, holdout_end=holdout_end, unit=unit)
    )
    unit = summary.unit  # type: ignore[assignment]
    frame = summary.frame
    purchases, choice = choose_purchase_model(summary, model)
    spending = GammaGammaModel().fit(frame)
    spend = spending.expected_spend(frame)
    value, expected = discounted_value(
        purchases,
        frame,
        spend,
        horizon=horizon,
        unit=unit,
        margin=margin,
        discount_rate=discount_rate,
    )
    out = frame[["customer_id", "frequency", "recency", "T", "monetary"]].copy()
    out["p_alive"] = purchases.p_alive(frame)
    out["expected_purchases"] = expected
    out["expected_spend"] = spend
    out["clv"] = value
    # ties by customer: engines return the summary's rows in any order
    out = out.sort_values(["clv", "customer_id"], ascending=[False, True]).reset_index(drop=True)
    return CLV(
        frame=out,
        purchase_model=purchases,
        spend_model=spending,
        horizon=horizon,
        unit=unit,
        margin=margin,
        discount_rate=discount_rate,
        summary=summary,
        choice=choice,
    )
