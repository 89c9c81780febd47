"""Journeys on hand-built logs (exact counts), by property, and the planted demo friction."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import rox
from rox.errors import MetricError
from rox.impact import audit, friction
from rox.journey import (
    JourneyQuery,
    channel_switching,
    funnel,
    journey_map,
    paths,
    variants,
)
from rox.testing import insert_rows, strategies
from rox.value import CLV
from rox.value.models import BetaGeoModel, GammaGammaModel

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _log(ws, journeys: dict[str, list], *, customer=None, channel=None, hours: float = 1.0):
    """Insert journeys given as {journey_id: [step, ...]}, one event per ``hours``."""
    rows = []
    for j, steps in journeys.items():
        for i, step in enumerate(steps):
            name, ch = step if isinstance(step, tuple) else (step, channel)
            rows.append(
                {
                    "customer_id": customer or j.split("-")[0],
                    "ts": T0 + pd.Timedelta(hours * i, "h"),
                    "step": name,
                    "channel": ch,
                    "journey": j,
                }
            )
    insert_rows(ws, "events", pd.DataFrame(rows))
    return ws


def _spend(ws, amounts: dict[str, float]) -> None:
    """One transaction per customer, at ``T0``, of the given amounts."""
    frame = pd.DataFrame({"customer_id": list(amounts), "amount": list(amounts.values())})
    insert_rows(ws, "transactions", frame.assign(ts=T0))


LOG = {
    "a-1": ["visit", "configure", "quote", "buy"],
    "b-1": ["visit", "configure", "configure", "quote"],
    "c-1": ["visit", "quote", "buy"],
    "d-1": ["visit"],
}


def test_journey_map_by_hand(ws):
    m = journey_map(_log(ws, LOG))
    got = {(r.source, r.target): r.transitions for r in m.frame.itertuples()}
    assert got == {
        ("visit", "configure"): 2,
        ("configure", "quote"): 2,
        ("quote", "buy"): 2,
        ("configure", "configure"): 1,
        ("visit", "quote"): 1,
    }
    assert m.journeys == 4 and m.events == 12
    assert m.starts.set_index("step")["journeys"].to_dict() == {"visit": 4}
    assert m.ends.set_index("step")["journeys"].to_dict() == {"buy": 2, "quote": 1, "visit": 1}
    assert m.frame.set_index(["source", "target"]).loc[("visit", "configure"), "median_hours"] == 1
    assert m.frame["share"].sum() == pytest.approx(1)


def test_journey_events_columns_by_hand(ws):
    e = JourneyQuery().events(_log(ws, LOG)).execute().sort_values(["journey_id", "seq"])
    b = e[e["journey_id"] == "b-1"]
    assert b["seq"].tolist() == [0, 1, 2, 3]
    assert b["n_events"].tolist() == [4, 4, 4, 4]  # the whole journey, on every event
    assert b["next_step"].tolist() == ["configure", "configure", "quote", None]
    assert b["is_last"].tolist() == [False, False, False, True]
    assert (b["next_epoch_s"].dropna() - b["epoch_s"].iloc[:3]).tolist() == [3600.0] * 3
    assert e.groupby("journey_id")["n_events"].first().to_dict() == {
        j: len(steps) for j, steps in LOG.items()
    }


def test_top_and_coverage_filters(ws):
    m = journey_map(_log(ws, LOG), top=2)
    assert len(m.frame) == 2
    covered = journey_map(ws, coverage=0.5).frame
    assert covered["share"].sum() >= 0.5 and covered["share"].iloc[:-1].sum() < 0.5


def test_variants_and_paths_by_hand(ws):
    v = variants(_log(ws, LOG)).frame
    assert dict(zip(v["path"], v["journeys"], strict=True)) == {
        "visit > configure > quote > buy": 1,
        "visit > configure > configure > quote": 1,
        "visit > quote > buy": 1,
        "visit": 1,
    }
    assert v["share"].sum() == pytest.approx(1)
    after = paths(ws, "quote", depth=1).frame
    assert dict(zip(after["path"], after["journeys"], strict=True)) == {
        "quote > buy": 2,
        "quote": 1,
    }
    before = paths(ws, "quote", direction="before", depth=1).frame
    assert dict(zip(before["path"], before["journeys"], strict=True)) == {
        "configure > quote": 2,
        "visit > quote": 1,
    }
    with pytest.raises(MetricError, match="no journey visits the step 'pay'"):
        paths(ws, "pay")


def test_cleaning_rules(ws):
    _log(ws, LOG)
    collapsed = variants(ws, collapse=True).frame
    assert "visit > configure > quote" in set(collapsed["path"])
    merged = variants(ws, merge={"^(configure|quote)$": "offer"}, collapse=True).frame
    assert "visit > offer > buy" in set(merged["path"])
    dropped = journey_map(ws, exclude=["configure"]).frame
    assert "configure" not in set(dropped["source"]) | set(dropped["target"])
    trimmed = variants(ws, start="configure", end="quote").frame
    assert set(trimmed["path"]) == {"configure > quote", "configure > configure > quote"}


def test_split_by_gap(ws):
    rows = pd.DataFrame(
        {
            "customer_id": ["x"] * 4,
            "ts": [
                T0,
                T0 + pd.Timedelta("1h"),
                T0 + pd.Timedelta("10D"),
                T0 + pd.Timedelta("10D1h"),
            ],
            "step": ["visit", "quote", "visit", "buy"],
        }
    )
    insert_rows(ws, "events", rows)
    got = variants(ws, gap="7D").frame
    assert dict(zip(got["path"], got["journeys"], strict=True)) == {
        "visit > quote": 1,
        "visit > buy": 1,
    }
    assert variants(ws).frame["path"].tolist() == ["visit > quote > visit > buy"]
    with pytest.raises(MetricError, match="not a duration"):
        variants(ws, gap="soon")


def test_funnel_ordered_and_strict_by_hand(ws):
    _log(ws, LOG)
    ordered = funnel(ws, ["visit", "quote", "buy"]).frame
    assert ordered["journeys"].tolist() == [4, 3, 2]
    assert ordered["drop_off"].tolist() == [0, 1, 1]
    assert ordered["step_conversion"].tolist() == pytest.approx([1, 0.75, 2 / 3])
    assert ordered["median_hours"].tolist() == [0, 2, 2.5]
    # a buys 3 h after its visit, c after 2 h: percentiles interpolate between them
    times = funnel(ws, ["visit", "quote", "buy"]).times.set_index("percentile")["hours"]
    assert times[[0, 50, 90, 100]].tolist() == pytest.approx([2.0, 2.5, 2.9, 3.0])
    strict = funnel(ws, ["visit", "quote", "buy"], mode="strict").frame
    assert strict["journeys"].tolist() == [4, 1, 1]  # only c goes visit -> quote directly
    short = funnel(ws, ["visit", "buy"], window="2h30min").frame
    assert short["journeys"].tolist() == [4, 1]  # a buys after 3h, c after 2h
    with pytest.raises(MetricError, match="at least two steps"):
        funnel(ws, ["visit"])


def _wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) score interval at 95%, written out.

    (p + z²/2n ± z √(p(1-p)/n + z²/4n²)) / (1 + z²/n), z the normal 97.5% quantile (scipy).
    """
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def test_funnel_step_interval_is_wilson_on_the_previous_step(ws):
    """#22: ci_low/ci_high: Wilson interval of step_conversion, out of the previous step."""
    f = funnel(_log(ws, LOG), ["visit", "quote", "buy"]).frame
    # visit 4 of 4 entered, quote 3 of 4, buy 2 of 3 (not 2 of the 4 entered)
    expected = [_wilson_by_hand(4, 4), _wilson_by_hand(3, 4), _wilson_by_hand(2, 3)]
    result = [*f["ci_low"], *f["ci_high"]]
    assert result == pytest.approx([lo for lo, _ in expected] + [hi for _, hi in expected])
    assert expected[2][0] != pytest.approx(_wilson_by_hand(2, 4)[0])  # the denominators differ


