"""The floor of a checked CSV load: ``read_csv`` into a typed table with rox's checks in bare SQL.

Each case loads the CSV into a fresh DuckDB file (2 GB memory limit, as rox's workspaces), one
after the other in one run: the bare load (``CREATE TABLE t AS SELECT * FROM read_csv``), then
the SELECT of rox's one pass (the same parsing, keying and flagging expressions,
:meth:`rox.ingest.rules.LoadPlan.typed_select`) written by ``CREATE TABLE AS`` without and with
insertion order preserved, and with the rows numbered by a window (what the order replaces).

Usage::

    python bench/ingest_floor.py --csv responses-1m.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from rox.ingest.mapping import load_mapping
from rox.ingest.reading import text_problems_condition
from rox.ingest.rules import LoadPlan
from rox.schema import table_spec


def _time(folder: Path, sql: str, ordered: bool) -> float:
    path = folder / "floor.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET memory_limit = '2GB'")
    con.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
    start = time.perf_counter()
    con.execute(sql)
    con.close()
    took = time.perf_counter() - start
    path.unlink()
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="a responses CSV (bench_ingest.write_csv)")
    args = parser.parse_args(argv)
    text = f"read_csv('{args.csv}', all_varchar = true, header = true)"
    types = dict(
        duckdb.sql(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {text})"
        ).fetchall()
    )
    plan = LoadPlan(table_spec("responses"), load_mapping(None), types, args.csv, {})
    flag = text_problems_condition(types, "csv") or "false"

    def typed(numbers: str) -> str:
        return plan.typed_select(
            f"(SELECT {numbers} AS _rox_row, * FROM {text})", flag=flag, keys_complete=True
        )

    cases = {
        "bare load": (f"SELECT * FROM read_csv('{args.csv}')", False),
        "checked, typed": (typed("NULL::BIGINT"), False),
        "checked, typed, in order": (typed("NULL::BIGINT"), True),
        "checked, typed, numbered by a window": (typed("row_number() OVER ()"), True),
    }
    with tempfile.TemporaryDirectory(prefix="rox-ingest-floor-") as tmp:
        bare = None
        for name, (select, ordered) in cases.items():
            took = _time(Path(tmp), f"CREATE TABLE t AS {select}", ordered)
            bare = bare or took
            print(f"{name}: {took:.2f} s ({took / bare:.2f}x the bare load)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
