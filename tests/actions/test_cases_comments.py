"""The negative-comment case rule: a comment whose sentiment is below the rule's opens a case (#17).

The expected sentiments are VADER's compound scores (the vaderSentiment package, the peer that
rox.voice uses for English), computed here from the package itself, for texts without any of the
words rox.voice adds to VADER's lexicon: the rule must open a case for a comment just below its
threshold and none for one at it.
"""

from __future__ import annotations

import pandas as pd
import pytest

import rox
from rox.actions import CaseRules, open_cases
from rox.errors import ActionError
from rox.testing import insert_rows

vader = pytest.importorskip("vaderSentiment.vaderSentiment")

RUDE = "The dealer was rude and the car arrived dirty."
AWFUL = "The staff were awful and the repair was a disaster."
GREAT = "Great service, thank you!"


def _compound(text: str) -> float:
    return float(vader.SentimentIntensityAnalyzer().polarity_scores(text)["compound"])


def _rules(below: float, since_extra: str = "") -> CaseRules:
    return CaseRules.load(
        f"[loop]\nholdout = 0.0\n{since_extra}\n"
        f"[[rule]]\nname = 'negative_comment'\nsentiment_below = {below!r}\nsla_hours = 24\n"
    )


@pytest.fixture
def commented(ws):
    insert_rows(
        ws,
        "transactions",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c2"],
                "ts": pd.to_datetime(["2024-01-05", "2024-01-06"], utc=True),
                "amount": [2_000.0, 50.0],
            }
        ),
    )
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
                "customer_id": ["c1", "c2", "c3", "c4", None, "c6"],
                "ts": pd.to_datetime(
                    [
                        "2024-03-01 09:00",
                        "2024-03-02 09:00",
                        "2024-03-03 09:00",
                        "2024-03-04 09:00",
                        "2024-03-05 09:00",
                        "2023-12-01 09:00",
                    ],
                    utc=True,
                ),
                "metric": ["nps", "csat", "nps", "nps", "nps", "ces"],
                "score": [9.0, 4.0, 2.0, 7.0, 1.0, 2.0],
                "scale": ["0-10", "1-5", "0-10", "0-10", "0-10", "1-7"],
                "touchpoint": ["delivery", "service_visit", "delivery", "delivery", "web", "web"],
                # r3: a low score without a comment; r5: no customer; r6: before the window
                "comment": [RUDE, AWFUL, None, GREAT, AWFUL, AWFUL],
            }
        ),
    )
    return ws


def test_a_comment_below_the_threshold_opens_a_case_and_one_at_it_does_not(commented):
    rude, awful = _compound(RUDE), _compound(AWFUL)
    assert awful < rude < 0 < _compound(GREAT)  # the texts are what the test says they are
    # just above RUDE's score: both negative comments open a case
    opened = open_cases(commented, _rules(rude + 1e-9), since="2024-01-01", now="2024-03-06")
    f = opened.frame.set_index("case_id")
    assert list(f.index) == ["negative_comment-r1", "negative_comment-r2"]
    assert list(f["customer_id"]) == ["c1", "c2"]
    assert list(f["touchpoint"]) == ["delivery", "service_visit"]
    assert list(f["value"]) == [2_000.0, 50.0]  # revenue before the comment
    assert f.loc["negative_comment-r1", "due_at"] == pd.Timestamp("2024-03-02 09:00", tz="UTC")


def test_at_the_threshold_nothing_opens_below_it_only_the_worse(commented):
    rude = _compound(RUDE)
    opened = open_cases(commented, _rules(rude), since="2024-01-01", now="2024-03-06")
    # RUDE sits at the threshold (not below): only AWFUL's response opens
    assert list(opened.frame["case_id"]) == ["negative_comment-r2"]


def test_the_window_and_the_other_rules(commented):
    # without a window the December comment (r6) opens too; a score rule alongside still works
    both = CaseRules.load(
        "[loop]\nholdout = 0.0\n"
        "[[rule]]\nname = 'detractor'\nmetric = 'nps'\nmax_score = 6\n"
        "[[rule]]\nname = 'negative_comment'\nsentiment_below = -0.05\n"
    )
    opened = open_cases(commented, both, now="2024-03-06")
    assert sorted(opened.frame["case_id"]) == [
        "detractor-r3",
        "negative_comment-r1",
        "negative_comment-r2",
        "negative_comment-r6",
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("sentiment_below = -1.0\n", "not in \\(-1, 1\\]"),
        ("sentiment_below = 1.5\n", "not in \\(-1, 1\\]"),
        ("sentiment_below = -0.5\nmetric = 'nps'\nmax_score = 6\n", "one of them"),
        ("sentiment_below = -0.5\nsteps = ['a']\n", "one of them"),
    ],
)
def test_bad_comment_rules_are_named(toml, message):
    with pytest.raises(ActionError, match=message):
        CaseRules.load("[[rule]]\nname = 'x'\n" + toml)


def test_no_comments_open_nothing(ws):
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "response_id": ["r1"],
                "customer_id": ["c1"],
                "ts": pd.to_datetime(["2024-03-01"], utc=True),
                "metric": ["nps"],
                "score": [3.0],
            }
        ),
    )
    assert len(open_cases(ws, _rules(0.0), now="2024-03-06")) == 0
    assert rox.actions.list_cases(ws).frame.empty
