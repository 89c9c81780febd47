"""Churn hazard with time-varying NPS: E-values by hand, a simulated asymmetry, the demo."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.impact import e_value


def test_e_value_of_vanderweele_and_dings_example():
    # VanderWeele & Ding (2017): RR 3.9 (1.8 to 8.7) -> 3.9 + sqrt(3.9 x 2.9) = 7.26; the lower
    # limit 1.8 + sqrt(1.8 x 0.8) = 3.0
    point, ci = e_value(3.9, 1.8, 8.7)
    assert point == pytest.approx(3.9 + math.sqrt(3.9 * 2.9))
    assert point == pytest.approx(7.26, abs=0.005)
    assert ci == pytest.approx(3.0)


def test_e_value_of_a_protective_ratio_and_an_interval_covering_one():
    # RR 0.5 -> 1/0.5 = 2: 2 + sqrt(2) = 3.414; the limit nearer 1 is 0.8 -> 1.25 + sqrt(0.3125)
    point, ci = e_value(0.5, 0.3, 0.8)
    assert point == pytest.approx(2 + math.sqrt(2))
    assert ci == pytest.approx(1.25 + math.sqrt(1.25 * 0.25))
    assert e_value(1.4, 0.9, 2.1)[1] == 1.0
    assert e_value(1.0, 0.8, 1.2) == (1.0, 1.0)


def test_e_value_of_a_common_outcome_converts_the_hazard_ratio():
    # HR 2 with a common outcome: RR = (1 - 0.5^sqrt 2) / (1 - 0.5^sqrt(1/2))
    # = 0.624787 / 0.387456 = 1.612547, E = 1.612547 + sqrt(1.612547 x 0.612547) = 2.606409
    point, ci = e_value(2.0, 1.5, 2.5, rare=False)
    assert point == pytest.approx(2.606409, abs=1e-6)
    # 1.5 -> RR 1.323813 -> 1.978541
    assert ci == pytest.approx(1.978541, abs=1e-6)


def test_e_value_refuses_what_is_not_a_ratio():
    with pytest.raises(MetricError, match="must be positive"):
        e_value(0.0, 0.0, 1.0)
    with pytest.raises(MetricError, match="low <= estimate <= high"):
        e_value(2.0, 2.5, 3.0)


# -- a simulated brand with a known asymmetry ------------------------------------------------------
B_DROP, B_RISE = math.log(2.0), math.log(0.8)  # a drop doubles the hazard; a rise cuts it by 20%


def _simulated(ws: rox.Workspace, n: int = 3_000, seed: int = 11) -> None:
    """Customers who buy every 30 days until they churn; NPS on a day in 1-60, and on day 200.

    The hazard is 1/900 a day, times exp(B_DROP x groups fallen + B_RISE x groups risen) from the
    second answer on (levels themselves have no effect).
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2020-01-01", tz="UTC")
    first = rng.integers(0, 300, n)
    level1 = rng.integers(0, 3, n)
    asked = rng.integers(1, 61, n)
    change = rng.choice([-1, 0, 1], n, p=[0.3, 0.4, 0.3])
    level2 = np.clip(level1 + change, 0, 2)
    drop, rise = np.maximum(level1 - level2, 0), np.maximum(level2 - level1, 0)
    base = 1 / 900
    early = rng.exponential(1 / base, n)
    late = 200 + rng.exponential(1 / (base * np.exp(B_DROP * drop + B_RISE * rise)))
    life = np.where(early < 200, early, late)
    end = 2_000
    tx, answers = [], []
    score = {0: 4.0, 1: 7.0, 2: 10.0}
    for i in range(n):
        days = np.arange(first[i], min(first[i] + life[i], end), 30)
        tx.extend((f"c{i}", start + pd.Timedelta(days=int(d)), 50.0) for d in days)
        for k, (day, level) in enumerate(((asked[i], level1[i]), (200, level2[i]))):
            if day < life[i] and first[i] + day < end:
                ts = start + pd.Timedelta(days=int(first[i] + day))
                answers.append((f"r{i}-{k}", f"c{i}", ts, score[level]))
    t = pd.DataFrame(tx, columns=["customer_id", "ts", "amount"])
    t["order_id"] = [f"o{j}" for j in range(len(t))]
    ws.ingest("transactions", t)
    r = pd.DataFrame(answers, columns=["response_id", "customer_id", "ts", "score"])
    r["metric"] = "nps"
    ws.ingest("responses", r)


