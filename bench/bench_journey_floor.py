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
    con.close()
    scratch.cleanup()


if __name__ == "__main__":
    main()
