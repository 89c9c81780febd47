"""What reaches the driver on Spark does not grow with the customers (#20 §3).

One row per customer collected to the driver is what breaks a cluster at tens of millions of
customers (``spark.driver.maxResultSize``, the driver's heap). Millions of customers are too
many for a test, so the property is checked where it is decided: every row Spark brings to the
driver's Python is counted (:func:`rox.testing.spark_rows_to_python`), at two numbers of
customers whose distinct purchase histories differ little. The expected counts come from the
DuckDB reference, not from the code under test. The benchmark at 1 and 5 million customers is in
docs/benchmarks.md ("CLV kept in the engine").
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rox
from rox.testing import insert_rows, spark_rows_to_python, weekly_purchases

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SIZES = (5_000, 20_000)


def _fit_rows(n: int) -> int:
    """The rows a CLV fit needs, counted on DuckDB: distinct (x, t_x, T), distinct repeat (x, m)."""
    with rox.open("duckdb://:memory:") as ws:
        insert_rows(ws, "transactions", weekly_purchases(n))
        summary = rox.value.rfm(ws).frame
    repeat = summary[summary["frequency"] > 0]
    histories = len(summary[["frequency", "recency", "T"]].drop_duplicates())
    return histories + len(repeat[["frequency", "monetary"]].drop_duplicates())


def test_clv_table_brings_the_distinct_histories_not_the_customers(spark_session, tmp_path: Path):
    brought: dict[int, dict[str, list[int]]] = {}
    for n in SIZES:
        with rox.open(f"spark://local[2]?lake={tmp_path / str(n)}") as ws:
            insert_rows(ws, "transactions", weekly_purchases(n))
            with spark_rows_to_python() as in_engine:
                result = rox.value.clv_table(ws, model="bgnbd")
            assert int(result.frame["customers"].iloc[0]) == n
            assert ws.table("rox_clv").count().execute() == n  # every customer, kept in the lake
            with spark_rows_to_python() as collected:
                rox.value.rfm(ws)  # a frame of every customer
        brought[n] = {"clv_table": in_engine, "rfm": collected}
    small, large = (brought[n] for n in SIZES)
    fit_small, fit_large = _fit_rows(SIZES[0]), _fit_rows(SIZES[1])
    # the sizes test what they should: the customers grow much faster than the distinct rows
    assert fit_large - fit_small < (SIZES[1] - SIZES[0]) / 10
    # the measure sees customers: rox.value.rfm (and rox.value.clv) bring every one of them
    assert max(large["rfm"]) == SIZES[1] and max(small["rfm"]) == SIZES[0]
    # clv_table (BG/NBD: one model fitted, the quickest): the fit's rows and a few one-row
    # answers (the calibration end, the summary); four times the customers add to them exactly
    # the fit's new distinct rows, no row per customer
    for counts, fit in ((small["clv_table"], fit_small), (large["clv_table"], fit_large)):
        assert fit <= sum(counts) <= fit + 5, counts
        assert max(counts) < fit, counts
    assert sum(large["clv_table"]) - sum(small["clv_table"]) == fit_large - fit_small
