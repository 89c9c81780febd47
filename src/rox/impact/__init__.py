"""What experience is worth, and what drives it: experience joined to value (docs/impact.md).

The impact layer sits above the analyses (:mod:`rox.experience`, :mod:`rox.value`,
:mod:`rox.journey`) and below the outputs; none of the analyses imports it.
"""

from rox.impact.counterfactual import Counterfactual, counterfactual
from rox.impact.did import DiD, did
from rox.impact.drivers import OUTCOMES, KeyDrivers, key_drivers
from rox.impact.friction_value import audit, customer_values, friction, step_rox
from rox.impact.hazard import ChurnHazard, ChurnRisk, breslow, churn_hazard, churn_risk, e_value
from rox.impact.initiative import Change, Initiative, Target, read_initiative
from rox.impact.nonresponse import NonResponse, nonresponse
from rox.impact.profile import ExperienceProfile, profile
from rox.impact.roi import ROI, ValueModel, roi
from rox.impact.rox_model import ROXModel, rox_model
from rox.impact.worth import Worth, worth

__all__ = [
    "OUTCOMES",
    "ROI",
    "Change",
    "ChurnHazard",
    "ChurnRisk",
    "Counterfactual",
    "DiD",
    "ExperienceProfile",
    "Initiative",
    "KeyDrivers",
    "NonResponse",
    "ROXModel",
    "Target",
    "ValueModel",
    "Worth",
    "audit",
    "breslow",
    "churn_hazard",
    "churn_risk",
    "counterfactual",
    "customer_values",
    "did",
    "e_value",
    "friction",
    "key_drivers",
    "nonresponse",
    "profile",
    "read_initiative",
    "roi",
    "rox_model",
    "step_rox",
    "worth",
]
