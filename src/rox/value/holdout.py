"""Holdout validation of a purchase model: did it predict what customers did next.

Two views, as in Fader, Hardie & Lee (2005), figures 3 and 4:

- by calibration frequency: for customers with 0, 1, ..., 7+ repeat purchases in the calibration
  period, the mean purchases predicted for the holdout period against the mean observed;
- the tracking curve: cumulative repeat purchases of the whole cohort week by week, observed
  against the model's expectation (each customer contributes E[X(t - s_i)] from their first
  purchase s_i on), across calibration and holdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.results import Result
from rox.value.rfm import RFM, UNITS

if TYPE_CHECKING:
    from rox.value.models.purchase_base import _TransactionModel
    from rox.workspace import Workspace

__all__ = ["HoldoutValidation", "validate"]


@dataclass(frozen=True, eq=False)
class HoldoutValidation(Result):
    """Predicted against observed holdout purchases.

    Attributes
    ----------
    frame : pandas.DataFrame
        By calibration frequency (``0`` .. ``7+``): ``customers``, ``actual`` and ``predicted``
        mean holdout purchases.
    tracking : pandas.DataFrame
        ``t`` (end of each period since the cohort's start, in the summary's unit), ``actual`` and
        ``predicted`` cumulative repeat purchases, and ``holdout`` (whether t is after the
        calibration end).
    """

    tracking: pd.DataFrame | None = None
    unit: str = "weeks"

    _plotter: ClassVar[str | None] = "rox.viz.value:plot_validation"

    @property
    def error(self) -> float:
        """Relative error of the predicted total holdout purchases."""
        cust = self.frame["customers"]
        actual = float((self.frame["actual"] * cust).sum())
        predicted = float((self.frame["predicted"] * cust).sum())
        return (predicted - actual) / actual if actual else float("nan")


def validate(
    model: _TransactionModel, summary: RFM, ws: Workspace | None = None, *, max_frequency: int = 7
) -> HoldoutValidation:
    """Compare ``model``'s holdout predictions with what customers did.

    Parameters
    ----------
    model : BetaGeoModel or ParetoNBDModel
        Fitted on the calibration period of ``summary``.
    summary : RFM
        Made with a ``holdout_end``.
    ws : Workspace, optional
        The workspace of the transactions, for the tracking curve (without it, only the table by
        frequency is computed).
    """
    f = summary.frame
    if "frequency_holdout" not in f:
        raise MetricError("the RFM summary has no holdout: make it with holdout_end=...")
    duration = float(f["duration_holdout"].iloc[0])
    predicted = model.expected_purchases(duration, f)
    bucket = f["frequency"].clip(upper=max_frequency)
    labels = bucket.astype(str).where(bucket < max_frequency, f"{max_frequency}+")
    table = (
        pd.DataFrame(
            {
                "bucket": bucket,
                "frequency": labels,
                "actual": f["frequency_holdout"],
                "predicted": predicted,
            }
        )
        .groupby(["bucket", "frequency"])
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
        .drop(columns="bucket")
    )
    tracking = _tracking(model, summary, ws) if ws is not None else None
    return HoldoutValidation(frame=table, tracking=tracking, unit=summary.unit)


def _tracking(model: Any, summary: RFM, ws: Workspace) -> pd.DataFrame:
    assert summary.calibration_end is not None and summary.holdout_end is not None
    days = UNITS[summary.unit]
    f = summary.frame
    start = pd.Timestamp(f["first_purchase"].min()).normalize()
    end = summary.holdout_end
    # observed: repeat purchase days of the cohort, per period since the cohort's start
    t = ws.table("transactions")
    daily = t.group_by([t.customer_id, t.ts.date().name("day")]).aggregate()
    cohort = ibis.memtable(f[["customer_id"]].assign(first=f["first_purchase"].dt.date))
    repeat = daily.join(cohort, daily.customer_id == cohort.customer_id).filter(
        lambda r: (r.day > r.first) & (r.day <= ibis.literal(end.date()))
    )
    period = (repeat.day.delta(ibis.literal(start.date()), unit="day") / days).floor()
    observed = repeat.group_by(period.name("k")).aggregate(n=repeat.count()).execute()
    n_periods = int(np.floor((end - start).days / days)) + 1
    counts = np.zeros(n_periods)
    k = observed["k"].astype(int).to_numpy()
    counts[k[k < n_periods]] = observed["n"].to_numpy()[k < n_periods]
    # predicted: sum over first-purchase days of customers x E[X(t - s)]
    offsets = ((f["first_purchase"] - start).dt.days / days).value_counts()
    ends = np.arange(1, n_periods + 1, dtype="float64")
    predicted = np.zeros(n_periods)
    for s, n in offsets.items():
        since = ends - float(s)
        predicted += n * np.where(since > 0, model.expected_purchases_new(np.maximum(since, 0)), 0)
    calibration = (summary.calibration_end - start).days / days
    return pd.DataFrame(
        {
            "t": ends,
            "actual": np.cumsum(counts),
            "predicted": predicted,
            "holdout": ends > calibration,
        }
    )
