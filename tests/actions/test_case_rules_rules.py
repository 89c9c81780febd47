"""The case rules' settings and their pure rules on both sides of each boundary, by hand (#22).

The rules (:mod:`rox.actions.case_rules`): a rule has exactly one kind (``metric``, ``steps`` or
``sentiment_below``); ``sentiment_below`` lies in (-1, 1] (-1 refused: nothing is below it; 1
allowed); ``sla_hours`` is positive (0 refused); the holdout share lies in [0, 1);
``priority_values`` are descending (equal values allowed); a customer whose revenue is **at or
above** the k-th value has priority k (else one more than their count); settings not given take
the documented defaults; an SLA is the due time minus the opening when positive, else the rule's
``sla_hours`` (48 h for a trigger without a rule).

On a workspace: a score trigger is an answer at or below ``max_score`` on the metric's default
scale (or none), of a known customer; the value is the revenue strictly before the trigger, at
least ``min_value``; the window is ``since <= t < until``; an earlier case lives from its opening
to its closing (both ends inside), an active one for ever, a held-out one until its due time (its
opening when it has none); one case per customer, the earliest trigger (ties by id); a breached
case (due strictly before now) stands at level ``min(1 + floor(overdue / SLA), max)``, each level
passing it to the owner's lead (the team's when it has no owner), a case escalated before climbing
only the levels it lacks. A comment rule's window is ``since <= t < until`` too, and a comment too
short to detect its language is scored in the language its row gives.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from rox.actions.case_rules import (
    CaseRule,
    CaseRules,
    Escalations,
    OpenedCases,
    _sla_hours,
    case_writes,
    complete_cases,
    escalate_breached,
    new_cases,
    triggers,
)
from rox.errors import ActionError
from rox.testing import insert_rows

DETRACTOR = CaseRule(name="detractor", metric="nps", max_score=6)


def _rules(**kw: Any) -> CaseRules:
    return CaseRules(rules=(DETRACTOR,), **kw)


def test_a_rule_has_exactly_one_kind():
    assert CaseRule(name="a", metric="csat", max_score=2).metric == "csat"
    assert CaseRule(name="a", steps=("pay",)).steps == ("pay",)
    assert CaseRule(name="a", sentiment_below=-0.5).sentiment_below == -0.5
    for kw in ({}, {"metric": "nps", "max_score": 6, "steps": ("pay",)}):
        with pytest.raises(ActionError, match="one of them"):
            CaseRule(name="a", **kw)
    with pytest.raises(ActionError, match="one of them"):
        CaseRule(name="a", metric="nps", max_score=6, steps=("p",), sentiment_below=0.0)


def test_a_rule_name_uses_letters_digits_and_underscores_only():
    assert CaseRule(name="low_csat_2", steps=("p",)).name == "low_csat_2"
    for name in ("", "low-csat", "low csat"):
        with pytest.raises(ActionError, match="letters, digits and _ only"):
            CaseRule(name=name, steps=("p",))


def test_sentiment_below_lies_in_minus_one_exclusive_to_one_inclusive():
    for s in (-0.999, 0.0, 1.0):
        assert CaseRule(name="a", sentiment_below=s).sentiment_below == s
    for s in (-1.0, 1.001, -2.0):
        with pytest.raises(ActionError, match=r"is not in \(-1, 1\]"):
            CaseRule(name="a", sentiment_below=s)


def test_a_metric_rule_names_a_known_metric_and_its_highest_score():
    for metric in ("nps", "csat", "ces"):
        assert CaseRule(name="a", metric=metric, max_score=1).metric == metric
    with pytest.raises(ActionError, match="metric 'sat' is not one of nps, csat, ces"):
        CaseRule(name="a", metric="sat", max_score=1)
    with pytest.raises(ActionError, match="needs max_score for nps"):
        CaseRule(name="a", metric="nps")


def test_the_sla_is_positive():
    assert CaseRule(name="a", steps=("p",), sla_hours=0.01).sla_hours == 0.01
    for hours in (0.0, -1.0):
        with pytest.raises(ActionError, match="sla_hours must be positive"):
            CaseRule(name="a", steps=("p",), sla_hours=hours)


def test_the_holdout_share_lies_in_zero_inclusive_to_one_exclusive():
    for share in (0.0, 0.5, 0.999):
        assert _rules(holdout=share).holdout == share
    for share in (1.0, -0.01, 1.5):
        with pytest.raises(ActionError, match=r"holdout must be a share in \[0, 1\)"):
            _rules(holdout=share)


def test_priority_values_descend_and_rules_are_unique():
    assert _rules(priority_values=(10.0, 10.0, 1.0)).priority_values == (10.0, 10.0, 1.0)
    with pytest.raises(ActionError, match="descending order"):
        _rules(priority_values=(1.0, 10.0))
    with pytest.raises(ActionError, match="hold no"):
        CaseRules(rules=())
    with pytest.raises(ActionError, match="names must be unique"):
        CaseRules(rules=(DETRACTOR, DETRACTOR))


def test_the_priority_is_the_first_value_reached_at_or_above():
    rules = _rules()  # 5000, 1500, 300
    expected = {
        1e6: 1, 5000.0: 1, 4999.99: 2, 1500.0: 2, 1499.99: 3, 300.0: 3, 299.99: 4, 0.0: 4,
    }  # fmt: skip
    assert {v: rules.priority(v) for v in expected} == expected
    one = _rules(priority_values=(10.0,))
    assert (one.priority(10.0), one.priority(9.0)) == (1, 2)
    none = _rules(priority_values=())
    assert none.priority(1e9) == 1


def test_settings_not_given_take_the_documented_defaults():
    rules = CaseRules.from_dict({"rule": [{"name": "d", "metric": "nps", "max_score": 6}]})
    assert rules.holdout == 0.10
    assert rules.seed == 17
    assert rules.team == "cx-recovery"
    assert rules.priority_values == (5000.0, 1500.0, 300.0)
    assert dict(rules.leads) == {}
    assert rules.max_escalations == 2
    (rule,) = rules.rules
    assert (rule.min_value, rule.sla_hours, rule.team, rule.steps) == (0.0, 48.0, None, ())


def test_settings_given_are_read():
    rules = CaseRules.from_dict(
        {
            "loop": {
                "holdout": 0.2,
                "seed": 3,
                "team": "care",
                "priority_values": [100, 10],
                "leads": {"care": "boss"},
                "max_escalations": 5,
            },
            "rule": [{"name": "f", "steps": ["pay", "ship"], "min_value": 50, "sla_hours": 6}],
        }
    )
    assert (rules.holdout, rules.seed, rules.team, rules.max_escalations) == (0.2, 3, "care", 5)
    assert rules.priority_values == (100.0, 10.0) and dict(rules.leads) == {"care": "boss"}
    assert rules.rules[0].steps == ("pay", "ship")


def test_the_default_rules_and_a_rules_object_as_is():
    default = CaseRules.load(None)
    assert [r.name for r in default.rules] == ["detractor", "low_csat"]
    assert (default.rule("low_csat").metric, default.rule("low_csat").max_score) == ("csat", 2)
    assert default.rule("detractor").sla_hours == 48
    assert dict(default.leads) == {"cx-recovery": "cx-lead", "cx-lead": "head-of-cx"}
    assert CaseRules.load(default) is default
    with pytest.raises(ActionError, match=r"no case rule 'x'; the rules are \['detractor', 'low"):
        default.rule("x")


def test_the_sla_is_the_due_time_minus_the_opening_else_the_rules():
    rules = CaseRules(rules=(DETRACTOR, CaseRule(name="slow", steps=("p",), sla_hours=72)))
    t = pd.Timestamp("2024-01-01", tz="UTC")
    assert _sla_hours(rules, "slow", t, t + pd.Timedelta(hours=5)) == 5.0
    assert _sla_hours(rules, "slow", t, t + pd.Timedelta(seconds=36)) == 0.01
    assert _sla_hours(rules, "slow", t, t) == 72.0  # not positive: the rule's
    assert _sla_hours(rules, "slow", t, t - pd.Timedelta(hours=1)) == 72.0
    assert _sla_hours(rules, "gone", t, t) == 48.0  # no such rule: 48 h


def _found() -> pd.DataFrame:
    t = pd.Timestamp("2024-01-01 08:00", tz="UTC")
    return pd.DataFrame(
        {
            "case_id": ["detractor-r1", "slow-j1:p"],
            "customer_id": ["c1", "c2"],
            "opened_at": [t, t + pd.Timedelta(hours=1)],
            "response_id": ["r1", None],
            "trigger": ["detractor", "slow"],
            "trigger_id": ["r1", "j1:p"],
            "touchpoint": ["shop", "p"],
            "sla_hours": [48.0, 1.5],
            "min_value": [0.0, 0.0],
            "value": [1500.0, 299.0],
        }
    )


def test_new_cases_get_their_arm_priority_team_and_due_time():
    rules = CaseRules(
        rules=(DETRACTOR, CaseRule(name="slow", steps=("p",), sla_hours=1.5, team="ops")),
        holdout=0.0,
        team="care",
    )
    when = pd.Timestamp("2024-02-01", tz="UTC")
    frame = complete_cases(_found(), rules, when)
    assert list(frame["arm"]) == ["outreach", "outreach"]
    assert list(frame["status"]) == ["open", "open"]
    assert list(frame["priority"]) == [2, 4]
    assert list(frame["team"]) == ["care", "ops"]
    assert list(frame["due_at"]) == [
        pd.Timestamp("2024-01-03 08:00", tz="UTC"),
        pd.Timestamp("2024-01-01 10:30", tz="UTC"),
    ]
    assert list(frame["escalation"]) == [0, 0]
    assert (frame["updated_at"] == when).all()
    held = complete_cases(_found(), CaseRules(rules=rules.rules, holdout=0.999999), when)
    assert list(held["status"]) == ["holdout", "holdout"]
    writes = case_writes(held, when)
    log = writes["rox_case_events"].to_pandas()
    assert list(log["move"]) == ["hold out", "hold out"]
    assert list(log["to_status"]) == ["holdout", "holdout"]
    assert list(log["detail"]) == ["detractor", "slow"]
    opened = case_writes(frame, when)["rox_case_events"].to_pandas()
    assert list(opened["move"]) == ["open", "open"]
    assert writes["cases"].num_rows == 2


@pytest.mark.parametrize("holdout", [0.0, 0.5])
def test_cases_completed_in_the_engine_are_those_completed_in_python(holdout):
    """completed_cases (the service's, on DuckDB) against complete_cases, column by column:
    values at and just below each priority value, two rules with a team each or the loop's,
    an SLA that is no whole number of seconds, a holdout drawn by the engine (or none)."""
    import ibis

    from rox.actions.case_rules import completed_cases, give_holdout_draw

    rules = CaseRules(
        rules=(CaseRule(name="detractor", metric="nps", max_score=6, sla_hours=1.2345678),
               CaseRule(name="low_csat", metric="csat", max_score=2, sla_hours=72, team="ops")),
        holdout=holdout, seed=5, team="care", priority_values=(900.0, 400.0, 100.0),
    )  # fmt: skip
    values = [0.0, 99.99, 100.0, 399.5, 400.0, 899.0, 900.0, 1e6, 50.0, 100.0, 400.0, 901.0]
    t = pd.Timestamp("2024-01-01 08:00:00.123456", tz="UTC")
    found = pd.DataFrame(
        {
            "case_id": [f"{'detractor' if i % 3 else 'low_csat'}-r{i}" for i in range(12)],
            "customer_id": [f"c{i}" for i in range(12)],
            "opened_at": [t + pd.Timedelta(minutes=37 * i) for i in range(12)],
            "response_id": [f"r{i}" for i in range(12)],
            "trigger": ["detractor" if i % 3 else "low_csat" for i in range(12)],
            "trigger_id": [f"r{i}" for i in range(12)],
            "touchpoint": ["shop", None] * 6,
            "sla_hours": [1.2345678 if i % 3 else 72.0 for i in range(12)],
            "min_value": [0.0] * 12,
            "value": values,
        }
    )
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    give_holdout_draw(con.con)
    result = con.execute(completed_cases(ibis.memtable(found), rules)).sort_values("case_id")
    expected = complete_cases(found, rules, pd.Timestamp("2024-02-01", tz="UTC"))
    expected = expected.sort_values("case_id")
    for column in ("arm", "status", "priority", "team", "escalation"):
        assert list(result[column]) == list(expected[column]), column
    assert list(result["due_at"]) == list(expected["due_at"])
    assert set(result["arm"]) == ({"outreach"} if holdout == 0 else {"outreach", "holdout"})
    levels = [4, 4, 3, 3, 2, 2, 1, 1, 4, 3, 2, 1]  # (at or above 900, 400, 100)
    assert dict(zip(result["customer_id"], result["priority"], strict=True)) == {
        f"c{i}": level for i, level in enumerate(levels)
    }


def test_no_new_cases_give_an_empty_frame_with_the_columns():
    empty = complete_cases(_found().iloc[:0], _rules(), pd.Timestamp("2024-02-01", tz="UTC"))
    assert empty.empty
    assert {"arm", "status", "priority", "team", "due_at", "updated_at"} <= set(empty.columns)


def test_the_results_say_what_they_hold():
    frame = pd.DataFrame({"arm": ["outreach", "holdout", "outreach"]})
    assert str(OpenedCases(frame=frame, holdout_share=0.1)) == (
        "3 cases opened (1 held out without outreach, configured share 10%)"
    )
    empty = OpenedCases(frame=pd.DataFrame(), holdout_share=0.25)
    assert str(empty) == "0 cases opened (0 held out without outreach, configured share 25%)"
    big = pd.DataFrame({"arm": ["holdout"] * 1200})
    assert str(OpenedCases(frame=big, holdout_share=1 / 3)).startswith("1,200 cases opened (1,200")
    escalated = Escalations(frame=pd.DataFrame({"case_id": ["a"] * 1001}))
    assert str(escalated) == "1,001 cases escalated"


# -- on a workspace: the triggers, the lives of earlier cases, the escalations -------------------
T0 = pd.Timestamp("2024-05-01 08:00", tz="UTC")
H = pd.Timedelta(hours=1)
S = pd.Timedelta(seconds=1)
NAT = pd.NaT
SCORE_RULES = CaseRules(rules=(CaseRule(name="d", metric="nps", max_score=6, min_value=100.0),))


def _responses(
    ws: Any, rows: list[tuple[str, str | None, pd.Timestamp, float, str | None]]
) -> None:
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": [r[0] for r in rows],
                "customer_id": [r[1] for r in rows],
                "ts": [r[2] for r in rows],
                "metric": ["nps"] * len(rows),
                "score": [r[3] for r in rows],
                "scale": [r[4] for r in rows],
            }
        ),
    )


def _purchases(ws: Any, rows: list[tuple[str, pd.Timestamp, float]]) -> None:
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "ts": [r[1] for r in rows],
                "amount": [r[2] for r in rows],
            }
        ),
    )


def test_a_score_trigger_is_at_or_below_the_highest_score_on_the_default_scale(ws):
    # every customer spent 100 before T0 (the rule's min_value, reached)
    _purchases(ws, [(c, T0 - H, 100.0) for c in ("a", "b", "c", "d")])
    _responses(
        ws,
        [
            ("q1", "a", T0, 6.0, "0-10"),  # 6 <= 6: opens
            ("q2", "b", T0, 7.0, "0-10"),  # 7: not
            ("q3", "c", T0, 0.0, None),  # no scale: read as the default, opens
            ("q4", None, T0, 0.0, "0-10"),  # no customer: nobody to follow up
            ("q5", "d", T0, 3.0, "1-10"),  # another scale: not matched
        ],
    )
    # another metric's low answers, on its scale or none: not matched by an NPS rule
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": ["q6", "q7"],
                "customer_id": ["d", "d"],
                "ts": [T0, T0],
                "metric": ["csat", "csat"],
                "score": [1.0, 1.0],
                "scale": ["1-5", None],
            }
        ),
    )
    found = triggers(ws, SCORE_RULES).execute().set_index("case_id")
    assert sorted(found.index) == ["d-q1", "d-q3"]
    assert found.loc["d-q1", "trigger"] == "d" and found.loc["d-q1", "trigger_id"] == "q1"
    assert found.loc["d-q1", "sla_hours"] == 48.0 and found.loc["d-q1", "min_value"] == 100.0


def test_the_value_is_the_revenue_strictly_before_the_trigger_at_least_min_value(ws):
    _purchases(
        ws,
        [
            ("a", T0 - S, 60.0), ("a", T0 - H, 40.0),  # 100 before: reached
            ("b", T0 - H, 99.99), ("b", T0, 500.0),  # 99.99 before (500 at the trigger: not)
            ("c", T0 + S, 1000.0),  # nothing before
        ],
    )  # fmt: skip
    _responses(ws, [(f"q{c}", c, T0, 2.0, "0-10") for c in ("a", "b", "c")])
    everyone = CaseRules(rules=(CaseRule(name="d", metric="nps", max_score=6),))
    values = triggers(ws, everyone).execute().set_index("customer_id")["value"].to_dict()
    assert values == {"a": 100.0, "b": 99.99, "c": 0.0}
    assert list(triggers(ws, SCORE_RULES).execute()["customer_id"]) == ["a"]


def test_the_window_is_since_inclusive_until_exclusive(ws):
    _purchases(ws, [("a", T0 - H, 100.0)])
    _responses(ws, [("q1", "a", T0 - S, 1.0, "0-10"), ("q2", "a", T0, 1.0, "0-10")])
    ids = sorted(triggers(ws, SCORE_RULES, since=T0).execute()["case_id"])
    assert ids == ["d-q2"]
    assert sorted(triggers(ws, SCORE_RULES, until=T0).execute()["case_id"]) == ["d-q1"]
    assert triggers(ws, SCORE_RULES, since=T0, until=T0).execute().empty


def test_on_arrival_only_the_score_rules_apply(ws):
    _purchases(ws, [("a", T0 - H, 100.0)])
    _responses(ws, [("q1", "a", T0, 1.0, "0-10")])
    mixed = CaseRules(rules=(*SCORE_RULES.rules, CaseRule(name="f", steps=("pay",))))
    batch = ws.table("responses")
    assert list(triggers(ws, mixed, responses=batch).execute()["case_id"]) == ["d-q1"]
    friction_only = CaseRules(rules=(CaseRule(name="f", steps=("pay",)),))
    with pytest.raises(ActionError, match="hold no response rule"):
        triggers(ws, friction_only, responses=batch)


# the negative-comment rule: VADER's compound of a text with one lexicon word of valence v is
# v / sqrt(v**2 + 15) (Hutto & Gilbert 2014's normalisation): "awful" (-2.0) scores
# -2 / sqrt(19) = -0.4588, below the rule's -0.05
COMMENT_RULES = CaseRules(rules=(CaseRule(name="neg", sentiment_below=-0.05),))
WORDY = "The staff was rude and the service awful"  # English by its stopwords
SHORT = "Awful service"  # too short to tell its language: only a given language scores it


def _comments(ws: Any, rows: list[tuple[str, pd.Timestamp, str, str | None]]) -> None:
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": [r[0] for r in rows],
                "customer_id": [f"c{r[0]}" for r in rows],
                "ts": [r[1] for r in rows],
                "metric": ["nps"] * len(rows),
                "score": [9.0] * len(rows),
                "scale": ["0-10"] * len(rows),
                "comment": [r[2] for r in rows],
                "language": [r[3] for r in rows],
            }
        ),
    )


def test_the_comment_rules_window_is_since_inclusive_until_exclusive(ws):
    until = T0 + H
    _comments(
        ws,
        [
            ("a", T0 - S, WORDY, None),  # a second before since: out
            ("b", T0, WORDY, None),  # at since: in
            ("c", until - S, WORDY, None),  # a second before until: in
            ("d", until, WORDY, None),  # at until: out
        ],
    )
    found = triggers(ws, COMMENT_RULES, since=T0, until=until).execute()
    assert sorted(found["case_id"]) == ["neg-b", "neg-c"]
    assert sorted(triggers(ws, COMMENT_RULES).execute()["case_id"]) == [
        "neg-a", "neg-b", "neg-c", "neg-d"
    ]  # fmt: skip


def test_a_comment_too_short_to_detect_is_scored_in_its_given_language(ws):
    # "Awful service" in English scores -0.4588 (see above): below -0.05, it opens; without a
    # language it has no method (no sentiment) and opens nothing
    _comments(ws, [("e", T0, SHORT, "en"), ("f", T0, SHORT, None)])
    assert list(triggers(ws, COMMENT_RULES).execute()["case_id"]) == ["neg-e"]


def _cases(ws: Any, rows: list[tuple[str, str, str, pd.Timestamp, Any, Any]]) -> None:
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": [r[0] for r in rows],
                "customer_id": [r[1] for r in rows],
                "status": [r[2] for r in rows],
                "opened_at": [r[3] for r in rows],
                "due_at": [r[4] for r in rows],
                "closed_at": [r[5] for r in rows],
                "updated_at": [r[3] for r in rows],
            }
        ),
    )


def test_a_trigger_within_an_earlier_cases_life_opens_nothing(ws):
    d48 = T0 + 48 * H
    _cases(
        ws,
        [
            ("old-m1", "m1", "closed", T0, d48, T0 + 10 * H),
            ("old-m2", "m2", "closed", T0, d48, T0 + 10 * H),
            ("old-m3", "m3", "closed", T0, d48, T0 + 10 * H),
            ("old-m4", "m4", "holdout", T0, d48, NAT),
            ("old-m5", "m5", "holdout", T0, d48, NAT),
            ("old-m6", "m6", "open", T0, d48, NAT),
            ("old-m7", "m7", "in_progress", T0, d48, NAT),
            ("old-m8", "m8", "holdout", T0, NAT, NAT),
        ],
    )
    _responses(
        ws,
        [
            ("r1", "m1", T0 + 10 * H, 1.0, "0-10"),  # at the closing: inside its life
            ("r2", "m2", T0 + 10 * H + S, 1.0, "0-10"),  # a second after: opens
            ("r3a", "m3", T0, 1.0, "0-10"),  # at the opening: inside
            ("r3b", "m3", T0 - S, 1.0, "0-10"),  # a second before: opens
            ("r4", "m4", d48, 1.0, "0-10"),  # a held-out case lives until it was due
            ("r5", "m5", d48 + S, 1.0, "0-10"),  # opens
            ("r6", "m6", T0 + 1000 * 24 * H, 1.0, "0-10"),  # an active case lives on
            ("r7", "m7", T0 + 1000 * 24 * H, 1.0, "0-10"),
            ("r8a", "m8", T0, 1.0, "0-10"),  # held out without a due time: its opening only
            ("r8b", "m8", T0 + S, 1.0, "0-10"),
            ("r9b", "n9", T0, 1.0, "0-10"),  # two at once: the first id
            ("r9a", "n9", T0, 1.0, "0-10"),
            ("r9c", "n9", T0 - S, 1.0, "0-10"),  # ... unless an earlier one: that one
            ("r10b", "n10", T0, 1.0, "0-10"),
            ("r10a", "n10", T0, 1.0, "0-10"),
        ],
    )
    everyone = CaseRules(rules=(CaseRule(name="d", metric="nps", max_score=6),))
    fresh = new_cases(ws, triggers(ws, everyone)).execute()
    assert sorted(fresh["case_id"]) == ["d-r10a", "d-r2", "d-r3b", "d-r5", "d-r8b", "d-r9c"]


def test_a_case_id_already_opened_is_not_opened_again(ws):
    _cases(ws, [("d-r1", "m1", "closed", T0 - 100 * H, T0 - 90 * H, T0 - 95 * H)])
    _responses(ws, [("r1", "m1", T0, 1.0, "0-10"), ("r2", "m1", T0 + H, 1.0, "0-10")])
    everyone = CaseRules(rules=(CaseRule(name="d", metric="nps", max_score=6),))
    assert list(new_cases(ws, triggers(ws, everyone)).execute()["case_id"]) == ["d-r2"]


LEADS = CaseRules(
    rules=(CaseRule(name="d", metric="nps", max_score=6, sla_hours=10),),
    leads={"ana": "lead1", "lead1": "boss", "care": "carelead"},
    max_escalations=3,
)


def _breach(ws: Any) -> None:
    due = T0 + 10 * H  # a 10 h SLA
    insert_rows(
        ws,
        "cases",
        pd.DataFrame(
            {
                "case_id": ["e1", "e2", "e3", "e4"],
                "customer_id": ["c1", "c2", "c3", "c4"],
                "status": ["open", "in_progress", "closed", "open"],
                "opened_at": [T0] * 4,
                "due_at": [due, due, due, T0],
                "closed_at": [NAT, NAT, T0 + H, NAT],
                "owner": ["ana", None, "ana", "zed"],
                "team": ["care", "care", "care", "care"],
                "trigger": ["d"] * 4,
                "priority": pd.array([3, 4, 3, 2], dtype="Int64"),
                "updated_at": [T0] * 4,
            }
        ),
    )


def _levels(frame: pd.DataFrame) -> dict[str, tuple[int, str | None, int]]:
    return {
        r.case_id: (int(r.level), r.owner, int(r.priority)) for r in frame.itertuples(index=False)
    }


def test_escalation_starts_once_due_and_climbs_one_level_per_sla_period(ws):
    _breach(ws)
    due = T0 + 10 * H
    # e4 was due at its opening (an SLA of 0): its rule's 10 h count instead
    assert _levels(escalate_breached(ws, LEADS, now=due).frame) == {"e4": (2, "zed", 1)}
    first = escalate_breached(ws, LEADS, now=due + S).frame
    # e1: ana -> her lead; e2 without an owner: the team's lead; e3 is closed
    assert _levels(first) == {"e1": (1, "lead1", 2), "e2": (1, "carelead", 3)}
    assert escalate_breached(ws, LEADS, now=due + 10 * H - S).frame.empty  # still level 1
    second = escalate_breached(ws, LEADS, now=due + 10 * H).frame  # one whole period overdue
    assert _levels(second) == {"e1": (2, "boss", 1), "e2": (2, "carelead", 2), "e4": (3, "zed", 1)}
    capped = escalate_breached(ws, LEADS, now=due + 100 * H).frame  # capped at 3 levels
    assert _levels(capped) == {"e1": (3, "boss", 1), "e2": (3, "carelead", 1)}
    assert escalate_breached(ws, LEADS, now=due + 1000 * H).frame.empty
    detail = ws.table("rox_case_events").execute().set_index(["case_id", "at"])["detail"]
    assert detail.loc[("e1", due + 10 * H)] == "SLA breached by 10 h"


def test_two_levels_at_once_climb_the_chain_of_leads_twice(ws):
    _breach(ws)
    jump = escalate_breached(ws, LEADS, now=T0 + 30 * H).frame  # 20 h overdue: level 3 at once
    assert _levels(jump)["e1"] == (3, "boss", 1)  # ana -> lead1 -> boss, priority 3 -> 1
    assert _levels(jump)["e2"] == (3, "carelead", 1)  # carelead has no lead: stays


def test_a_case_escalated_before_climbs_only_the_levels_it_lacks(ws):
    # a chain of leads longer than the levels: ana -> lead1 -> boss -> ceo
    chain = CaseRules(
        rules=LEADS.rules, leads={"ana": "lead1", "lead1": "boss", "boss": "ceo"}, max_escalations=3
    )
    _breach(ws)
    due = T0 + 10 * H
    assert _levels(escalate_breached(ws, chain, now=due + S).frame)["e1"] == (1, "lead1", 2)
    # one whole period overdue: level 2, one level more than it has, so one lead up (not three)
    assert _levels(escalate_breached(ws, chain, now=due + 10 * H).frame)["e1"] == (2, "boss", 1)
