"""Non-response's rules, each stated and checked on hand figures (#22: mutation testing).

The hand workspace is tests/impact/conftest.py's, valued by revenue to date: spend c1 120, c2 15,
c3 40, c4 300, c5 25, c6 20, c7 40, c8 0 (c8 never bought). Latest NPS: promoters c1 (9) and c4,
passives c3 and c8, detractors c2 (5) and c5; c6 and c7 never answered. CSAT: c1 4 (satisfied),
c2 3 (not satisfied). The data end on 2024-12-31.
"""

from __future__ import annotations

import importlib
import math
from datetime import date

import pandas as pd
import pytest

import rox
from rox.errors import ConvergenceError, MetricError
from rox.impact.nonresponse import NonResponse, propensity_weights, rake
from rox.impact.profile import NO_RESPONSE

Z95 = 1.959963984540054


def _cells() -> pd.DataFrame:
    return pd.DataFrame(
        {"s": ["a", "a", "b", "b"], "r": ["x", "y", "x", "y"], "respondents": [2, 1, 1, 4]}
    )


# -- raking ----------------------------------------------------------------------------------------
def test_a_level_with_no_customers_needs_no_respondent():
    # r = z has a target of 0 and no cell: nothing to reach, raking goes on (a target above 0
    # with no respondent is the error of test_nonresponse.py)
    w, _ = rake(_cells(), {"s": {"a": 6, "b": 10}, "r": {"x": 8, "y": 8, "z": 0}})
    fitted = w * _cells()["respondents"]
    assert fitted.groupby(_cells()["s"]).sum().to_dict() == pytest.approx({"a": 6, "b": 10})
    assert fitted.groupby(_cells()["r"]).sum().to_dict() == pytest.approx({"x": 8, "y": 8})


def test_rake_passes_and_its_limit_on_both_sides():
    # one margin: the first pass meets it (weights 6/3 = 2 and 10/5 = 2), the second confirms
    cells, target = _cells(), {"s": {"a": 6, "b": 10}}
    w, passes = rake(cells, target, max_iter=2)
    assert w.tolist() == [2.0] * 4 and passes == 2
    with pytest.raises(ConvergenceError, match="did not converge in 1 passes"):
        rake(cells, target, max_iter=1)
    # the tolerance is strict: a pass whose factors all move by exactly 0 is not below tol=0
    with pytest.raises(ConvergenceError):
        rake(cells, target, tol=0.0, max_iter=5)


def test_rake_refuses_a_margin_it_does_not_have():
    with pytest.raises(MetricError, match="no margin 'q' in the cells"):
        rake(_cells(), {"s": {"a": 6, "b": 10}, "q": {"u": 16}})


def test_rake_accepts_totals_equal_to_six_decimals():
    # 16 and 16.0000004 are one total at 6 decimals (not at 7); 16.000001 is another
    # (the factors then swing by 2.5e-8 a pass, so the tolerance is wider than that)
    w, _ = rake(_cells(), {"s": {"a": 6, "b": 10}, "r": {"x": 8, "y": 8.0000004}}, tol=1e-6)
    assert float((w * _cells()["respondents"]).sum()) == pytest.approx(16)
    with pytest.raises(MetricError, match="totals differ"):
        rake(_cells(), {"s": {"a": 6, "b": 10}, "r": {"x": 8, "y": 8.000001}})


def test_rake_stops_after_100_passes_by_default():
    diagonal = pd.DataFrame({"s": ["a", "b"], "r": ["x", "y"], "respondents": [1, 1]})
    with pytest.raises(ConvergenceError, match="did not converge in 100 passes"):
        rake(diagonal, {"s": {"a": 10, "b": 10}, "r": {"x": 15, "y": 5}})


