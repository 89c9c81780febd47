"""The demo brand's past closed loop: recovery calls with a planted uplift and a planted holdout.

From month 6 to month 30 of the window, every detractor answer (NPS 0-6) and every low CSAT
(1-2) opened a case (the first such answer of each customer), as the default case rules of
:mod:`rox.actions.case_rules` would: the same case ids (``detractor-<response_id>``,
``low_csat-<response_id>``), and the holdout drawn by :func:`rox.actions.holdout.assign_arms`
with the loop's seed, a share :attr:`DemoEffects.outreach_holdout` of the cases left without a
call. The brand as simulated is what happens without outreach. A call then changes it only for
the planted responders, high-value customers (revenue before the trigger at least
:attr:`DemoEffects.responder_value`, i.e. owners of a vehicle) whose low score signalled
friction: one who would not have bought again within 180 days is saved with probability
:attr:`DemoEffects.save_p`, which adds a service visit 14-150 days after the call, and answers
the follow-up survey (sent to a share :attr:`DemoEffects.follow_up_rate` of every case, held
out or not) as a promoter. Nothing changes for anyone else: those who buy again anyway (sure
things) and those who leave anyway (lost causes).

Everything here draws from the chunk's own stream ``(seed, chunk, 17017)``, so the rest of the
brand is the same with or without the loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rox.actions.case_rules import CaseRules
from rox.actions.holdout import HOLDOUT, assign_arms
from rox.demo._effects import DemoEffects

__all__ = ["OUTREACH_STREAM", "outreach"]

#: The third part of the seed of each chunk's outreach stream.
OUTREACH_STREAM = 17017
#: The demo's agents and their mean hours to a first action (the last one is slow).
_AGENTS = {"ana": 10.0, "ben": 20.0, "chloe": 30.0, "dev": 60.0}
_RESOLUTIONS = ("resolved", "unreachable", "declined")
_DAY = pd.Timedelta(days=1)
#: Follow-up NPS scores (0..10) of a customer not saved: mostly passive or still detractor.
_FOLLOW_UP_P = np.array([0.02, 0.02, 0.04, 0.06, 0.10, 0.14, 0.17, 0.20, 0.15, 0.06, 0.04])


def outreach(
    rng: np.random.Generator,
    frames: dict[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    eff: DemoEffects,
) -> dict[str, pd.DataFrame]:
    """The chunk's past cases and what the calls changed (see the module docstring).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``cases`` (the cases), ``transactions`` and ``responses`` (the rows the loop adds,
        with the chunk's columns).
    """
    r, tx = frames["responses"], frames["transactions"]
    lo, hi = start + pd.DateOffset(months=6), start + pd.DateOffset(months=30)
    low = ((r["metric"] == "nps") & (r["score"] <= 6)) | (
        (r["metric"] == "csat") & (r["score"] <= 2)
    )
    d = r[low & (r["ts"] >= lo) & (r["ts"] < hi)].sort_values(["ts", "response_id"])
    d = d.drop_duplicates("customer_id").reset_index(drop=True)
    rule = np.where(d["metric"] == "nps", "detractor", "low_csat")
    case_id = pd.Series(rule, dtype=object) + "-" + d["response_id"].astype(object)
    t = pd.to_datetime(d["ts"], utc=True)

    pairs = d[["response_id", "customer_id", "ts"]].merge(
        tx[["customer_id", "ts", "amount"]].rename(columns={"ts": "tx_ts"}), on="customer_id"
    )
    before = pairs[pairs["tx_ts"] < pairs["ts"]].groupby("response_id")["amount"].sum()
    value = d["response_id"].map(before).fillna(0.0).to_numpy(float)
    window = (pairs["tx_ts"] > pairs["ts"]) & (pairs["tx_ts"] <= pairs["ts"] + 180 * _DAY)
    again = d["response_id"].isin(pairs.loc[window, "response_id"]).to_numpy()

    n = len(d)
    arm = np.array(assign_arms(case_id, eff.outreach_holdout, CaseRules.load().seed))
    called = arm != HOLDOUT
    responder = value >= eff.responder_value
    saved = called & responder & ~again & (rng.random(n) < eff.save_p)
    # the service visit of a saved customer, inside the window
    visit = (t + pd.to_timedelta(rng.uniform(14, 150, n), unit="D")).dt.floor("s")
    saved &= (visit < end).to_numpy()

    config = CaseRules.load()
    agent = rng.choice(list(_AGENTS), size=n)
    first = (t + pd.to_timedelta(rng.exponential(1.0, n) * agent_hours(agent), unit="h")).dt.floor(
        "s"
    )
    closed = (first + pd.to_timedelta(rng.exponential(24.0, n), unit="h")).dt.floor("s")
    due = t + pd.Timedelta(hours=48) * np.where(rule == "detractor", 1.0, 1.5)
    resolution = np.where(saved, "resolved", rng.choice(_RESOLUTIONS, size=n, p=(0.45, 0.35, 0.2)))
    breached = (closed > due).to_numpy()
    priority = np.array([config.priority(v) for v in value])
    cases = pd.DataFrame(
        {
            "case_id": case_id,
            "customer_id": d["customer_id"].astype(object),
            "opened_at": t,
            "status": np.where(called, "closed", HOLDOUT),
            "response_id": d["response_id"].astype(object),
            "owner": pd.Series(agent, dtype=object).where(called),
            "due_at": due,
            "closed_at": closed.where(called),
            "resolution": pd.Series(resolution, dtype=object).where(called),
            "team": config.team,
            "priority": np.where(called & breached, np.maximum(priority - 1, 1), priority),
            "trigger": rule,
            "trigger_id": d["response_id"].astype(object),
            "touchpoint": d["touchpoint"].astype(object),
            "value": value,
            "arm": arm,
            "first_action_at": first.where(called),
            "escalation": np.where(called & breached, 1, 0),
            "updated_at": closed.where(called, t),
        }
    )

    service = tx.loc[tx["product"] == "service", "amount"].to_numpy(float)
    amounts = rng.choice(service, size=n) if len(service) else np.full(n, 320.0)
    extra_tx = pd.DataFrame(
        {
            "customer_id": d["customer_id"],
            "ts": visit,
            "amount": amounts,
            "order_id": d["customer_id"].astype(str) + "-x1",
            "channel": "dealer",
            "product": "service",
            "quantity": 1.0,
        }
    )[saved]

    asked = rng.random(n) < eff.follow_up_rate
    answer_t = (t + pd.to_timedelta(rng.uniform(30, 90, n), unit="D")).dt.floor("s")
    asked &= (answer_t < end).to_numpy()
    score = np.where(
        saved, rng.choice([9.0, 10.0], size=n), rng.choice(11, size=n, p=_FOLLOW_UP_P)
    ).astype(float)
    columns = list(r.columns)
    follow = pd.DataFrame(
        {
            "ts": answer_t,
            "metric": "nps",
            "score": score,
            "response_id": d["customer_id"].astype(str) + "-f1",
            "customer_id": d["customer_id"],
            "scale": "0-10",
            "touchpoint": "relationship",
            "channel": "email",
            "comment": None,
            "language": "en",
            "weight": 1.0,
            "segment": d.get("segment"),
        }
    )[asked]
    return {
        "cases": cases,
        "transactions": extra_tx.astype(tx.dtypes.to_dict()).reindex(columns=list(tx.columns)),
        "responses": follow.reindex(columns=columns).astype(r.dtypes.to_dict()),
    }


def agent_hours(agent: np.ndarray) -> np.ndarray:
    """Mean hours to a first action of each agent in ``agent``."""
    return np.array([_AGENTS[a] for a in agent])
