"""Rules of friction priced (:mod:`rox.impact.friction_value`) that the journey tests leave open.

A hand-built log (#22): six customers whose journeys ended at ``help`` without buying (met
friction), six who reached ``help`` and went on to buy, one who never reached ``help``. Revenue
to date is set per customer, so the fallback's total is worked out by hand: 6 x (mean of those
who went on - mean of those who met the friction).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

import rox
from rox._display import money
from rox.impact import Counterfactual
from rox.impact.friction_value import _no_values, customer_values, touchpoint_experience
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01", tz="UTC")
MET = {f"m{i}": 100.0 * i + 13 * i * i for i in range(1, 7)}
WENT_ON = {f"g{i}": 1000.0 * i + 37 * i * i for i in range(1, 7)}


def _hand_log(ws) -> rox.Workspace:
    journeys = {c: ["visit", "help"] for c in MET} | {c: ["visit", "help", "buy"] for c in WENT_ON}
    journeys["o"] = ["visit", "buy"]
    rows = [
        {"customer_id": c, "ts": T0 + pd.Timedelta(hours=i), "step": s, "journey": f"{c}-1"}
        for c, steps in journeys.items()
        for i, s in enumerate(steps)
    ]
    insert_rows(ws, "events", pd.DataFrame(rows))
    spend = MET | WENT_ON | {"o": 50.0}
    tx = pd.DataFrame({"customer_id": list(spend), "amount": list(spend.values())})
    insert_rows(ws, "transactions", tx.assign(ts=T0))
    return ws


@pytest.fixture
def hand(ws):
    return _hand_log(ws)


def test_step_rox_falls_back_to_the_difference_in_means_by_hand(hand):
    move = rox.impact.step_rox(hand, "help", goal="buy", value="revenue")
    assert isinstance(move, Counterfactual)  # 13 customers: too few for the ROX model
    expected = 6 * (np.mean(list(WENT_ON.values())) - np.mean(list(MET.values())))
    assert move.total == pytest.approx(expected)
    assert move.low < expected < move.high


def test_step_rox_defaults_are_500_replicates_seed_0(hand):
    """The documented defaults: the same interval as 500 replicates seeded 0, not 501 nor seed 1."""
    options = {"goal": "buy", "value": "revenue"}
    default = rox.impact.step_rox(hand, "help", **options)
    given = rox.impact.step_rox(hand, "help", replicates=500, random_state=0, **options)
    assert (default.low, default.high) == (given.low, given.high)
    other = rox.impact.step_rox(hand, "help", replicates=501, random_state=0, **options)
    assert (other.low, other.high) != (default.low, default.high)
    seeded = rox.impact.step_rox(hand, "help", replicates=500, random_state=1, **options)
    assert (seeded.low, seeded.high) != (default.low, default.high)


def test_audit_states_the_default_step_rox(hand):
    """The audit's last line is step_rox at its defaults (500 replicates, seed 0), in money."""
    found = rox.impact.audit(hand, goal="buy", value="revenue")
    move = rox.impact.step_rox(hand, "help", goal="buy", value="revenue")
    assert found.step == "help"
    assert found.findings[-1].startswith(
        f"Removing the help friction is worth about {money(move.total)} (95% interval "
        f"{money(move.low)} to {money(move.high)}) in revenue to date"
    )


def test_audit_values_by_revenue_where_a_clv_cannot_be_fitted(hand):
    """Asked for a CLV that cannot be fitted (one purchase each), the audit's ROX line values the
    customers by revenue to date, as the table does, and says so."""
    found = rox.impact.audit(hand, goal="buy")
    assert found.friction.value_basis == "revenue to date"
    assert "could not be fitted" in found.friction.value_note
    by_revenue = rox.impact.audit(hand, goal="buy", value="revenue")
    assert found.findings[-1] == by_revenue.findings[-1]


def test_customer_values_as_text_ids(hand):
    values, basis, note = customer_values(hand, "revenue")
    assert (basis, note) == ("revenue to date", "")
    assert values.to_dict() == MET | WENT_ON | {"o": 50.0}


def test_no_responses_no_touchpoint_experience(hand):
    """Without responses the table has no CSAT or CES (empty columns, not an error)."""
    empty = touchpoint_experience(hand)
    assert empty.empty and list(empty.columns) == ["step", "csat", "ces"]
    table = rox.impact.friction(hand, goal="buy", value="revenue")
    assert table.frame["csat"].isna().all() and table.frame["ces"].isna().all()


# --- the survivors of the first mutation run (#22) -------------------------------------------

PASSED = {f"p{i}": 400.0 + 29 * i for i in range(1, 4)}  # visit, help, visit: left elsewhere
BOUGHT_FIRST = {f"r{i}": 700.0 - 41 * i for i in range(1, 3)}  # visit, buy, help


def _wider_log(ws) -> rox.Workspace:
    """The hand log plus three customers who passed ``help`` and left at another step without
    buying, and two who bought and then went to ``help`` (their journeys reached the goal)."""
    _hand_log(ws)
    journeys = {c: ["visit", "help", "visit"] for c in PASSED}
    journeys |= {c: ["visit", "buy", "help"] for c in BOUGHT_FIRST}
    rows = [
        {"customer_id": c, "ts": T0 + pd.Timedelta(hours=i), "step": s, "journey": f"{c}-1"}
        for c, steps in journeys.items()
        for i, s in enumerate(steps)
    ]
    insert_rows(ws, "events", pd.DataFrame(rows))
    spend = PASSED | BOUGHT_FIRST
    tx = pd.DataFrame({"customer_id": list(spend), "amount": list(spend.values())})
    insert_rows(ws, "transactions", tx.assign(ts=T0))
    return ws


