"""The next-best-action policy: the actions, their cost, eligibility, cooldown and prior, in TOML.

The defaults (:data:`DEFAULT_POLICY`) are a starting point to edit::

    [nba]
    horizon_days = 180       # a response is a purchase within this many days of the action
    min_cases_per_arm = 50   # fewer past actions (or holdouts) than this: use the prior
    min_responses_per_arm = 10

    [[action]]
    name = "recovery_call"
    description = "a call from the recovery team"
    channel = "phone"
    cost = 40                # per action, the brand's currency
    cooldown_days = 90       # not again to the same customer within this many days
    value = "clv"            # value gained when the customer responds: clv, order or a number
    prior_uplift = 0.05      # stated uplift in P(response), used when the past cannot tell
    learn_from = ["detractor", "low_csat"]   # case rules whose outreach and holdout teach it
    [action.eligible]
    nps_group = ["detractor"]
    min_spend = 1500

Eligibility conditions (all optional; a customer must meet every one given): ``nps_group`` (list
of ``promoter``, ``passive``, ``detractor``, ``no response``), ``min_spend`` / ``max_spend``
(revenue to date), ``min_clv`` / ``max_clv``, ``min_p_alive`` / ``max_p_alive``,
``min_purchases``, ``min_days_since_purchase`` / ``max_days_since_purchase``, ``bought`` (a
product) with ``min_days_since_product`` (days since the customer last bought it), and
``cross_sell = true`` (the customer lacks a product that buyers of theirs often buy too).
``value`` is ``"clv"`` (the customer's CLV), ``"order"`` (their mean order), ``"cross_sell"``
(the mean price of the suggested product) or a number (brand's currency).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rox.actions._toml import entries, parse, settings
from rox.errors import ActionError

__all__ = ["DEFAULT_POLICY", "ELIGIBILITY", "Action", "Policy"]

#: The policy used when none is given.
DEFAULT_POLICY = """
[nba]
horizon_days = 180
min_cases_per_arm = 50
min_responses_per_arm = 10

[[action]]
name = "recovery_call"
description = "a call from the recovery team to a detractor worth keeping"
channel = "phone"
cost = 40
cooldown_days = 90
value = "clv"
prior_uplift = 0.05
learn_from = ["detractor", "low_csat"]
[action.eligible]
nps_group = ["detractor"]
min_spend = 1500

[[action]]
name = "reactivation_offer"
description = "an offer to a lapsed customer with a good chance to return"
channel = "email"
cost = 15
cooldown_days = 180
value = "order"
prior_uplift = 0.04
[action.eligible]
min_days_since_purchase = 365
min_p_alive = 0.3

[[action]]
name = "service_reminder"
description = "a reminder that a service is due"
channel = "sms"
cost = 1
cooldown_days = 120
value = "order"
prior_uplift = 0.06
[action.eligible]
bought = "service"
min_days_since_product = 300
min_p_alive = 0.5

[[action]]
name = "cross_sell"
description = "a product that buyers of the customer's products often buy too"
channel = "email"
cost = 3
cooldown_days = 90
value = "cross_sell"
prior_uplift = 0.03
[action.eligible]
cross_sell = true
min_p_alive = 0.5
"""

#: The eligibility conditions an action may state, with their type.
ELIGIBILITY: dict[str, type] = {
    "nps_group": list,
    "min_spend": float,
    "max_spend": float,
    "min_clv": float,
    "max_clv": float,
    "min_p_alive": float,
    "max_p_alive": float,
    "min_purchases": float,
    "min_days_since_purchase": float,
    "max_days_since_purchase": float,
    "bought": str,
    "min_days_since_product": float,
    "cross_sell": bool,
}


@dataclass(frozen=True)
class Action:
    """One action of the policy (see the module docstring for the settings)."""

    name: str
    cost: float
    cooldown_days: float
    prior_uplift: float
    value: str | float = "clv"
    eligible: Mapping[str, Any] = field(default_factory=dict)
    learn_from: tuple[str, ...] = ()
    channel: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        where = f"action {self.name!r}"
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ActionError(f"{where}: a name uses letters, digits and _ only")
        if self.cost < 0 or self.cooldown_days < 0:
            raise ActionError(f"{where}: cost and cooldown_days must not be negative")
        if not -1.0 <= self.prior_uplift <= 1.0:
            raise ActionError(f"{where}: prior_uplift is a change in probability, in [-1, 1]")
        if isinstance(self.value, str) and self.value not in ("clv", "order", "cross_sell"):
            raise ActionError(f"{where}: value must be clv, order, cross_sell or a number")
        for key, val in self.eligible.items():
            if key not in ELIGIBILITY:
                raise ActionError(
                    f"{where}: unknown eligibility {key!r}; known: {', '.join(ELIGIBILITY)}"
                )
            kind = ELIGIBILITY[key]
            ok = (
                isinstance(val, (int, float)) and not isinstance(val, bool)
                if kind is float
                else (isinstance(val, kind))
            )
            if not ok:
                raise ActionError(f"{where}: eligibility {key} must be a {kind.__name__}")
        if "min_days_since_product" in self.eligible and "bought" not in self.eligible:
            raise ActionError(f"{where}: min_days_since_product needs bought = <product>")
        if self.value == "cross_sell" and not self.eligible.get("cross_sell"):
            raise ActionError(f"{where}: value = 'cross_sell' needs eligible cross_sell = true")


@dataclass(frozen=True)
class Policy:
    """The actions and the settings of their uplift estimates.

    Attributes
    ----------
    actions : tuple of Action
    horizon_days : float
        A response is a purchase within this many days of the action.
    min_cases_per_arm, min_responses_per_arm : int
        The least past actions (and holdouts), and responses in each, to estimate an uplift.
    """

    actions: tuple[Action, ...]
    horizon_days: float = 180.0
    min_cases_per_arm: int = 50
    min_responses_per_arm: int = 10

    def __post_init__(self) -> None:
        if not self.actions:
            raise ActionError("the policy holds no [[action]]")
        names = [a.name for a in self.actions]
        if len(set(names)) != len(names):
            raise ActionError(f"action names must be unique: {names}")

    @classmethod
    def load(cls, source: Policy | str | os.PathLike[str] | None = None) -> Policy:
        """A policy from a TOML file, TOML text, or the defaults (None).

        Raises
        ------
        ActionError
            If the TOML is malformed or a setting is invalid (naming it).
        """
        if isinstance(source, Policy):
            return source
        data = parse(source, default=DEFAULT_POLICY, what="policy")
        found = settings(
            data,
            tables=("nba", "action"),
            section="nba",
            known=("horizon_days", "min_cases_per_arm", "min_responses_per_arm"),
            what="policy",
        )
        actions = entries(
            data,
            "action",
            lambda raw: Action(**{**raw, "learn_from": tuple(raw.get("learn_from", ()))}),
            fields=Action.__dataclass_fields__,
            label="action",
            required=("name", "cost", "cooldown_days", "prior_uplift"),
        )
        return cls(
            actions=tuple(actions),
            horizon_days=float(found.get("horizon_days", 180)),
            min_cases_per_arm=int(found.get("min_cases_per_arm", 50)),
            min_responses_per_arm=int(found.get("min_responses_per_arm", 10)),
        )
