"""Rules of friction priced (:mod:`rox.impact.friction_value`) that the journey tests leave open.

A hand-built log (#22): six customers whose journeys ended at ``help`` without buying (met
friction), six who reached ``help`` and went on to buy, one who never reached ``help``. Revenue
to date is set per customer, so the fallback's total is worked out by hand: 6 x (mean of those
who went on - mean of those who met the friction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox._display import money
from rox.impact import Counterfactual
from rox.impact.friction_value import customer_values, touchpoint_experience
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
