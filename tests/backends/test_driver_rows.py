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

SIZES = (5_000, 20_000)


def _fit_rows(n: int) -> int:
    """The rows a CLV fit needs, counted on DuckDB: distinct (x, t_x, T), distinct repeat (x, m)."""
    with rox.open("duckdb://:memory:") as ws:
        insert_rows(ws, "transactions", weekly_purchases(n))
        summary = rox.value.rfm(ws).frame
    repeat = summary[summary["frequency"] > 0]
    histories = len(summary[["frequency", "recency", "T"]].drop_duplicates())
    return histories + len(repeat[["frequency", "monetary"]].drop_duplicates())


@pytest.mark.spark
@pytest.mark.slow
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


ENGINES = ["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])]


@pytest.fixture(scope="module", params=ENGINES)
def demo(request, tmp_path_factory, workspace_url):
    """The small demo brand on DuckDB, then on Spark."""
    folder = tmp_path_factory.mktemp(request.param)
    ws = rox.demo.build(workspace_url(request.param, request, folder), n_customers=600, seed=5)
    yield ws
    ws.close()


@pytest.mark.slow
def test_friction_prices_in_the_engine_what_python_priced(demo):
    """rox.impact.friction keeps the customers in the engine (#20 §3): the values of before.

    Before, the CLV was fitted by rox.value.clv and the customers' values joined in pandas; the
    same CLV given as a rox.value.CLV (fitted in Python) prices the steps as the CLV computed in
    the engine (the spend model fitted on grouped rows: within 1e-7), and revenue to date as the
    transactions summed in pandas.
    """
    import pandas as pd

    from rox.impact.friction_value import touchpoint_experience
    from rox.journey.friction import REVENUE

    in_engine = rox.impact.friction(demo, journey="purchase", value="clv")
    in_python = rox.impact.friction(demo, journey="purchase", value=rox.value.clv(demo))
    assert in_engine.value_basis == in_python.value_basis != REVENUE
    assert in_engine.frame["value_at_risk"].sum() > 0
    pd.testing.assert_frame_equal(in_engine.frame, in_python.frame, check_exact=False, rtol=1e-7)
    revenue = demo.table("transactions").execute().groupby("customer_id")["amount"].sum()
    by_hand = rox.journey.friction(demo, journey="purchase", values=revenue, value_basis=REVENUE,
                                   experience=touchpoint_experience(demo))  # fmt: skip
    priced = rox.impact.friction(demo, journey="purchase", value="revenue")
    assert priced.value_basis == REVENUE and priced.frame["lost_value"].sum() > 0
    pd.testing.assert_frame_equal(priced.frame, by_hand.frame, check_exact=False, rtol=1e-9)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("demo", ["spark"], indirect=True)
def test_friction_brings_no_customer_to_the_driver(spark_session, demo):
    """On Spark, pricing the friction brings the steps and the CLV fit's rows, never a customer."""
    assert demo.engine.name == "spark"
    customers = demo.table("customers").count().execute()
    fitted = rox.value.clv_expr(demo)
    with spark_rows_to_python() as by_clv:
        table = rox.impact.friction(demo, journey="purchase", value="clv")
    with spark_rows_to_python() as by_revenue:
        rox.impact.friction(demo, journey="purchase", value="revenue")
    assert fitted.distinct_rows < customers / 2  # the fit's rows are few enough to tell apart
    # the steps, the touchpoints' CSAT and CES, one-row answers: no result has a row per customer
    assert max(by_revenue) < customers / 10, by_revenue
    # the fit: its distinct (x, t_x, T) rows and (x, m) pairs; then the steps
    assert max(by_clv) <= fitted.distinct_rows, by_clv
    assert max(by_clv) < customers / 2, by_clv
    assert len(table.frame) < customers / 10
