"""Sentiment of a comment, per language, offline, each score labelled with the method behind it.

Methods
-------
``vader`` (English)
    VADER's compound score (Hutto, C. J. & Gilbert, E. 2014, "VADER: A Parsimonious Rule-based
    Model for Sentiment Analysis of Social Media Text", ICWSM-14), from the ``vaderSentiment``
    package and the lexicon it ships.
``lexicon-it``, ``lexicon-fr`` (Italian, French)
    A lexicon derived from Pattern's Italian and French sentiment lexicons (De Smedt, T. &
    Daelemans, W. 2012, "Pattern for Python", JMLR 13, 2063-2067; BSD-3-Clause, notice in
    ``rox/voice/data/PATTERN-LICENSE.txt``; derived by ``scripts/derive_lexicons.py``: the mean
    polarity of each word form over its senses), plus, for Italian, rox's curated additions
    (``it-additions.tsv``: verbs, nouns and participles of car buying and service that Pattern's
    adjective lexicon lacks, written before the test sentences were scored). Scored with VADER's
    rules: word polarities (times 4, VADER's valence range) summed, a negation within the three
    words before flips and damps a word (x -0.74), an intensifier before raises it (x 1.3),
    *poco* / *peu* before a positive word turns it (x -0.5), the clause after *ma* / *però* /
    *mais* weighs 1.5 and the one before 0.5, and the sum ``s`` is normalised as
    ``s / sqrt(s^2 + 15)``. Unknown inflections fall back to the other gender/number endings.
``cues (fallback)`` (German, Spanish)
    A documented fallback: a short curated list of common review words (about 25 positive and 25
    negative per language) under the same rules. Coarser than the others, and labelled so.
``none``
    No method for the language (or it is ``unknown``): the score is NaN and the label
    ``unscored``, never a silent neutral.

Scores lie in [-1, 1]; labels follow VADER's cut-offs: ``positive`` at 0.05 and above,
``negative`` at -0.05 and below, ``neutral`` between.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from rox.errors import MissingDependencyError

__all__ = ["METHODS", "Sentiment", "label_of", "method_for", "score", "score_many"]

#: Method per language code; others get ``none``.
METHODS: dict[str, str] = {
    "en": "vader",
    "it": "lexicon-it",
    "fr": "lexicon-fr",
    "de": "cues (fallback)",
    "es": "cues (fallback)",
}
POSITIVE_FROM, NEGATIVE_TO = 0.05, -0.05
_ALPHA = 15.0  # VADER's normalisation constant
_SCALE = 4.0  # Pattern's -1..1 polarity to VADER's -4..4 valence
_NEGATE, _BOOST, _TURN = -0.74, 1.3, -0.5
_CLAUSE = re.compile(r"[,;:.!?]+")
# a negative word in the three words after these counts half, positively ("risolto il problema")
_RESOLVED = frozenset(
    [
        "risolto",
        "risolta",
        "risolti",
        "risolte",
        "sistemato",
        "sistemata",
        "corretto",
        "riparato",
        "riparata",
        "eliminato",
        "résolu",
        "résolue",
        "réglé",
        "réparé",
        "corrigé",
        "behoben",
        "gelöst",
        "repariert",
        "resuelto",
        "resuelta",
        "arreglado",
        "reparado",
    ]
)
_WORD = re.compile(r"[a-zàâäçéèêëíìîïñóòôöúùûüß]+")

_RULES: dict[str, dict[str, frozenset[str]]] = {
    "it": {
        "negations": frozenset(
            [
                "non",
                "mai",
                "nessun",
                "nessuno",
                "nessuna",
                "niente",
                "nulla",
                "né",
                "senza",
                "neanche",
                "nemmeno",
                "neppure",
                "mal",
            ]
        ),
        "boosters": frozenset(
            [
                "molto",
                "troppo",
                "davvero",
                "veramente",
                "proprio",
                "super",
                "estremamente",
                "assolutamente",
                "così",
                "tanto",
                "particolarmente",
                "decisamente",
                "incredibilmente",
            ]
        ),
        "turners": frozenset({"poco", "poca", "pochi", "poche"}),
        "contrasts": frozenset({"ma", "però", "tuttavia", "eppure"}),
    },
    "fr": {
        "negations": frozenset(
            ["ne", "n", "pas", "jamais", "aucun", "aucune", "rien", "sans", "ni", "personne"]
        ),
        "boosters": frozenset(
            [
                "très",
                "trop",
                "vraiment",
                "super",
                "tellement",
                "si",
                "extrêmement",
                "absolument",
                "particulièrement",
            ]
        ),
        "turners": frozenset({"peu"}),
        "contrasts": frozenset({"mais", "cependant", "pourtant", "toutefois"}),
    },
    "de": {
        "negations": frozenset(
            ["nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals", "ohne"]
        ),
        "boosters": frozenset(
            ["sehr", "zu", "wirklich", "total", "extrem", "absolut", "echt", "super"]
        ),
        "turners": frozenset({"wenig"}),
        "contrasts": frozenset({"aber", "jedoch", "trotzdem"}),
    },
    "es": {
        "negations": frozenset(
            ["no", "nunca", "sin", "ni", "nada", "ningún", "ninguna", "ninguno", "jamás"]
        ),
        "boosters": frozenset(
            ["muy", "demasiado", "realmente", "súper", "totalmente", "absolutamente", "tan"]
        ),
        "turners": frozenset({"poco", "poca"}),
        "contrasts": frozenset({"pero", "sin embargo", "aunque"}),
    },
}

# The documented fallback for German and Spanish: common review words, polarity on -1..1.
_PARTICIPLES = tuple(
    (p + e, inf) for p, inf in (("at", "are"), ("it", "ire"), ("ut", "ere")) for e in "oaie"
)

_CUES: dict[str, dict[str, float]] = {
    "de": {
        **dict.fromkeys(
            [
                "gut",
                "super",
                "toll",
                "schnell",
                "freundlich",
                "zufrieden",
                "perfekt",
                "prima",
                "klasse",
                "kompetent",
                "hilfreich",
                "top",
                "empfehlen",
                "empfehlenswert",
                "danke",
                "pünktlich",
            ],
            0.6,
        ),
        **dict.fromkeys(
            ["hervorragend", "ausgezeichnet", "großartig", "wunderbar", "begeistert"], 0.9
        ),
        **dict.fromkeys(
            [
                "schlecht",
                "langsam",
                "unfreundlich",
                "unzufrieden",
                "enttäuscht",
                "enttäuschend",
                "ärgerlich",
                "problem",
                "probleme",
                "verspätung",
                "verspätet",
                "kaputt",
                "absturz",
                "abstürze",
                "stürzt",
                "teuer",
                "mangelhaft",
                "unhöflich",
                "frech",
                "chaos",
            ],
            -0.6,
        ),
        **dict.fromkeys(
            ["schrecklich", "furchtbar", "katastrophe", "katastrophal", "miserabel"], -0.9
        ),
    },
    "es": {
        **dict.fromkeys(
            [
                "bueno",
                "buena",
                "buenos",
                "rápido",
                "rápida",
                "amable",
                "amables",
                "contento",
                "contenta",
                "satisfecho",
                "satisfecha",
                "recomiendo",
                "gracias",
                "puntual",
                "perfecto",
                "perfecta",
            ],
            0.6,
        ),
        **dict.fromkeys(
            ["excelente", "genial", "fantástico", "fantástica", "encantado", "encantada"], 0.9
        ),
        **dict.fromkeys(
            [
                "malo",
                "mala",
                "lento",
                "lenta",
                "decepcionado",
                "decepcionada",
                "decepción",
                "problema",
                "problemas",
                "retraso",
                "tarde",
                "roto",
                "rota",
                "grosero",
                "grosera",
                "maleducado",
                "caro",
                "cara",
                "peor",
            ],
            -0.6,
        ),
        **dict.fromkeys(["terrible", "horrible", "pésimo", "pésima", "fatal", "desastre"], -0.9),
    },
}


@dataclass(frozen=True)
class Sentiment:
    """The sentiment of one comment.

    Attributes
    ----------
    score : float
        In [-1, 1]; NaN when the language has no method.
    label : str
        ``positive``, ``negative``, ``neutral`` or ``unscored``.
    method : str
        How it was scored (:data:`METHODS`, or ``none``).
    """

    score: float
    label: str
    method: str


def method_for(language: str) -> str:
    """The method that scores comments in ``language`` (``none`` when there is none)."""
    return METHODS.get(language, "none")


def label_of(value: float) -> str:
    """``positive`` / ``negative`` / ``neutral`` by VADER's cut-offs; ``unscored`` for NaN."""
    if math.isnan(value):
        return "unscored"
    if value >= POSITIVE_FROM:
        return "positive"
    if value <= NEGATIVE_TO:
        return "negative"
    return "neutral"


