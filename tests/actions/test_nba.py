"""Next best action: uplift ranking on planted responders, priors, cooldowns, one action each (#17).

A planted past: 360 detractors of three kinds got a recovery case on 2023-06-01, half of them
held out at random (this test's own draw). Responders (revenue 30,000 before the case) buy again
within 180 days with probability 0.8 when called and 0.1 when not; sure things (5,000) buy with
probability 0.9 either way; lost causes (500) with 0.05 either way, the highest risk of all.
Everyone is a detractor again in June 2024; today is 2024-06-30.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox.actions import Policy, TLearner, next_best_actions
from rox.errors import ActionError, NotFittedError
from rox.testing import insert_rows

N = 120  # customers of each kind
KINDS = {
    "responder": (30_000.0, 0.8, 0.1),
    "sure": (5_000.0, 0.9, 0.9),
    "lost": (500.0, 0.05, 0.05),
}
CASE_AT = pd.Timestamp("2023-06-01", tz="UTC")
TODAY = pd.Timestamp("2024-06-30", tz="UTC")

POLICY = """
[nba]
min_cases_per_arm = 50
min_responses_per_arm = 10

[[action]]
name = "recovery_call"
cost = 10
cooldown_days = 30
value = 1000
prior_uplift = 0.05
learn_from = ["detractor"]
[action.eligible]
nps_group = ["detractor"]
"""


def _kind(customer_id: str) -> str:
    return customer_id.split("-", maxsplit=1)[0]


def _people() -> pd.DataFrame:
    """The planted customers: id, revenue before the case, called (or held out), bought again."""
    rng = np.random.default_rng(2026)
    rows = []
    for kind, (spend, p_called, p_held) in KINDS.items():
        for i in range(N):
            called = rng.random() < 0.5
            bought = rng.random() < (p_called if called else p_held)
            rows.append((f"{kind}-{i:03d}", spend, called, bought))
    people = pd.DataFrame(rows, columns=["customer_id", "spend", "called", "bought"])
    # (opened in a random order: no feature may tell the kinds apart but their revenue)
    return people.assign(order=rng.permutation(len(people)))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> str:
    people = _people()
    opened = CASE_AT + pd.to_timedelta(people["order"], unit="min")
    path = tmp_path_factory.mktemp("nba") / "planted.duckdb"
    with rox.open(path) as ws:
        after = people[people["bought"]]
        insert_rows(
            ws,
            "transactions",
            pd.DataFrame(
                {
                    "customer_id": [*people["customer_id"], *after["customer_id"], "zz"],
                    "ts": [
                        *([pd.Timestamp("2023-01-15", tz="UTC")] * len(people)),
                        *([CASE_AT + pd.Timedelta(days=30)] * len(after)),
                        TODAY,
                    ],
                    "amount": [*people["spend"], *([200.0] * len(after)), 1.0],
                }
            ),
        )
        insert_rows(
            ws,
            "responses",
            pd.DataFrame(
                {
                    "ts": [*opened, *([pd.Timestamp("2024-06-01", tz="UTC")] * len(people))],
                    "metric": "nps",
                    "score": 3.0,
                    "response_id": [f"r{i}" for i in range(2 * len(people))],
                    "customer_id": [*people["customer_id"], *people["customer_id"]],
                    "scale": "0-10",
                }
            ),
        )
        insert_rows(
            ws,
            "cases",
            pd.DataFrame(
                {
                    "case_id": [f"detractor-r{i}" for i in range(len(people))],
                    "customer_id": people["customer_id"],
                    "opened_at": opened,
                    "status": np.where(people["called"], "closed", "holdout"),
                    "arm": np.where(people["called"], "outreach", "holdout"),
                    "trigger": "detractor",
                    "response_id": [f"r{i}" for i in range(len(people))],
                }
            ),
        )
    return str(path)


@pytest.fixture
def ws(planted):
    with rox.open(planted, read_only=True) as workspace:
        yield workspace


def test_uplift_ranks_planted_responders_first_and_sure_things_and_lost_causes_last(ws):
    result = next_best_actions(ws, POLICY, value="revenue", doubly_robust=True)
    frame = result.frame.assign(kind=lambda f: f["customer_id"].map(_kind))
    est = result.estimates.set_index("action").loc["recovery_call"]
    assert est["source"] == "T-learner" and est["n_acted"] + est["n_held_out"] == 3 * N
    assert frame["uplift_source"].str.startswith("T-learner").all()
    # the responders' planted uplift is 0.8 - 0.1 = 0.7 (0.85 in this draw: 56 called, 64 not),
    # the others' 0 (-0.01 and 0.02 in this draw)
    people = _people().assign(kind=lambda f: f["customer_id"].map(_kind))
    drawn = people.groupby(["kind", "called"])["bought"].mean().unstack()
    drawn = drawn[True] - drawn[False]
    assert drawn["responder"] == pytest.approx(0.7, abs=3 * (0.8 * 0.2 / 56 + 0.09 / 64) ** 0.5)
    mean = frame.groupby("kind")["uplift"].mean()
    for kind in KINDS:
        assert mean[kind] == pytest.approx(drawn[kind], abs=0.1), kind
    # ranked by expected value = uplift x 1,000 - 10: the responders first
    first = frame.head(N)["kind"]
    assert (first == "responder").mean() >= 0.95
    # every responder gets the call (EV about 690); lost causes, the highest risk, are not first
    assert set(frame.loc[frame["kind"] == "responder", "customer_id"]) == {
        f"responder-{i:03d}" for i in range(N)
    }
    by_uplift = frame.sort_values("uplift")
    assert (by_uplift.head(2 * N)["kind"] != "responder").mean() >= 0.95
    # the doubly-robust average uplift: planted (0.7 + 0 + 0) / 3
    assert abs(est["dr_uplift"] - 0.7 / 3) < 3 * est["dr_se"]


def test_thin_past_falls_back_to_the_labelled_prior(ws):
    policy = POLICY.replace("min_cases_per_arm = 50", "min_cases_per_arm = 500")
    result = next_best_actions(ws, policy, value="revenue")
    est = result.estimates.set_index("action").loc["recovery_call"]
    assert est["source"] == "policy prior"
    assert "cannot support an uplift estimate" in est["why"] and "500" in est["why"]
    assert (result.frame["uplift"] == 0.05).all()
    assert (result.frame["uplift_source"] == "policy prior").all()
    assert result.frame["expected_value"].eq(0.05 * 1000 - 10).all()


def test_cooldowns_open_cases_and_one_action_per_customer(tmp_path, planted):
    import shutil

    path = tmp_path / "copy.duckdb"
    shutil.copy(planted, path)
    policy = (
        POLICY
        + """