def test_funnel_window_is_inclusive(ws):
    """#22: a step exactly ``window`` after the entry is in the window; one second later is not."""
    _log(ws, LOG)  # c buys 2 h after its visit, a after 3 h
    at = funnel(ws, ["visit", "buy"], window="2h").frame
    assert at["journeys"].tolist() == [4, 1]  # c, at exactly 2 h
    before = funnel(ws, ["visit", "buy"], window=pd.Timedelta("2h") - pd.Timedelta("1s")).frame
    assert before["journeys"].tolist() == [4, 0]
    assert funnel(ws, ["visit", "buy"], window="3h").frame["journeys"].tolist() == [4, 2]


def test_funnel_columns_breakdowns_level_and_errors_by_hand(ws):
    _log(ws, LOG)
    segments = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["x", "x", "y"]})
    insert_rows(ws, "customers", segments)  # d has no customers row
    f = funnel(ws, ["visit", "quote", "buy"]).frame
    assert f["position"].tolist() == [1, 2, 3]
    assert f["conversion"].tolist() == pytest.approx([1, 0.75, 0.5])
    # hours from entry: quote at 2 h (a), 3 h (b), 1 h (c); buy at 3 h (a), 2 h (c)
    assert f["p90_hours"].tolist() == pytest.approx([0, 2.8, 2.9])
    by_segment = funnel(ws, ["visit", "quote", "buy"], by="segment").frame
    got = by_segment.groupby("segment")["journeys"].apply(list).to_dict()
    assert got == {"(none)": [1, 0, 0], "x": [2, 2, 1], "y": [1, 1, 1]}
    # a group whose journeys all stop at entry: conversion and drop-off from its own entries
    stopped = by_segment[by_segment["segment"] == "(none)"]
    assert stopped["conversion"].tolist() == [1, 0, 0]
    assert stopped["drop_off"].tolist() == [0, 1, 0]
    # a first step nobody visits: nobody entered, so no conversion to speak of (not 0%)
    nobody = funnel(ws, ["pay", "buy"]).frame
    assert nobody["journeys"].tolist() == [0, 0]
    assert nobody[["conversion", "step_conversion", "ci_low", "ci_high"]].isna().all(axis=None)
    # "after the previous step" is strictly later: a step repeated needs a second visit (b's)
    assert funnel(ws, ["configure", "configure"]).frame["journeys"].tolist() == [2, 1]
    by_month = funnel(ws, ["visit", "quote", "buy"], by="month").frame
    assert set(by_month["month"]) == {"2024-01-01"}
    assert by_month["journeys"].tolist() == [4, 3, 2]
    # a 90% interval: z is the normal 95% quantile
    z = stats.norm.ppf(0.95)
    p, n = 3 / 4, 4
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    level = funnel(ws, ["visit", "quote", "buy"], level=0.9).frame.iloc[1]
    assert (level["ci_low"], level["ci_high"]) == pytest.approx((centre - half, centre + half))
    with pytest.raises(MetricError, match="mode must be 'ordered' or 'strict'"):
        funnel(ws, ["visit", "buy"], mode="loose")
    with pytest.raises(MetricError, match="window='soon' is not a duration"):
        funnel(ws, ["visit", "buy"], window="soon")
    with pytest.raises(MetricError, match="cannot break a funnel down by 'colour'"):
        funnel(ws, ["visit", "buy"], by="colour")


