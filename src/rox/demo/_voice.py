"""Planted comment themes, in English and Italian, with planted personal data (#18).

Some comments at the touchpoints where each problem lives are replaced by a planted one: the
financing paperwork (low scores after financing), delivery delays (low and middling scores after
delivery), a rude dealer (low scores after a dealer or test-drive visit) and an app that crashes
(detractors and passives of the yearly NPS survey, low scores after a support call). A share of
them is in Italian, and a share carries personal data (a phone number, an email address, an IBAN
or a name after a title) that ingestion redacts.

Everything here draws from its own random stream (seeded from the demo seed and the chunk with a
fixed offset), and only replaces the text of comments that exist: scores, times, which answers
carry a comment and every other table are unchanged.
"""

from __future__ import annotations

import numpy as np

from rox.demo import _catalog as cat

__all__ = ["PLANTED_COMMENTS", "STREAM", "plant", "planted_topic"]

#: Offset of this module's random stream: ``np.random.default_rng([seed, chunk, STREAM])``.
STREAM = 18

#: Planted comments by topic and language: an opening (which names the problem) and an ending,
#: drawn independently, so that the topic's words recur and no one sentence repeats for ever.
PLANTED_COMMENTS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "financing paperwork": {
        "en": (
            (
                "The financing paperwork took forever",
                "Endless paperwork for the financing",
                "Financing paperwork was a mess",
                "Too much paperwork and too many documents for the financing",
                "The financing paperwork was confusing",
            ),
            (
                ", so many documents to sign.",
                ", they lost my documents twice.",
                ": I signed the same documents three times.",
                " and they kept asking for more documents.",
                ".",
            ),
        ),
        "it": (
            (
                "Le pratiche del finanziamento non finivano mai",
                "Pratiche infinite per il finanziamento",
                "Il finanziamento è stato un incubo di pratiche",
                "Troppi documenti e pratiche per il finanziamento",
                "Le pratiche per il finanziamento erano confuse",
            ),
            (
                ", troppi documenti da firmare.",
                ", hanno perso i miei documenti due volte.",
                ": ho firmato gli stessi documenti tre volte.",
                " e chiedevano sempre altri documenti.",
                ".",
            ),
        ),
    },
    "delivery delays": {
        "en": (
            (
                "Delivery was delayed by six weeks",
                "My delivery date was pushed back three times",
                "The car delivery was delayed again",
                "Weeks of delivery delays",
                "Delayed delivery",
            ),
            (
                " and nobody told me why.",
                ", weeks of waiting.",
                ", with no update from anyone.",
                ": I waited two months longer for the delivery.",
                ".",
            ),
        ),
        "it": (
            (
                "La consegna è arrivata con sei settimane di ritardo",
                "La data di consegna è slittata tre volte",
                "Consegna dell'auto di nuovo in ritardo",
                "Settimane di ritardo nella consegna",
                "Ritardo nella consegna",
            ),
            (
                " e nessuno mi ha detto perché.",
                ", settimane di attesa.",
                ", senza nessun aggiornamento.",
                ": ho aspettato due mesi in più per la consegna.",
                ".",
            ),
        ),
    },
    "rude dealer": {
        "en": (
            (
                "The dealer was rude",
                "Rude salesman at the dealer",
                "The salesman at the dealer was rude and dismissive",
                "A rude dealer",
                "The dealer manager was rude",
            ),
            (
                " and treated me like I was wasting his time.",
                ", he laughed at my questions.",
                " when I asked about the price.",
                " who ignored me and then raised his voice.",
                ".",
            ),
        ),
        "it": (
            (
                "Il venditore del concessionario è stato maleducato",
                "Venditore maleducato al concessionario",
                "Al concessionario il venditore è stato maleducato e scortese",
                "Un concessionario maleducato",
                "Il responsabile del concessionario è stato maleducato",
            ),
            (
                " e sbrigativo.",
                ", ha riso delle mie domande.",
                " quando ho chiesto il prezzo.",
                " che mi ha ignorato e poi ha alzato la voce.",
                ".",
            ),
        ),
    },
    "app crashes": {
        "en": (
            (
                "The app crashes every time I open it",
                "The app keeps crashing",
                "App crashes on login",
                "Since the update the app crashes constantly",
                "The app crashed three times",
            ),
            (
                ".",
                " when I try to book a service.",
                ", I cannot see my car status in the app.",
                " while I was paying in the app.",
                ", please fix the app.",
            ),
        ),
        "it": (
            (
                "L'app va in crash ogni volta che la apro",
                "L'app continua ad andare in crash",
                "L'app si blocca e va in crash al login",
                "Dopo l'aggiornamento l'app va in crash di continuo",
                "L'app è andata in crash tre volte",
            ),
            (
                ".",
                " quando prenoto il tagliando.",
                ", non vedo lo stato dell'auto nell'app.",
                " mentre pagavo nell'app.",
                ", sistemate l'app per favore.",
            ),
        ),
    },
}

