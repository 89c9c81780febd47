"""rox.value.clv_table: every customer's CLV computed in the engine into ``rox_clv`` (#20 §3).

The values are checked against the closed forms written out by hand (BG/NBD's 2F1 included) and
against :func:`rox.value.clv`, and the memory Python uses is measured at two numbers of customers
(the cross-engine suite runs it on PostgreSQL and Spark).
"""

from __future__ import annotations

import gc
import tracemalloc

import pandas as pd
import pytest

import rox
from rox.errors import MetricError, WorkspaceError
from rox.testing import insert_rows, weekly_purchases


@pytest.fixture(scope="module")
def cdnow(ingest_cdnow):
    """A writable workspace holding the CDNOW sample's transactions."""
    with rox.open("duckdb://:memory:") as ws:
        yield ingest_cdnow(ws)


def _stored(ws: rox.Workspace) -> pd.DataFrame:
    return ws.table("rox_clv").execute().set_index("customer_id")


@pytest.mark.parametrize("customer", ["1", "18", "1009"])
def test_a_customer_by_hand(cdnow, customer, clv_by_hand):
    """BG/NBD (its 2F1 evaluated per distinct row in Python) and Gamma-Gamma, written out."""
    result = rox.value.clv_table(cdnow, calibration_end="1997-09-30", model="bgnbd",
                                 margin=0.3, discount_rate=0.1)  # fmt: skip
    row = _stored(cdnow).loc[customer]
    expected = clv_by_hand(
        row["frequency"], row["recency"], row["T"],
        0.0 if row["frequency"] == 0 else row["monetary"],
        tuple(result.purchase_model.params_), tuple(result.spend_model.params_),
        margin=0.3, discount_rate=0.1,
    )  # fmt: skip
    assert expected > 0.01
    assert row["clv"] == pytest.approx(expected, abs=1e-6, rel=0)
    assert result.basis == "CLV over the next 52 weeks, discounted at 10% a year, at a 30% margin"


@pytest.mark.parametrize("model", ["auto", "bgnbd", "paretonbd"])
def test_the_same_values_as_clv(cdnow, model):
    """Every customer's row equals rox.value.clv's, and the summary its aggregate()."""
    result = rox.value.clv_table(cdnow, calibration_end="1997-09-30", model=model, margin=0.2)
    reference = rox.value.clv(cdnow, calibration_end="1997-09-30", model=model, margin=0.2)
    # the same purchase model, fitted on the same rows
    assert result.choice.chosen == reference.choice.chosen
    assert list(result.purchase_model.params_) == list(reference.purchase_model.params_)
    got = _stored(cdnow).loc[reference.frame["customer_id"]]
    assert len(got) == len(reference.frame) == 2_357
    for column in ["frequency", "recency", "T", "p_alive", "expected_purchases"]:
        assert got[column].to_numpy() == pytest.approx(reference.frame[column].to_numpy(),
                                                       rel=1e-12, abs=0)  # fmt: skip
    # the spend model is fitted on the repeat customers grouped by (x, m): the same likelihood,
    # summed in another order, so its optimum moves within the optimizer's tolerance (8e-9 here)
    for column in ["expected_spend", "clv"]:
        assert got[column].to_numpy() == pytest.approx(reference.frame[column].to_numpy(),
                                                       rel=1e-7, abs=0)  # fmt: skip
    summary = result.frame.iloc[0]
    expected = reference.aggregate().iloc[0]
    assert summary["customers"] == expected["customers"]
    assert summary["horizon"] == expected["horizon"] == "52 weeks"
    for column in ["expected_purchases", "clv_total", "clv_mean", "clv_median", "active_share"]:
        assert summary[column] == pytest.approx(expected[column], rel=1e-7)
    assert result.total == pytest.approx(reference.total, rel=1e-7)


def test_it_replaces_the_table_and_refuses_a_read_only_workspace(tmp_path, ingest_cdnow):
    path = tmp_path / "cdnow.duckdb"
    with rox.open(path) as ws:
        ingest_cdnow(ws)
        rox.value.clv_table(ws, horizon=26)
        first = _stored(ws)["clv"].sum()
        rox.value.clv_table(ws, horizon=52)
        assert len(_stored(ws)) == 2_357  # replaced, not appended
        assert _stored(ws)["clv"].sum() > first
    with rox.open(path, read_only=True) as ws:
        assert len(_stored(ws)) == 2_357  # kept in the workspace
        with pytest.raises(WorkspaceError, match="read-only"):
            rox.value.clv_table(ws)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"horizon": 0}, "horizon"), ({"margin": -0.1}, "margin"), ({"model": "x"}, "purchase model")],
)
def test_bad_settings(cdnow, options, message):
    with pytest.raises(MetricError, match=message):
        rox.value.clv_table(cdnow, **options)


# -- memory -----------------------------------------------------------------------------------
def _peak(run) -> int:
    """Peak bytes Python allocated while ``run()`` ran (numpy and pandas arrays included)."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_python_memory_does_not_grow_with_customers():
    """10x the customers: clv_table's peak in Python follows the distinct rows, clv's the customers.

    Measured with tracemalloc after one warm-up call (imports, compiled queries). The same
    measure on rox.value.clv shows that it sees per-customer rows reaching Python; 200,000
    customers' rows of rox_clv would add 14 MB.
    """
    peaks: dict[int, dict[str, int]] = {}
    for n in (20_000, 200_000):
        with rox.open("duckdb://:memory:") as ws:
            insert_rows(ws, "transactions", weekly_purchases(n, seed=1))
            result = rox.value.clv_table(ws)
            assert int(result.frame["customers"].iloc[0]) == n
            peaks[n] = {
                "clv_table": _peak(lambda ws=ws: rox.value.clv_table(ws)),
                "clv": _peak(lambda ws=ws: rox.value.clv(ws)),
                "distinct_rows": result.distinct_rows,
            }
    small, large = peaks[20_000], peaks[200_000]
    assert large["clv"] > 5 * small["clv"], peaks  # the measure sees customers in Python
    # the fits' working arrays grow with the distinct rows (1,763 -> 2,480 here), not the customers
    rows = large["distinct_rows"] / small["distinct_rows"]
    assert large["clv_table"] < 1.25 * rows * small["clv_table"], peaks
    assert large["clv_table"] < 2 * small["clv_table"], peaks
    assert large["clv_table"] < large["clv"] / 4, peaks


def test_friction_prices_customers_from_the_table(tmp_path):
    """impact.friction(value=CLVTable) joins rox_clv in the engine: the values of value=CLV."""
    import rox.demo

    ws = rox.demo.build(tmp_path / "demo.duckdb", n_customers=1_000, seed=5)
    with ws:
        stored = rox.value.clv_table(ws, margin=0.2)
        in_engine = rox.impact.friction(ws, journey="purchase", value=stored)
        in_python = rox.impact.friction(ws, journey="purchase",
                                         value=rox.value.clv(ws, margin=0.2))  # fmt: skip
    assert in_engine.value_basis == in_python.value_basis == stored.basis
    assert in_engine.frame["value_at_risk"].sum() > 0
    pd.testing.assert_frame_equal(in_engine.frame, in_python.frame, check_exact=False, rtol=1e-7)
