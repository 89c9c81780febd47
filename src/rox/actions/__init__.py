"""What to do now: closed-loop cases that measure their own return, and the next best action.

(Lifecycle phases and the at-risk list live beside these modules; see docs/actions.md.)
"""

from __future__ import annotations

from rox.actions.case_rules import CaseRule, CaseRules, escalate_breached, open_cases
from rox.actions.cases import CaseList, assign, close, escalate, list_cases, reopen, start

__all__ = [
    "CaseList",
    "CaseRule",
    "CaseRules",
    "assign",
    "close",
    "escalate",
    "escalate_breached",
    "list_cases",
    "open_cases",
    "reopen",
    "start",
]
