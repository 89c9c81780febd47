"""Sentiment (#18): accuracy on hand-labelled review sentences, rules, labelled fallbacks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rox.voice.sentiment import label_of, method_for, score, score_many

DATA = Path(__file__).parent / "data"


def _labelled(language: str, half: int) -> list[tuple[str, str]]:
    """The development (0) or held-out (1) half: pairs of lines alternate (see data/README.md)."""
    lines = (DATA / f"sentiment-{language}.tsv").read_text(encoding="utf-8").splitlines()
    rows = [tuple(line.split("\t")) for line in lines]
    return [r for i, r in enumerate(rows) if (i // 2) % 2 == half]  # type: ignore[misc]


def _accuracy(rows: list[tuple[str, str]], language: str) -> float:
    scores = score_many([text for _, text in rows], language)
    expected = {"pos": "positive", "neg": "negative"}
    hits = [label_of(s) == expected[label] for (label, _), s in zip(rows, scores, strict=True)]
    return sum(hits) / len(hits)


@pytest.mark.parametrize(("language", "target"), [("en", 0.80), ("it", 0.75)])
def test_accuracy_on_the_held_out_half(language, target):
    rows = _labelled(language, 1)
    assert len(rows) >= 150
    assert {label for label, _ in rows} == {"pos", "neg"}
    # measured 2026-12: English 0.877 (154 sentences), Italian 0.846 (156)
    assert _accuracy(rows, language) >= target


def test_the_labelled_sets_are_large_enough():
    for language in ("en", "it"):
        n = sum(len(_labelled(language, half)) for half in (0, 1))
        assert n >= 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il venditore è gentile", "positive"),
        ("Il venditore non è gentile", "negative"),  # negation
        ("Il venditore è poco gentile", "negative"),  # "poco" turns a positive word
        ("Hanno risolto il problema", "positive"),  # a problem solved
        ("Nessun problema, ottimo lavoro", "positive"),  # negation stops at the comma
        ("L'auto è bella ma la consegna è stata pessima", "negative"),  # after "ma" weighs more
        ("Spiegato chiaramente", "positive"),  # adverb in -mente from its adjective
        ("Il peggior concessionario", "negative"),  # shortened form
    ],
)
def test_italian_rules(text, expected):
    assert score(text, "it").label == expected


def test_italian_intensifier_raises_the_score():
    assert score("molto buono", "it").score > score("buono", "it").score > 0


def test_french_uses_patterns_lexicon():
    assert score("Le service était excellent", "fr").label == "positive"
    assert score("Le service n'était pas bon", "fr").label == "negative"
    assert score("x", "fr").method == "lexicon-fr"


def test_fallback_is_labelled_and_never_a_silent_neutral():
    result = score("Der Service war sehr gut", "de")
    assert (result.label, result.method) == ("positive", "cues (fallback)")
    assert score("El servicio fue terrible", "es").label == "negative"
    unknown = score("Serviço excelente", "pt")
    assert math.isnan(unknown.score)
    assert (unknown.label, unknown.method) == ("unscored", "none")
    assert method_for("unknown") == "none"


def test_english_is_vaders_compound_with_the_additions():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    text = "The staff were rude and the coffee was awful."
    expected = SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    assert score(text, "en").score == pytest.approx(expected)  # no added word in it
    assert score("The handover was thorough", "en").label == "positive"  # an added word


@pytest.mark.parametrize(
    ("value", "label"),
    [(0.05, "positive"), (0.0499, "neutral"), (-0.05, "negative"), (-0.0499, "neutral")],
)
def test_label_cut_offs_on_both_sides(value, label):
    assert label_of(value) == label
