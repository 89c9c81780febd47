"""RFM summaries of the transactions, computed in the engine.

Per customer, over a calibration period (and optionally a holdout period after it):

``frequency`` (x)
    Repeat purchase occasions: days with a purchase after the first one. Several transactions of a
    customer on one day count as one purchase (the convention of Fader, Hardie & Lee 2005).
``recency`` (t_x)
    Time from the first purchase to the last repeat purchase (0 without repeat purchases).
``T``
    Time from the first purchase to the end of the calibration period.
``monetary``
    Mean spend of the repeat purchase days (NaN without repeat purchases), as Gamma-Gamma uses it.

Times are in ``unit`` (days or weeks), from calendar days (UTC). The likelihoods of BG/NBD and
Pareto/NBD depend only on (x, t_x, T), so :meth:`RFM.compressed` returns the distinct triples with
their counts: all a fit needs, however many customers there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from rox._time import utc_day
from rox.errors import MetricError, TableNotFoundError
from rox.results import Result
from rox.value.distinct import first_rows, group_codes

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["RFM", "UNITS", "rfm", "rfm_expr"]

Unit = Literal["days", "weeks"]
#: Days per time unit.
UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0}


@dataclass(frozen=True, eq=False)
class RFM(Result):
    """Per-customer RFM summary.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer (in no particular order): ``customer_id``, ``frequency``,
        ``recency``, ``T``, ``monetary``,
        ``first_purchase`` and, with a holdout, ``frequency_holdout``, ``monetary_holdout`` and
        ``duration_holdout``.
    unit : str
        ``days`` or ``weeks``.
    calibration_end : pandas.Timestamp
        Last day of the calibration period.
    holdout_end : pandas.Timestamp or None
        Last day of the holdout period.
    """

    unit: str = "weeks"
    calibration_end: pd.Timestamp | None = None
    holdout_end: pd.Timestamp | None = None

    def compressed(self) -> pd.DataFrame:
        """Distinct ``(frequency, recency, T)`` rows with their ``count`` of customers."""
        return compress(self.frame)


def compress(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``(frequency, recency, T)`` rows of ``frame`` with their ``count``.

    A frame that already has a ``count`` column (rows of several customers each, as
    :func:`sufficient_statistics` returns) has its counts added up.
    """
    keys = [frame[c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T")]
    codes = group_codes(keys)
    first = first_rows(codes)
    x, tx, t = (k[first] for k in keys)
    weights = frame["count"].to_numpy(dtype="float64") if "count" in frame else None
    count = np.bincount(codes, weights=weights, minlength=len(first)).astype("int64")
    order = np.lexsort((t, tx, x))
    return pd.DataFrame(
        {"frequency": x[order], "recency": tx[order], "T": t[order], "count": count[order]}
    )


def rfm_expr(
    transactions: ir.Table,
    *,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp | None = None,
    unit: Unit = "weeks",
    utc_date: Callable[[ir.TimestampValue], ir.DateValue] | None = None,
) -> ir.Table:
    """The RFM summary as an Ibis expression over a transactions table (see :func:`rfm`).

    ``utc_date`` turns the timestamps into days (default ``ts.date()``; a workspace passes its
    engine's fastest form).
    """
    t = transactions
    day = (t.ts.date() if utc_date is None else utc_date(t.ts)).name("day")
    daily = t.group_by([t.customer_id, day]).aggregate(amount=t.amount.sum())
    cal_end = ibis.literal(calibration_end.date())
    cal = daily.filter(daily.day <= cal_end)
    per = cal.group_by(cal.customer_id).aggregate(
        first_purchase=cal.day.min(),
        last_purchase=cal.day.max(),
        days=cal.count(),
        total=cal.amount.sum(),
        first_amount=cal.amount.argmin(cal.day),
    )
    scale = UNITS[unit]
    repeat = per.days - 1
    out = per.select(
        customer_id=per.customer_id,
        frequency=repeat,
        recency=per.last_purchase.delta(per.first_purchase, unit="day").cast("float64") / scale,
        T=cal_end.delta(per.first_purchase, unit="day").cast("float64") / scale,
        monetary=ibis.cases(
            (repeat > 0, (per.total - per.first_amount) / repeat.cast("float64")),
            else_=ibis.null("float64"),
        ),
        first_purchase=per.first_purchase,
    )
    if holdout_end is None:
        return out
    hold_end = ibis.literal(holdout_end.date())
    hold = daily.filter((daily.day > cal_end) & (daily.day <= hold_end))
    per_hold = hold.group_by(hold.customer_id).aggregate(
        frequency_holdout=hold.count(), spend_holdout=hold.amount.sum()
    )
    joined = out.left_join(per_hold, out.customer_id == per_hold.customer_id)
    # the same day arithmetic as recency and T (a float literal is NUMERIC on PostgreSQL)
    duration = hold_end.delta(cal_end, unit="day").cast("float64") / scale
    return joined.select(
        *[joined[c] for c in out.columns],
        frequency_holdout=joined.frequency_holdout.fill_null(0),
        monetary_holdout=ibis.cases(
            (joined.frequency_holdout > 0, joined.spend_holdout / joined.frequency_holdout),
            else_=ibis.null("float64"),
        ),
        duration_holdout=duration,
    )


def rfm(
    ws: Workspace | ir.Table,
    *,
    calibration_end: Any = None,
    holdout_end: Any = None,
    unit: Unit = "weeks",
) -> RFM:
    """Summarise each customer's transactions as frequency, recency, T and monetary value.

    Parameters
    ----------
    ws : Workspace or Ibis table
        A workspace (its ``transactions``) or a table with ``customer_id``, ``ts``, ``amount``.
    calibration_end : date-like, optional
        Last day (inclusive) of the calibration period. Default: the day of the last transaction.
    holdout_end : date-like, optional
        Last day of a holdout period starting the day after ``calibration_end``; adds the holdout
        columns.
    unit : {'weeks', 'days'}
        Unit of recency and T.

    Returns
    -------
    RFM

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> summary = rox.value.rfm(ws, calibration_end="2025-06-30")
    >>> summary.to_frame().columns[:4].tolist()
    ['customer_id', 'frequency', 'recency', 'T']
    """
    expr, cal_end, hold_end = _expression(ws, calibration_end, holdout_end, unit)
    # Arrow-backed strings: converting 10M customer ids to Python strings costs seconds
    strings = pd.StringDtype("pyarrow")
    arrow = expr.to_pyarrow()
    frame = arrow.to_pandas(
        types_mapper={pa.string(): strings, pa.large_string(): strings}.get,
        date_as_object=False,
    )
    frame["frequency"] = frame["frequency"].astype("int64")
    frame["first_purchase"] = frame["first_purchase"].astype("datetime64[ns]")
    if "frequency_holdout" in frame:
        frame["frequency_holdout"] = frame["frequency_holdout"].astype("int64")
    return RFM(frame=frame, unit=unit, calibration_end=cal_end, holdout_end=hold_end)


def _expression(
    ws: Workspace | ir.Table, calibration_end: Any, holdout_end: Any, unit: Unit
) -> tuple[ir.Table, pd.Timestamp, pd.Timestamp | None]:
    """The RFM expression of :func:`rfm`'s arguments, with the resolved period ends."""
    if unit not in UNITS:
        raise MetricError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    table: ir.Table = ws.table("transactions") if hasattr(ws, "table") else ws
    utc_date = ws.engine.utc_date if hasattr(ws, "engine") else None
    if calibration_end is None:
        last = table.ts.max().execute()
        if last is None or pd.isna(last):
            raise TableNotFoundError("there are no transactions to summarise")
        calibration_end = last
    cal_end = utc_day(calibration_end, "calibration_end")
    hold_end = utc_day(holdout_end, "holdout_end")
    assert cal_end is not None
    if hold_end is not None and hold_end <= cal_end:
        raise MetricError("holdout_end must be after calibration_end")
    expr = rfm_expr(
        table, calibration_end=cal_end, holdout_end=hold_end, unit=unit, utc_date=utc_date
    )
    return expr, cal_end, hold_end


def sufficient_statistics(
    ws: Workspace | ir.Table, *, calibration_end: Any = None, unit: Unit = "weeks"
) -> pd.DataFrame:
    """The distinct ``(frequency, recency, T)`` rows with their ``count``, computed in the engine.

    All the BG/NBD and Pareto/NBD likelihoods need (Fader, Hardie & Lee 2005): customers with the
    same frequency, recency and age contribute the same term. The engine groups them, so only a
    few thousand rows reach Python however many customers there are (on CDNOW: 2,357 customers,
    1,016 rows; the rows grow with the number of distinct purchase days, not of customers).

    Parameters are those of :func:`rfm`. The result equals ``rfm(...).compressed()``, and fits
    with ``BetaGeoModel().fit(stats)`` or ``ParetoNBDModel().fit(stats)``.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> stats = rox.value.sufficient_statistics(ws, calibration_end="2025-06-30")
    >>> stats.columns.tolist()
    ['frequency', 'recency', 'T', 'count']
    """
    expr, _, _ = _expression(ws, calibration_end, None, unit)
    stats = expr.group_by(["frequency", "recency", "T"]).aggregate(count=expr.count())
    out = stats.execute().sort_values(["frequency", "recency", "T"]).reset_index(drop=True)
    return out.astype({"frequency": "int64", "count": "int64"})
