"""The churn hazard's rules, each stated and checked on hand figures (#22: mutation testing).

A hand workspace, churn window 30 days; the data end on 2024-12-31 (B's last purchase):

- A buys on 2024-01-01 and 2024-01-11, nothing after: lost at day 10, so its time ends at 11
  (days plus one). NPS: 9 on 2024-01-03 (day 2, promoter), 10 then 3 on 2024-01-06 (day 5: the
  later answer of the day counts, a detractor), 7 on 2024-03-01 (day 60: after its time, not
  used) and a CSAT answer (not NPS, not used). Rows: (0, 2] no response; (2, 5] promoter, before
  promoter (a first answer is no change); (5, 11] detractor, before promoter: a fall of 2 groups,
  and the churn.
- B buys on 2024-06-01 and 2024-12-31: not lost, censored at day 213 (time 214). NPS 5 on its
  first day (day 0: no row before it) and 8 on day 100. Rows: (0, 100] detractor; (100, 214]
  passive, before detractor: a rise of 1 group.
- C buys once, on 2024-03-01, and never answers: lost at day 0. One row (0, 1], the churn.
- D answers 10 on 2023-12-01, before its first purchase on 2024-02-01 (the answer counts from
  day 0), and buys again on 2024-02-05: lost at day 4. One row (0, 5] promoter, the churn.
- E only answers: not a buyer, not in the model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import ConvergenceError, MetricError
from rox.impact import hazard as hazard_module
from rox.impact.hazard import (
    _intervals,
    churn_probability,
    cumulative_hazard_at,
    e_value,
)

WINDOW = 30


def _load(ws: rox.Workspace) -> rox.Workspace:
    tx = [
        ("A", "2024-01-01"),
        ("A", "2024-01-11"),
        ("B", "2024-06-01"),
        ("B", "2024-12-31"),
        ("C", "2024-03-01"),
        ("D", "2024-02-01"),
        ("D", "2024-02-05"),
    ]
    ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [t[0] for t in tx],
                "ts": [t[1] for t in tx],
                "amount": 10.0,
                "order_id": [f"o{i}" for i in range(len(tx))],
            }
        ),
    )
    answers = [
        ("A", "2024-01-03 10:00", "nps", 9),
        ("A", "2024-01-06 18:00", "nps", 3),
        ("A", "2024-01-06 08:00", "nps", 10),
        ("A", "2024-03-01 10:00", "nps", 7),
        ("A", "2024-01-04 10:00", "csat", 1),
        ("B", "2024-06-01 12:00", "nps", 5),
        ("B", "2024-09-09 12:00", "nps", 8),
        ("D", "2023-12-01 12:00", "nps", 10),
        ("E", "2024-05-01 12:00", "nps", 0),
    ]
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": [f"r{i}" for i in range(len(answers))],
                "customer_id": [a[0] for a in answers],
                "ts": pd.to_datetime([a[1] for a in answers], utc=True),
                "metric": [a[2] for a in answers],
                "score": [float(a[3]) for a in answers],
            }
        ),
    )
    return ws


@pytest.fixture
def hand():
    with rox.open("duckdb://:memory:") as ws:
        yield _load(ws)


N = math.nan
#: The counting-process rows of the module docstring, by hand: customer, start, stop, level (0
#: detractor, 1 passive, 2 promoter), level before, churn at the row's end.
ROWS = [
    ("A", 0.0, 2.0, N, N, 0),
    ("A", 2.0, 5.0, 2, 2, 0),
    ("A", 5.0, 11.0, 0, 2, 1),
    ("B", 0.0, 100.0, 0, 0, 0),
    ("B", 100.0, 214.0, 1, 0, 0),
    ("C", 0.0, 1.0, N, N, 1),
    ("D", 0.0, 5.0, 2, 2, 1),
]


def test_counting_process_rows_by_hand(hand):
    got = _intervals(hand, WINDOW, None)
    want = pd.DataFrame(
        ROWS, columns=["customer_id", "start", "stop", "level", "before", "event"]
    ).astype({"level": float, "before": float})
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for column in ("start", "stop", "level", "before"):
        assert got[column].to_numpy(float) == pytest.approx(
            want[column].to_numpy(float), nan_ok=True
        ), column
    assert got["event"].tolist() == want["event"].tolist()
    # ids: the buyers in customer order
    assert got["id"].tolist() == [0, 0, 0, 1, 1, 2, 3]
    # covariates against passives; no response before any answer
    assert got["promoter"].tolist() == [0, 1, 0, 0, 0, 0, 1]
    assert got["detractor"].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert got["no response"].tolist() == [1, 0, 0, 0, 0, 1, 0]
    assert got["before_promoter"].tolist() == [0, 1, 1, 0, 0, 0, 1]
    assert got["before_detractor"].tolist() == [0, 0, 0, 1, 1, 0, 0]
    # A fell from promoter to detractor (2 groups); B rose from detractor to passive (1)
    assert got["nps_drop"].tolist() == [0, 0, 2, 0, 0, 0, 0]
    assert got["nps_rise"].tolist() == [0, 0, 0, 0, 1, 0, 0]


def test_an_as_of_moves_the_end_of_the_data(hand):
    # as of 2024-02-15: A's last purchase is 35 days back (lost, > 30), D's 10 (censored at day
    # 14, time 15), B not yet a buyer, C's first purchase after it
    got = _intervals(hand, WINDOW, "2024-02-15")
    d = got[got["customer_id"] == "D"]
    assert d[["start", "stop", "event"]].to_numpy().tolist() == [[0.0, 15.0, 0]]
    assert got.loc[got["customer_id"] == "A", "event"].tolist() == [0, 0, 1]


def test_the_window_decides_who_is_lost_on_both_sides(hand):
    # A's last purchase is 355 days before the end: lost under a 354-day window, not under 355
    lost = _intervals(hand, 354, None)
    kept = _intervals(hand, 355, None)
    assert lost.loc[lost["customer_id"] == "A", "event"].tolist() == [0, 0, 1]
    assert kept.loc[kept["customer_id"] == "A", "event"].tolist() == [0, 0, 0, 0]
    # censored, A's time runs to the end (366): its answer of day 60 now counts, (60, 366] passive
    a = kept[kept["customer_id"] == "A"]
    assert a["stop"].tolist() == [2.0, 5.0, 60.0, 366.0]
    assert a["level"].tolist()[1:] == [2.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 0.0}, "confidence=0.0"),
        ({"confidence": 1.0}, "confidence=1.0"),
        ({"inactive_after": 0}, "inactive_after=0"),
    ],
)
def test_churn_hazard_refuses_bad_settings(hand, kwargs, message):
    with pytest.raises(MetricError, match=message):
        rox.impact.churn_hazard(hand, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"horizon_days": 0}, "horizon_days=0"), ({"inactive_after": 0}, "inactive_after=0")],
)
def test_churn_risk_refuses_bad_settings(hand, kwargs, message):
    with pytest.raises(MetricError, match=message):
        rox.impact.churn_risk(hand, **kwargs)


def test_the_step_function_is_right_continuous():
    base = pd.DataFrame({"time": [2.0, 3.0, 6.0], "cumulative_hazard": [0.2, 0.45, 1.45]})
    # H0 jumps at an event time: 0 before 2, 0.2 at 2, 0.45 at 3 and up to 6, 1.45 from 6
    got = cumulative_hazard_at(base, np.array([0.0, 1.999, 2.0, 2.5, 3.0, 5.999, 6.0, 9.0]))
    assert got.tolist() == [0.0, 0.0, 0.2, 0.2, 0.45, 0.45, 1.45, 1.45]


def test_a_window_ending_exactly_at_the_last_churn_is_not_moved():
    base = pd.DataFrame({"time": [2.0, 3.0, 6.0], "cumulative_hazard": [0.2, 0.45, 1.45]})
    # t + h = 6 = the last churn: observed, (1, 6]: 1.45; t + h = 6.5: moved back to (1, 6]
    p, moved = churn_probability(base, np.array([1.0, 1.5]), np.array([1.0, 2.0]), 5)
    assert moved.tolist() == [False, True]
    assert p == pytest.approx([1 - math.exp(-1.45), 1 - math.exp(-2.9)])


def test_e_value_bounds_of_the_interval():
    # an interval with 1 as its lower limit covers 1: E-value of the interval 1
    assert e_value(2.0, 1.0, 3.0)[1] == 1.0
    assert e_value(0.5, 0.25, 1.0)[1] == 1.0
    # a protective ratio's limit nearer 1 is the upper one: 0.8 -> 1.25 + sqrt(1.25 x 0.25)
    assert e_value(0.5, 0.3, 0.8)[1] == pytest.approx(1.25 + math.sqrt(0.3125))
    # estimate at either end of its interval is accepted
    assert e_value(2.0, 2.0, 3.0)[0] == pytest.approx(2 + math.sqrt(2))
    assert e_value(3.0, 2.0, 3.0)[0] == pytest.approx(3 + math.sqrt(6))
    with pytest.raises(MetricError, match="low=0"):
        e_value(2.0, 0.0, 3.0)
    with pytest.raises(MetricError, match="high=-1"):
        e_value(2.0, 1.5, -1.0)


# -- a brand big enough to fit: the fits' wiring checked against lifelines on rows built here ----
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2024-12-31")
SCORE = {"detractor": 3.0, "passive": 7.0, "promoter": 10.0}


def _brand(n: int = 100, seed: int = 2) -> pd.DataFrame:
    """Customers with one purchase a 20-day step apart from their first, at most one NPS answer.

    One row per customer: ``first`` (days from 2023-01-01), ``life`` (days from the first to the
    last purchase), ``group`` of the answer (or None) and its day ``asked`` since the first.
    """
    rng = np.random.default_rng(seed)
    groups = rng.choice(["detractor", "passive", "promoter", None], n)
    first = rng.integers(0, 200, n)
    scale = np.array([{"detractor": 300, "promoter": 900}.get(g, 500) for g in groups])
    life = np.minimum(np.round(rng.exponential(scale) / 20) * 20, 700 - first).astype(int)
    asked = rng.integers(0, 60, n)
    return pd.DataFrame({"first": first, "life": life, "group": groups, "asked": asked})


def _load_brand(ws: rox.Workspace, brand: pd.DataFrame) -> None:
    tx, answers = [("z", END)], []
    for i, c in brand.iterrows():
        tx.extend(
            (f"k{i:03d}", START + pd.Timedelta(days=int(c["first"]) + d))
            for d in range(0, int(c["life"]) + 1, 20)
        )
        if c["group"] is not None:
            ts = START + pd.Timedelta(days=int(c["first"] + c["asked"]), hours=12)
            answers.append((f"k{i:03d}", ts, SCORE[c["group"]]))
    t = pd.DataFrame(tx, columns=["customer_id", "ts"])
    t["amount"], t["order_id"] = 5.0, [f"o{j}" for j in range(len(t))]
    ws.ingest("transactions", t)
    r = pd.DataFrame(answers, columns=["customer_id", "ts", "score"])
    r["ts"] = r["ts"].dt.tz_localize("UTC")
    r["response_id"], r["metric"] = [f"r{j}" for j in range(len(r))], "nps"
    ws.ingest("responses", r)


def _rows(brand: pd.DataFrame) -> pd.DataFrame:
    """The counting-process rows by the module's rule, for customers with at most one answer."""
    rows = []
    end = (END - START).days
    for i, c in brand.iterrows():
        last = int(c["first"] + c["life"])
        lost = end - last > 90
        stop = (c["life"] if lost else end - c["first"]) + 1.0
        z = {g: float(c["group"] == g) for g in ("promoter", "detractor")}
        if c["group"] is None or c["asked"] >= stop:
            rows.append((i, 0.0, stop, lost, 0.0, 0.0, 1.0))
            continue
        if c["asked"] > 0:
            rows.append((i, 0.0, float(c["asked"]), False, 0.0, 0.0, 1.0))
        rows.append((i, float(c["asked"]), stop, lost, z["promoter"], z["detractor"], 0.0))
    # z: bought on the last day only, censored at time 1
    rows.append((len(brand), 0.0, 1.0, False, 0.0, 0.0, 1.0))
    return pd.DataFrame(
        rows, columns=["id", "start", "stop", "event", "promoter", "detractor", "no response"]
    )


