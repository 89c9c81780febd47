"""Benchmark: the friction table (``rox.journey.friction``) against the same table in bare SQL.

Runs on the workspaces ``bench_journey.py`` writes (``--workdir``: ``journey_<n>.duckdb`` and its
indexed copy ``journey_<n>_indexed.duckdb``), in one run, interleaved, after one warm-up each:

* ``rox``: ``rox.journey.friction(ws, goal=GOAL, value="revenue")`` on the workspace as loaded
  (the journeys are ordered by the analysis itself), end to end to its pandas frame;
* ``rox indexed``: the same on the copy with the journey index (the journeys ordered at load);
* ``bare``: hand-written DuckDB SQL over the ``events`` table that computes the same per-step
  columns (journeys reaching the step, exits, journeys going on and those of them reaching the goal,
  loops, events, repeated contacts within 7 days, median wait to the next event, the customers
  whose journeys end at the step without the goal and their revenue), with its own ordering of
  each journey: what the table costs with no library at all.

The goal is the one rox picks by default on this data (``survey``), given to both, and so is
``value="revenue"`` (the benchmark's workspaces hold no transactions: no model to fit). Before
timing, the script checks that rox's columns equal the SQL's. Peak memory (``VmHWM``) of each side
is measured in a child process.

Usage::

    python bench/bench_friction.py /tmp/bj --events 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from _measure import status_mib

GOAL = "survey"
WITHIN_S = 7 * 86_400
COLUMNS = ["journeys", "exits", "continued", "continued_won", "loops", "events", "repeats"]

# One ordering per journey (next event, last event) and one per customer and step (next visit),
# as any implementation needs; then the per-journey-step and per-event aggregates.
BARE = f"""
with e as (
    select journey, customer_id, step, epoch(ts) as es,
           lead(epoch(ts)) over (partition by journey order by ts, step) as nx,
           lead(epoch(ts)) over (partition by customer_id, step order by ts) as nv
    from events),
won as (select distinct journey from events where step = '{GOAL}'),
p as (select journey, step, count(*) as visits, bool_or(nx is null) as ended
      from e group by journey, step),
per_step as (
    select step, count(*) as journeys,
           count(*) filter (where ended and won.journey is null) as exits,
           count(*) filter (where not ended) as continued,
           count(*) filter (where not ended and won.journey is not null) as continued_won,
           count(*) filter (where visits > 1) as loops
    from p left join won using (journey) group by step),
per_event as (
    select step, count(*) as events, count(*) filter (where nv - es <= {WITHIN_S}) as repeats,
           median(nx - es) / 3600 as median_wait_hours
    from e group by step),
lost as (
    select distinct step, customer_id from e
    where nx is null and journey not in (select journey from won)),
revenue as (select customer_id, sum(amount) as value from transactions group by customer_id),
affected as (
    select step, count(*) as customers_affected, coalesce(sum(value), 0) as value_at_risk
    from lost left join revenue using (customer_id) group by step)
select * from per_step join per_event using (step) left join affected using (step) order by step
"""


def run_bare(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(BARE).df()


def run_rox(ws: Any) -> pd.DataFrame:
    import rox

    return rox.journey.friction(ws, goal=GOAL, value="revenue").frame


def check(rox_frame: pd.DataFrame, bare: pd.DataFrame) -> None:
    """rox's journeys, exits, loops, rates and waits equal the SQL's (exactly, or to 1e-9)."""
    r = rox_frame.set_index("step").sort_index()
    b = bare.set_index("step").sort_index()
    assert list(r.index) == list(b.index), (r.index, b.index)
    b = b.fillna({"customers_affected": 0, "value_at_risk": 0.0})
    for col in ("journeys", "exits", "customers_affected"):
        assert (r[col].to_numpy() == b[col].to_numpy()).all(), col
    np.testing.assert_allclose(r["value_at_risk"], b["value_at_risk"], rtol=1e-9)
    np.testing.assert_allclose(r["loop_rate"], b["loops"] / b["journeys"], rtol=1e-12)
    np.testing.assert_allclose(r["repeat_contact_rate"], b["repeats"] / b["events"], rtol=1e-12)
    np.testing.assert_allclose(r["median_wait_hours"], b["median_wait_hours"], rtol=1e-9)
    exit_rate = np.where(b.index == GOAL, np.nan, b["exits"] / b["journeys"])
    np.testing.assert_allclose(r["exit_rate"], exit_rate, rtol=1e-12)


def _open(path: Path) -> Any:
    import rox

    return rox.open(path, read_only=True)


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """The workspace's file in bare DuckDB, with the settings rox uses."""
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set timezone = 'UTC'; set preserve_insertion_order = false")
    return con


def only(side: str, path: Path, repeats: int) -> dict[str, float]:
    """Child mode: one side ``repeats`` times; its median and peak resident set."""
    if side == "bare":
        con = _connect(path)

        def fn() -> object:
            return run_bare(con)

    else:
        ws = _open(path)

        def fn() -> object:
            return run_rox(ws)

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"peak_mib": status_mib("VmHWM"), "median_s": statistics.median(times)}


def measure(workdir: Path, n: int, repeats: int) -> dict[str, Any]:
    plain = workdir / f"journey_{n}.duckdb"
    indexed = workdir / f"journey_{n}_indexed.duckdb"
    ws, iws = _open(plain), _open(indexed)
    import rox

    assert not rox.journey.prepare(ws).indexed and rox.journey.prepare(iws).indexed
    con = _connect(plain)
    bare = run_bare(con)
    mine = run_rox(ws)
    check(mine, bare)
    pd.testing.assert_frame_equal(run_rox(iws), mine)
    times: dict[str, list[float]] = {"rox": [], "rox_indexed": [], "bare": []}
    for _ in range(repeats):
        for side, fn in (
            ("rox", lambda: run_rox(ws)),
            ("rox_indexed", lambda: run_rox(iws)),
            ("bare", lambda: run_bare(con)),
        ):
            start = time.perf_counter()
            fn()
            times[side].append(time.perf_counter() - start)
    ws.close()
    iws.close()
    con.close()
    med = {side: statistics.median(v) for side, v in times.items()}
    memory = {}
    for side, path in (("rox", plain), ("rox_indexed", indexed), ("bare", plain)):
        cmd = [sys.executable, __file__, str(workdir), "--only", side, "--path", str(path)]
        done = subprocess.run(cmd, capture_output=True, check=True)
        memory[side] = json.loads(done.stdout.decode().strip().splitlines()[-1])["peak_mib"]
    return {"events": n, "repeats": repeats, "times_s": times, "median_s": med, "peak_mib": memory}


def table(report: dict[str, Any]) -> str:
    med, mem = report["median_s"], report["peak_mib"]
    lines = [
        f"{report['events']:,} events; {report['repeats']} interleaved runs each",
        "",
        "| side | median (s) | × bare SQL | peak RSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for side, label in (
        ("rox", "rox `friction` (journeys ordered by the analysis)"),
        ("rox_indexed", "rox `friction` on the journey index"),
        ("bare", "bare DuckDB SQL (same columns)"),
    ):
        lines.append(
            f"| {label} | {med[side]:.3f} | {med[side] / med['bare']:.2f} | {mem[side]:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="bench_journey.py's --workdir")
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        print(json.dumps(only(args.only, args.path, 1)))
        return
    reports = []
    for n in args.events:
        report = measure(args.workdir, n, args.repeats)
        print(table(report), flush=True)
        print(flush=True)
        reports.append(report)
    if args.out:
        args.out.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