def score(text: str, language: str = "en") -> Sentiment:
    """Score one comment in ``language``.

    Examples
    --------
    >>> score("The dealer was rude and the car arrived late.", "en").label
    'negative'
    >>> score("Il venditore non è stato gentile", "it").label
    'negative'
    >>> score("Sehr gut", "pt")
    Sentiment(score=nan, label='unscored', method='none')
    """
    (value,) = score_many([text], [language])
    return Sentiment(value, label_of(value), method_for(language))


def score_many(texts: Sequence[str | None], languages: Sequence[str] | str) -> list[float]:
    """Sentiment scores of ``texts`` (NaN where the language has no method or text is missing).

    Raises
    ------
    MissingDependencyError
        If English is asked for and ``vaderSentiment`` (in ``rox[text]``) is not installed.
    """
    langs: Iterable[str] = [languages] * len(texts) if isinstance(languages, str) else languages
    out: list[float] = []
    vader: Any = None
    for text, lang in zip(texts, langs, strict=True):
        method = method_for(lang)
        if text is None or method == "none":
            out.append(math.nan)
        elif method == "vader":
            vader = vader or _vader()
            out.append(float(vader.polarity_scores(text)["compound"]))
        else:
            out.append(_rule_score(text, lang))
    return out


@cache
def _vader() -> Any:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise MissingDependencyError(
            "English sentiment uses VADER (package vaderSentiment): pip install 'rox[text]'"
        ) from None
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(_read_lexicon("en-additions.tsv"))  # VADER's -4..4 valences
    return analyzer