def test_funnel_breakdown_by_channel(ws):
    _log(
        ws,
        {
            "a-1": [("visit", "web"), ("buy", "web")],
            "b-1": [("visit", "app")],
            "c-1": [("visit", "web")],
        },
    )
    f = funnel(ws, ["visit", "buy"], by="channel").frame
    got = f.set_index(["channel", "step"])["journeys"].to_dict()
    assert got == {("app", "visit"): 1, ("app", "buy"): 0, ("web", "visit"): 2, ("web", "buy"): 1}
    # time percentiles only for groups where somebody converted
    times = funnel(ws, ["visit", "buy"], by="channel").times
    assert set(times["channel"]) == {"web"} and times["hours"].eq(1.0).all()
    nobody = funnel(ws, ["buy", "visit"])
    assert nobody.frame["journeys"].tolist() == [1, 0] and nobody.times.empty


def test_friction_and_channels_by_hand(ws):
    _log(
        ws,
        {
            "a-1": [("visit", "web"), ("pay", "web"), ("buy", "dealer")],
            "b-1": [("visit", "web"), ("pay", "web")],
            "c-1": [("visit", "app"), ("pay", "web")],
            "d-1": [("visit", "web"), ("buy", "dealer")],
        },
    )
    _spend(ws, {"a": 100.0, "d": 300.0})
    table = friction(ws, goal="buy")
    f = table.frame.set_index("step")
    assert f.loc["pay", "exit_rate"] == pytest.approx(2 / 3)
    # of the journeys going on from "pay", all reached "buy": 2 exits x 1.0 x mean value 200
    assert f.loc["pay", "lost_value"] == pytest.approx(400)
    assert table.frame["step"].iloc[0] == "pay"
    assert table.conversion == 0.5
    moves = channel_switching(ws)
    assert moves.cross_channel_share == 0.75
    assert moves.matrix().loc["web", "dealer"] == 2  # a and d


