"""Journeys as arrays: the map and the variants of an in-process engine's events, ordered in numpy.

On DuckDB, the map and the variants of journeys not yet ordered (no journey index, nothing kept by
the session), of up to :data:`MAX_EVENTS` events, are computed from the events fetched once as
arrays, instead of by ordering them in the engine with a window (#21 §2: at 1M events 0.65 s
against 1.55 s; at 10M 21.5 s against 8.9 s, hence the bound). The results are those of the
engine's plan (:func:`rox.journey.maps.edge_table`, :func:`~rox.journey.maps.step_table`,
:func:`~rox.journey.maps.variant_table`), to the bit: the same order of a journey's events, the
same durations and the same interpolated quantiles.

Method
------
1. One query fetches the kept rows of the query (:meth:`JourneyQuery.kept_rows`) as Arrow: the
   journey's id, the customer, ``ts``, the engine's own seconds since 1970
   (:meth:`Engine.epoch_seconds <rox.engines.Engine.epoch_seconds>`, which every duration is a
   difference of, as in the engine), the recorded order ``_seq``, and the step.
2. The text columns become integer codes (Arrow's dictionary encoding, by first appearance;
   the three columns in threads, since Arrow releases the GIL).
3. The events are ordered by (journey, ``ts``, ``_seq``) (Arrow's ``sort_indices``, half the
   time of ``numpy.lexsort``): the journey's events in time, ties in the order recorded
   (:func:`~rox.journey.events.recorded_order`).
4. Transitions are pairs of adjacent events of one journey, coded ``step * K + next_step``
   (``K`` steps) and counted by ``numpy.bincount``; the distinct customers of each pair by
   sorting (pair, customer) codes; the median and 90th percentile of the seconds between,
   per pair, on the seconds sorted within their pair, interpolated as the engine's
   ``percentile_cont`` does: ``lo * (1 - f) + hi * f``, ``f = r - floor(r)`` at rank
   ``r = (n - 1) q`` (the other spelling, ``lo + (hi - lo) * f``, differs in the last bit).
5. Each step's events, journeys started and ended, and transitions to an event of the same
   ``ts`` (tied in time), by ``numpy.bincount``.
6. Variants are numbered exactly (no hash): a few positions at a time, each journey's prefix
   is numbered from the number of its shorter prefix and its next steps packed into one
   integer (:func:`_variant_numbers`); once few journeys remain (:data:`_FEW`), each is
   numbered by the bytes of its remaining steps, so that one long journey costs no loop per
   event. A variant is then (length, number);
   its duration median is interpolated as above, its example is its journey of lowest id, and
   its path is spelled from one of its journeys.

The arrays are kept by the workspace's session (as the engine's ordering is,
:func:`~rox.journey.events.session_journeys`): the variants after the map fetch nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rox.journey.events import (
    JourneyQuery,
    Journeys,
    events_now,
    indexed_journeys,
    journeys_of,
    kept_journeys,
    session_journeys,
)
from rox.schema import SEQ_COLUMN

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from rox.workspace import Workspace

__all__ = ["EventArrays", "journeys_or_arrays"]

_HOUR = 3600.0
SEPARATOR = " > "
#: Once this few journeys are as long as the position reached, number their remaining steps
#: by their bytes (a loop over journeys) rather than position by position.
_FEW = 64
#: The key under which a workspace's session keeps the arrays of the journeys mapped last.
SESSION_KEY = "journey.arrays"
#: The text columns of the fetched rows turned into integer codes.
_CODED = ("journey_id", "customer_id", "step")
#: The most events the arrays are fetched for. Measured on the benchmark's log (#21 §2, 2026-12-07,
#: docs/benchmarks.md): at 1M events the map and the variants took 0.65 s on arrays against 1.55 s
#: in the engine; at 10M, 21.5 s against 8.9 s (Arrow's dictionary encoding and sort, and numpy's
#: sorts, do not scale as DuckDB's two threads do). The crossover between is not measured.
MAX_EVENTS = 2_000_000


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a text column (by first appearance) and the values they stand for."""
    coded = pc.dictionary_encode(column).combine_chunks()
    return coded.indices.to_numpy(zero_copy_only=False), coded.dictionary


