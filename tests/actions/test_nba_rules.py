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
- ``nps_group`` keeps only the groups it names (a customer with no answer is in none of them); a
  rule on a value the customer lacks (no P(alive)) is not met; co-purchase pairs are two products
  bought by the same customer; the case log teaches an action only through the cases of the
  triggers it ``learn_from``, in the outreach or holdout arm (a case without an arm does not), and
  an action that learns from no trigger is not taught by it (second workspace, below).

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
from rox.impact import profile
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
    assert int(zero.estimates.set_index("action").loc["x", "chosen"]) == 0  # eligible, not chosen
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


def test_a_past_enough_to_learn_from_and_no_one_eligible_today_chooses_no_one(ws):
    # the T-learner is fitted (the floors met as above), but min_spend 1,000 is met by no one
    nba = "horizon_days = 12\nmin_cases_per_arm = 2\nmin_responses_per_arm = 1\n"
    policy = _policy(_action("learn", 1, 100, 0.5) + "min_spend = 1000.0\n", nba=nba)
    result = next_best_actions(ws, policy, actions=PAST, as_of=T, value="revenue")
    est = result.estimates.set_index("action").loc["learn"]
    assert (est["source"], est["eligible"], est["chosen"]) == ("T-learner", 0, 0)
    assert pd.isna(est["mean_uplift"]) and result.frame.empty


def test_the_past_counts_responses_in_each_arm_and_says_which_are_too_few(ws):
    # at T - 12 d, horizon 12 d: a acted on (bought at T - 10 d: a response); c and d held out
    # (never bought: no response). So acted 1 with 1 response, held out 2 with 0 responses;
    # at floors of 1, the holdout's responses and the acted's non-responses are too few
    history = pd.DataFrame(
        {
            "customer_id": ["a", "c", "d"],
            "action": "learn",
            "at": [T - 12 * D] * 3,
            "arm": ["outreach", "holdout", "holdout"],
        }
    )
    nba = "horizon_days = 12\nmin_cases_per_arm = 1\nmin_responses_per_arm = 1\n"
    policy = _policy(_action("learn", 1, 100, 0.5), nba=nba)
    result = next_best_actions(ws, policy, actions=history, as_of=T, value="revenue")
    est = result.estimates.set_index("action").loc["learn"]
    assert (est["n_acted"], est["n_held_out"]) == (1, 2)
    assert (est["responses_acted"], est["responses_held_out"]) == (1, 0)
    assert est["source"] == "policy prior"
    assert est["why"] == (
        "the past cannot support an uplift estimate (only 0 responses in the holdout, "
        "0 non-responses after an action; at least 1 of each arm and 1 responses and "
        "non-responses each are needed): the policy's prior uplift 50.0% is used"
    )
    # acted a (responds) and c (not); held out b (bought at T - 4 d: responds): only the
    # holdout's non-responses (1 - 1 = 0) are too few
    history = history.assign(customer_id=["a", "c", "b"], arm=["outreach", "outreach", "holdout"])
    result = next_best_actions(ws, policy, actions=history, as_of=T, value="revenue")
    est = result.estimates.set_index("action").loc["learn"]
    assert (est["n_acted"], est["n_held_out"]) == (2, 1)
    assert (est["responses_acted"], est["responses_held_out"]) == (1, 1)
    assert est["why"] == (
        "the past cannot support an uplift estimate (only 0 non-responses in the holdout; at "
        "least 1 of each arm and 1 responses and non-responses each are needed): the policy's "
        "prior uplift 50.0% is used"
    )


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


# A second hand-built workspace for the rules the first cannot show (all of its customers are
# detractors, none lacks an NPS answer, its co-purchase pairs are the same across customers as
# within them, and it has no case log). Today is T again (h's purchase at T is the latest):
#
# ====  ==================================  ==============  =====================================
# id    purchases                           NPS answer      case (all closed, opened T - 12 d)
# ====  ==================================  ==============  =====================================
# f     p1: 100 at T - 20 d; p2: 80 at T-19  9 (promoter)    detractor, outreach
# g     p3: 60 at T - 18 d                  3 (detractor)   detractor, holdout
# h     p1: 40 at T - 17 d, 10 at T (none)  3 (detractor)   detractor, no arm (opened by hand)
# k     30 at T - 16 d, no product          none            low_csat, outreach
# ====  ==================================  ==============  =====================================
#
# Co-purchase within a customer: only f owns two products, so p1 -> p2 has confidence 1/2 (p1
# bought by f and h, p2 by f) and p2 -> p1 1/1; h (p1) is offered p2 at its mean price 80; f
# owns both; g's p3 was never bought with anything, so g gets no offer.


