"""Customers at risk: high value and a churn signal, ranked by the value at risk, with reasons.

For each customer with a purchase, on the day ``as_of`` (default: the last transaction) and the
day ``lookback_days`` before it (τ, default 90 days):

``p_alive``
    P(alive) on ``as_of`` from the fitted purchase model (:func:`rox.value.clv`,
    ``model="auto"``), given the purchases up to that day.
``p_alive_before``
    P(alive) on τ given the purchases up to τ, read the same way (:mod:`rox.actions._alive`);
    for a customer whose first purchase came after τ, P(alive) at that first purchase, which
    is 1 in both BG/NBD and Pareto/NBD (the history is then x = t_x = T = 0).
``value_at_risk``
    ``clv × max(0, p_alive_before − p_alive)``: the customer's lifetime value (the next 52
    weeks, discounted; :func:`rox.value.clv`) weighted by how far their probability of still
    being a customer fell in the window. It is high for customers who are still worth much and
    are slipping; a customer whose P(alive) rose or held has none.

**The churn hazard as the signal** (``signal="hazard"``): the risk is instead the probability
of churning within ``horizon_days`` (default 90) given the customer's current covariates, from
the Cox model of :func:`rox.impact.churn_hazard` (time-varying NPS group) and its Breslow
baseline (:func:`rox.impact.churn_risk`, which states the formula and its reading past the last
churn observed)::

    value_at_risk = clv × P(churn within horizon_days | time since first purchase, NPS group)

for each customer not yet lost by the churn rule (no purchase within ``inactive_after`` days).
``p_churn`` and ``hazard_ratio`` (against a passive) replace ``p_alive_before``; ``p_alive`` is the
CLV model's P(alive) on ``as_of``. The Cox fit runs in Python on the counting-process rows the
engine returns; the ranking then runs on the per-customer frame.

The list keeps the customers with a positive value at risk and a CLV of at least ``min_clv``,
highest value at risk first (ties by ``customer_id``), and says why in words, from the experience
profile (:func:`rox.impact.profile`) and the events of the last ``contact_days`` days:

- the latest NPS answer when it is a detractor's: ``detractor (3) on 2025-11-02 after financing``
  (its score, day and touchpoint);
- the latest CSAT or CES answer when it is not satisfied / not easy;
- journeys that ended at a friction point (without reaching the goal);
- ``P(alive) fell from 0.92 to 0.61 in 90 days`` and the days since the last purchase;
- support calls and complaints in the last ``contact_days`` days (``two support calls in 30
  days``).

The ranking, the P(alive) on both days and the value at risk are computed in the engine; only
the top ``top`` customers (and the distinct purchase histories the model is evaluated on) come
back, and the profile and contacts are read for those customers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import pandas as pd

from rox._time import utc_day
from rox.actions._alive import TRIPLE, daily_purchases, p_alive_table, value_table
from rox.errors import MetricError
from rox.impact.hazard import churn_risk
from rox.impact.profile import profile
from rox.results import Result
from rox.value import CLV, clv

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["AtRisk", "at_risk"]

SIGNALS = ("alive", "hazard")
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True, eq=False)
class AtRisk(Result):
    """The customers at risk, highest value at risk first (see the module).

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer: ``rank``, ``customer_id``, ``value_at_risk``, ``clv``,
        ``p_alive``, ``p_alive_before``, ``days_since_purchase``, ``nps_group``, ``friction``,
        ``support_contacts`` and ``complaints`` (in the last ``contact_days`` days), and
        ``reasons`` (a list of sentences).
        With ``signal="hazard"``, ``p_churn`` and ``hazard_ratio`` instead of
        ``p_alive_before``.
    as_of, since : pandas.Timestamp
        The day P(alive) is read and the day it is compared with (``since`` is None with the
        hazard signal).
    signal : str
        ``alive`` (the fall in P(alive)) or ``hazard`` (P(churn) within ``horizon_days``).
    value_basis : str
        What ``clv`` is.
    customers_at_risk : int
        Customers with a positive value at risk (and ``clv >= min_clv``), before the top cut.
    total_value_at_risk : float
        Their summed value at risk.
    """

    as_of: pd.Timestamp | None = None
    since: pd.Timestamp | None = None
    value_basis: str = ""
    customers_at_risk: int = 0
    total_value_at_risk: float = 0.0
    contact_days: int = 30
    signal: str = "alive"
    horizon_days: int = 90

    _plotter: ClassVar[str | None] = "rox.viz.actions:plot_at_risk"

    def records(self) -> list[dict[str, Any]]:
        """One dict per customer, as ``rox at-risk --format json`` prints them.

        Keys ``customer_id``, ``value_at_risk``, ``p_alive``, ``p_alive_before`` (``p_churn``
        and ``hazard_ratio`` with the hazard signal), ``clv`` and ``reasons`` (a list of str).
        """
        risk = ["p_alive_before"] if self.signal == "alive" else ["p_churn", "hazard_ratio"]
        cols = ["customer_id", "value_at_risk", "p_alive", *risk, "clv", "reasons"]
        return [
            {k: (list(v) if k == "reasons" else v) for k, v in row.items()}
            for row in self.frame[cols].to_dict("records")
        ]

    @property
    def measure(self) -> str:
        """What the value at risk is, in words."""
        if self.signal == "hazard":
            return f"CLV × P(churn within {self.horizon_days} days) by the churn hazard"
        return "CLV × the fall in P(alive)"

    def __str__(self) -> str:
        why = (
            f"P(alive) fell since {self.since:%Y-%m-%d}"
            if self.signal == "alive"
            else f"churn hazard over the next {self.horizon_days} days"
        )
        head = (
            f"{self.customers_at_risk:,} customers at risk on {self.as_of:%Y-%m-%d} "
            f"({why}); value at risk {self.total_value_at_risk:,.0f} ({self.value_basis})"
        )
        lines = [
            f"{r.rank}. {r.customer_id}: {r.value_at_risk:,.0f} at risk: " + "; ".join(r.reasons)
            for r in self.frame.itertuples()
        ]
        return "\n".join([head, *lines])


def at_risk(
    ws: Workspace,
    *,
    top: int | None = 100,
    lookback_days: int = 90,
    contact_days: int = 30,
    min_clv: float = 0.0,
    value: CLV | None = None,
    as_of: Any = None,
    journey: str | None = None,
    goal: str | None = None,
    support_steps: Sequence[str] = ("support_call",),
    complaint_steps: Sequence[str] = ("complaint",),
    signal: str = "alive",
    horizon_days: int = 90,
    inactive_after: int = 365,
) -> AtRisk:
    """List the customers at risk, ranked by value at risk, each with the reasons in words.

    Parameters
    ----------
    ws : Workspace
    top : int or None
        How many customers to list (None: all with a value at risk).
    lookback_days : int
        The window over which the fall in P(alive) is measured, in days.
    contact_days : int
        The window of the support calls and complaints counted among the reasons, in days.
    min_clv : float
        Leave out customers worth less (in the brand's currency).
    value : CLV, optional
        A fitted lifetime value with its purchase model (default: :func:`rox.value.clv` with
        ``model="auto"`` on the transactions up to ``as_of``).
    as_of : date-like, optional
        The day of the list (default: the CLV's calibration end, else the last transaction).
    journey, goal, support_steps, complaint_steps
        The experience profile's options (:func:`rox.impact.profile`).
    signal : {'alive', 'hazard'}
        The churn signal: the fall in P(alive) over ``lookback_days``, or P(churn within
        ``horizon_days``) by the churn hazard (see the module).
    horizon_days, inactive_after : int
        With ``signal="hazard"``: the window ahead, and the churn rule's days without a purchase.

    Returns
    -------
    AtRisk

    Raises
    ------
    MetricError
        If a window or ``top`` is not positive, ``signal`` is unknown, or ``value`` has no
        purchase model.
    ConvergenceError
        If no purchase model can be fitted.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> risk = rox.actions.at_risk(ws, top=5, journey="purchase", goal="purchase")
    >>> risk.frame.columns[:4].tolist()
    ['rank', 'customer_id', 'value_at_risk', 'clv']
    """
    if lookback_days < 1 or contact_days < 1 or (top is not None and top < 1):
        raise MetricError(
            f"lookback_days={lookback_days}, contact_days={contact_days}, top={top}: "
            "expected positive whole numbers"
        )
    if signal not in SIGNALS:
        raise MetricError(f"signal={signal!r}: expected 'alive' (P(alive)) or 'hazard' (Cox)")
    if horizon_days < 1 or inactive_after < 1:
        raise MetricError(
            f"horizon_days={horizon_days}, inactive_after={inactive_after}: expected positive "
            "whole numbers of days"
        )
    ws.require_rows("transactions")
    end = _as_of(ws, as_of, value)
    if value is None:
        value = clv(ws, calibration_end=end, model="auto")
    if value.purchase_model is None:
        raise MetricError("at_risk needs a CLV with its fitted purchase model (rox.value.clv(ws))")
    if signal == "hazard":
        return _by_hazard(
            ws,
            value,
            end,
            top=top,
            horizon_days=horizon_days,
            inactive_after=inactive_after,
            min_clv=min_clv,
            reasons=(contact_days, journey, goal, support_steps, complaint_steps),
        )
    since = end - pd.Timedelta(days=lookback_days)
    # the per-customer histories are aggregated once; the distinct ones go to the model, and
    # the ranking (a join with their P(alive) and the CLV) is kept for the count and the head
    with ws.engine.cache(_histories(ws, end, since)) as per:
        alive = _alive_on_both_days(per, value)
        with ws.engine.cache(_ranked(per, alive, value_table(value), min_clv)) as ranked:
            n_risk, total = (
                ranked.aggregate(n=ranked.count(), total=ranked.value_at_risk.sum())
                .execute()
                .iloc[0]
            )
            ordered = ranked.order_by([ibis.desc("value_at_risk"), "customer_id"])
            head = (ordered if top is None else ordered.limit(top)).execute()
    frame = _with_reasons(
        ws, head, value, end, since, contact_days, journey, goal, support_steps, complaint_steps
    )
    return AtRisk(
        frame=frame,
        as_of=end,
        since=since,
        value_basis=value.basis,
        customers_at_risk=int(n_risk),
        total_value_at_risk=float(total) if n_risk else 0.0,
        contact_days=contact_days,
    )


def _by_hazard(
    ws: Workspace,
    value: CLV,
    end: pd.Timestamp,
    *,
    top: int | None,
    horizon_days: int,
    inactive_after: int,
    min_clv: float,
    reasons: tuple[int, str | None, str | None, Sequence[str], Sequence[str]],
) -> AtRisk:
    """The list ranked by CLV × P(churn within the horizon) (see the module)."""
    risk = churn_risk(ws, horizon_days=horizon_days, inactive_after=inactive_after, as_of=end)
    worth = value.frame[["customer_id", "clv", "p_alive"]].astype({"customer_id": str})
    f = risk.frame.merge(worth, on="customer_id", how="inner")
    f["value_at_risk"] = f["clv"] * f["p_churn"]
    f = f[(f["value_at_risk"] > 0) & (f["clv"] >= min_clv)]
    f = f.sort_values(["value_at_risk", "customer_id"], ascending=[False, True])
    head = f if top is None else f.head(top)
    head = head[["customer_id", "value_at_risk", "clv", "p_alive", "p_churn", "hazard_ratio"]]
    head = head.merge(_days_since_purchase(ws, head["customer_id"].tolist(), end), how="left")
    contact_days, journey, goal, support_steps, complaint_steps = reasons
    frame = _with_reasons(
        ws,
        head.reset_index(drop=True),
        value,
        end,
        None,
        contact_days,
        journey,
        goal,
        support_steps,
        complaint_steps,
        horizon_days,
    )
    return AtRisk(
        frame=frame,
        as_of=end,
        since=None,
        value_basis=value.basis,
        customers_at_risk=len(f),
        total_value_at_risk=float(f["value_at_risk"].sum()),
        contact_days=contact_days,
        signal="hazard",
        horizon_days=horizon_days,
    )


def _days_since_purchase(ws: Workspace, ids: list[str], end: pd.Timestamp) -> pd.DataFrame:
    """``customer_id`` and whole days from the last purchase (up to ``end``) to ``end``."""
    d = daily_purchases(ws, end)
    d = d.filter(d.customer_id.isin(ids)) if ids else d.filter(ibis.literal(False))
    last = d.group_by("customer_id").aggregate(
        days_since_purchase=ibis.literal(end.date()).delta(d.day.max(), unit="day")
    )
    return last.execute().astype({"customer_id": str})


def _as_of(ws: Workspace, as_of: Any, value: CLV | None) -> pd.Timestamp:
    if as_of is not None:
        day = utc_day(as_of, "as_of")
    elif value is not None and value.summary is not None:
        day = pd.Timestamp(value.summary.calibration_end)
    else:
        day = utc_day(ws.table("transactions").ts.max().execute())
    assert day is not None
    return day


def _histories(ws: Workspace, end: pd.Timestamp, since: pd.Timestamp) -> ir.Table:
    """Per customer: (x, t_x, T) in days on ``end`` and on ``since``, and days since a purchase."""
    d = daily_purchases(ws, end)
    tau = ibis.literal(since.date())
    before = d.day <= tau
    per = d.group_by("customer_id").aggregate(
        first_day=d.day.min(),
        last_day=d.day.max(),
        days=d.count(),
        days_before=d.count(where=before),
        last_before=d.day.max(where=before),
    )
    late = per.first_day > tau  # first purchase after tau: read at that purchase (0, 0, 0)
    end_day = ibis.literal(end.date())
    return per.select(
        "customer_id",
        _x=per.days - 1,
        _tx_days=per.last_day.delta(per.first_day, unit="day"),
        _t_days=end_day.delta(per.first_day, unit="day"),
        _x_before=ibis.ifelse(late, 0, per.days_before - 1),
        _tx_before=ibis.ifelse(late, 0, per.last_before.delta(per.first_day, unit="day")),
        _t_before=ibis.ifelse(late, 0, tau.delta(per.first_day, unit="day")),
        days_since_purchase=end_day.delta(per.last_day, unit="day"),
    )


def _alive_on_both_days(per: ir.Table, value: CLV) -> ir.Table:
    """P(alive) of every distinct history of ``per``, on either day."""
    earlier = per.select(_x=per._x_before, _tx_days=per._tx_before, _t_days=per._t_before)
    return p_alive_table(per.select(*TRIPLE).union(earlier), value.purchase_model, value.unit)


def _ranked(per: ir.Table, alive: ir.Table, worth: ir.Table, min_clv: float) -> ir.Table:
    """Per customer with a positive value at risk: CLV, P(alive) on both days, value at risk."""
    now = alive.view()
    p = per.left_join(now, [per[c] == now[c] for c in TRIPLE]).select(per, p_alive=now._p_alive)
    p = p.left_join(
        alive,
        [p._x_before == alive._x, p._tx_before == alive._tx_days, p._t_before == alive._t_days],
    ).select(p, p_alive_before=alive._p_alive)
    p = p.join(worth, p.customer_id == worth.customer_id).select(p, clv=worth.clv)
    drop = p.p_alive_before - p.p_alive
    p = p.mutate(value_at_risk=p.clv * ibis.greatest(drop, 0.0))
    p = p.filter(p.value_at_risk > 0, p.clv >= min_clv)
    return p.select(
        "customer_id",
        "value_at_risk",
        "clv",
        "p_alive",
        "p_alive_before",
        "days_since_purchase",
    )


def _with_reasons(
    ws: Workspace,
    head: pd.DataFrame,
    value: CLV,
    end: pd.Timestamp,
    since: pd.Timestamp | None,
    contact_days: int,
    journey: str | None,
    goal: str | None,
    support_steps: Sequence[str],
    complaint_steps: Sequence[str],
    horizon_days: int = 0,
) -> pd.DataFrame:
    """The listed customers with their experience, recent contacts and reasons in words."""
    ids = head["customer_id"].astype(str).tolist()
    cols = [
        "customer_id",
        "nps_latest",
        "nps_latest_at",
        "nps_touchpoint",
        "nps_group",
        "csat_mean",
        "csat_band",
        "ces_mean",
        "ces_band",
        "journeys",
        "friction_points",
        "friction",
    ]
    if ids:
        prof = profile(
            ws,
            value=value,
            journey=journey,
            goal=goal,
            support_steps=support_steps,
            complaint_steps=complaint_steps,
            as_of=end,
        ).table
        experience = prof.filter(prof.customer_id.isin(ids)).select(*cols).execute()
        contacts = _contacts(ws, ids, end, contact_days, support_steps, complaint_steps)
    else:
        experience = pd.DataFrame(columns=cols)
        contacts = pd.DataFrame(columns=["customer_id", "support_contacts", "complaints"])
    frame = head.assign(customer_id=head["customer_id"].astype(str))
    frame = frame.merge(experience, on="customer_id", how="left")
    frame = frame.merge(contacts, on="customer_id", how="left")
    for c in ("support_contacts", "complaints"):
        frame[c] = frame[c].fillna(0).astype("int64")
    window = (end - since).days if since is not None else horizon_days
    hazard = since is None
    frame["reasons"] = [_reasons(r, window, contact_days, hazard) for r in frame.itertuples()]
    frame.insert(0, "rank", range(1, len(frame) + 1))
    out = [
        "rank",
        "customer_id",
        "value_at_risk",
        "clv",
        "p_alive",
        *(["p_churn", "hazard_ratio"] if hazard else ["p_alive_before"]),
        "days_since_purchase",
        "nps_group",
        "friction",
        "support_contacts",
        "complaints",
        "reasons",
    ]
    frame["days_since_purchase"] = frame["days_since_purchase"].astype("int64")
    return frame[out].reset_index(drop=True)


def _contacts(
    ws: Workspace,
    ids: list[str],
    end: pd.Timestamp,
    days: int,
    support_steps: Sequence[str],
    complaint_steps: Sequence[str],
) -> pd.DataFrame:
    """Support contacts and complaints of ``ids`` on the ``days`` days ending with ``end``."""
    e = ws.table("events")
    day = ws.engine.utc_date(e.ts)
    first = ibis.literal((end - pd.Timedelta(days=days - 1)).date())
    e = e.filter(
        e.customer_id.cast("string").isin(ids),
        e.step.isin([*support_steps, *complaint_steps]),
        day >= first,
        day <= ibis.literal(end.date()),
    )
    got = (
        e.group_by(e.customer_id.cast("string").name("customer_id"))
        .aggregate(
            support_contacts=e.count(where=e.step.isin(list(support_steps))),
            complaints=e.count(where=e.step.isin(list(complaint_steps))),
        )
        .execute()
    )
    return got.astype({"customer_id": str})


def _count(n: int, one: str, many: str) -> str:
    """``two support calls``: small counts in words."""
    words = _WORDS[n] if n < len(_WORDS) else f"{n:,}"
    return f"{words} {one if n == 1 else many}"


def _reasons(r: Any, window: int, contact_days: int, hazard: bool = False) -> list[str]:
    """Why this customer is on the list, in words (see the module).

    With the hazard signal, ``window`` is the horizon and the churn sentence replaces the fall
    in P(alive): ``P(churn within 90 days) 0.19 (churn hazard 2.88x a passive's)``.
    """
    out: list[str] = []
    if r.nps_group == "detractor":
        text = f"detractor ({r.nps_latest:g})"
        if not pd.isna(r.nps_latest_at):
            text += f" on {pd.Timestamp(r.nps_latest_at):%Y-%m-%d}"
        if isinstance(r.nps_touchpoint, str) and r.nps_touchpoint:
            text += f" after {r.nps_touchpoint.replace('_', ' ')}"
        out.append(text)
    if r.csat_band == "not satisfied":
        out.append(f"not satisfied at the last CSAT answer (mean {r.csat_mean:.1f} of 5)")
    if r.ces_band == "not easy":
        out.append(f"not easy at the last CES answer (mean {r.ces_mean:.1f} of 7)")
    if r.friction == "met friction":
        n, of = int(r.friction_points), int(r.journeys)
        out.append(
            f"{_count(n, 'journey', 'journeys')} of {of} ended at a friction point"
            if of > 1
            else "their journey ended at a friction point"
        )
    if hazard:
        text = f"P(churn within {window} days) {r.p_churn:.2f}"
        if r.hazard_ratio != 1:
            text += f" (churn hazard {r.hazard_ratio:.2f}x a passive's)"
        out.append(text)
    else:
        out.append(f"P(alive) fell from {r.p_alive_before:.2f} to {r.p_alive:.2f} in {window} days")
    if r.days_since_purchase > 0:
        out.append(f"no purchase for {int(r.days_since_purchase)} days")
    if r.support_contacts:
        calls = _count(int(r.support_contacts), "support call", "support calls")
        out.append(f"{calls} in {contact_days} days")
    if r.complaints:
        out.append(f"{_count(int(r.complaints), 'complaint', 'complaints')} in {contact_days} days")
    return out