@pytest.fixture(scope="module")
def brand():
    frame = _brand()
    with rox.open("duckdb://:memory:") as ws:
        _load_brand(ws, frame)
        yield ws, frame


def test_the_group_model_is_lifelines_on_the_rows(brand):
    from lifelines import CoxTimeVaryingFitter

    ws, frame = brand
    rows = _rows(frame)
    peer = CoxTimeVaryingFitter(alpha=0.1).fit(
        rows, id_col="id", event_col="event", start_col="start", stop_col="stop"
    )
    got = rox.impact.churn_hazard(ws, inactive_after=90, confidence=0.9)
    assert got.customers == len(frame) + 1
    assert got.churned == int(rows["event"].sum())
    assert got.rare == (rows["event"].sum() / (len(frame) + 1) < 0.15)
    s = peer.summary
    for covariate in ("promoter", "detractor", "no response"):
        hr, low, high = got.hazard_ratio(covariate)
        assert hr == pytest.approx(s.loc[covariate, "exp(coef)"], rel=1e-6)
        assert low == pytest.approx(s.loc[covariate, "exp(coef) lower 90%"], rel=1e-6)
        assert high == pytest.approx(s.loc[covariate, "exp(coef) upper 90%"], rel=1e-6)
        row = got.frame.set_index("covariate").loc[covariate]
        assert row["p"] == pytest.approx(s.loc[covariate, "p"], rel=1e-6)
        want = e_value(hr, low, high, rare=got.rare)
        assert (row["e_value"], row["e_value_ci"]) == pytest.approx(want)
    assert got.frame.columns.tolist() == [
        "model", "covariate", "hazard_ratio", "low", "high", "p", "e_value", "e_value_ci", "label"
    ]  # fmt: skip
    assert set(got.frame["label"]) == {"associational"}
    # no answer changed: no asymmetry model, and the note says why
    assert math.isnan(got.asymmetry)
    assert "fall in NPS group 0 times and a rise 0 times" in got.notes[0]