def _read_lexicon(name: str) -> dict[str, float]:
    """``form<TAB>polarity`` lines of data file ``name`` (``#`` lines are comments)."""
    path = resources.files("rox.voice") / "data" / name
    out: dict[str, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                form, _, value = line.partition("\t")
                out[form] = float(value)
    return out


@cache
def _lexicon(language: str) -> dict[str, float]:
    """Word form -> polarity (-1..1) for ``language``."""
    if language in _CUES:
        return _CUES[language]
    # Pattern's lexicon, then rox's additions (which override)
    return {
        **_read_lexicon(f"{language}-sentiment.tsv"),
        **_read_lexicon(f"{language}-additions.tsv"),
    }


def _valence(word: str, lexicon: dict[str, float]) -> float | None:
    """Polarity of ``word``, trying regular Italian/French inflections of an unknown form.

    The other gender/number endings (``buone`` -> ``buono``), a shortened form (``peggior``
    -> ``peggiore``), the superlative (``-issimo``:
    the base, x 1.3), the adverb (``chiaramente`` -> ``chiara``) and the past participle of a verb
    the lexicon lists in the infinitive (``apprezzato`` -> ``apprezzare``).
    """
    found = lexicon.get(word)
    if found is not None or len(word) < 4:
        return found
    stem = word[:-1]
    for ending in "oaei":
        found = lexicon.get(stem + ending)
        if found is not None:
            return found
    if word.endswith(("issimo", "issima", "issimi", "issime")):
        base = lexicon.get(word[:-6] + "o") or lexicon.get(word[:-6] + "e")
        return None if base is None else max(-1.0, min(1.0, base * _BOOST))
    if word[-1] in "lrn":  # a shortened form: peggior -> peggiore, buon -> buono
        return lexicon.get(word + "e") or lexicon.get(word + "o")
    if word.endswith("mente") and len(word) > 7:
        return lexicon.get(word[:-5]) or lexicon.get(word[:-5] + "a")
    for participle, infinitive in _PARTICIPLES:
        if word.endswith(participle):
            return lexicon.get(word[: -len(participle)] + infinitive)
    return None


def _rule_score(text: str, language: str) -> float:
    """VADER's rules over the language's lexicon (see the module docstring)."""
    rules = _RULES[language]
    lexicon = _lexicon(language)
    words: list[str] = []
    clause: list[int] = []  # negation and boosters act within a clause (up to , ; . ! ?)
    for n, part in enumerate(_CLAUSE.split(text.lower())):
        found = _WORD.findall(part)
        words.extend(found)
        clause.extend([n] * len(found))
    last_contrast = max((i for i, w in enumerate(words) if w in rules["contrasts"]), default=-1)
    total = 0.0
    for i, word in enumerate(words):
        polarity = _valence(word, lexicon)
        if polarity is None or word in rules["negations"]:
            continue
        v = polarity * _SCALE
        before = [
            w
            for j, w in enumerate(words[max(0, i - 3) : i], max(0, i - 3))
            if clause[j] == clause[i]
        ]
        if before and before[-1] in rules["boosters"]:
            v *= _BOOST
        if v > 0 and before and before[-1] in rules["turners"]:
            v *= _TURN
        if v < 0 and any(w in _RESOLVED for w in before):
            v = -v * 0.5  # a problem solved, a fault fixed
        elif any(w in rules["negations"] for w in before):
            v *= _NEGATE
        if last_contrast >= 0:
            v *= 1.5 if i > last_contrast else 0.5
        total += v
    if total:
        total += math.copysign(min(text.count("!"), 3) * 0.292, total)  # VADER's "!" emphasis
    return total / math.sqrt(total * total + _ALPHA)
