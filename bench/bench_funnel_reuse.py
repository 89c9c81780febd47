"""Benchmark: the funnel on Spark with its per-step tables kept (``Engine.reused``) or inlined.

``rox.journey.funnel`` joins each step's visits to the journeys that reached the step before,
and summarises every step's table in one union. Spark SQL inlines a common table expression used
several times, so without keeping them the union computes the joins 1 + 2 + 3 + 4 = 10 times for
five steps; ``SparkEngine.reused`` caches each step's table instead (4 joins). Both ways run in
one Spark session (local[2]) on the same lake, interleaved, after one warm-up funnel that orders
the journeys (kept by the workspace, so that each timed funnel times the funnel alone); the
inlined way is the same code with ``SparkEngine.reused`` replaced by the base class's (which
keeps nothing). Prints each run's wall time and the medians; the funnel's counts of both ways
are checked equal.

Usage (the lake of ``bench_scale.py --events 1000000``, under its ``--workdir``)::

    python bench/bench_funnel_reuse.py /tmp/rox-bench-scale/n1000000/lake --rounds 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

FUNNEL = ["visit", "configure", "test_drive", "order", "purchase"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", help="a lake written by bench_scale.py")
    parser.add_argument("--rounds", type=int, default=6, help="timed funnels of each way")
    args = parser.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    import rox
    from rox.engines import Engine
    from rox.engines.spark import SparkEngine

    ways = {"kept": SparkEngine.reused, "inlined": Engine.reused}
    ws = rox.open(f"spark://local[2]?lake={args.lake}", read_only=True)
    counts = rox.journey.funnel(ws, FUNNEL, window="30D").frame["journeys"].tolist()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(args.rounds):
        for name in sorted(ways, reverse=bool(r % 2)):  # alternate which way goes first
            SparkEngine.reused = ways[name]  # type: ignore[method-assign]
            start = time.perf_counter()
            got = rox.journey.funnel(ws, FUNNEL, window="30D").frame["journeys"].tolist()
            times[name].append(time.perf_counter() - start)
            assert got == counts, (name, got, counts)
            print(f"round {r + 1}: {name} {times[name][-1]:.2f} s", flush=True)
    SparkEngine.reused = ways["kept"]  # type: ignore[method-assign]
    ws.close()
    kept, inlined = (statistics.median(times[n]) for n in ("kept", "inlined"))
    print(f"journeys per step: {counts}")
    print(f"median of {args.rounds}: kept {kept:.2f} s, inlined {inlined:.2f} s")
    print(f"kept / inlined: {kept / inlined:.2f}")


if __name__ == "__main__":
    main()
