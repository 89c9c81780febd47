"""A Spark job: build the demo brand into a Parquet lake and print its headline.

Run it with spark-submit, on a laptop or a cluster (the lake must be a folder every executor
reads: HDFS, S3, DBFS, or a local folder in local mode)::

    spark-submit --master local[2] docs/examples/spark_headline.py /tmp/rox-lake 2000

The workspace URL ``spark://?lake=...`` uses the session spark-submit started, with its master and
settings. The same code runs on DuckDB with ``rox.demo.build("demo.duckdb", ...)``, and prints
the same headline.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession

import rox.demo
from rox.report.headline import headline


def main(lake: str, customers: int) -> None:
    """Build the demo into ``lake`` and print the headline, one finding per line."""
    SparkSession.builder.appName("rox-headline").getOrCreate()
    with rox.demo.build(f"spark://?lake={lake}&partition=month", n_customers=customers) as ws:
        print(headline(ws))  # noqa: T201 - the job's output


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2_000)
