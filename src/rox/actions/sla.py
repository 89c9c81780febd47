"""How the loop is run: time to first action, share closed within SLA, recovery, by group.

Counted over the cases that got outreach (the holdout is never worked), in the engine, per
group (owner, team, touchpoint, trigger, or all cases):

``cases``, ``closed``, ``active``
    Cases, closed cases, and cases still open or in progress.
``first_action_hours``, ``first_action_hours_median``
    Mean and median hours from opening to the first action (cases with one).
``decided``, ``within_sla``, ``share_within_sla``
    A case is decided once closed or past its due time at ``now``; ``within_sla`` counts those
    closed at or before their due time; the share is ``within_sla / decided`` (a case still open
    and not yet due counts in neither).
``overdue``
    Active cases past their due time at ``now``.
``detractors``, ``recovered``, ``recovery_rate``
    Cases opened by an NPS detractor answer (0-6) whose horizon has passed, those whose customer
    bought again or answered NPS higher within it (:mod:`rox.actions.outcomes`), and the share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox._time import utc_timestamp
from rox.actions.cases import ACTIVE, CLOSED
from rox.actions.holdout import HOLDOUT
from rox.actions.outcomes import DEFAULT_HORIZON_DAYS, case_outcomes
from rox.errors import ActionError
from rox.results import Result
from rox.schema import DEFAULT_SCALES

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["SlaReport", "sla_report"]

#: The columns a report may be grouped by.
GROUPINGS: tuple[str, ...] = ("owner", "team", "touchpoint", "trigger", "priority")


@dataclass(frozen=True, eq=False)
class SlaReport(Result):
    """The loop's service levels per group (see the module for the columns).

    Attributes
    ----------
    frame : pandas.DataFrame
    by : tuple of str
        The grouping columns (empty: one row for all cases).
    now : pandas.Timestamp
        When due times were judged.
    """

    by: tuple[str, ...] = ()
    now: pd.Timestamp | None = None

    def __str__(self) -> str:
        total = self.frame
        if total.empty:
            return "no cases with outreach"
        cases, decided = int(total["cases"].sum()), int(total["decided"].sum())
        within, overdue = int(total["within_sla"].sum()), int(total["overdue"].sum())
        head = f"{cases:,} case{'' if cases == 1 else 's'}: "
        if decided:
            head += f"{within / decided:.0%} of the {decided:,} decided closed within their SLA"
        else:
            head += "none closed or past its due time yet"
        return head + f"; {overdue:,} {'is' if overdue == 1 else 'are'} overdue"


def sla_report(
    ws: Workspace,
    by: str | Sequence[str] | None = "owner",
    *,
    now: Any = None,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
) -> SlaReport:
    """Time to first action, share closed within SLA and recovery rate per group.

    Parameters
    ----------
    ws : Workspace
    by : str or sequence of str, optional
        ``owner``, ``team``, ``touchpoint``, ``trigger`` or ``priority`` (None: all cases).
    now : date-like, optional
        When due times are judged (default: the current time, UTC).
    horizon_days : float, default 180
        The recovery window after a case's opening.

    Returns
    -------
    SlaReport
    """
    keys = (by,) if isinstance(by, str) else tuple(by or ())
    bad = [k for k in keys if k not in GROUPINGS]
    if bad:
        raise ActionError(f"cannot group cases by {bad}: use one of {', '.join(GROUPINGS)}")
    at = (utc_timestamp(now, "now") or pd.Timestamp.now(tz="UTC")).to_pydatetime()
    o = case_outcomes(ws, horizon_days=horizon_days)  # outcomes as far as the data go
    o = o.filter(o.arm.isnull() | (o.arm != HOLDOUT))
    seconds = ws.engine.epoch_seconds
    hours = (seconds(o.first_action_at) - seconds(o.opened_at)) / 3600.0
    closed = o.status == CLOSED
    decided = closed | (o.due_at.notnull() & (o.due_at < at))
    within = closed & o.due_at.notnull() & (o.closed_at <= o.due_at)
    nps_bottom = DEFAULT_SCALES["nps"].bottom_to
    detractor = (o.trigger_metric == "nps") & (o.trigger_score <= nps_bottom) & o.observed
    # (ifelse, not a cast: PostgreSQL casts a boolean to int4 but not to bigint)
    o = o.mutate(
        _hours=hours,
        _closed=closed.ifelse(1, 0),
        _active=o.status.isin(ACTIVE).ifelse(1, 0),
        _decided=decided.ifelse(1, 0),
        _within=within.ifelse(1, 0),
        _overdue=(o.status.isin(ACTIVE) & o.due_at.notnull() & (o.due_at < at)).ifelse(1, 0),
        _detractor=detractor.ifelse(1, 0),
        _recovered=(detractor & o.recovered).ifelse(1, 0),
    )
    metrics = {
        "cases": o.count(),
        "closed": o._closed.sum(),
        "active": o._active.sum(),
        "first_action_hours": o._hours.mean(),
        "first_action_hours_median": o._hours.median(),
        "decided": o._decided.sum(),
        "within_sla": o._within.sum(),
        "overdue": o._overdue.sum(),
        "detractors": o._detractor.sum(),
        "recovered": o._recovered.sum(),
    }
    grouped = o.group_by(list(keys)).aggregate(**metrics) if keys else o.aggregate(**metrics)
    frame = grouped.execute()
    if keys:
        frame = frame.sort_values(list(keys), na_position="last").reset_index(drop=True)
    counts = ["cases", "closed", "active", "decided", "within_sla", "overdue", "detractors"]
    for c in [*counts, "recovered"]:  # (sums over no rows are nulls, of dtype object)
        frame[c] = pd.to_numeric(frame[c]).fillna(0).astype("int64")
    frame["share_within_sla"] = frame["within_sla"] / frame["decided"].where(frame["decided"] > 0)
    frame["recovery_rate"] = frame["recovered"] / frame["detractors"].where(frame["detractors"] > 0)
    order = [
        *keys,
        "cases",
        "closed",
        "active",
        "first_action_hours",
        "first_action_hours_median",
        "decided",
        "within_sla",
        "share_within_sla",
        "overdue",
        "detractors",
        "recovered",
        "recovery_rate",
    ]
    return SlaReport(frame=frame[order], by=keys, now=pd.Timestamp(at))
