"""Customer-value models: BG/NBD, Pareto/NBD, Gamma-Gamma and shifted-beta-geometric.

All are fitted by the one core in :mod:`rox.value.models.fitting`.
"""

from rox.value.models.sbg import ShiftedBetaGeoModel
from rox.value.models.spend import GammaGammaModel
from rox.value.models.transactions import BetaGeoModel, ParetoNBDModel

__all__ = ["BetaGeoModel", "GammaGammaModel", "ParetoNBDModel", "ShiftedBetaGeoModel"]