def test_friction_columns_by_hand(ws):
    h = lambda hours: T0 + pd.Timedelta(hours, "h")  # noqa: E731
    log = [  # (journey, at hour, step); the customer is the journey's prefix
        ("a-1", 0, "visit"), ("a-1", 1, "help"), ("a-1", 5, "help"), ("a-1", 6, "help"),
        ("a-1", 7, "buy"),
        ("a-2", 72, "help"),  # the same customer asks again, in another journey
        ("b-1", 0, "visit"), ("b-1", 2, "help"), ("b-1", 12, "help"),
        ("c-1", 0, "visit"), ("c-1", 10, "buy"),
    ]  # fmt: skip
    rows = pd.DataFrame(
        [{"customer_id": j[0], "ts": h(at), "step": step, "journey": j} for j, at, step in log]
    )
    insert_rows(ws, "events", rows)
    _spend(ws, {"a": 100.0, "c": 300.0})
    table = friction(ws, goal="buy")
    f = table.frame.set_index("step")
    assert (table.journeys, table.conversion) == (4, 0.5)
    assert f["journeys"].to_dict() == {"help": 3, "visit": 3, "buy": 2}
    assert f["exits"].to_dict() == {"help": 2, "visit": 0, "buy": 0}  # a-2 and b-1 end at help
    assert f.loc["help", "exit_rate"] == pytest.approx(2 / 3)
    assert np.isnan(f.loc["buy", "exit_rate"])  # reaching the goal is no exit
    assert f.loc["help", "loop_rate"] == pytest.approx(2 / 3)  # a-1 and b-1
    # waits over the visits: help 4, 1, 1 (a-1) and 10 (b-1) hours; visit 1, 2 and 10 hours
    assert f.loc["help", "median_wait_hours"] == pytest.approx(2.5)
    assert f.loc["visit", "median_wait_hours"] == pytest.approx(2.0)
    assert np.isnan(f.loc["buy", "median_wait_hours"])  # the journeys end there
    # a's help at 1, 5, 6 h and 72 h: three come back within 7 days; b's at 2 h does
    assert f.loc["help", "repeat_contact_rate"] == pytest.approx(4 / 6)
    # the one journey going on from help reached buy: 2 exits x 1.0 x mean value (100 + 300) / 2
    assert f.loc["help", "lost_conversions"] == pytest.approx(2)
    assert f.loc["help", "lost_value"] == pytest.approx(400)
    assert table.frame["step"].iloc[0] == "help"
    # who left at help (a in a-2, b in b-1) and their revenue: b has none; 2 customers cannot
    # fit a lifetime-value model, which the table says
    assert f["customers_affected"].to_dict() == {"help": 2, "visit": 0, "buy": 0}
    assert f.loc["help", "value_at_risk"] == pytest.approx(100)
    assert table.value_basis == "revenue to date"
    assert "could not be fitted" in table.value_note
    # a CLV given prices the same customers: lost 2 x mean CLV of the winners a and c
    given = CLV(
        frame=pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [50.0, 20.0, 500.0]}),
        horizon=52,
    )
    priced = friction(ws, goal="buy", value=given)
    g = priced.frame.set_index("step")
    assert g.loc["help", "value_at_risk"] == pytest.approx(70)
    assert g.loc["help", "lost_value"] == pytest.approx(2 * 275)
    assert (priced.value_basis, priced.value_note) == ("CLV over the next 52 weeks", "")
    with pytest.raises(MetricError, match=r"expected 'clv', 'revenue', a rox\.value\.CLV or a"):
        friction(ws, goal="buy", value="margin")
    rox.journey.build_index(ws)
    assert rox.journey.prepare(ws).indexed
    pd.testing.assert_frame_equal(friction(ws, goal="buy").frame, table.frame)


