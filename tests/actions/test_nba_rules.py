"""The next best action's rules, each on both sides of its boundary, by hand (#22).

The rules (:mod:`rox.actions.nba`), with today ``T = 2024-06-30``:

- the features count strictly before ``T``: a purchase at ``T`` is not in ``spend`` or
  ``purchases``; ``days_since_purchase`` is ``(T - last purchase)`` in days, 10,000 for a
  customer who never bought; contacts are support calls and complaints in ``[T - 365 d, T)``
  (one at ``T - 365 d`` counts, a second earlier or at ``T`` does not, nor another step);
- ``min_spend`` / ``max_spend`` are inclusive: a spend equal to the bound is eligible;
- a cooldown holds while the last outreach is later than ``T - cooldown_days``: one exactly
  ``cooldown_days`` ago no longer blocks, one a second later does; an outreach after ``T`` or a
  holdout sets no cooldown;
- an action is chosen only with an expected value ``uplift x value - cost`` above zero (zero is
  not chosen); ``order`` is ``spend / max(purchases, 1)``;
- the past supports a T-learner when each arm has at least ``min_cases_per_arm`` actions and at
  least ``min_responses_per_arm`` responses and non-responses (equal to the floor is enough).

Customers (all NPS detractors, answer 3 at ``T - 5 d``):

====  ===============================================  ========================================
id    purchases                                        contacts
====  ===============================================  ========================================
a     p1: 100 at T - 10 d, 50 at T (not before T)      call at T - 365 d, complaint at T - 1 s;
                                                       not: call at T - 365 d - 1 s, complaint
                                                       at T, a 'visit' at T - 1 d
b     p1: 200 at T - 4 d; p3: 100 at T - 2 d           none
c     none                                             none
d, e  none                                             none
====  ===============================================  ========================================

So spend (a, b, c) = (100, 300, 0), purchases (1, 2, 0), days since purchase (10, 2, 10,000),
contacts (2, 0, 0), order (100, 150, 0). Days since the last p1 before T: a 10 (not 0: the one at
T is not before it), b 4; since the last p3: b 2.

Cross-sell by co-purchase: p1 is bought by a and b, p3 by b alone, so p1 -> p3 has confidence
1/2 and p3 -> p1 1/1; a (p1 only) is offered p3 at its mean price 100 "(50% of p1 buyers buy
it)"; b owns both, so gets no offer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ibis
import pandas as pd
import pytest

import rox
from rox.actions.nba import FEATURES, features, features_at, next_best_actions
from rox.errors import ActionError
from rox.testing import insert_rows

T = pd.Timestamp("2024-06-30", tz="UTC")
D = pd.Timedelta(days=1)
S = pd.Timedelta(seconds=1)
IDS = ["a", "b", "c", "d", "e"]
EXPECTED = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "spend": [100.0, 300.0, 0.0],
        "purchases": [1.0, 2.0, 0.0],
        "days_since_purchase": [10.0, 2.0, 10_000.0],
        "contacts": [2.0, 0.0, 0.0],
    }
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nba_rules") / "w.duckdb"
    with rox.open(path) as ws:
        insert_rows(
            ws,
            "transactions",
            pd.DataFrame(
                {
                    "customer_id": ["a", "a", "b", "b"],
                    "ts": [T - 10 * D, T, T - 4 * D, T - 2 * D],
                    "amount": [100.0, 50.0, 200.0, 100.0],
                    "product": ["p1", "p1", "p1", "p3"],
                }
            ),
        )
        insert_rows(
            ws,
            "events",
            pd.DataFrame(
                {
                    "customer_id": ["a"] * 5,
                    "ts": [T - 365 * D, T - S, T - 365 * D - S, T, T - D],
                    "step": ["support_call", "complaint", "support_call", "complaint", "visit"],
                }
            ),
        )
        insert_rows(
            ws,
            "responses",
            pd.DataFrame(
                {
                    "response_id": [f"r{i}" for i in range(len(IDS))],
                    "customer_id": IDS,
                    "ts": [T - 5 * D] * len(IDS),
                    "metric": "nps",
                    "score": 3.0,
                    "scale": "0-10",
                }
            ),
        )
    return path


@pytest.fixture
def ws(built: Path) -> Iterator[rox.Workspace]:
    with rox.open(built, read_only=True) as workspace:
        yield workspace


def _policy(*actions: str, nba: str = "") -> str:
    return f"[nba]\n{nba}\n" + "".join(actions)


def _action(name: str, cost: float, value: float, prior: float, extra: str = "") -> str:
    return (
        f"[[action]]\nname = '{name}'\ncost = {cost}\ncooldown_days = 30\nvalue = {value}\n"
        f"prior_uplift = {prior}\n{extra}[action.eligible]\nnps_group = ['detractor']\n"
    )


def test_the_features_count_strictly_before_today_and_contacts_in_the_last_365_days(ws):
    ids = ibis.memtable(pd.DataFrame({"customer_id": ["a", "b", "c"]}))
    once = features_at(ws, ids, T).execute().sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(once[["customer_id", *FEATURES]], EXPECTED)
    anchors = ids.select("customer_id", key=ids.customer_id, at=ibis.literal(T.to_pydatetime()))
    each = features(ws, anchors).execute().sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(each[["customer_id", *FEATURES]], EXPECTED)


def test_min_and_max_spend_are_inclusive(ws):
    def eligible(rule: str) -> int:
        policy = _policy(_action("x", 1, 100, 0.5) + rule + "\n")
        est = next_best_actions(ws, policy, as_of=T, value="revenue").estimates
        return int(est.set_index("action").loc["x", "eligible"])

    assert eligible("min_spend = 300.0") == 1  # b (300)
    assert eligible("min_spend = 300.01") == 0
    assert eligible("max_spend = 100.0") == 4  # a (100); c, d, e (0); not b (300)
    assert eligible("max_spend = 99.99") == 3  # c, d, e


def test_a_cooldown_ends_exactly_cooldown_days_after_the_last_outreach(ws):
    history = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "action": "x",
            "at": [T - 30 * D, T - 30 * D + S, T - D, T, T + S],
            "arm": ["outreach", "outreach", "holdout", "outreach", "outreach"],
        }
    )
    result = next_best_actions(
        ws, _policy(_action("x", 10, 100, 0.5)), actions=history, as_of=T, value="revenue"
    )
    # a: 30 days ago, over; b: a second later, cooling; c: a holdout; d: at T, cooling;
    # e: after T, not counted
    assert sorted(result.frame["customer_id"]) == ["a", "c", "e"]
    assert result.frame["expected_value"].tolist() == [40.0, 40.0, 40.0]  # 0.5 x 100 - 10


def test_an_expected_value_of_zero_is_not_chosen_and_one_above_is(ws):
    zero = next_best_actions(ws, _policy(_action("x", 50, 100, 0.5)), as_of=T, value="revenue")
    assert zero.frame.empty  # 0.5 x 100 - 50 = 0
    assert int(zero.estimates.set_index("action").loc["x", "eligible"]) == 5
    one = next_best_actions(ws, _policy(_action("x", 49, 100, 0.5)), as_of=T, value="revenue")
    assert sorted(one.frame["customer_id"]) == IDS and (one.frame["expected_value"] == 1.0).all()
    est = one.estimates.set_index("action").loc["x"]
    assert est["chosen"] == 5 and est["source"] == "policy prior"
    # no past: no counts, no doubly-robust estimate
    assert (est["n_acted"], est["n_held_out"]) == (0, 0)
    assert (est["responses_acted"], est["responses_held_out"]) == (0, 0)
    assert pd.isna(est["dr_uplift"]) and pd.isna(est["dr_se"])
    assert str(one) == (
        "5 customers get an action (as of 2024-06-30)\n"
        "  x: no past x with a holdout: the policy's prior uplift 50.0% is used"
    )


def test_today_defaults_to_the_latest_transaction_or_response(ws):
    result = next_best_actions(ws, _policy(_action("x", 49, 100, 0.5)), value="revenue")
    assert result.as_of == T  # a's purchase at T is the latest


def test_the_order_value_is_spend_over_purchases_and_the_best_action_wins(ws):
    # 'order' gains spend / max(purchases, 1): a 100, b 150, c-e 0; uplift 0.5, cost 10:
    # EV a 40, b 65 (the flat 'y' gives 0.2 x 250 - 1 = 49 to everyone)
    order = _action("x", 10, 1, 0.5).replace("value = 1\n", "value = 'order'\n")
    result = next_best_actions(
        ws, _policy(order, _action("y", 1, 250, 0.2)), as_of=T, value="revenue"
    )
    frame = result.frame.set_index("customer_id")
    assert frame.loc["b", "action"] == "x" and frame.loc["b", "expected_value"] == 65.0
    assert frame.loc["b", "value_gained"] == 150.0
    assert (frame.drop(index="b")["action"] == "y").all()
    assert result.frame["customer_id"].iloc[0] == "b"  # best expected value first
    top = next_best_actions(
        ws, _policy(order, _action("y", 1, 250, 0.2)), as_of=T, value="revenue", top=2
    )
    assert list(top.frame["customer_id"]) == ["b", "a"]  # 65, then 49 by customer id
    alone = next_best_actions(ws, _policy(order), as_of=T, value="revenue").frame
    # a: 100 / max(1, 1) x 0.5 - 10 = 40; b: 300 / 2 x 0.5 - 10 = 65; c-e: 0 - 10 (not chosen)
    assert dict(zip(alone["customer_id"], alone["expected_value"], strict=True)) == {
        "b": 65.0,
        "a": 40.0,
    }


PAST = pd.DataFrame(
    {  # at T - 12 d, horizon 12 d: a purchase in (T - 12 d, T] responds; the outcomes are
        # complete (T - 12 d + 12 d = T, the data's end); c's second at T - 1 d is not
        "customer_id": ["a", "c", "d", "b", "e", "c"],
        "action": "learn",
        "at": [T - 12 * D] * 5 + [T - D],
        "arm": ["outreach", "outreach", "outreach", "holdout", "holdout", "outreach"],
    }
)


def _source(ws: rox.Workspace, cases: int, responses: int) -> str:
    nba = f"horizon_days = 12\nmin_cases_per_arm = {cases}\nmin_responses_per_arm = {responses}\n"
    policy = _policy(_action("learn", 1, 100, 0.5), nba=nba)
    result = next_best_actions(ws, policy, actions=PAST, as_of=T, value="revenue")
    est = result.estimates.set_index("action").loc["learn"]
    # acted: a (bought at T - 10 d and T: one response), c, d (never); held out: b (bought at
    # T - 4 d), e (never)
    assert (est["n_acted"], est["n_held_out"]) == (3, 2)
    assert (est["responses_acted"], est["responses_held_out"]) == (1, 1)
    assert pd.isna(est["dr_uplift"])  # not asked for
    return str(est["source"])


def test_the_past_is_enough_at_the_floors_and_thin_one_below(ws):
    assert _source(ws, cases=2, responses=1) == "T-learner"
    assert _source(ws, cases=3, responses=1) == "policy prior"  # 2 held out
    assert _source(ws, cases=2, responses=2) == "policy prior"


def test_bought_counts_days_since_the_product_before_today_inclusive_of_the_floor(ws):
    def bought(product: str, floor: str = "") -> str:
        return _action("x", 1, 100, 0.5) + f"bought = '{product}'\n{floor}"

    spent_nothing = _action("y", 2, 100, 0.5) + "max_spend = 0.0\n"
    # x: a (p1 10 days ago) and b (4 days ago) at a floor of 4 days, EV 0.5 x 100 - 1 = 49;
    # y: c, d, e (spent 0), EV 48: one action each, both kept
    result = next_best_actions(
        ws, _policy(bought("p1", "min_days_since_product = 4.0\n"), spent_nothing), as_of=T,
        value="revenue",
    )  # fmt: skip
    got = dict(zip(result.frame["customer_id"], result.frame["action"], strict=True))
    assert got == {"a": "x", "b": "x", "c": "y", "d": "y", "e": "y"}
    result = next_best_actions(
        ws, _policy(bought("p1", "min_days_since_product = 4.01\n")), as_of=T, value="revenue"
    )
    assert list(result.frame["customer_id"]) == ["a"]
    result = next_best_actions(ws, _policy(bought("p3")), as_of=T, value="revenue")
    assert list(result.frame["customer_id"]) == ["b"]


def test_cross_sell_offers_the_missing_product_by_co_purchase_confidence(ws):
    action = _action("x", 1, 1, 0.5).replace("value = 1\n", "value = 'cross_sell'\n")
    result = next_best_actions(
        ws, _policy(action + "cross_sell = true\n"), as_of=T, value="revenue"
    )
    frame = result.frame
    assert list(frame["customer_id"]) == ["a"]
    assert frame["detail"].tolist() == ["p3 (50% of p1 buyers buy it)"]
    assert frame["value_gained"].tolist() == [100.0]
    assert frame["expected_value"].tolist() == [49.0]  # 0.5 x 100 - 1
    # only a has an offer: b, c, d, e are not eligible (not merely of no value)
    assert int(result.estimates.set_index("action").loc["x", "eligible"]) == 1


def test_an_arm_other_than_outreach_or_holdout_is_refused(ws):
    history = PAST.assign(arm="control")
    with pytest.raises(
        ActionError, match=r"arm must be 'outreach' or 'holdout', found \['control'\]"
    ):
        next_best_actions(ws, _policy(_action("learn", 1, 100, 0.5)), actions=history, as_of=T)


def test_history_times_given_as_text_with_offsets_are_read_in_utc(ws):
    # a: 02:00 at +02:00 is T - 30 d exactly (the cooldown is over); b: 23:00:01 at -01:00 the
    # day before is T - 30 d + 1 s (still cooling)
    history = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "action": "x",
            "at": ["2024-05-31T02:00:00+02:00", "2024-05-30T23:00:01-01:00"],
            "arm": "outreach",
        }
    )
    result = next_best_actions(
        ws, _policy(_action("x", 10, 100, 0.5)), actions=history, as_of=T, value="revenue"
    )
    assert sorted(result.frame["customer_id"]) == ["a", "c", "d", "e"]
