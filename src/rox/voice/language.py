"""The language of each comment, among a configured set, offline; ``unknown`` when too short.

Methods
-------
``stopwords`` (built in, the default)
    Counts each language's common function words (about 60 per language; a word shared by
    several languages counts ``1/k`` for each), half a point per word with an ending typical of
    it (``-zione``, ``-ing``, ``-ung`` ...) and a point for its distinctive letters (``ß``,
    ``ñ``, ``ç`` ...); the language with the highest count wins when it leads the next by at
    least 0.5 and reaches 1. Fast (about a microsecond per word) and adequate for review-length
    text; it knows en, it, de, fr, es, nl and pt.
``lingua`` (``pip install 'rox[language]'``)
    The ``lingua-language-detector`` package, built for the configured languages only (all 75
    take 1.3 GB; five take about 200 MB and 3 s to build, once per process, on first use).
    A text lingua cannot tell apart is ``unknown``.

Texts with fewer than :data:`MIN_WORDS` words or :data:`MIN_LETTERS` letters are ``unknown``
whatever the method: too short to tell.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from rox.errors import MetricError, MissingDependencyError

__all__ = ["DEFAULT_LANGUAGES", "MIN_LETTERS", "MIN_WORDS", "UNKNOWN", "detect"]

DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "it", "de", "fr", "es")
UNKNOWN = "unknown"
MIN_WORDS, MIN_LETTERS = 3, 10
Method = Literal["stopwords", "lingua"]

_STOPWORDS: dict[str, str] = {
    "en": "the and is was to of i my it for with not you they this that were have on at be are "
    "but had me no so very we our after when has been from an by will would did could all "
    "their there what who your them just than then too only again never ever still every",
    "it": "il la le lo gli di che è e non per un una con mi ho sono del della al nel era ma molto "
    "anche ha si ci più dopo quando nessuno alla dalla dal dei delle degli nella sul sulla "
    "questo questa quella sempre ancora mai tutto tutti tutte ogni hanno siamo stato stata "
    "come perché poi già dove solo così ed hanno mia mio loro dell nell all dall un",
    "de": "der die das und ist nicht ich mit zu ein eine war es sehr auf für den dem des sich auch "
    "aber wir hat kein nach wenn mein meine wurde wurden bei von im vom zum zur noch nur "
    "immer schon alles jetzt dann weil oder wie uns habe hatte sind keine",
    "fr": "le la les et est pas je un une de du des en que qui il avec pour très mais ne au sur "
    "été ce était nous après quand mon ma mes aux cette ces sont ont avons tout tous toujours "
    "jamais encore déjà comme parce rien plus fait vous leur elle j c l d n qu",
    "es": "el la los las y es no un una de que en con por para muy pero se lo al del fue me mi "
    "está nos después cuando esta este estos han hemos todo todos siempre nunca todavía "
    "ya como porque solo nada más hace su sus le les fueron estaba",
    "nl": "de het een en is niet ik met van dat was op voor zijn maar er ook we heel na",
    "pt": "o a os as e é não um uma de que em com por para muito mas se do da foi me meu",
}
# endings typical of one language (half a word's weight each)
_ENDINGS: dict[str, tuple[str, ...]] = {
    "en": ("ing", "ed", "ly", "tion", "ness", "ful", "less", "ould", "ight", "ough"),
    "it": (
        "zione",
        "zioni",
        "mente",
        "ato",
        "ata",
        "ati",
        "ate",
        "ito",
        "ita",
        "uto",
        "are",
        "ere",
        "ire",
        "ggio",
        "cchi",
        "gli",
        "issimo",
        "issima",
        "etto",
        "etta",
    ),
    "de": ("ung", "sch", "cht", "lich", "keit", "heit", "chen", "ich", "en"),
    "fr": ("eau", "eaux", "ement", "ée", "ées", "ait", "aient", "oir", "eur", "euse", "ique"),
    "es": ("ción", "ciones", "ado", "ada", "ido", "ida", "mente", "amos", "aron", "ería"),
    "nl": ("lijk", "heid", "ij"),
    "pt": ("ção", "ções", "mente", "ado", "ada"),
}
_LETTERS: dict[str, str] = {"de": "äöüß", "fr": "çêâîôûœ", "es": "ñ¿¡", "it": "ìò", "pt": "ãõ"}
_WORD = re.compile(r"[^\W\d_]+(?:'|’)?")
_NAMES = {
    "en": "ENGLISH",
    "it": "ITALIAN",
    "de": "GERMAN",
    "fr": "FRENCH",
    "es": "SPANISH",
    "nl": "DUTCH",
    "pt": "PORTUGUESE",
}


def detect(
    texts: Sequence[str | None],
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    method: Method = "stopwords",
) -> list[str]:
    """The language (ISO 639-1 code, or ``unknown``) of each text.

    Parameters
    ----------
    texts : sequence of str
        The comments (None gives ``unknown``).
    languages : sequence of str
        The languages to choose from (default en, it, de, fr, es).
    method : {'stopwords', 'lingua'}
        See the module docstring.

    Raises
    ------
    MetricError
        If a language is not one the method knows.
    MissingDependencyError
        If ``method='lingua'`` and ``lingua-language-detector`` is not installed.

    Examples
    --------
    >>> detect(["The dealer was rude and the car was late", "La consegna è stata in ritardo", "ok"])
    ['en', 'it', 'unknown']
    """
    langs = tuple(dict.fromkeys(languages))
    unknown = [lang for lang in langs if lang not in _NAMES]
    if unknown:
        raise MetricError(
            f"unknown language(s) {', '.join(unknown)}; rox detects {', '.join(_NAMES)}"
        )
    if method == "lingua":
        return _lingua(texts, langs)
    if method != "stopwords":
        raise MetricError(f"unknown language method {method!r}; expected stopwords or lingua")
    weights = _weights(langs)
    return [_by_stopwords(t, langs, weights) for t in texts]


def _too_short(words: list[str]) -> bool:
    return len(words) < MIN_WORDS or sum(len(w) for w in words) < MIN_LETTERS


@cache
def _weights(langs: tuple[str, ...]) -> dict[str, tuple[tuple[int, float], ...]]:
    """Word -> ((language index, weight), ...) among ``langs``."""
    owners: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        for word in _STOPWORDS[lang].split():
            owners.setdefault(word, []).append(i)
    return {w: tuple((i, 1.0 / len(idx)) for i in idx) for w, idx in owners.items()}


@cache
def _endings(langs: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """Ending -> indices of the languages it is typical of."""
    out: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        for ending in _ENDINGS[lang]:
            out.setdefault(ending, []).append(i)
    return {e: tuple(v) for e, v in out.items()}


@cache
def _letters(langs: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    return tuple((i, frozenset(_LETTERS[lang])) for i, lang in enumerate(langs) if lang in _LETTERS)


def _by_stopwords(
    text: str | None, langs: tuple[str, ...], weights: dict[str, tuple[tuple[int, float], ...]]
) -> str:
    if not text:
        return UNKNOWN
    lowered = text.lower()
    words = _WORD.findall(lowered)
    if _too_short(words):
        return UNKNOWN
    counts = [0.0] * len(langs)
    endings = _endings(langs)
    for word in words:
        if word.endswith(("'", "’")):  # an elision: l'auto, c'est, dell'app
            word = word[:-1]
        for i, w in weights.get(word, ()):
            counts[i] += w
        if len(word) > 4:
            for size in range(2, 7):
                for i in endings.get(word[-size:], ()):
                    counts[i] += 0.5
    chars = set(lowered)
    for i, letters in _letters(langs):
        if chars & letters:
            counts[i] += 1.0
    ranked = sorted(range(len(langs)), key=counts.__getitem__, reverse=True)
    best = counts[ranked[0]]
    second = counts[ranked[1]] if len(ranked) > 1 else 0.0
    if best < 1.0 or best - second < 0.5:
        return UNKNOWN
    return langs[ranked[0]]


def _lingua(texts: Sequence[str | None], langs: tuple[str, ...]) -> list[str]:
    detector = _lingua_detector(langs)
    codes = {getattr(_lingua_module().Language, _NAMES[c]): c for c in langs}
    out = []
    for text in texts:
        if not text or _too_short(_WORD.findall(text)):
            out.append(UNKNOWN)
            continue
        found = detector.detect_language_of(text)
        out.append(codes.get(found, UNKNOWN))
    return out


def _lingua_module() -> Any:
    try:
        import lingua
    except ImportError:
        raise MissingDependencyError(
            "method='lingua' needs lingua-language-detector: pip install 'rox[language]' "
            "(or use the built-in method='stopwords')"
        ) from None
    return lingua


@cache
def _lingua_detector(langs: tuple[str, ...]) -> Any:
    """The detector for ``langs``, built once per process (about 3 s and 200 MB for five)."""
    lingua = _lingua_module()
    chosen = [getattr(lingua.Language, _NAMES[c]) for c in langs]
    if len(chosen) < 2:  # lingua needs two languages to choose between
        chosen.append(
            lingua.Language.ENGLISH
            if chosen[0] != lingua.Language.ENGLISH
            else lingua.Language.ITALIAN
        )
    return lingua.LanguageDetectorBuilder.from_languages(*chosen).build()