# -- propensity ------------------------------------------------------------------------------------
def test_propensity_of_one_cell_is_its_response_rate_from_the_first_step():
    # one level: the model is its intercept, which starts at the log odds 20 / 30: converged on
    # the first Newton step, p = 0.4, weight 2.5
    cells = pd.DataFrame({"s": ["a"], "customers": [50], "respondents": [20]})
    w, p, steps = propensity_weights(cells, ["s"])
    assert p.tolist() == pytest.approx([0.4], rel=1e-12)
    assert w.tolist() == pytest.approx([2.5], rel=1e-12)
    assert steps == 1
    # so one step allowed is enough, and none is not
    assert propensity_weights(cells, ["s"], max_iter=1)[2] == 1
    with pytest.raises(ConvergenceError, match="did not converge in 0 Newton steps"):
        propensity_weights(cells, ["s"], max_iter=0)


def test_propensity_needs_someone_who_did_not_answer_and_someone_who_did():
    cells = pd.DataFrame({"s": ["a", "b"], "customers": [5, 5], "respondents": [0, 0]})
    with pytest.raises(MetricError, match="everyone or no one responded"):
        propensity_weights(cells, ["s"])
    # one respondent is enough
    w, p, _ = propensity_weights(cells.assign(respondents=[1, 2]), ["s"])
    assert p.tolist() == pytest.approx([0.2, 0.4])
    assert w.tolist() == pytest.approx([5.0, 2.5])


def test_propensity_of_a_separated_level_does_not_converge():
    # b: everyone answered: its log odds run to infinity
    cells = pd.DataFrame({"s": ["a", "b"], "customers": [5, 5], "respondents": [2, 5]})
    with pytest.raises(ConvergenceError, match="did not converge in 30 Newton steps"):
        propensity_weights(cells, ["s"], max_iter=30)


def test_propensity_of_duplicated_margins_is_singular():
    cells = pd.DataFrame(
        {"s": ["a", "b"], "t": ["a", "b"], "customers": [5, 5], "respondents": [2, 3]}
    )
    with pytest.raises(MetricError, match="singular"):
        propensity_weights(cells, ["s", "t"])


# -- nonresponse() on the hand workspace -----------------------------------------------------------
def test_intervals_of_the_weighted_and_unweighted_nps(small):
    """Base all, margin segment: weights a 1, b 1.5, (none) 2 (test_nonresponse.py).

    Unweighted: 2 promoters, 2 detractors of 6: NPS 0, variance p + d - (p - d)^2 = 2/3, se
    sqrt(2/3 / 6) = 1/3. Weighted: promoters c1 (1) + c4 (1.5) = 2.5, detractors c2, c5 = 2 of
    8: p = 5/16, d = 1/4, deff = 6 (3 + 2 x 2.25 + 4) / 64 = 69/64, n / deff = 384/69.
    """
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    assert result.unweighted_low == pytest.approx(-100 * Z95 / 3)
    assert result.unweighted_high == pytest.approx(100 * Z95 / 3)
    p, d = 5 / 16, 1 / 4
    se = math.sqrt((p + d - (p - d) ** 2) / (384 / 69))
    assert result.weighted_low == pytest.approx(100 * (p - d - Z95 * se))
    assert result.weighted_high == pytest.approx(100 * (p - d + Z95 * se))
    assert result.iterations == 2  # one margin: met on the first pass, confirmed on the second
    assert (result.metric, result.method, result.base) == ("nps", "raking", "all")
    assert result.value_basis == "revenue to date"


