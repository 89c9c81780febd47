"""The floor of a journey map on DuckDB: hand-written SQL for what the map and variants compute.

Runs on a workspace written by ``bench_journey.py`` (``--workdir``), in one DuckDB connection with
the settings rox uses (UTC, no insertion-order preservation), and prints the median of each query:

* ``scan``: the bare scan of the issue (events counted by step);
* ``order + lead``: the events ordered per journey, each with its next step, counted per edge;
* ``+ customers``: the same with distinct customers per edge;
* ``+ quantiles``: the same with the exact median and 90th percentile of the time between;
* ``ordered events``: the ordered events materialised once (what ``rox.journey.prepare`` does);
* ``ordered events, persisted``: the same written as a table of a database file (a scratch file
  attached next to the workspace's folder), as the journey index keeps them: what ordering once
  costs a persistent index (writing the text columns compressed costs about as much as the
  ordering itself);
* ``variant keys``: per journey, position-tagged hashes, then grouped into variants;
* ``map + variants``: the floor of the map and all variants from raw events, as one script: the
  ordered events materialised once, the edges with customers and quantiles counted on them, and
  the variant keys (the sum of three of the rows above, run back to back);
* ``map + variants, by lists`` (with ``--lists``): the same from one ``GROUP BY journey`` of
  ordered lists (see ``LISTS``): a plan tried for #21 §2, slower than the window's, so not the
  floor;
* ``map + variants, on arrays``: the same results by another plan, not the SQL window's
  (:data:`ARRAYS`, :func:`arrays_map_and_variants`): the events fetched once as Arrow, ordered
  and counted in numpy (#21 §2); its parts are printed after it;
* ``funnel counts``: the benchmark's 5-step ordered funnel (30-day window), journeys per step
  only (no times, no intervals): the events of the five steps read once, then for each step the
  journeys still in the funnel joined to its visits and grouped by journey. It needs no order of
  the events, so it runs on the events as loaded.

No rox code runs: this is what any engine-side implementation pays before Python sees a row.

Usage::

    python bench/bench_journey_floor.py /tmp/bj/journey_1000000.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# rox's order since #21: time, then the order in which the events were recorded
ORDER = "window w as (partition by journey order by ts, _seq)"
EDGES = f"""
select step, next_step, count(*) {{extra}}
from (select customer_id, step, lead(step) over w as next_step,
             epoch(lead(ts) over w) - epoch(ts) as seconds
      from events {ORDER})
