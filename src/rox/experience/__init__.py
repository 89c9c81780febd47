"""Experience metrics: NPS, CSAT, CES with confidence intervals, comparisons and planning.

Everything is computed from one aggregation in the workspace's engine
(:mod:`rox.experience.query`); see :mod:`rox.experience.intervals` for the methods and sources.
"""

from rox.experience.compare import Comparison, adjust_pvalues, compare
from rox.experience.metrics import (
    DEFAULT_MIN_N,
    ExperienceResult,
    ces,
    counts,
    csat,
    measure,
    nps,
    scorecard,
)
from rox.experience.planning import SampleSizePlan, sample_size

__all__ = [
    "DEFAULT_MIN_N",
    "Comparison",
    "ExperienceResult",
    "SampleSizePlan",
    "adjust_pvalues",
    "ces",
    "compare",
    "counts",
    "csat",
    "measure",
    "nps",
    "sample_size",
    "scorecard",
]
