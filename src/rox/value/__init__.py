"""Customer value: RFM summaries, lifetime-value models, churn and retention, concentration.

All heavy aggregation (RFM, cohorts, churn, survival inputs, revenue per customer) runs in the
workspace's engine; the models fit on the compressed summaries (:mod:`rox.value.models`).
"""

from rox.value.clv import CLV, clv
from rox.value.clv_table import CLVExpr, CLVTable, clv_expr, clv_table
from rox.value.concentration import Concentration, concentration, gini
from rox.value.holdout import HoldoutValidation, validate
from rox.value.retention import (
    CohortRetention,
    Survival,
    churn_rates,
    cohorts,
    lifetimes,
    project_retention,
    survival,
)
from rox.value.rfm import RFM, rfm, sufficient_statistics

__all__ = [
    "CLV",
    "RFM",
    "CLVExpr",
    "CLVTable",
    "CohortRetention",
    "Concentration",
    "HoldoutValidation",
    "Survival",
    "churn_rates",
    "clv",
    "clv_expr",
    "clv_table",
    "cohorts",
    "concentration",
    "gini",
    "lifetimes",
    "project_retention",
    "rfm",
    "sufficient_statistics",
    "survival",
    "validate",
]
