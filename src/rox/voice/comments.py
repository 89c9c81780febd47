"""Every comment of a workspace with its language, sentiment, theme, and the score beside it.

The comments are read from ``responses`` (only the columns needed, only rows with a comment; text
analysis runs in Python, the one step that cannot run in the engine), already redacted at ingest
(:mod:`rox.ingest.redact`). For each comment:

- ``language``: detected among the configured languages (:mod:`rox.voice.language`); where the
  text is too short to tell and the response carries a ``language``, that one is used;
- ``sentiment``, ``sentiment_label``, ``sentiment_method`` (:mod:`rox.voice.sentiment`);
- ``contradicts``: the sentiment contradicts the score the customer gave: a ``negative`` comment
  with a score in the top category (NPS promoter, CSAT satisfied, CES easy) or a ``positive``
  one in the bottom category (NPS detractor 0-6; CSAT and CES: as far from the bottom of the
  scale as the top category is from the top: 1-2 of 5, 1-3 of 7). Sarcasm, a reversed scale or a
  mis-keyed answer; worth a look;
- ``theme``, ``theme_id``, ``theme_weight``, ``theme_source`` (:mod:`rox.voice.themes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rox.errors import MetricError, TableNotFoundError
from rox.results import Result
from rox.schema import DEFAULT_SCALES, Scale
from rox.voice import language as lang_mod
from rox.voice import sentiment as sent_mod
from rox.voice.themes import Method, ThemeModel

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["Comments", "analyse", "contradictions", "with_sentiment"]

_READ = ("response_id", "customer_id", "ts", "metric", "score", "scale", "touchpoint", "channel")


@dataclass(frozen=True, eq=False)
class Comments(Result):
    """The analysed comments, one row per response with a comment.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``response_id``, ``customer_id``, ``ts``, ``metric``, ``score``, ``scale``,
        ``touchpoint``, ``channel``, ``comment``, ``language``, ``sentiment``,
        ``sentiment_label``, ``sentiment_method``, ``contradicts``, ``theme``, ``theme_id``,
        ``theme_weight``, ``theme_source``.
    themes : pandas.DataFrame
        The themes found (:attr:`rox.voice.themes.ThemeModel.themes_`).
    """

    themes: pd.DataFrame = field(default_factory=pd.DataFrame)

    _plotter: ClassVar[str | None] = None

    def with_theme(self, theme: str) -> pd.DataFrame:
        """The comments of ``theme`` (its label or id), strongest first.

        Raises
        ------
        MetricError
            If no theme has that label or id.
        """
        f = self.frame
        chosen = f[(f["theme"] == theme) | (f["theme_id"] == theme)]
        if chosen.empty:
            known = ", ".join(sorted(set(self.themes["theme"]) | set(self.themes["theme_id"])))
            raise MetricError(f"no theme {theme!r}; the themes are: {known}")
        return chosen.sort_values("theme_weight", ascending=False)


def analyse(
    ws: Workspace | pd.DataFrame,
    *,
    languages: Sequence[str] = lang_mod.DEFAULT_LANGUAGES,
    language_method: lang_mod.Method = "stopwords",
    rules: Mapping[str, Sequence[str]] | None = None,
    n_themes: int | str = "auto",
    method: Method = "nmf",
    random_state: int = 0,
) -> Comments:
    """Language, sentiment, contradiction flag and theme of every comment.

    Parameters
    ----------
    ws : Workspace or pandas.DataFrame
        A workspace (its ``responses`` with a comment are read) or a frame with a ``comment``
        column and optionally the other response columns.
    languages : sequence of str
        Languages to detect among (default en, it, de, fr, es).
    language_method : {'stopwords', 'lingua'}
        See :mod:`rox.voice.language`.
    rules : mapping of str to list of str, optional
        Keyword themes, which take precedence (:func:`rox.voice.themes.load_rules`).
    n_themes, method, random_state
        See :class:`rox.voice.themes.ThemeModel`.

    Returns
    -------
    Comments

    Raises
    ------
    TableNotFoundError
        If the workspace has no responses with a comment.

    Examples
    --------
    >>> import pandas as pd
    >>> from rox.voice import analyse
    >>> texts = ["The app crashes every time", "La consegna è arrivata con settimane di ritardo"]
    >>> frame = pd.DataFrame({"comment": texts})
    >>> analyse(frame).frame[["language", "sentiment_label"]].values.tolist()
    [['en', 'negative'], ['it', 'negative']]
    """
    frame, scales = _read(ws)
    frame = _with_sentiment(frame, languages, language_method)
    texts = frame["comment"].astype(str).tolist()
    detected = frame["language"].to_numpy()
    frame["contradicts"] = contradictions(frame, scales)
    model = ThemeModel(
        n_themes=n_themes,  # type: ignore[arg-type]
        method=method,
        rules=rules,
        random_state=random_state,
    ).fit(texts, list(detected))
    assigned = model.assignments_
    frame["theme"] = assigned["theme"].to_numpy()
    frame["theme_id"] = assigned["theme_id"].to_numpy()
    frame["theme_weight"] = assigned["weight"].to_numpy()
    frame["theme_source"] = assigned["source"].to_numpy()
    return Comments(frame=frame, themes=model.themes_)


def with_sentiment(
    ws: Workspace | pd.DataFrame,
    *,
    languages: Sequence[str] = lang_mod.DEFAULT_LANGUAGES,
    language_method: lang_mod.Method = "stopwords",
) -> pd.DataFrame:
    """The comments with their language and sentiment only: :func:`analyse` without themes.

    Parameters
    ----------
    ws : Workspace or pandas.DataFrame
        As in :func:`analyse` (a frame needs a ``comment`` column; rows without one are left out).
    languages, language_method
        As in :func:`analyse`.

    Returns
    -------
    pandas.DataFrame
        The comments' rows with ``language``, ``sentiment`` (in [-1, 1], NaN where the language
        has no method), ``sentiment_label`` and ``sentiment_method``.

    Examples
    --------
    >>> import pandas as pd
    >>> from rox.voice.comments import with_sentiment
    >>> f = with_sentiment(pd.DataFrame({"comment": ["Terrible service, never again", None]}))
    >>> len(f), f["sentiment_label"].tolist()
    (1, ['negative'])
    """
    frame, _ = _read(ws)
    return _with_sentiment(frame, languages, language_method)


def _with_sentiment(
    frame: pd.DataFrame, languages: Sequence[str], language_method: lang_mod.Method
) -> pd.DataFrame:
    """``frame`` with each comment's language and sentiment."""
    texts = frame["comment"].astype(str).tolist()
    # each distinct text is read once (surveys repeat "ok", "good service" ...)
    # (factorize hashes the strings: no fixed-width copy of a million texts)
    inverse, distinct = pd.factorize(pd.Series(texts, dtype=object))
    unique_texts = [str(t) for t in distinct]
    found = lang_mod.detect(unique_texts, languages, language_method)
    detected = np.asarray(found, dtype=object)[inverse]
    if "language" in frame.columns:
        given = frame["language"].astype("object").where(frame["language"].notna(), None)
        fill = (detected == lang_mod.UNKNOWN) & given.isin(list(languages)).to_numpy()
        detected[fill] = given.to_numpy()[fill]
    frame["language"] = detected
    pairs = pd.DataFrame({"text": inverse, "language": detected})
    firsts = pairs.drop_duplicates()
    first_scores = sent_mod.score_many(
        [unique_texts[i] for i in firsts["text"]], firsts["language"].tolist()
    )
    scores = (
        pairs.merge(firsts.assign(score=first_scores), on=["text", "language"], how="left")["score"]
        .astype("float64")
        .tolist()
    )
    frame["sentiment"] = np.asarray(scores, dtype="float64")
    frame["sentiment_label"] = [sent_mod.label_of(s) for s in scores]
    frame["sentiment_method"] = [sent_mod.method_for(lang) for lang in detected]
    return frame


