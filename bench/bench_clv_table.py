"""Benchmark: CLV kept in the engine (``rox.value.clv_table``) against ``rox.value.clv`` (#20).

Both compute the same per-customer values (BG/NBD or Pareto/NBD, chosen by BIC, and
Gamma-Gamma); ``clv`` returns every customer as a pandas DataFrame, ``clv_table`` writes them to
the workspace table ``rox_clv`` and returns a one-row summary. For each ``--customers`` size, the
transactions of customers drawn from BG/NBD on 26 Mondays at 4 prices
(:func:`rox.testing.weekly_purchases`: few distinct histories, so what must reach Python
saturates) go to a workspace: DuckDB in memory, or with ``--engine spark`` a Parquet lake under
``--workdir`` on Spark local[2]. Then the script measures for each function (``--functions``):

* wall time (median of ``--runs``, after one warm-up call; with ``--runs 1``, one call, with no
  warm-up, timed while ``tracemalloc`` traces it);
* Python's peak allocation during one call (``tracemalloc``: numpy and pandas arrays included;
  the engine's own memory, DuckDB's or Spark's JVM, is not Python's);
* the rows that came back to Python: on Spark every row Spark brought to the driver's Python
  (:func:`rox.testing.spark_rows_to_python`), on DuckDB the rows of the predictions' input
  (``clv_table``'s distinct rows, ``clv``'s customers).

When both functions run it checks that they give the same total CLV (to 1e-7 relative).

Usage::

    python bench/bench_clv_table.py --customers 20000 200000 1000000
    ROX_SPARK_DRIVER_MEMORY=8g python bench/bench_clv_table.py --engine spark \\
        --workdir /tmp/bct --customers 1000000 5000000 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import shutil
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import rox
from rox.testing import insert_rows, spark_rows_to_python, weekly_purchases

CHUNK = 2_000_000  # transactions appended at a time (Spark takes them from the driver)


def traced(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Seconds and Python's peak MB of one call (traced), and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        start = time.perf_counter()
        out = run()
        return time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 1e6, out
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def counting(engine: str) -> Iterator[list[int]]:
    if engine == "spark":
        with spark_rows_to_python() as counts:
            yield counts
    else:
        yield []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-clv-table"))
    parser.add_argument("--functions", nargs="+", default=["clv_table", "clv"])
    args = parser.parse_args()
    functions = {"clv_table": rox.value.clv_table, "clv": rox.value.clv}
    print("| customers | distinct (x, t_x, T) | function | s | Python peak MB | rows back |")
    print("|---:|---:|---|---:|---:|---:|")
    for n in args.customers:
        url = "duckdb://:memory:"
        if args.engine == "spark":
            lake = args.workdir / f"lake-{n}"
            shutil.rmtree(lake, ignore_errors=True)
            url = f"spark://local[2]?lake={lake}"
        with rox.open(url) as ws:
            frame = weekly_purchases(n)
            for start in range(0, len(frame), CHUNK):
                insert_rows(ws, "transactions", frame.iloc[start : start + CHUNK])
            del frame
            totals: dict[str, float] = {}
            for name in args.functions:
                run = functools.partial(functions[name], ws)
                if args.runs > 1:
                    run()  # warm-up
                    times = []
                    for _ in range(args.runs):
                        start = time.perf_counter()
                        run()
                        times.append(time.perf_counter() - start)
                with counting(args.engine) as counts:
                    took, peak, result = traced(run)
                seconds = statistics.median(times) if args.runs > 1 else took
                distinct = getattr(result, "distinct_rows", None)
                rows = sum(counts) if args.engine == "spark" else distinct or len(result.frame)
                totals[name] = result.total
                shown = f"{distinct:,}" if distinct else ""
                print(f"| {n:,} | {shown} | {name} | {seconds:.1f} | {peak:.1f} | {rows:,} |",
                      flush=True)  # fmt: skip
            if len(totals) == 2:
                assert abs(totals["clv_table"] / totals["clv"] - 1) < 1e-7, totals
        if args.engine == "spark":
            shutil.rmtree(args.workdir / f"lake-{n}", ignore_errors=True)


if __name__ == "__main__":
    main()
