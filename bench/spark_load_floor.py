"""The floor of rox's Spark-validated responses load: the same load as hand-written Spark.

No rox code runs here (``bench_spark_load.py`` gives it the same session as the other sides).
What a Spark user who knows the rules would write for ``ws.ingest("responses", path,
native=True)`` into an empty lake, doing the least Spark can do for the same outcome:

* the CSV read as rox reads it (a header, every value as text, ``PERMISSIVE``);
* one typing and checking projection, by hand: each value trimmed and empty made NULL, ``ts``
  cast to a timestamp, ``metric`` lower-cased, ``score`` cast to a double, the scale filled from
  the metric; a row is invalid when a required value is missing, the time does not parse or lies
  outside 1900-01-01 to 2100-12-31, the metric is not nps/csat/ces, the score is not a finite
  number or lies outside the metric's scale (0-10, 1-5, 1-7) -- rox's rules for this file's
  columns, the same valid/invalid outcome on the bench's file (all valid);
* **one pass over the CSV**: the valid rows, as rox lays them out (the table's columns, a load
  id, a sequence number; partitioned by UTC day, ``rox_day=YYYY-MM-DD``), written to a staging
  folder by the tasks that read them (no shuffle: each task sorts its rows by day and writes a
  file per day; or, side ``floor_gather`` of the bench, gathered by day through a shuffle and
  written as one file per day), while the same job counts the rows and the invalid ones
  (``observe``);
* the keys checked on the staged Parquet (distinct response ids against rows: one column read);
* the rejects (one row per invalid row: its id, the first rule it breaks, the row as JSON)
  written only when a row is invalid, by a second pass over the CSV;
* the staged files moved into ``<out>/responses/`` (renames), the staging folder removed.

Not done here, done by rox: numbering the rows 1, 2, ... in file order (the floor's row id is
Spark's ``monotonically_increasing_id``, not a position), spaces other than ASCII ones trimmed,
the table's earlier rows and the workspace's scales read, the load record written.
"""

from __future__ import annotations

from typing import Any

#: The typing and the checks, as one hand-written projection over the CSV's text.
TYPED = """
SELECT *, (ts IS NULL OR metric IS NULL OR score IS NULL OR metric NOT IN ('nps', 'csat', 'ces')
           OR isnan(score) OR abs(score) = double('infinity')
           OR ts < TIMESTAMP '1900-01-01 00:00:00' OR ts >= TIMESTAMP '2101-01-01 00:00:00'
           OR score < low OR score > high) AS bad
FROM (
  SELECT *, CASE metric WHEN 'nps' THEN 0 ELSE 1 END AS low,
            CASE metric WHEN 'nps' THEN 10 WHEN 'csat' THEN 5 ELSE 7 END AS high,
            CASE metric WHEN 'nps' THEN '0-10' WHEN 'csat' THEN '1-5' WHEN 'ces' THEN '1-7' END
              AS scale
  FROM (
    SELECT monotonically_increasing_id() AS row_id,
           try_cast(nullif(trim(ts), '') AS TIMESTAMP) AS ts,
           lower(nullif(trim(metric), '')) AS metric,
           try_cast(nullif(trim(score), '') AS DOUBLE) AS score,
           nullif(trim(response_id), '') AS response_id,
           nullif(trim(customer_id), '') AS customer_id{extra}
    FROM {raw}
  )
)
"""

#: The first rule an invalid row breaks.
REASON = """
CASE WHEN ts IS NULL THEN 'ts: missing or not a timestamp'
     WHEN metric IS NULL OR metric NOT IN ('nps', 'csat', 'ces') THEN 'metric: unknown'
     WHEN score IS NULL OR isnan(score) THEN 'score: not a number'
     WHEN score < low OR score > high THEN 'score: outside the scale'
     ELSE 'ts: outside the plausible range' END
"""


def floor_load(spark: Any, csv: str, out: str, *, gather: bool = False) -> dict[str, int]:
    """Load ``csv`` into ``<out>/responses`` (and ``<out>/rejects``); return the counts.

    ``gather``: the valid rows are gathered by day through a shuffle (``repartition`` into as
    many parts as the session's shuffle partitions) and each day written as one file, rather
    than each reading task writing its own file per day.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    raw = spark.read.options(header=True, inferSchema=False, mode="PERMISSIVE").csv(csv)
    raw.createOrReplaceTempView("floor_raw")
    typed = spark.sql(TYPED.format(raw="floor_raw", extra=""))
    counted = Observation("floor")
    typed = typed.observe(
        counted, F.count(F.lit(1)).alias("rows"), F.count_if(F.col("bad")).alias("bad")
    )
    valid = typed.where(~F.col("bad")).select(
        "ts", "metric", "score", "response_id", "customer_id", "scale",
        *[F.lit(None).cast("string").alias(c) for c in ("touchpoint", "channel", "comment",
                                                         "language")],
        F.lit(None).cast("double").alias("weight"),
        F.col("response_id").alias("_key"),
        F.lit(1).cast("long").alias("_load_id"),
        (F.col("row_id") + 1).alias("_seq"),
        F.date_format("ts", "yyyy-MM-dd").alias("rox_day"),
    )  # fmt: skip
    staging = f"{out}/_staging"
    if gather:
        parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
        valid = valid.repartition(parts, "rox_day")
    valid.write.partitionBy("rox_day").parquet(staging)
    metrics = counted.get
    rows, bad = int(metrics["rows"]), int(metrics["bad"])
    keys = spark.read.parquet(staging).agg(F.count_distinct("_key").alias("n")).collect()[0]["n"]
    if keys < rows - bad:
        raise ValueError("a response id repeats")  # (not on the bench's file)
    if bad:  # a second pass over the CSV, for the invalid rows as read
        record = F.to_json(F.struct(*[F.col(f"`{c}`") for c in raw.columns]))
        raw.withColumn("record", record).createOrReplaceTempView("floor_read")
        rejects = spark.sql(TYPED.format(raw="floor_read", extra=", record")).where("bad")
        rejects.select("row_id", F.expr(REASON).alias("rule"), "record").write.parquet(
            f"{out}/rejects"
        )
    _move(spark, staging, f"{out}/responses")
    return {"rows": rows, "loaded": rows - bad, "rejected": bad}


def _move(spark: Any, staging: str, table: str) -> None:
    """Move the day folders of ``staging`` into ``table`` (renames), then remove ``staging``."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    source = jvm.org.apache.hadoop.fs.Path(staging)
    fs = source.getFileSystem(conf)
    fs.mkdirs(jvm.org.apache.hadoop.fs.Path(table))
    for status in fs.listStatus(source):
        name = status.getPath().getName()
        if status.isDirectory() and not name.startswith(("_", ".")):
            fs.rename(status.getPath(), jvm.org.apache.hadoop.fs.Path(f"{table}/{name}"))
    fs.delete(source, True)
