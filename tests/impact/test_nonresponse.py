"""Non-response: raking by hand (a 2x2 in closed form), propensity weights against statsmodels,
the small workspace's weighted NPS worked out, and the edge cases."""

from __future__ import annotations

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
from rox.errors import ConvergenceError, MetricError
from rox.impact.nonresponse import propensity_weights, rake


def _two_by_two() -> pd.DataFrame:
    return pd.DataFrame(
        {"s": ["a", "a", "b", "b"], "r": ["x", "y", "x", "y"], "respondents": [2, 1, 1, 4]}
    )


def test_rake_two_by_two_in_closed_form():
    # Raking keeps the cells' odds ratio (2 x 4) / (1 x 1) = 8 and meets the margins a = b = 10,
    # x = 12, y = 8: with m_ax = t, m_ay = 10 - t, m_bx = 12 - t, m_by = t - 2,
    # t (t - 2) = 8 (10 - t)(12 - t), i.e. 7t^2 - 174t + 960 = 0, t = (174 - sqrt(3396)) / 14.
    t = (174 - math.sqrt(3396)) / 14
    cells = _two_by_two()
    w, passes = rake(cells, {"s": {"a": 10, "b": 10}, "r": {"x": 12, "y": 8}})
    fitted = (w * cells["respondents"]).to_numpy()
    np.testing.assert_allclose(fitted, [t, 10 - t, 12 - t, t - 2], rtol=1e-9)
    assert 1 < passes < 100
    # the first pass by hand: segment factors 10/3 and 2, then region 12/8.667 and 8/11.333
    w1, _ = rake(cells, {"s": {"a": 10, "b": 10}, "r": {"x": 12, "y": 8}}, max_iter=1, tol=np.inf)
    assert (w1 * cells["respondents"]).iloc[0] == pytest.approx(20 / 3 * 12 / (20 / 3 + 2))


def test_rake_edge_cases():
    cells = _two_by_two()
    with pytest.raises(MetricError, match=r"no respondent in r=z \(5 customers\)"):
        rake(cells, {"s": {"a": 10, "b": 10}, "r": {"x": 8, "y": 7, "z": 5}})
    with pytest.raises(MetricError, match="totals differ"):
        rake(cells, {"s": {"a": 10, "b": 10}, "r": {"x": 12, "y": 9}})
    # only the diagonal is observed: a = x and b = y, so a = 10, x = 15 cannot both hold
    diagonal = pd.DataFrame({"s": ["a", "b"], "r": ["x", "y"], "respondents": [1, 1]})
    with pytest.raises(ConvergenceError, match="did not converge in 50 passes"):
        rake(diagonal, {"s": {"a": 10, "b": 10}, "r": {"x": 15, "y": 5}}, max_iter=50)
    # one margin: weights are the base over the respondents, in one pass
    w, passes = rake(cells, {"s": {"a": 6, "b": 10}})
    assert w.tolist() == [2.0, 2.0, 2.0, 2.0] and passes == 2  # (the second pass confirms)


def test_propensity_against_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    cells = pd.DataFrame(
        {
            "s": ["a", "a", "a", "b", "b", "b"],
            "r": ["x", "y", "z", "x", "y", "z"],
            "customers": [50, 40, 30, 60, 20, 45],
            "respondents": [20, 10, 12, 35, 5, 30],
        }
    )
    w, p, _ = propensity_weights(cells, ["s", "r"])
    x = pd.get_dummies(cells[["s", "r"]], drop_first=True, dtype=float)
    endog = np.column_stack([cells["respondents"], cells["customers"] - cells["respondents"]])
    fit = sm.GLM(endog, sm.add_constant(x), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(p, fit.fittedvalues, rtol=1e-8)
    np.testing.assert_allclose(w, 1 / fit.fittedvalues, rtol=1e-8)
    everyone = cells.assign(respondents=cells["customers"])
    with pytest.raises(MetricError, match="everyone or no one responded"):
        propensity_weights(everyone, ["s"])


def test_weighted_nps_by_hand(small):
    """Base: all 8 customers; margin: segment. a: c1 P, c2 D, c5 D (3 of 3 answered);
    b: c3 passive, c4 P, c6 none (2 of 3); none: c7 none, c8 passive (1 of 2)."""
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    cells = result.cells.set_index("segment")
    assert cells["weight"].to_dict() == pytest.approx({"a": 1.0, "b": 1.5, "(none)": 2.0})
    # unweighted: 2 promoters, 2 detractors of 6; weighted: (1 + 1.5 - 2) / 8
    assert result.unweighted == pytest.approx(0.0)
    assert result.weighted == pytest.approx(100 * 0.5 / 8)
    assert result.bias == pytest.approx(-6.25)
    assert result.design_effect == pytest.approx(6 * (3 + 2.25 * 2 + 4) / 64)
    assert result.response_rate == pytest.approx(6 / 8)
    r = result.frame.set_index("group")
    # spend: respondents c1 120, c2 15, c3 40, c4 300, c5 25, c8 0; the others c6 20, c7 40
    assert r.loc["respondents", "monetary"] == pytest.approx(500 / 6)
    assert r.loc["non-respondents", "monetary"] == pytest.approx(30)
    assert r.loc["non-respondents", "customers"] == 2
    comp = result.composition.set_index(["margin", "level"])
    assert comp.loc[("segment", "b"), "weighted_share"] == pytest.approx(3 / 8)
    # buyers only: c7 (no segment) bought but did not answer, c8 answered but never bought
    with pytest.raises(MetricError, match=r"no respondent in segment=\(none\)"):
        rox.impact.nonresponse(small, margins=["segment"], value="revenue")


def test_respondent_weights_by_hand(small):
    """The same base: a's respondents c1, c2, c5 weigh 1; b's c3, c4 1.5; c8 (no segment) 2."""
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    w = result.weights()
    assert w.to_dict() == pytest.approx(
        {"c1": 1.0, "c2": 1.0, "c5": 1.0, "c3": 1.5, "c4": 1.5, "c8": 2.0}
    )
    assert w.sum() == pytest.approx(8)  # raking: the respondents stand for the whole base


def test_nonresponse_errors(small):
    with pytest.raises(MetricError, match="metric='x'"):
        rox.impact.nonresponse(small, metric="x")
    with pytest.raises(MetricError, match="cannot weight on 'colour'"):
        rox.impact.nonresponse(small, margins=["colour"], value="revenue")
    with pytest.raises(MetricError, match="method="):
        rox.impact.nonresponse(small, method="magic")  # type: ignore[arg-type]


def test_demo_respondents_are_worth_more(demo):
    result = rox.impact.nonresponse(demo, value="revenue")
    r = result.frame.set_index("group")
    # the base is the buying customers: respondents and non-respondents make it up
    buyers = demo.table("transactions").customer_id.nunique().execute()
    assert r["customers"].sum() == buyers
    comp = result.composition
    assert np.allclose(comp["weighted_share"], comp["base_share"])  # raking meets the margins
    assert result.weighted_low < result.weighted < result.weighted_high
    propensity = rox.impact.nonresponse(demo, value="revenue", method="propensity")
    assert propensity.unweighted == result.unweighted


def test_cli_nonresponse(small_path):
    src = str(Path(rox.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-m", "rox", "nonresponse", "--margins", "segment", "--base", "all",
         "--value", "revenue", "--workspace", str(small_path), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": src},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = {r["group"]: r for r in json.loads(out.stdout)}
    assert rows["respondents"]["customers"] == 6
    assert "Non-response bias: -6.2 points" in out.stderr