@pytest.mark.slow
def test_the_asymmetry_planted_in_a_simulation_is_recovered():
    with rox.open("duckdb://:memory:") as ws:
        _simulated(ws)
        result = rox.impact.churn_hazard(ws, inactive_after=120)
    drop = result.hazard_ratio("nps_drop", "asymmetry")
    rise = result.hazard_ratio("nps_rise", "asymmetry")
    assert drop[1] < math.exp(B_DROP) < drop[2]
    assert rise[1] < math.exp(B_RISE) < rise[2]
    # b_drop + b_rise = ln 2 + ln 0.8 = 0.47: a drop hurts more than a rise helps
    assert result.asymmetry_low < B_DROP + B_RISE < result.asymmetry_high
    assert result.asymmetry_low > 0
    assert "a drop hurts more than a rise helps" in str(result)
    # the levels have no effect of their own
    for level in ("promoter", "detractor"):
        _, low, high = result.hazard_ratio(f"before_{level}", "asymmetry")
        assert low < 1 < high


@pytest.mark.slow
def test_demo_detractors_churn_faster():
    ws = rox.demo.build("duckdb://:memory:", n_customers=8_000, seed=7)
    result = rox.impact.churn_hazard(ws)
    hr, low, high = result.hazard_ratio("detractor")
    # planted: detractors' lives are 1.25 years against passives' 3 (a rate ratio of 2.4)
    assert 1 < low < hr < high
    row = result.frame.set_index("covariate").loc["detractor"]
    assert row["e_value"] > row["e_value_ci"] > 1
    assert not result.rare  # a third of the buyers churn: the common-outcome E-value
    assert "associational" in str(result)
    assert result.plot().data[0].type == "scatter"
    ws.close()


def test_a_workspace_without_churn_is_a_clear_error():
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest(
            "transactions",
            pd.DataFrame(
                {
                    "customer_id": ["a", "a"],
                    "ts": ["2024-01-01", "2024-02-01"],
                    "amount": [1.0, 2.0],
                    "order_id": ["o1", "o2"],
                }
            ),
        )
        with pytest.raises(MetricError, match="no customer churned"):
            rox.impact.churn_hazard(ws)


# -- the baseline (Breslow) and each customer's churn probability (#17) ---------------------------
# Counting-process rows (start, stop], event at stop, relative risk exp(b'z):
#   A (0, 2] event, 1.0   B (0, 3] censored, 2.0   C (1, 3] event, 0.5   D (0, 3] event, 1.5
#   E (3, 6] event, 1.0   F (2, 5] censored, 4.0
# at s = 2: A, B, C, D at risk (F starts at 2: not yet; A stops at 2: still) = 5, one event: 0.2
# at s = 3: B, C, D, F (A gone; E starts at 3: not yet; B censored at 3: still) = 8, two: 0.25
# at s = 6: E only = 1, one event: 1.0          H0 = 0.2, 0.45, 1.45 at 2, 3, 6
BRESLOW_ROWS = {
    "start": [0.0, 0.0, 1.0, 0.0, 3.0, 2.0],
    "stop": [2.0, 3.0, 3.0, 3.0, 6.0, 5.0],
    "event": [True, False, True, True, True, False],
    "risk": [1.0, 2.0, 0.5, 1.5, 1.0, 4.0],
}


def test_breslow_baseline_by_hand_with_ties_and_late_entries():
    from rox.impact import breslow

    r = BRESLOW_ROWS
    got = breslow(np.array(r["start"]), np.array(r["stop"]), np.array(r["event"]),
                  np.array(r["risk"]))  # fmt: skip
    assert got["time"].tolist() == [2.0, 3.0, 6.0]
    assert got["cumulative_hazard"].to_numpy() == pytest.approx([0.2, 0.45, 1.45], rel=1e-12)


def test_breslow_refuses_rows_that_are_not_intervals():
    from rox.impact import breslow

    with pytest.raises(MetricError, match="start < stop"):
        breslow(np.array([1.0]), np.array([1.0]), np.array([True]), np.array([1.0]))
    with pytest.raises(MetricError, match="one value per row"):
        breslow(np.array([0.0, 0.0]), np.array([1.0]), np.array([True]), np.array([1.0]))


