"""What to do now: the customer lifecycle and the customers at risk (docs/actions.md).

The actions layer sits above :mod:`rox.impact` and the analyses; it may import them, and none of
them imports it (docs/architecture.md).
"""

from rox.actions.at_risk import AtRisk, at_risk
from rox.actions.lifecycle import Lifecycle, LifecycleRules, lifecycle

__all__ = ["AtRisk", "Lifecycle", "LifecycleRules", "at_risk", "lifecycle"]
