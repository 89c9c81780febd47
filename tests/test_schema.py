from __future__ import annotations

import pytest

from rox.schema import DEFAULT_SCALES, TABLES, Scale


def test_required_columns_follow_the_design():
    assert TABLES["customers"].required == ("customer_id",)
    assert TABLES["transactions"].required == ("customer_id", "ts", "amount")
    assert TABLES["events"].required == ("customer_id", "ts", "step")
    assert TABLES["responses"].required == ("ts", "metric", "score")
    assert TABLES["cases"].required == ("case_id", "customer_id", "opened_at", "status")


def test_default_scales():
    assert DEFAULT_SCALES["nps"].label == "0-10"
    assert (DEFAULT_SCALES["nps"].top_from, DEFAULT_SCALES["nps"].bottom_to) == (9, 6)
    assert (DEFAULT_SCALES["csat"].label, DEFAULT_SCALES["csat"].top_from) == ("1-5", 4)
    assert (DEFAULT_SCALES["ces"].label, DEFAULT_SCALES["ces"].top_from) == ("1-7", 5)


def test_parse_keeps_default_rules_for_other_ranges():
    assert Scale.parse("csat", "1-5") is DEFAULT_SCALES["csat"]
    assert Scale.parse("csat", "1-10") == Scale(1, 10, top_from=9)
    assert Scale.parse("ces", "1-5") == Scale(1, 5, top_from=3)
    with pytest.raises(ValueError, match="NPS is defined on 0-10 only"):
        Scale.parse("nps", "1-5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 1, 3), "low \\(5\\) must be below high"),
        ((1, 5, 6), "top_from=6 is outside the scale"),
        ((0, 10, 9, 9), "bottom_to=9 must lie in"),
    ],
)
def test_impossible_scales_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        Scale(*args)
