"""Journeys: each customer's events split into journeys, cleaned and ordered, in the engine.

A journey is, unless split otherwise, the events sharing a ``journey`` value (or, where that is
empty, a customer's whole history), in time order — as a case is in process mining. Events of a
journey that share a timestamp keep the order in which they were recorded (the ``_seq`` column
ingestion writes: their row in the source, or the source's own order column, then the order of
the loads; see :mod:`rox.schema`): every journey analysis orders by ``(ts, _seq)``
(:func:`recorded_order`). Other splits:
by an inactivity ``gap`` (a new journey starts after that long without an event), or from a
``start`` step to an ``end`` step. Cleaning rules: ``merge`` steps by regular expression,
``exclude`` steps, ``collapse`` immediate repeats of a step.

:meth:`JourneyQuery.events` returns the Ibis table every journey analysis starts from:
``journey_id, customer_id, ts, epoch_s`` (``ts`` in seconds since 1970, for durations),
``step, channel, seq`` (0-based position in the journey), ``next_step``, ``next_ts``,
``next_epoch_s``, ``next_channel``, ``n_events`` (length of the journey) and ``is_last``.

Ordering the events is the costly part of every journey analysis, and it is done once for
several:

* an analysis given the workspace orders the events into a temporary table of the session and
  the workspace keeps it (:attr:`Workspace.session <rox.workspace.Workspace.session>`): the next
  analysis of the same journeys (the variants after the map, a funnel) reads it instead of
  ordering again. It is kept only while the events are those it was ordered from: any write
  through the workspace drops it (:meth:`Workspace.forget <rox.workspace.Workspace.forget>`),
  and before each use the events' state (their last load and their number, as for the index)
  is compared with the one it was ordered from, which catches loads by other connections and
  processes. Only the journeys of the last query are kept (one copy of the events at most);
* :func:`prepare` orders them for as long as the :class:`Journeys` it returns are held (pass
  them instead of the workspace; release them to free the engine's copy);
* the journey index (:mod:`rox.journey.index`) keeps them ordered in the workspace, rebuilt on
  every load of events.

On an engine in this process (DuckDB), the map and the variants of journeys neither indexed nor
kept ordered fetch the events as arrays and order them in numpy instead, kept likewise by the
session (:mod:`rox.journey.arrays`): the same results, at less cost.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from rox._time import utc_timestamp
from rox.errors import MetricError
from rox.schema import JOURNEY_INDEX_TABLES, LOAD_COLUMN, LOADS_TABLE, SEQ_COLUMN

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = [
    "JourneyIndex",
    "JourneyIndexWarning",
    "JourneyQuery",
    "Journeys",
    "TimeTies",
    "events_now",
    "events_state",
    "index_info",
    "index_record",
    "indexed_journeys",
    "journey_events",
    "journey_summary",
    "journeys_of",
    "kept_journeys",
    "prepare",
    "recorded_order",
    "session_journeys",
    "time_ties",
]


def recorded_order(e: ir.Table) -> list[ir.Column]:
    """The order of a journey's events: time, then the order in which they were recorded.

    ``e`` is the events table (or an expression keeping its columns). Events sharing a timestamp
    follow their recorded order (``_seq``): their row in the source (or the source's own order
    column), then the order of the loads. A workspace created before rox recorded that order
    (#21) has no ``_seq`` until its next load of events adds it: ties then follow the loads,
    then the step's name (:func:`time_ties` says so).
    """
    if SEQ_COLUMN in e.columns:
        return [e.ts, e[SEQ_COLUMN]]
    return [e.ts, e[LOAD_COLUMN], e.step]


def _ts(value: Any, name: str) -> datetime | None:
    ts = utc_timestamp(value, name)
    return None if ts is None else ts.to_pydatetime()


#: The entries of a :meth:`JourneyQuery.key` that say how this rox builds journeys, not what the
#: user asked for: an index whose key lacks one or holds another value was built otherwise, matches
#: no query, and is rebuilt, not refreshed.
HOW_BUILT = {
    # how the events of a journey are ordered: time, then the recorded order (#21)
    "order": "ts,_seq",
    # how the variants are keyed: hashes of step and position, without the text "step@position"
    # (#21 §2)
    "variant_key": "hash(step,seq)",
}


@dataclass(frozen=True)
class JourneyQuery:
    """Which events make journeys, and how they are split and cleaned.

    Parameters
    ----------
    journey : str, optional
        Keep only journeys whose ``journey`` value contains this text (e.g. ``"purchase"``).
    gap : timedelta or str, optional
        Split each customer's events into journeys after this long without an event
        (``"30min"``, ``"7D"``); overrides the ``journey`` column.
    start, end : str, optional
        Keep each journey from its first ``start`` step to its first ``end`` step after it
        (journeys without ``start`` are dropped). ``end`` was called ``goal`` before #14; the
        success step of :func:`rox.journey.friction` is its ``goal``.
    merge : mapping of str to str, optional
        Regular expression -> step name (``{"^service_": "service"}``).
    exclude : sequence of str
        Steps to drop.
    collapse : bool
        Collapse immediate repeats of a step into one event.
    since, until : date-like, optional
        Keep events with ``since <= ts < until``.
    """

    journey: str | None = None
    gap: Any = None
    start: str | None = None
    end: str | None = None
    merge: Mapping[str, str] = field(default_factory=dict)
    exclude: Sequence[str] = ()
    collapse: bool = False
    since: Any = None
    until: Any = None

    @classmethod
    def resolve(cls, query: JourneyQuery | None, options: Mapping[str, Any]) -> JourneyQuery:
        """The query an analysis was given: ``query`` itself, or one built from its options."""
        if query is not None and options:
            raise MetricError("pass either a JourneyQuery or its options, not both")
        return query or cls(**options)

    def key(self) -> str:
        """The query as canonical JSON: equal for queries that build the same journeys."""
        gap = None if self.gap is None else self._gap_seconds()
        since, until = (_ts(v, n) for v, n in ((self.since, "since"), (self.until, "until")))
        return json.dumps(
            {
                "journey": self.journey,
                "gap_seconds": gap,
                "start": self.start,
                "end": self.end,
                "merge": [[p, name] for p, name in self.merge.items()],  # in order: first wins
                "exclude": sorted(self.exclude),
                "collapse": bool(self.collapse),
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                **HOW_BUILT,
            },
            sort_keys=True,
        )

    @classmethod
    def from_key(cls, key: str) -> JourneyQuery:
        """The query :meth:`key` describes."""
        d = json.loads(key)
        for entry in HOW_BUILT:
            d.pop(entry, None)
        gap = d.pop("gap_seconds")
        if "goal" in d:  # a key stored before the cut-off step was renamed ``end`` (#14)
            d["end"] = d.pop("goal")
        return cls(
            **{**d, "merge": dict(d["merge"]), "exclude": tuple(d["exclude"])},
            gap=None if gap is None else timedelta(seconds=gap),
        )

    def events(self, ws: Workspace, rows: ir.Table | None = None) -> ir.Table:
        """The cleaned, ordered journey events (see the module docstring).

        ``rows``: the events to make journeys of (by default all of the workspace's); the journey
        index refreshes the journeys a load touched from their events only.
        """
        return self.ordered(ws, self.kept_rows(ws.require_rows("events") if rows is None else rows))

    def ordered(self, ws: Workspace, kept: ir.Table) -> ir.Table:
        """:meth:`events` of rows already kept (:meth:`kept_rows`): split, cleaned and ordered.

        The journey index passes the kept rows with their steps and channels coded
        (:meth:`rox.engines.Engine.coded`).
        """
        e = self.with_journey_id(kept)
        if self.collapse:
            by_journey = ibis.window(group_by=e.journey_id, order_by=recorded_order(e))
            e = e.mutate(_prev=e.step.lag().over(by_journey))
            e = e.filter(e._prev.isnull() | (e._prev != e.step)).drop("_prev")
        if self.start is not None or self.end is not None:
            e = self._trim(e)
        # epoch seconds once per event: durations are then integer differences (a timestamp-with-
        # time-zone to epoch conversion per use cost more than the journey's ordering on DuckDB)
        e = e.mutate(epoch_s=ws.engine.epoch_seconds(e.ts))
        # one window specification for all (its frame is the whole journey): engines then order
        # each journey once (a separate unordered window for the length cost DuckDB a 15% more)
        w = ibis.window(group_by=e.journey_id, order_by=recorded_order(e))
        e = e.select(
            journey_id=e.journey_id,
            customer_id=e.customer_id,
            ts=e.ts,
            epoch_s=e.epoch_s,
            step=e.step,
            channel=e.channel,
            seq=ibis.row_number().over(w),
            next_step=e.step.lead().over(w),
            next_ts=e.ts.lead().over(w),
            next_epoch_s=e.epoch_s.lead().over(w),
            next_channel=e.channel.lead().over(w),
            n_events=e.count().over(w),
        )
        return e.mutate(is_last=e.next_step.isnull())

    def journey_ids(self, ws: Workspace, kept: ir.Table) -> ir.Table:
        """The ``journey_id`` of each journey :meth:`ordered` makes of ``kept`` rows, once each.

        Without a ``start`` step no journey is cut away: the ids come from the rows as split,
        without ordering each journey's events (0.65 s of the 3.75 s of CPU the journey index's
        build took on 1M events, measured).
        """
        e = self.ordered(ws, kept) if self.start is not None else self.with_journey_id(kept)
        return e.select("journey_id").distinct()

    def kept_rows(self, e: ir.Table) -> ir.Table:
        """The events the journeys are made of, row by row (nothing is ordered yet).

        Within ``since``/``until``, steps merged and excluded, of the ``journey`` asked for.
        """
        if self.since is not None:
            e = e.filter(e.ts >= _ts(self.since, "since"))
        if self.until is not None:
            e = e.filter(e.ts < _ts(self.until, "until"))
        step = e.step
        if self.merge:
            step = ibis.cases(
                *[(e.step.re_search(p), name) for p, name in self.merge.items()], else_=e.step
            )
        e = e.mutate(step=step)
        if self.exclude:
            e = e.filter(~e.step.isin(list(self.exclude)))
        if self.journey is not None:
            e = e.filter(e.journey.contains(self.journey))
        return e

    @property
    def row_wise(self) -> bool:
        """Whether each journey is all its kept rows (:meth:`kept_rows`), whole and unchanged.

        No split in time or by position: no ``gap``, ``start``, ``end`` or ``collapse``.
        """
        return self.gap is None and self.start is None and self.end is None and not self.collapse

    def with_journey_id(self, e: ir.Table) -> ir.Table:
        """The rows ``e`` with their ``journey_id`` (split by ``gap`` if given; not ordered)."""
        if self.gap is None:
            return e.mutate(journey_id=e.journey.fill_null(e.customer_id))
        seconds = self._gap_seconds()
        by_customer = ibis.window(group_by=e.customer_id, order_by=recorded_order(e))
        prev = e.ts.lag().over(by_customer)
        e = e.mutate(
            _new=ibis.ifelse(
                prev.isnull() | ((e.ts.epoch_seconds() - prev.epoch_seconds()) > seconds), 1, 0
            )
        )
        # number the journeys of a customer: a running count of journey starts
        running = ibis.window(group_by=e.customer_id, order_by=recorded_order(e), rows=(None, 0))
        e = e.mutate(_number=e._new.sum().over(running))
        return e.mutate(journey_id=e.customer_id.concat("#", e._number.cast("string"))).drop(
            "_new", "_number"
        )

    def _gap_seconds(self) -> float:
        try:
            gap = self.gap if isinstance(self.gap, timedelta) else pd.Timedelta(self.gap)
        except ValueError:
            raise MetricError(f"gap={self.gap!r} is not a duration (e.g. '30min', '7D')") from None
        seconds = gap.total_seconds()
        if seconds <= 0:
            raise MetricError(f"gap must be positive, not {self.gap!r}")
        return seconds

    def _trim(self, e: ir.Table) -> ir.Table:
        # by position in the journey, not by time: an event tied in time with the start (or the
        # end) is kept only if it was recorded after it (before it)
        ordered = ibis.window(group_by=e.journey_id, order_by=recorded_order(e))
        e = e.mutate(_pos=ibis.row_number().over(ordered))
        if self.start is not None:
            start = e._pos.min(where=e.step == self.start).over(ibis.window(group_by=e.journey_id))
            e = e.mutate(_start=start).filter(lambda t: t._start.notnull() & (t._pos >= t._start))
        if self.end is not None:
            end = e._pos.min(where=e.step == self.end).over(ibis.window(group_by=e.journey_id))
            e = e.mutate(_end=end).filter(lambda t: t._end.isnull() | (t._pos <= t._end))
        return e.drop(*[c for c in ("_pos", "_start", "_end") if c in e.columns])


def journey_summary(events: ir.Table, ws: Workspace) -> ir.Table:
    """One row per journey, with the key of its variant (its sequence of steps).

    Columns: ``journey_id, customer_id, steps, seconds`` (first to last event) and ``k1, k2``,
    which with ``steps`` identify the variant.

    The variant key is a sum of position-tagged hashes over the journey's events, taken modulo two
    primes (:meth:`rox.engines.Engine.position_hash`): no ordered aggregate (which cannot spill to
    disk, nor is portable), and two independent sums, so that distinct sequences share a key only
    if both collide.
    """
    hashed = ws.engine.position_hash
    return events.group_by("journey_id").aggregate(
        customer_id=events.customer_id.min(),
        steps=events.count(),
        seconds=events.epoch_s.max() - events.epoch_s.min(),
        k1=hashed(events.step, events.seq, 1_000_000_007).sum(),
        k2=hashed(events.step, events.seq, 998_244_353).sum(),
    )


@dataclass(frozen=True)
class TimeTies:
    """Events of a journey that share a timestamp: a data-quality note.

    Such events are ordered by the order in which they were recorded (:func:`recorded_order`).
    Counted over events (:func:`time_ties`: those sharing their timestamp with another event of
    their journey) or over transitions (a journey map: those joining two events of the same
    timestamp, which costs the map no extra pass over the events).

    Attributes
    ----------
    total : int
        Events (or transitions) of the journeys.
    tied : int
        Those tied in time.
    unit : {'events', 'transitions'}
    recorded : bool
        Whether the workspace records the order of its events (False: a workspace from before
        #21, whose next load of events records it).
    """

    total: int
    tied: int
    unit: str = "events"
    recorded: bool = True

    @property
    def share(self) -> float:
        """``tied / total`` (0 when there is nothing)."""
        return self.tied / self.total if self.total else 0.0

    def __str__(self) -> str:
        if not self.tied:
            return "no two events of a journey share a timestamp"
        what = (
            "share their timestamp with another event of their journey"
            if self.unit == "events"
            else "join two events with the same timestamp"
        )
        rule = (
            "ties follow the recorded order"
            if self.recorded
            else "this workspace predates the recorded order: ties follow the loads, then the "
            "step's name, until the next load of events records it"
        )
        return f"{self.share:.1%} of {self.unit} ({self.tied:,} of {self.total:,}) {what}; {rule}"


def time_ties(ws: Workspace) -> TimeTies:
    """The events tied in time within their journey (by the ``journey`` column, else customer).

    A data-quality note for ``rox info``: one aggregation of the events, without ordering them.
    Journey maps report the transitions tied in time (:attr:`JourneyMap.ties`).
    """
    e = ws.table("events")
    e = e.mutate(journey_id=e.journey.fill_null(e.customer_id))
    groups = e.group_by(["journey_id", "ts"]).aggregate(n=e.count())
    row = (
        groups.aggregate(
            events=groups.n.sum().fill_null(0), tied=groups.n.sum(where=groups.n > 1).fill_null(0)
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    return TimeTies(int(row["events"]), int(row["tied"]), recorded=SEQ_COLUMN in e.columns)


@dataclass(eq=False)
class Journeys:
    """Journeys prepared once for several analyses: their events, ordered and kept in the engine.

    Pass it to any journey analysis in place of the workspace. Release it (or use it as a context
    manager) to free the engine's copy; on DuckDB it is a temporary table of the session. Journeys
    read from the workspace's journey index (:mod:`rox.journey.index`) cost nothing to prepare and
    are not dropped on release.

    Attributes
    ----------
    ws : Workspace
    query : JourneyQuery
    events : ibis Table
        :meth:`JourneyQuery.events`, materialised.
    indexed : bool
        Whether these are the workspace's journey index.
    stored : mapping of str to ibis Table
        Aggregates of these journeys the index keeps (see :meth:`aggregate`).
    """

    ws: Workspace
    query: JourneyQuery
    events: ir.Table
    indexed: bool = False
    stored: dict[str, ir.Table] = field(default_factory=dict, repr=False)
    released: bool = field(default=False, repr=False)

    @property
    def summary(self) -> ir.Table:
        """One row per journey (:func:`journey_summary`), materialised on first use."""
        if "summary" not in self.stored:
            self.stored["summary"] = journey_summary(self.events, self.ws).cache()
        return self.stored["summary"]

    def aggregate(self, name: str, build: Callable[[Journeys], ir.Table]) -> ir.Table:
        """The aggregate ``build(self)``, read from the journey index where it keeps it."""
        stored = self.stored.get(name)
        return build(self) if stored is None else stored

    def release(self) -> None:
        """Free the materialised events and aggregates (the journey index stays).

        Each preparation has its own copy (a second one holds the events as they are then, even
        if they changed since the first); releasing twice does nothing.
        """
        if self.indexed or self.released:
            return
        self.released = True
        for table in self.stored.values():
            table.release()
        self.events.release()

    def __enter__(self) -> Journeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- the journey index as stored (built by rox.journey.index) -----------------------------------
_REGISTRY, _EVENTS = JOURNEY_INDEX_TABLES["index"], JOURNEY_INDEX_TABLES["events"]
#: The index's aggregate tables (what :data:`rox.journey.index.AGGREGATES` builds), by name.
_STORED = {k: v for k, v in JOURNEY_INDEX_TABLES.items() if k not in ("index", "events")}


class JourneyIndexWarning(UserWarning):
    """The journey index does not match the events; analyses order the events themselves."""


@dataclass(frozen=True)
class JourneyIndex:
    """The workspace's journey index, as recorded.

    Attributes
    ----------
    query : JourneyQuery
        The journeys it holds.
    built_at : datetime
    through_load : int
        The last load of events it includes (0: none).
    events : int
        Events of the workspace when it was built.
    fresh : bool
        Whether it still matches the events.
    """

    query: JourneyQuery
    built_at: datetime
    through_load: int
    events: int
    fresh: bool


def events_state(ws: Workspace) -> ir.Table:
    """The events' state, which a fresh index was built from: one row, ``last``, ``n``.

    ``last`` is the last load of events, ``n`` the number of events (counting them costs a scan
    on some engines).
    """
    loads = ws.engine.fixed_table(LOADS_TABLE)  # both are created with the workspace
    loads = loads.filter(loads.table_name == "events")
    # (events may gain columns, but a count names none: the kept expression counts them all)
    events = ws.engine.fixed_table("events")
    return loads.aggregate(last=loads.load_id.max().fill_null(0)).cross_join(
        events.aggregate(n=events.count())
    )


def index_record(
    ws: Workspace, query: JourneyQuery | None = None, *, with_state: bool = True
) -> dict[str, Any] | None:
    """The index's record (query, built_at, through_load, events), and the events' state.

    The state (:func:`events_state`: ``last``, ``n``) comes in the same query. None if there is no
    index, or if it holds other journeys than ``query``.
    """
    if not ws.engine.has_table(_REGISTRY):
        return None
    record = ws.engine.fixed_table(_REGISTRY)
    if query is not None:
        record = record.filter(record.query == query.key())
    if with_state:
        record = record.cross_join(events_state(ws))
    rows = record.to_pyarrow().to_pylist()
    return rows[0] if rows else None


def index_info(ws: Workspace, query: JourneyQuery | None = None) -> JourneyIndex | None:
    """The workspace's journey index, as recorded, and whether it is fresh.

    None if the workspace has none, or if ``query`` is given and the index holds other journeys.
    """
    row = index_record(ws, query)
    if row is None:
        return None
    through_load, n_events = int(row["through_load"]), int(row["events"])
    return JourneyIndex(
        query=JourneyQuery.from_key(row["query"]),
        built_at=row["built_at"],
        through_load=through_load,
        events=n_events,
        fresh=(int(row["last"]), int(row["n"])) == (through_load, n_events),
    )


def indexed_journeys(ws: Workspace, query: JourneyQuery) -> Journeys | None:
    """The journeys of ``query`` from the index, if the index holds them and is fresh."""
    info = index_info(ws, query)
    if info is None:
        return None
    if not info.fresh:
        warnings.warn(
            f"the journey index of {ws.url} was built from {info.events:,} events (through load "
            f"{info.through_load}) and no longer matches the events; journeys are computed "
            "without it. Rebuild it with rox.journey.build_index (or `rox journey index`).",
            JourneyIndexWarning,
            stacklevel=4,
        )
        return None
    stored = {name: ws.engine.fixed_table(table) for name, table in _STORED.items()}
    return Journeys(ws, query, ws.engine.fixed_table(_EVENTS), indexed=True, stored=stored)


def prepare(ws: Workspace, query: JourneyQuery | None = None, **options: Any) -> Journeys:
    """Build the journeys once for several analyses (see :class:`Journeys`).

    When the workspace's journey index (:func:`rox.journey.build_index`) holds these journeys and
    is up to date, it is used as it is.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> with rox.journey.prepare(ws, journey="purchase") as journeys:
    ...     m = rox.journey.journey_map(journeys)
    ...     v = rox.journey.variants(journeys, top=5)
    >>> m.journeys == v.frame["journeys"].sum() or m.journeys > 0
    True
    """
    resolved = JourneyQuery.resolve(query, options)
    indexed = indexed_journeys(ws, resolved)
    if indexed is not None:
        return indexed
    return _ordered(ws, resolved)


def _ordered(ws: Workspace, query: JourneyQuery) -> Journeys:
    """The journeys of ``query``, ordered into a new temporary table of the session."""
    # a copy of its own (``view``): Ibis keys its cache by expression, and would otherwise hand
    # out the copy of an earlier preparation still held, ordered from the events as they were
    return Journeys(ws, query, query.events(ws).view().cache())


#: The key under which a workspace's session keeps the journeys its analyses ordered last.
SESSION_KEY = "journey.ordered"


@dataclass(frozen=True)
class _Kept:
    """Journeys an analysis ordered, kept by the workspace's session, and what they came from."""

    query: str
    state: tuple[int, int]
    journeys: Journeys

    def release(self) -> None:
        """Free the engine's copy (:meth:`Workspace.forget` calls it)."""
        self.journeys.release()


def events_now(ws: Workspace) -> tuple[int, int]:
    """:func:`events_state` as it is now: the last load of events and their number."""
    row = events_state(ws).to_pyarrow().to_pylist()[0]
    return int(row["last"]), int(row["n"])


def kept_journeys(ws: Workspace, query: JourneyQuery, state: tuple[int, int]) -> Journeys | None:
    """The journeys the workspace's session keeps, if of ``query`` and the events' ``state``."""
    kept = ws.session.get(SESSION_KEY)
    if not isinstance(kept, _Kept) or (kept.query, kept.state) != (query.key(), state):
        return None
    return None if kept.journeys.released else kept.journeys


def session_journeys(ws: Workspace, query: JourneyQuery) -> Journeys:
    """The journeys an analysis given the workspace runs on.

    The journey index if it holds them and is fresh; else the journeys the workspace's session
    keeps, if they are of the same query and the events are in the state they were ordered from
    (:func:`events_state`: the last load of events and their number); else the events ordered
    now, and kept in their place (see the module docstring).
    """
    indexed = indexed_journeys(ws, query)
    if indexed is not None:
        return indexed
    state = events_now(ws)
    journeys = kept_journeys(ws, query, state)
    if journeys is not None:
        return journeys
    kept = ws.session.pop(SESSION_KEY, None)
    if isinstance(kept, _Kept):  # one copy at most: the old one goes before the new one is made
        kept.release()
    journeys = _ordered(ws, query)
    ws.session[SESSION_KEY] = _Kept(query.key(), state, journeys)
    return journeys


def journeys_of(
    source: Workspace | Journeys, query: JourneyQuery | None, options: Mapping[str, Any]
) -> Journeys:
    """The journeys an analysis runs on: ``source`` if prepared, else :func:`session_journeys`."""
    if isinstance(source, Journeys):
        if query is not None or options:
            raise MetricError(
                "these journeys were prepared with their own query; to use another, pass the "
                "workspace (or prepare again)"
            )
        return source
    return session_journeys(source, JourneyQuery.resolve(query, options))


def journey_events(
    source: Workspace | Journeys, query: JourneyQuery | None, options: Mapping[str, Any]
) -> tuple[Workspace, ir.Table]:
    """The workspace and the journey events an analysis runs on (computed, or prepared)."""
    journeys = journeys_of(source, query, options)
    return journeys.ws, journeys.events