def test_respondents_and_non_respondents_by_hand(small):
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    r = result.frame.set_index("group")
    assert r.index.tolist() == ["respondents", "non-respondents"]
    end = date(2024, 12, 31)
    days = {c: (end - date.fromisoformat(d)).days for c, d in [
        ("c1", "2023-06-01"), ("c2", "2024-06-01"), ("c3", "2024-10-01"), ("c4", "2024-12-31"),
        ("c5", "2023-01-01"), ("c6", "2024-12-01"), ("c7", "2024-11-01")]}  # fmt: skip
    # c8 never bought: left out of the respondents' mean recency
    want = sum(days[c] for c in ("c1", "c2", "c3", "c4", "c5")) / 5
    assert r.loc["respondents", "recency_days"] == pytest.approx(want)
    assert r.loc["non-respondents", "recency_days"] == pytest.approx((30 + 60) / 2)
    # purchases: c1 2, c2 1, c3 1, c4 2, c5 1, c8 0 | c6 1, c7 1
    assert r.loc["respondents", "frequency"] == pytest.approx(7 / 6)
    assert r.loc["non-respondents", "frequency"] == pytest.approx(1.0)
    assert r.loc["respondents", "clv"] == pytest.approx(500 / 6)
    assert r["customers"].tolist() == [6, 2]
    # composition: segment a 3 of 8 customers, 3 of 6 respondents, weighted 3 of 8
    comp = result.composition.set_index(["margin", "level"])
    assert comp.loc[("segment", "a")].to_dict() == pytest.approx(
        {"base_share": 3 / 8, "respondent_share": 3 / 6, "weighted_share": 3 / 8}
    )
    assert comp.loc[("segment", "(none)"), "respondent_share"] == pytest.approx(1 / 6)


def test_value_bands_cut_at_the_quantiles_with_a_tie_at_the_cut(small):
    """Buyers c1-c7, revenue 15, 20, 25, 40, 40, 120, 300: the median is 40, shared by c3 and c7.

    Two bands: V1 is CLV <= 40 (c2, c5, c6, c3, c7: 5 customers, 3 respondents c2, c3, c5),
    V2 above (c1, c4: both answered). Raked weights V1 5/3, V2 1. NPS unweighted 2 promoters,
    2 detractors of 5: 0; weighted: promoters c1, c4 = 2, detractors c2, c5 = 10/3 of 7: -400/21.
    """
    result = rox.impact.nonresponse(small, margins=["value_band"], bands=2, value="revenue")
    cells = result.cells.set_index("value_band")
    assert cells["customers"].to_dict() == {"V1": 5, "V2": 2}
    assert cells["respondents"].to_dict() == {"V1": 3, "V2": 2}
    assert cells["weight"].to_dict() == pytest.approx({"V1": 5 / 3, "V2": 1.0})
    assert result.unweighted == pytest.approx(0.0)
    assert result.weighted == pytest.approx(-400 / 21)
    assert result.design_effect == pytest.approx(5 * (25 / 9 * 3 + 2) / 49)
    assert result.response_rate == pytest.approx(5 / 7)
    # one band: everyone in V1, weights 7/5
    one = rox.impact.nonresponse(small, margins=["value_band"], bands=1, value="revenue")
    assert one.cells["value_band"].tolist() == ["V1"]
    assert one.cells["weight"].tolist() == pytest.approx([7 / 5])


def test_a_cell_without_respondents_weighs_nothing(small):
    """Base all, margins segment and value band (2 bands over all 8: median 32.5).

    Segment b with V1 (CLV <= 32.5) is c6 alone (20, no answer): a cell of 1 customer and no
    respondent; raking reaches segment b and V1 through the other cells, and this one weighs 0.
    """
    result = rox.impact.nonresponse(
        small, margins=["segment", "value_band"], bands=2, base="all", value="revenue"
    )
    cells = result.cells.set_index(["segment", "value_band"])
    assert cells.loc[("b", "V1"), ["customers", "respondents"]].tolist() == [1, 0]
    assert cells.loc[("b", "V1"), "weight"] == 0.0
    assert (cells.loc[cells["respondents"] > 0, "weight"] > 0).all()
    comp = result.composition
    assert comp["weighted_share"].to_numpy() == pytest.approx(comp["base_share"].to_numpy())


