"""P(alive) at any day: each customer's (x, t_x, T) at that day in the engine, the model per row.

The buy-till-you-die models give the probability that a customer is still active given their
purchases up to the end of their observation, P(alive | x, t_x, T): BG/NBD in closed form (Fader,
Hardie & Lee 2005, eq. 11), Pareto/NBD with a Gaussian hypergeometric function (Fader & Hardie
2005, "A Note on Deriving the Pareto/NBD Model and Related Expressions", eq. 18). The same
formula answers "was this customer alive at the end of 2024Q3?" when (x, t_x, T) are counted up
to that day: x the repeat purchase days up to it, t_x the days from the first purchase to the
last one up to it, T the days from the first purchase to it. The model's parameters describe the
population (purchase and dropout rates and their spread) and are the ones fitted on all the data;
only the customer's history is cut at the day.

Those triples are computed in the engine (whole days, as integers, the convention of
:mod:`rox.value.rfm`: purchases on one day count once), only their **distinct** values come back
(they repeat: a few per customer at most, far fewer than customers x periods), the fitted model
evaluates its own formula on them (the model's ``p_alive``, so every model and limit case is
handled by its own code), and the result goes back to the engine
as a small table joined on the integer triple. The customers' lifetime values join the same way
(:func:`value_table`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from rox.value.rfm import UNITS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.value import CLV
    from rox.workspace import Workspace

__all__ = ["TRIPLE", "daily_purchases", "p_alive_table", "value_table"]

#: The integer columns a triple is joined on: repeat purchase days, days from the first purchase
#: to the last one, days from the first purchase to the day P(alive) is read at.
TRIPLE = ("_x", "_tx_days", "_t_days")


def daily_purchases(ws: Workspace, through: pd.Timestamp) -> ir.Table:
    """Each customer's purchase days up to ``through`` (inclusive).

    Columns ``customer_id``, ``day``, ``amount`` (the day's revenue): several transactions on one
    day are one purchase.
    """
    t = ws.table("transactions")
    day = ws.engine.utc_date(t.ts).name("day")
    daily = t.group_by([t.customer_id.cast("string").name("customer_id"), day]).aggregate(
        amount=t.amount.sum()
    )
    return daily.filter(daily.day <= ibis.literal(through.date()))


def p_alive_table(triples: ir.Table, model: Any, unit: str) -> ir.Table:
    """P(alive) of each distinct ``TRIPLE`` row of ``triples``, as a table to join on it.

    Parameters
    ----------
    triples : ibis Table
        Holds the :data:`TRIPLE` columns (whole days; repeated rows are fine).
    model : fitted BG/NBD or Pareto/NBD
        Its ``p_alive(x, t_x, T)`` is evaluated, with times in ``unit``.
    unit : {'weeks', 'days'}
        The time unit the model was fitted in.

    Returns
    -------
    ibis Table
        The distinct triples with ``_p_alive``, as an in-memory table.
    """
    distinct = triples.select(*TRIPLE).distinct().to_pandas()
    scale = UNITS[unit]
    x = distinct["_x"].to_numpy(dtype="float64")
    tx = distinct["_tx_days"].to_numpy(dtype="float64") / scale
    t = distinct["_t_days"].to_numpy(dtype="float64") / scale
    out = pd.DataFrame({c: distinct[c].astype("int64") for c in TRIPLE})
    out["_p_alive"] = model.p_alive(x, tx, t).astype("float64") if len(out) else []
    return ibis.memtable(out)


def value_table(value: CLV) -> ir.Table:
    """The customers' lifetime values (``customer_id``, ``clv``) as a table to join."""
    return ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": value.frame["customer_id"].astype(str),  # ids are text everywhere
                "clv": value.frame["clv"].astype("float64"),
            }
        )
    )
