"""A Spark job (spark-submit, local mode) on the demo brand prints the same headline as DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rox.demo
from rox.report.headline import headline

JOB = Path(__file__).resolve().parents[2] / "docs" / "examples" / "spark_headline.py"


@pytest.mark.slow  # two minutes: a second JVM, spark-submit's start and the demo built on Spark
@pytest.mark.spark
def test_spark_submit_job_prints_the_duckdb_headline(tmp_path):
    customers = "800"
    submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
         str(JOB), str(tmp_path / "lake"), customers],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with rox.demo.build(tmp_path / "demo.duckdb", n_customers=int(customers)) as ws:
        expected = str(headline(ws))
    assert expected.count("\n") >= 4
    assert done.stdout.strip().splitlines() == expected.splitlines()