def test_csat_has_no_bottom_group_and_a_binomial_interval():
    """CSAT answered by 4 of 5 buyers in one segment: 3 satisfied (4-5), 1 not (2).

    Unweighted: 3/4 satisfied, se sqrt(0.75 x 0.25 / 4); the weights (5/4 each) change nothing.
    """
    with rox.open("duckdb://:memory:") as ws:
        ids = [f"k{i}" for i in range(5)]
        ws.ingest("customers", pd.DataFrame({"customer_id": ids, "segment": "a"}))
        ws.ingest(
            "transactions",
            pd.DataFrame(
                {"customer_id": ids, "ts": "2024-01-01", "amount": 10.0,
                 "order_id": [f"o{i}" for i in range(5)]}
            ),
        )  # fmt: skip
        ws.ingest(
            "responses",
            pd.DataFrame(
                {"response_id": [f"r{i}" for i in range(4)], "customer_id": ids[:4],
                 "ts": "2024-02-01", "metric": "csat", "score": [5.0, 4.0, 4.0, 2.0]}
            ),
        )  # fmt: skip
        result = rox.impact.nonresponse(ws, metric="csat", margins=["segment"], value="revenue")
    se = math.sqrt(0.75 * 0.25 / 4)
    assert result.unweighted == pytest.approx(75.0)
    assert result.weighted == pytest.approx(75.0)
    assert result.unweighted_low == pytest.approx(100 * (0.75 - Z95 * se))
    assert result.weighted_high == pytest.approx(100 * (0.75 + Z95 * se))
    assert result.cells["bottom"].tolist() == [0]
    assert "CSAT unweighted: 75.0" in str(result)
    assert "Non-response bias: +0.0%" in str(result)
    assert "4 of the 5 buying customers answered CSAT (80%)." in str(result)


def test_lines_in_plain_words(small):
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    text = str(result)
    assert "6 of the 8 customers answered NPS (75%)." in text
    assert "Non-response bias: -6.2 points" in text
    assert "weighted by raking to the customer base on segment: 6.2" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 0.0}, "confidence=0.0"),
        ({"confidence": 1.0}, "confidence=1.0"),
        ({"margins": []}, "at least one margin"),
        ({"base": "prospects"}, "base='prospects'"),
        ({"bands": 0}, "bands=0"),
    ],
)
def test_nonresponse_refuses_bad_settings(small, kwargs, message):
    with pytest.raises(MetricError, match=message):
        rox.impact.nonresponse(small, **{"value": "revenue", **kwargs})


def test_a_profile_comes_without_profile_options(small):
    p = rox.impact.profile(small, value="revenue")
    with pytest.raises(MetricError, match="pass the profile's options to profile"):
        rox.impact.nonresponse(p, value="revenue")
    got = rox.impact.nonresponse(p, margins=["segment"], base="all")
    assert got.weighted == pytest.approx(6.25)


def test_no_answer_at_all_is_a_clear_error():
    # one buyer, no survey answer
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest(
            "transactions",
            pd.DataFrame(
                {"customer_id": ["a"], "ts": ["2024-01-01"], "amount": [1.0], "order_id": ["o"]}
            ),
        )
        with pytest.raises(MetricError, match="no customer answered nps"):
            rox.impact.nonresponse(ws, margins=["value_band"], value="revenue")


def test_weights_of_a_result_not_computed_here():
    with pytest.raises(MetricError, match="no respondents to weight"):
        NonResponse(frame=pd.DataFrame()).weights()


# -- the defaults and the stop left open by the first mutation run (#22) ---------------------------
def test_propensity_stops_after_50_newton_steps_by_default():
    """``propensity_weights``' default ``max_iter`` is 50: a separated level (b: no one answered,
    its log odds fall by about 1 a step towards minus infinity, p = e^-50 or so after 50 steps:
    never 0, so never singular) fails after 50 steps, and says so."""
    cells = pd.DataFrame({"s": ["a", "b"], "customers": [5, 5], "respondents": [2, 0]})
    with pytest.raises(ConvergenceError, match="did not converge in 50 Newton steps"):
        propensity_weights(cells, ["s"])


