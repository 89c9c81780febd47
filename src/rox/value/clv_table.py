"""Customer lifetime value kept in the engine: a table of every customer, a summary in Python.

:func:`rox.value.clv` returns one row per customer as a pandas DataFrame: fine for thousands of
customers, not for tens of millions on a cluster (Spark refuses to collect more than
``spark.driver.maxResultSize``). :func:`clv_table` gives the same values without bringing the
customers to Python:

1. the RFM summary is computed in the engine (:func:`rox.value.rfm_expr`), and grouped there into
   its distinct ``(frequency, recency, T)`` rows with their counts: all BG/NBD and Pareto/NBD need
   to be fitted (Fader, Hardie & Lee 2005), as :func:`rox.value.clv` fits them;
2. the purchase model's predictions, P(alive) and the discounted expected purchases of
   :func:`rox.value.clv` (its special functions: BG/NBD's 2F1, Pareto/NBD's), are evaluated
   once per distinct row in Python, and that small table is joined back to the customers in the
   engine;
3. Gamma-Gamma's expected spend is a closed form (Fader & Hardie 2013, eq. 5), written as an
   Ibis expression; the model is fitted on the distinct ``(frequency, monetary)`` pairs of the
   repeat customers with their counts, grouped in the engine;
4. the customers' values are written as the workspace table ``rox_clv`` (on Spark, a folder of
   the lake), and only a one-row summary comes back.

What reaches Python grows with the distinct purchase histories (days between purchases) and
distinct mean spends, not with the customers; the customers' values never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from rox.errors import MetricError, WorkspaceError
from rox.results import Result
from rox.schema import CLV_TABLE
from rox.value.choice import CANDIDATES, ModelChoice, choose_purchase_model
from rox.value.clv import PurchaseModel, clv_basis, discounted_purchases
from rox.value.models import GammaGammaModel
from rox.value.rfm import RFM, Unit, _expression

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["CLVExpr", "CLVTable", "clv_expr", "clv_table"]

_KEYS = ["frequency", "recency", "T"]


@dataclass(frozen=True, eq=False)
class CLVTable(Result):
    """Customer lifetime values written to a workspace table, and their summary.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row: ``customers``, ``expected_purchases``, ``clv_total``, ``clv_mean``,
        ``clv_median``, ``active_share`` and ``horizon`` (as :meth:`rox.value.CLV.aggregate`).
    table : str
        The workspace table holding one row per customer, with the columns of
        :attr:`rox.value.CLV.frame` (``ws.table(result.table)``).
    distinct_rows : int
        The distinct ``(frequency, recency, T)`` rows the predictions were computed on.
    purchase_model, spend_model, choice, horizon, unit, margin, discount_rate
        As in :class:`rox.value.CLV`.
    """

    table: str = CLV_TABLE
    distinct_rows: int = 0
    purchase_model: Any = None
    spend_model: Any = None
    horizon: float = 0.0
    unit: str = "weeks"
    margin: float = 1.0
    discount_rate: float = 0.0
    choice: ModelChoice | None = field(default=None, repr=False)

    @property
    def basis(self) -> str:
        """What the values are, in words (as :attr:`rox.value.CLV.basis`)."""
        return clv_basis(self.horizon, self.unit, self.discount_rate, self.margin)

    @property
    def total(self) -> float:
        """The customer base's value: the sum of CLV."""
        return float(self.frame["clv_total"].iloc[0])


@dataclass(frozen=True)
class CLVExpr:
    """Every customer's CLV as an Ibis expression of the engine, and the models behind it.

    Attributes
    ----------
    table : ibis.Table
        One row per customer, with the columns of :attr:`rox.value.CLV.frame`; not computed
        until it is stored, joined or aggregated.
    customers : int
        The customers of the RFM summary (the rows ``table`` must have).
    distinct_rows : int
        The distinct ``(frequency, recency, T)`` rows the predictions were computed on.
    basis : str
        What the values are, in words (as :attr:`rox.value.CLV.basis`).
    purchase_model, spend_model, choice
        As in :class:`rox.value.CLV`.
    """

    table: Any
    basis: str
    customers: int
    distinct_rows: int
    purchase_model: Any
    spend_model: Any
    choice: ModelChoice | None