def _by_hand(met: dict[str, float], no_friction: dict[str, float]) -> float:
    """The fallback's total: the met customers moved to the mean of the others (no strata)."""
    return len(met) * (np.mean(list(no_friction.values())) - np.mean(list(met.values())))


def test_met_friction_is_a_journey_that_ended_at_the_step_without_the_goal(ws):
    """Only a journey whose LAST step is ``help`` and that never reached the goal met the
    friction: one that passed ``help`` and ended elsewhere, and one that reached the goal before
    ending at ``help``, count with those who went on (``no friction``)."""
    log = _wider_log(ws)
    move = rox.impact.step_rox(log, "help", goal="buy", value="revenue")
    assert isinstance(move, Counterfactual)
    expected = _by_hand(MET, WENT_ON | PASSED | BOUGHT_FIRST)
    assert move.total == pytest.approx(expected)
    # the other readings, by hand: 'passed help' as met, or 'bought first' as met
    assert expected != pytest.approx(_by_hand(MET | PASSED, WENT_ON | BOUGHT_FIRST))
    assert expected != pytest.approx(_by_hand(MET | BOUGHT_FIRST, WENT_ON | PASSED))


def test_step_rox_without_a_goal_takes_the_default_goal(ws):
    """Without ``goal`` the goal is the journeys' default (the most common last step of the
    longest quarter: ``buy`` here, 6 of the 11 three-step journeys), so a journey that bought
    before ending at ``help`` did not meet the friction."""
    log = _wider_log(ws)
    move = rox.impact.step_rox(log, "help", value="revenue")
    assert move.total == pytest.approx(_by_hand(MET, WENT_ON | PASSED | BOUGHT_FIRST))


def test_audit_prices_the_rox_line_in_a_clv_given(hand):
    """A CLV given (not revenue) values the audit's ROX line too: its total is worked out on the
    CLV's values, and the line names the CLV's basis, not revenue to date."""
    spend = MET | WENT_ON | {"o": 50.0}
    clv_of = {c: 3.0 * v + 11.0 for c, v in spend.items()}  # not proportional to revenue
    frame = pd.DataFrame(
        {"customer_id": list(clv_of), "clv": list(clv_of.values()), "p_alive": 0.5}
    )
    given = rox.value.CLV(frame=frame, horizon=52.0, unit="weeks", discount_rate=0.1)
    found = rox.impact.audit(hand, goal="buy", value=given)
    expected = _by_hand({c: clv_of[c] for c in MET}, {c: clv_of[c] for c in WENT_ON})
    assert expected != pytest.approx(_by_hand(MET, WENT_ON))
    assert found.findings[-1].startswith(
        f"Removing the help friction is worth about {money(expected)} "
    )
    assert " in CLV over the next 52 weeks, discounted at 10% a year: " in found.findings[-1]


@pytest.mark.parametrize("bad", [None, np.inf, -np.inf])
def test_a_fitted_clv_with_a_value_not_finite_falls_back_to_revenue(hand, monkeypatch, bad):
    """A fitted CLV with one customer's value missing or infinite is not used: every customer is
    valued by revenue to date, with the reason; the same CLV with all values finite is used."""
    from rox.impact import friction_value
    from rox.value import CLVExpr

    spend = MET | WENT_ON | {"o": 50.0}

    def fitted(values: dict[str, float | None]):
        t = ibis.memtable(
            pd.DataFrame({"customer_id": list(values), "clv": list(values.values())}).astype(
                {"clv": "float64"}
            )
        )
        return lambda ws: CLVExpr(t, "a CLV", len(values), len(values), None, None, None)

    finite = {c: 2.0 * v for c, v in spend.items()}
    monkeypatch.setattr(friction_value, "clv_expr", fitted(finite))
    values, basis, note = customer_values(hand, "clv")
    assert (basis, note) == ("a CLV", "")
    assert values.to_dict() == finite

    monkeypatch.setattr(friction_value, "clv_expr", fitted(finite | {"m1": bad}))
    values, basis, note = customer_values(hand, "clv")
    assert (basis, note) == (
        "revenue to date",
        "the lifetime-value model gave some customers no finite value",
    )
    assert values.to_dict() == spend


def test_no_values_is_an_empty_table_not_one_of_one_row():
    """``_no_values``: a table of no customers has none; one of a single customer has values."""
    assert _no_values(ibis.memtable(pd.DataFrame({"customer_id": [], "value": []})))
    assert not _no_values(ibis.memtable(pd.DataFrame({"customer_id": ["a"], "value": [1.0]})))
    assert not _no_values(
        ibis.memtable(pd.DataFrame({"customer_id": ["a", "b"], "value": [1.0, 2.0]}))
    )
    assert _no_values(pd.Series([], dtype="float64"))
    assert not _no_values(pd.Series([1.0]))


@pytest.mark.parametrize(("given", "seed"), [(None, 0), (0, 0), (5, 5)])
def test_step_rox_seeds_the_rox_models_draws_with_random_state(hand, monkeypatch, given, seed):
    """The ROX model's parametric draws are seeded ``random_state`` (0 when it is None, as the
    docstring states), the seed handed to :func:`rox.impact.roi.through_rox_model`."""
    from rox.impact import friction_value

    seen: list[int] = []
    real = friction_value.through_rox_model

    def spy(*args, **kwargs):
        seen.append(kwargs["random_state"])
        return real(*args, **kwargs)

    monkeypatch.setattr(friction_value, "through_rox_model", spy)
    rox.impact.step_rox(hand, "help", goal="buy", value="revenue", random_state=given)
    assert seen == [seed]
