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

This module builds, refreshes and drops the index; reading it (:func:`index_info`, and the
journeys an analysis gets from it) lives in :mod:`rox.journey.events`, below every analysis.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis

from rox.errors import WorkspaceError
from rox.journey.events import (
    JourneyIndex,
    JourneyIndexWarning,
    JourneyQuery,
    Journeys,
    events_state,
    index_record,
    journey_summary,
)
from rox.journey.maps import edge_table, spelled_variant_table, step_table
from rox.schema import JOURNEY_INDEX_TABLES

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = [
    "build_index",
    "drop_index",
    "refresh_after_load",
    "refresh_index",
]

REGISTRY, EVENTS = JOURNEY_INDEX_TABLES["index"], JOURNEY_INDEX_TABLES["events"]

#: What the index keeps besides the events, in the order built: name -> how it is computed.
AGGREGATES: dict[str, Callable[[Journeys], ir.Table]] = {
    "summary": lambda journeys: journey_summary(journeys.events, journeys.ws),
    "edges": edge_table,
    "steps": step_table,
    "variants": spelled_variant_table,
}
TABLES = {name: JOURNEY_INDEX_TABLES[name] for name in AGGREGATES}


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
    state = events_state(ws).to_pyarrow().to_pylist()[0]
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


def drop_index(ws: Workspace) -> bool:
    """Drop the journey index; False if there was none."""
    had = ws.engine.has_table(REGISTRY)
    for name in (REGISTRY, EVENTS, *TABLES.values()):
        ws.engine.drop_table(name)
    return had


def refresh_index(ws: Workspace) -> JourneyIndex | None:
    """Rebuild the journey index, if the workspace has one (after a load of events)."""
    row = index_record(ws, with_state=False)
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
