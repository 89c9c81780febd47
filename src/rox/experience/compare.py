"""Is a difference real? Compare an experience metric between two periods or between groups.

Tests
-----
NPS
    z-test on the difference of the two adjusted-Wald estimates (Rocks 2016: each side gets 3/4
    promoter, 3/2 passive and 3/4 detractor pseudo-responses), interval ``diff ± z se``.
CSAT, % easy
    Two-proportion z-test (pooled variance) with Newcombe's hybrid score interval (method 10).
CES mean
    Welch's t-test.
Paired (``paired=True``, periods only)
    When the same customers answered in both periods, their answers are not independent: the test
    keeps the customers who answered in both, scores each customer per period (mean of +1/0/-1 for
    NPS, of 1/0 for CSAT, of the score for CES) and bootstraps the mean change over customers.
Many comparisons at once
    p-values are adjusted with Holm's step-down method (family-wise error; Holm 1979) or the
    Benjamini-Hochberg procedure (false discovery rate; Benjamini & Hochberg 1995).

Every row carries the p-value, a plain-language verdict and the smallest difference detectable at
80% power with the samples at hand. Sides with fewer than ``min_n`` responses are flagged and
never called significant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.experience import intervals
from rox.experience.estimates import METHODS, estimate, summarise
from rox.experience.metrics import DEFAULT_MIN_N
from rox.experience.query import ScoreQuery, as_columns
from rox.results import Result

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["Comparison", "adjust_pvalues", "compare", "parse_period"]

Correction = Literal["holm", "bh", "none"]
_UNITS = {"nps": "points", "csat": "points", "ces": "points on the 1-7 scale"}
_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
#: Columns of a comparison after the group columns.
COMPARISON_COLUMNS = (
    "a",
    "b",
    "n_a",
    "n_b",
    "estimate_a",
    "estimate_b",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "detectable",
    "low_n",
    "verdict",
)
#: What a group is compared with when neither ``groups`` nor ``reference`` is given.
OTHERS = "all others"


@dataclass(frozen=True, eq=False)
class Comparison(Result):
    """Comparisons of a metric: one row per pair compared.

    Attributes
    ----------
    frame : pandas.DataFrame
        The group columns (when comparing within groups), ``a`` and ``b`` (what is compared),
        ``n_a``, ``n_b``, ``estimate_a``, ``estimate_b``, ``difference`` (b - a), ``ci_low``,
        ``ci_high``, ``p_value``, ``p_adjusted``, ``significant``, ``detectable`` (smallest
        difference detectable at 80% power), ``low_n`` and ``verdict``.
    metric : str
    test : str
        The test used.
    correction : str
        The multiple-comparison correction applied to ``p_adjusted``.
    """

    metric: str = "nps"
    test: str = ""
    correction: str = "none"
    alpha: float = 0.05

    _plotter: ClassVar[str | None] = "rox.viz.experience:plot_comparison"

    @property
    def group_columns(self) -> list[str]:
        """The columns naming the group each comparison is made within (empty: none)."""
        return [c for c in self.frame.columns if c not in COMPARISON_COLUMNS]

    @property
    def verdicts(self) -> list[str]:
        """The plain-language verdict of each comparison."""
        return [str(v) for v in self.frame["verdict"]]


def parse_period(spec: Any) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """Return ``(start, end, label)`` of a period.

    ``"2024-07"`` (month), ``"2024Q3"``, ``"2024H2"``, ``"2024"``, ``"2024-W05"`` (ISO week),
    ``"START:END"`` (end exclusive), a ``(start, end)`` pair or a ``(start, end, label)``
    triple.

    Raises
    ------
    MetricError
        If the period cannot be read.
    """
    if isinstance(spec, tuple | list) and len(spec) == 3:
        start, end, label = spec
    elif isinstance(spec, tuple | list) and len(spec) == 2:
        start, end = spec
        label = f"{pd.Timestamp(start):%Y-%m-%d} to {pd.Timestamp(end):%Y-%m-%d}"
    elif isinstance(spec, str) and ":" in spec and not spec.count(":") > 1:
        start, _, end = spec.partition(":")
        label = spec
    elif isinstance(spec, str) and re.fullmatch(r"\d{4}-?H[12]", spec.strip()):
        year, half = int(spec.strip()[:4]), int(spec.strip()[-1])
        start = pd.Timestamp(year=year, month=6 * half - 5, day=1)
        end, label = start + pd.DateOffset(months=6), spec
    elif isinstance(spec, str) and (week := re.fullmatch(r"(\d{4})-?W(\d{2})", spec.strip())):
        start = pd.Timestamp(date.fromisocalendar(int(week[1]), int(week[2]), 1))
        end, label = start + pd.Timedelta(days=7), spec
    elif isinstance(spec, str):
        try:
            p = pd.Period(spec)
        except (ValueError, TypeError):
            raise MetricError(
                f"cannot read the period {spec!r}; expected e.g. 2024-07, 2024Q3, 2024 or "
                "2024-01-01:2024-07-01 (end excluded)"
            ) from None
        start, end, label = p.start_time, (p + 1).start_time, spec
    else:
        raise MetricError(f"cannot read the period {spec!r}")
    try:
        s = pd.Timestamp(start).tz_localize(None)
        e = pd.Timestamp(end).tz_localize(None)
    except (ValueError, TypeError):
        msg = f"cannot read the period {spec!r}: {start!r} or {end!r} is not a date"
        raise MetricError(msg) from None
    if s >= e:
        raise MetricError(f"period {spec!r} ends before it starts")
    return s, e, label


def adjust_pvalues(p: Sequence[float] | np.ndarray, method: Correction = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons (NaN entries are left out of the family).

    ``holm``: Holm (1979) step-down, controls the family-wise error rate.
    ``bh``: Benjamini & Hochberg (1995) step-up, controls the false discovery rate.
    ``none``: unchanged.
    """
    p = np.asarray(p, dtype="float64")
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    if method == "none" or m == 0:
        out[ok] = q
        return out
    order = np.argsort(q)
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
    else:
        raise MetricError(f"unknown correction {method!r}; expected holm, bh or none")
    result = np.empty(m)
    result[order] = np.minimum(adj, 1.0)
    out[ok] = result
    return out


