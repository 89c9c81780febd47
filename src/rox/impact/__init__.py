"""What experience is worth, and what drives it: experience joined to value (docs/impact.md).

The impact layer sits above the analyses (:mod:`rox.experience`, :mod:`rox.value`,
:mod:`rox.journey`) and below the outputs; none of the analyses imports it.
"""

from rox.impact.counterfactual import Counterfactual, counterfactual
from rox.impact.drivers import OUTCOMES, KeyDrivers, key_drivers
from rox.impact.hazard import ChurnHazard, churn_hazard, e_value
from rox.impact.profile import ExperienceProfile, profile
from rox.impact.rox_model import ROXModel, rox_model
from rox.impact.worth import Worth, worth

__all__ = [
    "OUTCOMES",
    "ChurnHazard",
    "Counterfactual",
    "ExperienceProfile",
    "KeyDrivers",
    "ROXModel",
    "Worth",
    "churn_hazard",
    "counterfactual",
    "e_value",
    "key_drivers",
    "profile",
    "rox_model",
    "worth",
]
