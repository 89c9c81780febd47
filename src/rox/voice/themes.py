"""Themes of comments, without an outlier bucket: every comment gets its strongest theme.

Method
------
Keyword rules first
    User-defined themes (a TOML table ``theme = ["keyword", "phrase", "prefix*"]``) take
    precedence: a comment matching a rule's keywords (whole words, case-insensitive; ``*`` ends a
    prefix) gets that theme, with weight 1; when several rules match, the one with the most
    matching keywords (then the first listed) wins.
Discovered themes (default ``method="nmf"``)
    The other comments of each language are weighted by TF-IDF (words and word pairs, sublinear
    term frequency, the language's stop words removed, terms in at least 2 comments and at most
    half of them) and factorised by non-negative matrix factorisation (Lee, D. D. & Seung, H. S.
    1999, Nature 401, 788-791; scikit-learn's ``NMF``, NNDSVDa start, Frobenius loss). Each comment
    gets the theme with its largest coefficient, and that coefficient, scaled by the row's sum,
    as its weight (the theme's share of the comment, 0-1). A comment none of whose words is in the
    vocabulary gets the theme whose comments it is closest to in character trigrams (cosine of
    TF-IDF vectors), with weight 0: there is no outlier bucket.
``method="embeddings"`` (``pip install 'rox[embeddings]'``)
    WordLlama sentence embeddings (the 256-dimension model shipped in the ``wordllama`` wheel,
    loaded from the package folder, never downloaded) clustered by k-means; weight is the cosine
    of the comment to its cluster centre (clipped to 0-1).
Number of themes
    ``n_themes="auto"``: ``round(sqrt(n / 25))`` clipped to 2-12 per language, ``n`` its number
    of comments (a rule of thumb, not a fitted choice); or a number.
Labels
    The top keyphrase that YAKE (Campos, R. et al. 2020, "YAKE! Keyword extraction from single
    documents using multiple local features", Information Sciences 509, 257-289) finds in the
    theme's most typical comments; without YAKE installed, the top terms. Top terms are the
    largest entries of the theme's NMF component (for embeddings, of its comments' mean TF-IDF).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from rox import _toml
from rox.errors import MetricError, MissingDependencyError, NotFittedError

__all__ = ["ThemeModel", "compile_rules", "load_rules"]

Method = Literal["nmf", "embeddings"]
MAX_THEMES, MIN_THEMES = 12, 2
#: Themes whose comments' centres have at least this cosine are merged (see ``_merge``).
MERGE_AT = 0.3
_WORDS = re.compile(r"(?u)\b[^\W\d_][^\W\d_]+\b")
_ENDINGS: dict[str, tuple[str, ...]] = {
    "en": ("ing", "ed", "es", "s"),
    "it": ("a", "e", "i", "o"),
    "es": ("as", "es", "os", "a", "e", "o"),
    "fr": ("es", "s", "e"),
    "de": ("en", "e", "n", "s"),
}
_STOP: dict[str, str] = {
    "en": "english",
    "it": "a ad al alla alle ai agli all anche avere che chi ci con cosa così da dal dalla dei del "
    "della delle dello di dopo e ed era è fa fare gli ha hanno ho il in io la le lei li lo loro "
    "lui ma me mi mia mio ne nei nel nella non o per più poi quando quella quello questa questo "
    "se si sia sono stato stata su sul sulla ti tra tu tutto un una uno ve vi volta sempre già "
    "solo mai dell nell sull l un c è d",
    "de": "aber als am an auch auf aus bei bin bis das dass dem den der des die doch du ein eine "
    "einem einen er es für hat hatte ich im in ist ja kein mal man mich mir mit nach nicht noch "
    "nur oder sehr sich sie sind so um und uns von war wir wird wurde zu zum zur",
    "fr": "a au aux avec ce ces c d dans de des du elle en est et été il ils j je l la le les leur "
    "lui ma mais me mes mon n ne nous on ou par pas pour qu que qui sa se ses son sur ta te tu "
    "un une vous y était très tout",
    "es": "a al algo con de del el ella en es esta este fue ha la las le les lo los me mi muy no "
    "nos o para pero por que se si sin su sus un una y ya estaba",
}


def load_rules(source: Mapping[str, Any] | str | Any) -> dict[str, tuple[str, ...]]:
    """Keyword themes from a TOML file (path) or a mapping ``{theme: [keywords]}``.

    The TOML file holds one table, ``[themes]``, or the themes at its top level::

        [themes]
        "financing paperwork" = ["paperwork", "pratiche", "documents", "firm*"]
        "app crashes" = ["crash*", "si blocca", "freez*"]

    Raises
    ------
    MetricError
        If the file is not valid TOML or a theme has no keywords.
    """
    if not isinstance(source, Mapping):
        data: Mapping[str, Any] = _toml.read(source, what="theme rules", error=MetricError)
        source = data.get("themes", data)
    rules: dict[str, tuple[str, ...]] = {}
    for theme, words in source.items():
        if isinstance(words, str):
            words = [words]
        if (
            not isinstance(words, list | tuple)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            raise MetricError(f"theme {theme!r}: expected a list of keywords, not {words!r}")
        rules[str(theme)] = tuple(w.strip() for w in words)
    return rules


def compile_rules(rules: Mapping[str, Sequence[str]]) -> list[tuple[str, re.Pattern[str]]]:
    """One case-insensitive pattern per theme, matching any of its keywords as whole words."""
    out = []
    for theme, words in rules.items():
        parts = [
            re.escape(w[:-1].lower()) + r"\w*" if w.endswith("*") else re.escape(w.lower())
            for w in words
        ]
        out.append((theme, re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)))
    return out


@dataclass(frozen=True)
class _Group:
    """The fitted themes of one language."""

    language: str
    labels: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]


class ThemeModel:
    """Assign every comment a theme (keyword rules first, then discovered themes per language).

    Parameters
    ----------
    n_themes : int or 'auto'
        Discovered themes per language (see the module docstring).
    method : {'nmf', 'embeddings'}
        How themes are discovered.
    rules : mapping of str to list of str, optional
        Keyword themes, which take precedence (:func:`load_rules`).
    min_comments : int
        A language with fewer comments is pooled with the others (``other``) for discovery.
    random_state : int
        Seed of NMF's and k-means' starts.

    Attributes
    ----------
    assignments_ : pandas.DataFrame
        One row per comment given to :meth:`fit`, in order: ``theme`` (its label), ``theme_id``,
        ``weight``, ``source`` (``rule``, ``discovered`` or ``nearest``), ``group`` (language).
    themes_ : pandas.DataFrame
        One row per theme: ``theme_id``, ``theme``, ``group``, ``top_terms``, ``source``.
    """

    def __init__(
        self,
        n_themes: int | Literal["auto"] = "auto",
        method: Method = "nmf",
        rules: Mapping[str, Sequence[str]] | None = None,
        min_comments: int = 30,
        random_state: int = 0,
    ) -> None:
        self.n_themes = n_themes
        self.method = method
        self.rules = rules
        self.min_comments = min_comments
        self.random_state = random_state

    def fit(self, texts: Sequence[str], languages: Sequence[str] | None = None) -> ThemeModel:
        """Fit on ``texts`` (redacted comments) with their ``languages``; return self.

        Raises
        ------
        MetricError
            On an unknown method, a bad number of themes, or languages of the wrong length.
        MissingDependencyError
            If scikit-learn (``rox[text]``), or wordllama for embeddings, is not installed.
        """
        if self.method not in ("nmf", "embeddings"):
            raise MetricError(f"unknown theme method {self.method!r}; expected nmf or embeddings")
        if self.n_themes != "auto" and (
            not isinstance(self.n_themes, int)
            or isinstance(self.n_themes, bool)
            or self.n_themes < 1
        ):
            raise MetricError(
                f"n_themes must be a positive integer or 'auto', not {self.n_themes!r}"
            )
        n = len(texts)
        langs = list(languages) if languages is not None else ["unknown"] * n
        if len(langs) != n:
            raise MetricError(f"{len(langs)} languages for {n} comments")
        theme = np.empty(n, dtype=object)
        theme_id = np.empty(n, dtype=object)
        weight = np.zeros(n)
        source = np.empty(n, dtype=object)
        group = np.empty(n, dtype=object)
        rows: list[dict[str, Any]] = []
        ruled = np.zeros(n, dtype=bool)
        if self.rules:
            compiled = compile_rules(self.rules)
            for i, text in enumerate(texts):
                chosen, hits = None, 0
                for name, pattern in compiled:
                    found = len(pattern.findall(text or ""))
                    if found > hits:
                        chosen, hits = name, found
                if chosen is not None:
                    ruled[i] = True
                    theme[i] = theme_id[i] = chosen
                    weight[i], source[i], group[i] = 1.0, "rule", "rule"
            for name, words in self.rules.items():
                rows.append(
                    {
                        "theme_id": name,
                        "theme": name,
                        "group": "rule",
                        "top_terms": ", ".join(words[:8]),
                        "source": "rule",
                    }
                )
        counts = pd.Series(
            [lang for lang, r in zip(langs, ruled, strict=True) if not r]
        ).value_counts()
        big = {lang for lang, c in counts.items() if c >= self.min_comments and lang != "unknown"}
        grouped = np.array([lang if lang in big else "other" for lang in langs], dtype=object)
        for name in sorted(set(grouped[~ruled])):
            idx = np.flatnonzero((grouped == name) & ~ruled)
            docs = [str(texts[int(i)] or "") for i in idx]
            labels, terms, best, share, how = self._discover(docs, name)
            for j, (label, top) in enumerate(zip(labels, terms, strict=True)):
                rows.append(
                    {
                        "theme_id": f"{name}-{j + 1}",
                        "theme": label,
                        "group": name,
                        "top_terms": ", ".join(top),
                        "source": "discovered",
                    }
                )
            theme[idx] = np.array(labels, dtype=object)[best]
            theme_id[idx] = np.asarray([f"{name}-{int(j) + 1}" for j in best], dtype=object)
            weight[idx], source[idx], group[idx] = share, how, name
        self.themes_ = pd.DataFrame(
            rows, columns=["theme_id", "theme", "group", "top_terms", "source"]
        )
        self.assignments_ = pd.DataFrame(
            {
                "theme": theme,
                "theme_id": theme_id,
                "weight": weight,
                "source": source,
                "group": group,
            }
        )
        return self

    # -- discovery --------------------------------------------------------------------------------
    def _k(self, n_docs: int) -> int:
        if self.n_themes == "auto":
            k = int(np.clip(round(math.sqrt(n_docs / 2)), MIN_THEMES, MAX_THEMES))
        else:
            k = int(self.n_themes)
        return max(1, min(k, n_docs))

    def _discover(
        self, docs: list[str], language: str
    ) -> tuple[list[str], list[tuple[str, ...]], np.ndarray, np.ndarray, np.ndarray]:
        """Labels, top terms, each doc's theme index, weight and how it was assigned."""
        sk = _sklearn()
        inverse, distinct = pd.factorize(pd.Series(docs, dtype=object))
        texts = [str(t) for t in distinct]
        n = len(texts)
        vectorizer = sk.TfidfVectorizer(
            analyzer=_Analyzer(language),
            min_df=2 if n >= 10 else 1,
            max_df=0.5 if n >= 10 else 1.0,
            sublinear_tf=True,
            max_features=50_000,
            dtype=np.float32,
        )
        try:
            x = vectorizer.fit_transform(texts)
        except ValueError:  # no term survives (all stop words, or a single short comment)
            return (
                [f"{language} comments"],
                [()],
                np.zeros(len(docs), int),
                np.zeros(len(docs)),
                np.full(len(docs), "nearest", dtype=object),
            )
        vocab = np.asarray(vectorizer.get_feature_names_out())
        k = min(self._k(n), x.shape[1], n)
        if self.method == "embeddings":
            scores = _embedding_scores(texts, k, self.random_state)
        else:
            nmf = sk.NMF(
                n_components=k,
                init="nndsvda",
                random_state=self.random_state,
                max_iter=200,
                tol=1e-3,
            )
            with warnings.catch_warnings(), np.errstate(invalid="ignore"):
                # an unconverged NMF still ranks each comment's themes; its loss report may take
                # the root of a rounding-error negative
                warnings.simplefilter("ignore", category=sk.ConvergenceWarning)
                warnings.simplefilter("ignore", category=RuntimeWarning)
                scores = nmf.fit_transform(x)
        scores = _merge(scores, x, MERGE_AT)
        best = scores.argmax(axis=1)
        totals = scores.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(totals > 0, scores.max(axis=1) / totals, 0.0)
        if self.method == "embeddings":
            share = np.clip(scores.max(axis=1), 0, 1)
        how = np.where(totals > 0, "discovered", "nearest").astype(object)
        empty = np.flatnonzero(totals <= 0)
        if len(empty) and len(empty) < n:
            best[empty] = _nearest(sk, texts, best, empty, scores.shape[1])
        # a theme's terms: the largest entries of the mean TF-IDF of its comments
        terms = []
        for j in range(scores.shape[1]):
            centre = np.asarray(x[best == j].mean(axis=0)).ravel() if (best == j).any() else None
            terms.append(() if centre is None else tuple(vocab[np.argsort(-centre)[:8]]))
        labels = _labels(texts, best, scores, terms, language)
        return labels, terms, best[inverse], share[inverse], how[inverse]

    def transform(self, texts: Sequence[str]) -> pd.DataFrame:  # pragma: no cover - see fit
        """Not supported: themes are fitted on the comments they describe (call :meth:`fit`)."""
        raise NotFittedError("ThemeModel assigns the comments it is fitted on: call fit()")


