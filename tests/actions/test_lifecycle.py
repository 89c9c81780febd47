"""Lifecycle phases, moves and value on a hand-made log, every rule boundary on both sides (#17).

The log (tests/actions/conftest.py), by quarter of 2024, with the recency rule at risk after 100
days without a purchase and lapsed after 200 (days counted to the quarter's last day: 03-31,
06-30, 09-30, and 12-31, the data's last day):

====  ==========================  ========  ========================  =========================
who   purchases                   Q1        Q2 (06-30)                Q3 (09-30) / Q4 (12-31)
====  ==========================  ========  ========================  =========================
a     03-31 (Q1's last day)       new       91 days: active           183: at risk / 275: lapsed
b     04-01 (Q2's first day)      --        new                       182: at risk / 274: lapsed
d     03-22                       new       100 days: active (edge)   192: at risk / 284: lapsed
e     03-21                       new       101 days: at risk         193: at risk / 285: lapsed
f     03-14                       new       108: at risk              200: at risk (edge) / lapsed
g     03-13, 10-01 (25.0)         new       109: at risk              201: lapsed / reactivated
h     01-01, 09-30 (40.0)         new       181: at risk              bought: active / 92: active
k     12-31                       --        --                        -- / new
m     01-05, 01-20, 02-10         new       141: at risk              233: lapsed / 325: lapsed
====  ==========================  ========  ========================  =========================

h buys in Q3 after being at risk: active, not reactivated; g buys in Q4 after being lapsed:
reactivated.
"""

from __future__ import annotations

import io
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
from rox.actions import LifecycleRules
from rox.actions.lifecycle import BEFORE, PHASES
from rox.errors import EXIT_CODES, MetricError

SRC = str(Path(rox.__file__).resolve().parents[1])

RECENCY = {"signal": "recency", "at_risk_after_days": 100, "lapsed_after_days": 200}

EXPECTED_PHASES = {
    "2024Q1": {"a": "new", "d": "new", "e": "new", "f": "new", "g": "new", "h": "new", "m": "new"},
    "2024Q2": {
        "a": "active",
        "b": "new",
        "d": "active",
        "e": "at risk",
        "f": "at risk",
        "g": "at risk",
        "h": "at risk",
        "m": "at risk",
    },
    "2024Q3": {
        "a": "at risk",
        "b": "at risk",
        "d": "at risk",
        "e": "at risk",
        "f": "at risk",
        "g": "lapsed",
        "h": "active",
        "m": "lapsed",
    },
    "2024Q4": {
        "a": "lapsed",
        "b": "lapsed",
        "d": "lapsed",
        "e": "lapsed",
        "f": "lapsed",
        "g": "reactivated",
        "h": "active",
        "k": "new",
        "m": "lapsed",
    },
}


@pytest.fixture
def value(given_clv):
    """Hand-set values (so that no model is fitted on nine customers)."""
    return given_clv(dict.fromkeys("abdefghkm", 1.0))


@pytest.fixture
def result(lifecycle_ws, value):
    return rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)


def _phases(result) -> dict[str, dict[str, str]]:
    t = result.table.execute()
    starts = dict(zip(result.frame["period_start"], result.frame["period"], strict=False))
    out: dict[str, dict[str, str]] = {}
    for row in t.itertuples():
        label = starts[pd.Timestamp(row.period_start).date()]
        out.setdefault(label, {})[row.customer_id] = row.phase
    return out


def test_each_customers_phase_by_hand(result):
    assert _phases(result) == EXPECTED_PHASES


def test_counts_per_phase_and_period(result):
    expected = pd.DataFrame(
        {
            "new": [7, 1, 0, 1],
            "reactivated": [0, 0, 0, 1],
            "active": [0, 2, 1, 1],
            "at risk": [0, 5, 5, 0],
            "lapsed": [0, 0, 2, 6],
        },
        index=pd.Index(["2024Q1", "2024Q2", "2024Q3", "2024Q4"], name="period"),
    )
    expected.columns.name = "phase"
    pd.testing.assert_frame_equal(result.counts(), expected)
    q4 = result.frame[result.frame["period"] == "2024Q4"].set_index("phase")
    assert q4.loc["lapsed", "share"] == pytest.approx(6 / 9)
    assert str(q4["period_end"].iloc[0]) == "2024-12-31"