def test_churn_risk_by_lifelines_baseline(brand):
    from lifelines import CoxTimeVaryingFitter

    ws, frame = brand
    rows = _rows(frame)
    peer = CoxTimeVaryingFitter().fit(
        rows, id_col="id", event_col="event", start_col="start", stop_col="stop"
    )
    b = peer.params_[["promoter", "detractor", "no response"]].to_numpy()
    z = rows[["promoter", "detractor", "no response"]].to_numpy(float)
    # lifelines' baseline is H0 at the mean covariates: back to a passive's
    h0 = peer.baseline_cumulative_hazard_.iloc[:, 0] / np.exp(z.mean(axis=0) @ b)
    times, steps = h0.index.to_numpy(float), np.append(0.0, h0.to_numpy())

    def at(t: float) -> float:
        return float(steps[np.searchsorted(times, t, "right")])

    risk = rox.impact.churn_risk(ws, horizon_days=60, inactive_after=90)
    last = rows.groupby("id").tail(1)
    active = last[~last["event"].astype(bool)]
    assert len(risk.frame) == len(active)
    assert risk.last_churn == times[-1]
    want = {}
    for r in active.itertuples():
        hr = math.exp(np.array([r.promoter, r.detractor, r[7]]) @ b)
        lo, hi = (r.stop, r.stop + 60) if r.stop + 60 <= times[-1] else (times[-1] - 60, times[-1])
        name = "z" if r.id == len(frame) else f"k{r.id:03d}"
        want[name] = (1 - math.exp(-(at(hi) - at(lo)) * hr), hr, r.stop)
    got = risk.frame.set_index("customer_id")
    for name, (p, hr, t) in want.items():
        assert got.loc[name, "p_churn"] == pytest.approx(p, rel=1e-6, abs=1e-12)
        assert got.loc[name, "hazard_ratio"] == pytest.approx(hr, rel=1e-6)
        assert got.loc[name, "time"] == t
    # the group of the latest answer, or no response where none came before the customer's time
    for r in active.itertuples():
        if r.id < len(frame):
            c = frame.loc[r.id]
            answered = c["group"] is not None and c["asked"] < r.stop
            want_group = c["group"] if answered else "no response"
            assert got.loc[f"k{r.id:03d}", "nps_group"] == want_group
    assert got.loc["z", "nps_group"] == "no response"
    assert risk.frame["customer_id"].is_monotonic_increasing
    assert risk.frame.columns.tolist() == [
        "customer_id", "time", "nps_group", "hazard_ratio", "p_churn", "extrapolated"
    ]  # fmt: skip
    assert risk.frame.index.tolist() == list(range(len(want)))


