"""What the one pass's checks on the rows it wrote cost in bare DuckDB, apart or in one scan.

After the one pass (:func:`rox.ingest.one_pass.load_one_pass`) has inserted a CSV's rows, still
inside the load's transaction, it checks them (their rowids consecutive, no key repeated) and the
load records their checksum (:mod:`rox.ingest.fingerprint`). This loads the CSV with the one pass's
shape (text read, numbers cast, a key column, ``_load_id``, ``_seq`` null; as
``bench/ingest_numbering.py``) into a fresh DuckDB file, then, in the same open transaction,
times each way of asking, over ``--repeats`` interleaved rounds (CPU time is
``time.process_time()``: every thread of the process; the statements only read):

``checks``          ``min(rowid), max(rowid), count(*), count(DISTINCT _key)`` (rox before);
``checksum``        the checksum's own scan (:func:`rox.ingest.fingerprint.rows_checksum`,
                    ``_seq`` from the rowids; rox before);
``checks_hashes``   the checks with ``count(DISTINCT hash(_key))`` instead;
``one_scan_keys``   ``min(rowid)``, then the checks and the checksum in one statement;
``one_scan``        the same with ``count(DISTINCT hash(_key))``;
``checksum_after``  after the ``COMMIT``: the checksum's own scan of the committed rows.

Usage::

    PYTHONPATH=src python bench/ingest_checks.py --csv /tmp/fold/ingest-1m.csv --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ingest_numbering import COLUMNS, SELECT
from rox.ingest.fingerprint import checksum_sql

WRITTEN = "FROM t WHERE _load_id = 1"


def ways(con: object, first: int) -> dict[str, list[str]]:
    """The statements of each way of asking, given the first rowid of the rows written."""
    seq = f"(rowid - {first - 1})::BIGINT"
    checksum = checksum_sql(con, "t", seq)
    span = f"SELECT min(rowid) {WRITTEN}"
    return {
        "checks": [f"SELECT min(rowid), max(rowid), count(*), count(DISTINCT _key) {WRITTEN}"],
        "checksum": [f"SELECT count(*), {checksum} {WRITTEN}"],
        "checks_hashes": [
            f"SELECT min(rowid), max(rowid), count(*), count(DISTINCT hash(_key)) {WRITTEN}"
        ],
        "one_scan_keys": [
            span,
            f"SELECT max(rowid), count(*), count(DISTINCT _key), {checksum} {WRITTEN}",
        ],
        "one_scan": [
            span,
            f"SELECT max(rowid), count(*), count(DISTINCT hash(_key)), {checksum} {WRITTEN}",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="a responses CSV (bench_ingest.write_csv)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rox-bench-checks-") as folder:
        con = duckdb.connect(str(Path(folder) / "w.duckdb"))
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"CREATE TABLE t ({COLUMNS})")
        con.execute("BEGIN")
        start = time.perf_counter()
        read = f"read_csv('{args.csv}', all_varchar = true)"
        con.execute(f"INSERT INTO t SELECT {SELECT}, 1, NULL FROM {read}")
        print(f"inserted in {time.perf_counter() - start:.2f} s (not counted below)")
        con.execute("SET preserve_insertion_order = false")  # (as the one pass does after it)
        (first,) = con.execute(f"SELECT min(rowid) {WRITTEN}").fetchone()
        statements = ways(con, int(first))
        timed: dict[str, list[tuple[float, float]]] = {name: [] for name in statements}
        answers: dict[str, set[tuple[object, ...]]] = {name: set() for name in statements}
        for _ in range(args.repeats):
            for name, sqls in statements.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for sql in sqls:
                    answer = tuple(con.execute(sql).fetchone())
                answers[name].add(answer)  # (the last statement's)
                timed[name].append((time.process_time() - cpu, time.perf_counter() - wall))
        con.execute("COMMIT")
        # (the committed rows have other rowids: the checksum's _seq counts from their first)
        (first,) = con.execute(f"SELECT min(rowid) {WRITTEN}").fetchone()
        after = ways(con, int(first))["checksum"][0]
        timed["checksum_after"], answers["checksum_after"] = [], set()
        for _ in range(args.repeats):
            cpu, wall = time.process_time(), time.perf_counter()
            answers["checksum_after"].add(tuple(con.execute(after).fetchone()))
            timed["checksum_after"].append((time.process_time() - cpu, time.perf_counter() - wall))
        con.close()
    print(f"medians of {args.repeats} (CPU-s / wall s; rounds' wall s):")
    for name, runs in timed.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        rounds = ", ".join(f"{w:.2f}" for _, w in runs)
        print(f"  {name}: {cpu:.2f} / {wall:.2f} ({rounds})")
    checksums = {
        a[-1] for name in ("one_scan", "checksum", "checksum_after") for a in answers[name]
    }
    assert len(checksums) == 1, f"the checksum differs between ways: {checksums}"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