def clv_expr(
    ws: Workspace,
    *,
    calibration_end: Any = None,
    unit: Unit = "weeks",
    horizon: float = 52.0,
    margin: float = 1.0,
    discount_rate: float = 0.1,
    model: PurchaseModel = "auto",
) -> CLVExpr:
    """Fit the CLV models on rows grouped in the engine; every customer's CLV as an expression.

    Steps 1 to 3 of the module: what :func:`clv_table` stores, for a caller that joins or
    aggregates the values in the engine without storing them (the friction's value at risk:
    :func:`rox.impact.friction`). Works on a read-only workspace (the distinct rows' predictions
    go to the engine as an in-memory table). Arguments as :func:`clv_table`.

    Raises
    ------
    MetricError
        If an argument is out of range.
    """
    if model != "auto" and model not in CANDIDATES:
        raise MetricError(f"unknown purchase model {model!r}; expected auto, bgnbd or paretonbd")
    if horizon <= 0 or margin < 0 or discount_rate < 0:
        raise MetricError("horizon must be positive, margin and discount_rate non-negative")
    customers, cal_end, _ = _expression(ws, calibration_end, None, unit)
    # the fits' data, grouped in the engine (the order of rox.value.rfm(...).compressed())
    stats = customers.group_by(_KEYS).aggregate(count=customers.count()).execute()
    stats = stats.sort_values(_KEYS).reset_index(drop=True)
    stats = stats.astype({"frequency": "int64", "count": "int64"})
    summary = RFM(frame=stats, unit=unit, calibration_end=cal_end)
    purchases, choice = choose_purchase_model(summary, model)
    repeat = customers.filter(customers.frequency > 0)
    pairs = repeat.group_by(["frequency", "monetary"]).aggregate(count=repeat.count()).execute()
    pairs = pairs.sort_values(["frequency", "monetary"]).reset_index(drop=True)  # one sum order
    spending = GammaGammaModel().fit(pairs, weights=pairs["count"].to_numpy(dtype="float64"))
    # per distinct (x, t_x, T): P(alive) and the (discounted) expected purchases
    rows = tuple(stats[c].to_numpy(dtype="float64") for c in _KEYS)
    rows = (*rows, np.zeros((len(stats), 0)))
    discounted, expected = discounted_purchases(
        purchases, rows, horizon=horizon, unit=unit, discount_rate=discount_rate
    )
    predictions = ibis.memtable(
        pd.DataFrame(
            {
                "_x": stats["frequency"],
                "_tx": stats["recency"],
                "_T": stats["T"],
                "p_alive": purchases._p_alive(*rows),
                "expected_purchases": expected,
                "_discounted": discounted,
            }
        )
    )
    c = customers
    joined = c.join(
        predictions,
        [c.frequency == predictions._x, c.recency == predictions._tx, c.T == predictions._T],
    )
    # Gamma-Gamma's expected mean spend (Fader & Hardie 2013, eq. 5), as GammaGammaModel computes
    p, q, gamma = (float(v) for v in spending.params_[["p", "q", "gamma"]])
    population = gamma * p / (q - 1)
    px = p * joined.frequency.cast("float64")
    weight = px / (px + (q - 1))
    spend = (1 - weight) * population + weight * joined.monetary.fill_null(0.0)
    values = joined.select(
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary",
        "p_alive",
        "expected_purchases",
        expected_spend=spend,
        clv=margin * spend * joined._discounted,
    )
    return CLVExpr(
        table=values,
        basis=clv_basis(horizon, unit, discount_rate, margin),
        customers=int(stats["count"].sum()),
        distinct_rows=len(stats),
        purchase_model=purchases,
        spend_model=spending,
        choice=choice,
    )


def clv_table(
    ws: Workspace,
    *,
    calibration_end: Any = None,
    unit: Unit = "weeks",
    horizon: float = 52.0,
    margin: float = 1.0,
    discount_rate: float = 0.1,
    model: PurchaseModel = "auto",
) -> CLVTable:
    """Compute every customer's CLV in the engine into the table ``rox_clv`` (see module).

    The values are those of :func:`rox.value.clv` with the same arguments: the same purchase
    model, fitted on the same rows (P(alive) and expected purchases equal); the spend model on
    its rows grouped, the same likelihood summed in another order, whose optimum moves within the
    optimizer's tolerance (CLV within 1e-8 relative on CDNOW). The table is replaced on each
    call: a snapshot of the transactions at that time.

    Parameters
    ----------
    ws : Workspace
        A workspace open for writing.
    calibration_end, unit, horizon, margin, discount_rate, model
        As in :func:`rox.value.clv` (no holdout: ``model='auto'`` chooses by BIC).

    Returns
    -------
    CLVTable

    Raises
    ------
    WorkspaceError
        If the workspace is open read-only.
    MetricError
        If an argument is out of range.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> stored = rox.value.clv_table(ws, margin=0.2)
    >>> int(stored.frame["customers"].iloc[0]) == ws.table("rox_clv").count().execute()
    True
    """
    if ws.read_only:
        raise WorkspaceError(f"workspace {ws.url} is open read-only; cannot write {CLV_TABLE}")
    fitted = clv_expr(
        ws,
        calibration_end=calibration_end,
        unit=unit,
        horizon=horizon,
        margin=margin,
        discount_rate=discount_rate,
        model=model,
    )
    values = fitted.table
    ws.engine.replace_table(CLV_TABLE, values)
    stored = ws.engine.fixed_table(CLV_TABLE)
    got = stored.aggregate(
        customers=stored.count(),
        expected_purchases=stored.expected_purchases.sum(),
        clv_total=stored.clv.sum(),
        clv_mean=stored.clv.mean(),
        clv_median=stored.clv.median(),
        active_share=stored.p_alive.mean(),
    ).execute()
    if int(got["customers"].iloc[0]) != fitted.customers:  # a key lost in the join
        raise MetricError(
            f"{CLV_TABLE} holds {int(got['customers'].iloc[0]):,} customers of "
            f"{fitted.customers:,}: the predictions did not join back to every customer"
        )
    got["customers"] = got["customers"].astype("int64")
    got["horizon"] = f"{horizon:g} {unit}"
    return CLVTable(
        frame=got,
        table=CLV_TABLE,
        distinct_rows=fitted.distinct_rows,
        purchase_model=fitted.purchase_model,
        spend_model=fitted.spend_model,
        horizon=horizon,
        unit=unit,
        margin=margin,
        discount_rate=discount_rate,
        choice=fitted.choice,
    )
