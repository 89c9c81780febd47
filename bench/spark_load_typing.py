"""The typing and checking of a Spark-validated load, timed alone on Spark ``local[2]`` (#20 §2).

    python bench/spark_load_typing.py /tmp/native2/responses-1000000.csv --before /tmp/main-rules.py

Each line is a ``noop`` write (every row computed, nothing written) of the CSV's rows, timed
``--repeats`` times in one session (the first run also warms the JVM's compiler; the median of
the others is printed):

- the CSV read alone (the five columns parsed);
- the floor's hand-written typing (``spark_load_floor.TYPED``);
- rox's typed rows: its rules (:meth:`rox.ingest.rules.LoadPlan.typed_select`) translated to
  Spark SQL by :func:`rox.ingest.rules.spark_sql`, with whole-stage code generation off as
  :mod:`rox.ingest.native` plans them; and, with ``--before``, the same with the ``rules.py`` of
  another commit (``git show <commit>:src/rox/ingest/rules.py > file``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def _typed_sql(rules: Any, columns: list[str]) -> str:
    """rox's typed select of the responses in ``columns`` (all text), in Spark SQL."""
    from rox.ingest.mapping import load_mapping
    from rox.schema import table_spec

    types = dict.fromkeys(columns, "VARCHAR")
    mapping = load_mapping({"redact": {"enabled": False}})
    plan = rules.LoadPlan(table_spec("responses"), mapping, types, "bench", {})
    duckdb_sql = plan.typed_select("RAW", keys_complete=True, flag="false")
    return str(rules.spark_sql(duckdb_sql, {"ts"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--before", type=Path, help="the rules.py of another commit")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from pyspark.sql import functions as F

    import rox.ingest.rules as rules
    from rox.engines.spark import local_session
    from spark_load_floor import TYPED

    s = local_session("local[2]")
    s.range(1).count()
    raw = s.read.options(header=True, inferSchema=False, mode="PERMISSIVE").csv(args.csv)
    raw.createOrReplaceTempView("floor_raw")
    raw.withColumn("_rox_row", F.monotonically_increasing_id()).createOrReplaceTempView("RAW")
    sides = {
        "csv read": lambda: s.table("floor_raw"),
        "floor's typing": lambda: s.sql(TYPED.format(raw="floor_raw", extra="")),
        "rox's typed rows": lambda: s.sql(_typed_sql(rules, raw.columns)),
    }
    if args.before is not None:
        spec = importlib.util.spec_from_file_location("rules_before", args.before)
        assert spec is not None and spec.loader is not None
        before = importlib.util.module_from_spec(spec)
        sys.modules["rules_before"] = before  # (its dataclasses look their module up)
        spec.loader.exec_module(before)
        sides["rox's typed rows, before"] = lambda: s.sql(_typed_sql(before, raw.columns))
    for name, frame in sides.items():
        secs = []
        for _ in range(args.repeats):
            s.conf.set("spark.sql.codegen.wholeStage", "false" if "rox" in name else "true")
            start = time.perf_counter()
            frame().write.format("noop").mode("overwrite").save()
            secs.append(time.perf_counter() - start)
        runs = ", ".join(f"{t:.2f}" for t in secs)
        print(f"{name:28s} median {statistics.median(secs[1:]):6.2f} s  (runs {runs})", flush=True)


if __name__ == "__main__":
    main()
