"""Voice of the customer: the language, sentiment and theme of every comment, offline.

Comments are redacted at ingest (:mod:`rox.ingest.redact`, re-exported here as :func:`redact`);
:func:`analyse` gives each its language (:mod:`rox.voice.language`), sentiment
(:mod:`rox.voice.sentiment`), a flag where the sentiment contradicts the score, and a theme
(:mod:`rox.voice.themes`); :func:`themes` prices each theme in NPS (and value) and follows it
over time (:mod:`rox.voice.summary`).
"""

from rox.ingest.redact import Redaction, redact
from rox.voice.comments import Comments, analyse, contradictions
from rox.voice.language import DEFAULT_LANGUAGES, detect
from rox.voice.sentiment import Sentiment, score
from rox.voice.summary import ThemeTable, themes
from rox.voice.themes import ThemeModel, load_rules

__all__ = [
    "DEFAULT_LANGUAGES",
    "Comments",
    "Redaction",
    "Sentiment",
    "ThemeModel",
    "ThemeTable",
    "analyse",
    "contradictions",
    "detect",
    "load_rules",
    "redact",
    "score",
    "themes",
]