#: Personal data appended to some planted comments, by language (ingestion redacts it).
_PII: dict[str, tuple[str, ...]] = {
    "en": (
        " Call me on +44 7700 900123.",
        " My email is john.smith@example.com.",
        " Refund to GB82 WEST 1234 5698 7654 32 please.",
        " Ask for Mr Johnson.",
        " Or call my office in Berlin: 030 12345678.",
    ),
    "it": (
        " Chiamatemi al 347 123 4567.",
        " La mia email è mario.rossi@example.it.",
        " IBAN per il rimborso IT60 X054 2811 1010 0000 0123 456.",
        " Chiedete del Sig. Bianchi.",
    ),
}

# (topic, touchpoints, score bands 0 low / 1 middle / 2 high, metrics, chance of replacing)
_WHERE: tuple[tuple[str, tuple[str, ...], tuple[int, ...], tuple[int, ...], float], ...] = (
    ("financing paperwork", ("financing",), (0,), (1, 2), 0.6),
    ("delivery delays", ("delivery",), (0, 1), (1,), 0.9),
    ("rude dealer", ("dealer_visit", "test_drive_visit"), (0,), (1,), 0.9),
    ("app crashes", (cat.RELATIONSHIP,), (0, 1), (0,), 0.5),
    ("app crashes", ("support_call",), (0, 1), (1, 2), 0.6),
)
ITALIAN_SHARE = 0.35
PII_SHARE = 0.15


def plant(
    rng: np.random.Generator,
    comments: np.ndarray,
    metric: np.ndarray,
    score: np.ndarray,
    touchpoint: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Planted texts (``None`` where a comment is not replaced) and their languages.

    Parameters
    ----------
    rng : numpy.random.Generator
        This module's own stream (:data:`STREAM`).
    comments : numpy.ndarray
        The template comment codes (-1: no comment).
    metric, score, touchpoint : numpy.ndarray
        The responses' metric codes, scores and touchpoint codes.
    """
    n = len(comments)
    low_to = np.select([metric == 0, metric == 1], [6, 2], 3)
    high_from = np.select([metric == 0, metric == 1], [9, 4], 5)
    band = np.where(score <= low_to, 0, np.where(score >= high_from, 2, 1))
    # every draw is made for every response, so that one rule's choices never shift another's
    chance = rng.random((len(_WHERE), n))
    italian = rng.random(n) < ITALIAN_SHARE
    head = rng.integers(0, 5, n)
    tail = rng.integers(0, 5, n)
    pii = rng.random(n) < PII_SHARE
    pii_which = rng.integers(0, 5, n)
    texts = np.full(n, None, dtype=object)
    languages = np.full(n, None, dtype=object)
    for r, (topic, steps, bands, metrics, p) in enumerate(_WHERE):
        codes = [cat.TOUCHPOINT[s] for s in steps]
        chosen = (
            (comments >= 0)
            & np.isin(touchpoint, codes)
            & np.isin(band, bands)
            & np.isin(metric, metrics)
            & (chance[r] < p)
            & (texts == None)  # noqa: E711 (element-wise)
        )
        for i in np.flatnonzero(chosen):
            lang = "it" if italian[i] else "en"
            heads, tails = PLANTED_COMMENTS[topic][lang]
            text = heads[head[i] % len(heads)] + tails[tail[i] % len(tails)]
            if pii[i]:
                text += _PII[lang][pii_which[i] % len(_PII[lang])]
            texts[i], languages[i] = text, lang
    return texts, languages


def planted_topic(comment: object) -> tuple[str, str] | None:
    """The planted (topic, language) a comment starts with, or None.

    >>> planted_topic("The app crashes every time I open it. Call me on [PHONE].")
    ('app crashes', 'en')
    """
    if not isinstance(comment, str):
        return None
    for topic, by_lang in PLANTED_COMMENTS.items():
        for lang, (heads, _) in by_lang.items():
            if any(comment.startswith(h) for h in heads):
                return topic, lang
    return None
