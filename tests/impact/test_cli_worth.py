"""``rox worth`` on the hand-built workspace: the values printed in every format.

Valued by revenue to date (``--value revenue``), by latest NPS answer: promoters c1 (120) and c4
(300), passives c3 (40) and c8 (0), detractors c2 (15) and c5 (25), no answer c6 (20), c7 (40).
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import rox
from rox.errors import EXIT_CODES, MetricError


@pytest.fixture
def run(rox_here):
    """``rox worth ARGS --workspace W`` in this process (no interpreter start), as a process."""

    def worth(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
        code, out, err = rox_here("worth", *args, "--workspace", workspace)
        return subprocess.CompletedProcess(["rox", "worth", *args], code, out, err)

    return worth


EXPECTED = {
    "promoter": (2, 210.0, 10.5),
    "passive": (2, 20.0, 1.0),
    "detractor": (2, 20.0, 1.0),
    "no response": (2, 30.0, 1.5),
}


def test_json_has_one_object_per_group(small_path, run):
    out = run("--value", "revenue", "--goal", "purchase", "--format", "json", workspace=small_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["nps_group"] for r in rows] == list(EXPECTED)
    for r in rows:
        customers, clv, ratio = EXPECTED[r["nps_group"]]
        assert r["customers"] == customers
        assert r["clv"] == pytest.approx(clv)
        assert r["clv_ratio"] == pytest.approx(ratio)
        assert r["clv_low"] <= r["clv"] <= r["clv_high"]
        assert {"p_alive", "retention", "spend"} <= set(r)


def test_csv_by_band(small_path, run):
    out = run("--by", "csat_band", "--value", "revenue", "--format", "csv", workspace=small_path)
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert frame["csat_band"].tolist() == ["satisfied", "not satisfied", "no response"]
    # satisfied c1 (120); not satisfied c2 (15); the other six (300 + 40 + 25 + 20 + 40 + 0) / 6
    # (CSV is rounded for reading: money to whole units; JSON keeps full precision)
    assert frame["clv"].tolist() == [120.0, 15.0, 71.0]
    assert frame["clv_ratio"].tolist() == pytest.approx([8.0, 1.0, 425 / 90], abs=5e-4)


def test_json_by_ces_band(small_path, run):
    out = run("--by", "ces_band", "--value", "revenue", "--format", "json", workspace=small_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    # CES 1-7, easy from 5: c1 answered 5 (easy, 120), c3 answered 4 (not easy, 40), the other
    # six none: (15 + 300 + 25 + 20 + 40 + 0) / 6 = 400 / 6; the ratios divide by not easy's 40
    assert [r["ces_band"] for r in rows] == ["easy", "not easy", "no response"]
    assert [r["customers"] for r in rows] == [1, 1, 6]
    assert [r["clv"] for r in rows] == pytest.approx([120.0, 40.0, 400 / 6])
    assert [r["clv_ratio"] for r in rows] == pytest.approx([3.0, 1.0, 400 / 6 / 40])
    # one customer in a group: every resample is that customer, so the interval is the value
    assert (rows[0]["clv_low"], rows[0]["clv_high"]) == pytest.approx((120.0, 120.0))
    assert rows[2]["clv_low"] <= 400 / 6 <= rows[2]["clv_high"]


def test_table_states_the_multiple(small_path, run):
    out = run("--value", "revenue", workspace=small_path)
    assert out.returncode == 0, out.stderr
    assert "promoter" in out.stdout
    assert "10.50× that of detractor" in out.stdout
    assert "associational" in out.stdout


def test_bad_by_is_a_clear_error(small_path, run):
    out = run("--by", "colour", "--value", "revenue", workspace=small_path)
    assert out.returncode == EXIT_CODES[MetricError]
    assert "'colour'" in out.stderr
    assert "nps_group, csat_band, ces_band, friction, segment" in out.stderr
    assert "Traceback" not in out.stderr


def test_rox_says_what_moving_detractors_is_worth(small_path, run):
    out = run("--value", "revenue", "--rox", "--replicates", "200", workspace=small_path)
    assert out.returncode == 0, out.stderr
    # detractors c2 (15) and c5 (25) at the passives' mean (20): 2 x (20 - 20) = 0
    assert "Moving the 2 customers of nps_group 'detractor' to the level of 'passive'" in out.stdout
    assert "worth about 0 (" in out.stdout
    assert "associational" in out.stdout
    # seven buyers cannot carry the ROX model: it says why, and the comparison is still printed
    assert "note: the ROX model could not be fitted" in out.stderr
    assert "needs at least 20 in each of the two groups" in out.stderr
    assert "Model-free comparison (difference in group means, associational)" in out.stdout


@pytest.mark.slow
def test_rox_in_json_is_the_rox_by_channel(tmp_path, run):
    path = tmp_path / "demo.duckdb"
    rox.demo.build(path, n_customers=8_000, seed=7).close()
    out = run("--rox", "--draws", "50", "--format", "json", workspace=path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["channel"] for r in rows] == ["purchases", "dropout", "spend", "total"]
    assert sum(r["rox"] for r in rows[:3]) == pytest.approx(rows[3]["rox"])
    assert rows[3]["rox_low"] < rows[3]["rox"] < rows[3]["rox_high"]
    assert "Moving every detractor to the level of passive" in out.stderr
    # in plain words, with the channel that carries most of it (by the JSON's shares)
    meaning = {"purchases": "more purchases", "dropout": "lower dropout", "spend": "higher spend"}
    main = max(rows[:3], key=lambda r: abs(r["rox"]))
    words = meaning[main["channel"]]
    if main["share"] > 0.5:
        assert f"over 3 years; most of it from {words}" in out.stderr
    else:
        assert f"over 3 years; the largest part ({main['share']:.0%}) from {words}" in out.stderr
    assert "Placebo (experience shuffled across customers)" in out.stderr
    # --weighted: the ROX weighted to the customer base, and the one above beside it
    weighted = run("--rox", "--weighted", "--draws", "50", "--format", "json", workspace=path)
    assert weighted.returncode == 0, weighted.stderr
    both = {r["channel"]: r for r in json.loads(weighted.stdout)}
    assert both["total unweighted"]["rox"] == pytest.approx(rows[3]["rox"], rel=1e-8)
    assert both["total"]["rox"] != pytest.approx(rows[3]["rox"], rel=1e-3)
    assert "Weighted to the customer base" in weighted.stderr
    assert run("--weighted", workspace=path).returncode == 2  # (it weights the ROX: needs --rox)
