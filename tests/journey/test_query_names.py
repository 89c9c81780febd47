"""JourneyQuery's cut-off step is ``end``; ``goal`` is only friction's success step (#14)."""

from __future__ import annotations

import json

from rox.journey import JourneyQuery


def test_the_cut_off_step_is_called_end_in_the_key():
    key = json.loads(JourneyQuery(start="configurator", end="purchase").key())
    assert key["end"] == "purchase" and "goal" not in key


def test_a_key_stored_before_the_rename_still_reads():
    old = json.loads(JourneyQuery(start="visit", end="buy").key())
    old["goal"] = old.pop("end")
    result = JourneyQuery.from_key(json.dumps(old))
    assert result == JourneyQuery(start="visit", end="buy")
