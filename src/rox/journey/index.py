"""The journey index: one definition of journeys kept ordered in the workspace, refreshed on load.

Ordering each journey's events is the costly part of every journey analysis: on 1M events it is
more than the map, the variants and a funnel together once the events are in order (see
docs/benchmarks.md). :func:`prepare` does it once for a session; the index does it once per load
of events, in the engine, and keeps the result as tables of the workspace:

``rox_journey_events``
    :meth:`JourneyQuery.events` of the indexed query, its journeys numbered (``journey_id`` is an
    integer, in the order of the journeys' ids: joins and groups on an integer cost DuckDB a
    fraction of those on text);
``rox_journey_summary``
    :func:`~rox.journey.events.journey_summary`: one row per journey, with its variant key;
``rox_journey_edges``, ``rox_journey_steps``, ``rox_journey_variants``
    what every journey map and variant table of these journeys is computed from (the transitions
    with their counts and times; each step's events, starts and ends; each variant's count, time,
    example and path, spelled out and ranked), by the same expressions as without an index
    (:func:`~rox.journey.maps.edge_table` and its siblings), so that results are the same either
    way;
``rox_journey_index``
    one row: the query (:meth:`JourneyQuery.key`), when it was built, and the state of the
    events it was built from (the last load of events and the number of events).

Every analysis, and :func:`prepare`, given the workspace and the indexed query, reads the index
instead of ordering the events. :func:`rox.ingest.ingest` rebuilds the index after each load of
events, in full: exact for every definition of journeys (a late event can reorder a journey, or
join two journeys split by a gap). An index that does not match the events (rows appended other
than by a load) is not used: analyses then order the events themselves, as without an index, and
say so with a :class:`JourneyIndexWarning`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis

from rox.errors import WorkspaceError
from rox.journey.events import JourneyQuery, Journeys, journey_summary
from rox.journey.maps import edge_table, spelled_variant_table, step_table
from rox.schema import JOURNEY_INDEX_TABLES, LOADS_TABLE

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = [
    "JourneyIndex",
    "JourneyIndexWarning",
    "build_index",
    "drop_index",
    "index_info",
    "indexed_journeys",
    "refresh_after_load",
    "refresh_index",
]

REGISTRY, EVENTS = JOURNEY_INDEX_TABLES["index"], JOURNEY_INDEX_TABLES["events"]

#: What the index keeps besides the events, in the order built: name -> how it is computed.
AGGREGATES: dict[str, Callable[[Journeys], ir.Table]] = {
    "summary": lambda journeys: journey_summary(journeys.events),
    "edges": edge_table,
    "steps": step_table,
    "variants": spelled_variant_table,
}
TABLES = {name: JOURNEY_INDEX_TABLES[name] for name in AGGREGATES}


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


def _state(ws: Workspace) -> ir.Table:
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


def _record(
    ws: Workspace, query: JourneyQuery | None = None, *, with_state: bool = True
) -> dict[str, Any] | None:
    """The index's record (query, built_at, through_load, events), and the events' state.

    The state (:func:`_state`: ``last``, ``n``) comes in the same query. None if there is no
    index, or if it holds other journeys than ``query``.
    """
    if not ws.engine.has_table(REGISTRY):
        return None
    record = ws.engine.fixed_table(REGISTRY)
    if query is not None:
        record = record.filter(record.query == query.key())
    if with_state:
        record = record.cross_join(_state(ws))
    rows = record.to_pyarrow().to_pylist()
    return rows[0] if rows else None


def build_index(ws: Workspace, query: JourneyQuery | None = None, **options: Any) -> JourneyIndex:
    """Build the journey index of ``ws`` for ``query`` (by default: :class:`JourneyQuery`'s).

    It replaces any index the workspace had, and is rebuilt after every later load of events.

    Parameters
    ----------
    query : JourneyQuery, optional
        The journeys to keep; or pass its options (``gap=``, ``collapse=``, ...) directly.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> rox.journey.build_index(ws).fresh
    True
    >>> rox.journey.prepare(ws).indexed
    True
    """
    if ws.read_only:
        raise WorkspaceError(f"workspace {ws.url} is open read-only; cannot build an index in it")
    resolved = JourneyQuery.resolve(query, options)
    state = _state(ws).to_pyarrow().to_pylist()[0]
    through_load, n_events = int(state["last"]), int(state["n"])
    # no index while it is rebuilt: should a step fail, analyses compute journeys themselves
    ws.engine.drop_table(REGISTRY)
    events = resolved.events(ws)
    # journeys numbered in the order of their ids: joins and groups on an integer cost DuckDB a
    # fraction of those on text (4x for the variants' examples), and minima keep their meaning
    ids = events.select("journey_id").distinct()
    ids = ids.mutate(_number=ibis.row_number().over(order_by=ids.journey_id))
    events = events.join(ids, "journey_id").drop("journey_id").rename(journey_id="_number")
    ws.engine.replace_table(EVENTS, events)
    journeys = Journeys(ws, resolved, ws.engine.fixed_table(EVENTS), indexed=True)
    # the aggregates every map and variant table of these journeys starts from, once
    for name, build in AGGREGATES.items():
        ws.engine.replace_table(TABLES[name], build(journeys))
        journeys.stored[name] = ws.engine.fixed_table(TABLES[name])
    built_at = datetime.now(UTC)
    record = ibis.memtable(
        {
            "query": [resolved.key()],
            "built_at": [built_at],
            "through_load": [through_load],
            "events": [n_events],
        },
        schema={
            "query": "string",
            "built_at": "timestamp('UTC')",
            "through_load": "int64",
            "events": "int64",
        },
    )
    ws.engine.replace_table(REGISTRY, record)
    return JourneyIndex(resolved, built_at, through_load, n_events, fresh=True)


def index_info(ws: Workspace, query: JourneyQuery | None = None) -> JourneyIndex | None:
    """The workspace's journey index, as recorded, and whether it is fresh.

    None if the workspace has none, or if ``query`` is given and the index holds other journeys.
    """
    row = _record(ws, query)
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


def drop_index(ws: Workspace) -> bool:
    """Drop the journey index; False if there was none."""
    had = ws.engine.has_table(REGISTRY)
    for name in (REGISTRY, EVENTS, *TABLES.values()):
        ws.engine.drop_table(name)
    return had


def refresh_index(ws: Workspace) -> JourneyIndex | None:
    """Rebuild the journey index, if the workspace has one (after a load of events)."""
    row = _record(ws, with_state=False)
    if row is None:
        return None
    return build_index(ws, JourneyQuery.from_key(row["query"]))


def refresh_after_load(ws: Workspace) -> None:
    """Rebuild the journey index, if the workspace has one, after a load of events.

    Named as the refresher of the index in :data:`rox.schema.DERIVED`, and called by ingestion
    once the load has committed: if the rebuild fails, the load stands, the index is dropped
    (analyses then order the events themselves) and a :class:`JourneyIndexWarning` says so.
    """
    try:
        refresh_index(ws)
    except Exception as exc:  # the load is committed; say what happened to the index
        # (should even the drop fail, the index is stale by now: no analysis would use it)
        with contextlib.suppress(Exception):
            drop_index(ws)
        warnings.warn(
            f"the events were loaded, but rebuilding the journey index failed ({exc}); it was "
            "dropped: rebuild it with rox.journey.build_index",
            JourneyIndexWarning,
            stacklevel=4,
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
    stored = {name: ws.engine.fixed_table(table) for name, table in TABLES.items()}
    return Journeys(ws, query, ws.engine.fixed_table(EVENTS), indexed=True, stored=stored)