[[action]]
name = "thank_you"
cost = 1
cooldown_days = 10
value = 1000
prior_uplift = 0.1
[action.eligible]
nps_group = ["detractor"]
"""
    )
    history = pd.DataFrame(
        {
            "customer_id": ["responder-000", "responder-001", "sure-000"],
            "action": ["recovery_call", "recovery_call", "thank_you"],
            "at": [TODAY - pd.Timedelta(days=10), TODAY - pd.Timedelta(days=60), TODAY],
            "arm": ["outreach", "outreach", "outreach"],
        }
    )
    with rox.open(path) as ws:
        insert_rows(
            ws,
            "cases",
            pd.DataFrame(
                {
                    "case_id": ["late-1", "late-2"],
                    "customer_id": ["lost-005", "responder-007"],
                    "opened_at": [TODAY - pd.Timedelta(days=2)] * 2,
                    "status": ["open", "in_progress"],
                }
            ),
        )
        busy = set(rox.actions.list_cases(ws, status="active").frame["customer_id"])
        result = next_best_actions(ws, policy, actions=history, value="revenue")
    frame = result.frame.set_index("customer_id")
    assert frame.index.is_unique  # one action per customer
    assert busy == {"lost-005", "responder-007"}
    assert not busy & set(frame.index)  # a case being worked on: no action
    assert frame.loc["responder-000", "action"] == "thank_you"  # the call is cooling down
    assert frame.loc["responder-001", "action"] == "recovery_call"  # 60 days > 30
    assert "sure-000" not in frame.index or frame.loc["sure-000", "action"] != "thank_you"
    # for the lost causes the call is worth 1,000 x ~0 - 10 < the thank-you's 100 - 1; for the
    # responders 1,000 x ~0.85 - 10
    kinds = frame.index.map(_kind)
    assert (frame.loc[kinds == "lost", "action"] == "thank_you").mean() > 0.8
    assert (frame.loc[kinds == "responder", "action"] == "recovery_call").mean() > 0.8
    assert (frame["expected_value"] > 0).all()


def test_policy_errors_name_what_is_wrong():
    cases = {
        "[[action]]\nname = 'a'\ncost = 1\ncooldown_days = 1\n": "missing",
        "[[action]]\nname='a'\ncost=1\ncooldown_days=1\nprior_uplift=2\n": "in \\[-1, 1\\]",
        "[[action]]\nname='a'\ncost=-1\ncooldown_days=1\nprior_uplift=0\n": "not be negative",
        "[[action]]\nname='a'\ncost=1\ncooldown_days=1\nprior_uplift=0\nvalue='x'\n": "value",
        "[[action]]\nname='a'\ncost=1\ncooldown_days=1\nprior_uplift=0\n[action.eligible]\n"
        "age = 3\n": "unknown eligibility 'age'",
        "[[action]]\nname='a'\ncost=1\ncooldown_days=1\nprior_uplift=0\n[action.eligible]\n"
        "min_spend = 'lots'\n": "must be a float",
        "[[action]]\nname='a'\ncost=1\ncooldown_days=1\nprior_uplift=0\n[action.eligible]\n"
        "min_days_since_product = 3\n": "needs bought",
        "[nba]\nspeed = 1\n": "unknown \\[nba\\]",
    }
    for toml, message in cases.items():
        with pytest.raises(ActionError, match=message):
            Policy.load(toml + "\n")


def test_history_file_needs_its_columns(ws):
    with pytest.raises(ActionError, match="lacks columns"):
        next_best_actions(ws, POLICY, actions=pd.DataFrame({"customer_id": ["a"]}), value="revenue")


def test_t_learner_contract():
    with pytest.raises(NotFittedError):
        TLearner().predict(np.zeros((1, 4)))
    x = np.zeros((40, 1))
    with pytest.raises(ActionError, match="both responses and non-responses"):
        TLearner().fit(x, np.arange(40) % 2 == 0, np.ones(40))
    learner = TLearner(max_depth=2)
    assert learner.max_depth == 2 and not hasattr(learner, "treated_model_")


@pytest.mark.slow
def test_the_columns_nba_builds_give_the_actions_of_the_whole_profile(demo, monkeypatch):
    """NBA builds only the profile's NPS group, CLV and P(alive): the same as the whole profile."""
    import rox.actions.nba as nba_module

    built = next_best_actions(demo)
    whole = rox.impact.profile
    assert len(built.frame) > 0 and (built.estimates["source"] == "T-learner").any()

    def every_column(ws, *, value, columns):
        assert set(columns) == {"nps_group", "clv", "p_alive"}
        return whole(ws, value=value)

    monkeypatch.setattr(nba_module, "profile", every_column)
    before = next_best_actions(demo)
    pd.testing.assert_frame_equal(built.frame, before.frame)
    pd.testing.assert_frame_equal(built.estimates, before.estimates)


def test_features_at_one_time_are_those_of_anchors_at_that_time(demo):
    import ibis

    from rox.actions.nba import FEATURES, features, features_at

    ids = demo.table("customers").select("customer_id")
    for at in (pd.Timestamp("2025-06-30 12:00", tz="UTC"), pd.Timestamp("2030-01-01", tz="UTC")):
        anchors = ids.select(
            "customer_id", key=ids.customer_id, at=ibis.literal(at.to_pydatetime())
        )
        each = features(demo, anchors).execute().sort_values("customer_id", ignore_index=True)
        once = features_at(demo, ids, at).execute().sort_values("customer_id", ignore_index=True)
        assert list(once.columns) == ["customer_id", *FEATURES]
        pd.testing.assert_frame_equal(once, each[["customer_id", *FEATURES]], rtol=1e-12)
        assert (once["purchases"] > 0).any()
        if at.year == 2025:
            assert (once["contacts"] > 0).any() and (once["days_since_purchase"] < 10_000).any()
