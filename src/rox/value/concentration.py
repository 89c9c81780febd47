"""How concentrated is value? Lorenz curve, Gini coefficient and the share of the top customers.

The "80/20 rule" is a claim; this measures it: the share of revenue (or of CLV) that comes from the
top 20% of customers, the Lorenz curve (share of value held by the bottom x% of customers) and the
Gini coefficient ``G = 2 sum_i i x_(i) / (n sum_i x_i) - (n + 1) / n`` (values sorted ascending;
0 when everyone is worth the same, 1 when one customer holds everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.results import Result

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["Concentration", "concentration", "gini"]


def gini(values: Any) -> float:
    """Gini coefficient of non-negative ``values``."""
    x = np.sort(np.asarray(values, dtype="float64"))
    if (x < 0).any():
        raise MetricError("the Gini coefficient needs non-negative values")
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    g = 2 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1) / n
    return float(np.clip(g, 0.0, 1.0))  # rounding can leave -1e-16 for equal values


@dataclass(frozen=True, eq=False)
class Concentration(Result):
    """Value concentration.

    Attributes
    ----------
    frame : pandas.DataFrame
        The Lorenz curve at 101 points: ``customer_share`` (0..1, poorest first) and
        ``value_share``.
    gini : float
    top_share : float
        Share of value held by the top ``top`` fraction of customers.
    top : float
    customers : int
    total : float
    measure : str
        What was measured (``revenue`` or ``clv``).
    """

    gini: float = float("nan")
    top_share: float = float("nan")
    top: float = 0.2
    customers: int = 0
    total: float = 0.0
    measure: str = "revenue"

    _plotter: ClassVar[str | None] = "rox.viz.value:plot_lorenz"

    def __str__(self) -> str:
        return (
            f"The top {self.top:.0%} of {self.customers:,} customers hold "
            f"{self.top_share:.1%} of {self.measure}; Gini {self.gini:.3f}."
        )


def concentration(
    source: Workspace | Any, *, top: float = 0.2, measure: str | None = None
) -> Concentration:
    """Measure how concentrated value is across customers.

    Parameters
    ----------
    source : Workspace, CLV result, or array of values
        A workspace (revenue per customer from its transactions, summed in the engine), a
        :class:`~rox.value.CLV` result (its ``clv`` column) or values per customer.
    top : float
        The top share to report (0.2 for the 80/20 rule).
    """
    if not 0 < top < 1:
        raise MetricError("top must be a share between 0 and 1")
    if hasattr(source, "table"):
        t = source.require_rows("transactions")
        values = t.group_by("customer_id").aggregate(v=t.amount.sum()).v.to_pandas().to_numpy()
        measure = measure or "revenue"
    elif hasattr(source, "frame") and "clv" in source.frame:
        values = source.frame["clv"].to_numpy()
        measure = measure or "CLV"
    else:
        values = np.asarray(source, dtype="float64")
        measure = measure or "value"
    values = np.clip(np.asarray(values, dtype="float64"), 0, None)  # refunds net below zero
    x = np.sort(values)
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        raise MetricError("no value to measure")
    cum = np.concatenate([[0.0], np.cumsum(x) / total])
    grid = np.linspace(0, 1, 101)
    share = np.interp(grid * n, np.arange(n + 1), cum)
    top_share = 1 - float(np.interp((1 - top) * n, np.arange(n + 1), cum))
    frame = pd.DataFrame({"customer_share": grid, "value_share": share})
    return Concentration(
        frame=frame,
        gini=gini(x),
        top_share=top_share,
        top=top,
        customers=n,
        total=total,
        measure=measure,
    )