where next_step is not null group by all
"""
QUERIES = {
    "scan": "select step, count(*) from events group by step",
    "order + lead": EDGES.format(extra=""),
    "+ customers": EDGES.format(extra=", count(distinct customer_id)"),
    "+ quantiles": EDGES.format(
        extra=", count(distinct customer_id), quantile_cont(seconds, [0.5, 0.9])"
    ),
    "ordered events": f"""
        create or replace temp table ordered as
        select journey, customer_id, ts, epoch(ts) as epoch_s, step, channel,
               row_number() over w - 1 as seq, lead(step) over w as next_step,
               epoch(lead(ts) over w) as next_epoch_s, lead(channel) over w as next_channel
        from events {ORDER}""",
    "ordered events, persisted": f"""
        create or replace table scratch.ordered as
        select journey, customer_id, ts, epoch(ts) as epoch_s, step, channel,
               row_number() over w - 1 as seq, lead(step) over w as next_step,
               epoch(lead(ts) over w) as next_epoch_s, lead(channel) over w as next_channel
        from events {ORDER}""",
    # hashes of (step, position) without building the text step@position per event (#21 §2:
    # 0.09 s instead of 0.16 s for the summary of 1M events, measured)
    "variant keys": """
        select k1, k2, n, count(*), median(seconds)
        from (select journey, sum(hash(step, seq) % 1000000007) as k1,
                     sum(hash(step, seq) % 998244353) as k2, count(*) as n,
                     max(epoch_s) - min(epoch_s) as seconds
              from ordered group by journey)
        group by all""",
}

# map + variants by another plan (#21 §2), kept to show it loses: one GROUP BY journey with the
# steps and times as lists ordered within each journey (an ordered aggregate instead of a window
# over all events), then the edges from adjacent pairs of each list and the variants grouped by
# the lists themselves (their paths spelled from them). Same edges, same 41,294 variants at 1M;
# 3.7x the window plan's time (2.6 s against 0.71 s, 2026-12-07): DuckDB sorts each group's
# list apart, at more cost than one window sort of all the events.
LISTS = [
    """create or replace temp table lists as
        select journey, min(customer_id) as customer_id, list(step order by ts, _seq) as steps,
               list(epoch(ts) order by ts, _seq) as t
        from events group by journey""",
    """select a, b, count(*), count(distinct customer_id), quantile_cont(d, [0.5, 0.9])
        from (select customer_id, unnest(steps[:-2]) as a, unnest(steps[2:]) as b,
                     unnest(t[2:]) - unnest(t[:-2]) as d
              from lists where len(steps) > 1)
        group by all""",
    "select steps, count(*), median(t[-1] - t[1]), min(journey) from lists group by steps",
]


def _funnel_counts(steps: list[str], window_s: int) -> str:
    """Journeys reaching each of ``steps`` in order (each later than the last) within the window."""
    quoted = ", ".join(f"'{s}'" for s in steps)
    stages = [
        f"s0 as (select journey, min(ts) as t, min(epoch(ts)) as e0 from f "
        f"where step = '{steps[0]}' group by journey)"
    ]
    for i, step in enumerate(steps[1:], start=1):
        stages.append(
            f"s{i} as (select p.journey, min(v.ts) as t, p.e0 from s{i - 1} p join f v "
            f"on v.journey = p.journey and v.step = '{step}' and v.ts > p.t "
            f"and epoch(v.ts) - p.e0 <= {window_s} group by p.journey, p.e0)"
        )
    counts = ", ".join(f"(select count(*) from s{i})" for i in range(len(steps)))
    return (
        f"with f as materialized (select journey, step, ts from events where step in ({quoted})), "
        + ", ".join(stages)
        + f" select {counts}"
    )


QUERIES["map + variants"] = ";\n".join(
    [
        QUERIES["ordered events"],
        "select step, next_step, count(*), count(distinct customer_id), "
        "quantile_cont(next_epoch_s - epoch_s, [0.5, 0.9]) from ordered "
        "where next_step is not null group by all",
        QUERIES["variant keys"],
    ]
)

# the funnel of bench_journey.py (FUNNEL there), 30-day window
QUERIES["funnel counts"] = _funnel_counts(
    ["visit_website", "configure", "test_drive", "order", "delivery"], 30 * 86_400
)


# -- the floor on arrays (#21 §2): not the SQL window plan ----------------------------------------
ARRAYS = """
The events' columns fetched once from DuckDB as Arrow (the journey, the customer, ``ts``, DuckDB's
``epoch(ts)``, ``_seq`` and the step), their text factorized into integer codes
(``pyarrow.compute.dictionary_encode``), the events ordered by Arrow's ``sort_indices`` on (journey
code, ``ts``, ``_seq``) (``numpy.lexsort``: twice the time), and then, on the ordered arrays:

* the transitions as pair codes (``step * K + next_step``) counted by ``numpy.bincount``; the
  distinct customers per pair by sorting (pair, customer code) keys (``numpy.unique``: 10x the
  time of a sort); the median and 90th percentile of the seconds between, per pair,
  interpolated as DuckDB's ``quantile_cont`` does (``lo * (1 - f) + hi * f``,
  ``f = rn - floor(rn)``, ``rn = (n - 1) * q``) on the values sorted by (pair, seconds) (a sort
  of the seconds, then a stable radix sort of the 16-bit pair codes);
* each step's events, starts, ends and transitions tied in time, by ``numpy.bincount``;
* the variants exactly (no hash): round by round, each journey's prefix numbered from the number
  of its shorter prefix and its next steps packed into one integer (the rank of that key over
  the journeys still that long); journeys left when few remain are numbered by the bytes of
  their remaining steps. A variant is then (length, number of the whole sequence); its path is
  spelled from one of its journeys.
"""

SEP = " > "
_HOUR = 3600.0
#: Below this many journeys still as long as the position, number their remaining steps by bytes.
_TAIL = 64

ARRAYS_FETCH = """
select coalesce(journey, customer_id) as journey_id, customer_id, ts, epoch(ts) as epoch_s, _seq,
       step
