"""NPS, CSAT and CES from a workspace: hand-computed values, edge cases and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rox
from rox.errors import MetricError
from rox.experience import ces, counts, csat, nps
from rox.testing import insert_rows, strategies
from rox.testing import responses_frame as responses


def test_nps_by_hand(load):
    ws = load(responses("nps", [10, 9, 9, 8, 7, 6, 5, 0, 10, 3]))
    row = nps(ws).frame.iloc[0]
    assert (row["n"], row["estimate"], row["promoters"], row["detractors"]) == (10, 0, 40, 40)
    # adjusted Wald: (4 + 3/4) / 13 promoters and detractors, 13 responses
    pa = 4.75 / 13
    half = 1.959964 * np.sqrt(2 * pa / 13) * 100
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-half, half), rel=1e-6)
    assert not row["low_n"] if row["n"] >= 30 else row["low_n"]


def test_csat_and_ces_by_hand(load):
    ws = load(
        pd.concat(
            [responses("csat", [5, 4, 4, 3, 5, 1, 2, 4, 5, 5]), responses("ces", [1, 2, 3, 4, 5])]
        )
    )
    c = csat(ws).frame.iloc[0]
    assert c["estimate"] == 70.0
    e = ces(ws).frame.iloc[0]
    assert e["estimate"] == 3.0
    assert e["easy"] == 20.0  # only the 5 is "easy" (5-7)
    assert (e["ci_low"], e["ci_high"]) == pytest.approx(
        (3 - 2.776445 * np.sqrt(0.5), 3 + 2.776445 * np.sqrt(0.5)), rel=1e-5
    )


def test_no_responses_gives_an_empty_result(ws):
    result = nps(ws, by="touchpoint")
    assert len(result) == 0
    assert list(result.frame.columns[:4]) == ["touchpoint", "n", "n_eff", "estimate"]


def test_all_promoters(load):
    ws = load(responses("nps", [10, 9, 10, 9, 10]))
    row = nps(ws).frame.iloc[0]
    assert row["estimate"] == 100
    assert row["ci_high"] <= 100
    assert row["ci_low"] < 100  # five answers do not prove everyone is a promoter
    wald = nps(ws, method="wald").frame.iloc[0]
    assert (wald["ci_low"], wald["ci_high"]) == (100, 100)


def test_single_response(load):
    ws = load(pd.concat([responses("nps", [3]), responses("ces", [6])]))
    row = nps(ws).frame.iloc[0]
    assert (row["n"], row["estimate"], bool(row["low_n"])) == (1, -100, True)
    assert -100 <= row["ci_low"] < row["ci_high"] <= 100
    e = ces(ws).frame.iloc[0]
    assert e["estimate"] == 6 and np.isnan(e["ci_low"])


def test_weights_give_weighted_shares_and_effective_n(load):
    frame = responses("nps", [10, 0, 0], weight=[2.0, 1.0, 1.0])
    row = nps(load(frame)).frame.iloc[0]
    assert row["estimate"] == pytest.approx(0.0)  # 2 promoter-weights vs 2 detractor-weights
    assert row["n"] == 3
    assert row["n_eff"] == pytest.approx(16 / 6)  # (2+1+1)^2 / (4+1+1)


def test_breakdown_by_columns_and_period(load):
    frame = responses(
        "csat", [5, 1, 5, 5, 2, 4], channel=["web", "web", "app", "app", "app", "web"]
    )
    frame["ts"] = pd.to_datetime(
        ["2024-01-05", "2024-01-20", "2024-02-01", "2024-02-10", "2024-03-01", "2024-03-31"],
        utc=True,
    )
    result = csat(load(frame), by="channel", period="month").frame
    got = {(r.channel, r.period.strftime("%Y-%m")): (r.n, r.estimate) for r in result.itertuples()}
    assert got == {
        ("web", "2024-01"): (2, 50.0),
        ("app", "2024-02"): (2, 100.0),
        ("app", "2024-03"): (1, 0.0),
        ("web", "2024-03"): (1, 100.0),
    }


def test_time_filters_are_half_open(load):
    frame = responses("nps", [10, 0, 10])
    frame["ts"] = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"], utc=True)
    ws = load(frame)
    assert nps(ws, since="2024-02-01", until="2024-03-01").frame["n"].tolist() == [1]
    assert nps(ws, since="2024-02-01").frame["n"].tolist() == [2]


def test_breakdown_by_a_customer_attribute_joins_customers(ws):
    insert_rows(ws, "customers", pd.DataFrame({"customer_id": ["a", "b"], "region": ["N", "S"]}))
    insert_rows(ws, "responses", responses("nps", [10, 0, 9], customer_id=["a", "b", "a"]))
    result = nps(ws, by="region").frame
    assert result[["region", "n", "estimate"]].values.tolist() == [
        ["N", 2, 100.0],
        ["S", 1, -100.0],
    ]


def test_declared_scale_is_used_for_categories(ws):
    frame = pd.DataFrame({"ts": ["2024-01-01"] * 4, "metric": ["csat"] * 4, "score": [10, 8, 7, 1]})
    ws.ingest(
        "responses", frame, mapping={"scales": {"csat": {"low": 1, "high": 10, "top_from": 8}}}
    )
    assert csat(ws).frame["estimate"].iloc[0] == 50.0


def test_ces_on_another_scale_is_rescaled_for_the_mean(ws):
    frame = pd.DataFrame(
        {"ts": ["2024-01-01"] * 2, "metric": ["ces"] * 2, "score": [1, 5], "scale": ["1-5", "1-5"]}
    )
    ws.ingest("responses", frame)
    assert ces(ws).frame["estimate"].iloc[0] == pytest.approx(4.0)  # 1 -> 1, 5 -> 7


def test_bad_arguments_are_clear(load):
    ws = load(responses("nps", [10]))
    with pytest.raises(MetricError, match="unknown period 'fortnight'"):
        nps(ws, period="fortnight")
    with pytest.raises(MetricError, match="cannot break down by 'shop'"):
        nps(ws, by="shop")
    with pytest.raises(MetricError, match="unknown interval method 'wilson' for nps"):
        nps(ws, method="wilson")
    with pytest.raises(MetricError, match=r"since .* must be before until"):
        nps(ws, since="2024-02-01", until="2024-01-01")
    with pytest.raises(MetricError, match="'soon' is not a date"):
        nps(ws, since="soon")


def test_bootstrap_methods_run_and_bracket_the_estimate(load):
    ws = load(
        pd.concat(
            [
                responses("nps", [10, 9, 7, 3, 0, 10] * 10),
                responses("csat", [5, 4, 1, 2] * 10),
                responses("ces", [7, 6, 2, 5] * 10),
            ]
        )
    )
    for fn in (nps, csat, ces):
        row = fn(ws, method="bootstrap", seed=1).frame.iloc[0]
        assert row["ci_low"] < row["estimate"] < row["ci_high"]


def test_counts(load):
    ws = load(pd.concat([responses("nps", [10, 9]), responses("csat", [5])]))
    assert counts(ws).set_index("metric")["n"].to_dict() == {"csat": 1, "nps": 2}


def test_result_to_polars_and_plot(load):
    ws = load(responses("nps", [10, 0, 9, 8], channel=["a", "a", "b", "b"]))
    result = nps(ws, by="channel")
    assert result.to_polars().shape == result.frame.shape
    fig = result.plot()
    assert fig.data[0].type == "bar"
    trend = nps(ws, by="channel", period="day").plot()
    assert {t.type for t in trend.data} == {"scatter"}


@pytest.fixture(scope="module")
def scratch():
    """One workspace reused (emptied) by each hypothesis example."""
    with rox.open("duckdb://:memory:") as ws:
        yield ws


def _nps_of(ws: rox.Workspace, frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    ws.backend.raw_sql("DELETE FROM responses")
    insert_rows(ws, "responses", frame)
    return nps(ws, by=by).frame


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frame=strategies.responses("nps", groups=("web", "app", "dealer"), max_size=80),
    seed=st.integers(0, 1000),
)
def test_properties_bounds_order_and_breakdown_totals(scratch, frame, seed):
    scores = frame["score"].to_numpy()
    whole = _nps_of(scratch, frame).iloc[0]
    parts = _nps_of(scratch, frame, by="channel")
    shuffled = _nps_of(scratch, frame.sample(frac=1, random_state=seed)).iloc[0]
    # bounds
    assert -100 <= whole["estimate"] <= 100
    assert -100 <= whole["ci_low"] <= whole["ci_high"] <= 100
    # invariance to row order
    pd.testing.assert_series_equal(whole, shuffled)
    # breakdown totals consistent with the whole
    assert parts["n"].sum() == whole["n"]
    weighted = (parts["estimate"] * parts["n"]).sum() / parts["n"].sum()
    assert weighted == pytest.approx(whole["estimate"], abs=1e-9)
    expected = 100 * (np.mean(scores >= 9) - np.mean(scores <= 6))
    assert whole["estimate"] == pytest.approx(expected)