def test_spend_per_phase_is_the_periods_revenue(result):
    f = result.frame.set_index(["period", "phase"])
    assert f.loc[("2024Q1", "new"), "spend"] == 90.0  # a d e f g h 10 each, m three times 10
    assert f.loc[("2024Q3", "active"), "spend"] == 40.0  # h on 09-30
    assert f.loc[("2024Q4", "reactivated"), "spend"] == 25.0  # g on 10-01
    assert f.loc[("2024Q4", "lapsed"), "spend"] == 0.0


def test_recency_rule_when_no_model_can_be_fitted(lifecycle_ws):
    # nine customers, two with repeat purchases: Gamma-Gamma is not identified
    days = {"at_risk_after_days": 100, "lapsed_after_days": 200}
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=days)
    assert "could be fitted" in result.note and "recency rule" in result.note
    assert result.rules == LifecycleRules(**RECENCY)
    assert _phases(result) == EXPECTED_PHASES
    assert result.frame["clv"].isna().sum() == (result.frame["customers"] > 0).sum()


def test_migration_matrix_by_hand(result):
    m = result.matrix()
    assert m.loc[BEFORE, "new"] == 9  # seven in Q1, b in Q2, k in Q4
    assert m.loc["new", "active"] == 2  # a, d into Q2
    assert m.loc["new", "at risk"] == 6  # e f g h m into Q2, b into Q3
    assert m.loc["active", "at risk"] == 2  # a, d into Q3
    assert m.loc["at risk", "at risk"] == 2  # e, f into Q3
    assert m.loc["at risk", "lapsed"] == 7  # g m into Q3; a b d e f into Q4
    assert m.loc["at risk", "active"] == 1  # h buys in Q3 after being at risk
    assert m.loc["lapsed", "reactivated"] == 1  # g buys in Q4 after being lapsed
    assert m.loc["lapsed", "lapsed"] == 1  # m
    assert m.loc["active", "active"] == 1  # h into Q4
    assert int(m.to_numpy().sum()) == 7 + 8 + 8 + 9  # every customer-quarter once
    q4 = result.matrix("2024Q4")
    assert q4.loc["at risk", "lapsed"] == 5
    shares = result.matrix(share=True)
    assert shares.loc["at risk", "lapsed"] == pytest.approx(7 / 10)
    assert np.isnan(shares.loc["reactivated", "active"])  # nobody was reactivated before Q4
    with pytest.raises(MetricError, match="2024Q1 to 2024Q4"):
        result.matrix("2023Q4")


def test_reactivation_rate(result):
    r = result.reactivation.set_index("period")
    assert r.loc["2024Q3", "lapsed_before"] == 0 and math.isnan(r.loc["2024Q3", "rate"])
    assert r.loc["2024Q4", "lapsed_before"] == 2  # g and m lapsed at the end of Q3
    assert r.loc["2024Q4", "reactivated"] == 1
    assert r.loc["2024Q4", "rate"] == 0.5
    rate, low, high = result.reactivation_rate()
    assert rate == 0.5
    # Wilson 95% for 1 of 2 (z = 1.959964): (0.5 + z²/4) / (1 + z²/2) ± ... written out
    z = 1.959963984540054
    center = (0.5 + z**2 / 4) / (1 + z**2 / 2)
    half = z / (1 + z**2 / 2) * math.sqrt(0.25 / 2 + z**2 / 16)
    assert (low, high) == pytest.approx((center - half, center + half))


def test_months_start_and_end_on_calendar_days(lifecycle_ws, value):
    result = rox.actions.lifecycle(lifecycle_ws, "month", rules=RECENCY, value=value)
    periods = result.frame["period"].drop_duplicates().tolist()
    assert periods[0] == "2024-01" and periods[-1] == "2024-12" and len(periods) == 12
    f = result.frame.set_index(["period", "phase"])
    assert f.loc[("2024-03", "new"), "customers"] == 5  # a d e f g (03-13 to 03-31)
    assert f.loc[("2024-04", "new"), "customers"] == 1  # b on 04-01
    # h bought on 01-01 and 09-30: in September active, from 01-01 273 days: lapsed in August
    moved = result.migrations
    h = moved[(moved["period"] == "2024-09") & (moved["to_phase"] == "reactivated")]
    assert h["customers"].sum() == 1


