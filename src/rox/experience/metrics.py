"""NPS, CSAT, CES and response counts, by any columns and period, with confidence intervals.

Each function runs one aggregation in the workspace's engine (:class:`~rox.experience.query.
ScoreQuery`) and computes the figures and their intervals from the returned score distribution
(:mod:`rox.experience.estimates`, :mod:`rox.experience.intervals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from rox.errors import MetricError
from rox.experience.estimates import METHODS, estimate, finish, scale_cuts, summarise
from rox.experience.query import ScoreQuery, as_columns
from rox.results import Result
from rox.schema import METRICS

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = [
    "DEFAULT_MIN_N",
    "ExperienceResult",
    "ces",
    "counts",
    "csat",
    "measure",
    "nps",
    "scorecard",
]

#: Groups with fewer responses than this are flagged ``low_n`` and never ranked.
DEFAULT_MIN_N = 30

_SHARES = {
    "nps": ["promoters", "passives", "detractors"],
    "csat": [],
    "ces": ["easy", "easy_low", "easy_high"],
}
_UNITS = {"nps": "points", "csat": "% satisfied", "ces": "mean effort score"}


@dataclass(frozen=True, eq=False)
class ExperienceResult(Result):
    """An experience figure per group and period, with its confidence interval.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per group: the ``by`` columns, ``period`` (start of the period, UTC) when asked,
        ``n`` (responses), ``n_eff`` (effective n with weights; equals n without), ``estimate``,
        ``ci_low``, ``ci_high``, ``se``; NPS adds ``promoters``, ``passives``, ``detractors``
        (%), CES adds ``easy`` (%, with ``easy_low``/``easy_high``); ``low_n`` flags groups
        with fewer than ``min_n`` responses.
    metric : str
        ``nps``, ``csat`` or ``ces``.
    by : tuple of str
        The breakdown columns.
    period : str or None
        The period of the breakdown.
    method : str
        Interval method.
    level : float
        Confidence level.
    min_n : int
        Threshold of ``low_n``.
    """

    metric: str = "nps"
    by: tuple[str, ...] = ()
    period: str | None = None
    method: str = ""
    level: float = 0.95
    min_n: int = DEFAULT_MIN_N

    _plotter: ClassVar[str | None] = "rox.viz.experience:plot_result"

    @property
    def unit(self) -> str:
        """What the estimate measures, for labels."""
        return _UNITS[self.metric]

    def __repr__(self) -> str:
        head = f"{self.metric.upper()} ({self.method}, {self.level:.0%} intervals)"
        return f"{head}\n{self.frame.to_string(index=False, max_rows=30)}"


def measure(
    ws: Workspace,
    metric: str,
    by: str | Sequence[str] | None = None,
    period: str | None = None,
    *,
    method: str | None = None,
    **options: Any,
) -> ExperienceResult:
    """Compute ``metric`` by ``by`` and ``period``; :func:`nps`, :func:`csat` and :func:`ces`.

    Returns
    -------
    ExperienceResult
        Empty (no rows) when no response matches.
    """
    methods = None if method is None else {metric: method}
    return scorecard(ws, by, period, metrics=(metric,), methods=methods, **options)[metric]


def scorecard(
    ws: Workspace,
    by: str | Sequence[str] | None = None,
    period: str | None = None,
    *,
    metrics: Sequence[str] = METRICS,
    methods: Mapping[str, str] | None = None,
    since: Any = None,
    until: Any = None,
    where: Mapping[str, Any] | None = None,
    level: float = 0.95,
    min_n: int = DEFAULT_MIN_N,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> dict[str, ExperienceResult]:
    """NPS, CSAT and CES together, from one scan of the responses.

    Parameters are those of :func:`nps`; ``methods`` maps a metric to its interval method.

    Returns
    -------
    dict of str to ExperienceResult
        One result per metric in ``metrics`` (empty where the metric has no responses).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> card = rox.experience.scorecard(ws, by="channel", period="month")
    >>> sorted(card)
    ['ces', 'csat', 'nps']
    """
    chosen: dict[str, str] = {}
    for metric in metrics:
        if metric not in METHODS:
            raise MetricError(f"unknown metric {metric!r}; expected one of {', '.join(METHODS)}")
        chosen[metric] = (methods or {}).get(metric) or METHODS[metric][0]
        if chosen[metric] not in METHODS[metric]:
            raise MetricError(
                f"unknown interval method {chosen[metric]!r} for {metric}; expected one of "
                f"{', '.join(METHODS[metric])}"
            )
    only = metrics[0] if len(metrics) == 1 else None
    query = ScoreQuery(
        only, by=tuple(as_columns(by)), period=period, since=since, until=until, where=where
    )
    keys = query.group_columns
    scale_of = ws.scale_lookup()
    # the engine sums each group's statistics where every method chosen needs no more; the
    # bootstrap resamples each group's score distribution, which only the distribution gives
    boot = "bootstrap" in chosen.values()
    table = query.fetch(ws) if boot else query.sums(ws, scale_cuts(query.scales(ws), scale_of))
    out = {}
    for metric, method in chosen.items():
        part = table[table["metric"] == metric]
        keep = [*keys, "n", "n_eff", "estimate", "ci_low", "ci_high", "se", *_SHARES[metric]]
        if part.empty:
            frame = pd.DataFrame(columns=keep)
        else:
            summary = (
                summarise(part, keys, scale_of, with_values=method == "bootstrap")
                if boot
                else finish(part)
            )
            frame = estimate(
                summary, metric, method=method, level=level, n_resamples=n_resamples, seed=seed
            ).reindex(columns=keep)
        frame["low_n"] = frame["n"] < min_n
        out[metric] = ExperienceResult(
            frame=frame.reset_index(drop=True),
            metric=metric,
            by=query.by,
            period=period,
            method=method,
            level=level,
            min_n=min_n,
        )
    return out


def nps(
    ws: Workspace, by: str | Sequence[str] | None = None, period: str | None = None, **options: Any
) -> ExperienceResult:
    """Net Promoter Score: % promoters - % detractors, in points (-100..100).

    Parameters
    ----------
    ws : Workspace
        The workspace whose ``responses`` to use.
    by : str or list of str, optional
        Columns to break down by (``"touchpoint,channel"`` or a list); columns of ``customers``
        such as ``segment`` are joined in.
    period : {'day', 'week', 'month', 'quarter', 'year'}, optional
        Also break down by period (UTC).
    **options
        ``since``/``until`` (keep ``since <= ts < until``), ``where`` (column -> value(s)),
        ``method`` (``adjusted-wald`` (default), ``wald`` or ``bootstrap``), ``level`` (0.95),
        ``min_n`` (30), ``n_resamples`` and ``seed`` (bootstrap).

    Returns
    -------
    ExperienceResult

    Notes
    -----
    Promoters answer at or above the scale's ``top_from`` (9 on 0-10), detractors at or below
    ``bottom_to`` (6) (Reichheld 2003). With weights, shares are weighted and intervals use the
    effective n. The default interval is the adjusted Wald of Rocks (2016); see
    :mod:`rox.experience.intervals`.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> rox.experience.nps(ws, by="touchpoint").to_frame().columns[:4].tolist()
    ['touchpoint', 'n', 'n_eff', 'estimate']
    """
    return measure(ws, "nps", by, period, **options)


def csat(
    ws: Workspace, by: str | Sequence[str] | None = None, period: str | None = None, **options: Any
) -> ExperienceResult:
    """Customer satisfaction: % satisfied (top-2-box on 1-5 by default), with Wilson intervals.

    Parameters are those of :func:`nps`; ``method`` is ``wilson`` (default), ``wald`` or
    ``bootstrap``.
    """
    return measure(ws, "csat", by, period, **options)


def ces(
    ws: Workspace, by: str | Sequence[str] | None = None, period: str | None = None, **options: Any
) -> ExperienceResult:
    """Customer effort score: mean (t interval) and % easy (5-7 on 1-7 by default, Wilson).

    Parameters are those of :func:`nps`; ``method`` is ``t`` (default) or ``bootstrap``. Scores on
    another declared scale are rescaled linearly to 1-7 for the mean.
    """
    return measure(ws, "ces", by, period, **options)


def counts(
    ws: Workspace,
    by: str | Sequence[str] | None = None,
    period: str | None = None,
    *,
    since: Any = None,
    until: Any = None,
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Number of responses per metric, group and period (and the weighted total ``w``)."""
    query = ScoreQuery(
        None, by=tuple(as_columns(by)), period=period, since=since, until=until, where=where
    )
    dist = query.fetch(ws)
    group = [*query.group_columns, "metric"]
    if dist.empty:
        return pd.DataFrame(columns=[*group, "n", "w"])
    out = dist.groupby(group, dropna=False)[["n", "w"]].sum().reset_index()
    out["n"] = out["n"].astype("int64")
    return out