def test_audit_in_words_by_hand(ws):
    """The default goal, the touchpoint's experience and the audit's sentences, worked out."""
    _log(ws, {"a-1": ["visit", "help", "buy"], "b-1": ["visit", "help"], "c-1": ["visit", "help"],
              "d-1": ["visit", "buy"], "e-1": ["visit", "help", "help", "buy"]})  # fmt: skip
    _spend(ws, {"a": 100.0, "d": 300.0, "e": 200.0})
    scores = [("csat", "help", 5), ("csat", "help", 2), ("csat", "help", 1), ("csat", "visit", 5),
              ("ces", "help", 2), ("ces", "help", 4), ("ces", "visit", 6)]  # fmt: skip
    responses = pd.DataFrame(scores, columns=["metric", "touchpoint", "score"]).assign(
        ts=T0, scale=lambda f: f["metric"].map({"csat": "1-5", "ces": "1-7"})
    )
    insert_rows(ws, "responses", responses)
    # the longest quarter of journeys (4 and 3 events) ends at buy: the default goal
    table = friction(ws, value="revenue")
    assert table.goal == "buy"
    f = table.frame.set_index("step")
    assert f.loc["help", "csat"] == pytest.approx(100 / 3) and f.loc["visit", "csat"] == 100
    assert f.loc["help", "ces"] == pytest.approx(3) and f.loc["visit", "ces"] == 6
    assert f.loc["help", "loop_rate"] == pytest.approx(1 / 4)  # e
    assert str(audit(ws, value="revenue", rox=False)).splitlines() == [
        "In the journeys (5 journeys, 60% reach buy), the biggest friction point is help.",
        "50% of the 4 journeys that reach help end there, against a median of 0% at the other "
        "steps.",
        "CSAT at help is 33% satisfied, against 100% satisfied at the other touchpoints (median).",
        "CES at help is 3.00 (1-7), against 6.00 (1-7) at the other touchpoints (median).",
        "Visits there wait a median 1 hours for the next step.",
        # 2 exits x 1.0 (a and e went on, both bought) x mean revenue of a, d, e (200)
        "Cost: 2 journeys lost; had they gone on like the others, about 2 more would have reached "
        "buy, worth about 400 in revenue.",
    ]


def test_audit_prices_removing_the_friction_by_hand(ws):
    """rox.impact.audit's last line: the ROX of removing the top friction point, worked out."""
    _log(ws, {"a-1": ["visit", "help", "buy"], "b-1": ["visit", "help"], "c-1": ["visit", "help"],
              "d-1": ["visit", "buy"], "e-1": ["visit", "help", "help", "buy"]})  # fmt: skip
    _spend(ws, {"a": 100.0, "b": 10.0, "c": 30.0, "d": 300.0, "e": 200.0})
    found = audit(ws, value="revenue")
    assert found.step == "help"
    # met friction at help: b and c (mean 20); reached help and went on: a and e (mean 150);
    # d never reached help and is left out: 2 x (150 - 20) = 260
    move = rox.impact.step_rox(ws, "help", goal="buy", value="revenue")
    assert move.total == pytest.approx(260)
    assert move.low <= 260 <= move.high
    assert found.findings[-1].startswith(
        "Removing the help friction is worth about 260 (95% interval "
    )
    # five customers: too few with repeat purchases for the ROX model, so its fallback, saying why
    assert isinstance(move, rox.impact.Counterfactual)
    with pytest.raises(rox.errors.MetricError) as refused:
        rox.impact.rox_model(ws, by="friction", move="met friction", to="no friction", draws=10)
    assert found.findings[-1].endswith(
        "in revenue to date: the customers whose journeys ended there valued like those who "
        "reached help and went on (associational; not through the ROX model, which could not be "
        f"fitted: {refused.value})."
    )
    assert audit(ws, value="revenue", rox=False).findings == found.findings[:-1]


