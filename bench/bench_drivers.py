"""Benchmark: key drivers (``rox.impact.key_drivers``) against the same correlations in bare SQL.

Writes a DuckDB workspace of synthetic responses (``--responses`` rows: each customer answers NPS
once and CSAT at ``--drivers`` touchpoints with chance 0.8, all driven by one latent attitude),
then times, interleaved after one warm-up each:

* ``rox``: ``key_drivers(ws, "nps", missing="complete", n_boot=0)``, end to end to its frame
  (the driver list, the per-customer table, the per-block sums, relative weights and LMG);
* ``rox + bootstrap``: the same with ``n_boot=500`` intervals (replicates resample the per-block
  sums: no query);
* ``bare``: hand-written DuckDB SQL returning the complete-case correlation matrix (``corr()`` of
  every pair over the same per-customer means): the point estimates' inputs with no library.

It checks first that rox's correlations with the outcome equal the SQL's. Prints a markdown table
of median wall times and the ratio to the SQL.

Usage::

    python bench/bench_drivers.py /tmp/bd --responses 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

import rox
from _measure import status_mib
from rox.impact import key_drivers
from rox.testing import insert_rows


def _write(path: Path, n_responses: int, p: int, seed: int = 0) -> None:
    n = int(n_responses / (1 + 0.8 * p))
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    ids = np.char.add("C", np.char.zfill(np.arange(n).astype(str), 8))
    nps = np.clip(np.round(7 + 1.8 * z + rng.normal(0, 1.2, n)), 0, 10)
    parts = [pd.DataFrame({"customer_id": ids, "metric": "nps", "score": nps, "scale": "0-10"})]
    for k in range(p):
        score = np.clip(np.round(3.5 + (0.2 + 0.1 * k) * z + rng.normal(0, 1, n)), 1, 5)
        keep = rng.random(n) < 0.8
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": ids[keep],
                    "metric": "csat",
                    "score": score[keep],
                    "scale": "1-5",
                    "touchpoint": f"t{k}",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["ts"] = pd.Timestamp("2024-01-01", tz="UTC")
    with rox.open(path) as ws:
        insert_rows(ws, "responses", frame)


def _bare_sql(p: int) -> str:
    drivers = ",\n".join(
        f"avg(score) filter (where metric = 'csat' and touchpoint = 't{k}') as v{k + 1}"
        for k in range(p)
    )
    present = " and ".join(f"v{k} is not null" for k in range(p + 1))
    pairs = ", ".join(f"corr(v{i}, v{j})" for i in range(p + 1) for j in range(i + 1, p + 1))
    return f"""
with per as (
    select customer_id, avg(score) filter (where metric = 'nps') as v0,
    {drivers}
    from responses where customer_id is not null group by customer_id
)
select count(*), {pairs} from per where {present}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--drivers", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"drivers_{args.responses}.duckdb"
    if not path.exists():
        _write(path, args.responses, args.drivers)
    sql = _bare_sql(args.drivers)

    ws = rox.open(path, read_only=True)
    runs = {
        "rox": lambda: key_drivers(ws, "nps", missing="complete", n_boot=0),
        "rox + bootstrap": lambda: key_drivers(ws, "nps", missing="complete", n_boot=500),
    }
    result = runs["rox"]()
    bare_con: duckdb.DuckDBPyConnection = ws.engine.backend.con  # the same DuckDB connection
    runs["bare"] = lambda: bare_con.execute(sql).fetchall()
    row = runs["bare"]()[0]
    expected = np.array(row[1 : 1 + args.drivers])
    got = result.to_frame().set_index("touchpoint").loc[[f"t{k}" for k in range(args.drivers)]]
    np.testing.assert_allclose(got["correlation"], expected, rtol=1e-9)
    assert result.n_customers == row[0]

    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["bare"])
    print(
        f"{args.responses:,} responses, {result.n_customers:,} complete customers, "
        f"{args.drivers} drivers, median of {args.repeats}; "
        f"peak RSS {status_mib('VmHWM'):.0f} MiB; load average {os.getloadavg()[0]:.1f}"
    )
    print("| run | median s | × bare SQL |\n| --- | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / bare:.2f} |")
    ws.close()


if __name__ == "__main__":
    main()
