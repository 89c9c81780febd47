"""What happened to each case's customer afterwards: bought again, scored again, scored higher.

One Ibis expression, shared by the SLA report (recovery rate) and the loop's return (saves,
treated against held out), so both count outcomes the same way. For a case opened at ``t`` and a
horizon of ``h`` days:

``bought_again``
    The customer has a transaction in ``(t, t + h]``.
``trigger_metric``, ``trigger_score``
    The metric and score of the response that opened the case (null for other triggers).
``later_nps``
    The customer's first NPS answer in ``(t, t + h]`` other than the trigger (null if none).
``later_score``
    The first later answer on the trigger's own metric in ``(t, t + h]`` (null if none).
``scored_higher``
    ``later_score > trigger_score`` (false without a later answer).
``recovered``
    ``bought_again`` or ``scored_higher``.
``observed``
    The horizon has passed by ``as_of``, so the outcomes are complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from rox._time import utc_timestamp
from rox.actions.cases import case_table

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["DEFAULT_HORIZON_DAYS", "case_outcomes", "data_end", "purchases_after"]

#: Days after a case's opening in which its customer's outcomes count.
DEFAULT_HORIZON_DAYS = 180


def data_end(ws: Workspace) -> pd.Timestamp:
    """The latest transaction or response time: when the workspace's outcomes were last seen."""
    ends = [
        ws.table(name).ts.max().execute()
        for name in ("transactions", "responses")
        if ws.count(name)
    ]
    ends = [pd.Timestamp(e) for e in ends if e is not None and not pd.isna(e)]
    if not ends:
        return pd.Timestamp.now(tz="UTC")
    end = max(ends)
    return end.tz_convert("UTC") if end.tzinfo else end.tz_localize("UTC")


def purchases_after(ws: Workspace, anchors: ir.Table, horizon_days: float) -> ir.Table:
    """Transactions in ``(at, at + horizon_days]`` per anchor: ``key``, ``purchases_after``.

    ``anchors`` has the columns ``key`` (unique), ``customer_id`` and ``at`` (UTC); anchors
    without such a transaction are absent from the result.
    """
    horizon = ibis.interval(seconds=round(float(horizon_days) * 86_400))
    t = ws.table("transactions")
    j = anchors.join(
        t.select(t.customer_id, tx_ts=t.ts),
        [anchors.customer_id == t.customer_id, t.ts > anchors.at, t.ts <= anchors.at + horizon],
    )
    return j.group_by("key").aggregate(purchases_after=j.count())


def case_outcomes(
    ws: Workspace, *, horizon_days: float = DEFAULT_HORIZON_DAYS, as_of: Any = None
) -> ir.Table:
    """Every case with its customer's outcomes within ``horizon_days`` (see the module).

    Parameters
    ----------
    ws : Workspace
    horizon_days : float, default 180
        Days after the opening in which outcomes count.
    as_of : date-like, optional
        When the outcomes were last seen (default: :func:`data_end`).

    Returns
    -------
    ibis Table
        The canonical case columns and the outcome columns.
    """
    end = utc_timestamp(as_of, "as_of") or data_end(ws)
    cases = case_table(ws)
    horizon = ibis.interval(seconds=round(float(horizon_days) * 86_400))
    keys = cases.select("case_id", "customer_id", "opened_at", "response_id")

    bought = purchases_after(
        ws, keys.select("customer_id", key=keys.case_id, at=keys.opened_at), horizon_days
    ).rename(case_id="key")

    r = ws.table("responses")
    trig = r.select(trigger_response=r.response_id, trigger_metric=r.metric, trigger_score=r.score)
    with_trigger = keys.left_join(trig, keys.response_id == trig.trigger_response)
    with_trigger = with_trigger.select(
        "case_id", "customer_id", "opened_at", "response_id", "trigger_metric", "trigger_score"
    )
    later = r.select(
        r_customer=r.customer_id,
        r_id=r.response_id,
        r_ts=r.ts,
        r_metric=r.metric,
        r_score=r.score,
    )
    lj = with_trigger.join(
        later,
        [
            with_trigger.customer_id == later.r_customer,
            later.r_ts > with_trigger.opened_at,
            later.r_ts <= with_trigger.opened_at + horizon,
            later.r_id.isnull()
            | with_trigger.response_id.isnull()
            | (later.r_id != with_trigger.response_id),
        ],
    )
    nps_ts = ibis.ifelse(lj.r_metric == "nps", lj.r_ts, ibis.null("timestamp('UTC')"))
    same_ts = ibis.ifelse(lj.r_metric == lj.trigger_metric, lj.r_ts, ibis.null("timestamp('UTC')"))
    scores = lj.group_by("case_id").aggregate(
        later_nps=ibis.ifelse(lj.r_metric == "nps", lj.r_score, ibis.null("float64")).argmin(
            nps_ts
        ),
        later_score=ibis.ifelse(
            lj.r_metric == lj.trigger_metric, lj.r_score, ibis.null("float64")
        ).argmin(same_ts),
    )
    out = cases.left_join(
        with_trigger.select("case_id", "trigger_metric", "trigger_score"), "case_id"
    )
    out = out.left_join(bought, "case_id").left_join(scores, "case_id")
    bought_again = out.purchases_after.fill_null(0) > 0
    higher = (out.later_score > out.trigger_score).fill_null(False)
    columns = [c for c in cases.columns if not c.startswith("_")]
    return out.select(
        *columns,
        trigger_metric=out.trigger_metric,
        trigger_score=out.trigger_score,
        bought_again=bought_again,
        later_nps=out.later_nps,
        later_score=out.later_score,
        scored_higher=higher,
        recovered=bought_again | higher,
        observed=(out.opened_at + horizon) <= end.to_pydatetime(),
    )