def test_audit_goal_single_response_and_small_values(ws):
    """Goal: ends the journeys at least as long as the 75th percentile (3 events: a, b, c)."""
    _log(ws, {"a-1": ["visit", "help", "buy"], "b-1": ["visit", "help", "buy"],
              "c-1": ["visit", "x", "help"], "d-1": ["buy"]})  # fmt: skip
    _spend(ws, {"a": 10.0, "b": 10.0, "c": 0.5})
    one = pd.DataFrame({"ts": [T0], "metric": ["csat"], "score": [5], "scale": ["1-5"]})
    insert_rows(ws, "responses", one.assign(touchpoint="help"))
    result = audit(ws, value="revenue")
    assert result.friction.goal == "buy" and result.step == "help"
    f = result.frame.set_index("step")
    assert f.loc["help", "csat"] == 100  # one response is enough to show
    # no other touchpoint has a CSAT to compare with: no CSAT sentence
    assert not any(line.startswith("CSAT") for line in result.findings)
    # c holds 0.5 in revenue: a value at risk, however small, is said
    assert f.loc["help", "value_at_risk"] == 0.5
    assert "The 1 customers whose journeys ended there hold 0 in revenue to date." in str(result)


def test_audit_needs_journeys_and_a_step_besides_the_goal(ws):
    _log(ws, {"a-1": ["buy"], "b-1": ["buy"]})
    with pytest.raises(MetricError, match="the journeys have no step besides the goal"):
        audit(ws, goal="buy")
    with pytest.raises(MetricError, match="no journeys to audit"):
        friction(ws, journey="nothing")


def test_friction_prices_exits_with_the_fitted_clv(ingest_cdnow, clv_by_hand):
    """Customers are valued by their CLV: here a BG/NBD + Gamma-Gamma CLV, given explicitly.

    (The default, ``model="auto"``, picks Pareto/NBD on the whole CDNOW sample by BIC; the hand
    computation is of BG/NBD, so the model is named.)
    """
    with rox.open("duckdb://:memory:") as ws:
        ingest_cdnow(ws)
        # the expected values: each customer's CLV written out from the closed forms, with the
        # parameters of the two models fitted on the same summary (not rox.value.clv)
        summary = rox.value.rfm(ws)
        bgnbd = tuple(BetaGeoModel().fit(summary).params_)
        spend = tuple(GammaGammaModel().fit(summary.frame).params_)
        rows = summary.frame.set_index("customer_id")
        value = pd.Series(
            {
                c: clv_by_hand(
                    r["frequency"], r["recency"], r["T"],
                    0.0 if r["frequency"] == 0 else r["monetary"],
                    bgnbd, spend, horizon=52, days_per_unit=7, margin=1.0, discount_rate=0.1,
                )
                for c, r in rows.loc[[str(i) for i in range(1, 9)]].iterrows()
            }
        )  # fmt: skip
        winners, leavers = ["1", "2", "3"], ["4", "5", "6", "7"]
        log = {f"{c}-1": ["visit", "buy"] for c in winners}
        log |= {f"{c}-1": ["visit", "help"] for c in leavers}
        log["8-1"] = ["visit", "help", "buy"]  # the one journey going on from help converts
        given = rox.value.clv(ws, model="bgnbd", horizon=52, discount_rate=0.1)
        table = friction(_log(ws, log), goal="buy", value=given)
    f = table.frame.set_index("step")
    assert table.value_basis == "CLV over the next 52 weeks, discounted at 10% a year"
    assert table.value_note == ""
    assert f.loc["help", "customers_affected"] == 4
    assert f.loc["help", "value_at_risk"] == pytest.approx(value[leavers].sum())
    # 4 exits x 1.0 (of those going on, all convert) x the winners' mean CLV
    mean_won = value[[*winners, "8"]].mean()
    assert f.loc["help", "lost_value"] == pytest.approx(4 * mean_won)
    assert f.loc["visit", "value_at_risk"] == 0  # nobody ends there


def test_friction_value_falls_back_and_matches_ids(ingest_cdnow):
    with rox.open("duckdb://:memory:") as ws:
        ingest_cdnow(ws)
        fitted = rox.value.clv(ws)
        _log(ws, {"1-1": ["visit", "buy"], "2-1": ["visit", "help"], "3-1": ["visit", "help"]})
        default = friction(ws, goal="buy")
        # ids given as numbers (a CLV fitted elsewhere) are matched as the text they are here
        numbered = CLV(
            frame=fitted.frame.assign(customer_id=lambda f: f["customer_id"].astype(int))
        )
        pd.testing.assert_frame_equal(friction(ws, goal="buy", value=numbered).frame, default.frame)
        assert default.frame.set_index("step").loc["help", "value_at_risk"] > 0
        # a refund leaving a repeat customer's spend at zero: Gamma-Gamma cannot value them
        refund = pd.DataFrame(
            {"customer_id": ["99999"] * 2, "ts": ["19970101", "19970301"], "amount": [10.0, -10.0]}
        )
        ws.ingest("transactions", refund, mapping={"timestamps": {"format": "%Y%m%d"}})
        fallback = friction(ws, goal="buy")
    assert fallback.value_basis == "revenue to date"
    assert "could not be fitted" in fallback.value_note


