"""Customer-value models: BG/NBD and its limits, Pareto/NBD, Gamma-Gamma and sBG.

All are fitted by the one core in :mod:`rox.value.models.fitting`.
"""

from rox.value.models.common_dropout import CommonDropoutModel
from rox.value.models.sbg import ShiftedBetaGeoModel
from rox.value.models.spend import GammaGammaModel
from rox.value.models.transactions import BetaGeoModel, ParetoNBDModel

__all__ = [
    "BetaGeoModel",
    "CommonDropoutModel",
    "GammaGammaModel",
    "ParetoNBDModel",
    "ShiftedBetaGeoModel",
]