def contradictions(
    frame: pd.DataFrame, scales: Mapping[tuple[str, str], Scale] | None = None
) -> np.ndarray:
    """Whether each comment's sentiment contradicts its score (see the module docstring).

    ``frame`` needs ``sentiment_label``, ``metric``, ``score`` and ``scale``; rows without a score
    are never flagged.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"sentiment_label": ["negative", "positive", "positive"],
    ...                   "metric": ["nps", "nps", "csat"], "score": [10, 6, 3],
    ...                   "scale": ["0-10", "0-10", "1-5"]})
    >>> contradictions(f).tolist()
    [True, True, False]
    """
    if not {"metric", "score"} <= set(frame.columns):
        return np.zeros(len(frame), dtype=bool)
    known = dict(scales or {})
    top = np.full(len(frame), np.nan)
    bottom = np.full(len(frame), np.nan)
    scale_col = frame["scale"] if "scale" in frame.columns else pd.Series([None] * len(frame))
    for i, (metric, label) in enumerate(zip(frame["metric"], scale_col, strict=True)):
        s = _scale(str(metric), label, known)
        if s is not None:
            top[i] = s.top_from
            bottom[i] = s.bottom_to if s.bottom_to is not None else s.low + (s.high - s.top_from)
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype="float64")
    label = frame["sentiment_label"].to_numpy()
    with np.errstate(invalid="ignore"):
        return np.asarray(
            ((label == "negative") & (score >= top)) | ((label == "positive") & (score <= bottom))
        )


def _scale(metric: str, label: Any, known: Mapping[tuple[str, str], Scale]) -> Scale | None:
    if metric not in DEFAULT_SCALES:
        return None
    if not isinstance(label, str):
        return DEFAULT_SCALES[metric]
    if (metric, label) in known:
        return known[(metric, label)]
    try:
        return Scale.parse(metric, label)
    except ValueError:
        return None


def _read(ws: Workspace | pd.DataFrame) -> tuple[pd.DataFrame, Mapping[tuple[str, str], Scale]]:
    """The responses with a comment, and the workspace's declared scales."""
    if isinstance(ws, pd.DataFrame):
        if "comment" not in ws.columns:
            raise MetricError("the frame has no 'comment' column")
        frame = ws[ws["comment"].notna()].reset_index(drop=True).copy()
        return frame, {}
    if not ws.engine.has_table("responses"):
        raise TableNotFoundError("the workspace has no responses: load some with `rox ingest`")
    r = ws.table("responses")
    columns = [c for c in (*_READ, "comment", "language") if c in r.columns]
    frame = r.filter(r.comment.notnull() & (r.comment.strip() != "")).select(*columns).execute()
    if frame.empty:
        raise TableNotFoundError("no response in the workspace carries a comment")
    frame = frame.sort_values(["ts", *(["response_id"] if "response_id" in frame else [])])
    return frame.reset_index(drop=True), ws.declared_scales()
