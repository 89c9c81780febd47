"""The themes of the comments, each with its volume, sentiment, trend and what it costs in NPS.

For each theme: how many comments and customers mention it, their mean sentiment and share of
negative comments, how many contradict their score, its top terms and example comments, and its
**NPS impact**: the NPS of the NPS answers given by customers who mention the theme in any
comment, against the NPS of the answers of the other customers, with the difference's interval.
Each side's NPS has the adjusted-Wald interval (Rocks 2016, via
:mod:`rox.experience.intervals`); the difference's interval is ``diff ± z sqrt(se_a^2 + se_b^2)``,
as :func:`rox.experience.compare` does, answers taken as independent. Associational: customers
who complain about a theme may be unhappy for other reasons too.

With ``value`` (a :class:`rox.value.CLV`, or each customer's value by ``customer_id``), each theme
also carries ``value_mentioning`` (the summed value of the customers who mention it) and
``value_at_risk`` (of those who mention it in a negative comment). The per-customer NPS counts are
aggregated in the engine; the comments come from :func:`rox.voice.analyse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rox._time import PERIODS, Period
from rox.errors import MetricError
from rox.experience import intervals
from rox.results import Result
from rox.schema import DEFAULT_SCALES
from rox.voice.comments import Comments, analyse

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["ThemeTable", "themes"]

_NPS = DEFAULT_SCALES["nps"]


@dataclass(frozen=True, eq=False)
class ThemeTable(Result):
    """The themes of the comments, largest first.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per theme: ``theme_id``, ``theme``, ``language``, ``source``, ``comments``,
        ``share`` (of all comments), ``customers``, ``sentiment`` (mean), ``negative_share``,
        ``contradicting``, ``nps_mentioning``, ``nps_others``, ``nps_difference``,
        ``nps_difference_low``, ``nps_difference_high``, ``n_nps_mentioning``, ``n_nps_others``,
        ``value_mentioning``, ``value_at_risk``, ``top_terms``, ``examples``.
    trend : pandas.DataFrame
        ``theme_id``, ``theme``, ``period``, ``comments``, ``share`` (of that period's comments),
        ``sentiment``.
    comments : Comments
        The comments the table summarises.
    period : str
        The trend's period.
    confidence : float
        Level of the NPS intervals.
    """

    trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    comments: Comments | None = None
    period: str = "month"
    confidence: float = 0.95

    _plotter: ClassVar[str | None] = "rox.viz.voice:theme_impact"

    def plot_trend(self, **kwargs: Any) -> Any:
        """A figure of each theme's share of the comments by period."""
        import importlib

        # (by name, as Result.plot does: an analysis never imports the figures)
        return importlib.import_module("rox.viz.voice").theme_trend(self, **kwargs)

    def __str__(self) -> str:
        cols = ["theme", "language", "comments", "sentiment", "nps_difference"]
        body: str = self.frame[cols].to_string(index=False, max_rows=30)
        return f"Themes of {int(self.frame['comments'].sum()):,} comments\n{body}"


def themes(
    ws: Workspace | Comments,
    *,
    workspace: Workspace | None = None,
    period: Period = "month",
    value: Any = None,
    examples: int = 3,
    confidence: float = 0.95,
    language: str | None = None,
    **analyse_options: Any,
) -> ThemeTable:
    """Summarise the comments' themes, with their NPS impact and trend.

    Parameters
    ----------
    ws : Workspace or Comments
        A workspace (its comments are analysed with ``analyse_options``, see
        :func:`rox.voice.analyse`) or comments analysed already.
    workspace : Workspace, optional
        Where to read NPS answers when ``ws`` is a Comments (without one, no NPS impact).
    period : {'day', 'week', 'month', 'quarter', 'year'}
        Period of the trend.
    value : rox.value.CLV or pandas.Series, optional
        Each customer's value, for ``value_mentioning`` and ``value_at_risk``.
    examples : int
        Example comments per theme (the most typical: highest theme weight).
    confidence : float
        Level of the NPS intervals.
    language : str, optional
        Keep only the themes of this language (``it``, ``en`` ...).

    Returns
    -------
    ThemeTable

    Raises
    ------
    MetricError
        On an unknown period or a value that is not per customer.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000)
    >>> table = rox.voice.themes(ws)
    >>> bool((table.frame["comments"] > 0).all())
    True
    """
    if period not in PERIODS:
        raise MetricError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    if isinstance(ws, Comments):
        comments, source = ws, workspace
    else:
        comments, source = analyse(ws, **analyse_options), ws
    f = comments.frame
    if language is not None:
        f = f[f["language"] == language]
        if f.empty:
            raise MetricError(f"no comment in language {language!r}")
    total = len(f)
    grouped = f.groupby("theme_id", sort=False)
    table = grouped.agg(
        comments=("comment", "size"),
        sentiment=("sentiment", "mean"),
        negative_share=("sentiment_label", lambda s: float((s == "negative").mean())),
        contradicting=("contradicts", "sum"),
    ).reset_index()
    meta = comments.themes.set_index("theme_id")
    table["theme"] = table["theme_id"].map(meta["theme"])
    table["language"] = table["theme_id"].map(meta["group"])
    table["source"] = table["theme_id"].map(meta["source"])
    table["top_terms"] = table["theme_id"].map(meta["top_terms"])
    table["share"] = table["comments"] / total
    table["contradicting"] = table["contradicting"].astype("int64")
    table["examples"] = [
        " | ".join(grouped.get_group(t).nlargest(examples, "theme_weight")["comment"].astype(str))
        for t in table["theme_id"]
    ]
    has_customers = "customer_id" in f.columns and f["customer_id"].notna().any()
    mentions = (
        f.dropna(subset=["customer_id"])[["theme_id", "customer_id", "sentiment_label"]]
        if has_customers
        else pd.DataFrame(columns=["theme_id", "customer_id", "sentiment_label"])
    )
    table["customers"] = (
        table["theme_id"]
        .map(mentions.groupby("theme_id")["customer_id"].nunique())
        .fillna(0)
        .astype("int64")
    )
    table = table.join(_nps_impact(source, mentions, table["theme_id"], confidence), on="theme_id")
    table = table.join(_values(value, mentions, table["theme_id"]), on="theme_id")
    table = table.sort_values(["comments", "theme_id"], ascending=[False, True])
    columns = [
        "theme_id", "theme", "language", "source", "comments", "share", "customers", "sentiment",
        "negative_share", "contradicting", "nps_mentioning", "nps_others", "nps_difference",
        "nps_difference_low", "nps_difference_high", "n_nps_mentioning", "n_nps_others",
        "value_mentioning", "value_at_risk", "top_terms", "examples",
    ]  # fmt: skip
    trend = _trend(f, period, meta["theme"])
    return ThemeTable(
        frame=table[columns].reset_index(drop=True),
        trend=trend,
        comments=comments,
        period=period,
        confidence=confidence,
    )


def _nps_impact(
    ws: Workspace | None, mentions: pd.DataFrame, theme_ids: pd.Series, confidence: float
) -> pd.DataFrame:
    """NPS of the answers of customers who mention each theme against the others' (-100..100)."""
    cols = [
        "nps_mentioning", "nps_others", "nps_difference", "nps_difference_low",
        "nps_difference_high", "n_nps_mentioning", "n_nps_others",
    ]  # fmt: skip
    empty = pd.DataFrame(np.nan, index=pd.Index(theme_ids, name="theme_id"), columns=cols)
    if ws is None or mentions.empty or not ws.engine.has_table("responses"):
        return empty
    r = ws.table("responses")
    nps = r.filter((r.metric == "nps") & r.customer_id.notnull())
    per_customer = (
        nps.group_by("customer_id")
        .aggregate(
            n=nps.count(),
            promoters=(nps.score >= _NPS.top_from).sum(),
            detractors=(nps.score <= float(_NPS.bottom_to or 6)).sum(),
        )
        .execute()
    )
    if per_customer.empty:
        return empty
    per_customer["customer_id"] = per_customer["customer_id"].astype(str)
    counts = per_customer.set_index("customer_id")[["n", "promoters", "detractors"]].astype(float)
    total = counts.sum()
    pairs = mentions[["theme_id", "customer_id"]].drop_duplicates()
    pairs = pairs.assign(customer_id=pairs["customer_id"].astype(str))
    joined = pairs.join(counts, on="customer_id", how="inner")
    per_theme = joined.groupby("theme_id")[["n", "promoters", "detractors"]].sum()
    per_theme = per_theme.reindex(theme_ids).fillna(0.0)
    n_a = per_theme["n"].to_numpy()
    p_a = np.divide(per_theme["promoters"], n_a, out=np.zeros_like(n_a), where=n_a > 0)
    d_a = np.divide(per_theme["detractors"], n_a, out=np.zeros_like(n_a), where=n_a > 0)
    n_b = total["n"] - n_a
    p_b = np.divide(
        total["promoters"] - per_theme["promoters"], n_b, out=np.zeros_like(n_b), where=n_b > 0
    )
    d_b = np.divide(
        total["detractors"] - per_theme["detractors"], n_b, out=np.zeros_like(n_b), where=n_b > 0
    )
    center_a, se_a, _, _ = intervals.nps_adjusted_wald(p_a, d_a, n_a, confidence)
    center_b, se_b, _, _ = intervals.nps_adjusted_wald(p_b, d_b, n_b, confidence)
    z = intervals.z_value(confidence)
    diff = center_a - center_b
    half = z * np.sqrt(se_a**2 + se_b**2)
    return pd.DataFrame(
        {
            "nps_mentioning": np.where(n_a > 0, (p_a - d_a) * 100, np.nan),
            "nps_others": np.where(n_b > 0, (p_b - d_b) * 100, np.nan),
            "nps_difference": np.where(
                (n_a > 0) & (n_b > 0), (p_a - d_a - p_b + d_b) * 100, np.nan
            ),
            "nps_difference_low": np.where((n_a > 0) & (n_b > 0), (diff - half) * 100, np.nan),
            "nps_difference_high": np.where((n_a > 0) & (n_b > 0), (diff + half) * 100, np.nan),
            "n_nps_mentioning": n_a.astype("int64"),
            "n_nps_others": n_b.astype("int64"),
        },
        index=pd.Index(theme_ids, name="theme_id"),
    )


def _values(value: Any, mentions: pd.DataFrame, theme_ids: pd.Series) -> pd.DataFrame:
    """Summed value of the customers who mention each theme, and of those who do negatively."""
    index = pd.Index(theme_ids, name="theme_id")
    if value is None:
        return pd.DataFrame({"value_mentioning": np.nan, "value_at_risk": np.nan}, index=index)
    if hasattr(value, "frame") and "clv" in getattr(value, "frame", pd.DataFrame()).columns:
        values = value.frame.set_index("customer_id")["clv"]
    elif isinstance(value, pd.Series):
        values = value
    else:
        raise MetricError("value must be a rox.value.CLV or a pandas Series indexed by customer_id")
    values = values.astype("float64")
    values.index = values.index.astype(str)
    m = mentions.assign(customer_id=mentions["customer_id"].astype(str))
    every = m[["theme_id", "customer_id"]].drop_duplicates()
    negative = m[m["sentiment_label"] == "negative"][["theme_id", "customer_id"]].drop_duplicates()

    def summed(pairs: pd.DataFrame) -> pd.Series:
        return (
            pairs.assign(v=pairs["customer_id"].map(values).fillna(0.0))
            .groupby("theme_id")["v"]
            .sum()
            .reindex(theme_ids)
            .fillna(0.0)
        )

    return pd.DataFrame(
        {
            "value_mentioning": summed(every).to_numpy(),
            "value_at_risk": summed(negative).to_numpy(),
        },
        index=index,
    )


def _trend(f: pd.DataFrame, period: str, labels: pd.Series) -> pd.DataFrame:
    """Comments, share of the period's comments and mean sentiment, by theme and period."""
    cols = ["theme_id", "theme", "period", "comments", "share", "sentiment"]
    if "ts" not in f.columns or f.empty:
        return pd.DataFrame(columns=cols)
    ts = pd.to_datetime(f["ts"], utc=True).dt.tz_convert(None)
    code = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[period]
    periods = ts.dt.to_period(code).dt.start_time
    g = f.assign(period=periods).groupby(["theme_id", "period"])
    trend = g.agg(comments=("comment", "size"), sentiment=("sentiment", "mean")).reset_index()
    per_period = trend.groupby("period")["comments"].transform("sum")
    trend["share"] = trend["comments"] / per_period
    trend["theme"] = trend["theme_id"].map(labels)
    return trend[cols].sort_values(["period", "theme_id"]).reset_index(drop=True)