class _Analyzer:
    """Words and word pairs of a comment, lightly stemmed, for TF-IDF.

    Words are letters only, lower case, the language's stop words removed, with the pairs of
    neighbouring words: ``crashes``, ``crashing`` -> ``crash``;
    ``pratiche`` -> ``pratich``. The stemming strips a few regular endings (English ``-ing``,
    ``-ed``, ``-es``, ``-s``; Italian and Spanish the final vowel; French ``-es``, ``-s``, ``-e``;
    German ``-en``, ``-e``, ``-n``, ``-s``) from words long enough to keep a stem of 3 letters.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        self.stop = _stop_set(language)
        self.endings = _ENDINGS.get(language, ())

    def __call__(self, text: str) -> list[str]:
        words = [self._stem(w) for w in _WORDS.findall(text.lower()) if w not in self.stop]
        return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]

    def _stem(self, word: str) -> str:
        for ending in self.endings:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                return word[: -len(ending)]
        return word


def _merge(scores: np.ndarray, x: Any, at: float) -> np.ndarray:
    """Merge themes whose comments' mean TF-IDF directions have cosine >= ``at``.

    NMF splits a large theme by its secondary words when it has components to spare; two such
    halves share their main words, so their centres point the same way. Merged themes' scores
    add up. Themes are joined transitively (single linkage) and renumbered by first appearance.
    """
    k = scores.shape[1]
    best = scores.argmax(axis=1)
    rows = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    rows[rows == 0] = 1.0
    centres = np.zeros((k, x.shape[1]))
    for j in range(k):
        members = np.flatnonzero(best == j)
        if len(members):
            centres[j] = np.asarray(
                (x[members].multiply(1 / rows[members, None])).sum(axis=0)
            ).ravel()
    norms = np.linalg.norm(centres, axis=1)
    norms[norms == 0] = 1.0
    similar = (centres / norms[:, None]) @ (centres / norms[:, None]).T
    parent = list(range(k))

    def root(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    for a in range(k):
        for b in range(a + 1, k):
            if similar[a, b] >= at and norms[a] > 0 and norms[b] > 0:
                parent[root(b)] = root(a)
    roots = sorted({root(j) for j in range(k)})
    merged = np.zeros((scores.shape[0], len(roots)))
    for j in range(k):
        merged[:, roots.index(root(j))] += scores[:, j]
    return merged


def _sklearn() -> Any:
    try:
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError:
        raise MissingDependencyError(
            "themes use scikit-learn's TF-IDF and NMF: pip install 'rox[text]'"
        ) from None

    class _SK:
        pass

    sk = _SK()
    sk.NMF = NMF  # type: ignore[attr-defined]
    sk.TfidfVectorizer = TfidfVectorizer  # type: ignore[attr-defined]
    sk.ConvergenceWarning = ConvergenceWarning  # type: ignore[attr-defined]
    return sk


def _stop_set(language: str) -> frozenset[str]:
    stop = _STOP.get(language)
    if stop == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    return frozenset(stop.split()) if stop else frozenset()


def _nearest(sk: Any, docs: list[str], best: np.ndarray, empty: np.ndarray, k: int) -> np.ndarray:
    """Theme of each comment in ``empty``: the closest theme centroid in character trigrams."""
    chars = sk.TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), dtype=np.float32)
    c = chars.fit_transform(docs)
    assigned = np.setdiff1d(np.arange(len(docs)), empty)
    centroids = np.vstack(
        [
            np.asarray(c[assigned[best[assigned] == j]].mean(axis=0)).ravel()
            if (best[assigned] == j).any()
            else np.zeros(c.shape[1])
            for j in range(k)
        ]
    )
    sims = np.asarray(c[empty] @ centroids.T)
    nearest: np.ndarray = sims.argmax(axis=1)
    return nearest


def _labels(
    docs: list[str],
    best: np.ndarray,
    scores: np.ndarray,
    terms: list[tuple[str, ...]],
    language: str,
) -> list[str]:
    """A readable label per theme: YAKE's top keyphrase of its most typical comments."""
    try:
        import yake
    except ImportError:
        yake = None
    labels: list[str] = []
    for j, top in enumerate(terms):
        members = np.flatnonzero(best == j)
        fallback = " / ".join(top[:3]) or f"theme {j + 1}"
        if yake is None or not len(members):
            labels.append(fallback)
            continue
        typical = members[np.argsort(-scores[members, j])[:15]]
        text = ". ".join(dict.fromkeys(docs[i].strip().rstrip(".") for i in typical))
        lan = language if language in _STOP else "en"
        extractor = yake.KeywordExtractor(lan=lan, n=3, top=10, dedup_lim=0.7)
        phrases = [p.lower() for p, _ in extractor.extract_keywords(text) if "[" not in p]
        # a phrase with the theme's main term reads best, then any phrase, then a word
        main = top[0].split(" ")[0] if top else ""
        ranked = sorted(
            phrases, key=lambda p: (not (" " in p and main and main in p), " " not in p)
        )
        label = (ranked or [fallback])[0]
        labels.append(label)
    # two themes of one language never share a label
    seen: dict[str, int] = {}
    for j, label in enumerate(labels):
        if label in seen:
            labels[j] = f"{label} ({terms[j][0] if terms[j] else j + 1})"
        seen[labels[j]] = j
    return labels


def _embedding_scores(docs: list[str], k: int, seed: int) -> np.ndarray:
    """Cosine of each comment's WordLlama embedding to each of ``k`` k-means centres."""
    try:
        import wordllama
        from sklearn.cluster import KMeans
    except ImportError:
        raise MissingDependencyError(
            "method='embeddings' needs wordllama and scikit-learn: pip install 'rox[embeddings]'"
        ) from None
    from pathlib import Path

    folder = Path(wordllama.__file__).parent
    model = wordllama.WordLlama.load(cache_dir=folder, disable_download=True)
    emb = np.asarray(model.embed(docs, norm=True), dtype=np.float64)
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(emb)
    centres = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
    sims: np.ndarray = emb @ centres.T
    out: np.ndarray = np.clip(sims, 0, None) + 1e-9 * (sims == sims.max(axis=1, keepdims=True))
    return out
