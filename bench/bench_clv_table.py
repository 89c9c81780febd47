"""Benchmark: CLV kept in the engine (``rox.value.clv_table``) against ``rox.value.clv`` (#20).

Both compute the same per-customer values (BG/NBD or Pareto/NBD, chosen by BIC, and
Gamma-Gamma); ``clv`` returns every customer as a pandas DataFrame, ``clv_table`` writes them to
the workspace table ``rox_clv`` and returns a one-row summary. For each ``--customers`` size, the
transactions of customers drawn from BG/NBD on 26 Mondays at 4 prices (few distinct histories,
so what must reach Python saturates) go to an in-memory DuckDB workspace; then, after one warm-up
call of each, the script measures for each function:

* wall time (median of ``--runs``);
* Python's peak allocation during one call (``tracemalloc``: numpy and pandas arrays included;
  DuckDB's own memory is not Python's), and the rows that came back to Python.

It checks first that both give the same total CLV (to 1e-7 relative).

Usage::

    python bench/bench_clv_table.py --customers 20000 200000 1000000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import rox
from rox.testing import insert_rows
from rox.value.simulate import simulate_bgnbd


def transactions(n: int, seed: int = 1) -> pd.DataFrame:
    """Transactions of ``n`` customers drawn from BG/NBD, on 26 Mondays at 4 prices."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(1, 27, n)  # weeks observed
    drawn = simulate_bgnbd(n, r=0.6, alpha=3.0, a=0.8, b=2.5, T=ages.astype(float), seed=seed)
    tx = np.floor(drawn["recency"].to_numpy()).astype("int64")
    x = np.where(tx > 0, drawn["frequency"].to_numpy(), 0)
    k = x + 1
    position = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    last, span = position == np.repeat(k - 1, k), np.repeat(tx, k)
    between = rng.integers(1, np.maximum(span, 2))
    week = np.repeat(26 - ages, k) + np.where(position == 0, 0, np.where(last, span, between))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(np.repeat(np.arange(n), k)).map("C{:08d}".format),
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(week * 7, unit="D"),
            "amount": rng.choice([100.0, 150.0, 200.0, 250.0], len(week)),
        }
    )


def peak_mb(run: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| customers | distinct (x, t_x, T) | function | median s | Python peak MB | rows back |")
    print("|---:|---:|---|---:|---:|---:|")
    for n in args.customers:
        with rox.open("duckdb://:memory:") as ws:
            insert_rows(ws, "transactions", transactions(n))
            stored, full = rox.value.clv_table(ws), rox.value.clv(ws)  # warm-up, and the check
            assert abs(stored.total / full.total - 1) < 1e-7, (stored.total, full.total)
            for name, run, rows in [
                ("clv_table", lambda ws=ws: rox.value.clv_table(ws), stored.distinct_rows),
                ("clv", lambda ws=ws: rox.value.clv(ws), len(full.frame)),
            ]:
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - start)
                print(f"| {n:,} | {stored.distinct_rows:,} | {name} | "
                      f"{statistics.median(times):.2f} | {peak_mb(run):.1f} | {rows:,} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