def test_as_of_cuts_the_log(lifecycle_ws, value):
    result = rox.actions.lifecycle(
        lifecycle_ws, "quarter", rules=RECENCY, value=value, as_of="2024-09-30"
    )
    assert result.frame["period"].iloc[-1] == "2024Q3"
    assert _phases(result)["2024Q3"] == EXPECTED_PHASES["2024Q3"]
    # a partial quarter is read on the last day counted
    cut = rox.actions.lifecycle(
        lifecycle_ws, "quarter", rules=RECENCY, value=value, as_of="2024-08-11"
    )
    assert str(cut.frame["period_end"].iloc[-1]) == "2024-08-11"
    # h on 08-11: 223 days since 01-01: lapsed; f: 150 days: at risk
    phases = _phases(cut)["2024Q3"]
    assert phases["h"] == "lapsed" and phases["f"] == "at risk"


def test_p_alive_signal_at_both_sides_of_each_threshold(lifecycle_ws, value, p_alive_by_hand):
    # m: x = 2 repeat days, the last 36 days after the first (01-05 -> 02-10); T to each quarter's
    # end: 177 days (06-30), 269 (09-30), 361 (12-31)
    p2, p3, p4 = (p_alive_by_hand(2, 36, t) for t in (177, 269, 361))
    assert p2 > p3 > p4

    def m_phases(at_risk: float, lapsed: float) -> list[str]:
        rules = {"at_risk_below": at_risk, "lapsed_below": lapsed}
        result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=rules, value=value)
        t = result.table.execute()
        m = t[t["customer_id"] == "m"].sort_values("period_start")
        np.testing.assert_allclose(m["p_alive"].iloc[1:], [p2, p3, p4], rtol=1e-12)
        return m["phase"].tolist()

    assert m_phases(p3 + 1e-9, p4 + 1e-9) == ["new", "active", "at risk", "lapsed"]
    # thresholds a hair below the values (the same number computed two ways may differ in the
    # last bit): the other side of each
    assert m_phases(p3 - 1e-12, p4 - 1e-12) == ["new", "active", "active", "at risk"]
    assert m_phases(p2 + 1e-9, p3 - 1e-9) == ["new", "at risk", "at risk", "lapsed"]
    # one purchase: x = 0, P(alive) = 1 under BG/NBD: never at risk without a repeat purchase
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", value=value)
    t = result.table.execute()
    assert set(t.loc[t["customer_id"] == "a", "phase"]) == {"new", "active"}
    assert result.rules.signal == "p_alive" and result.value_basis.startswith("CLV")


def test_value_per_phase_is_todays_clv(lifecycle_ws, given_clv):
    value = given_clv({"a": 1.0, "b": 2.0, "d": 4.0, "e": 8.0, "f": 16.0, "g": 32.0, "h": 64.0,
                       "k": 128.0, "m": 256.0})  # fmt: skip
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=RECENCY, value=value)
    f = result.frame.set_index(["period", "phase"])
    assert f.loc[("2024Q2", "at risk"), "clv"] == 8 + 16 + 32 + 64 + 256
    assert f.loc[("2024Q2", "at risk"), "clv_mean"] == pytest.approx(376 / 5)
    assert f.loc[("2024Q4", "new"), "clv"] == 128.0
    assert f.loc[("2024Q4", "at risk"), "clv"] == 0.0  # nobody


