"""The initiative's rules, each stated and checked (#22: mutation testing's survivors).

A change in points is between 0 (excluded) and 200 NPS points (included: every detractor to
promoter); a horizon between 0 (excluded) and 50 years (included); measurement windows of at
least one day; a target of exactly one kind, with one value or several.
"""

from __future__ import annotations

import pandas as pd
import pytest

from rox.errors import MetricError
from rox.impact import Change, Initiative, Target, read_initiative

GOOD = {
    "name": "x",
    "cost": 10,
    "start": "2024-01-01",
    "change": "detractors to passive",
    "target": {"segment": "a"},
}


def _plan(**kwargs) -> Initiative:
    fields = {
        "name": "x",
        "cost": 1.0,
        "target": Target("segment", ("a",)),
        "start": pd.Timestamp("2024-01-01", tz="UTC"),
        "change": Change(points=5.0),
    } | kwargs
    return Initiative(**fields)


def test_points_between_0_excluded_and_200_included():
    assert Change.parse("+200 NPS points").points == 200.0
    assert Change.parse("+0.5 NPS points").points == 0.5
    assert Change.parse("1 NPS point").points == 1.0
    for bad in ("+0 NPS points", "+200.5 NPS points"):
        with pytest.raises(MetricError, match="expected between 0 and 200 NPS points"):
            Change.parse(bad)


def test_cost_must_be_positive():
    assert _plan(cost=0.5).cost == 0.5
    for bad in (0.0, -1.0):
        with pytest.raises(MetricError, match="expected a positive amount"):
            _plan(cost=bad)


def test_horizon_between_0_excluded_and_50_included():
    assert _plan(horizon_years=50).horizon_years == 50
    assert _plan(horizon_years=0.5).horizon_years == 0.5
    assert _plan().horizon_years == 3.0  # the default
    for bad in (0.0, 50.5):
        with pytest.raises(MetricError, match="expected 0 < years <= 50"):
            _plan(horizon_years=bad)


def test_window_days_at_least_one():
    assert _plan(window_days=1).window_days == 1
    assert _plan().window_days is None  # the longest both windows fit
    with pytest.raises(MetricError, match="window_days=0: expected a positive number"):
        _plan(window_days=0)


def test_change_reads_back_as_written():
    assert str(Change.parse("+5 NPS points")) == "+5 NPS points"
    assert str(Change.parse("+2.5 NPS points")) == "+2.5 NPS points"
    assert str(Change.parse("detractors to passive")) == "detractors to passive"


def test_target_values_one_or_a_non_empty_list():
    assert Initiative.from_dict(GOOD).target == Target("segment", ("a",))
    both = Initiative.from_dict(GOOD | {"target": {"segment": ["a", "b"]}})
    assert both.target == Target("segment", ("a", "b"))
    assert str(both.target) == "segment a or b"
    for bad in ([], 3):
        with pytest.raises(MetricError, match="target segment: expected a value or a list"):
            Initiative.from_dict(GOOD | {"target": {"segment": bad}})


def test_from_dict_defaults_and_measure(tmp_path):
    plan = Initiative.from_dict(GOOD)
    assert plan.horizon_years == 3.0 and plan.window_days is None and plan.products == ()
    assert plan.start == pd.Timestamp("2024-01-01", tz="UTC") and plan.cost == 10.0
    measured = Initiative.from_dict(
        GOOD | {"horizon_years": 2, "measure": {"window_days": 90, "products": ["s"]}}
    )
    assert (measured.horizon_years, measured.window_days, measured.products) == (2.0, 90, ("s",))
    with pytest.raises(MetricError, match=r"unknown \[measure\] key\(s\) days"):
        Initiative.from_dict(GOOD | {"measure": {"days": 3}})
    with pytest.raises(MetricError, match="cost and horizon_years must be numbers"):
        Initiative.from_dict(GOOD | {"cost": "ten"})
    path = tmp_path / "plan.toml"
    path.write_text(
        'name = "x"\ncost = 10\nstart = 2024-01-01\nchange = "+5 NPS points"\n'
        '[target]\nchannel = "app"\n',
        encoding="utf-8",
    )
    assert read_initiative(path).target == Target("channel", ("app",))
