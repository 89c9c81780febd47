"""Customers at risk on a hand-built workspace: P(alive), value at risk, ranking, reasons (#17).

The workspace (tests/actions/conftest.py) is read on 2024-12-31; 90 days before is 2024-10-02.
P(alive) comes from the CDNOW BG/NBD (given parameters), written out by hand here; CLV values are
set by hand. Purchases (x repeat days, t_x and T in days from the first purchase):

- p1: 01-05, 02-01, 03-01, 06-01: x = 3, t_x = 148; T = 361 now, 271 on 10-02. CLV 1000. Latest
  NPS 3 on 11-02 about financing (9 before); support calls on 12-01 (31 days back: outside the
  30-day window), 12-02 (the 30th day: inside) and 12-20.
- p2: 02-01, 05-01: x = 1, t_x = 90; T = 334 / 244. CLV 500. CSAT 2.
- p3: 03-01, 04-01 and 12-15 (after 10-02): P(alive) rose: not at risk.
- p4: one purchase: x = 0, P(alive) = 1 on both days: not at risk.
- p6: first purchase 10-03, the day after 10-02: P(alive) then is 1 (at the first purchase);
  10-20: x = 1, t_x = 17, T = 89 now. CLV 300. Journey ended at financing; a complaint on 12-31.
- p7: 01-10 and 10-02 (on the day itself: counted before): x = 1, t_x = 266; T = 356 / 266.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import rox
from rox.errors import MetricError

SRC = str(Path(rox.__file__).resolve().parents[1])
CLV_VALUES = {"p1": 1000.0, "p2": 500.0, "p3": 400.0, "p4": 900.0, "p6": 300.0, "p7": 200.0}


def _days(a: str, b: str) -> int:
    return (pd.Timestamp(b) - pd.Timestamp(a)).days


@pytest.fixture
def expected(p_alive_by_hand):
    """(p_alive, p_alive_before, value_at_risk) per customer, by hand."""
    now, before = "2024-12-31", "2024-10-02"
    histories = {  # first purchase, purchases up to each day: (x, last purchase)
        "p1": ("2024-01-05", (3, "2024-06-01"), (3, "2024-06-01")),
        "p2": ("2024-02-01", (1, "2024-05-01"), (1, "2024-05-01")),
        "p3": ("2024-03-01", (2, "2024-12-15"), (1, "2024-04-01")),
        "p4": ("2024-03-01", (0, "2024-03-01"), (0, "2024-03-01")),
        "p7": ("2024-01-10", (1, "2024-10-02"), (1, "2024-10-02")),
    }
    out = {}
    for c, (first, (x, last), (xb, lastb)) in histories.items():
        p = p_alive_by_hand(x, _days(first, last), _days(first, now))
        pb = p_alive_by_hand(xb, _days(first, lastb), _days(first, before))
        out[c] = (p, pb, CLV_VALUES[c] * max(0.0, pb - p))
    p6 = p_alive_by_hand(1, _days("2024-10-03", "2024-10-20"), _days("2024-10-03", now))
    out["p6"] = (p6, 1.0, 300.0 * (1.0 - p6))
    return out


@pytest.fixture
def result(at_risk_ws, given_clv):
    value = given_clv(CLV_VALUES)
    return rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", goal="purchase")


def test_ranked_by_value_at_risk_by_hand(result, expected):
    at_risk = {c: v for c, v in expected.items() if v[2] > 0}
    order = sorted(at_risk, key=lambda c: -at_risk[c][2])
    assert order == ["p1", "p6", "p2", "p7"]  # p3 (P(alive) rose) and p4 (x = 0) are not listed
    f = result.frame
    assert f["customer_id"].tolist() == order
    assert f["rank"].tolist() == [1, 2, 3, 4]
    for row in f.itertuples():
        p, pb, var = expected[row.customer_id]
        assert row.p_alive == pytest.approx(p, rel=1e-12)
        assert row.p_alive_before == pytest.approx(pb, rel=1e-12)
        assert row.value_at_risk == pytest.approx(var, rel=1e-12)
        assert row.clv == CLV_VALUES[row.customer_id]
    assert result.customers_at_risk == 4
    assert result.total_value_at_risk == pytest.approx(sum(v[2] for v in at_risk.values()))
    assert expected["p3"][0] > expected["p3"][1] and expected["p4"][:2] == (1.0, 1.0)


def test_reasons_in_words(result, expected):
    reasons = dict(zip(result.frame["customer_id"], result.frame["reasons"], strict=True))
    p, pb, _ = expected["p1"]
    assert reasons["p1"] == [
        "detractor (3) on 2024-11-02 after financing",
        f"P(alive) fell from {pb:.2f} to {p:.2f} in 90 days",
        "no purchase for 213 days",
        "two support calls in 30 days",  # 12-02 and 12-20; 12-01 is 31 days back
    ]
    p, pb, _ = expected["p6"]
    assert reasons["p6"] == [
        "their journey ended at a friction point",
        f"P(alive) fell from 1.00 to {p:.2f} in 90 days",
        "no purchase for 72 days",
        "one complaint in 30 days",
    ]
    assert reasons["p2"][0] == "not satisfied at the last CSAT answer (mean 2.0 of 5)"
    assert reasons["p7"][-1] == "no purchase for 90 days"
    f = result.frame.set_index("customer_id")
    assert f.loc["p1", "support_contacts"] == 2 and f.loc["p6", "complaints"] == 1


def test_profile_carries_the_latest_nps_answers_day_and_touchpoint(at_risk_ws, given_clv):
    p = rox.impact.profile(at_risk_ws, value=given_clv(CLV_VALUES), goal="purchase")
    f = p.to_frame().set_index("customer_id")
    assert str(f.loc["p1", "nps_latest_at"])[:10] == "2024-11-02"  # the 3, not the earlier 9
    assert f.loc["p1", "nps_touchpoint"] == "financing"
    assert f.loc["p6", "nps_touchpoint"] == "delivery"
    assert pd.isna(f.loc["p2", "nps_latest_at"])  # answered CSAT only


def test_top_min_clv_and_lookback(at_risk_ws, given_clv, p_alive_by_hand):
    value = given_clv(CLV_VALUES)
    top = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", top=2)
    assert top.frame["customer_id"].tolist() == ["p1", "p6"] and top.customers_at_risk == 4
    rich = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", min_clv=500)
    assert rich.frame["customer_id"].tolist() == ["p1", "p2"]  # p2's CLV is 500: kept
    # a window of 89 days starts on 10-03: p7's purchase on 10-02 is now before it, so is
    # p6's first on 10-03 (x = 0 there: P(alive) 1)
    short = rox.actions.at_risk(at_risk_ws, value=value, as_of="2024-12-31", lookback_days=89)
    p7 = short.frame.set_index("customer_id").loc["p7"]
    expected = p_alive_by_hand(
        1, _days("2024-01-10", "2024-10-02"), _days("2024-01-10", "2024-10-03")
    )
    assert p7["p_alive_before"] == pytest.approx(expected, rel=1e-12)


def test_bad_settings(at_risk_ws, given_clv):
    with pytest.raises(MetricError, match="positive"):
        rox.actions.at_risk(at_risk_ws, top=0)
    with pytest.raises(MetricError, match="positive"):
        rox.actions.at_risk(at_risk_ws, lookback_days=0)
    bare = rox.value.CLV(frame=pd.DataFrame({"customer_id": ["p1"], "clv": [1.0]}))
    with pytest.raises(MetricError, match="purchase model"):
        rox.actions.at_risk(at_risk_ws, value=bare)


def test_records_and_figure(result):
    records = result.records()
    assert records[0]["customer_id"] == "p1" and isinstance(records[0]["reasons"], list)
    assert {"customer_id", "value_at_risk", "p_alive", "clv", "reasons"} <= set(records[0])
    fig = result.plot()
    assert list(fig.data[0].y) == ["p7", "p2", "p6", "p1"]  # highest at the top
    assert "p1: 201 at risk" in str(result)


def test_reasons_escape_html_in_the_figure(at_risk_ws, given_clv):
    at_risk_ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": ["x1"],
                "customer_id": ["p2"],
                "ts": ["2024-12-01"],
                "metric": ["nps"],
                "score": [1.0],
                "touchpoint": ["<b>call</b>"],
            }
        ),
    )
    result = rox.actions.at_risk(at_risk_ws, value=given_clv(CLV_VALUES), as_of="2024-12-31")
    reasons = result.frame.set_index("customer_id").loc["p2", "reasons"]
    assert reasons[0] == "detractor (1) on 2024-12-01 after <b>call</b>"
    hover = result.plot().data[0].customdata
    assert any("&lt;b&gt;call&lt;/b&gt;" in row[1] for row in hover)


# -- on the demo brand ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_value(demo_path):
    with rox.open(demo_path, read_only=True) as ws:
        return rox.value.clv(ws)


@pytest.mark.slow
def test_demo_list_is_sensible(demo, demo_value):
    result = rox.actions.at_risk(demo, value=demo_value, top=50, journey="purchase",
                                 goal="purchase")  # fmt: skip
    f = result.frame
    assert len(f) == 50 and result.customers_at_risk >= 50
    assert f["value_at_risk"].is_monotonic_decreasing and (f["value_at_risk"] > 0).all()
    assert (f["p_alive_before"] > f["p_alive"]).all()
    # ranked by value at risk, the list holds customers worth far more than the average buyer
    assert f["clv"].median() > demo_value.frame["clv"].median()
    assert all(any(r.startswith("P(alive) fell") for r in rs) for rs in f["reasons"])


@pytest.mark.slow
def test_cli_json_one_object_per_customer(demo_path):
    out = subprocess.run(
        [sys.executable, "-m", "rox", "at-risk", "--top", "5", "--format", "json",
         "--workspace", str(demo_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": SRC},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 5
    for r in rows:
        assert {"customer_id", "value_at_risk", "p_alive", "clv", "reasons"} <= set(r)
        assert isinstance(r["reasons"], list) and all(isinstance(s, str) for s in r["reasons"])
    assert [r["value_at_risk"] for r in rows] == sorted((r["value_at_risk"] for r in rows),
                                                        reverse=True)  # fmt: skip


# -- the churn hazard as the signal ---------------------------------------------------------------
def test_hazard_signal_and_its_horizon_are_checked(at_risk_ws, given_clv):
    value = given_clv(CLV_VALUES)
    with pytest.raises(MetricError, match="signal='cox'"):
        rox.actions.at_risk(at_risk_ws, value=value, signal="cox")
    with pytest.raises(MetricError, match="horizon_days=0"):
        rox.actions.at_risk(at_risk_ws, value=value, signal="hazard", horizon_days=0)
    # one day is a horizon; this log (2024 only) has nobody lost after 365 days without buying
    with pytest.raises(MetricError, match="no customer churned"):
        rox.actions.at_risk(at_risk_ws, value=value, signal="hazard", horizon_days=1,
                            as_of="2024-12-31")  # fmt: skip


@pytest.fixture(scope="module")
def demo_hazard(demo_path, demo_value):
    with rox.open(demo_path, read_only=True) as ws:
        return rox.actions.at_risk(ws, value=demo_value, signal="hazard", top=None)


@pytest.mark.slow
def test_demo_hazard_list_is_clv_times_p_churn(demo_hazard, demo_value):
    f = demo_hazard.frame
    assert f["value_at_risk"].is_monotonic_decreasing and (f["value_at_risk"] > 0).all()
    assert f["value_at_risk"].to_numpy() == pytest.approx((f["clv"] * f["p_churn"]).to_numpy())
    worth = demo_value.frame.set_index("customer_id")
    assert f["clv"].tolist() == worth.loc[f["customer_id"], "clv"].tolist()
    assert f["p_alive"].tolist() == worth.loc[f["customer_id"], "p_alive"].tolist()
    assert demo_hazard.customers_at_risk == len(f)
    assert demo_hazard.total_value_at_risk == pytest.approx(f["value_at_risk"].sum())
    assert all(any(r.startswith("P(churn within 90 days)") for r in rs) for rs in f["reasons"])
    assert "P(churn within 90 days)" in demo_hazard.plot().layout.title.text


@pytest.mark.slow
def test_demo_hazard_ranks_detractors_after_friction_higher(demo_hazard):
    # planted: detractors stop buying sooner (mean life 1.25 years against 3-4), and financing is
    # the friction: detractors who met friction have the higher chance of churning, and come
    # earlier on the list on average. The list ranks by CLV x P(churn), and detractors also buy
    # less (planted too), so the two pull the rank apart: the test of significance is on the
    # chance of churning, the planted effect, not on the rank (p = 0.05 on the 5,000 demo)
    from scipy import stats

    f = demo_hazard.frame
    by = f.groupby("nps_group")["p_churn"].mean()
    assert by["detractor"] > max(by["passive"], by["promoter"])
    hit = (f["nps_group"] == "detractor") & (f["friction"] == "met friction")
    assert hit.sum() >= 20
    assert f.loc[hit, "rank"].mean() < f.loc[~hit, "rank"].mean()
    churn = f["p_churn"]
    test = stats.mannwhitneyu(churn[hit], churn[~hit], alternative="greater")
    assert test.pvalue < 0.01


@pytest.mark.slow
def test_cli_hazard_json_keys(demo_path):
    out = subprocess.run(
        [sys.executable, "-m", "rox", "at-risk", "--signal", "hazard", "--horizon", "60",
         "--top", "5", "--format", "json", "--workspace", str(demo_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": SRC},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 5
    keys = {"customer_id", "value_at_risk", "p_alive", "p_churn", "hazard_ratio", "clv", "reasons"}
    for r in rows:
        assert set(r) == keys
        assert any(s.startswith("P(churn within 60 days)") for s in r["reasons"])
    assert [r["value_at_risk"] for r in rows] == sorted((r["value_at_risk"] for r in rows),
                                                        reverse=True)  # fmt: skip
