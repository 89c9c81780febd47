"""What to do now: closed-loop cases that measure their own return, and the next best action.

(Lifecycle phases and the at-risk list live beside these modules; see docs/actions.md.)
"""

from __future__ import annotations

from rox.actions.case_rules import CaseRule, CaseRules, escalate_breached, open_cases
from rox.actions.cases import CaseList, assign, close, escalate, list_cases, reopen, start
from rox.actions.loop_return import LoopReturn, cases_needed, loop_return
from rox.actions.nba import NextBestActions, next_best_actions
from rox.actions.policy import Action, Policy
from rox.actions.sla import SlaReport, sla_report
from rox.actions.uplift import TLearner

__all__ = [
    "Action",
    "CaseList",
    "CaseRule",
    "CaseRules",
    "LoopReturn",
    "NextBestActions",
    "Policy",
    "SlaReport",
    "TLearner",
    "assign",
    "cases_needed",
    "close",
    "escalate",
    "escalate_breached",
    "list_cases",
    "loop_return",
    "next_best_actions",
    "open_cases",
    "reopen",
    "sla_report",
    "start",
]
