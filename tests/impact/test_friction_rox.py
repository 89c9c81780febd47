"""Friction priced through the ROX model on the demo brand (#16 section 6).

The demo plants its friction at the financing step of the purchase journey (src/rox/demo/). The
customers who left there never bought: the ROX model (a model of repeat buyers' purchases and
dropout) has nothing to fit for them, so the audit falls back to the difference in means and says
why. Friction met by buying customers (the ownership journey's) is priced through the model.
The hand case of the fallback is
tests/journey/test_journeys.py::test_audit_prices_removing_the_friction_by_hand.
"""

from __future__ import annotations

import pytest

import rox
from rox._display import money
from rox.impact import Counterfactual, ROXModel


@pytest.mark.slow
def test_the_planted_friction_ranks_first_and_its_prospects_fall_back(demo):
    options = {"journey": "purchase", "goal": "purchase", "value": "revenue"}
    table = rox.impact.friction(demo, **options)
    ranked = table.frame.sort_values("value_at_risk", ascending=False)
    assert ranked["step"].iloc[0] == "financing"
    move = rox.impact.step_rox(demo, "financing", replicates=100, **options)
    assert isinstance(move, Counterfactual)
    found = rox.impact.audit(demo, **options)
    assert found.step == "financing"
    assert found.findings[-1].endswith(
        "(associational; not through the ROX model, which could not be fitted: friction group "
        "'met friction' (move) has 0 customers with repeat purchases: the ROX model needs at "
        "least 20 in each of the two groups to estimate their purchase and dropout rates)."
    )


@pytest.mark.slow
def test_friction_met_by_buyers_is_priced_through_the_rox_model(demo):
    found = rox.impact.audit(demo, "ownership", value="revenue")
    assert found.step == "app_onboarding"
    move = rox.impact.step_rox(demo, found.step, journey="ownership", value="revenue")
    assert isinstance(move, ROXModel)
    assert (move.by, move.move, move.to) == ("friction", "met friction", "no friction")
    assert 0 < move.low < move.total < move.high
    assert move.frame["rox"].sum() == pytest.approx(move.total, rel=1e-9)  # its channels
    assert found.findings[-1].startswith(
        f"Removing the app_onboarding friction is worth about "
        f"{money(move.total, demo.currency)} (95% interval {money(move.low, demo.currency)} to "
        f"{money(move.high, demo.currency)}) over 3 years through the ROX model"
    )
