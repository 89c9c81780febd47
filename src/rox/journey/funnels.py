"""Funnels: how many journeys go through ordered steps, where they drop off, how long it takes.

Two orders, as in PostHog and Amplitude:

``ordered`` (default)
    each step comes after the previous one in the journey (other steps may come in between; a
    step sharing the previous one's timestamp counts if it was recorded after it, #21);
``strict``
    each step is the very next event of the journey after the previous one.

A journey enters at its first visit of the first step; every later step must come within
``window`` of that entry. Conversion rates carry Wilson intervals; the time to convert (entry to
last step) is summarised by its median and 90th percentile. A breakdown splits journeys by the
channel of their entry event, by a customers column (e.g. ``segment``) or by the period of entry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox._stats import wilson
from rox._time import PERIODS
from rox.errors import MetricError
from rox.journey.events import JourneyQuery, Journeys, journey_events
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["Funnel", "funnel"]


@dataclass(frozen=True, eq=False)
class Funnel(Result):
    """Conversion through ordered steps.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per (group and) step: ``step``, ``position``, ``journeys`` (reaching it),
        ``conversion`` (from the first step), ``step_conversion`` (from the previous step) with
        ``ci_low``/``ci_high`` (Wilson, 95%), ``drop_off`` (journeys lost since the previous step),
        ``median_hours`` and ``p90_hours`` from entry to this step.
    times : pandas.DataFrame
        The distribution of hours from entry to the last step over the converted journeys:
        ``percentile`` (0 = fastest, 100 = slowest) and ``hours``, per group (with ``by``).
    steps : tuple of str
    mode : str
    by : str or None
    """

    times: pd.DataFrame | None = None
    steps: tuple[str, ...] = ()
    mode: str = "ordered"
    by: str | None = None

    _plotter: ClassVar[str | None] = "rox.viz.journey:plot_funnel"


def _entries(e: ir.Table, first: str, by: str | None, ws: Workspace) -> ir.Table:
    """Each journey's entry: its first visit of ``first`` (``journey_id, t0, e0, s0, group``)."""
    visits = e.filter(e.step == first)
    # the first visit is the one of lowest position (positions follow time, then recorded order)
    entry = visits.group_by("journey_id").aggregate(
        t0=visits.ts.min(), e0=visits.epoch_s.min(), s0=visits.seq.min()
    )
    if by is None:
        return entry.mutate(group=ibis.literal("all"))
    if by in PERIODS:
        return entry.mutate(group=entry.t0.truncate(PERIODS[by]).date().cast("string"))
    # the entry event itself, for its channel or customer
    event = visits.join(entry, [visits.journey_id == entry.journey_id, visits.seq == entry.s0])
    if by == "channel":
        group = event.channel.fill_null("(none)")
    else:
        customers = ws.table("customers")
        if by not in customers.columns:
            raise MetricError(
                f"cannot break a funnel down by {by!r}: use channel, a period "
                f"({', '.join(PERIODS)}) or a customers column"
            )
        event = event.left_join(customers.select("customer_id", by), "customer_id")
        group = event[by].cast("string").fill_null("(none)")
    return event.select("journey_id", "t0", "e0", "s0", group=group)


def funnel(
    ws: Workspace | Journeys,
    steps: Sequence[str],
    *,
    mode: str = "ordered",
    window: Any = "30D",
    by: str | None = None,
    query: JourneyQuery | None = None,
    level: float = 0.95,
    **options: Any,
) -> Funnel:
    """Conversion and drop-off through ``steps``.

    Parameters
    ----------
    steps : sequence of str
        At least two steps, in order.
    mode : {'ordered', 'strict'}
        See the module docstring.
    window : timedelta or str
        Conversion window from entry (``"30D"``, ``"12h"``).
    by : str, optional
        ``channel`` (of the entry event), a period (``day`` .. ``year``, of entry) or a column of
        ``customers``.
    query : JourneyQuery, optional
        How journeys are built (or pass its options, such as ``journey="purchase"``).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> f = rox.journey.funnel(ws, ["configurator", "test_drive_booking", "purchase"],
    ...                        window="120D")
    >>> f.to_frame()["journeys"].is_monotonic_decreasing
    True
    """
    steps = list(steps)
    if len(steps) < 2:
        raise MetricError("a funnel needs at least two steps")
    if mode not in ("ordered", "strict"):
        raise MetricError("mode must be 'ordered' or 'strict'")
    try:
        span = window if isinstance(window, timedelta) else pd.Timedelta(window)
    except ValueError:
        raise MetricError(f"window={window!r} is not a duration (e.g. '30D', '12h')") from None
    ws, e = journey_events(ws, query, options)
    entries = _entries(e, steps[0], by, ws)
    with contextlib.ExitStack() as kept:
        summary = _reached_by_step(ws, e, entries, steps, mode, span.total_seconds(), kept)
    return _summarise(summary, steps, mode, by, level)


