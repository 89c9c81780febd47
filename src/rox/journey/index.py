"""The journey index: one definition of journeys kept ordered in the workspace, refreshed on load.

Ordering each journey's events is the costly part of every journey analysis: on 1M events it is
more than the map, the variants and a funnel together once the events are in order (see
docs/benchmarks.md). :func:`prepare` does it once for a session; the index does it once per load
of events, in the engine, and keeps the result as tables of the workspace:

``rox_journey_events``
    :meth:`JourneyQuery.events` of the indexed query, its journeys numbered (``journey_id`` is an
    integer: joins and groups on an integer cost DuckDB a fraction of those on text; a full build
    numbers the journeys in the order of their ids, a refresh numbers new ones after the last;
    steps and channels are kept as codes where the engine has them, :data:`CODED`);
``rox_journey_summary``
    :func:`~rox.journey.events.journey_summary`: one row per journey, with its variant key and
    its name (``journey``: its id as :meth:`JourneyQuery.events` gives it);
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
instead of ordering the events. After each load of events (:func:`rox.ingest.ingest`, and each
batch of the intake service's :class:`~rox.ingest.batch.BatchWriter`) the index is refreshed:
only the journeys the new events touch are made again, and the aggregates updated
(:func:`refresh_journeys`, exact: the tables are those of a full build); it is rebuilt in full
when rows were removed or written other than by a load, and for loads of more than
:data:`FULL_SHARE` of the events. An index that does not match the events (rows appended other
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
import pandas as pd

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
from rox.journey.maps import (
    edge_table,
    ranked_variants,
    spelled_variant_table,
    spelled_variants,
    step_table,
    variant_table,
)
from rox.schema import JOURNEY_INDEX_TABLES, LOAD_COLUMN

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = [
    "build_index",
    "drop_index",
    "refresh_after_load",
    "refresh_index",
    "refresh_journeys",
]

REGISTRY, EVENTS = JOURNEY_INDEX_TABLES["index"], JOURNEY_INDEX_TABLES["events"]

#: What the index keeps besides the events, in the order built: name -> how it is computed.
AGGREGATES: dict[str, Callable[[Journeys], ir.Table]] = {
    "edges": edge_table,
    "steps": step_table,
    "variants": spelled_variant_table,
}
TABLES = {name: JOURNEY_INDEX_TABLES[name] for name in ("summary", *AGGREGATES)}

#: The text columns of the index's events stored as codes where the engine can
#: (:meth:`rox.engines.Engine.coded`); their ``next_`` columns follow.
CODED = ("step", "channel")

#: A load of more new events than this share of all the events rebuilds the index in full: the
#: refresh of the journeys it touches would cost more (see docs/benchmarks.md).
FULL_SHARE = 0.2


def build_index(ws: Workspace, query: JourneyQuery | None = None, **options: Any) -> JourneyIndex:
    """Build the journey index of ``ws`` for ``query`` (by default: :class:`JourneyQuery`'s).

    It replaces any index the workspace had, and is refreshed after every later load of events
    (:func:`refresh_index`).

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
    # steps and channels coded where the engine can (a byte each on DuckDB, not their text):
    # ordering the events carries them, and the index writes them (a refresh whose new events
    # bring a step or channel the codes lack adds it to them)
    kept = ws.engine.coded(resolved.kept_rows(ws.require_rows("events")), CODED)
    events = resolved.ordered(ws, kept)
    # journeys numbered in the order of their ids: joins and groups on an integer cost DuckDB a
    # fraction of those on text (4x for the variants' examples); the summary keeps their names.
    # The numbers are kept for the build (the events and the summary both use them)
    ids = resolved.journey_ids(ws, kept)
    ids = ws.engine.cache(ids.mutate(_number=ibis.row_number().over(order_by=ids.journey_id)))
    try:
        events = events.join(ids, "journey_id").drop("journey_id").rename(journey_id="_number")
        ws.engine.replace_table(EVENTS, events, codes=True)
        journeys = Journeys(ws, resolved, ws.engine.fixed_table(EVENTS), indexed=True)
        ws.engine.replace_table(TABLES["summary"], _named_summary(journeys.events, ids, ws))
    finally:
        ids.release()
    journeys.stored["summary"] = ws.engine.fixed_table(TABLES["summary"])
    # the aggregates every map and variant table of these journeys starts from, once
    for name, build in AGGREGATES.items():
        ws.engine.replace_table(TABLES[name], build(journeys))
        journeys.stored[name] = ws.engine.fixed_table(TABLES[name])
    return _record(ws, resolved, through_load, n_events)


def _named_summary(events: ir.Table, names: ir.Table, ws: Workspace) -> ir.Table:
    """:func:`journey_summary` of numbered journeys, each with its name (``journey``).

    ``names``: ``journey_id`` (the name, as :meth:`JourneyQuery.events` gives it) and
    ``_number`` (the journey's number in the index).
    """
    summary = journey_summary(events, ws)
    names = names.select(_number="_number", journey="journey_id")
    return summary.join(names, summary.journey_id == names._number).drop("_number")


def _record(ws: Workspace, query: JourneyQuery, through_load: int, n_events: int) -> JourneyIndex:
    """Write the index's record: it is then used (fresh while the events stay as they are)."""
    built_at = datetime.now(UTC)
    record = ibis.memtable(
        {
            "query": [query.key()],
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
    return JourneyIndex(query, built_at, through_load, n_events, fresh=True)


def drop_index(ws: Workspace) -> bool:
    """Drop the journey index; False if there was none."""
    had = ws.engine.has_table(REGISTRY)
    for name in (REGISTRY, EVENTS, *TABLES.values()):
        ws.engine.drop_table(name)
    return had


def refresh_index(ws: Workspace, *, full: bool | None = None) -> JourneyIndex | None:
    """Bring the journey index, if the workspace has one, up to date with the events.

    The journeys the events loaded since the index was built touch are refreshed
    (:func:`refresh_journeys`); the index is rebuilt in full when that cannot be exact (events
    were removed, or written other than by a load; or the index is an earlier rox's, its
    journeys ordered or its variants keyed otherwise) or would cost more than a rebuild (the new
    events are more than :data:`FULL_SHARE` of all).

    Parameters
    ----------
    full : bool, optional
        True: rebuild in full. False: refresh the touched journeys whenever that is exact,
        whatever their number. None (default): choose by :data:`FULL_SHARE`.

    Returns
    -------
    JourneyIndex or None
        The index, fresh; None if the workspace has none.
    """
    row = index_record(ws)
    if row is None:
        return None
    query = JourneyQuery.from_key(row["query"])
    # an index of an earlier rox (its journeys ordered, or its variants keyed, otherwise: its key
    # is not the one this rox writes for the same query) is rebuilt: a refresh would mix the two
    if not full and query.key() == row["query"]:
        refreshed = refresh_journeys(ws, query, row, always=full is False)
        if refreshed is not None:
            return refreshed
    return build_index(ws, query)


def refresh_journeys(
    ws: Workspace, query: JourneyQuery, row: dict[str, Any], *, always: bool = False
) -> JourneyIndex | None:
    """Refresh the journeys the events loaded since the index was built touch; None if not exact.

    The refresh is exact: every table of the index is then what a full build gives, but for the
    numbers of the journeys (a journey keeps its number; a new one is numbered after the last),
    which are handles: a journey is named in the summary (``journey``), and the variants'
    examples are those names. How:

    1. the new events are those of the loads after the index's (``_load_id`` above its
       ``through_load``); if the events are not the index's plus those (rows removed, or written
       other than by a load), or the index is an earlier rox's (its summary names no journey),
       None (rebuild in full);
    2. the journeys they touch: those with the same name (``journey``, else the customer), or,
       with a ``gap`` (where a new event can join or split a customer's journeys, and renumber
       the later ones), every journey of their customers;
    3. those journeys are made again from all their events (old and new, by
       :meth:`JourneyQuery.events`: a late event takes its place, ties follow the recorded
       order), and replace their old rows in ``rox_journey_events`` and ``rox_journey_summary``;
    4. the steps' counts are additive: their old contribution is subtracted, the new one added;
       the transitions the old or new journeys make are counted again from the index's events
       (their customers are distinct counts, their hours quantiles: neither is additive); the
       variants of the old or new journeys are counted again from the summary, spelled out from
       their examples, and every variant ranked again (a small table, rewritten).

    Parameters
    ----------
    row : dict
        The index's record and the events' state (:func:`~rox.journey.events.index_record`).
    always : bool
        Refresh whatever the number of new events (else: None above :data:`FULL_SHARE`).
    """
    through_load, n_indexed = int(row["through_load"]), int(row["events"])
    last, n_events = int(row["last"]), int(row["n"])
    if (last, n_events) == (through_load, n_indexed):
        return JourneyIndex(query, row["built_at"], through_load, n_indexed, fresh=True)
    events = ws.table("events")
    new = events.filter(events[LOAD_COLUMN] > through_load)
    n_new = int(new.count().execute())
    if n_indexed + n_new != n_events or (not always and n_new > FULL_SHARE * n_events):
        return None
    if ws.read_only:
        raise WorkspaceError(f"workspace {ws.url} is open read-only; cannot refresh its index")
    summary = ws.engine.fixed_table(TABLES["summary"])
    spelled = ws.engine.fixed_table(TABLES["variants"]).columns
    if "journey" not in summary.columns or "path" not in spelled:
        return None  # an index of an earlier rox, without the journeys' names or the paths
    if not n_new:  # loads of rows all skipped (already stored): the journeys are as they were
        return _record(ws, query, last, n_events)
    ws.engine.drop_table(REGISTRY)  # no index while it is refreshed (as while it is built)
    kept = query.kept_rows(new)
    # the index's codes (of its steps and channels) gain those the new events bring
    seen = kept.aggregate(**{c: kept[c].collect(distinct=True) for c in CODED})
    values = seen.to_pyarrow().to_pylist()[0]
    ws.engine.admit(EVENTS, {**values, **{f"next_{c}": values[c] for c in CODED}})
    indexed = ws.engine.fixed_table(EVENTS)
    if query.gap is None:
        names = kept.select(journey=kept.journey.fill_null(kept.customer_id)).distinct()
        old = summary.filter(summary["journey"].isin(names["journey"]))
        source = events.filter(events.journey.fill_null(events.customer_id).isin(names["journey"]))
    else:
        customers = kept.select("customer_id").distinct()
        old = summary.filter(summary.customer_id.isin(customers.customer_id))
        source = events.filter(events.customer_id.isin(customers.customer_id))
    old_rows = old.select("journey_id", "journey", "k1", "k2", "steps").to_pyarrow().to_pandas()
    old_ids = [int(i) for i in old_rows["journey_id"]]
    fresh = ws.engine.cache(query.events(ws, rows=source))
    before = ws.engine.cache(indexed.filter(indexed.journey_id.isin(old_ids)))
    cached = [fresh, before]
    try:
        numbers = _numbers(
            fresh.select("journey_id").distinct().to_pyarrow().column(0).to_pylist(),
            dict(zip(old_rows["journey"], old_ids, strict=True)),
            int(summary.journey_id.max().fill_null(-1).execute()),
        )
        named = ws.engine.cache(
            fresh.join(numbers, "journey_id").drop("journey_id").rename(journey_id="_number")
        )
        cached.append(named)
        was = Journeys(ws, query, before, indexed=True)
        now = Journeys(ws, query, named, indexed=True)
        steps = _steps_moved(ws, was, now)
        moves = _moves(was).union(_moves(now)).distinct().to_pyarrow().to_pandas()
        ws.engine.replace_rows(EVENTS, "journey_id", old_ids, named.select(*indexed.columns))
        ws.engine.replace_rows(
            TABLES["summary"],
            "journey_id",
            old_ids,
            _named_summary(named, numbers, ws).select(*summary.columns),
        )
        ws.engine.replace_table(TABLES["steps"], steps)
        _refresh_edges(ws, query, moves)
        variants = old_rows[["k1", "k2", "steps"]]
        new_summary = journey_summary(named, ws).select("k1", "k2", "steps")
        variants = pd.concat([variants, new_summary.to_pyarrow().to_pandas()]).drop_duplicates()
        _refresh_variants(ws, query, variants, named)
    finally:
        for table in cached:
            table.release()
    return _record(ws, query, last, n_events)


def _numbers(names: list[str], known: dict[str, int], last: int) -> ir.Table:
    """Each journey's number: its own if it had one; else the next after ``last``, in name order."""
    numbered = {n: known[n] for n in names if n in known}
    new = sorted(n for n in names if n not in known)
    numbered.update({n: last + 1 + i for i, n in enumerate(new)})
    return ibis.memtable(
        {"journey_id": list(numbered), "_number": list(numbered.values())},
        schema={"journey_id": "string", "_number": "int64"},
    )


def _steps_moved(ws: Workspace, was: Journeys, now: Journeys) -> ir.Table:
    """The steps table less the old journeys' counts, plus the new ones' (counts add up)."""
    stored = ws.engine.fixed_table(TABLES["steps"])
    counts = [c for c in stored.columns if c != "step"]
    frames = [
        stored.to_pyarrow().to_pandas(),
        step_table(was).to_pyarrow().to_pandas().set_index("step").mul(-1).reset_index(),
        step_table(now).to_pyarrow().to_pandas(),
    ]
    # (a count an engine gave as null, where no event of the step counted, is 0)
    total = pd.concat(frames).fillna(dict.fromkeys(counts, 0)).groupby("step", as_index=False)
    total = total[counts].sum().astype(dict.fromkeys(counts, "int64"))
    total = total[total["events"] > 0]
    return ibis.memtable(total[list(stored.columns)].reset_index(drop=True), schema=stored.schema())


def _moves(journeys: Journeys) -> ir.Table:
    """The transitions (``step``, ``next_step``) the journeys make."""
    e = journeys.events
    return e.filter(e.next_step.notnull()).select("step", "next_step").distinct()


def _refresh_edges(ws: Workspace, query: JourneyQuery, moves: pd.DataFrame) -> None:
    """Count the transitions ``moves`` again from the index's events (the others stay)."""
    stored = ws.engine.fixed_table(TABLES["edges"])
    kept = stored.to_pyarrow().to_pandas()
    touched = pd.MultiIndex.from_frame(moves[["step", "next_step"]])
    kept = kept[~pd.MultiIndex.from_frame(kept[["source", "target"]]).isin(touched)]
    if len(moves):
        indexed = ws.engine.fixed_table(EVENTS)
        pairs = ibis.memtable(moves, schema={"step": "string", "next_step": "string"})
        events = indexed.semi_join(
            pairs, [indexed.step == pairs.step, indexed.next_step == pairs.next_step]
        )
        counted = edge_table(Journeys(ws, query, events, indexed=True)).to_pyarrow().to_pandas()
        kept = pd.concat([kept, counted[list(kept.columns)]])
    frame = kept.reset_index(drop=True)
    ws.engine.replace_table(TABLES["edges"], ibis.memtable(frame, schema=stored.schema()))


def _refresh_variants(
    ws: Workspace, query: JourneyQuery, touched: pd.DataFrame, refreshed: ir.Table
) -> None:
    """Count the variants ``touched`` (``k1, k2, steps``) again, and rank all of them again.

    A variant's path is that of any of its journeys: a variant kept keeps its path; a new one is
    spelled out from its example, one of the ``refreshed`` journeys (an untouched journey's
    variant is not new).
    """
    stored = ws.engine.fixed_table(TABLES["variants"])
    kept = stored.drop("rank", "total").to_pyarrow().to_pandas()
    keys = ["k1", "k2", "steps"]
    touched_index = pd.MultiIndex.from_frame(touched[keys])
    was = pd.MultiIndex.from_frame(kept[keys]).isin(touched_index)
    paths = kept[was].set_index(keys)["path"]
    kept = kept[~was]
    if len(touched):
        summary = ws.engine.fixed_table(TABLES["summary"])
        variants = ibis.memtable(touched[keys], schema={k: summary[k].type() for k in keys})
        per = summary.semi_join(variants, keys)
        journeys = Journeys(ws, query, refreshed, indexed=True, stored={"summary": per})
        counted = variant_table(journeys).to_pyarrow().to_pandas()
        counted_keys = pd.MultiIndex.from_frame(counted[keys])
        new = ~counted_keys.isin(paths.index)
        counted["path"] = paths.reindex(counted_keys).to_numpy()
        if new.any():
            fresh = ibis.memtable(counted.loc[new, keys], schema=variants.schema())
            journeys.stored["summary"] = per.semi_join(fresh, keys)
            spelled = spelled_variants(journeys, variant_table(journeys)).set_index(keys)["path"]
            counted.loc[new, "path"] = spelled.reindex(counted_keys[new]).to_numpy()
        kept = pd.concat([kept, counted[list(kept.columns)]])
    frame = ranked_variants(kept.reset_index(drop=True))
    ws.engine.replace_table(TABLES["variants"], ibis.memtable(frame, schema=stored.schema()))


def refresh_after_load(ws: Workspace) -> None:
    """Refresh the journey index, if the workspace has one, after a load of events.

    Named as the refresher of the index in :data:`rox.schema.DERIVED`, and called by ingestion
    (:func:`rox.ingest.ingest`, and each batch of :class:`rox.ingest.batch.BatchWriter`) once the
    load has committed: only the journeys the load touched are refreshed (:func:`refresh_index`).
    If that fails, the load stands, the index is dropped (analyses then order the events
    themselves) and a :class:`JourneyIndexWarning` says so.
    """
    try:
        refresh_index(ws)
    except Exception as exc:  # the load is committed; say what happened to the index
        # (should even the drop fail, the index is stale by now: no analysis would use it)
        with contextlib.suppress(Exception):
            drop_index(ws)
        warnings.warn(
            f"the events were loaded, but refreshing the journey index failed ({exc}); it was "
            "dropped: rebuild it with rox.journey.build_index",
            JourneyIndexWarning,
            stacklevel=4,
        )