def test_friction_without_values_ranks_by_lost_conversions(ws):
    # help: its one journey ends there, but nobody going on from help shows what it would be
    # worth; visit: one exit, and 2 of the 3 going on reach buy
    _log(ws, {"a-1": ["visit", "help"], "b-1": ["visit", "buy"], "c-1": ["visit"],
              "d-1": ["visit", "buy"]})  # fmt: skip
    table = friction(ws, goal="buy")
    assert table.frame["step"].tolist()[:2] == ["visit", "help"]
    assert table.frame["lost_conversions"].iloc[0] == pytest.approx(2 / 3)
    assert table.value_note == "there are no transactions to fit a lifetime-value model on"
    assert (table.frame["value_at_risk"] == 0).all() and (table.frame["lost_value"] == 0).all()
    found = audit(ws, goal="buy")
    assert found.step == "visit" and "worth about" not in str(found)
    assert str(found).endswith(
        "Customers are valued by revenue to date: there are no transactions to fit a "
        "lifetime-value model on."
    )


def test_friction_when_no_winner_has_a_value(ws):
    """Leavers hold revenue, the one buyer has none: value at risk, but no value lost."""
    _log(ws, {"a-1": ["visit", "buy"], "b-1": ["visit"]})
    _spend(ws, {"b": 50.0})
    f = friction(ws, goal="buy", value="revenue").frame.set_index("step")
    assert f.loc["visit", "value_at_risk"] == 50
    assert f.loc["visit", "lost_conversions"] == 1  # b left; a went on and bought
    assert (f["lost_value"] == 0).all()


def test_friction_ranks_ties_by_exit_rate_then_step(ws):
    """No values, no lost conversions: the exit rate ranks, then the step's name; goal last."""
    _log(ws, {"a-1": ["visit", "buy"], "b-1": ["x"], "c-1": ["y", "buy"], "d-1": ["z"]})
    table = friction(ws, goal="buy")
    assert table.frame["step"].tolist() == ["x", "z", "visit", "y", "buy"]
    assert table.frame.index.equals(pd.RangeIndex(5))
    assert table.frame.columns.tolist() == [
        "step", "journeys", "exits", "exit_rate", "median_wait_hours", "loop_rate",
        "repeat_contact_rate", "csat", "ces", "customers_affected", "value_at_risk",
        "lost_conversions", "lost_value",
    ]  # fmt: skip


def test_repeated_contacts(ws):
    rows = pd.DataFrame(
        {
            "customer_id": ["x", "x", "x", "y"],
            "ts": [T0, T0 + pd.Timedelta("2D"), T0 + pd.Timedelta("30D"), T0],
            "step": ["support_call"] * 4,
        }
    )
    insert_rows(ws, "events", rows)
    f = friction(ws, goal="support_call").frame.set_index("step")
    assert f.loc["support_call", "repeat_contact_rate"] == pytest.approx(1 / 4)


def test_repeat_contact_window_is_inclusive(ws):
    """#22: a contact exactly ``repeat_within`` after the last repeats it; a second later not."""
    week = pd.Timedelta("7D")
    rows = pd.DataFrame(
        {
            "customer_id": ["x"] * 3,
            "ts": [T0, T0 + week, T0 + 2 * week + pd.Timedelta("1s")],
            "step": ["support_call"] * 3,
        }
    )
    insert_rows(ws, "events", rows)
    f = friction(ws, goal="support_call").frame.set_index("step")
    # of the three calls, only the first is followed by another within 7 days (exactly 7)
    assert f.loc["support_call", "repeat_contact_rate"] == pytest.approx(1 / 3)
    wider = friction(ws, goal="support_call", repeat_within="7D1s").frame.set_index("step")
    assert wider.loc["support_call", "repeat_contact_rate"] == pytest.approx(2 / 3)