def test_the_smallest_settings_are_accepted(brand, hand):
    # a one-day horizon is valid (the refusals above are at 0)
    ws, _ = brand
    risk = rox.impact.churn_risk(ws, horizon_days=1, inactive_after=90)
    assert risk.horizon_days == 1
    # a one-day window passes the check too: the hand brand (4 buyers) then gets to the fit,
    # which its few rows cannot support
    with pytest.raises(ConvergenceError):
        rox.impact.churn_hazard(hand, inactive_after=1)
    with pytest.raises(ConvergenceError):
        rox.impact.churn_risk(hand, inactive_after=1)


def test_a_horizon_past_the_follow_up_starts_at_zero_with_a_churn_at_time_one():
    # a customer lost on their first day has time 1: the window (0, 3] counts its churn, 0.5
    base = pd.DataFrame({"time": [1.0, 3.0], "cumulative_hazard": [0.5, 0.75]})
    p, moved = churn_probability(base, np.array([2.0]), np.array([1.0]), 10)
    assert moved.tolist() == [True]
    assert p == pytest.approx([1 - math.exp(-0.75)])


# -- a brand whose customers answer twice: the asymmetry model ------------------------------------
LEVELS = ("detractor", "passive", "promoter")


def _changing(n: int = 300, seed: int = 8) -> pd.DataFrame:
    """Customers buying every 20 days, answering on a day in 1-30 and again on day 100."""
    rng = np.random.default_rng(seed)
    level1 = rng.integers(0, 3, n)
    level2 = np.clip(level1 + rng.choice([-1, 0, 1], n, p=[0.35, 0.3, 0.35]), 0, 2)
    first = rng.integers(0, 150, n)
    scale = np.where(level2 < level1, 200, np.where(level2 > level1, 500, 350))
    life = np.minimum(np.round(rng.exponential(scale) / 20) * 20, 700 - first).astype(int)
    asked = rng.integers(1, 31, n)
    return pd.DataFrame(
        {"first": first, "life": life, "asked": asked, "level1": level1, "level2": level2}
    )