@pytest.fixture(scope="module")
def built_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nba_rules_other") / "w.duckdb"
    with rox.open(path) as ws:
        insert_rows(
            ws,
            "transactions",
            pd.DataFrame(
                {
                    "customer_id": ["f", "f", "g", "h", "h", "k"],
                    "ts": [T - 20 * D, T - 19 * D, T - 18 * D, T - 17 * D, T, T - 16 * D],
                    "amount": [100.0, 80.0, 60.0, 40.0, 10.0, 30.0],
                    "product": ["p1", "p2", "p3", "p1", "p1", None],
                }
            ),
        )
        insert_rows(
            ws,
            "responses",
            pd.DataFrame(
                {
                    "response_id": ["rf", "rg", "rh"],
                    "customer_id": ["f", "g", "h"],
                    "ts": [T - 5 * D] * 3,
                    "metric": "nps",
                    "score": [9.0, 3.0, 3.0],
                    "scale": "0-10",
                }
            ),
        )
        insert_rows(
            ws,
            "cases",
            pd.DataFrame(
                {
                    "case_id": ["cf", "cg", "ch", "ck"],
                    "customer_id": ["f", "g", "h", "k"],
                    "opened_at": [T - 12 * D] * 4,
                    "status": "closed",
                    "trigger": ["detractor", "detractor", "detractor", "low_csat"],
                    "arm": ["outreach", "holdout", None, "outreach"],
                }
            ),
        )
    return path


@pytest.fixture
def other(built_other: Path) -> Iterator[rox.Workspace]:
    with rox.open(built_other, read_only=True) as workspace:
        yield workspace


def _eligible_ids(ws: rox.Workspace, action: str) -> list[str]:
    result = next_best_actions(ws, _policy(action), as_of=T, value="revenue")
    return sorted(result.frame["customer_id"])


def test_the_nps_group_rule_keeps_only_its_groups_and_no_answer_is_in_none(other):
    # uplift 0.5 x 100 - 1 = 49 > 0 for every eligible customer, so the chosen are the eligible
    detractors = _action("x", 1, 100, 0.5)
    assert _eligible_ids(other, detractors) == ["g", "h"]  # not f (promoter), not k (no answer)
    promoters = detractors.replace("['detractor']", "['promoter']")
    assert _eligible_ids(other, promoters) == ["f"]
    # without an eligibility rule every customer is eligible, k too
    assert _eligible_ids(other, detractors.replace("nps_group = ['detractor']\n", "")) == [
        "f", "g", "h", "k",
    ]  # fmt: skip


def test_cross_sell_pairs_products_bought_by_the_same_customer_only(other):
    action = _action("x", 1, 1, 0.5).replace("value = 1\n", "value = 'cross_sell'\n")
    action = action.replace("nps_group = ['detractor']\n", "cross_sell = true\n")
    result = next_best_actions(other, _policy(action), as_of=T, value="revenue")
    assert list(result.frame["customer_id"]) == ["h"]
    assert result.frame["detail"].tolist() == ["p2 (50% of p1 buyers buy it)"]
    assert result.frame["expected_value"].tolist() == [39.0]  # 0.5 x 80 - 1
    # g (p3, never bought with another product) has no offer: not eligible
    assert int(result.estimates.set_index("action").loc["x", "eligible"]) == 1


def test_cases_teach_only_the_actions_that_learn_from_their_trigger_with_an_arm(other):
    # the outcomes are complete (T - 12 d + 12 d = T); no one responds (h's purchase at T would
    # have), so the past is thin and the counts are what the estimates report
    nba = "horizon_days = 12\nmin_cases_per_arm = 1\nmin_responses_per_arm = 1\n"
    learns = _action("x", 1, 100, 0.5, "learn_from = ['detractor']\n")
    est = (
        next_best_actions(other, _policy(learns, nba=nba), as_of=T, value="revenue")
        .estimates.set_index("action")
        .loc["x"]
    )
    # f's outreach and g's holdout; not h's case (no arm) nor k's (low_csat is not learned from)
    assert (est["n_acted"], est["n_held_out"]) == (1, 1)
    assert (est["responses_acted"], est["responses_held_out"]) == (0, 0)
    # an action that learns from no trigger is not taught by the case log
    est = (
        next_best_actions(
            other, _policy(_action("x", 1, 100, 0.5), nba=nba), as_of=T, value="revenue"
        )
        .estimates.set_index("action")
        .loc["x"]
    )
    assert (est["n_acted"], est["n_held_out"], est["source"]) == (0, 0, "policy prior")


def test_a_rule_on_an_unknown_value_is_not_met(ws):
    # five customers are too few to fit the purchase model: the profile has no P(alive) for any
    # of them; a rule that reads it is not met (unknown is not a pass), so no one is eligible
    p_alive = profile(ws, value="revenue", columns=("p_alive",)).table.execute()["p_alive"]
    assert len(p_alive) == 5 and p_alive.isna().all()
    for rule in ("min_p_alive = 0.0\n", "max_p_alive = 1.0\n"):
        policy = _policy(_action("x", 1, 100, 0.5) + rule)
        est = next_best_actions(ws, policy, as_of=T, value="revenue").estimates
        assert int(est.set_index("action").loc["x", "eligible"]) == 0