def _reached_by_step(
    ws: Workspace,
    e: ir.Table,
    entries: ir.Table,
    steps: list[str],
    mode: str,
    limit: float,
    kept: contextlib.ExitStack,
) -> pd.DataFrame:
    """Per group and step, the journeys that reached it and the seconds from their entry.

    One table per step: the journeys that reached it, with when (t), where (s) and the seconds
    since 1970 (e) of their first qualifying visit, and their entry (e0) and group. Each is the
    previous one joined to that step's visits (inner: a journey that stopped stays stopped),
    grouped by journey. The next step and the summary's union both read each table: the engine
    computes it once (``Engine.reused``, released when ``kept`` closes), where Spark, which inlines
    a repeated subquery, used to run 1 + 2 + 3 + 4 joins for five steps instead of 4.
    """
    reached = kept.enter_context(
        ws.engine.reused(entries.select("journey_id", "e0", "group", t="t0", s="s0", e="e0"))
    )
    stages = [reached]
    for step in steps[1:]:
        visits = e.filter(e.step == step).select("journey_id", "ts", "seq", "epoch_s")
        j = reached.join(visits, "journey_id")
        ok = (j.seq == j.s + 1) if mode == "strict" else (j.seq > j.s)
        j = j.filter(ok & ((j.epoch_s - j.e0) <= limit))
        # the first qualifying visit: earliest time, which is also the lowest position
        reached = j.group_by(["journey_id", "e0", "group"]).aggregate(
            t=j.ts.min(), s=j.seq.min(), e=j.epoch_s.min()
        )
        reached = kept.enter_context(ws.engine.reused(reached))
        stages.append(reached)
    # Each step summarised per group from its own table (no join back to the entries): journeys,
    # and the seconds from entry, whose quantiles are turned into hours in Python (a float literal
    # in the engine is a decimal on Spark, which would round the hours to 6 places); for the last
    # step also the spread of the time to convert. One query: one row per group and step returns.
    last = len(steps) - 1
    parts = []
    for i, stage in enumerate(stages):
        h = stage.e - stage.e0
        quantiles = {
            f"q_{k}": h.quantile(k / 100) if i == last else ibis.null("float64")
            for k in TIME_PERCENTILES
        }
        parts.append(
            stage.group_by("group")
            .aggregate(
                n=stage.count(),
                median=h.median().cast("float64"),
                p90=h.quantile(0.9).cast("float64"),
                **{name: q.cast("float64") for name, q in quantiles.items()},
            )
            .mutate(position=ibis.literal(i, "int64"))
        )
    return ibis.union(*parts).execute()


#: Percentiles of the time to convert reported in :attr:`Funnel.times`.
TIME_PERCENTILES = (0, 5, 10, 25, 50, 75, 90, 95, 99, 100)


def _summarise(
    summary: pd.DataFrame, steps: list[str], mode: str, by: str | None, level: float
) -> Funnel:
    """The funnel table (Wilson intervals) and time percentiles from the engine's rows.

    ``summary`` has one row per group and step reached (``position`` 0 is the entry): journeys
    ``n``, ``median`` and ``p90`` seconds from entry and, for the last step, ``q_<k>``.
    """
    by_key = summary.set_index(["group", "position"])
    reached = {(g, int(i)): rec for (g, i), rec in by_key.iterrows()}
    groups = sorted({g for g, _ in reached}) or ["all"]  # none: nobody entered
    rows, times = [], []
    for group in groups:
        entered = int(reached[group, 0]["n"]) if (group, 0) in reached else 0
        previous = entered
        for i, step in enumerate(steps):
            rec = reached.get((group, i))
            n = 0 if rec is None else int(rec["n"])
            _, _, lo, hi = wilson(n / previous if previous else np.nan, previous, level)
            rows.append(
                {
                    "group": group,
                    "step": step,
                    "position": i + 1,
                    "journeys": n,
                    "conversion": n / entered if entered else np.nan,
                    "step_conversion": n / previous if previous else np.nan,
                    "ci_low": float(lo),
                    "ci_high": float(hi),
                    "drop_off": previous - n,
                    "median_hours": _hours(rec, "median", n),
                    "p90_hours": _hours(rec, "p90", n),
                }
            )
            previous = n
        if previous:
            rec = reached[group, len(steps) - 1]
            times += [
                {"group": group, "percentile": k, "hours": _hours(rec, f"q_{k}", previous)}
                for k in TIME_PERCENTILES
            ]
    frame = pd.DataFrame(rows)
    frame = frame.drop(columns="group") if by is None else frame.rename(columns={"group": by})
    spread = pd.DataFrame(times, columns=["group", "percentile", "hours"])
    spread = spread.drop(columns="group") if by is None else spread.rename(columns={"group": by})
    return Funnel(frame=frame, times=spread, steps=tuple(steps), mode=mode, by=by)


def _hours(rec: Any, key: str, n: int) -> float:
    """A duration the engine summarised in seconds, in hours (NaN where no journey got there)."""
    value = None if rec is None else rec.get(key)
    return float(value) / 3600.0 if n and value is not None and not pd.isna(value) else np.nan
