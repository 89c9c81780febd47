"""The cost of the service's key check on the responses' insert: anti-join, index or hashes.

A DuckDB file with a table of the responses' shape holding ``--stored`` rows (random-looking
``_key`` values), ``SET threads = 1`` as the service's writer; then 60 batches of 126 new rows,
each inserted in a transaction of its own as :class:`rox.ingest.batch.BatchWriter` inserts plain
responses: with ``--index``, through ``CREATE UNIQUE INDEX`` on ``_key`` and ``INSERT … ON
CONFLICT DO NOTHING``, else with the ``NOT EXISTS`` anti-join on the stored keys. Prints the
median insert and ``COMMIT``, the time to build the index, a ``CHECKPOINT``, a bulk append of
200,000 rows (what every later ``rox ingest`` of responses would pay for the index) and the
process's peak memory. DuckDB only (#19), but for ``--hashes``: the check the writer makes
(:mod:`rox.ingest.stored_keys`: the stored keys' hashes read once, each batch's hashed and looked
up in them, then the insert without the anti-join or the ``ORDER BY``), its time per batch
included in the insert's.

Usage::

    python bench/profile_key_check.py --stored 10000
    python bench/profile_key_check.py --stored 1000000 --index
    python bench/profile_key_check.py --stored 1000000 --hashes
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=10_000, help="rows stored before")
    parser.add_argument("--index", action="store_true", help="a unique index on _key")
    parser.add_argument(
        "--hashes", action="store_true", help="the writer's hashes of the stored keys"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rox-key-check-") as folder:
        run(Path(folder) / "keys.duckdb", args.stored, args.index, args.hashes)


def run(path: Path, n: int, index: bool, hashes: bool = False) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET threads = 1")
    con.execute(
        "CREATE TABLE r (_key VARCHAR, metric VARCHAR, score DOUBLE, customer_id VARCHAR, "
        "_load_id BIGINT, _seq BIGINT)"
    )
    con.execute(
        "INSERT INTO r SELECT md5(i::VARCHAR), 'nps', i % 11, 'c' || (i % 5000), 1, i "
        f"FROM range({n}) t(i)"
    )
    con.execute("CHECKPOINT")
    if index:
        t0 = time.perf_counter()
        con.execute("CREATE UNIQUE INDEX rk ON r(_key)")
        print(f"create index {1000 * (time.perf_counter() - t0):.0f} ms")
    stored = None
    if hashes:
        from rox.ingest.stored_keys import StoredKeys, key_hashes

        t0 = time.perf_counter()
        stored = StoredKeys(con, "r")
        print(f"read the hashes of {len(stored):,} keys {1000 * (time.perf_counter() - t0):.0f} ms")
    select = (
        "INSERT INTO r BY NAME SELECT _key, metric, score, customer_id, 2 AS _load_id, "
        "_rox_row AS _seq FROM p "
    )
    insert = (
        select + "ORDER BY _rox_row ON CONFLICT DO NOTHING"
        if index
        else select
        if hashes
        else select + "WHERE NOT EXISTS (SELECT 1 FROM r AS e WHERE e._key = p._key) "
        "ORDER BY _rox_row"
    )
    times, commits = [], []
    for b in range(60):
        rows = pa.table({
            "_key": [f"new-{b}-{i}" for i in range(126)],
            "metric": ["nps"] * 126,
            "score": [1.0] * 126,
            "customer_id": ["c1"] * 126,
            "_rox_row": list(range(1, 127)),
        })  # fmt: skip
        con.register("p", rows)
        con.execute("BEGIN")
        t0 = time.perf_counter()
        if stored is not None:
            held = key_hashes(rows.column("_key").to_pylist())
            assert held is not None and not stored.any_held(held)
        (written,) = con.execute(insert).fetchone()
        times.append(time.perf_counter() - t0)
        assert written == 126, written
        t0 = time.perf_counter()
        con.execute("COMMIT")
        commits.append(time.perf_counter() - t0)
        if stored is not None:
            stored.add(held)
        con.unregister("p")
    took, committed = statistics.median(times) * 1000, statistics.median(commits) * 1000
    print(
        f"stored {n:,}, index {index}, hashes {hashes}: insert of 126 {took:.2f} ms, "
        f"commit {committed:.2f} ms"
    )
    t0 = time.perf_counter()
    con.execute("CHECKPOINT")
    print(f"checkpoint {1000 * (time.perf_counter() - t0):.0f} ms")
    t0 = time.perf_counter()
    con.execute(
        "INSERT INTO r SELECT md5((i + 100000000)::VARCHAR), 'nps', 1, 'c', 3, i "
        "FROM range(200000) t(i)"
    )
    print(f"bulk append of 200,000 rows {1000 * (time.perf_counter() - t0):.0f} ms")
    con.close()
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
