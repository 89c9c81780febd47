"""Benchmark: refreshing the journey index after a batch of events, against building it in full.

#19: events posted one batch at a time (the service's ``BatchWriter``) refresh only the journeys
they touch (``rox.journey.index.refresh_journeys``). Side by side in one run, on the log of
``bench_journey.py`` (whole journeys of a Markov chain, ~6.6 events each) ingested into a DuckDB
file workspace:

(a) ``full build``  ``rox.journey.build_index`` (what every load cost before #19);
(b) ``refresh``     ``BatchWriter.append`` of a batch of N events, then the refresh it triggers,
                    timed apart (the refresh alone, and the append with it). A batch: 90% events
                    of existing journeys at random times (most land before the journey's last
                    event: late events that reorder it), 10% events of new journeys.

Medians over the batches, ratios to the full build, the peak resident memory of the process;
after the batches, the refreshed index is checked equal to a full build, table by table.

On PostgreSQL (``--postgres URL``, a server where the script may create a database): the same
log ingested into a fresh database, the batches appended by the service's
``SharedBatchWriter`` (several processes' write path: each refresh in a transaction holding the
loads' lock, as after any load).

Reproduce (1M events, batches of 100 and 1,000, ~4 min on the 2-core machine)::

    python bench/bench_journey_refresh.py --events 1000000 --batch 100 1000 --rounds 5
    python bench/bench_journey_refresh.py --events 1000000 --batch 100 1000 --rounds 5 \
        --postgres postgresql://rox@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _measure import status_mib
from bench_journey import CHANNELS, SPAN_S, START, STEPS, write_parquet


def _batch(rng: np.random.Generator, log: pd.DataFrame, n: int, serial: int) -> pa.Table:
    """``n`` events as the service receives them (text columns): 90% of existing journeys."""
    old = round(n * 0.9)
    picked = log.iloc[rng.integers(0, len(log), size=old)]
    customers = [*picked["customer_id"], *(f"new{serial}-{i}" for i in range(n - old))]
    journeys = [*picked["journey"], *(f"new{serial}-{i}" for i in range(n - old))]
    ts = START + rng.integers(0, SPAN_S, size=n).astype("timedelta64[s]")
    return pa.table(
        {
            "customer_id": pa.array(customers, pa.string()),
            "ts": pa.array([f"{t}Z" for t in ts.astype("datetime64[s]")], pa.string()),
            "step": pa.array(np.asarray(STEPS, dtype=object)[rng.integers(0, len(STEPS), n)]),
            "channel": pa.array(
                np.asarray(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), n)]
            ),
            "journey": pa.array(journeys, pa.string()),
        }
    )


def _new_database(server: str) -> str:
    """A fresh database on the PostgreSQL server at ``server`` (…/postgres); its URL."""
    import psycopg

    name = f"rox_refresh_{int(time.time())}"
    with psycopg.connect(server.replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def run(
    events: int,
    batches: list[int],
    rounds: int,
    builds: int,
    seed: int,
    postgres: str | None = None,
) -> dict[str, Any]:
    import rox
    import rox.journey.index as journey_index
    from rox.ingest.batch import BatchWriter
    from rox.ingest.shared import SharedBatchWriter
    from rox.testing import journey_index_tables

    out: dict[str, Any] = {"events": events, "engine": "postgres" if postgres else "duckdb"}
    with tempfile.TemporaryDirectory(prefix="rox-refresh-") as folder:
        parquet = Path(folder) / "events.parquet"
        write_parquet(parquet, events, seed)
        ws = rox.open(_new_database(postgres) if postgres else Path(folder) / "ws.duckdb")
        start = time.perf_counter()
        ws.ingest("events", str(parquet))
        out["ingest_s"] = time.perf_counter() - start
        full = []
        for _ in range(builds):
            start = time.perf_counter()
            rox.journey.build_index(ws)
            full.append(time.perf_counter() - start)
        out["full_build_s"] = statistics.median(full)
        log = ws.table("events").select("customer_id", "journey").execute()
        rng = np.random.default_rng(seed + 19)
        refresh_times: list[float] = []
        real = journey_index.refresh_index

        def timed(w: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(w, **kwargs)
            finally:
                refresh_times.append(time.perf_counter() - start)

        journey_index.refresh_index = timed  # type: ignore[assignment]
        writer = SharedBatchWriter(ws) if postgres else BatchWriter(ws)
        serial = 0
        for n in batches:
            appended, refreshed = [], []
            for _ in range(rounds):
                serial += 1
                rows = _batch(rng, log, n, serial)
                start = time.perf_counter()
                result = writer.append("events", rows)
                appended.append(time.perf_counter() - start)
                refreshed.append(refresh_times[-1])
                assert not result.problems, result.problems[:3]
                assert rox.journey.index_info(ws).fresh
            out[f"batch_{n}"] = {
                "refresh_s": statistics.median(refreshed),
                "append_with_refresh_s": statistics.median(appended),
                "refresh_vs_full": statistics.median(refreshed) / out["full_build_s"],
            }
        journey_index.refresh_index = real
        refreshed_tables = journey_index_tables(ws)
        rox.journey.build_index(ws)
        for role, frame in journey_index_tables(ws).items():
            pd.testing.assert_frame_equal(refreshed_tables[role], frame, obj=role)
        out["equal_to_full_build"] = True
        out["events_after"] = ws.count("events")
        if postgres:
            writer.close()  # (its staging database)
        ws.close()
    out["peak_rss_mib"] = status_mib("VmHWM")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=5, help="batches of each size")
    parser.add_argument("--builds", type=int, default=3, help="timed full builds")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL (…/postgres): run on a fresh database of it"
    )
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    out = run(args.events, args.batch, args.rounds, args.builds, args.seed, args.postgres)
    print(f"{out['engine']}: {out['events']:,} events (ingested in {out['ingest_s']:.1f} s); "
          f"full build (median of {args.builds}): {out['full_build_s']:.2f} s")  # fmt: skip
    print("| batch | refresh (median) | append + refresh | refresh / full build |")
    print("|---|---|---|---|")
    for n in args.batch:
        b = out[f"batch_{n}"]
        ms = b["refresh_s"] * 1000, b["append_with_refresh_s"] * 1000
        print(f"| {n:,} events | {ms[0]:.0f} ms | {ms[1]:.0f} ms | {b['refresh_vs_full']:.3f}x |")
    print(f"refreshed index equal to a full build, table by table: {out['equal_to_full_build']}; "
          f"peak RSS {out['peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