def test_propensity_stops_on_a_step_strictly_below_tol():
    """The Newton loop stops when its largest step is strictly below ``tol``. One cell, 1 of 2
    answered: the intercept starts at the log odds log(1 / 1) = 0, where p = 1 / (1 + e^0) = 0.5
    exactly, so the score 1 - 2 x 0.5 and the first step are exactly 0: below any tol > 0 (one
    step), but not below tol = 0, where no step ever is (no convergence)."""
    cells = pd.DataFrame({"s": ["a"], "customers": [2], "respondents": [1]})
    w, p, steps = propensity_weights(cells, ["s"], tol=5e-324)
    assert (steps, p.tolist(), w.tolist()) == (1, [0.5], [2.0])
    with pytest.raises(ConvergenceError, match="did not converge in 50 Newton steps"):
        propensity_weights(cells, ["s"], tol=0.0)


@pytest.mark.parametrize(
    ("method", "name"), [("raking", "rake"), ("propensity", "propensity_weights")]
)
def test_nonresponse_allows_100_iterations_by_default(small, monkeypatch, method, name):
    """``nonresponse``'s ``max_iter`` (100 by default) is what it gives the weighting: raking's
    passes or the propensity model's Newton steps (not the latter's own default of 50)."""
    module = importlib.import_module(
        "rox.impact.nonresponse"
    )  # (the package's name is the function)
    real = getattr(module, name)
    seen: list[int] = []

    def spy(*args, **kwargs):
        seen.append(kwargs["max_iter"])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    rox.impact.nonresponse(small, margins=["value_band"], bands=1, value="revenue", method=method)
    rox.impact.nonresponse(
        small, margins=["value_band"], bands=1, value="revenue", method=method, max_iter=7
    )
    assert seen == [100, 7]


def test_nonresponse_cuts_4_value_bands_by_default(small):
    """The default is 4 value bands, cut at the continuous (interpolated) quartiles of the buyers'
    revenue 15, 20, 25, 40, 40, 120, 300 (positions 1.5, 3, 4.5 of 0-6): 22.5, 40 and 80, so V1
    holds 15, 20; V2 25, 40, 40; V3 nothing; V4 120, 300. Five bands would cut at 21, 31, 40 and
    104 (positions 1.2, 2.4, 3.6, 4.8): V1 15, 20; V2 25; V3 40, 40; V4 nothing; V5 120, 300."""
    kwargs = {"margins": ["value_band"], "value": "revenue"}
    default = rox.impact.nonresponse(small, **kwargs).cells.set_index("value_band")
    assert default["customers"].to_dict() == {"V1": 2, "V2": 3, "V4": 2}
    five = rox.impact.nonresponse(small, bands=5, **kwargs).cells.set_index("value_band")
    assert five["customers"].to_dict() == {"V1": 2, "V2": 1, "V3": 2, "V5": 2}


def test_everyone_answered_shows_0_non_respondents(small):
    """A base where every customer answered (the profile kept to c1-c5, the buyers who answered
    NPS): the comparison's non-respondents row is there with 0 customers and no means; the
    weights are all 1 (each cell's respondents are its customers)."""
    import dataclasses

    p = rox.impact.profile(small, value="revenue")
    answered = dataclasses.replace(p, table=p.table.filter(p.table.nps_group != NO_RESPONSE))
    result = rox.impact.nonresponse(answered, margins=["segment"])
    r = result.frame.set_index("group")
    assert r["customers"].to_dict() == {"respondents": 5, "non-respondents": 0}
    assert r.loc["non-respondents", ["recency_days", "frequency", "monetary"]].isna().all()
    assert result.cells["weight"].tolist() == pytest.approx([1.0] * len(result.cells))


def test_cells_have_the_margins_counts_and_weight_only(small):
    """``NonResponse.cells``: one row per cell, in the margins' order, numbered 0, 1, ... and with
    the margins, the four counts and the weight as its columns (no index column left over)."""
    result = rox.impact.nonresponse(small, margins=["segment"], base="all", value="revenue")
    cells = result.cells
    assert list(cells.columns) == ["segment", "customers", "respondents", "top", "bottom", "weight"]
    assert cells.index.tolist() == list(range(len(cells)))
    assert cells["segment"].tolist() == sorted(cells["segment"])
