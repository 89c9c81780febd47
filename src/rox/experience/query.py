"""The one query every experience figure is computed from: the score distribution per group.

For each group (the ``by`` columns, the period, the metric and the answer scale) the engine returns
how many responses gave each score, with the sum of their weights and of their squared weights::

    by..., period, metric, scale, score, n, w, w2

That is all NPS, CSAT, CES, their intervals (Wald, Wilson, t, adjusted Wald) and even a bootstrap
need: answers are on short discrete scales, so a group has at most a dozen rows here whatever the
number of responses, and the rest of the arithmetic is vectorised numpy on this small table
(:mod:`rox.experience.estimates`). The query is an Ibis expression, so it runs unchanged on every
engine Ibis supports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox._time import PERIODS as PERIODS
from rox._time import Period as Period
from rox._time import utc_timestamp
from rox.errors import MetricError
from rox.schema import METRICS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["PERIODS", "Period", "ScoreQuery", "as_columns"]


#: Columns of the score distribution, after the group columns.
DISTRIBUTION_COLUMNS = ("metric", "scale", "score", "n", "w", "w2")


def as_columns(by: str | Sequence[str] | None) -> list[str]:
    """Normalise ``by`` (``"a,b"``, ``["a", "b"]`` or None) to a list of column names."""
    if by is None:
        return []
    if isinstance(by, str):
        return [c.strip() for c in by.split(",") if c.strip()]
    return list(by)


@dataclass(frozen=True)
class ScoreQuery:
    """Which responses to count and how to group them.

    Parameters
    ----------
    metric : str or None
        ``nps``, ``csat`` or ``ces``; None counts every metric.
    by : list of str
        Columns of ``responses`` to break down by; a column found only in ``customers`` (such as
        ``segment`` or ``region``) is joined in through ``customer_id``.
    period : {'day', 'week', 'month', 'quarter', 'year'} or None
        Also break down by the period of the response (UTC).
    since, until : date-like or None
        Keep responses with ``since <= ts < until``.
    where : mapping of str to value or list of values, optional
        Keep responses whose column equals the value (or is one of the values).
    by_customer : bool
        Also group by ``customer_id`` (for paired comparisons).
    """

    metric: str | None = None
    by: tuple[str, ...] = ()
    period: str | None = None
    since: Any = None
    until: Any = None
    where: Mapping[str, Any] | None = None
    by_customer: bool = False

    def __post_init__(self) -> None:
        if self.metric is not None and self.metric not in METRICS:
            raise MetricError(f"unknown metric {self.metric!r}; expected one of {METRICS}")
        if self.period is not None and self.period not in PERIODS:
            raise MetricError(
                f"unknown period {self.period!r}; expected one of {', '.join(PERIODS)}"
            )
        since, until = utc_timestamp(self.since), utc_timestamp(self.until)
        if since is not None and until is not None and since >= until:
            raise MetricError(f"since ({since:%Y-%m-%d}) must be before until ({until:%Y-%m-%d})")
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)
        object.__setattr__(self, "by", tuple(as_columns(self.by)))

    @property
    def group_columns(self) -> list[str]:
        """The columns a group is identified by, in order (without metric and scale)."""
        cols = list(self.by)
        if self.by_customer:
            cols.append("customer_id")
        if self.period is not None:
            cols.append("period")
        return cols

    def responses(self, ws: Workspace) -> ir.Table:
        """The filtered responses, with the ``by`` columns resolved (joined from customers)."""
        t = ws.table("responses")
        missing = [c for c in self.by if c not in t.columns]
        if missing:
            customers = ws.table("customers")
            unknown = [c for c in missing if c not in customers.columns]
            if unknown:
                raise MetricError(
                    f"cannot break down by {', '.join(map(repr, unknown))}: neither responses nor "
                    f"customers have it (responses have {', '.join(_public(t.columns))})"
                )
            extra = customers.select("customer_id", *missing)
            t = t.left_join(extra, t.customer_id == extra.customer_id).select(
                *t.columns, *[extra[c] for c in missing]
            )
        filters = []
        if self.metric is not None:
            filters.append(t.metric == self.metric)
        if self.since is not None:
            filters.append(t.ts >= self.since.to_pydatetime())
        if self.until is not None:
            filters.append(t.ts < self.until.to_pydatetime())
        for column, value in (self.where or {}).items():
            if column not in t.columns:
                raise MetricError(f"cannot filter on {column!r}: responses have no such column")
            if isinstance(value, list | tuple | set | frozenset):
                filters.append(t[column].isin(list(value)))
            else:
                filters.append(t[column] == value)
        if self.by_customer:
            filters.append(t.customer_id.notnull())
        return t.filter(*filters) if filters else t

    def expr(self, ws: Workspace) -> ir.Table:
        """The aggregation, as an Ibis expression (one row per group and score)."""
        t = self.responses(ws)
        keys: dict[str, Any] = {c: t[c] for c in self.by}
        if self.by_customer:
            keys["customer_id"] = t.customer_id
        if self.period is not None:
            keys["period"] = t.ts.truncate(PERIODS[self.period])
        weight = t.weight.fill_null(1.0)
        group = [v.name(k) for k, v in keys.items()] + [t.metric, t.scale, t.score]
        return t.group_by(group).aggregate(n=t.count(), w=weight.sum(), w2=(weight * weight).sum())

    def scales(self, ws: Workspace) -> list[tuple[str, str]]:
        """The distinct ``(metric, scale label)`` of the responses (``""`` for no label)."""
        t = self.responses(ws)
        pairs = t.select(metric=t.metric, label=t.scale.fill_null("")).distinct().execute()
        return sorted(zip(pairs["metric"], pairs["label"], strict=True))

    def sums(self, ws: Workspace, cuts: pd.DataFrame) -> pd.DataFrame:
        """The sufficient statistics per group (``group_columns`` + metric), summed by the engine.

        The same sums :func:`rox.experience.estimates.summarise` adds up from the score
        distribution (``n``, ``w``, ``w2``, ``w_top``, ``w_bottom``, ``wx``, ``wxx``), for the
        interval methods that need no more than them (all but the bootstrap): the engine returns
        one row per group instead of one per group and score. ``cuts`` are the scales'
        cut-offs (:func:`rox.experience.estimates.scale_cuts`), joined in as a small table.
        """
        import ibis

        t = self.responses(ws)
        cut = ibis.memtable(cuts, columns=list(cuts.columns))
        t = t.mutate(_label=t.scale.fill_null(""))
        j = t.join(cut, [t.metric == cut.metric, t._label == cut.label])
        keys: dict[str, Any] = {c: j[c] for c in self.by}
        if self.by_customer:
            keys["customer_id"] = j.customer_id
        if self.period is not None:
            keys["period"] = j.ts.truncate(PERIODS[self.period])
        w = j.weight.fill_null(1.0)
        score = j.score.cast("float64")
        x = j.d_low + (score - j.low) / (j.high - j.low) * (j.d_high - j.d_low)
        group = [v.name(k) for k, v in keys.items()] + [j.metric]
        expr = j.group_by(group).aggregate(
            n=j.count(),
            w=w.sum(),
            w2=(w * w).sum(),
            w_top=(score >= j.top_from).ifelse(w, 0.0).sum(),
            w_bottom=(j.bottom_to.notnull() & (score <= j.bottom_to)).ifelse(w, 0.0).sum(),
            wx=(w * x).sum(),
            wxx=(w * x * x).sum(),
        )
        frame = self._tidy(expr.execute())
        return frame.sort_values(
            [*self.group_columns, "metric"], kind="stable", na_position="last"
        ).reset_index(drop=True)

    def _tidy(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Engine-independent types: integer counts, naive periods, None for missing groups."""
        frame["n"] = frame["n"].astype("int64")
        if "period" in frame:
            period = frame["period"]
            if not pd.api.types.is_datetime64_any_dtype(period):  # (parsing walks every value)
                period = pd.to_datetime(period)
            frame["period"] = period.dt.tz_localize(None)
        for c in self.by:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
        return frame

    def fetch(self, ws: Workspace) -> pd.DataFrame:
        """Run the aggregation and return the score distribution as a DataFrame."""
        frame = self._tidy(self.expr(ws).execute())
        # engines return groups in any order; the bootstrap's draws follow the rows' order
        keys = [c for c in frame.columns if c not in ("n", "w", "w2")]
        return frame.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def _public(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if not c.startswith("_")]
