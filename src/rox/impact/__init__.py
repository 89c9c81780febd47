"""What experience is worth: experience joined to value (see docs/impact.md).

The impact layer sits above the analyses (:mod:`rox.experience`, :mod:`rox.value`,
:mod:`rox.journey`) and below the outputs; none of the analyses imports it.
"""

from rox.impact.counterfactual import Counterfactual, counterfactual
from rox.impact.profile import ExperienceProfile, profile
from rox.impact.worth import Worth, worth

__all__ = [
    "Counterfactual",
    "ExperienceProfile",
    "Worth",
    "counterfactual",
    "profile",
    "worth",
]
