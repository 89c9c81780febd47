"""The NBA policy's rules, each on both sides of its boundary (#22: tests that catch the bugs).

The rules (``rox.actions.policy``): a name of letters, digits and ``_`` only; cost and cooldown
not negative (0 allowed); a prior uplift in the closed interval [-1, 1]; a value of ``clv``,
``order``, ``cross_sell`` or a number; eligibility conditions of the listed kinds (a number is an
int or float but not a bool); ``min_days_since_product`` only with ``bought``; ``cross_sell``
value only with ``cross_sell = true``; at least one action, names unique; settings not given
take the documented defaults (180 days, 50 cases and 10 responses per arm).
"""

from __future__ import annotations

from typing import Any

import pytest

from rox.actions.policy import DEFAULT_POLICY, ELIGIBILITY, Action, Policy
from rox.errors import ActionError


def _action(**kw: Any) -> Action:
    base: dict[str, Any] = {"name": "a", "cost": 1.0, "cooldown_days": 1.0, "prior_uplift": 0.0}
    return Action(**{**base, **kw})


def test_a_name_uses_letters_digits_and_underscores_only():
    for name in ("a", "call_2", "A_b_C", "7"):
        assert _action(name=name).name == name
    for name in ("", "a-b", "a b", "a.b"):
        with pytest.raises(ActionError, match="letters, digits and _ only"):
            _action(name=name)


def test_cost_and_cooldown_of_zero_are_allowed_and_below_zero_refused():
    assert _action(cost=0.0, cooldown_days=0.0).cost == 0.0
    with pytest.raises(ActionError, match="must not be negative"):
        _action(cost=-0.01)
    with pytest.raises(ActionError, match="must not be negative"):
        _action(cooldown_days=-0.01)  # the cost is fine: either one refuses


def test_the_prior_uplift_lies_in_the_closed_interval_minus_one_to_one():
    for p in (-1.0, -0.5, 0.0, 0.5, 1.0):
        assert _action(prior_uplift=p).prior_uplift == p
    for p in (-1.0001, 1.0001, -2.0, 2.0):
        with pytest.raises(ActionError, match=r"in \[-1, 1\]"):
            _action(prior_uplift=p)


def test_the_value_is_clv_order_cross_sell_or_a_number():
    assert _action(value="clv").value == "clv"
    assert _action(value="order").value == "order"
    assert _action(value=250.0).value == 250.0
    assert _action(value=0).value == 0
    cross = _action(value="cross_sell", eligible={"cross_sell": True})
    assert cross.value == "cross_sell"
    with pytest.raises(ActionError, match="value must be clv, order, cross_sell or a number"):
        _action(value="revenue")


def test_a_cross_sell_value_needs_the_cross_sell_condition_set_true():
    for eligible in ({}, {"cross_sell": False}):
        with pytest.raises(ActionError, match="needs eligible cross_sell = true"):
            _action(value="cross_sell", eligible=eligible)


def test_each_eligibility_condition_takes_its_kind():
    # a number is an int or a float, never a bool; a list, a text and a bool are their type
    numbers = [key for key, kind in ELIGIBILITY.items() if kind is float]
    assert len(numbers) == 10
    for key in numbers:
        product = {"bought": "service"} if key == "min_days_since_product" else {}
        assert _action(eligible={key: 3, **product})
        assert _action(eligible={key: 0.5, **product})
        for bad in (True, "3", [3]):
            with pytest.raises(ActionError, match=f"eligibility {key} must be a float"):
                _action(eligible={key: bad, **product})
    assert _action(eligible={"nps_group": ["detractor"]})
    with pytest.raises(ActionError, match="eligibility nps_group must be a list"):
        _action(eligible={"nps_group": "detractor"})
    assert _action(eligible={"bought": "service"})
    with pytest.raises(ActionError, match="eligibility bought must be a str"):
        _action(eligible={"bought": 3})
    assert _action(eligible={"cross_sell": True})
    with pytest.raises(ActionError, match="eligibility cross_sell must be a bool"):
        _action(eligible={"cross_sell": 1})
    with pytest.raises(ActionError, match="unknown eligibility 'age'; known: nps_group, min_spend"):
        _action(eligible={"age": 3})


def test_days_since_a_product_need_the_product():
    ok = _action(eligible={"bought": "service", "min_days_since_product": 300})
    assert ok.eligible["min_days_since_product"] == 300
    with pytest.raises(ActionError, match="min_days_since_product needs bought"):
        _action(eligible={"min_days_since_product": 300})


def test_a_policy_holds_one_action_or_more_with_unique_names():
    one = Policy(actions=(_action(name="a"),))
    assert [a.name for a in one.actions] == ["a"]
    two = Policy(actions=(_action(name="a"), _action(name="b")))
    assert [a.name for a in two.actions] == ["a", "b"]
    with pytest.raises(ActionError, match="holds no"):
        Policy(actions=())
    with pytest.raises(ActionError, match="must be unique"):
        Policy(actions=(_action(name="a"), _action(name="a")))


def test_settings_not_given_take_the_documented_defaults():
    text = "[[action]]\nname = 'a'\ncost = 1\ncooldown_days = 2\nprior_uplift = 0.1\n"
    policy = Policy.load(text)
    assert policy.horizon_days == 180.0
    assert policy.min_cases_per_arm == 50
    assert policy.min_responses_per_arm == 10
    (action,) = policy.actions
    assert (action.name, action.cost, action.cooldown_days, action.prior_uplift) == (
        "a",
        1,
        2,
        0.1,
    )
    assert action.value == "clv"
    assert action.learn_from == ()
    assert dict(action.eligible) == {}


def test_settings_given_are_read():
    text = (
        "[nba]\nhorizon_days = 30\nmin_cases_per_arm = 7\nmin_responses_per_arm = 2\n"
        "[[action]]\nname = 'a'\ncost = 1\ncooldown_days = 2\nprior_uplift = 0.1\n"
        "learn_from = ['detractor']\n"
    )
    policy = Policy.load(text)
    assert (policy.horizon_days, policy.min_cases_per_arm, policy.min_responses_per_arm) == (
        30.0,
        7,
        2,
    )
    assert policy.actions[0].learn_from == ("detractor",)


def test_no_source_gives_the_default_policy_and_a_policy_is_returned_as_is():
    default = Policy.load(None)
    assert [a.name for a in default.actions] == [
        "recovery_call",
        "reactivation_offer",
        "service_reminder",
        "cross_sell",
    ]
    assert default == Policy.load(DEFAULT_POLICY)
    assert Policy.load(default) is default
