"""The at-risk list under the churn hazard (``signal="hazard"``), on a hand workspace (#22).

The at-risk workspace of tests/actions/test_at_risk.py with twelve more customers (``MORE``), so
that the Cox model has churners and stayers in each NPS group, read on 2024-12-31 with the churn
rule at 100 days without a purchase (lost: last purchase before 2024-09-22). The rules checked,
as :mod:`rox.actions.at_risk` states them: each customer not lost has the value at risk
``clv x p_churn``, with ``p_churn`` from :func:`rox.impact.churn_risk` (its own module, tested
there against the Breslow estimator written out); the list keeps a positive value at risk and a
CLV of at least ``min_clv``, highest first, ties by id; the count and total are before the
``top`` cut; the reasons say ``P(churn within h days)`` and, when the hazard ratio is not 1, the
ratio to a passive's; ``days_since_purchase`` is whole days from the last purchase.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import rox
from rox.errors import ConvergenceError, MetricError

#: (customer, first purchase, last purchase, NPS answer a week after the first; None: no answer)
MORE = [
    ("q01", "2024-01-10", "2024-03-01", 2.0),  # lost
    ("q02", "2024-01-15", "2024-11-20", 3.0),
    ("q03", "2024-02-01", "2024-04-10", 4.0),  # lost
    ("q04", "2024-02-10", "2024-12-01", 9.0),
    ("q05", "2024-01-20", "2024-05-01", 10.0),  # lost
    ("q06", "2024-03-01", "2024-12-10", 10.0),
    ("q07", "2024-01-05", "2024-10-15", 7.0),
    ("q08", "2024-02-20", "2024-06-01", 8.0),  # lost
    ("q09", "2024-03-10", "2024-12-20", 9.0),
    ("q10", "2024-01-25", "2024-04-25", 1.0),  # lost
    ("q11", "2024-04-01", "2024-12-05", None),  # q11 and q12: the same history, so the same
    ("q12", "2024-04-01", "2024-12-05", None),  # P(churn); with one CLV, a tie
]
CLV_VALUES = {
    "p1": 1000.0, "p2": 500.0, "p3": 400.0, "p4": 900.0, "p6": 300.0, "p7": 200.0,
    "q01": 100.0, "q02": 600.0, "q03": 100.0, "q04": 700.0, "q05": 100.0, "q06": 800.0,
    "q07": 250.0, "q08": 100.0, "q09": 350.0, "q10": 100.0, "q11": 500.0, "q12": 500.0,
}  # fmt: skip
#: The customers not lost on 2024-12-31 and their whole days since the last purchase, by hand.
DAYS_SINCE = {
    "p3": 16, "p6": 72, "p7": 90, "q02": 41, "q04": 30, "q06": 21, "q07": 77, "q09": 11,
    "q11": 26, "q12": 26,
}  # fmt: skip
AS_OF = "2024-12-31"


@pytest.fixture
def hazard_ws(at_risk_ws):
    tx = [(c, day) for c, first, last, _ in MORE for day in (first, last)]
    at_risk_ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [t[0] for t in tx],
                "ts": [t[1] for t in tx],
                "amount": 10.0,
                "order_id": [f"m{i}" for i in range(len(tx))],
            }
        ),
    )
    answers = [(c, pd.Timestamp(first) + pd.Timedelta(days=7), n) for c, first, _, n in MORE]
    answers = [a for a in answers if a[2] is not None]
    at_risk_ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": [f"m{i}" for i in range(len(answers))],
                "customer_id": [a[0] for a in answers],
                "ts": [a[1] for a in answers],
                "metric": "nps",
                "score": [a[2] for a in answers],
                "touchpoint": "delivery",
            }
        ),
    )
    return at_risk_ws


@pytest.fixture
def risk(hazard_ws):
    """P(churn within 30 days) of the customers not lost, from churn_risk (the upstream model)."""
    frame = rox.impact.churn_risk(hazard_ws, horizon_days=30, inactive_after=100, as_of=AS_OF).frame
    return frame.set_index("customer_id")


def _hazard(ws, value, **options):
    return rox.actions.at_risk(
        ws, value=value, as_of=AS_OF, signal="hazard", horizon_days=30, inactive_after=100,
        **options,
    )  # fmt: skip


def test_value_at_risk_is_clv_times_p_churn_ranked_highest_first(hazard_ws, given_clv, risk):
    result = _hazard(hazard_ws, given_clv(CLV_VALUES), top=None)
    assert sorted(risk.index) == sorted(DAYS_SINCE)
    value = {c: CLV_VALUES[c] * risk.at[c, "p_churn"] for c in risk.index}
    ranked = sorted((c for c in value if value[c] > 0), key=lambda c: (-value[c], c))
    expected = pd.Series({c: value[c] for c in ranked})
    f = result.frame
    assert f["customer_id"].tolist() == expected.index.tolist()
    assert f["value_at_risk"].tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    assert f["rank"].tolist() == list(range(1, len(f) + 1))
    assert f["p_churn"].tolist() == pytest.approx(risk.loc[f["customer_id"], "p_churn"].tolist())
    assert f["hazard_ratio"].tolist() == pytest.approx(
        risk.loc[f["customer_id"], "hazard_ratio"].tolist()
    )
    assert f["days_since_purchase"].tolist() == [DAYS_SINCE[c] for c in f["customer_id"]]
    assert f.columns.tolist() == [
        "rank", "customer_id", "value_at_risk", "clv", "p_alive", "p_churn", "hazard_ratio",
        "days_since_purchase", "nps_group", "friction", "support_contacts", "complaints",
        "reasons",
    ]  # fmt: skip
    assert result.customers_at_risk == len(expected)
    assert result.total_value_at_risk == pytest.approx(float(expected.sum()), rel=1e-12)
    assert (result.signal, result.horizon_days, result.since) == ("hazard", 30, None)


def test_top_cuts_the_list_not_the_count_nor_the_total(hazard_ws, given_clv, risk):
    full = _hazard(hazard_ws, given_clv(CLV_VALUES), top=None)
    one = _hazard(hazard_ws, given_clv(CLV_VALUES), top=1)
    assert one.frame["customer_id"].tolist() == full.frame["customer_id"].tolist()[:1]
    assert one.customers_at_risk == full.customers_at_risk == len(DAYS_SINCE)
    assert one.total_value_at_risk == pytest.approx(full.total_value_at_risk)


def test_min_clv_keeps_a_clv_equal_to_it(hazard_ws, given_clv):
    value = given_clv(CLV_VALUES)
    at = _hazard(hazard_ws, value, top=None, min_clv=300.0)
    above = _hazard(hazard_ws, value, top=None, min_clv=300.5)
    # p7 (200) and q07 (250) out, p6 (300) kept at 300, out above it
    kept = {c for c in DAYS_SINCE if CLV_VALUES[c] >= 300.0}
    assert set(at.frame["customer_id"]) == kept and "p6" in kept
    assert set(above.frame["customer_id"]) == kept - {"p6"}


def test_ties_in_value_at_risk_are_ranked_by_customer_id(hazard_ws, given_clv, risk):
    # q11 and q12 have one history and one CLV: the same value at risk, listed q11 then q12
    assert risk.at["q11", "p_churn"] == risk.at["q12", "p_churn"]
    ids = _hazard(hazard_ws, given_clv(CLV_VALUES), top=None).frame["customer_id"].tolist()
    assert ids.index("q12") == ids.index("q11") + 1


def test_nobody_at_risk_under_the_hazard_is_an_empty_list(hazard_ws, given_clv):
    result = _hazard(hazard_ws, given_clv(CLV_VALUES), min_clv=10_000)
    assert result.frame.empty and result.customers_at_risk == 0
    assert result.total_value_at_risk == 0.0
    assert "p_churn" in result.frame.columns and "p_alive_before" not in result.frame.columns
    assert str(result) == (
        "0 customers at risk on 2024-12-31 (churn hazard over the next 30 days); "
        f"value at risk 0 ({result.value_basis})"
    )


def test_hazard_records_measure_and_str_name_the_horizon(hazard_ws, given_clv, risk):
    result = _hazard(hazard_ws, given_clv(CLV_VALUES), top=None)
    records = result.records()
    assert list(records[0]) == [
        "customer_id", "value_at_risk", "p_alive", "p_churn", "hazard_ratio", "clv", "reasons",
    ]  # fmt: skip
    assert result.measure == "CLV × P(churn within 30 days) by the churn hazard"
    head = str(result).splitlines()[0]
    assert head.startswith(
        f"{len(DAYS_SINCE)} customers at risk on 2024-12-31 (churn hazard over the next 30 days)"
    )
    first = result.frame.iloc[0]
    sentence = f"P(churn within 30 days) {first['p_churn']:.2f}"
    assert any(s.startswith(sentence) for s in first["reasons"])
    alive = rox.actions.at_risk(hazard_ws, value=given_clv(CLV_VALUES), as_of=AS_OF)
    assert list(alive.records()[0]) == [
        "customer_id", "value_at_risk", "p_alive", "p_alive_before", "clv", "reasons",
    ]  # fmt: skip
    assert alive.measure == "CLV × the fall in P(alive)"


def test_hazard_defaults_are_a_90_day_horizon_and_a_year_without_purchase(hazard_ws, given_clv):
    # read on 2025-03-02, 366 days after q01's and p4's last purchases (2024-03-01): lost under
    # the default rule (no purchase within 365 days), not under 366 days, where nobody has churned
    as_of = "2025-03-02"
    with pytest.raises(MetricError, match="no customer churned"):
        rox.impact.churn_risk(hazard_ws, inactive_after=366, as_of=as_of)
    # (two churners: lifelines warns that a group's variance is low; the fit is still the same
    # on both sides of the comparison, which is all this test reads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = rox.impact.churn_risk(
            hazard_ws, horizon_days=90, inactive_after=365, as_of=as_of
        )
        result = rox.actions.at_risk(
            hazard_ws, value=given_clv(CLV_VALUES), as_of=as_of, signal="hazard", top=None
        )
    expected = expected.frame.set_index("customer_id")["p_churn"]
    assert result.horizon_days == 90
    f = result.frame.set_index("customer_id")
    assert len(f) == len(expected[expected > 0])
    assert f["p_churn"].to_dict() == pytest.approx(expected.loc[f.index].to_dict(), rel=1e-12)
    assert all(r[-2].startswith("P(churn within 90 days)") or any(
        s.startswith("P(churn within 90 days)") for s in r) for r in f["reasons"])  # fmt: skip


def test_a_value_at_risk_of_zero_is_left_out_and_any_positive_one_listed(hazard_ws, given_clv):
    # q11's CLV 0: no value at risk, not listed (min_clv 0 would keep it); q12's CLV 0.5: a value
    # at risk of 0.5 x P(churn), below 1 but positive: listed
    values = {**CLV_VALUES, "q11": 0.0, "q12": 0.5}
    result = _hazard(hazard_ws, given_clv(values), top=None)
    ids = result.frame["customer_id"].tolist()
    assert "q11" not in ids and ids[-1] == "q12"
    assert result.customers_at_risk == len(DAYS_SINCE) - 1
    assert 0 < result.frame["value_at_risk"].iloc[-1] < 1


def test_the_churn_rule_s_settings_are_positive_whole_numbers(hazard_ws, given_clv):
    value = given_clv(CLV_VALUES)
    with pytest.raises(MetricError, match=r"horizon_days=90, inactive_after=0: expected positive"):
        rox.actions.at_risk(hazard_ws, value=value, as_of=AS_OF, signal="hazard", inactive_after=0)
    with pytest.raises(MetricError, match=r"horizon_days=0, inactive_after=365: expected positive"):
        rox.actions.at_risk(hazard_ws, value=value, as_of=AS_OF, signal="hazard", horizon_days=0)
    # one day is allowed for both: the check lets them through to the Cox fit (which, with
    # nearly everyone lost after one day without a purchase, has no solution on these data)
    one = rox.actions.at_risk(hazard_ws, value=value, as_of=AS_OF, signal="hazard", horizon_days=1,
                              inactive_after=100, top=None)  # fmt: skip
    assert one.horizon_days == 1
    with pytest.raises(ConvergenceError, match="could not be fitted"):
        rox.actions.at_risk(hazard_ws, value=value, as_of=AS_OF, signal="hazard",
                            inactive_after=1)  # fmt: skip
