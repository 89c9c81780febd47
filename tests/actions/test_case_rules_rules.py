"""The case rules' settings and their pure rules on both sides of each boundary, by hand (#22).

The rules (:mod:`rox.actions.case_rules`): a rule has exactly one kind (``metric``, ``steps`` or
``sentiment_below``); ``sentiment_below`` lies in (-1, 1] (-1 refused: nothing is below it; 1
allowed); ``sla_hours`` is positive (0 refused); the holdout share lies in [0, 1);
``priority_values`` are descending (equal values allowed); a customer whose revenue is **at or
above** the k-th value has priority k (else one more than their count); settings not given take
the documented defaults; an SLA is the due time minus the opening when positive, else the rule's
``sla_hours`` (48 h for a trigger without a rule).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from rox.actions.case_rules import (
    CaseRule,
    CaseRules,
    Escalations,
    OpenedCases,
    _sla_hours,
    case_writes,
    complete_cases,
)
from rox.errors import ActionError

DETRACTOR = CaseRule(name="detractor", metric="nps", max_score=6)


def _rules(**kw: Any) -> CaseRules:
    return CaseRules(rules=(DETRACTOR,), **kw)


def test_a_rule_has_exactly_one_kind():
    assert CaseRule(name="a", metric="csat", max_score=2).metric == "csat"
    assert CaseRule(name="a", steps=("pay",)).steps == ("pay",)
    assert CaseRule(name="a", sentiment_below=-0.5).sentiment_below == -0.5
    for kw in ({}, {"metric": "nps", "max_score": 6, "steps": ("pay",)}):
        with pytest.raises(ActionError, match="one of them"):
            CaseRule(name="a", **kw)
    with pytest.raises(ActionError, match="one of them"):
        CaseRule(name="a", metric="nps", max_score=6, steps=("p",), sentiment_below=0.0)


def test_a_rule_name_uses_letters_digits_and_underscores_only():
    assert CaseRule(name="low_csat_2", steps=("p",)).name == "low_csat_2"
    for name in ("", "low-csat", "low csat"):
        with pytest.raises(ActionError, match="letters, digits and _ only"):
            CaseRule(name=name, steps=("p",))


def test_sentiment_below_lies_in_minus_one_exclusive_to_one_inclusive():
    for s in (-0.999, 0.0, 1.0):
        assert CaseRule(name="a", sentiment_below=s).sentiment_below == s
    for s in (-1.0, 1.001, -2.0):
        with pytest.raises(ActionError, match=r"is not in \(-1, 1\]"):
            CaseRule(name="a", sentiment_below=s)


def test_a_metric_rule_names_a_known_metric_and_its_highest_score():
    for metric in ("nps", "csat", "ces"):
        assert CaseRule(name="a", metric=metric, max_score=1).metric == metric
    with pytest.raises(ActionError, match="metric 'sat' is not one of nps, csat, ces"):
        CaseRule(name="a", metric="sat", max_score=1)
    with pytest.raises(ActionError, match="needs max_score for nps"):
        CaseRule(name="a", metric="nps")


def test_the_sla_is_positive():
    assert CaseRule(name="a", steps=("p",), sla_hours=0.01).sla_hours == 0.01
    for hours in (0.0, -1.0):
        with pytest.raises(ActionError, match="sla_hours must be positive"):
            CaseRule(name="a", steps=("p",), sla_hours=hours)


def test_the_holdout_share_lies_in_zero_inclusive_to_one_exclusive():
    for share in (0.0, 0.5, 0.999):
        assert _rules(holdout=share).holdout == share
    for share in (1.0, -0.01, 1.5):
        with pytest.raises(ActionError, match=r"holdout must be a share in \[0, 1\)"):
            _rules(holdout=share)


def test_priority_values_descend_and_rules_are_unique():
    assert _rules(priority_values=(10.0, 10.0, 1.0)).priority_values == (10.0, 10.0, 1.0)
    with pytest.raises(ActionError, match="descending order"):
        _rules(priority_values=(1.0, 10.0))
    with pytest.raises(ActionError, match="hold no"):
        CaseRules(rules=())
    with pytest.raises(ActionError, match="names must be unique"):
        CaseRules(rules=(DETRACTOR, DETRACTOR))


def test_the_priority_is_the_first_value_reached_at_or_above():
    rules = _rules()  # 5000, 1500, 300
    expected = {
        1e6: 1, 5000.0: 1, 4999.99: 2, 1500.0: 2, 1499.99: 3, 300.0: 3, 299.99: 4, 0.0: 4,
    }  # fmt: skip
    assert {v: rules.priority(v) for v in expected} == expected
    one = _rules(priority_values=(10.0,))
    assert (one.priority(10.0), one.priority(9.0)) == (1, 2)
    none = _rules(priority_values=())
    assert none.priority(1e9) == 1


def test_settings_not_given_take_the_documented_defaults():
    rules = CaseRules.from_dict({"rule": [{"name": "d", "metric": "nps", "max_score": 6}]})
    assert rules.holdout == 0.10
    assert rules.seed == 17
    assert rules.team == "cx-recovery"
    assert rules.priority_values == (5000.0, 1500.0, 300.0)
    assert dict(rules.leads) == {}
    assert rules.max_escalations == 2
    (rule,) = rules.rules
    assert (rule.min_value, rule.sla_hours, rule.team, rule.steps) == (0.0, 48.0, None, ())


def test_settings_given_are_read():
    rules = CaseRules.from_dict(
        {
            "loop": {
                "holdout": 0.2,
                "seed": 3,
                "team": "care",
                "priority_values": [100, 10],
                "leads": {"care": "boss"},
                "max_escalations": 5,
            },
            "rule": [{"name": "f", "steps": ["pay", "ship"], "min_value": 50, "sla_hours": 6}],
        }
    )
    assert (rules.holdout, rules.seed, rules.team, rules.max_escalations) == (0.2, 3, "care", 5)
    assert rules.priority_values == (100.0, 10.0) and dict(rules.leads) == {"care": "boss"}
    assert rules.rules[0].steps == ("pay", "ship")


def test_the_default_rules_and_a_rules_object_as_is():
    default = CaseRules.load(None)
    assert [r.name for r in default.rules] == ["detractor", "low_csat"]
    assert (default.rule("low_csat").metric, default.rule("low_csat").max_score) == ("csat", 2)
    assert default.rule("detractor").sla_hours == 48
    assert dict(default.leads) == {"cx-recovery": "cx-lead", "cx-lead": "head-of-cx"}
    assert CaseRules.load(default) is default
    with pytest.raises(ActionError, match=r"no case rule 'x'; the rules are \['detractor', 'low"):
        default.rule("x")


def test_the_sla_is_the_due_time_minus_the_opening_else_the_rules():
    rules = CaseRules(rules=(DETRACTOR, CaseRule(name="slow", steps=("p",), sla_hours=72)))
    t = pd.Timestamp("2024-01-01", tz="UTC")
    assert _sla_hours(rules, "slow", t, t + pd.Timedelta(hours=5)) == 5.0
    assert _sla_hours(rules, "slow", t, t + pd.Timedelta(seconds=36)) == 0.01
    assert _sla_hours(rules, "slow", t, t) == 72.0  # not positive: the rule's
    assert _sla_hours(rules, "slow", t, t - pd.Timedelta(hours=1)) == 72.0
    assert _sla_hours(rules, "gone", t, t) == 48.0  # no such rule: 48 h


def _found() -> pd.DataFrame:
    t = pd.Timestamp("2024-01-01 08:00", tz="UTC")
    return pd.DataFrame(
        {
            "case_id": ["detractor-r1", "slow-j1:p"],
            "customer_id": ["c1", "c2"],
            "opened_at": [t, t + pd.Timedelta(hours=1)],
            "response_id": ["r1", None],
            "trigger": ["detractor", "slow"],
            "trigger_id": ["r1", "j1:p"],
            "touchpoint": ["shop", "p"],
            "sla_hours": [48.0, 1.5],
            "min_value": [0.0, 0.0],
            "value": [1500.0, 299.0],
        }
    )


def test_new_cases_get_their_arm_priority_team_and_due_time():
    rules = CaseRules(
        rules=(DETRACTOR, CaseRule(name="slow", steps=("p",), sla_hours=1.5, team="ops")),
        holdout=0.0,
        team="care",
    )
    when = pd.Timestamp("2024-02-01", tz="UTC")
    frame = complete_cases(_found(), rules, when)
    assert list(frame["arm"]) == ["outreach", "outreach"]
    assert list(frame["status"]) == ["open", "open"]
    assert list(frame["priority"]) == [2, 4]
    assert list(frame["team"]) == ["care", "ops"]
    assert list(frame["due_at"]) == [
        pd.Timestamp("2024-01-03 08:00", tz="UTC"),
        pd.Timestamp("2024-01-01 10:30", tz="UTC"),
    ]
    assert list(frame["escalation"]) == [0, 0]
    assert (frame["updated_at"] == when).all()
    held = complete_cases(_found(), CaseRules(rules=rules.rules, holdout=0.999999), when)
    assert list(held["status"]) == ["holdout", "holdout"]
    writes = case_writes(held, when)
    log = writes["rox_case_events"].to_pandas()
    assert list(log["move"]) == ["hold out", "hold out"]
    assert list(log["to_status"]) == ["holdout", "holdout"]
    assert list(log["detail"]) == ["detractor", "slow"]
    opened = case_writes(frame, when)["rox_case_events"].to_pandas()
    assert list(opened["move"]) == ["open", "open"]
    assert writes["cases"].num_rows == 2


def test_no_new_cases_give_an_empty_frame_with_the_columns():
    empty = complete_cases(_found().iloc[:0], _rules(), pd.Timestamp("2024-02-01", tz="UTC"))
    assert empty.empty
    assert {"arm", "status", "priority", "team", "due_at", "updated_at"} <= set(empty.columns)


def test_the_results_say_what_they_hold():
    frame = pd.DataFrame({"arm": ["outreach", "holdout", "outreach"]})
    assert str(OpenedCases(frame=frame, holdout_share=0.1)) == (
        "3 cases opened (1 held out without outreach, configured share 10%)"
    )
    empty = OpenedCases(frame=pd.DataFrame(), holdout_share=0.25)
    assert str(empty) == "0 cases opened (0 held out without outreach, configured share 25%)"
    big = pd.DataFrame({"arm": ["holdout"] * 1200})
    assert str(OpenedCases(frame=big, holdout_share=1 / 3)).startswith("1,200 cases opened (1,200")
    escalated = Escalations(frame=pd.DataFrame({"case_id": ["a"] * 1001}))
    assert str(escalated) == "1,001 cases escalated"