def test_breslow_matches_lifelines_baseline_on_time_varying_data():
    # the peer: lifelines' CoxTimeVaryingFitter keeps the same sum at the mean covariates,
    # H0_lifelines(t) = H0(t) exp(mean(z)'b) (mean over the rows it was fitted on)
    from lifelines import CoxTimeVaryingFitter

    from rox.impact import breslow

    rng = np.random.default_rng(3)
    n = 300
    switch = rng.uniform(5, 40, n)
    z1, z2 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    end = np.round(rng.exponential(60 / np.exp(0.7 * z1), n)) + 1.0
    censor = np.round(rng.uniform(20, 120, n)) + 1.0
    stop, event = np.minimum(end, censor), end <= censor
    rows = []
    for i in range(n):
        cut = float(np.round(switch[i]))
        if cut < stop[i]:
            rows.append((i, 0.0, cut, False, z1[i], 0))
            rows.append((i, cut, stop[i], event[i], z1[i], z2[i]))
        else:
            rows.append((i, 0.0, stop[i], event[i], z1[i], 0))
    data = pd.DataFrame(rows, columns=["id", "start", "stop", "event", "z1", "z2"])
    fitter = CoxTimeVaryingFitter().fit(data, id_col="id", event_col="event",
                                        start_col="start", stop_col="stop")  # fmt: skip
    b = fitter.params_[["z1", "z2"]].to_numpy()
    z = data[["z1", "z2"]].to_numpy(float)
    ours = breslow(data["start"].to_numpy(), data["stop"].to_numpy(),
                   data["event"].to_numpy(bool), np.exp(z @ b))  # fmt: skip
    theirs = fitter.baseline_cumulative_hazard_.iloc[:, 0]
    assert ours["time"].tolist() == theirs.index.tolist()
    scaled = ours["cumulative_hazard"].to_numpy() * np.exp(z.mean(axis=0) @ b)
    assert scaled == pytest.approx(theirs.to_numpy(), rel=1e-9)


def _hand_baseline() -> pd.DataFrame:
    return pd.DataFrame({"time": [2.0, 3.0, 6.0], "cumulative_hazard": [0.2, 0.45, 1.45]})


def test_churn_probability_by_hand_on_both_sides_of_the_last_churn():
    from rox.impact.hazard import churn_probability

    base = _hand_baseline()  # last churn at 6
    # horizon 4: t = 1 -> (1, 5]: 0.45; t = 2 -> (2, 6]: 1.45 - 0.2 = 1.25 (t + h = 6: observed);
    # t = 3 -> t + h = 7 passes 6: the last 4 days observed, (2, 6]: 1.25 (not (3, 7]: 1.0)
    p, moved = churn_probability(base, np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]), 4)
    assert p == pytest.approx([1 - math.exp(-0.9), 1 - math.exp(-2.5), 1 - math.exp(-2.5)])
    assert moved.tolist() == [False, False, True]
    # a horizon longer than the follow-up: (0, 6], the whole baseline; hazard ratio 1
    p, moved = churn_probability(base, np.array([1.0]), np.array([1.0]), 10)
    assert p == pytest.approx([1 - math.exp(-1.45)]) and moved.tolist() == [True]
    # a window between churn times gains nothing: (3.5, 5.5]
    p, _ = churn_probability(base, np.array([3.5]), np.array([3.0]), 2)
    assert p.tolist() == [0.0]


def test_churn_hazard_keeps_the_group_models_baseline(demo):
    hazard = rox.impact.churn_hazard(demo)
    risk = rox.impact.churn_risk(demo, horizon_days=90)
    pd.testing.assert_frame_equal(hazard.baseline, risk.baseline)
    assert hazard.baseline["cumulative_hazard"].is_monotonic_increasing
    # the per-customer hazard ratios are the group model's
    hr = hazard.frame[hazard.frame["model"] == "group"].set_index("covariate")["hazard_ratio"]
    for group in ("promoter", "detractor"):
        got = risk.frame.loc[risk.frame["nps_group"] == group, "hazard_ratio"].unique()
        assert got == pytest.approx([hr[group]], rel=1e-12)
    assert (risk.frame.loc[risk.frame["nps_group"] == "passive", "hazard_ratio"] == 1.0).all()
    assert risk.frame["p_churn"].between(0, 1).all()


def test_churn_risk_refuses_a_horizon_that_is_not_positive(demo):
    with pytest.raises(MetricError, match="horizon_days=0"):
        rox.impact.churn_risk(demo, horizon_days=0)
