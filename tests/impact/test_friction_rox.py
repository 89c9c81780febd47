"""Friction priced through the ROX model on the demo brand (#16 section 6).

The demo plants its friction at the financing step of the purchase journey (src/rox/demo/).
The hand case of the fallback (too few customers for the model) is
tests/journey/test_journeys.py::test_audit_prices_removing_the_friction_by_hand.
"""

from __future__ import annotations

import pytest

import rox
from rox._display import money
from rox.impact import ROXModel

OPTIONS = {"journey": "purchase", "goal": "purchase", "value": "revenue"}


@pytest.mark.slow
def test_the_planted_friction_ranks_first_and_is_priced_through_the_rox_model(demo):
    table = rox.impact.friction(demo, **OPTIONS)
    ranked = table.frame.sort_values("value_at_risk", ascending=False)
    assert ranked["step"].iloc[0] == "financing"
    move = rox.impact.step_rox(demo, "financing", **OPTIONS)
    assert isinstance(move, ROXModel)
    assert (move.by, move.move, move.to) == ("friction", "met friction", "no friction")
    assert move.low < move.total < move.high
    assert move.total > 0  # the customers who left at financing are worth less
    assert move.frame["rox"].sum() == pytest.approx(move.total, rel=1e-9)  # its channels
    found = rox.impact.audit(demo, **OPTIONS)
    assert found.step == "financing"
    assert found.findings[-1].startswith(
        f"Removing the financing friction is worth about {money(move.total, demo.currency)} "
        f"(95% interval {money(move.low, demo.currency)} to {money(move.high, demo.currency)}) "
        "over 3 years through the ROX model"
    )
