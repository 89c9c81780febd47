"""What numbering a load's rows (``_seq``) costs in bare DuckDB, by where the ``UPDATE`` runs.

Each variant loads the CSV into a fresh DuckDB file in its own child process, with the one
pass's shape (text read, numbers cast, a key column, ``_load_id``, ``_seq``), and prints the
CPU time (``time.process_time()``: every thread of the process) and wall time of each
statement, then of a ``CHECKPOINT`` and of ``close()``:

``insert_only``       ``INSERT`` (``_seq`` null), ``COMMIT``;
``insert_update``     ``INSERT``, ``UPDATE _seq`` from the rowids, ``COMMIT`` (rox before #15 §3's
                      second transaction);
``update_2nd_tx``     ``INSERT``, ``COMMIT``; then ``UPDATE``, ``COMMIT`` (rox now);
``temp_then_insert``  the rows into a ``TEMP`` table in the file's order, then into the table
                      with ``rowid`` as ``_seq`` (no update; two copies of every row);
``bare_ctas``         ``CREATE TABLE AS SELECT * FROM read_csv`` (the bare load).

Usage::

    python bench/ingest_numbering.py --csv /tmp/ingest-10m.csv --repeats 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COLUMNS = (
    "ts VARCHAR, metric VARCHAR, score DOUBLE, response_id VARCHAR, customer_id VARCHAR, "
    "scale VARCHAR, touchpoint VARCHAR, channel VARCHAR, region VARCHAR, weight DOUBLE, "
    "_key VARCHAR, _load_id BIGINT, _seq BIGINT"
)
SELECT = (
    "ts, metric, TRY_CAST(score AS DOUBLE), response_id, customer_id, scale, touchpoint, "
    "channel, region, TRY_CAST(weight AS DOUBLE), response_id"
)
FIRST = "(SELECT min(rowid) FROM t WHERE _load_id = 1)"


def variants(csv: str) -> dict[str, list[str]]:
    """The statements of each variant."""
    read = f"read_csv('{csv}', all_varchar = true)"
    insert = f"INSERT INTO t SELECT {SELECT}, 1, NULL FROM {read}"
    update = f"UPDATE t SET _seq = rowid - {FIRST} + 1 WHERE _load_id = 1"
    return {
        "insert_only": ["BEGIN", insert, "COMMIT"],
        "insert_update": ["BEGIN", insert, update, "COMMIT"],
        "update_2nd_tx": ["BEGIN", insert, "COMMIT", "BEGIN", update, "COMMIT"],
        "temp_then_insert": [
            "BEGIN",
            f"CREATE TEMP TABLE x AS SELECT {SELECT} FROM {read}",
            "INSERT INTO t SELECT *, 1, rowid - (SELECT min(rowid) FROM x) + 1 FROM x",
            "DROP TABLE x",
            "COMMIT",
        ],
        "bare_ctas": [f"CREATE TABLE b AS SELECT * FROM read_csv('{csv}')"],
    }


def child(name: str, csv: str) -> dict[str, Any]:
    """Child mode: run one variant into a fresh file; time each statement."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="rox-bench-numbering-") as folder:
        con = duckdb.connect(str(Path(folder) / "w.duckdb"))
        con.execute("SET memory_limit = '2GB'")
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"CREATE TABLE t ({COLUMNS})")
        steps = []
        for sql in [*variants(csv)[name], "CHECKPOINT"]:
            cpu, wall = time.process_time(), time.perf_counter()
            con.execute(sql)
            steps.append((sql[:48], time.process_time() - cpu, time.perf_counter() - wall))
        numbered = con.execute("SELECT count(*), count(DISTINCT _seq), max(_seq) FROM t").fetchone()
        cpu, wall = time.process_time(), time.perf_counter()
        con.close()
        steps.append(("close()", time.process_time() - cpu, time.perf_counter() - wall))
    return {"variant": name, "steps": steps, "rows_distinct_max_seq": numbered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="a responses CSV (bench_ingest.write_csv)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", help="comma-separated (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(json.dumps(child(args.child, args.csv)) + "\n")
        return 0
    names = args.variants.split(",") if args.variants else list(variants(args.csv))
    for round_ in range(args.repeats):
        for name in names:
            done = subprocess.run(
                [sys.executable, __file__, "--csv", args.csv, "--child", name],
                capture_output=True,
                check=True,
                text=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            cpu = sum(s[1] for s in result["steps"])
            wall = sum(s[2] for s in result["steps"])
            print(f"round {round_ + 1} {name}: {cpu:.2f} CPU-s, {wall:.2f} s wall")
            for sql, step_cpu, step_wall in result["steps"]:
                print(f"    {sql}: {step_cpu:.2f} CPU-s, {step_wall:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
