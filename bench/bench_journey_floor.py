"""The floor of a journey map on DuckDB: hand-written SQL for what the map and variants compute.

Runs on a workspace written by ``bench_journey.py`` (``--workdir``), in one DuckDB connection with
the settings rox uses (UTC, no insertion-order preservation), and prints the median of each query:

* ``scan``: the bare scan of the issue (events counted by step);
* ``order + lead``: the events ordered per journey, each with its next step, counted per edge;
* ``+ customers``: the same with distinct customers per edge;
* ``+ quantiles``: the same with the exact median and 90th percentile of the time between;
* ``ordered events``: the ordered events materialised once (what ``rox.journey.prepare`` does);
* ``variant keys``: per journey, position-tagged hashes, then grouped into variants.

No rox code runs: this is what any engine-side implementation pays before Python sees a row.

Usage::

    python bench/bench_journey_floor.py /tmp/bj/journey_1000000.duckdb
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb

ORDER = "window w as (partition by journey order by ts, step)"
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
    "variant keys": """
        select k1, k2, n, count(*), median(seconds)
        from (select journey, sum(hash(step || '@' || seq) % 1000000007) as k1,
                     sum(hash(step || '@' || seq) % 998244353) as k2, count(*) as n,
                     max(epoch_s) - min(epoch_s) as seconds
              from ordered group by journey)
        group by all""",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    con = duckdb.connect(args.workspace, read_only=True)
    con.execute("set timezone = 'UTC'; set preserve_insertion_order = false")
    for name, sql in QUERIES.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            con.execute(sql).fetchall()
            times.append(time.perf_counter() - start)
        print(f"{name:>16}: {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
