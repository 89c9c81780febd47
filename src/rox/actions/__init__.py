"""What to do now (docs/actions.md): lifecycle, at-risk list, closed-loop cases, next best action.

The lifecycle, the customers at risk, closed-loop cases that measure their own return, and the
next best action. The actions layer sits above :mod:`rox.impact` and the analyses; it may import
them, and none of them imports it (docs/architecture.md).
"""

from __future__ import annotations

from rox.actions.at_risk import AtRisk, at_risk
from rox.actions.case_rules import CaseRule, CaseRules, escalate_breached, open_cases
from rox.actions.cases import CaseList, assign, close, escalate, list_cases, reopen, start
from rox.actions.lifecycle import Lifecycle, LifecycleRules, lifecycle
from rox.actions.loop_return import LoopReturn, cases_needed, loop_return
from rox.actions.nba import NextBestActions, next_best_actions
from rox.actions.policy import Action, Policy
from rox.actions.sla import SlaReport, sla_report
from rox.actions.uplift import TLearner

__all__ = [
    "Action",
    "AtRisk",
    "CaseList",
    "CaseRule",
    "CaseRules",
    "Lifecycle",
    "LifecycleRules",
    "LoopReturn",
    "NextBestActions",
    "Policy",
    "SlaReport",
    "TLearner",
    "assign",
    "at_risk",
    "cases_needed",
    "close",
    "escalate",
    "escalate_breached",
    "lifecycle",
    "list_cases",
    "loop_return",
    "next_best_actions",
    "open_cases",
    "reopen",
    "sla_report",
    "start",
]
