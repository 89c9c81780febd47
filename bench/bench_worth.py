"""Benchmark: ``rox.impact.worth`` (value by NPS group, bootstrap intervals) against bare SQL.

A profile of ``--customers`` customers (four NPS groups, lognormal CLV, uniform P(alive),
lognormal spend) is written to an in-memory DuckDB table. Timed, interleaved, after one warm-up
each, ``--runs`` times:

* ``rox``: ``worth(profile, replicates=1000)``, end to end to its frame (no retention: the profile
  is not a workspace's);
* ``rox point``: the same with ``replicates=0`` (the point estimates alone: no bins);
* ``bare``: ``SELECT nps_group, count(*), avg(clv), avg(p_alive), avg(spend), sum(clv)
  ... GROUP BY``.

Before timing, the script checks that rox's means equal the SQL's, and that each interval is
within 5% (of its half-width) of the normal band mean +- 1.96 sd / sqrt(n).

Usage::

    python bench/bench_worth.py --customers 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import ibis
import numpy as np
import pandas as pd

import rox
from rox.impact.profile import ExperienceProfile

SQL = (
    "SELECT nps_group, count(*) AS customers, avg(clv) AS clv, avg(p_alive) AS p_alive, "
    "avg(spend) AS spend, sum(clv) AS clv_total FROM p GROUP BY 1"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.customers
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "nps_group": rng.choice(
                ["promoter", "passive", "detractor", "no response"], n, p=[0.1, 0.1, 0.05, 0.75]
            ),
            "clv": rng.lognormal(5, 1.2, n),
            "p_alive": rng.uniform(0, 1, n),
            "spend": rng.lognormal(6, 1, n),
        }
    )
    con = ibis.duckdb.connect()
    con.create_table("p", frame)
    profile = ExperienceProfile(table=con.table("p"))

    result = rox.impact.worth(profile, replicates=1000, random_state=0).frame.set_index("nps_group")
    bare = con.sql(SQL).execute().set_index("nps_group").loc[result.index]
    np.testing.assert_allclose(result["clv"], bare["clv"], rtol=1e-9)
    np.testing.assert_allclose(result["spend"], bare["spend"], rtol=1e-9)
    points = rox.impact.worth(profile, replicates=0).frame.set_index("nps_group")
    np.testing.assert_allclose(points["clv"], bare["clv"], rtol=1e-9)
    half = 1.96 * frame.groupby("nps_group")["clv"].agg(lambda v: v.std() / np.sqrt(len(v)))
    half = half.loc[result.index]
    np.testing.assert_allclose(result["clv_low"], bare["clv"] - half, atol=0.05 * half.max())
    np.testing.assert_allclose(result["clv_high"], bare["clv"] + half, atol=0.05 * half.max())

    runs: dict[str, list[float]] = {"rox": [], "rox point": [], "bare": []}
    calls = {
        "rox": lambda: rox.impact.worth(profile, replicates=1000, random_state=0),
        "rox point": lambda: rox.impact.worth(profile, replicates=0),
        "bare": lambda: con.sql(SQL).execute(),
    }
    for call in calls.values():
        call()
    for _ in range(args.runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            runs[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    print(f"{n:,} customers, median of {args.runs}; load average {os.getloadavg()[0]:.1f}")
    print("| run | median s | x bare SQL | x rox point |\n| --- | ---: | ---: | ---: |")
    for name, median in medians.items():
        print(
            f"| {name} | {median:.3f} | {median / medians['bare']:.2f} "
            f"| {median / medians['rox point']:.2f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB (whole process, with the {n:,}-row pandas frame)")


if __name__ == "__main__":
    main()