def _by_group(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The positions of ``values`` sorted by (group, value).

    The values sorted first (numpy's sort of ``int64``/``float64`` is vectorised), then a stable
    sort by group, which for fewer than 65,536 groups sorts 16-bit codes in linear time (radix).
    ``numpy.lexsort`` took twice as long (0.151 s against 0.074 s for 850k transitions).
    """
    by_value = np.argsort(values)
    ordered_groups = groups[by_value]
    if len(ordered_groups) and int(ordered_groups.max()) < 2**16:
        ordered_groups = ordered_groups.astype(np.uint16)
    return by_value[np.argsort(ordered_groups, kind="stable")]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, sorted.

    By a sort and a comparison of neighbours: ``numpy.unique`` cost 10x a sort (0.42 s against
    0.04 s for 850k ``int64``, numpy 2.4, measured).
    """
    ordered = np.sort(values)
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    return ordered[new]


def _dense_numbers(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct ``values`` (``0 ..``): equal values, equal numbers."""
    order = np.argsort(values)
    ordered = values[order]
    new = np.ones(len(ordered), dtype=np.int64)
    new[1:] = ordered[1:] != ordered[:-1]
    numbers = np.empty(len(values), dtype=np.int64)
    numbers[order] = np.cumsum(new) - 1
    return numbers


def quantile_cont(
    values: np.ndarray, groups: np.ndarray, n: int, qs: Sequence[float]
) -> list[np.ndarray]:
    """For each ``q`` of ``qs``, the ``q`` quantile of ``values`` in each group ``0 .. n - 1``.

    NaN for an empty group. Interpolated as SQL's ``percentile_cont`` (DuckDB's, to the bit):
    ``lo * (1 - f) + hi * f``, where ``lo`` and ``hi`` are the group's sorted values at ranks
    ``floor(r)`` and ``ceil(r)``, ``r = (size - 1) q`` and ``f = r - floor(r)``. One sort of the
    values by (group, value) serves every ``q``.
    """
    ordered = values[_by_group(values, groups)]
    sizes = np.bincount(groups, minlength=n)
    has = sizes > 0
    first = (np.cumsum(sizes) - sizes)[has]
    out = []
    for q in qs:
        rank = (sizes[has] - 1) * q
        low = np.floor(rank).astype(np.int64)
        high = np.ceil(rank).astype(np.int64)
        lo, hi = ordered[first + low], ordered[first + high]
        result = np.full(n, np.nan)
        fraction = rank - low
        result[has] = np.where(low == high, lo, lo * (1.0 - fraction) + hi * fraction)
        out.append(result)
    return out


def _variant_numbers(step: np.ndarray, start: np.ndarray, length: np.ndarray, k: int) -> np.ndarray:
    """Per journey, a number shared by exactly the journeys of the same sequence of steps.

    Round by round, each journey still as long as the round's first position gets a number for
    its prefix so far: the rank of (its number from the round before, its next ``width`` steps
    packed into one integer, each as ``code + 1`` so that 0 marks the end of a shorter journey).
    Journeys of one length get their last number in the same round, from the same ranking:
    (length, number) tells their sequences apart exactly. When few journeys remain
    (:data:`_FEW`), each is numbered by the bytes of its remaining steps instead.
    """
    n, events = len(start), len(step)
    bits = max(int(k).bit_length(), 1)
    width = max((62 - max(n, 1).bit_length()) // bits, 1)  # (number << width * bits) < 2**62
    longest_first = np.argsort(-length, kind="stable")  # those longer than p: a prefix of it
    ascending = np.sort(length)
    number = np.zeros(n, dtype=np.int64)
    position = 0
    while True:
        alive = n - int(np.searchsorted(ascending, position, side="right"))
        if alive == 0:
            break
        journeys = longest_first[:alive]
        first, size = start[journeys], length[journeys]
        if alive <= _FEW:
            names: dict[bytes, int] = {}
            for j in journeys.tolist():
                rest = step[start[j] + position : start[j] + length[j]].tobytes()
                number[j] = names.setdefault(number[j : j + 1].tobytes() + rest, len(names))
            break
        key = number[journeys]
        for offset in range(position, position + width):
            inside = offset < size
            code = step[np.minimum(first + offset, events - 1)].astype(np.int64) + 1
            key = (key << bits) | np.where(inside, code, 0)
        number[journeys] = _dense_numbers(key)
        position += width
    return _dense_numbers(length * (n + 1) + number)


@dataclass(eq=False)
class EventArrays:
    """The events of one query's journeys, ordered, as arrays (see the module docstring).

    Attributes
    ----------
    names : numpy.ndarray
        The steps' names (objects), by code.
    step, customer : numpy.ndarray
        Each event's step and customer codes, in journey order.
    ts_us : numpy.ndarray
        Each event's ``ts`` in microseconds since 1970.
    epoch_s : numpy.ndarray
        Each event's seconds since 1970, as the engine computes them.
    start : numpy.ndarray
        The position of each journey's first event.
    journey : numpy.ndarray
        Each journey's code (in the order of ``start``), into ``journey_names``.
    journey_names : pyarrow.Array
        The journeys' ids, by code.
    """

    names: np.ndarray
    step: np.ndarray
    customer: np.ndarray
    ts_us: np.ndarray
    epoch_s: np.ndarray
    start: np.ndarray
    journey: np.ndarray
    journey_names: pa.Array
    _done: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_rows(cls, rows: pa.Table) -> EventArrays:
        """Order ``rows`` (``journey_id, customer_id, ts, epoch_s, _seq, step``) by journey."""
        # Arrow's encoding releases the GIL: the three columns are encoded side by side
        with ThreadPoolExecutor(max_workers=3) as pool:
            coded = list(pool.map(_codes, (rows.column(c) for c in _CODED)))
        (journey, journey_names), (customer, _), (step, names) = coded
        ts_us = rows.column("ts").combine_chunks().cast(pa.int64()).to_numpy()
        epoch_s = rows.column("epoch_s").to_numpy()
        keys = pa.table({"j": journey, "ts": ts_us, "seq": rows.column(SEQ_COLUMN)})
        by = [("j", "ascending"), ("ts", "ascending"), ("seq", "ascending")]
        order = pc.sort_indices(keys, sort_keys=by).to_numpy()
        journey = journey[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = journey[1:] != journey[:-1]
        start = np.flatnonzero(first)
        return cls(
            names=np.asarray(names.to_pylist(), dtype=object),
            step=step[order],
            customer=customer[order],
            ts_us=ts_us[order],
            epoch_s=epoch_s[order],
            start=start,
            journey=journey[start],
            journey_names=journey_names,
        )

    @property
    def _follows(self) -> np.ndarray:
        """For each event but the last, whether the next one is of the same journey."""
        follows = np.ones(max(len(self.step) - 1, 0), dtype=bool)
        follows[self.start[1:] - 1] = False
        return follows

    def edges(self) -> pd.DataFrame:
        """:func:`~rox.journey.maps.edge_table`, computed here (see the module docstring)."""
        k = len(self.names)
        follows = self._follows
        pair = self.step[:-1][follows].astype(np.int64) * k + self.step[1:][follows]
        seconds = (self.epoch_s[1:] - self.epoch_s[:-1])[follows]
        count = np.bincount(pair, minlength=k * k)
        c = int(self.customer.max()) + 1 if len(self.customer) else 1
        distinct = _distinct(pair * c + self.customer[:-1][follows]) // c
        seen = np.flatnonzero(count)
        median, p90 = quantile_cont(seconds, pair, k * k, (0.5, 0.9))
        return pd.DataFrame(
            {
                "source": self.names[seen // k],
                "target": self.names[seen % k],
                "transitions": count[seen],
                "customers": np.bincount(distinct, minlength=k * k)[seen],
                "median_hours": median[seen] / _HOUR,
                "p90_hours": p90[seen] / _HOUR,
            }
        )

    def steps(self) -> pd.DataFrame:
        """:func:`~rox.journey.maps.step_table`, computed here."""
        k, n = len(self.names), len(self.step)
        last = np.zeros(n, dtype=bool)
        last[self.start[1:] - 1] = True
        last[-1:] = True
        tied = np.zeros(n, dtype=bool)
        tied[:-1] = self._follows & (self.ts_us[1:] == self.ts_us[:-1])
        return pd.DataFrame(
            {
                "step": self.names,
                "events": np.bincount(self.step, minlength=k),
                "starts": np.bincount(self.step[self.start], minlength=k),
                "ends": np.bincount(self.step[last], minlength=k),
                "tied": np.bincount(self.step[tied], minlength=k),
            }
        )

    def variants(self) -> tuple[np.ndarray, np.ndarray]:
        """Each journey's variant number (``0 ..``) and one journey of each variant."""
        if "variants" not in self._done:
            length = np.diff(np.append(self.start, len(self.step)))
            number = _variant_numbers(self.step, self.start, length, len(self.names))
            one = np.empty(int(number.max()) + 1 if len(number) else 0, dtype=np.int64)
            one[number] = np.arange(len(number))  # (any of them spells the variant)
            self._done["variants"] = (number, one)
        done: tuple[np.ndarray, np.ndarray] = self._done["variants"]
        return done

    def variant_frame(self, top: int | None) -> pd.DataFrame:
        """:func:`~rox.journey.maps.variant_table`, its ``top`` kept, each variant's path spelled.

        Columns ``path, steps, journeys, median_hours, total``, in no order. ``top``: the variants
        of most journeys, ties broken by the lowest journey id (the engine's example), as
        :func:`rox.journey.maps.variants` keeps them.
        """
        number, first = self.variants()
        m = len(first)
        length = np.diff(np.append(self.start, len(self.step)))
        journeys = np.bincount(number, minlength=m)
        # first to last event, as the engine's max - min
        duration = np.maximum.reduceat(self.epoch_s, self.start) - np.minimum.reduceat(
            self.epoch_s, self.start
        )
        (median,) = quantile_cont(duration, number, m, (0.5,))
        if top is None or top >= m:
            kept = np.arange(m)
        else:
            kept = self._top(number, journeys, top) if top > 0 else np.arange(0)
        example = self.start[first[kept]]
        size = length[first[kept]]
        offset = np.cumsum(size) - size
        where = np.repeat(example - offset, size) + np.arange(int(size.sum()))
        codes = self.step[where]
        pieces = np.array([SEPARATOR + name for name in self.names], dtype=object)[codes]
        pieces[offset] = self.names[codes[offset]]
        return pd.DataFrame(
            {
                "path": np.add.reduceat(pieces, offset).tolist() if len(kept) else [],
                "steps": size.astype(np.int64),
                "journeys": journeys[kept],
                "median_hours": median[kept] / _HOUR,
                "total": len(number),
            }
        )

    def _top(self, number: np.ndarray, journeys: np.ndarray, top: int) -> np.ndarray:
        """The ``top`` variants by journeys, ties at the cut broken by their lowest journey id."""
        by_count = np.argsort(-journeys, kind="stable")
        cut = journeys[by_count[top - 1]]
        above = by_count[journeys[by_count] > cut]
        tied = np.flatnonzero(journeys == cut)
        if len(above) + len(tied) == top:
            return np.concatenate([above, tied])
        # the lowest id of each tied variant's journeys, compared as text (as the engine does)
        of_tied = np.flatnonzero(np.isin(number, tied))
        ids = self.journey_names.take(pa.array(self.journey[of_tied])).to_pylist()
        lowest = pd.Series(ids).groupby(number[of_tied]).min()
        chosen = lowest.sort_values(kind="stable").index.to_numpy()[: top - len(above)]
        return np.concatenate([above, chosen])


@dataclass(frozen=True)
class _Kept:
    """Arrays kept by the workspace's session, and what they came from."""

    query: str
    state: tuple[int, int]
    arrays: EventArrays


def fetch_arrays(ws: Workspace, query: JourneyQuery) -> EventArrays | None:
    """The events of ``query``'s journeys as :class:`EventArrays`.

    None if there are none, or if a value is missing (ingestion requires a customer, a time and
    a step; rows written otherwise may lack one): the engine's plan then says what they mean.
    """
    rows = query.with_journey_id(query.kept_rows(ws.require_rows("events")))
    rows = rows.select(
        "journey_id",
        "customer_id",
        "ts",
        SEQ_COLUMN,
        "step",
        epoch_s=ws.engine.epoch_seconds(rows.ts),
    ).to_pyarrow()
    if not rows.num_rows or any(rows.column(c).null_count for c in rows.column_names):
        return None
    return EventArrays.from_rows(rows)


def journeys_or_arrays(
    source: Workspace | Journeys, query: JourneyQuery | None, options: Mapping[str, Any]
) -> Journeys | EventArrays:
    """What the map and the variants run on: journeys ordered by the engine, or arrays.

    Journeys prepared, indexed, or kept by the session are used as they are
    (:func:`~rox.journey.events.journeys_of`); so are the engine's for a query that splits
    journeys by time or position (``gap``, ``start``, ``end``, ``collapse``), on an engine that
    is not in this process, for events without their recorded order, and for more than
    :data:`MAX_EVENTS` events. Otherwise the events
    are fetched as arrays (or the arrays the session kept for the same query and events are
    reused), and kept by the session in place of the last ones.
    """
    if isinstance(source, Journeys):
        return journeys_of(source, query, options)
    ws, resolved = source, JourneyQuery.resolve(query, options)
    if not (
        ws.engine.in_process and resolved.row_wise and SEQ_COLUMN in ws.table("events").columns
    ):
        return session_journeys(ws, resolved)
    indexed = indexed_journeys(ws, resolved)
    if indexed is not None:
        return indexed
    state = events_now(ws)
    ordered = kept_journeys(ws, resolved, state)
    if ordered is not None:
        return ordered
    if state[1] > MAX_EVENTS:
        return session_journeys(ws, resolved)
    kept = ws.session.get(SESSION_KEY)
    if isinstance(kept, _Kept) and kept.query == resolved.key() and kept.state == state:
        return kept.arrays
    ws.session.pop(SESSION_KEY, None)  # one copy at most: the old one goes first
    arrays = fetch_arrays(ws, resolved)
    if arrays is None:
        return session_journeys(ws, resolved)
    ws.session[SESSION_KEY] = _Kept(resolved.key(), state, arrays)
    return arrays
