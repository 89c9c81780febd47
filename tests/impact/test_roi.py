"""ROI versus ROX of an initiative: difference in differences by hand; the demo's planted plan."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rox
from rox.demo import DemoEffects, generate
from rox.errors import MetricError
from rox.impact import Change, Initiative, Target, did, read_initiative, roi
from rox.impact.did import did_estimate, trend_difference

SRC = str(Path(rox.__file__).resolve().parents[1])
EXAMPLE = Path(__file__).parents[2] / "examples" / "initiative.toml"
START = "2024-07-01"


@pytest.fixture
def hand(ingest_purchases) -> rox.Workspace:
    """Target t1-t4 (segment t) and control c1-c4, NPS answers and spend around 2024-07-01."""
    with rox.open("duckdb://:memory:") as ws:
        ids = [f"t{i}" for i in range(1, 5)] + [f"c{i}" for i in range(1, 5)]
        ws.ingest(
            "customers",
            pd.DataFrame({"customer_id": ids, "segment": ["t"] * 4 + ["c"] * 4}),
        )
        # NPS: target before 10 9 5 7 (25), after 10 10 9 8 (75); control before 9 6 7 8 (0),
        # after 9 6 8 3 (-25)
        scores = {
            ("t", "2024-05-01"): [10, 9, 5, 7],
            ("t", "2024-08-01"): [10, 10, 9, 8],
            ("c", "2024-05-01"): [9, 6, 7, 8],
            ("c", "2024-08-01"): [9, 6, 8, 3],
        }
        rows = [
            (f"{g}{k + 1}", day, s) for (g, day), ss in scores.items() for k, s in enumerate(ss)
        ]
        ws.ingest(
            "responses",
            pd.DataFrame(
                {
                    "response_id": [f"r{i}" for i in range(len(rows))],
                    "customer_id": [r[0] for r in rows],
                    "ts": [r[1] for r in rows],
                    "metric": "nps",
                    "score": [float(r[2]) for r in rows],
                }
            ),
        )
        # the panel bought before the windows (2024-03-23 on): t1-t3, c1-c3; t4 only inside
        tx = [(c, "2024-01-01", 5.0) for c in ("t1", "t2", "t3", "c1", "c2", "c3")]
        tx += [
            ("t1", "2024-05-01", 10.0),
            ("t1", "2024-08-01", 30.0),
            ("t2", "2024-08-01", 10.0),
            ("t3", "2024-05-01", 20.0),
            ("t3", "2024-08-01", 20.0),
            ("c1", "2024-05-01", 10.0),
            ("c1", "2024-08-01", 10.0),
            ("c3", "2024-05-01", 30.0),
            ("c3", "2024-08-01", 20.0),
            ("t4", "2024-08-01", 1000.0),
            ("c4", "2024-10-01", 5.0),
        ]
        ingest_purchases(ws, tx)
        yield ws


def test_nps_did_by_hand(hand):
    target = Target("segment", ("t",)).customers(hand)
    result = did(hand, target, START, window_days=100)
    # (75 - 25) - (-25 - 0); per-answer variances p + d - (p - d)^2: .6875, .1875, .5, .6875
    assert result.effect == pytest.approx(75.0)
    se = math.sqrt(1e4 * (0.6875 + 0.1875 + 0.5 + 0.6875) / 4)
    assert result.se == pytest.approx(se)
    assert result.low == pytest.approx(75 - 1.959964 * se, rel=1e-6)
    cells = result.frame.set_index(["group", "window"])["mean"]
    assert cells["target", "after"] == pytest.approx(75.0)
    assert cells["control", "before"] == pytest.approx(0.0)


def test_spend_did_by_hand(hand):
    target = Target("segment", ("t",)).customers(hand)
    result = did(hand, target, START, outcome="spend", window_days=100)
    # changes: target +20, +10, 0 (mean 10, s^2 100); control 0, 0, -10 (mean -10/3, s^2 100/3)
    assert result.effect == pytest.approx(10 + 10 / 3)
    assert result.se == pytest.approx(math.sqrt(100 / 3 + 100 / 9))
    changes = result.frame[result.frame["window"] == "after - before"].set_index("group")
    assert changes.loc["target", "n"] == 3  # t4 did not buy before the windows


def test_did_estimate_panel_and_cells():
    cells = pd.DataFrame({"mean": [5.0, 2.0], "var": [1.0, 3.0]}, index=["target", "control"])
    assert did_estimate(cells, panel=True) == (3.0, 2.0)


def test_trend_difference_by_hand():
    # weights 1, 1, .5: weighted means t 0.8, d 1.2; Sxx 1.4, Sxy 2.6
    slope, se, p = trend_difference([0, 1, 2], [0.0, 1.0, 4.0], [1.0, 1.0, 2.0])
    assert slope == pytest.approx(2.6 / 1.4)
    assert se == pytest.approx(math.sqrt(1 / 1.4))
    assert slope == pytest.approx(np.polyfit([0, 1, 2], [0, 1, 4], 1, w=[1, 1, 0.5**0.5])[0])
    assert 0 < p < 1
    assert math.isnan(trend_difference([0, 1], [1.0, 2.0], [1.0, 1.0])[0])  # too few points


def test_change_parse():
    assert Change.parse("Detractors to passive") == Change("nps_group", "detractor", "passive")
    assert Change.parse("passives to promoter").to == "promoter"
    assert Change.parse("not satisfied to satisfied").by == "csat_band"
    assert Change.parse("+5 NPS points").points == 5.0
    for bad in ("detractors to detractor", "more love", "+0 NPS points", "+500 NPS points"):
        with pytest.raises(MetricError, match="change="):
            Change.parse(bad)


def test_initiative_errors(tmp_path):
    good = {
        "name": "x",
        "cost": 10,
        "start": "2024-01-01",
        "change": "detractors to passive",
        "target": {"segment": "a"},
    }
    assert Initiative.from_dict(good).target == Target("segment", ("a",))
    with pytest.raises(MetricError, match="needs cost"):
        Initiative.from_dict({k: v for k, v in good.items() if k != "cost"})
    with pytest.raises(MetricError, match="exactly one key"):
        Initiative.from_dict(good | {"target": {"segment": "a", "region": "b"}})
    with pytest.raises(MetricError, match="positive amount"):
        Initiative.from_dict(good | {"cost": 0})
    with pytest.raises(MetricError, match="unknown initiative key"):
        Initiative.from_dict(good | {"budget": 3})
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ", encoding="utf-8")
    with pytest.raises(MetricError, match="not valid TOML"):
        read_initiative(bad)
    with pytest.raises(MetricError, match=r"^initiative file .*missing\.toml does not exist$"):
        read_initiative(tmp_path / "missing.toml")


def test_did_errors(hand):
    target = Target("segment", ("t",)).customers(hand)
    with pytest.raises(MetricError, match="not inside"):
        did(hand, target, "2030-01-01")
    with pytest.raises(MetricError, match="no NPS answers in"):
        did(hand, target, "2024-07-01", window_days=10)
    with pytest.raises(MetricError, match="cannot target customers by"):
        Target("colour", ("red",)).customers(hand)


def test_example_file_is_the_planted_plan():
    plan = read_initiative(EXAMPLE)
    effects = DemoEffects()
    assert plan.target == Target("segment", (effects.initiative_segment,))
    assert plan.start == pd.Timestamp("2023-01-01", tz="UTC") + pd.DateOffset(
        months=effects.initiative_month
    )


# -- the demo's planted family care plan ---------------------------------------------------------

N = 20_000


@pytest.fixture(scope="module")
def brand(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("roi") / "demo.duckdb"
    rox.demo.build(path, n_customers=N, seed=7).close()
    return path


@pytest.fixture(scope="module")
def truth() -> dict[str, float]:
    """The planted effect as realised: the same brand with and without the plan, by pandas."""
    on = generate(N, seed=7)
    off = generate(N, seed=7, effects=DemoEffects(initiative_nps_lift=0, initiative_spend_lift=0))
    start = pd.Timestamp("2025-01-01", tz="UTC")

    def nps(r: pd.DataFrame) -> float:
        m = (r["metric"] == "nps") & (r["segment"] == "family") & (r["ts"] >= start)
        s = r.loc[m, "score"]
        return 100 * ((s >= 9).mean() - (s <= 6).mean())

    def spend(frames: dict[str, pd.DataFrame]) -> float:
        tx, cu = frames["transactions"], frames["customers"]
        family = set(cu.loc[cu["segment"] == "family", "customer_id"])
        first = tx.groupby("customer_id")["ts"].min()
        panel = {c for c in family if first.get(c, start) < start - pd.Timedelta(days=365)}
        after = tx[(tx["ts"] >= start) & tx["customer_id"].isin(panel)]
        after = after[after["product"].isin(["service", "accessories"])]
        return float(after["amount"].sum()) / len(panel)

    return {
        "nps": nps(on["responses"]) - nps(off["responses"]),
        "spend": spend(on) - spend(off),
    }


@pytest.mark.slow
def test_did_recovers_the_planted_plan(brand, truth):
    with rox.open(brand, read_only=True) as ws:
        family = Target("segment", ("family",)).customers(ws)
        nps = did(ws, family, "2025-01-01")
        spend = did(ws, family, "2025-01-01", outcome="spend", products=("service", "accessories"))
    assert 15 < truth["nps"] < 35  # the planted size, as documented ("about +25 points")
    assert nps.covers(truth["nps"]) and nps.low > 0
    assert spend.covers(truth["spend"]) and spend.low > 0
    assert nps.parallel and spend.parallel


@pytest.mark.slow
def test_placebos_find_nothing(brand):
    with rox.open(brand, read_only=True) as ws:
        family = Target("segment", ("family",)).customers(ws)
        north = Target("region", ("north",)).customers(ws)  # untreated (segments span regions)
        fake = [
            did(ws, family, "2024-07-01", window_days=182),  # both windows before the start
            did(ws, family, "2024-07-01", outcome="spend", window_days=182),
            did(ws, north, "2025-01-01"),
            did(ws, north, "2025-01-01", outcome="spend", products=("service", "accessories")),
        ]
    for result in fake:
        assert result.covers(0.0), str(result)


@pytest.mark.slow
def test_roi_and_rox_of_the_plan(brand):
    with rox.open(brand, read_only=True) as ws:
        result = roi(ws, read_initiative(EXAMPLE))
    assert result.projected_low < result.projected_value < result.projected_high
    assert result.projected_value > 0
    assert result.projected_roi == pytest.approx((result.projected_value - 150_000) / 150_000)
    assert result.spend is not None and result.nps is not None
    buyers = int(
        result.spend.frame.query("window == 'after - before' and group == 'target'")["n"].iloc[0]
    )
    assert result.measured_money == pytest.approx(result.spend.effect * buyers)
    text = str(result)
    assert "ROI counts" not in text  # (the words are ROI/ROX, each said once)
    assert "Measured ROI (the money of this one project)" in text
    assert "Measured ROX (the value of all the experiences it changed)" in text


@pytest.mark.slow
def test_plugged_value_model(demo):
    calls = []

    def flat(p, *, by, move, to):
        calls.append((by, move, to))
        return 1000.0, 900.0, 1100.0

    plan = Initiative(
        "x",
        500.0,
        Target("segment", ("family",)),
        pd.Timestamp("2025-01-01", tz="UTC"),
        Change.parse("detractors to passive"),
        horizon_years=1,
    )
    result = roi(demo, plan, value_model=flat, measure=False)
    assert calls == [("nps_group", "detractor", "passive")]
    assert result.projected_value == 1000.0
    assert result.projected_roi == pytest.approx(1.0)
    assert result.payback_months == pytest.approx(500 / (1000 / 12))


@pytest.mark.slow
def test_points_move_detractors_first(demo):
    seen = []

    def unit(p, *, by, move, to):
        seen.append(move)
        return 100.0, 100.0, 100.0

    plan = Initiative(
        "x",
        1.0,
        Target("segment", ("family",)),
        pd.Timestamp("2025-01-01", tz="UTC"),
        Change(points=1.0),
        horizon_years=1,
    )
    result = roi(demo, plan, value_model=unit, measure=False)
    # 1% of the family's respondents, fewer than its detractors: a share of one detractor move
    assert seen == ["detractor"]
    assert 0 < result.projected_value < 100.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rox", "roi", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_cli_roi(brand):
    out = run("--initiative", str(EXAMPLE), "--workspace", str(brand), "--format", "json")
    assert out.returncode == 0, out.stderr
    figures = {r["figure"]: r for r in json.loads(out.stdout)}
    assert {"projected value", "projected ROI", "measured ROI", "measured ROX value"} <= set(
        figures
    )
    assert "Measured ROX" in out.stderr  # the words go to standard error with --format json
    table = run("-i", str(EXAMPLE), "--workspace", str(brand), "--no-measure")
    assert table.returncode == 0, table.stderr
    assert "Projected: +25 NPS points in the target is worth about EUR" in table.stdout


def test_cli_roi_bad_file(tmp_path, demo_path):
    bad = tmp_path / "i.toml"
    bad.write_text('name = "x"\ncost = 1\n', encoding="utf-8")
    out = run("-i", str(bad), "--workspace", str(demo_path))
    assert out.returncode != 0
    assert "the initiative needs target, start, change" in out.stderr


def test_targets_from_events(small):
    # the hand-built workspace: c2's journey has a financing step; c1 and c2 use no channel
    got = Target("touchpoint", ("financing",)).customers(small).execute()
    assert got["customer_id"].tolist() == ["c2"]
    visits = Target("touchpoint", ("website_visit", "complaint")).customers(small).execute()
    assert sorted(visits["customer_id"]) == ["c1", "c2", "c4"]
    segment = Target("segment", ("b",)).customers(small).execute()
    assert sorted(segment["customer_id"]) == ["c3", "c4", "c6"]


@pytest.mark.slow
def test_projection_falls_back_with_its_reason(demo, monkeypatch):
    """Where the ROX model cannot be fitted, the difference in means values the change."""
    import importlib

    roi_module = importlib.import_module("rox.impact.roi")  # (rox.impact.roi is the function)

    def unfit(*args, **kwargs):
        raise MetricError("passive has 3 customers with repeat purchases (a stand-in)")

    monkeypatch.setattr(roi_module, "rox_model", unfit)
    plan = Initiative(
        "x", 500.0, Target("segment", ("family",)), pd.Timestamp("2025-01-01", tz="UTC"),
        Change.parse("detractors to passive"), horizon_years=1,
    )  # fmt: skip
    result = roi(demo, plan, measure=False)
    assert result.value_model == "the difference in means of the experience groups"
    assert any(
        "not the ROX model, which could not be used: passive has 3" in n for n in result.notes
    )
    # the fallback's figure is the counterfactual's, within the target
    fitted = rox.value.clv(demo, horizon=52.0)
    whole = rox.impact.profile(demo, value=fitted)
    treated = plan.target.customers(demo)
    t = whole.table
    target = dataclasses.replace(
        whole, table=t.semi_join(treated, t.customer_id == treated.customer_id)
    )
    expected = rox.impact.counterfactual(target, move="detractor", to="passive", replicates=500)
    assert result.projected_value == pytest.approx(expected.total, rel=1e-9)
