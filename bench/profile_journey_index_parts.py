"""What each part of the journey index's build costs, in hand-written DuckDB SQL (#21 §2).

No rox code runs: each statement is one way to write (or aggregate) the index's ordered events,
so that the parts of the build can be weighed against the floor of ordering the events once
(``bench_journey_floor.py``'s ``ordered events``). On a copy of a workspace of
``bench_journey.py`` (``journey_<n>.duckdb``), with rox's settings (UTC, no insertion order,
2 GB), each statement is run ``--repeats`` times; the median wall time and the median CPU
seconds of the process (``resource.getrusage``: DuckDB's threads included) are printed.

The statements:

* ``floor ...``: the floor's ordering, into a temporary table (in memory) and into the file;
* ``rox numbered ...``: the index's events as rox writes them (steps and channels as ``ENUM``,
  journeys numbered by a join to their ids), into a temporary table and into the file;
  ``unnumbered``: the same keeping the text ids; ``narrow``: without ``epoch_s``,
  ``next_epoch_s`` and ``is_last`` (columns computable from the others as they are read);
  ``numbered before window``: the ids joined to the events before the window;
* ``copy temp->file ...``: the ordered events (``rox numbered, temp``) copied into the file,
  all columns or some: what writing each kind of column costs, without the ordering;
* ``summary``, ``edges``, ``steps``: the index's aggregates, from the file's copy or from the
  temporary table, and variants of them (without the distinct customers, without the
  quantiles, the two quantiles as one list quantile, the variant keys hashed otherwise or not
  at all); ``ids``: the journeys numbered in the order of their ids.

Usage::

    flock /tmp/rox-bench.lock python bench/profile_journey_index_parts.py \\
        /tmp/bj/journey_1000000.duckdb --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

#: The window of rox's index (the whole journey as frame, as Ibis writes it).
WINDOW = (
    "window w as (partition by journey_id order by ts, _seq "
    "rows between unbounded preceding and unbounded following)"
)
#: The index's events as rox writes them (``{kept}``: the events, steps and channels coded).
ROX = """select customer_id, ts, epoch(ts) as epoch_s, step, channel,
  row_number() over w - 1 as seq, lead(step) over w as next_step, lead(ts) over w as next_ts,
  lead(epoch(ts)) over w as next_epoch_s, lead(channel) over w as next_channel,
  count(*) over w as n_events, lead(step) over w is null as is_last, journey_id
  from {kept} """
NARROW = """select customer_id, ts, step, channel, row_number() over w - 1 as seq,
  lead(step) over w as next_step, lead(ts) over w as next_ts, lead(channel) over w as next_channel,
  count(*) over w as n_events, journey_id from {kept} """
FLOOR = """select journey, customer_id, ts, epoch(ts) as epoch_s, step, channel,
  row_number() over w - 1 as seq, lead(step) over w as next_step,
  epoch(lead(ts) over w) as next_epoch_s, lead(channel) over w as next_channel
  from events window w as (partition by journey order by ts, _seq)"""
SUMMARY = """select journey_id, min(customer_id), count(*), max(epoch_s) - min(epoch_s){keys}
  from {table} group by 1"""
KEYS = """, sum(hash(cast(step as varchar), seq) % 1000000007),
  sum(hash(cast(step as varchar), seq) % 998244353)"""
EDGES = """select step, next_step, count(*){customers}{quantiles}
  from {table} where next_step is not null group by 1, 2"""
QUANTILES = """, quantile_cont(next_epoch_s - epoch_s, 0.5),
  quantile_cont(next_epoch_s - epoch_s, 0.9)"""
CUSTOMERS = ", count(distinct customer_id)"


def _numbered(select: str) -> str:
    return (
        f"select o.* exclude (journey_id), ids._number as journey_id "
        f"from ({select}) o join ids using (journey_id)"
    )


def statements(kept: str) -> dict[str, str]:
    """Name -> statement, run in this order (later ones read tables of earlier ones)."""
    rox, narrow = ROX.format(kept=kept) + WINDOW, NARROW.format(kept=kept) + WINDOW
    numbered_first = NARROW.format(
        kept=f"(select k.* exclude (journey_id), ids._number as journey_id from {kept} k "
        "join ids using (journey_id))"
    )
    return {
        "floor, temp": f"create or replace temp table f as {FLOOR}",
        "floor, persisted": f"create or replace table fp as {FLOOR}",
        "rox numbered, temp": f"create or replace temp table t as {_numbered(rox)}",
        "rox numbered, persisted": f"create or replace table p as {_numbered(rox)}",
        "rox unnumbered, temp": f"create or replace temp table tu as {rox}",
        "rox unnumbered, persisted": f"create or replace table pu as {rox}",
        "narrow numbered, temp": f"create or replace temp table tn as {_numbered(narrow)}",
        "narrow numbered, persisted": f"create or replace table pn as {_numbered(narrow)}",
        "numbered before window, persisted": (
            f"create or replace table pb as {numbered_first}{WINDOW}"
        ),
        "copy temp->file, all": "create or replace table c1 as select * from t",
        "copy temp->file, no epoch_s/next_epoch_s/is_last": (
            "create or replace table c2 as select * exclude (epoch_s, next_epoch_s, is_last) from t"
        ),
        "copy temp->file, no customer_id": (
            "create or replace table c3 as select * exclude (customer_id) from t"
        ),
        "copy temp->file, integers and codes only": (
            "create or replace table c4 as select journey_id, seq, step, channel, next_step, "
            "next_channel, n_events from t"
        ),
        "copy temp->file, ts and next_ts only": (
            "create or replace table c5 as select ts, next_ts from t"
        ),
        "copy temp->file, epoch_s and next_epoch_s only": (
            "create or replace table c6 as select epoch_s, next_epoch_s from t"
        ),
        "copy temp->file, customer_id only": (
            "create or replace table c7 as select customer_id from t"
        ),
        "summary, from file": "create or replace temp table s1 as "
        + SUMMARY.format(keys=KEYS, table="p"),
        "summary, from temp": "create or replace temp table s2 as "
        + SUMMARY.format(keys=KEYS, table="t"),
        "summary, from file, persisted": "create or replace table s3 as "
        + SUMMARY.format(keys=KEYS, table="p"),
        "summary, keys hashing the ENUM code": "create or replace temp table s4 as "
        + SUMMARY.format(keys=KEYS.replace("cast(step as varchar)", "step"), table="p"),
        "summary, no keys": "create or replace temp table s5 as "
        + SUMMARY.format(keys="", table="p"),
        "edges, from file": "create or replace temp table e1 as "
        + EDGES.format(customers=CUSTOMERS, quantiles=QUANTILES, table="p"),
        "edges, from temp": "create or replace temp table e2 as "
        + EDGES.format(customers=CUSTOMERS, quantiles=QUANTILES, table="t"),
        "edges, no customers": "create or replace temp table e3 as "
        + EDGES.format(customers="", quantiles=QUANTILES, table="p"),
        "edges, no quantiles": "create or replace temp table e4 as "
        + EDGES.format(customers=CUSTOMERS, quantiles="", table="p"),
        "edges, one list quantile": "create or replace temp table e5 as "
        + EDGES.format(
            customers=CUSTOMERS,
            quantiles=", quantile_cont(next_epoch_s - epoch_s, [0.5, 0.9])",
            table="p",
        ),
        "steps, from file": """create or replace temp table st as
            select step, count(*), count(*) filter (where seq = 0),
                   count(*) filter (where is_last), count(*) filter (where ts = next_ts)
            from p group by 1""",
        "ids": """create or replace temp table ids as
            select journey_id, row_number() over (order by journey_id) - 1 as _number
            from (select distinct coalesce(journey, customer_id) as journey_id from events)""",
    }


def cpu() -> float:
    """CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rox-parts-", dir=args.workspace.parent) as folder:
        copy = Path(folder) / "workspace.duckdb"
        shutil.copy(args.workspace, copy)
        con = duckdb.connect(str(copy))
        con.execute("set timezone = 'UTC'; set preserve_insertion_order = false")
        con.execute("set memory_limit = '2GB'")

        def enum(column: str) -> str:
            rows = con.execute(
                f"select distinct {column} from events where {column} is not null order by 1"
            ).fetchall()
            return "ENUM(" + ", ".join("'" + r[0].replace("'", "''") + "'" for r in rows) + ")"

        kept = (
            f"(select * replace (cast(step as {enum('step')}) as step, "
            f"cast(channel as {enum('channel')}) as channel), "
            "coalesce(journey, customer_id) as journey_id from events)"
        )
        todo = statements(kept)
        con.execute(todo.pop("ids"))  # the numbered statements join the ids
        todo["ids"] = statements(kept)["ids"]
        for name, sql in todo.items():
            walls, cpus = [], []
            for _ in range(args.repeats):
                c0, w0 = cpu(), time.perf_counter()
                con.execute(sql).fetchall()
                walls.append(time.perf_counter() - w0)
                cpus.append(cpu() - c0)
            wall, cpu_s = statistics.median(walls), statistics.median(cpus)
            print(f"{name:>50}: {wall:.3f} s wall, {cpu_s:.2f} CPU-s", flush=True)
        con.close()


if __name__ == "__main__":
    main()