def _load_changing(ws: rox.Workspace, brand: pd.DataFrame) -> None:
    tx, answers = [("z", END)], []
    for i, c in brand.iterrows():
        tx.extend(
            (f"k{i:03d}", START + pd.Timedelta(days=int(c["first"]) + d))
            for d in range(0, int(c["life"]) + 1, 20)
        )
        for day, level in ((c["asked"], c["level1"]), (100, c["level2"])):
            ts = START + pd.Timedelta(days=int(c["first"] + day), hours=12)
            answers.append((f"k{i:03d}", ts, SCORE[LEVELS[level]]))
    t = pd.DataFrame(tx, columns=["customer_id", "ts"])
    t["amount"], t["order_id"] = 5.0, [f"o{j}" for j in range(len(t))]
    ws.ingest("transactions", t)
    r = pd.DataFrame(answers, columns=["customer_id", "ts", "score"])
    r["ts"] = r["ts"].dt.tz_localize("UTC")
    r["response_id"], r["metric"] = [f"r{j}" for j in range(len(r))], "nps"
    ws.ingest("responses", r)


def _changing_rows(brand: pd.DataFrame) -> pd.DataFrame:
    """The asymmetry model's rows by the module's rule: the level before, groups fallen, risen."""
    rows = []
    end = (END - START).days
    for i, c in brand.iterrows():
        lost = end - int(c["first"] + c["life"]) > 90
        stop = (c["life"] if lost else end - c["first"]) + 1.0
        l1, l2 = int(c["level1"]), int(c["level2"])
        if c["asked"] >= stop:
            rows.append((i, 0.0, stop, lost, 0, 0, 1, 0, 0))
            continue
        rows.append((i, 0.0, float(c["asked"]), False, 0, 0, 1, 0, 0))
        cut = min(100.0, stop)
        last = cut == stop
        rows.append((i, float(c["asked"]), cut, lost and last, l1 == 2, l1 == 0, 0, 0, 0))
        if not last:
            drop, rise = max(l1 - l2, 0), max(l2 - l1, 0)
            rows.append((i, 100.0, stop, lost, l1 == 2, l1 == 0, 0, drop, rise))
    rows.append((len(brand), 0.0, 1.0, False, 0, 0, 1, 0, 0))
    columns = ["before_promoter", "before_detractor", "no response", "nps_drop", "nps_rise"]
    out = pd.DataFrame(rows, columns=["id", "start", "stop", "event", *columns])
    return out.astype(dict.fromkeys(columns, float))