def compare(
    ws: Workspace,
    metric: str,
    *,
    periods: Sequence[Any] | None = None,
    by: str | Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    reference: Any = None,
    paired: bool = False,
    correction: Correction = "holm",
    alpha: float = 0.05,
    power: float = 0.8,
    min_n: int = DEFAULT_MIN_N,
    since: Any = None,
    until: Any = None,
    where: Mapping[str, Any] | None = None,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> Comparison:
    """Compare ``metric`` between two periods, or between the groups of a column.

    Parameters
    ----------
    ws : Workspace
    metric : {'nps', 'csat', 'ces'}
    periods : pair of periods, optional
        ``[a, b]``: compare b with a (e.g. ``["2024Q1", "2024Q2"]``, or ``(start, end)`` pairs);
        with ``by``, within each group.
    by : str or list of str, optional
        Without ``periods``: compare the groups of this column, each with all the others pooled
        (``a`` is then ``"all others"``), or with ``reference``, or only the two ``groups`` given.
    groups : pair of values, optional
        Compare just these two groups of ``by`` (b with a).
    reference : value, optional
        Compare every other group with this one instead of with the rest.
    paired : bool
        With ``periods``: keep customers who answered in both and bootstrap over customers.
    correction : {'holm', 'bh', 'none'}
        Adjustment of p-values when more than one comparison is made.
    alpha : float
        Significance level (two-sided).
    power : float
        Power used for ``detectable``.
    min_n : int
        Minimum responses on each side for a comparison to be judged.
    since, until, where
        Filters applied to every side (see :func:`rox.experience.nps`).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> c = rox.experience.compare(ws, "nps", periods=["2024H1", "2024H2"])
    >>> c.to_frame()[["a", "b"]].values.tolist()
    [['2024H1', '2024H2']]
    """
    if metric not in METHODS:
        raise MetricError(f"unknown metric {metric!r}; expected one of {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise MetricError(f"alpha must be between 0 and 1, not {alpha}")
    keys = as_columns(by)
    level = 1 - alpha
    if periods is not None:
        if len(periods) != 2:
            raise MetricError("periods must be two periods: [a, b]")
        (sa, ea, la), (sb, eb, lb) = (parse_period(p) for p in periods)
        if paired:
            return _paired(
                ws,
                metric,
                (sa, ea, la),
                (sb, eb, lb),
                keys,
                alpha,
                power,
                min_n,
                where,
                n_resamples,
                seed,
                correction,
            )
        sides = []
        for start, end in ((sa, ea), (sb, eb)):
            lo = start if since is None else max(start, pd.Timestamp(since).tz_localize(None))
            hi = end if until is None else min(end, pd.Timestamp(until).tz_localize(None))
            query = ScoreQuery(metric, by=tuple(keys), since=lo, until=hi, where=where)
            sides.append(_estimates(ws, query, keys, level, n_resamples, seed))
        a, b = sides
        pairs = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b")) if keys else _cross(a, b)
        pairs["a"], pairs["b"] = la, lb
    else:
        if paired:
            raise MetricError("paired comparisons are between periods: give periods=[a, b]")
        if not keys:
            raise MetricError("give periods=[a, b] or by=COLUMN to say what to compare")
        if len(keys) != 1:
            raise MetricError("compare groups of one column at a time (by='channel')")
        pairs = _group_pairs(
            ws, metric, keys[0], groups, reference, since, until, where, level, n_resamples, seed
        )
        keys = []
    return _judge(pairs, metric, keys, alpha, power, min_n, correction)


def _estimates(
    ws: Workspace,
    query: ScoreQuery,
    keys: list[str],
    level: float,
    n_resamples: int,
    seed: int | None,
) -> pd.DataFrame:
    dist = query.fetch(ws)
    cols = [*keys, "n", "estimate", "se", "center", "n_eff", "top"]
    if dist.empty:
        return pd.DataFrame(columns=cols)
    summary = summarise(dist, keys, ws.scale_lookup())
    assert query.metric is not None
    return estimate(summary, query.metric, level=level, n_resamples=n_resamples, seed=seed)[cols]


def _cross(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    a = a.add_suffix("_a") if len(a) else pd.DataFrame([{c + "_a": np.nan for c in a.columns}])
    b = b.add_suffix("_b") if len(b) else pd.DataFrame([{c + "_b": np.nan for c in b.columns}])
    return pd.concat([a.reset_index(drop=True), b.reset_index(drop=True)], axis=1)


def _group_pairs(
    ws: Workspace,
    metric: str,
    column: str,
    groups: Sequence[Any] | None,
    reference: Any,
    since: Any,
    until: Any,
    where: Mapping[str, Any] | None,
    level: float,
    n_resamples: int,
    seed: int | None,
) -> pd.DataFrame:
    """One row per comparison of groups of ``column``: two groups, each vs reference or rest."""
    query = ScoreQuery(metric, by=(column,), since=since, until=until, where=where)
    dist = query.fetch(ws)
    scale_of = ws.scale_lookup()
    values = sorted(dist[column].dropna().unique().tolist(), key=str)
    if groups is not None:
        if len(groups) != 2:
            raise MetricError("groups must be two values: [a, b]")
        plan = [(groups[0], groups[1])]
    elif reference is not None:
        plan = [(reference, g) for g in values if g != reference]
    else:
        plan = [(OTHERS, g) for g in values]
    for name in {x for pair in plan for x in pair} - {OTHERS}:
        if name not in values:
            raise MetricError(
                f"no {metric} responses with {column} = {name!r}; groups are: "
                f"{', '.join(map(str, values)) or 'none'}"
            )
    if not plan:
        raise MetricError(f"{column} has fewer than two groups with {metric} responses")
    rows = []
    per_group = dist.drop(columns=[column])
    for a, b in plan:
        side_a = per_group[dist[column] != b] if a == OTHERS else per_group[dist[column] == a]
        side_b = per_group[dist[column] == b]
        est = []
        for side in (side_a, side_b):
            pooled = side.groupby(["metric", "scale", "score"], dropna=False, as_index=False)[
                ["n", "w", "w2"]
            ].sum()
            est.append(
                estimate(
                    summarise(pooled, [], scale_of),
                    metric,
                    level=level,
                    n_resamples=n_resamples,
                    seed=seed,
                ).iloc[0]
                if len(pooled)
                else None
            )
        row: dict[str, Any] = {"a": a, "b": b}
        for suffix, e in zip(("_a", "_b"), est, strict=True):
            for c in ("n", "estimate", "se", "center", "n_eff", "top"):
                row[c + suffix] = np.nan if e is None else e[c]
        rows.append(row)
    return pd.DataFrame(rows)


def _judge(
    pairs: pd.DataFrame,
    metric: str,
    keys: list[str],
    alpha: float,
    power: float,
    min_n: int,
    correction: Correction,
) -> Comparison:
    """Test each pair, adjust the p-values and write the verdicts."""
    p = pairs.copy()
    for side in ("a", "b"):
        p[f"n_{side}"] = p[f"n_{side}"].fillna(0).astype("int64")
    z = intervals.z_value(1 - alpha)
    se_a, se_b = p["se_a"].to_numpy(float), p["se_b"].to_numpy(float)
    if metric == "nps":
        diff_c = p["center_b"].to_numpy(float) - p["center_a"].to_numpy(float)
        se = np.sqrt(se_a**2 + se_b**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_value = intervals.two_sided_p(diff_c / se)
        low, high = diff_c - z * se, diff_c + z * se
        test = "adjusted-Wald z-test (Rocks 2016)"
    elif metric == "csat":
        pa, pb = p["top_a"].to_numpy(float), p["top_b"].to_numpy(float)
        na, nb = p["n_eff_a"].to_numpy(float), p["n_eff_b"].to_numpy(float)
        pool = (pa * na + pb * nb) / (na + nb)
        with np.errstate(divide="ignore", invalid="ignore"):
            se0 = np.sqrt(pool * (1 - pool) * (1 / na + 1 / nb))
            p_value = intervals.two_sided_p((pb - pa) / se0)
        lo, hi = intervals.newcombe_difference(pa, na, pb, nb, 1 - alpha)
        low, high = lo * 100, hi * 100
        se = np.sqrt(se_a**2 + se_b**2)
        test = "two-proportion z-test, Newcombe interval"
    else:
        na, nb = p["n_eff_a"].to_numpy(float), p["n_eff_b"].to_numpy(float)
        se = np.sqrt(se_a**2 + se_b**2)
        diff = p["estimate_b"].to_numpy(float) - p["estimate_a"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = se**4 / (se_a**4 / (na - 1) + se_b**4 / (nb - 1))
            p_value = intervals.t_two_sided_p(diff / se, df)
            t = intervals.t_quantile(1 - alpha / 2, df)
        low, high = diff - t * se, diff + t * se
        test = "Welch t-test"
    return _finish(p, metric, keys, p_value, low, high, se, alpha, power, min_n, correction, test)


def _finish(
    p: pd.DataFrame,
    metric: str,
    keys: list[str],
    p_value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    se: np.ndarray,
    alpha: float,
    power: float,
    min_n: int,
    correction: Correction,
    test: str,
) -> Comparison:
    p["difference"] = p["estimate_b"].astype(float) - p["estimate_a"].astype(float)
    p["ci_low"], p["ci_high"], p["p_value"] = low, high, p_value
    p["low_n"] = (p["n_a"] < min_n) | (p["n_b"] < min_n)
    judged = np.where(p["low_n"], np.nan, p["p_value"].astype(float))
    used = correction if np.sum(~np.isnan(judged)) > 1 else "none"
    p["p_adjusted"] = adjust_pvalues(judged, used)
    p["significant"] = (p["p_adjusted"] < alpha).fillna(False).astype(bool)
    p["detectable"] = intervals.detectable_difference(se, alpha, power)
    p["verdict"] = [_verdict(r, metric, min_n, used) for r in p.itertuples(index=False)]
    cols = [*keys, *COMPARISON_COLUMNS]
    return Comparison(
        frame=p[cols].reset_index(drop=True), metric=metric, test=test, correction=used, alpha=alpha
    )


def _verdict(r: Any, metric: str, min_n: int, correction: str) -> str:
    name, unit = _NAMES[metric], _UNITS[metric]
    if r.low_n:
        return (
            f"Not judged: too few responses ({r.n_a:,} in {r.a}, {r.n_b:,} in {r.b}; "
            f"at least {min_n} each are needed)."
        )
    p_text = f"p {_p(r.p_value)}"
    if correction != "none":
        name_of = "Holm" if correction == "holm" else "Benjamini-Hochberg"
        adjusted = _p(r.p_adjusted)
        p_text = (
            f"p {adjusted} after {name_of} correction"
            if adjusted == _p(r.p_value)
            else f"{p_text}, {adjusted.removeprefix('= ')} after {name_of} correction"
        )
    if r.significant:
        way = "higher" if r.difference > 0 else "lower"
        return (
            f"{name} is {abs(r.difference):.1f} {unit} {way} in {r.b} than in {r.a} "
            f"(interval {r.ci_low:+.1f} to {r.ci_high:+.1f}; {p_text}): a real difference."
        )
    return (
        f"No significant difference between {r.a} and {r.b} ({r.difference:+.1f} {unit}; "
        f"{p_text}); with these samples only differences of about {r.detectable:.1f} {unit} "
        "or more would be detected."
    )


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.2g}"


def _paired(
    ws: Workspace,
    metric: str,
    a: tuple[Any, Any, str],
    b: tuple[Any, Any, str],
    keys: list[str],
    alpha: float,
    power: float,
    min_n: int,
    where: Mapping[str, Any] | None,
    n_resamples: int,
    seed: int | None,
    correction: Correction,
) -> Comparison:
    """Paired comparison: bootstrap over customers who answered in both periods."""
    scores = []
    for start, end, _ in (a, b):
        query = ScoreQuery(
            metric, by=tuple(keys), since=start, until=end, where=where, by_customer=True
        )
        scores.append(_customer_scores(ws, query, [*keys, "customer_id"], metric))
    both = scores[0].merge(scores[1], on=[*keys, "customer_id"], suffixes=("_a", "_b"))
    rng = np.random.default_rng(seed)
    rows = []
    groups = both.groupby(keys, dropna=False) if keys else [((), both)]
    for key, g in groups:
        xa, xb = g["x_a"].to_numpy(), g["x_b"].to_numpy()
        diff = xb - xa
        n = len(diff)
        boot = np.full(n_resamples, np.nan)
        for start in range(0, n_resamples, 200):
            stop = min(start + 200, n_resamples)
            idx = rng.integers(0, n, size=(stop - start, n)) if n else np.empty((0, 0), int)
            boot[start:stop] = diff[idx].mean(axis=1) if n else np.nan
        scale = 100 if metric in ("nps", "csat") else 1
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2]) if n else (np.nan, np.nan)
        p_boot = min(1.0, 2 * min(np.mean(boot <= 0), np.mean(boot >= 0))) if n else np.nan
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row.update(
            a=a[2],
            b=b[2],
            n_a=n,
            n_b=n,
            estimate_a=xa.mean() * scale if n else np.nan,
            estimate_b=xb.mean() * scale if n else np.nan,
            ci_low=lo * scale,
            ci_high=hi * scale,
            p_value=p_boot,
            se=boot.std(ddof=1) * scale if n > 1 else np.nan,
        )
        rows.append(row)
    p = pd.DataFrame(rows)
    if p.empty:
        raise MetricError(f"no customer answered {metric} in both {a[2]} and {b[2]}")
    return _finish(
        p,
        metric,
        keys,
        p["p_value"].to_numpy(float),
        p["ci_low"].to_numpy(float),
        p["ci_high"].to_numpy(float),
        p["se"].to_numpy(float),
        alpha,
        power,
        min_n,
        correction,
        "paired bootstrap over customers",
    )


def _customer_scores(
    ws: Workspace, query: ScoreQuery, keys: list[str], metric: str
) -> pd.DataFrame:
    """Each customer's score in a period: mean of +1/0/-1 (NPS), 1/0 (CSAT) or the score (CES)."""
    dist = query.fetch(ws)
    if dist.empty:
        return pd.DataFrame(columns=[*keys, "x"])
    s = summarise(dist, keys, ws.scale_lookup())
    x = s["top"] - s["bottom"] if metric == "nps" else s["top"] if metric == "csat" else s["mean"]
    return s[keys].assign(x=x.to_numpy())