def test_exit_rate_counts_only_journeys_that_end_without_the_goal(ws):
    """#22: a journey that reached the goal and then ended elsewhere is no exit."""
    _log(ws, {"a-1": ["visit", "buy", "help"], "b-1": ["visit", "help"], "c-1": ["visit", "help"]})
    f = friction(ws, goal="buy").frame.set_index("step")
    # all three journeys end at help; b and c never bought, a did
    assert f.loc["help", "journeys"] == 3
    assert f.loc["help", "exits"] == 2
    assert f.loc["help", "exit_rate"] == pytest.approx(2 / 3)


_steps = st.sampled_from(["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def scratch():
    with rox.open("duckdb://:memory:") as ws:
        yield ws


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(strategies.journeys(steps=("a", "b", "c", "d"), max_journeys=12, max_steps=8))
def test_properties(scratch, journeys):
    scratch.backend.raw_sql("DELETE FROM events")
    _log(scratch, {f"j{i}-1": steps for i, steps in enumerate(journeys)})
    m = journey_map(scratch)
    n_events = sum(len(s) for s in journeys)
    # every event but the last of each journey starts exactly one transition
    assert m.frame["transitions"].sum() == n_events - len(journeys)
    assert m.starts["journeys"].sum() == m.ends["journeys"].sum() == len(journeys)
    assert variants(scratch, top=None).frame["journeys"].sum() == len(journeys)
    f = funnel(scratch, ["a", "b", "c"]).frame
    assert np.all(np.diff(f["journeys"].to_numpy()) <= 0)


def test_query_options_and_errors(ws):
    _log(ws, LOG)
    with pytest.raises(MetricError, match="either a JourneyQuery or its options"):
        journey_map(ws, JourneyQuery(), journey="x")
    assert journey_map(ws, journey="a-").journeys == 1
    assert journey_map(ws, since="2030-01-01").journeys == 0


# -- the planted demo friction ---------------------------------------------------------------
def test_audit_finds_the_planted_financing_friction(demo):
    result = audit(demo, "purchase", goal="purchase")
    assert result.step == "financing"
    assert result.findings[0].startswith("In the purchase journey")
    assert any("CSAT at financing" in line for line in result.findings)
    # and without telling it the goal
    assert audit(demo, "purchase").step == "financing"


def test_demo_funnel_drops_most_after_financing(demo):
    f = funnel(
        demo,
        ["configurator", "test_drive_booking", "quote", "financing", "purchase"],
        window="180D",
        journey="purchase",
    ).frame
    worst = f.iloc[1:].sort_values("step_conversion").iloc[0]
    assert worst["step"] == "purchase"  # the step after financing converts worst


# -- journeys prepared once for several analyses ----------------------------------------------
def _frames(result) -> list[pd.DataFrame]:
    return [v for v in vars(result).values() if isinstance(v, pd.DataFrame)]


def test_prepared_journeys_give_the_same_results(demo):
    query = JourneyQuery(journey="purchase")
    steps = ["configurator", "test_drive_booking", "quote", "financing", "purchase"]
    analyses = [
        journey_map,
        lambda src, **kw: variants(src, top=None, **kw),
        lambda src, **kw: paths(src, "quote", direction="before", **kw),
        lambda src, **kw: funnel(src, steps, window="180D", by="channel", **kw),
        lambda src, **kw: friction(src, goal="purchase", **kw),
        channel_switching,
    ]
    with rox.journey.prepare(demo, query) as journeys:
        assert journeys.query == query
        for analysis in analyses:
            alone, shared = analysis(demo, query=query), analysis(journeys)
            for a, b in zip(_frames(alone), _frames(shared), strict=True):
                pd.testing.assert_frame_equal(a, b)
        with pytest.raises(MetricError, match="prepared with their own query"):
            journey_map(journeys, journey="service")
    # released: the engine's copy is gone
    with pytest.raises(duckdb.CatalogException, match=r"Table with name \S+ does not exist"):
        journeys.events.count().execute()


def test_journeys_prepared_twice_share_the_engine_copy_until_both_are_released(demo):
    first, second = (
        rox.journey.prepare(demo, journey="purchase"),
        rox.journey.prepare(demo, journey="purchase"),
    )
    n = journey_map(second).events
    first.release()
    first.release()  # a second release is a no-op
    assert journey_map(second).events == n  # still there
    second.release()
    with pytest.raises(duckdb.CatalogException, match=r"Table with name \S+ does not exist"):
        second.events.count().execute()