def test_the_asymmetry_model_is_lifelines_on_the_rows_with_its_wald_interval():
    from lifelines import CoxTimeVaryingFitter
    from scipy import stats

    frame = _changing()
    rows = _changing_rows(frame)
    events = rows["event"].astype(bool)
    assert (events & (rows["nps_drop"] > 0)).sum() >= 10
    assert (events & (rows["nps_rise"] > 0)).sum() >= 10
    with rox.open("duckdb://:memory:") as ws:
        _load_changing(ws, frame)
        got = rox.impact.churn_hazard(ws, inactive_after=90, confidence=0.9)
    peer = CoxTimeVaryingFitter(alpha=0.1).fit(
        rows, id_col="id", event_col="event", start_col="start", stop_col="stop"
    )
    s = peer.summary
    for covariate in s.index:
        hr, low, high = got.hazard_ratio(covariate, "asymmetry")
        assert hr == pytest.approx(s.loc[covariate, "exp(coef)"], rel=1e-6)
        assert low == pytest.approx(s.loc[covariate, "exp(coef) lower 90%"], rel=1e-6)
        assert high == pytest.approx(s.loc[covariate, "exp(coef) upper 90%"], rel=1e-6)
    # b_drop + b_rise, its variance var_d + var_r + 2 cov, a 90% Wald interval and p-value
    b = s["coef"]
    v = pd.DataFrame(np.asarray(peer.variance_matrix_), index=b.index, columns=b.index)
    diff = b["nps_drop"] + b["nps_rise"]
    se = math.sqrt(
        v.loc["nps_drop", "nps_drop"]
        + v.loc["nps_rise", "nps_rise"]
        + 2 * v.loc["nps_drop", "nps_rise"]
    )
    assert got.asymmetry == pytest.approx(diff, rel=1e-6)
    assert got.asymmetry_low == pytest.approx(diff - 1.6448536 * se, rel=1e-6)
    assert got.asymmetry_high == pytest.approx(diff + 1.6448536 * se, rel=1e-6)
    assert got.asymmetry_p == pytest.approx(2 * stats.norm.sf(abs(diff) / se), rel=1e-6)
    assert got.notes == ()
    assert got.frame.index.tolist() == list(range(8))  # 3 group rows, then 5 asymmetry rows
    assert got.frame["model"].tolist() == ["group"] * 3 + ["asymmetry"] * 5
    assert got.customers == len(frame) + 1 and got.churned == int(rows["event"].sum())