from events
"""


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a text column (by first appearance) and the values they stand for."""
    coded = pc.dictionary_encode(column).combine_chunks()
    return coded.indices.to_numpy(zero_copy_only=False), coded.dictionary


def _by_group(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Positions of ``values`` sorted by (group, value): a sort, then a stable (radix) one."""
    by_value = np.argsort(values)
    g = groups[by_value]
    if len(g) and int(g.max()) < 2**16:
        g = g.astype(np.uint16)
    return by_value[np.argsort(g, kind="stable")]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, by a sort (``numpy.unique`` costs 10x as much)."""
    v = np.sort(values)
    new = np.ones(len(v), dtype=bool)
    new[1:] = v[1:] != v[:-1]
    return v[new]


def _dense(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values."""
    order = np.argsort(values)
    v = values[order]
    new = np.ones(len(v), dtype=np.int64)
    new[1:] = v[1:] != v[:-1]
    out = np.empty(len(values), dtype=np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def _quantiles(values: np.ndarray, groups: np.ndarray, n: int, qs: tuple[float, ...]) -> list:
    """Per group (0..n-1) each ``q`` quantile of ``values``, interpolated as ``quantile_cont``."""
    v = values[_by_group(values, groups)]
    sizes = np.bincount(groups, minlength=n)
    has = sizes > 0
    first = (np.cumsum(sizes) - sizes)[has]
    out = []
    for q in qs:
        rn = (sizes[has] - 1) * q
        lo = np.floor(rn).astype(np.int64)
        hi = np.ceil(rn).astype(np.int64)
        a, b = v[first + lo], v[first + hi]
        result = np.full(n, np.nan)
        f = rn - lo
        result[has] = np.where(lo == hi, a, a * (1.0 - f) + b * f)
        out.append(result)
    return out


def _variant_numbers(step: np.ndarray, start: np.ndarray, length: np.ndarray, k: int) -> np.ndarray:
    """Per journey, a number shared by exactly the journeys of the same sequence of steps.

    Round by round, each journey still as long as the round's first position gets a number for
    its prefix so far: the rank of (its number from the round before, its next ``width`` steps
    packed into one integer, each as ``code + 1`` so that 0 marks the end of a shorter journey).
    Journeys of one length get their last number in the same round, from the same ranking:
    (length, number) tells their sequences apart exactly. When few journeys remain
    (``_TAIL``), each is numbered by the bytes of its remaining steps instead.
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
        if alive <= _TAIL:
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
        number[journeys] = _dense(key)
        position += width
    return _dense(length * (n + 1) + number)


def arrays_map_and_variants(
    con: duckdb.DuckDBPyConnection, sort: str = "numpy", parts: dict[str, float] | None = None
) -> dict[str, pd.DataFrame]:
    """The floor on arrays: the map's transitions and steps and all variants (see ARRAYS).

    ``sort="duckdb"``: the events fetched ordered (``ORDER BY journey_id, ts, _seq``) instead of
    ordered here. ``parts``: each part's seconds are added there.
    """
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        if parts is not None:
            parts[name] = parts.get(name, 0.0) + now - clock[0]
        clock[0] = now

    if sort == "duckdb":
        t = con.execute(ARRAYS_FETCH + " order by journey_id, ts, _seq").to_arrow_table()
    else:
        t = con.execute(ARRAYS_FETCH).to_arrow_table()
    lap("fetch")
    journey, _ = _codes(t.column("journey_id"))
    customer, _ = _codes(t.column("customer_id"))
    step, names = _codes(t.column("step"))
    us = t.column("ts").combine_chunks().cast(pa.int64()).to_numpy()
    epoch = t.column("epoch_s").to_numpy()  # DuckDB's own seconds: durations to the bit
    seq = t.column("_seq").to_numpy()
    del t
    lap("codes")
    if sort != "duckdb":
        keys = pa.table({"j": journey, "t": us, "s": seq})
        by = [("j", "ascending"), ("t", "ascending"), ("s", "ascending")]
        order = pc.sort_indices(keys, sort_keys=by).to_numpy()
        journey, customer, step = journey[order], customer[order], step[order]
        us, epoch = us[order], epoch[order]
    lap("sort")
    k = len(names)
    n = len(journey)
    follows = journey[1:] == journey[:-1]  # event i+1 is in event i's journey
    first = np.ones(n, dtype=bool)
    first[1:] = ~follows
    last = np.ones(n, dtype=bool)
    last[:-1] = ~follows

    # transitions
    src, dst = step[:-1][follows], step[1:][follows]
    pair = src.astype(np.int64) * k + dst
    seconds = (epoch[1:] - epoch[:-1])[follows]
    count = np.bincount(pair, minlength=k * k)
    c = int(customer.max()) + 1
    pairs = _distinct(pair * c + customer[:-1][follows]) // c
    customers = np.bincount(pairs, minlength=k * k)
    median, p90 = _quantiles(seconds, pair, k * k, (0.5, 0.9))
    seen = np.flatnonzero(count)
    text = np.asarray(names.to_pylist(), dtype=object)
    edges = pd.DataFrame(
        {
            "source": text[seen // k],
            "target": text[seen % k],
            "transitions": count[seen],
            "customers": customers[seen],
            "median_hours": median[seen] / _HOUR,
            "p90_hours": p90[seen] / _HOUR,
        }
    )
    lap("edges")
    tied = np.zeros(n, dtype=bool)
    tied[:-1] = follows & (us[1:] == us[:-1])
    steps = pd.DataFrame(
        {
            "step": text,
            "events": np.bincount(step, minlength=k),
            "starts": np.bincount(step[first], minlength=k),
            "ends": np.bincount(step[last], minlength=k),
            "tied": np.bincount(step[tied], minlength=k),
        }
    )

    lap("steps")
    # variants
    start = np.flatnonzero(first)
    length = np.diff(np.append(start, n))
    number = _variant_numbers(step, start, length, k)
    m = int(number.max()) + 1 if len(number) else 0
    lap("variant numbers")
    duration = np.maximum.reduceat(epoch, start) - np.minimum.reduceat(epoch, start)
    journeys = np.bincount(number, minlength=m)
    example = np.empty(m, dtype=np.int64)
    example[number] = np.arange(len(number))  # one journey of each (any spells it)
    vlength = length[example]
    offset = np.cumsum(vlength) - vlength
    where = np.repeat(start[example] - offset, vlength) + np.arange(int(vlength.sum()))
    codes = step[where]
    pieces = np.array([SEP + s for s in text], dtype=object)[codes]
    pieces[offset] = text[codes[offset]]
    variants = pd.DataFrame(
        {
            "path": np.add.reduceat(pieces, offset).tolist() if m else [],
            "steps": vlength,
            "journeys": journeys,
            "median_hours": _quantiles(duration, number, m, (0.5,))[0] / _HOUR,
        }
    )
    lap("variants spelled")
    return {"edges": edges, "steps": steps, "variants": variants}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--lists",
        action="store_true",
        help="also time map + variants by ordered lists (LISTS; an ordered aggregate does not "
        "spill to disk: at 10M events it may run out of memory)",
    )
    args = parser.parse_args(argv)
    queries = {**QUERIES, "map + variants, by lists": ";\n".join(LISTS)} if args.lists else QUERIES
    # the workspace attached read-only to an in-memory connection, which can attach the scratch
    # file writable (a read-only connection attaches every database read-only)
    con = duckdb.connect()
    con.execute(f"attach '{args.workspace}' as ws (read_only); use ws")
    con.execute("set timezone = 'UTC'; set preserve_insertion_order = false")
    scratch = tempfile.TemporaryDirectory(prefix="rox-floor-", dir=Path(args.workspace).parent)
    con.execute(f"attach '{Path(scratch.name) / 'scratch.duckdb'}' as scratch")
    for name, sql in queries.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for part in sql.split(";\n"):
                con.execute(part).fetchall()
            times.append(time.perf_counter() - start)
        print(f"{name:>26}: {statistics.median(times):.3f} s")
    times, parts = [], {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        arrays_map_and_variants(con, parts=parts)
        times.append(time.perf_counter() - start)
    print(f"map + variants, on arrays: {statistics.median(times):.3f} s")
    for name, total in parts.items():
        print(f"  {name}: {total / args.repeats:.3f} s (mean)")
    con.close()
    scratch.cleanup()


if __name__ == "__main__":
    main()
