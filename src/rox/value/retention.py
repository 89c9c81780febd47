"""Churn and retention: cohort matrices, churn rates and survival curves, computed in the engine.

A customer is *active* in a period when they have a transaction in it. An acquisition cohort is the
set of customers whose first transaction falls in the same period.

- :func:`cohorts`: active customers and retention rate per cohort and period since acquisition;
- :func:`churn_rates`: per period, the share of the previous period's active customers who are not
  active in this one;
- :func:`survival`: Kaplan-Meier curves (lifelines) of the time from first purchase to the last
  one, for customers considered lost after ``inactive_after`` days without a purchase (censored
  otherwise), by group; the engine returns (group, duration, lost, count) rows, fitted with
  weights;
- :func:`project_retention`: a shifted-beta-geometric projection (Fader & Hardie 2007) of a
  cohort's survivors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox._time import PERIODS
from rox.errors import MetricError
from rox.results import Result
from rox.value.models import ShiftedBetaGeoModel

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = [
    "CohortRetention",
    "Survival",
    "churn_rates",
    "cohorts",
    "lifetimes",
    "project_retention",
    "survival",
]

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _period_index(day: ir.Value, start: ir.Value, period: str) -> ir.Value:
    """Whole periods from ``start`` to ``day`` (both truncated to the period)."""
    if period in _MONTHS:
        months = (day.year() - start.year()) * 12 + (day.month() - start.month())
        return (months / _MONTHS[period]).floor().cast("int64")
    days = day.delta(start, unit="day")
    return (days / (7 if period == "week" else 1)).floor().cast("int64")


def _activity(ws: Workspace, period: str) -> ir.Table:
    if period not in PERIODS:
        raise MetricError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    t = ws.require_rows("transactions")
    unit = PERIODS[period]
    active = t.select(customer_id=t.customer_id, p=t.ts.truncate(unit).date()).distinct()
    first = active.group_by("customer_id").aggregate(cohort=active.p.min())
    joined = active.join(first, "customer_id")
    return joined.select(
        customer_id=joined.customer_id,
        cohort=joined.cohort,
        p=joined.p,
        k=_period_index(joined.p, joined.cohort, period),
    )


@dataclass(frozen=True, eq=False)
class CohortRetention(Result):
    """Active customers per acquisition cohort and period since acquisition.

    Attributes
    ----------
    frame : pandas.DataFrame
        Long form: ``cohort`` (start of the acquisition period), ``period`` (periods since
        acquisition, 0 = acquisition), ``active`` (customers buying in that period),
        ``surviving`` (customers buying in that period or later), ``cohort_size``, ``retention``
        (active / cohort size).
    period : str
    """

    period: str = "month"

    _plotter: ClassVar[str | None] = "rox.viz.value:plot_cohorts"

    def matrix(self, values: str = "retention") -> pd.DataFrame:
        """Cohort x period table of ``retention`` (default) or ``active`` counts."""
        return self.frame.pivot(index="cohort", columns="period", values=values)

    def survivors(self, cohort: Any) -> np.ndarray:
        """Customers of one cohort still buying at or after periods 0, 1, ... (non-increasing).

        The input of :func:`project_retention`.
        """
        rows = self.frame[self.frame["cohort"] == pd.Timestamp(cohort)].sort_values("period")
        if rows.empty:
            raise MetricError(f"no cohort starting {cohort}")
        full = rows.set_index("period")["surviving"].reindex(range(int(rows["period"].max()) + 1))
        return np.asarray(full.bfill().fillna(0).to_numpy())


def cohorts(ws: Workspace, period: str = "month") -> CohortRetention:
    """Acquisition-cohort retention matrix (counts and rates), computed in the engine.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> rox.value.cohorts(ws, period="quarter").matrix().shape[0] > 1
    True
    """
    a = _activity(ws, period)
    counts = a.group_by(["cohort", "k"]).aggregate(active=a.count())
    frame = counts.execute().rename(columns={"k": "period"})
    last = a.group_by(["customer_id", "cohort"]).aggregate(last=a.k.max())
    ends = last.group_by(["cohort", "last"]).aggregate(n=last.count()).execute()
    frame["cohort"] = pd.to_datetime(frame["cohort"])
    ends["cohort"] = pd.to_datetime(ends["cohort"])
    # customers still buying at or after each period: sum of those whose last period is later
    grid = frame[["cohort", "period"]].merge(ends, on="cohort")
    surviving = grid[grid["last"] >= grid["period"]].groupby(["cohort", "period"])["n"].sum()
    frame["surviving"] = (
        frame.set_index(["cohort", "period"]).index.map(surviving).fillna(0).astype("int64")
    )
    size = frame[frame["period"] == 0].set_index("cohort")["active"]
    frame["cohort_size"] = frame["cohort"].map(size).astype("int64")
    frame["retention"] = frame["active"] / frame["cohort_size"]
    frame = frame.sort_values(["cohort", "period"]).reset_index(drop=True)
    cols = ["cohort", "period", "active", "surviving", "cohort_size", "retention"]
    return CohortRetention(frame=frame[cols], period=period)


def churn_rates(ws: Workspace, period: str = "month") -> pd.DataFrame:
    """Churn per period: the previous period's active customers who did not buy in this one.

    Columns: ``period``, ``active_before``, ``retained``, ``churned``, ``churn_rate``.
    """
    a = _activity(ws, period).select("customer_id", "p")
    unit = PERIODS[period]
    prev = a.select(customer_id=a.customer_id, p=a.p, next_p=_next_period(a.p, unit))
    now = a.select(customer_id=a.customer_id, seen=a.p)
    joined = prev.left_join(now, (prev.customer_id == now.customer_id) & (prev.next_p == now.seen))
    out = (
        joined.group_by(joined.next_p.name("period"))
        .aggregate(active_before=joined.count(), retained=joined.seen.count())
        .execute()
    )
    out["period"] = pd.to_datetime(out["period"])
    last = pd.to_datetime(a.p.max().execute())
    out = out[out["period"] <= last].sort_values("period").reset_index(drop=True)
    out["churned"] = out["active_before"] - out["retained"]
    out["churn_rate"] = out["churned"] / out["active_before"]
    return out[["period", "active_before", "retained", "churned", "churn_rate"]]


def _next_period(p: ir.Value, unit: str) -> ir.Value:
    step = {
        "D": ibis.interval(days=1),
        "W": ibis.interval(weeks=1),
        "M": ibis.interval(months=1),
        "Q": ibis.interval(months=3),
        "Y": ibis.interval(years=1),
    }[unit]
    return (p + step).cast("date")


@dataclass(frozen=True, eq=False)
class Survival(Result):
    """Kaplan-Meier survival curves by group.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``group``, ``days`` (since first purchase), ``survival``, ``ci_low``, ``ci_high``
        (95%, lifelines' exponential Greenwood), ``at_risk``.
    medians : pandas.DataFrame
        ``group``, ``customers``, ``lost``, ``median_days`` (inf when above 50% at the end).
    inactive_after : int
    """

    medians: pd.DataFrame | None = None
    inactive_after: int = 365

    _plotter: ClassVar[str | None] = "rox.viz.value:plot_survival"


def lifetimes(ws: Workspace, *, inactive_after: int = 365, as_of: Any = None) -> ir.Table:
    """Each buying customer's observed life, as an Ibis table: the churn rule of :func:`survival`.

    Columns ``customer_id``, ``first`` (the day of the first purchase), ``duration`` (days) and
    ``lost``: a customer is lost at their last purchase when none followed within
    ``inactive_after`` days before ``as_of`` (default: the last transaction); ``duration`` is
    then first to last purchase, else first purchase to ``as_of`` (censored).
    """
    t = ws.require_rows("transactions")
    end = pd.Timestamp(as_of if as_of is not None else t.ts.max().execute())
    end_day = ibis.literal((end.tz_localize(None) if end.tzinfo else end).date())
    per = t.group_by("customer_id").aggregate(first=t.ts.min().date(), last=t.ts.max().date())
    lost = end_day.delta(per.last, unit="day") > inactive_after
    duration = ibis.cases(
        (lost, per.last.delta(per.first, unit="day")), else_=end_day.delta(per.first, unit="day")
    )
    return per.select(customer_id=per.customer_id, first=per.first, duration=duration, lost=lost)


def survival(
    ws: Workspace,
    by: str | ir.Table | None = None,
    *,
    inactive_after: int = 365,
    as_of: Any = None,
) -> Survival:
    """Kaplan-Meier survival of customers, overall or by a customers column (e.g. segment).

    Parameters
    ----------
    by : str or ibis Table, optional
        A column of ``customers`` to compare groups, or a table of ``customer_id`` and one group
        column (e.g. an experience group computed in the engine).
    inactive_after : int
        Days without a purchase after which a customer counts as lost (at their last purchase).
    as_of : date-like, optional
        Observation end (default: the last transaction).
    """
    from lifelines import KaplanMeierFitter

    rows = lifetimes(ws, inactive_after=inactive_after, as_of=as_of)
    if by is not None:
        groups = by if not isinstance(by, str) else ws.table("customers")
        name = by if isinstance(by, str) else next(c for c in by.columns if c != "customer_id")
        if name not in groups.columns:
            raise MetricError(f"customers have no column {by!r}")
        rows = rows.left_join(groups.select("customer_id", name), "customer_id")
        group = rows[name].cast("string").fill_null("(none)")
    else:
        group = ibis.literal("all")
    packed = (
        rows.group_by([group.name("group"), rows.duration, rows.lost])
        .aggregate(n=rows.count())
        .execute()
    )
    curves, medians = [], []
    for name, g in packed.groupby("group", sort=True):
        km = KaplanMeierFitter().fit(g["duration"], g["lost"], weights=g["n"], label=str(name))
        sf = km.survival_function_.iloc[:, 0]
        ci = km.confidence_interval_survival_function_
        curves.append(
            pd.DataFrame(
                {
                    "group": name,
                    "days": sf.index.to_numpy(),
                    "survival": sf.to_numpy(),
                    "ci_low": ci.iloc[:, 0].to_numpy(),
                    "ci_high": ci.iloc[:, 1].to_numpy(),
                    "at_risk": km.event_table["at_risk"].reindex(sf.index).to_numpy(),
                }
            )
        )
        medians.append(
            {
                "group": name,
                "customers": int(g["n"].sum()),
                "lost": int(g.loc[g["lost"], "n"].sum()),
                "median_days": float(km.median_survival_time_),
            }
        )
    return Survival(
        frame=pd.concat(curves, ignore_index=True),
        medians=pd.DataFrame(medians),
        inactive_after=inactive_after,
    )


def project_retention(survivors: Sequence[float], periods: int) -> pd.DataFrame:
    """Fit a shifted-beta-geometric model to a cohort's survivors and project ``periods`` ahead.

    Assumes contractual behaviour (a lost customer does not come back): use it on subscription or
    contract cohorts, or on :meth:`CohortRetention.survivors` (customers still buying at or after
    each period), whose last periods are understated until the customers' next purchases.
    """
    model = ShiftedBetaGeoModel().fit(np.asarray(survivors, dtype="float64"))
    out = model.projection(periods)
    observed = np.full(periods + 1, np.nan)
    n = min(len(survivors), periods + 1)
    observed[:n] = np.asarray(survivors, dtype="float64")[:n]
    out["observed"] = observed
    return out