def _result(asymmetry: float, low: float, high: float) -> rox.impact.ChurnHazard:
    frame = pd.DataFrame(
        {
            "model": ["group", "asymmetry", "asymmetry"],
            "covariate": ["detractor", "nps_drop", "nps_rise"],
            "hazard_ratio": [2.0, 1.5, 0.8],
            "low": [1.5, 1.2, 0.6],
            "high": [2.5, 1.9, 1.1],
            "p": [0.01, 0.02, 0.2],
            "e_value": [3.41, 2.37, 1.81],
            "e_value_ci": [2.37, 1.69, 1.0],
            "label": "associational",
        }
    )
    return rox.impact.ChurnHazard(
        frame=frame, customers=10, churned=4, asymmetry=asymmetry, asymmetry_low=low,
        asymmetry_high=high,
    )  # fmt: skip


def test_the_asymmetry_verdict_on_both_sides_of_zero():
    assert "no evidence that a drop hurts more" in str(_result(0.2, 0.0, 0.4))
    assert "no evidence that a drop hurts more" in str(_result(-0.2, -0.4, 0.0))
    assert "a drop hurts more than a rise helps." in str(_result(0.2, 0.01, 0.4))
    assert "a rise helps more than a drop hurts." in str(_result(-0.2, -0.4, -0.01))
    text = str(_result(0.2, 0.01, 0.4))
    assert "multiplies the hazard by 1.50, each risen by 0.80" in text
    assert "detractor: 2.00 (95% 1.50–2.50); E-value 3.41 (interval 2.37)" in text
    assert "Asymmetry" not in str(_result(math.nan, math.nan, math.nan))


def test_hazard_ratio_names_what_the_model_has():
    result = _result(0.2, 0.01, 0.4)
    assert result.hazard_ratio("nps_rise", "asymmetry") == (0.8, 0.6, 1.1)
    assert result.hazard_ratio("detractor") == (2.0, 1.5, 2.5)
    with pytest.raises(MetricError, match="no covariate 'promoter' in the group model: detractor"):
        result.hazard_ratio("promoter")


def test_the_defaults_a_year_without_a_purchase_a_95_level_and_90_days_ahead(brand):
    ws, _ = brand
    hazard = rox.impact.churn_hazard(ws)
    assert (hazard.inactive_after, hazard.confidence) == (365, 0.95)
    explicit = rox.impact.churn_hazard(ws, inactive_after=365, confidence=0.95)
    pd.testing.assert_frame_equal(hazard.frame, explicit.frame)
    assert hazard.churned == explicit.churned
    risk = rox.impact.churn_risk(ws)
    assert (risk.horizon_days, risk.inactive_after) == (90, 365)
    pd.testing.assert_frame_equal(
        risk.frame, rox.impact.churn_risk(ws, horizon_days=90, inactive_after=365).frame
    )


def test_rare_is_a_churn_share_under_15_percent_on_both_sides():
    """The brand's 63 churners (window 90 days) among 420 customers: exactly 15%, not rare; among
    421: rare. The customers added bought once, on the last day (censored at time 1)."""
    frame = _brand()
    shares = {}
    for extra in (319, 320):
        with rox.open("duckdb://:memory:") as ws:
            _load_brand(ws, frame)
            ws.ingest(
                "transactions",
                pd.DataFrame(
                    {"customer_id": [f"y{j:03d}" for j in range(extra)], "ts": END,
                     "amount": 5.0, "order_id": [f"p{j}" for j in range(extra)]}
                ),
            )  # fmt: skip
            shares[extra] = rox.impact.churn_hazard(ws, inactive_after=90)
    at, under = shares[319], shares[320]
    assert (at.churned, at.customers, at.rare) == (63, 420, False)
    assert (under.churned, under.customers, under.rare) == (63, 421, True)
    # a rare outcome reads the hazard ratio as a risk ratio for the E-value; 15% converts it
    row = under.frame.set_index("covariate").loc["detractor"]
    assert row["e_value"] == pytest.approx(e_value(row["hazard_ratio"], row["low"], row["high"])[0])
    row = at.frame.set_index("covariate").loc["detractor"]
    common = e_value(row["hazard_ratio"], row["low"], row["high"], rare=False)[0]
    assert row["e_value"] == pytest.approx(common)


