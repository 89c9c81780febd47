"""Next best action: one action per customer, the one with the highest expected value.

For each customer and each action of the policy (:mod:`rox.actions.policy`) the customer is
eligible for, and not in the action's cooldown::

    expected value = uplift in P(response) x value gained - cost

A response is a purchase within the policy's horizon. The uplift comes from the past where it
can: the actions recorded with a holdout (the closed loop's cases of the rules an action
``learn_from``, and an ``actions`` history given by the caller), through a T-learner
(:class:`rox.actions.uplift.TLearner`) on features known at the time of each past action, then
applied to the same features today. Where the past is too thin (fewer than
``min_cases_per_arm`` actions or holdouts, or fewer than ``min_responses_per_arm`` responses in
either), the action's stated ``prior_uplift`` is used, and the row says so
(``uplift_source = "policy prior"``). Customers with an open or in-progress case get no action
(their case owner is on it); each customer gets at most one action per run, and only one with a
positive expected value.

The features (:data:`FEATURES`), for a past action at its time and for today, computed in the
engine: revenue before the time (``spend``), purchases before it, days since the last purchase,
and support contacts and complaints in the 365 days before it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from rox._time import utc_timestamp
from rox.actions.cases import ACTIVE, case_table
from rox.actions.holdout import HOLDOUT, OUTREACH
from rox.actions.outcomes import data_end, purchases_after
from rox.actions.policy import Action, Policy
from rox.actions.uplift import TLearner
from rox.errors import ActionError
from rox.impact.profile import profile
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["FEATURES", "NextBestActions", "features", "features_at", "next_best_actions"]

#: The features the uplift models see, in order.
FEATURES: tuple[str, ...] = ("spend", "purchases", "days_since_purchase", "contacts")
#: The experience profile's columns (:func:`rox.impact.profile`) the policy can use.
SCORED: tuple[str, ...] = ("nps_group", "clv", "p_alive")
#: Event steps counted as contacts (support calls and complaints).
CONTACT_STEPS: tuple[str, ...] = ("support_call", "complaint")
#: Days since a purchase for customers who never bought (a large, finite number for the models).
_NEVER = 10_000.0
PRIOR = "policy prior"
#: One timestamp type for past actions from the cases and from a history frame.
_MICROSECONDS = "timestamp('UTC', 6)"
#: The columns of the export, in order.
COLUMNS: tuple[str, ...] = (
    "customer_id",
    "action",
    "expected_value",
    "uplift",
    "uplift_source",
    "value_gained",
    "cost",
    "channel",
    "detail",
)


@dataclass(frozen=True, eq=False)
class NextBestActions(Result):
    """One action per customer, best expected value first (see the module).

    Attributes
    ----------
    frame : pandas.DataFrame
        :data:`COLUMNS`: ``customer_id``, ``action``, ``expected_value`` (brand's currency),
        ``uplift`` (in probability), ``uplift_source`` (``T-learner`` or ``policy prior``),
        ``value_gained``, ``cost``, ``channel``, ``detail``.
    estimates : pandas.DataFrame
        Per action: ``action``, ``source``, ``n_acted``, ``n_held_out``, ``responses_acted``,
        ``responses_held_out``, ``mean_uplift`` (over today's eligible customers), ``dr_uplift``
        and ``dr_se`` (doubly-robust average uplift on the past, when estimated), ``eligible``,
        ``chosen``, ``why`` (in words).
    as_of : pandas.Timestamp
    """

    estimates: pd.DataFrame | None = None
    as_of: pd.Timestamp | None = None

    def __str__(self) -> str:
        lines = [f"{len(self.frame):,} customers get an action (as of {self.as_of:%Y-%m-%d})"]
        if self.estimates is not None:
            lines += [f"  {r.action}: {r.why}" for r in self.estimates.itertuples(index=False)]
        return "\n".join(lines)


def features(
    ws: Workspace, anchors: ir.Table, contact_steps: Sequence[str] = CONTACT_STEPS
) -> ir.Table:
    """:data:`FEATURES` of each anchor (columns ``key``, ``customer_id``, ``at``), in the engine.

    Everything is counted strictly before ``at``.
    """
    t = ws.table("transactions")
    tx = t.select(tx_customer=t.customer_id, tx_ts=t.ts, amount=t.amount)
    tj = anchors.left_join(tx, [anchors.customer_id == tx.tx_customer, tx.tx_ts < anchors.at])
    bought = tj.group_by("key").aggregate(
        spend=tj.amount.sum(), purchases=tj.amount.count(), last_ts=tj.tx_ts.max()
    )
    e = ws.table("events")
    e = e.filter(e.step.isin(list(contact_steps)))
    year = ibis.interval(days=365)
    ev = e.select(e_customer=e.customer_id, e_ts=e.ts)
    ej = anchors.join(
        ev,
        [
            anchors.customer_id == ev.e_customer,
            ev.e_ts < anchors.at,
            ev.e_ts >= anchors.at - year,
        ],
    )
    contacts = ej.group_by("key").aggregate(contacts=ej.count())
    out = anchors.left_join(bought, "key").left_join(contacts, "key")
    return out.select("key", "customer_id", "at", **_finished(out, out.at))


def features_at(
    ws: Workspace,
    customers: ir.Table,
    at: pd.Timestamp,
    contact_steps: Sequence[str] = CONTACT_STEPS,
) -> ir.Table:
    """``customers`` (a table with ``customer_id``) with their :data:`FEATURES` at one time.

    The values of :func:`features` with every anchor at ``at``; grouped once per customer (no
    join of each customer with their history), so ``customers`` is read once.
    """
    when = ibis.literal(at.to_pydatetime())
    t = ws.table("transactions")
    t = t.filter(t.ts < when)
    bought = t.group_by(_b=t.customer_id).aggregate(
        spend=t.amount.sum(), purchases=t.amount.count(), last_ts=t.ts.max()
    )
    e = ws.table("events")
    e = e.filter(e.step.isin(list(contact_steps)) & (e.ts < when))
    e = e.filter(e.ts >= when - ibis.interval(days=365))
    contacts = e.group_by(_e=e.customer_id).aggregate(contacts=e.count())
    out = customers.left_join(bought, customers.customer_id == bought._b)
    out = out.left_join(contacts, out.customer_id == contacts._e)
    return out.select(*customers.columns, **_finished(out, when))


def _finished(out: ir.Table, at: ir.TimestampValue) -> dict[str, ir.Value]:
    """The :data:`FEATURES` from the sums of the customer's history before ``at``."""
    days = (at.epoch_seconds() - out.last_ts.epoch_seconds()) / 86_400.0
    return {
        "spend": out.spend.fill_null(0.0),
        "purchases": out.purchases.fill_null(0).cast("float64"),
        "days_since_purchase": days.fill_null(_NEVER).cast("float64"),
        "contacts": out.contacts.fill_null(0).cast("float64"),
    }


def _history(ws: Workspace, policy: Policy, actions: pd.DataFrame | None) -> ir.Table | None:
    """Past actions with a holdout: ``key``, ``customer_id``, ``at``, ``action``, ``treated``."""
    parts = []
    learn = {t: a.name for a in policy.actions for t in a.learn_from}
    if learn and ws.count("cases"):
        c = case_table(ws)
        c = c.filter(c.arm.isin([OUTREACH, HOLDOUT]) & c.trigger.isin(list(learn)))
        mapping = ibis.cases(*((c.trigger == t, a) for t, a in learn.items()))
        parts.append(
            c.select(
                key=ibis.literal("case:") + c.case_id,
                customer_id=c.customer_id,
                at=c.opened_at.cast(_MICROSECONDS),
                action=mapping,
                treated=c.arm == OUTREACH,
            )
        )
    if actions is not None and len(actions):
        past = ibis.memtable(_actions_frame(actions))
        parts.append(past.mutate(at=past.at.cast(_MICROSECONDS)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ibis.union(*parts)


def _actions_frame(actions: pd.DataFrame) -> pd.DataFrame:
    need = {"customer_id", "action", "at", "arm"}
    missing = need - set(actions.columns)
    if missing:
        raise ActionError(
            f"the actions history lacks columns {sorted(missing)}: it needs customer_id, action, "
            "at (when, UTC) and arm ('outreach' or 'holdout')"
        )
    arms = set(actions["arm"].dropna().unique())
    if not arms <= {OUTREACH, HOLDOUT}:
        raise ActionError(f"arm must be 'outreach' or 'holdout', found {sorted(arms)}")
    frame = pd.DataFrame(
        {
            "key": "action:" + pd.Series(range(len(actions)), dtype=str).to_numpy(),
            "customer_id": actions["customer_id"].astype(str).to_numpy(),
            "at": pd.to_datetime(actions["at"], utc=True).to_numpy(),
            "action": actions["action"].astype(str).to_numpy(),
            "treated": (actions["arm"] == OUTREACH).to_numpy(),
        }
    )
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def _eligible(action: Action, t: ir.Table, prefix: str) -> ir.BooleanValue:
    """The engine predicate of ``action``'s eligibility on the scoring table ``t``."""
    cond: ir.BooleanValue = ibis.literal(True)
    rules = action.eligible
    col = {
        "spend": t.spend,
        "clv": t.clv,
        "p_alive": t.p_alive,
        "purchases": t.purchases,
        "days_since_purchase": t.days_since_purchase,
    }
    for key, value in rules.items():
        if key == "nps_group":
            cond &= t.nps_group.isin(list(value))
        elif key.startswith(("min_", "max_")) and key[4:] in col:
            c = col[key[4:]]
            cond &= (c >= value) if key.startswith("min_") else (c <= value)
        elif key == "bought":
            cond &= t[f"{prefix}{action.name}_days"].notnull()
            floor = rules.get("min_days_since_product")
            if floor is not None:
                cond &= t[f"{prefix}{action.name}_days"] >= floor
        elif key == "cross_sell" and value:
            cond &= t.cross_sell.notnull()
    return cond.fill_null(False)


def _cross_sell(ws: Workspace) -> tuple[ir.Table, pd.DataFrame]:
    """Each customer's best missing product by co-purchase, and the rules (``a``, ``b``, ...)."""
    t = ws.table("transactions")
    owned = t.filter(t["product"].notnull()).select("customer_id", "product").distinct()
    n_a = owned.group_by("product").aggregate(n_a=owned.count())
    o2 = owned.view()
    pairs = owned.join(o2, [owned.customer_id == o2.customer_id, owned["product"] != o2["product"]])
    pairs = pairs.select(a=owned["product"], b=o2["product"])
    counts = pairs.group_by(["a", "b"]).aggregate(n_ab=pairs.count())
    rules = counts.join(n_a, counts.a == n_a["product"]).select(
        "a", "b", confidence=counts.n_ab / n_a.n_a
    )
    price = t.group_by(b=t["product"]).aggregate(price=t.amount.mean())
    rules_frame = rules.join(price, "b").execute()
    r = ibis.memtable(rules_frame)
    cand = owned.join(r, owned["product"] == r.a).select(
        "customer_id", "a", "b", "confidence", "price"
    )
    have = owned.select(h_customer=owned.customer_id, h_product=owned["product"])
    cand = cand.anti_join(have, [cand.customer_id == have.h_customer, cand.b == have.h_product])
    best = cand.group_by("customer_id").aggregate(
        cross_sell=cand.b.argmax(cand.confidence),
        cross_sell_from=cand.a.argmax(cand.confidence),
        cross_sell_confidence=cand.confidence.max(),
        cross_sell_price=cand.price.argmax(cand.confidence),
    )
    return best, rules_frame


def next_best_actions(
    ws: Workspace,
    policy: Policy | str | os.PathLike[str] | None = None,
    *,
    actions: pd.DataFrame | None = None,
    as_of: Any = None,
    top: int | None = None,
    value: str = "clv",
    doubly_robust: bool = False,
) -> NextBestActions:
    """The next best action of every customer (see the module).

    Parameters
    ----------
    ws : Workspace
    policy : Policy, path or TOML text, optional
        The actions (default :data:`rox.actions.policy.DEFAULT_POLICY`).
    actions : pandas.DataFrame, optional
        Past actions besides the cases: ``customer_id``, ``action``, ``at`` (UTC), ``arm``
        (``outreach`` or ``holdout``). They teach the uplift of the action they name, and set
        its cooldown.
    as_of : date-like, optional
        Today (default: the latest transaction or response).
    top : int, optional
        Keep the ``top`` customers by expected value.
    value : {'clv', 'revenue'}
        How customers are valued (:func:`rox.impact.profile`).
    doubly_robust : bool, default False
        Also estimate each learned action's average uplift by cross-fitted AIPW.

    Returns
    -------
    NextBestActions

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> nba = rox.actions.next_best_actions(ws, value="revenue")
    >>> nba.to_frame().customer_id.is_unique
    True
    """
    config = Policy.load(policy)
    end = utc_timestamp(as_of, "as_of") or data_end(ws)
    end_py = end.to_pydatetime()
    # only the profile's columns NBA uses: no journeys, friction or contacts are built
    prof = profile(ws, value=value, columns=SCORED).table
    scoring = features_at(ws, prof.select("customer_id", *SCORED), end)
    scoring = scoring.mutate(order=scoring.spend / ibis.greatest(scoring.purchases, 1.0))
    # products named by `bought`
    t = ws.table("transactions")
    for a in config.actions:
        product = a.eligible.get("bought")
        if product is not None:
            last = t.filter((t["product"] == product) & (t.ts < end_py))
            last = last.group_by(_c=last.customer_id).aggregate(_last=last.ts.max())
            days = (ibis.literal(end_py).epoch_seconds() - last._last.epoch_seconds()) / 86_400.0
            last = last.select("_c", **{f"_p_{a.name}_days": days})
            scoring = scoring.left_join(last, scoring.customer_id == last._c).drop("_c")
    rules_frame = None
    if any(a.eligible.get("cross_sell") for a in config.actions):
        best, rules_frame = _cross_sell(ws)
        scoring = scoring.left_join(best, "customer_id")
        scoring = scoring.drop(*[c for c in scoring.columns if c.endswith("_right")])
    # no action for customers whose case is being worked on
    c = case_table(ws)
    busy = c.filter(c.status.isin(ACTIVE)).select("customer_id").distinct()
    scoring = scoring.anti_join(busy, "customer_id")
    flags = {f"_e_{a.name}": _eligible(a, scoring, "_p_") for a in config.actions}
    scoring = scoring.mutate(**flags)
    any_flag = ibis.literal(False)
    for f in flags:
        any_flag |= scoring[f]
    scoring = scoring.filter(any_flag)
    # cooldowns: the last outreach of each action to each customer
    history = _history(ws, config, actions)
    if history is not None:
        done = history.filter(history.treated & (history.at <= end_py))
        last = done.group_by(["customer_id", "action"]).aggregate(last_at=done.at.max())
        for a in config.actions:
            mine = last.filter(last.action == a.name)
            mine = mine.select(_cc=mine.customer_id, **{f"_last_{a.name}": mine.last_at})
            scoring = scoring.left_join(mine, scoring.customer_id == mine._cc).drop("_cc")
    frame = scoring.execute()
    estimates = []
    options = []
    past = _past(ws, history, config) if history is not None else None
    for a in config.actions:
        eligible = frame[f"_e_{a.name}"].fillna(False).to_numpy(bool)
        last_col = f"_last_{a.name}"
        if last_col in frame:
            last_at = pd.to_datetime(frame[last_col], utc=True)
            cooling = (last_at > end - pd.Timedelta(days=a.cooldown_days)).fillna(False)
            eligible &= ~cooling.to_numpy(bool)
        rows = frame[eligible]
        uplift, source, info = _uplift(a, rows, past, config, doubly_robust)
        gained = _value_gained(a, rows)
        ev = uplift * gained - a.cost
        options.append(
            pd.DataFrame(
                {
                    "customer_id": rows["customer_id"].to_numpy(),
                    "action": a.name,
                    "expected_value": ev,
                    "uplift": uplift,
                    "uplift_source": source,
                    "value_gained": gained,
                    "cost": float(a.cost),
                    "channel": a.channel,
                    "detail": _detail(a, rows),
                }
            )
        )
        info.update(action=a.name, eligible=int(eligible.sum()))
        info["mean_uplift"] = float(np.mean(uplift)) if len(rows) else float("nan")
        estimates.append(info)
    every = pd.concat(options, ignore_index=True) if options else pd.DataFrame(columns=COLUMNS)
    every = every[every["expected_value"] > 0]
    every = every.sort_values(["expected_value", "customer_id"], ascending=[False, True])
    chosen = every.drop_duplicates("customer_id").reset_index(drop=True)
    if top is not None:
        chosen = chosen.head(top)
    est = pd.DataFrame(estimates)
    est["chosen"] = est["action"].map(chosen["action"].value_counts()).fillna(0).astype("int64")
    order = [
        "action", "source", "eligible", "chosen", "mean_uplift", "n_acted", "n_held_out",
        "responses_acted", "responses_held_out", "dr_uplift", "dr_se", "why",
    ]  # fmt: skip
    del rules_frame
    return NextBestActions(
        frame=chosen.reindex(columns=list(COLUMNS)), estimates=est.reindex(columns=order), as_of=end
    )


def _past(ws: Workspace, history: ir.Table, config: Policy) -> pd.DataFrame:
    """Past actions with their features and response (a purchase within the horizon)."""
    feats = features(ws, history.select("key", "customer_id", "at"))
    bought = purchases_after(ws, history.select("key", "customer_id", "at"), config.horizon_days)
    end = data_end(ws).to_pydatetime()
    horizon = ibis.interval(seconds=round(config.horizon_days * 86_400))
    h = history.filter(history.at + horizon <= end)  # outcomes complete
    out = h.select("key", "action", "treated").join(feats.drop("customer_id", "at"), "key")
    out = out.left_join(bought, "key")
    out = out.mutate(responded=out.purchases_after.fill_null(0) > 0)
    out = out.drop(*[c for c in out.columns if c.endswith("_right")]).order_by("key")
    return out.execute()


def _uplift(
    action: Action,
    rows: pd.DataFrame,
    past: pd.DataFrame | None,
    config: Policy,
    doubly_robust: bool,
) -> tuple[np.ndarray, str, dict[str, Any]]:
    """The uplift of ``action`` for ``rows``, where it came from, and what the past held."""
    info: dict[str, Any] = {
        "source": PRIOR,
        "n_acted": 0,
        "n_held_out": 0,
        "responses_acted": 0,
        "responses_held_out": 0,
        "dr_uplift": float("nan"),
        "dr_se": float("nan"),
    }
    prior = np.full(len(rows), float(action.prior_uplift))
    mine = past[past["action"] == action.name] if past is not None else pd.DataFrame()
    if mine.empty:
        info["why"] = (
            f"no past {action.name} with a holdout: the policy's prior uplift "
            f"{action.prior_uplift:.1%} is used"
        )
        return prior, PRIOR, info
    t = mine["treated"].to_numpy(bool)
    y = mine["responded"].to_numpy(bool)
    info.update(
        n_acted=int(t.sum()),
        n_held_out=int((~t).sum()),
        responses_acted=int(y[t].sum()),
        responses_held_out=int(y[~t].sum()),
    )
    thin = [
        f"{n:,} {what}"
        for n, what, floor in (
            (info["n_acted"], "actions", config.min_cases_per_arm),
            (info["n_held_out"], "holdouts", config.min_cases_per_arm),
            (info["responses_acted"], "responses after an action", config.min_responses_per_arm),
            (info["responses_held_out"], "responses in the holdout", config.min_responses_per_arm),
            (
                info["n_acted"] - info["responses_acted"],
                "non-responses after an action",
                config.min_responses_per_arm,
            ),
            (
                info["n_held_out"] - info["responses_held_out"],
                "non-responses in the holdout",
                config.min_responses_per_arm,
            ),
        )
        if n < floor
    ]
    if thin:
        info["why"] = (
            f"the past cannot support an uplift estimate (only {', '.join(thin)}; at least "
            f"{config.min_cases_per_arm} of each arm and {config.min_responses_per_arm} "
            f"responses and non-responses each are needed): the policy's prior uplift "
            f"{action.prior_uplift:.1%} is used"
        )
        return prior, PRIOR, info
    x = mine[list(FEATURES)].to_numpy(float)
    model = TLearner().fit(x, t, y)
    tau = model.predict(rows[list(FEATURES)].to_numpy(float)) if len(rows) else np.zeros(0)
    source = f"T-learner ({info['n_acted']:,} acted, {info['n_held_out']:,} held out)"
    info["source"] = "T-learner"
    info["why"] = f"uplift estimated by a {source} on past {action.name}s"
    if doubly_robust:
        ate, se = model.doubly_robust(x, t, y)
        info.update(dr_uplift=ate, dr_se=se)
        info["why"] += f"; doubly-robust average uplift {ate:+.1%} (SE {se:.1%})"
    return tau, "T-learner", info


def _value_gained(action: Action, rows: pd.DataFrame) -> np.ndarray:
    if not isinstance(action.value, str):
        return np.full(len(rows), float(action.value))
    column = {"clv": "clv", "order": "order", "cross_sell": "cross_sell_price"}[action.value]
    gained: np.ndarray = rows[column].fillna(0.0).to_numpy(float)
    return gained


def _detail(action: Action, rows: pd.DataFrame) -> Any:
    if action.eligible.get("cross_sell"):
        return [
            f"{b} ({c:.0%} of {a} buyers buy it)"
            for a, b, c in zip(
                rows["cross_sell_from"], rows["cross_sell"], rows["cross_sell_confidence"],
                strict=True,
            )
        ]  # fmt: skip
    return action.description
