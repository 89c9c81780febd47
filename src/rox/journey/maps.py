"""Journey maps: the directly-follows graph, path variants, and paths around a step.

The directly-follows graph (process mining's DFG; van der Aalst, *Process Mining*, 2016) counts,
for each pair of steps A -> B, how often B directly follows A in a journey, with the customers
concerned and the time between; with the steps journeys start and end at. A *variant* is the
complete sequence of steps of a journey. All counted in the engine from
:meth:`rox.journey.JourneyQuery.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from rox.errors import MetricError
from rox.journey.arrays import EventArrays, journeys_or_arrays
from rox.journey.events import (
    JourneyQuery,
    Journeys,
    TimeTies,
    journey_events,
)
from rox.results import Result
from rox.schema import SEQ_COLUMN

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir
    import pyarrow as pa

    from rox.workspace import Workspace

__all__ = ["JourneyMap", "PathTable", "journey_map", "paths", "variants"]

_HOUR = 3600.0
SEPARATOR = " > "


@dataclass(frozen=True, eq=False)
class JourneyMap(Result):
    """The directly-follows graph of the journeys.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per transition: ``source``, ``target``, ``transitions``, ``customers``,
        ``share`` (of all transitions), ``median_hours`` and ``p90_hours`` between the two.
    starts, ends : pandas.DataFrame
        ``step`` and ``journeys`` starting / ending there.
    journeys, events : int
        Counted over all journeys (before any top-N filter).
    ties : TimeTies or None
        The transitions joining two events with the same timestamp (ordered by the order in
        which they were recorded): a data-quality note, also in ``str(map)``.
    """

    starts: pd.DataFrame | None = None
    ends: pd.DataFrame | None = None
    journeys: int = 0
    events: int = 0
    ties: TimeTies | None = None

    def __str__(self) -> str:
        text = f"Journey map: {self.journeys:,} journeys, {self.events:,} events"
        return text + (f"\nnote: {self.ties}" if self.ties is not None else "")

    _plotter: ClassVar[str | None] = "rox.viz.journey:plot_map"


def journey_map(
    ws: Workspace | Journeys,
    query: JourneyQuery | None = None,
    *,
    top: int | None = None,
    coverage: float | None = None,
    **options: Any,
) -> JourneyMap:
    """Count the transitions between steps (the directly-follows graph).

    Parameters
    ----------
    query : JourneyQuery, optional
        How to build journeys; or pass its options (``journey=``, ``gap=``, ...) directly.
    top : int, optional
        Keep the ``top`` most frequent transitions.
    coverage : float, optional
        Keep the most frequent transitions that together make this share of all transitions.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> m = rox.journey.journey_map(ws, journey="purchase", top=10)
    >>> m.to_frame().columns[:3].tolist()
    ['source', 'target', 'transitions']
    """
    journeys = journeys_or_arrays(ws, query, options)
    if isinstance(journeys, EventArrays):  # the events fetched and ordered as arrays
        edges, by_step = journeys.edges(), journeys.steps()
    else:
        edges = journeys.aggregate("edges", edge_table).execute()
        by_step = journeys.aggregate("steps", step_table).execute()
    starts, ends = (
        by_step.loc[by_step[c] > 0, ["step", c]].rename(columns={c: "journeys"})
        for c in ("starts", "ends")
    )
    edges = edges.sort_values(
        ["transitions", "source", "target"], ascending=[False, True, True]
    ).reset_index(drop=True)
    total = edges["transitions"].sum()
    edges["share"] = edges["transitions"] / total if total else 0.0
    if coverage is not None:
        if not 0 < coverage <= 1:
            raise MetricError("coverage must be a share in (0, 1]")
        keep = (edges["share"].cumsum() - edges["share"]) < coverage
        edges = edges[keep]
    if top is not None:
        edges = edges.head(top)
    cols = ["source", "target", "transitions", "customers", "share", "median_hours", "p90_hours"]
    tied = int(by_step["tied"].sum())
    events = int(by_step["events"].sum())
    return JourneyMap(
        frame=edges[cols].reset_index(drop=True),
        starts=_by_journeys(starts),
        ends=_by_journeys(ends),
        journeys=int(by_step["starts"].sum()),  # each journey has one first event
        events=events,
        ties=TimeTies(
            events - int(by_step["starts"].sum()),  # every event but a journey's last moves on
            tied,
            unit="transitions",
            recorded=not tied
            or isinstance(journeys, EventArrays)  # (which only events with their order make)
            or SEQ_COLUMN in journeys.ws.table("events").columns,
        ),
    )


def edge_table(journeys: Journeys) -> ir.Table:
    """The transitions: ``source, target, transitions, customers, median_hours, p90_hours``."""
    e = journeys.events
    moves = e.filter(e.next_step.notnull())
    seconds = moves.next_epoch_s - moves.epoch_s
    return moves.group_by([moves.step.name("source"), moves.next_step.name("target")]).aggregate(
        transitions=moves.count(),
        customers=moves.customer_id.nunique(),
        median_hours=seconds.median() / _HOUR,
        p90_hours=seconds.quantile(0.9) / _HOUR,
    )


def step_table(journeys: Journeys) -> ir.Table:
    """Each step's ``events``, the journeys starting/ending there, and the moves ``tied`` in time.

    ``tied``: the transitions from the step to an event with the same timestamp.
    """
    e = journeys.events
    # (fill_null: Spark counts nothing as null where no event of the step is counted)
    return e.group_by("step").aggregate(
        events=e.count(),
        starts=e.count(where=e.seq == 0).fill_null(0),
        ends=e.count(where=e.is_last).fill_null(0),
        tied=e.count(where=e.ts == e.next_ts).fill_null(0),
    )


def variant_table(journeys: Journeys) -> ir.Table:
    """One row per variant: its key, ``journeys``, ``median_hours`` and an ``example``.

    The key is ``k1, k2, steps`` (:func:`~rox.journey.events.journey_summary`); the example is the
    journey of lowest id, which spells the variant out. The journey index numbers its journeys
    and names each one in its summary (``journey``): its examples are those names, the lowest.
    """
    per = journeys.summary
    named = per["journey"] if "journey" in per.columns else per.journey_id
    return per.group_by(["k1", "k2", "steps"]).aggregate(
        journeys=per.count(),
        median_hours=per.seconds.median() / _HOUR,
        example=named.min(),
    )


def spelled_variant_table(journeys: Journeys) -> ir.Table:
    """:func:`variant_table` with each variant's ``path``, its ``rank`` and the ``total`` journeys.

    What the journey index keeps: :func:`variants` then reads the paths instead of spelling them
    out from the examples' events (3.5M events for the 288k variants of 10M events). ``rank``
    orders the variants as :func:`variants` does (most journeys first, ties by path).
    """
    groups = variant_table(journeys)
    schema = {
        **groups.schema(),
        "path": "string",
        "rank": "int64",
        "total": "int64",
    }
    return ibis.memtable(ranked_variants(spelled_variants(journeys, groups)), schema=schema)


def spelled_variants(journeys: Journeys, groups: ir.Table) -> pd.DataFrame:
    """The variants ``groups`` (of :func:`variant_table`), each with its ``path`` spelled out."""
    # numbered 0, 1, ... (to place their events without sorting, in _spell)
    groups = groups.mutate(variant=ibis.row_number().over(order_by=groups.example))
    columns = [c for c in groups.columns if c != "variant"]
    per = journeys.summary
    if "journey" in per.columns:  # the examples are named: spell them out by their numbers
        numbers = per.select(example=per["journey"], _number=per.journey_id)
        groups = groups.join(numbers, "example")
        return _spelled(journeys.events, groups, columns, on="_number")
    return _spelled(journeys.events, groups, columns)


def ranked_variants(spelled: pd.DataFrame) -> pd.DataFrame:
    """Spelled-out variants with their ``rank`` (as :func:`variants` orders them) and ``total``."""
    rank = np.empty(len(spelled), dtype="int64")
    rank[_order(spelled)] = np.arange(len(spelled))
    return spelled.drop(columns="variant", errors="ignore").assign(
        rank=rank, total=int(spelled["journeys"].sum())
    )


@dataclass(frozen=True, eq=False)
class PathTable(Result):
    """Paths with their counts: ``path``, ``steps``, ``journeys``, ``share``, ``median_hours``."""

    _plotter: ClassVar[str | None] = "rox.viz.journey:plot_paths"


def variants(
    ws: Workspace | Journeys,
    query: JourneyQuery | None = None,
    *,
    top: int | None = 20,
    **options: Any,
) -> PathTable:
    """The most common complete paths (variants), with their share and median duration.

    Ties at the ``top`` cut keep the variants first seen in the lowest journey ids; the table
    is ordered by journeys, then by path.
    """
    journeys = journeys_or_arrays(ws, query, options)
    if isinstance(journeys, EventArrays):  # the events fetched and ordered as arrays
        out = journeys.variant_frame(top)
        total = int(out["total"].iloc[0]) if len(out) else 0
        return _paths_result(out, None, total=total)
    groups = journeys.aggregate("variants", variant_table)
    if "total" not in groups.columns:
        # all journeys, for the shares (a window over the groups: the same query, before any cut)
        groups = groups.mutate(total=groups.journeys.sum().over(ibis.window()))
    if top is not None:
        groups = groups.order_by([ibis.desc("journeys"), "example"]).limit(top)
    columns = ["journeys", "median_hours", "steps", "total"]
    if "path" in groups.columns:  # kept spelled out and ranked by the journey index
        rows = groups.select("path", *columns, "rank").to_pyarrow()
        out, ordered = rows.take(pc.sort_indices(rows["rank"])).to_pandas(), True
    else:  # the kept variants spelled out from their examples' events
        out, ordered = spelled_variants(journeys, groups.select("example", *columns)), False
    total = int(out["total"].iloc[0]) if len(out) else 0
    return _paths_result(out, None, total=total, ordered=ordered)


def _spelled(
    e: ir.Table, groups: ir.Table, columns: Sequence[str], on: str = "example"
) -> pd.DataFrame:
    """The ``columns`` of the numbered variants ``groups``, with each one's path spelled out.

    Each variant's example journey (its id in column ``on``), event by event, spelled out in
    Python by :func:`_spell` (an ordered string aggregate is not portable, nor spillable by
    DuckDB).
    """
    chosen = e.join(groups, e.journey_id == groups[on])
    keep = list(dict.fromkeys([*columns, "variant", "steps"]))
    rows = chosen.select(*keep, "seq", "step").to_pyarrow()
    return _spell(rows, columns)


def paths(
    ws: Workspace | Journeys,
    step: str,
    *,
    direction: str = "after",
    depth: int = 3,
    query: JourneyQuery | None = None,
    top: int | None = 20,
    **options: Any,
) -> PathTable:
    """What happens after (or before) a step.

    For each journey at its first visit of ``step``: the step and the next (``direction="after"``)
    or previous (``"before"``) ``depth`` steps, counted as paths.
    """
    if direction not in ("after", "before"):
        raise MetricError("direction must be 'after' or 'before'")
    if depth < 1:
        raise MetricError("depth must be at least 1")
    ws, e = journey_events(ws, query, options)
    at = e.filter(e.step == step).group_by("journey_id").aggregate(at=e.seq.min(), at_ts=e.ts.min())
    j = e.join(at, "journey_id")
    if direction == "after":
        window = j.filter((j.seq >= j.at) & (j.seq <= j.at + depth))
    else:
        window = j.filter((j.seq <= j.at) & (j.seq >= j.at - depth))
    # the path spelled from one column per position (ordered string aggregation is not portable:
    # PySpark has none); positions are consecutive, so a missing one ends the path
    positions = range(depth + 1) if direction == "after" else range(-depth, 1)  # from the step
    per = window.group_by("journey_id").aggregate(
        steps=window.count(),
        seconds=window.epoch_s.max() - window.epoch_s.min(),
        **{
            f"s{i}": window.step.max(where=window.seq == window.at + k)
            for i, k in enumerate(positions)
        },
    )
    anchor = 0 if direction == "after" else depth

    def piece(i: int) -> ir.StringValue:
        s = per[f"s{i}"]
        if i == anchor:
            return s
        text = s.concat(SEPARATOR) if i < anchor else ibis.literal(SEPARATOR).concat(s)
        return s.isnull().ifelse("", text)

    pieces = [piece(i) for i in range(depth + 1)]
    path = pieces[0].concat(*pieces[1:])
    per = per.select("steps", "seconds", path=path)
    # journeys that end right at the step are paths of one step
    out = (
        per.group_by(["path", "steps"])
        .aggregate(journeys=per.count(), median_hours=per.seconds.median() / _HOUR)
        .execute()
    )
    if out.empty:
        raise MetricError(f"no journey visits the step {step!r}")
    return _paths_result(out, top)


def _spell(rows: pa.Table, columns: Sequence[str]) -> pd.DataFrame:
    """One row per variant: its ``columns`` and its ``path``.

    ``rows`` are the events of the variants' example journeys, in any order, with the variant's
    number (``variant``, 0, 1, ...), its length (``steps``) and each event's position (``seq``).
    Each event's place in the spelled-out paths is then known without sorting: the variant's
    offset (the lengths of the variants before it) plus its position. Steps are picked through
    their dictionary (a few distinct names), each with its separator in front, and each path's
    pieces concatenated by ``numpy.add.reduceat`` (pandas' per-group ``agg`` costs ~60x more, a
    Python loop of joins 2x; sorting the events, in the engine or here, cost more than the rest).
    """
    variant = rows.column("variant").to_numpy()
    steps = np.zeros(int(variant.max()) + 1 if len(variant) else 0, dtype="int64")
    steps[variant] = rows.column("steps").to_numpy()
    starts = np.cumsum(steps) - steps
    place = starts[variant] + rows.column("seq").to_numpy()
    coded = rows.column("step").combine_chunks().dictionary_encode()
    names = np.array(coded.dictionary.to_pylist(), dtype=object)
    codes = np.empty(len(place), dtype="int64")
    codes[place] = coded.indices.to_numpy(zero_copy_only=False)
    pieces = np.array([SEPARATOR + name for name in names], dtype=object)[codes]
    pieces[starts] = names[codes[starts]]
    first = np.empty(len(steps), dtype="int64")  # a row of each variant, for its columns
    first[variant] = np.arange(len(variant))
    out = rows.select(list(columns)).take(first).to_pandas()
    out["path"] = np.add.reduceat(pieces, starts).tolist() if len(starts) else []
    return out


def _by_journeys(frame: pd.DataFrame) -> pd.DataFrame:
    """Most journeys first, ties by step (engines return groups in any order)."""
    ordered = frame.sort_values(["journeys", "step"], ascending=[False, True])
    return ordered.reset_index(drop=True)


def _order(out: pd.DataFrame) -> np.ndarray:
    """The positions of ``out``'s rows, most journeys first, ties by path.

    Paths sorted by Python, then a stable sort by journeys (pandas would factorize the long path
    strings first, at several times the cost).
    """
    spelled = out["path"].tolist()
    by_path = np.array(sorted(range(len(out)), key=spelled.__getitem__), dtype="int64")
    journeys = out["journeys"].to_numpy()[by_path]
    return by_path[np.argsort(-journeys, kind="stable")]


def _paths_result(
    out: pd.DataFrame, top: int | None, total: int | None = None, ordered: bool = False
) -> PathTable:
    """The path table of ``out`` (``ordered``: already in :func:`_order`'s order)."""
    total = out["journeys"].sum() if total is None else total
    out["share"] = out["journeys"] / total if total else 0.0
    if not ordered:
        out = out.iloc[_order(out)]
    if top is not None:
        out = out.head(top)
    out["steps"] = out["steps"].astype("int64")
    return PathTable(
        frame=out[["path", "steps", "journeys", "share", "median_hours"]].reset_index(drop=True)
    )