def test_the_asymmetry_needs_10_churns_after_a_fall_on_both_sides():
    frame = _changing()
    rows = _changing_rows(frame)
    fell = rows.loc[rows["event"].astype(bool) & (rows["nps_drop"] > 0), "id"].tolist()
    assert len(fell) == 32  # and 35 after a rise
    for keep, estimated in ((10, True), (9, False)):
        subset = frame.drop(index=fell[keep:])
        with rox.open("duckdb://:memory:") as ws:
            _load_changing(ws, subset)
            got = rox.impact.churn_hazard(ws, inactive_after=90)
        assert math.isnan(got.asymmetry) is not estimated
        assert ("asymmetry" in set(got.frame["model"])) is estimated
        if not estimated:
            assert got.notes == (
                "the asymmetry is not estimated: churn followed a fall in NPS group 9 times and "
                "a rise 35 times (at least 10 each are needed)",
            )


class _Fitted:
    """What _rows reads of a lifelines fit: its summary (here written by hand)."""

    def __init__(self, summary: pd.DataFrame) -> None:
        self.summary = summary


def test_e_values_only_for_a_finite_positive_interval():
    # a: a zero-width interval (2, 2, 2) still has its E-value 2 + sqrt 2; b: a lower limit of 0
    # and c: an upper limit of infinity (a fit at its bounds) have none
    summary = pd.DataFrame(
        {
            "exp(coef)": [2.0, 2.0, 2.0],
            "exp(coef) lower 90%": [2.0, 0.0, 1.5],
            "exp(coef) upper 90%": [2.0, 3.0, math.inf],
            "p": [0.01, 0.5, 0.2],
        },
        index=pd.Index(["a", "b", "c"], name="covariate"),
    )
    got = hazard_module._rows(_Fitted(summary), "group", 0.9, True).set_index("covariate")
    assert got.loc["a", "e_value"] == pytest.approx(2 + math.sqrt(2))
    assert got.loc["a", "e_value_ci"] == pytest.approx(2 + math.sqrt(2))
    assert got.loc[["b", "c"], "e_value"].isna().all()
    assert got.loc[["b", "c"], "e_value_ci"].isna().all()
    assert got["low"].tolist() == [2.0, 0.0, 1.5] and got["p"].tolist() == [0.01, 0.5, 0.2]


def test_churn_risk_in_plain_words(brand):
    ws, _ = brand
    risk = rox.impact.churn_risk(ws, horizon_days=60, inactive_after=90)
    f = risk.frame
    by = f.groupby("nps_group")["p_churn"].mean()
    groups = ", ".join(
        f"{g} {by[g]:.1%}" for g in ("detractor", "passive", "promoter", "no response")
    )
    assert str(risk) == (
        f"P(churn within 60 days) of {len(f):,} customers still active (churn: no purchase "
        f"within 90 days): mean {f['p_churn'].mean():.1%}; by NPS group: {groups} (associational)"
    )


def test_churn_risk_without_churn_is_a_clear_error():
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest(
            "transactions",
            pd.DataFrame(
                {"customer_id": ["a", "a"], "ts": ["2024-01-01", "2024-02-01"],
                 "amount": [1.0, 2.0], "order_id": ["o1", "o2"]}
            ),
        )  # fmt: skip
        with pytest.raises(MetricError, match="no customer churned under the rule"):
            rox.impact.churn_risk(ws)