def test_rules_from_toml(tmp_path, lifecycle_ws, value):
    path = tmp_path / "rules.toml"
    path.write_text(
        '[lifecycle]\nsignal = "recency"\nat_risk_after_days = 100\nlapsed_after_days = 200\n'
    )
    assert LifecycleRules.from_toml(path) == LifecycleRules(**RECENCY)
    result = rox.actions.lifecycle(lifecycle_ws, "quarter", rules=path, value=value)
    assert _phases(result) == EXPECTED_PHASES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[other]\nx = 1\n", "no \\[lifecycle\\] table"),
        ("[lifecycle]\nsignl = 'recency'\n", "unknown lifecycle setting\\(s\\) signl"),
        ("[lifecycle]\nat_risk_after_days = 'ten'\n", "at_risk_after_days = 'ten': expected int"),
        ("[lifecycle]\nat_risk_after_days = true\n", "expected int"),
        ("[lifecycle]\nsignal = 'rfm'\n", "'rfm': expected 'p_alive' or 'recency'"),
        ("[lifecycle]\nat_risk_below = 0.2\nlapsed_below = 0.2\n", "0 < lapsed_below < at_risk"),
        ("[lifecycle]\nat_risk_after_days = 400\n", "at_risk_after_days < lapsed_after_days"),
        ("[lifecycle\n", "not valid TOML"),
    ],
)
def test_bad_rules_are_named(tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(MetricError, match=message):
        LifecycleRules.from_toml(path)


def test_rule_edges_accepted_and_refused():
    LifecycleRules(at_risk_below=1.0, lapsed_below=0.999)  # at_risk_below may be 1
    with pytest.raises(MetricError):
        LifecycleRules(at_risk_below=1.001)
    LifecycleRules(at_risk_after_days=0, lapsed_after_days=1)
    with pytest.raises(MetricError):
        LifecycleRules(at_risk_after_days=-1)
    with pytest.raises(
        MetricError, match=r"^lifecycle rules file /nonexistent/rules.toml does not exist$"
    ):
        LifecycleRules.from_toml("/nonexistent/rules.toml")


def test_bad_period_and_a_clv_without_a_model(lifecycle_ws):
    with pytest.raises(MetricError, match="month or quarter"):
        rox.actions.lifecycle(lifecycle_ws, "week")  # type: ignore[arg-type]
    bare = rox.value.CLV(frame=pd.DataFrame({"customer_id": ["a"], "clv": [1.0]}))
    with pytest.raises(MetricError, match="fitted purchase model"):
        rox.actions.lifecycle(lifecycle_ws, value=bare)


def test_figures(result):
    fig = result.plot()
    assert [t.name for t in fig.data] == list(PHASES)
    assert list(fig.data[0].y) == [7, 1, 0, 1]
    heat = result.plot(kind="migration")
    assert list(heat.data[0].y) == [BEFORE, *PHASES]
    with pytest.raises(ValueError, match="kind"):
        result.plot(kind="pie")


@pytest.mark.slow  # four commands, each trying to fit a CLV on nine customers first
def test_cli_with_a_rules_file(lifecycle_path, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[lifecycle]\nsignal = "recency"\nat_risk_after_days = 100\nlapsed_after_days = 200\n'
    )
    args = ["--period", "quarter", "--rules", str(rules), "--workspace", str(lifecycle_path)]
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": SRC}

    def run(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rox", "lifecycle", *args, *more],
                              capture_output=True, text=True, timeout=300, env=env)  # fmt: skip

    out = run("--format", "json")
    assert out.returncode == 0, out.stderr
    rows = pd.DataFrame(json.loads(out.stdout))
    lapsed = rows[(rows["period"] == "2024Q4") & (rows["phase"] == "lapsed")]
    assert lapsed["customers"].tolist() == [6]
    out = run("--show", "migration", "--format", "csv")
    assert out.returncode == 0, out.stderr
    matrix = pd.read_csv(io.StringIO(out.stdout)).set_index("from")
    assert matrix.loc["lapsed", "reactivated"] == 1 and matrix.loc[BEFORE, "new"] == 9
    out = run("--show", "reactivation")
    assert out.returncode == 0 and "50.0% of lapsed customers reactivated" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[lifecycle]\nsignl = 1\n")
    out = subprocess.run(
        [sys.executable, "-m", "rox", "lifecycle", "--rules", str(bad), "--workspace",
         str(lifecycle_path)], capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == EXIT_CODES[MetricError] and "signl" in out.stderr


@pytest.mark.slow
def test_demo_counts_are_sensible(demo):
    result = rox.actions.lifecycle(demo, "quarter")
    counts = result.counts()
    buyers = demo.table("transactions").customer_id.nunique().execute()
    # everyone is counted once a quarter from their first purchase on
    assert counts["new"].sum() == buyers
    np.testing.assert_array_equal(counts.sum(axis=1), counts["new"].cumsum())
    assert result.rules.signal == "p_alive" and not result.note
    last = counts.iloc[-1]
    assert last["active"] > last["at risk"] > 0 and last["lapsed"] > 0
    assert (counts["lapsed"].diff().dropna() >= -counts["reactivated"].iloc[1:]).all()
    rate, low, high = result.reactivation_rate()
    assert 0 < low <= rate <= high < 0.5  # lapsed customers seldom come back
    # the at-risk and lapsed customers of the last quarter are worth less than the active ones
    q = result.frame[result.frame["period"] == counts.index[-1]].set_index("phase")
    assert q.loc["active", "clv_mean"] > q.loc["at risk", "clv_mean"] > q.loc["lapsed", "clv_mean"]
