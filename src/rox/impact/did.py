"""Difference in differences: what an initiative measurably changed, against an untreated control.

Two windows of equal length meet at the initiative's start (``before``: the ``window`` before it,
``after``: the ``window`` from it on); the target's customers are the test group, every other
customer the control. With ``m`` the outcome's mean in a group and window::

    effect = (m[target, after] - m[target, before]) - (m[control, after] - m[control, before])

Two outcomes, both aggregated in the engine:

``nps``
    NPS (-100..100) of the answers given in each group and window (repeated cross-sections). The
    per-answer variance of NPS = p - d is ``p + d - (p - d)^2`` (p, d the shares of promoters and
    detractors), so each cell's variance is that over its answers and the effect's variance the
    sum of the four cells' (answers taken as independent).
``spend``
    Spend per customer, on a panel: the customers with a transaction before the ``before`` window
    (they could buy in both windows); each customer's change ``after - before`` (0 without
    purchases), and ``effect = mean change of the target - mean change of the control``, with the
    Welch variance ``s_t^2 / n_t + s_c^2 / n_c``. ``products`` restricts the transactions counted.

The interval is ``effect +/- z * se`` (normal; Angrist & Pischke 2009, ch. 5).

**Parallel trends** (the assumption that makes the effect causal: without the initiative, the
target would have moved like the control). The ``before`` window is cut into ``bins`` equal
parts; in each, the difference between the groups ``D_k`` and its variance ``V_k`` are computed as
above (spend: the mean spend per panel customer in the part, 0 with variance 0 for a group
whose panel bought nothing in it). The weighted least-squares slope of
``D_k`` on time (weights ``1/V_k``, parts taken as independent) is the pre-period trend difference
per year, tested against 0 with ``z = slope / se``; a small p-value (below ``1 - confidence``)
flags trends that were not parallel before the start, and the effect is then not to be read as
causal.

Causal under assumptions: parallel trends, no other change at the start that hits only one group,
no spill-over from the target to the control, and a target fixed before the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import numpy as np
import pandas as pd

from rox._stats import two_sided_p, z_value
from rox.errors import MetricError
from rox.experience.intervals import nps_variance
from rox.impact.profile import scale_columns
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["ASSUMPTIONS", "DiD", "did", "did_estimate", "trend_difference"]

Outcome = Literal["nps", "spend"]

ASSUMPTIONS = (
    "without the initiative the target would have moved like the control (parallel trends)",
    "nothing else changed at the start for one group only",
    "the initiative did not reach the control (no spill-over)",
)
_DAY = 86_400.0


@dataclass(frozen=True, eq=False)
class DiD(Result):
    """A difference in differences, with its interval and parallel-trends check.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per group (``target``, ``control``) and window (``before``, ``after``):
        ``n`` (answers, or panel customers), ``mean`` (NPS points, or spend per customer), ``se``.
    outcome : str
        ``"nps"`` or ``"spend"``.
    effect, se, low, high, p_value : float
        The difference in differences, its standard error, interval and two-sided p-value.
    trend, trend_se, trend_p : float
        The pre-period trend difference (target minus control, per year), its standard error and
        p-value (NaN with fewer than 3 usable parts).
    parallel : bool
        Whether the pre-period trends are compatible with parallel (``trend_p >= 1 - confidence``,
        or not testable).
    before, after : tuple of pandas.Timestamp
        The windows (start inclusive, end exclusive).
    confidence : float
    label : str
        ``"causal under assumptions"``.
    assumptions : tuple of str
    """

    outcome: str = "nps"
    effect: float = float("nan")
    se: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    p_value: float = float("nan")
    trend: float = float("nan")
    trend_se: float = float("nan")
    trend_p: float = float("nan")
    parallel: bool = True
    before: tuple[pd.Timestamp, pd.Timestamp] | None = None
    after: tuple[pd.Timestamp, pd.Timestamp] | None = None
    confidence: float = 0.95
    label: str = "causal under assumptions"
    assumptions: tuple[str, ...] = ASSUMPTIONS

    _plotter: ClassVar[str | None] = None

    def covers(self, value: float) -> bool:
        """Whether the interval holds ``value``."""
        return bool(self.low <= value <= self.high)

    def __str__(self) -> str:
        unit = "NPS points" if self.outcome == "nps" else "spend per customer"
        trend = (
            "pre-period trends not testable"
            if np.isnan(self.trend_p)
            else f"pre-period trend difference {self.trend:+,.2f} a year (p = {self.trend_p:.2f})"
            + ("" if self.parallel else ": NOT parallel, read the effect with suspicion")
        )
        return (
            f"Difference in differences ({unit}): {self.effect:+,.2f} "
            f"({self.confidence:.0%} interval {self.low:+,.2f} to {self.high:+,.2f}); {trend}."
        )


def did_estimate(cells: pd.DataFrame, *, panel: bool = False) -> tuple[float, float]:
    """The difference in differences and its standard error from per-cell summaries.

    Parameters
    ----------
    cells : pandas.DataFrame
        Without ``panel``: indexed by ``(group, window)`` with ``mean`` and ``var`` (the variance of
        the mean) for the four cells ``("target"|"control", "before"|"after")``. With ``panel``:
        indexed by group with ``mean`` and ``var`` of the customers' changes (after - before).
    panel : bool

    Returns
    -------
    (effect, se)

    Examples
    --------
    >>> cells = pd.DataFrame(
    ...     {"mean": [10.0, 30.0, 12.0, 17.0], "var": [4.0, 4.0, 1.0, 1.0]},
    ...     index=pd.MultiIndex.from_tuples(
    ...         [("target", "before"), ("target", "after"), ("control", "before"),
    ...          ("control", "after")]),
    ... )
    >>> did_estimate(cells)  # (30 - 10) - (17 - 12) = 15, se = sqrt(4 + 4 + 1 + 1)
    (15.0, 3.1622776601683795)
    """
    if panel:
        effect = cells.loc["target", "mean"] - cells.loc["control", "mean"]
        var = cells.loc["target", "var"] + cells.loc["control", "var"]
    else:
        m, v = cells["mean"], cells["var"]
        effect = (m["target", "after"] - m["target", "before"]) - (
            m["control", "after"] - m["control", "before"]
        )
        var = v.sum()
    return float(effect), float(np.sqrt(var))


def trend_difference(
    time: Sequence[float], difference: Sequence[float], variance: Sequence[float]
) -> tuple[float, float, float]:
    """Weighted least-squares slope of ``difference`` on ``time`` (weights 1/variance), its SE, p.

    NaNs are dropped; fewer than 3 points give NaN. The slope's variance is
    ``1 / sum(w (t - t_w)^2)`` with ``t_w`` the weighted mean time (known variances).

    Examples
    --------
    >>> trend_difference([0, 1, 2], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0])[0]  # slope 1
    1.0
    """
    t, d, v = (np.asarray(x, dtype=float) for x in (time, difference, variance))
    ok = np.isfinite(t) & np.isfinite(d) & np.isfinite(v) & (v > 0)
    t, d, v = t[ok], d[ok], v[ok]
    if len(t) < 3:
        return float("nan"), float("nan"), float("nan")
    w = 1 / v
    tw = np.sum(w * t) / np.sum(w)
    dw = np.sum(w * d) / np.sum(w)
    sxx = np.sum(w * (t - tw) ** 2)
    slope = float(np.sum(w * (t - tw) * (d - dw)) / sxx)
    se = float(np.sqrt(1 / sxx))
    return slope, se, float(two_sided_p(slope / se))


def did(
    ws: Workspace,
    treated: ir.Table,
    start: Any,
    *,
    outcome: Outcome = "nps",
    window_days: int | None = None,
    products: Sequence[str] = (),
    bins: int = 4,
    confidence: float = 0.95,
) -> DiD:
    """Difference in differences of ``outcome`` between the ``treated`` customers and the others.

    Parameters
    ----------
    ws : Workspace
    treated : ibis Table
        The target's customers (a ``customer_id`` column, text): :meth:`Target.customers`.
    start : date-like
        When the initiative started (UTC).
    outcome : {'nps', 'spend'}
    window_days : int, optional
        Length of each window (default: the longest that fits in the data on both sides).
    products : sequence of str
        For spend: the products counted (default: every transaction).
    bins : int
        Parts of the ``before`` window for the parallel-trends check (at least 3 to test).
    confidence : float

    Returns
    -------
    DiD

    Examples
    --------
    >>> import rox
    >>> from rox.impact.initiative import Target
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> family = Target("segment", ("family",)).customers(ws)
    >>> result = did(ws, family, "2025-01-01")  # the planted family care plan
    >>> result.effect > 10, result.label
    (True, 'causal under assumptions')
    """
    if outcome not in ("nps", "spend"):
        raise MetricError(f"outcome={outcome!r}: expected 'nps' or 'spend'")
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if bins < 1:
        raise MetricError(f"bins={bins}: expected at least 1")
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    source = "responses" if outcome == "nps" else "transactions"
    window = _window(ws, source, t0, window_days)
    lo = t0 - window
    hi = t0 + window
    width = window.total_seconds() / bins
    flag = treated.select("customer_id").distinct().mutate(_treated=ibis.literal(True))
    if outcome == "nps":
        per_bin = _nps_bins(ws, flag, lo, hi, width)
    else:
        per_bin, panel, spend_cells = _spend_bins(ws, flag, lo, hi, width, bins, products)
    per_bin["group"] = np.where(per_bin["treated"], "target", "control")
    per_bin["window"] = np.where(per_bin["bin"] < bins, "before", "after")
    if outcome == "nps":
        cells = per_bin.groupby(["group", "window"])[["n", "promoters", "detractors"]].sum()
        cells = cells.reindex(
            pd.MultiIndex.from_product([["target", "control"], ["before", "after"]]),
            fill_value=0,
        )
        if (cells["n"] == 0).any():
            empty = [f"{g} {w}" for (g, w), n in cells["n"].items() if n == 0]
            raise MetricError(f"no NPS answers in {', '.join(empty)}: nothing to compare")
        _nps_moments(cells)
        effect, se = did_estimate(cells)
    else:
        cells = panel
        effect, se = did_estimate(panel, panel=True)
    z = z_value(confidence)
    # the pre-period trend difference, one point per part of the before window
    before = per_bin[per_bin["bin"] < bins]
    if outcome == "nps":
        b = before.groupby(["bin", "group"])[["n", "promoters", "detractors"]].sum()
        _nps_moments(b)
    else:
        b = before.set_index(["bin", "group"])[["mean", "var"]]
    # both groups have a column: NPS refused an empty before cell of either group above, and
    # spend has every part of both groups (_spend_bins needs panel customers in each); a part a
    # group lacks is a NaN, which trend_difference drops (fewer than 3 parts: not testable)
    wide = b[["mean", "var"]].unstack("group").reindex(range(bins))
    d = wide["mean", "target"] - wide["mean", "control"]
    v = wide["var", "target"] + wide["var", "control"]
    years = (np.arange(bins) + 0.5) * width / (365.25 * _DAY)
    trend, trend_se, trend_p = trend_difference(years, d.to_numpy(), v.to_numpy())
    frame = _cells_frame(cells, outcome, None if outcome == "nps" else spend_cells)
    return DiD(
        frame=frame,
        outcome=outcome,
        effect=effect,
        se=se,
        low=effect - z * se,
        high=effect + z * se,
        p_value=float(two_sided_p(effect / se)) if se > 0 else float("nan"),
        trend=trend,
        trend_se=trend_se,
        trend_p=trend_p,
        parallel=bool(np.isnan(trend_p) or trend_p >= 1 - confidence),
        before=(lo, t0),
        after=(t0, hi),
        confidence=confidence,
    )


def _window(ws: Workspace, source: str, t0: pd.Timestamp, days: int | None) -> pd.Timedelta:
    """The windows' length: ``days``, or the longest that fits in ``source`` on both sides."""
    if days is not None:
        if days < 1:
            raise MetricError(f"window_days={days}: expected a positive number")
        return pd.Timedelta(days=days)
    t = ws.table(source)
    got = t.aggregate(first=t.ts.min(), last=t.ts.max()).execute()
    first, last = (pd.Timestamp(got[c].iloc[0]) for c in ("first", "last"))
    if pd.isna(first):
        raise MetricError(f"no {source} to measure the initiative on")
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    if not first < t0 <= last:
        raise MetricError(
            f"the start {t0:%Y-%m-%d} is not inside the {source} ({first:%Y-%m-%d} to "
            f"{last:%Y-%m-%d}): nothing before or after it to compare"
        )
    span = min(t0 - first, last - t0 + pd.Timedelta(seconds=1))
    return pd.Timedelta(days=max(1, span.days))


def _bin(ts: ir.Value, lo: pd.Timestamp, width: float) -> ir.Value:
    """Index of the part of the windows ``ts`` falls in (0 at ``lo``; ``bins`` at the start)."""
    seconds = ts.epoch_seconds() - int(lo.timestamp())
    return (seconds / width).floor().cast("int64")


def _nps_bins(
    ws: Workspace, flag: ir.Table, lo: pd.Timestamp, hi: pd.Timestamp, width: float
) -> pd.DataFrame:
    """NPS answers, promoters and detractors per group (treated or not) and part of the windows."""
    r = ws.table("responses")
    r = r.filter(
        r.metric == "nps",
        r.customer_id.notnull(),
        r.ts >= lo.to_pydatetime(),
        r.ts < hi.to_pydatetime(),
    )
    s = scale_columns(ws, r)
    r = r.mutate(
        customer_id=r.customer_id.cast("string"),
        _promoter=r.score >= s["top_from"],
        _detractor=r.score <= s["bottom_to"],
        bin=_bin(r.ts, lo, width),
    )
    j = r.left_join(flag, r.customer_id == flag.customer_id)
    j = j.select(r, treated=j._treated.fill_null(False))
    out = j.group_by(["treated", "bin"]).aggregate(
        n=j.count(),
        promoters=j.count(where=j._promoter),
        detractors=j.count(where=j._detractor),
    )
    frame = out.execute()
    for c in ("n", "promoters", "detractors"):
        frame[c] = pd.to_numeric(frame[c]).fillna(0).astype("int64")
    frame["treated"] = frame["treated"].astype(bool)
    return frame


def _nps_moments(cells: pd.DataFrame) -> None:
    """Add NPS points (``mean``) and the variance of that mean (``var``) to per-cell counts."""
    n = cells["n"].astype(float).replace(0, np.nan)
    p, d = cells["promoters"] / n, cells["detractors"] / n
    cells["mean"] = 100 * (p - d)
    cells["var"] = 100**2 * nps_variance(p, d) / n


def _spend_bins(
    ws: Workspace,
    flag: ir.Table,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    width: float,
    bins: int,
    products: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Spend per panel customer by group and part, the changes by group, the four cells."""
    t = ws.table("transactions")
    if products:
        if "product" not in t.columns:
            raise MetricError("transactions have no product column to count products by")
        known = set(t.select("product").distinct().execute()["product"].dropna())
        unknown = sorted(set(products) - known)
        if unknown:
            raise MetricError(
                f"no transactions of product(s) {', '.join(unknown)}; the products are "
                f"{', '.join(sorted(map(str, known)))}"
            )
    t = t.mutate(customer_id=t.customer_id.cast("string"))
    first = t.group_by("customer_id").aggregate(_first=t.ts.min())
    panel = first.filter(first._first < lo.to_pydatetime())
    j = panel.left_join(flag, panel.customer_id == flag.customer_id)
    panel = j.select(panel.customer_id, treated=j._treated.fill_null(False))
    w = t.filter(t.ts >= lo.to_pydatetime(), t.ts < hi.to_pydatetime())
    if products:
        w = w.filter(w["product"].isin(list(products)))
    w = w.mutate(bin=_bin(w.ts, lo, width))
    per = w.group_by(["customer_id", "bin"]).aggregate(spend=w.amount.sum())
    pj = per.join(panel, per.customer_id == panel.customer_id)
    pj = pj.select(per, panel.treated)
    sizes = panel.group_by("treated").aggregate(customers=panel.count())
    by_bin = pj.group_by(["treated", "bin"]).aggregate(s1=pj.spend.sum(), s2=(pj.spend**2).sum())
    by_bin = by_bin.execute()
    # every part of both windows for each group with panel customers: a part in which none of
    # them bought (no row from the engine) is a spend of 0 per customer, with variance 0
    counts = sizes.execute()
    counts["treated"] = counts["treated"].astype(bool)
    by_bin["treated"] = by_bin["treated"].astype(bool)
    every = pd.MultiIndex.from_product(
        [counts["treated"].tolist(), range(2 * bins)], names=["treated", "bin"]
    )
    by_bin = (
        by_bin.set_index(["treated", "bin"])[["s1", "s2"]]
        .reindex(every, fill_value=0.0)
        .reset_index()
        .merge(counts, on="treated")
    )
    # each panel customer's change, after - before (0 for those without purchases)
    change = per.group_by("customer_id").aggregate(
        change=per.spend.sum(where=per.bin >= bins).fill_null(0)
        - per.spend.sum(where=per.bin < bins).fill_null(0)
    )
    cj = panel.left_join(change, panel.customer_id == change.customer_id)
    cj = cj.select(panel.treated, change=cj.change.fill_null(0.0))
    moments = cj.group_by("treated").aggregate(
        n=cj.count(), c1=cj.change.sum(), c2=(cj.change**2).sum()
    )
    m = moments.execute()
    m["group"] = np.where(m["treated"].astype(bool), "target", "control")
    m = m.set_index("group").reindex(["target", "control"])
    if m["n"].isna().any() or (m["n"] < 2).any():
        raise MetricError(
            "need at least 2 customers who bought before the windows in the target and in the "
            "control to compare spend"
        )
    n = m["n"].astype(float)
    mean = m["c1"] / n
    sd2 = (m["c2"] - n * mean**2) / (n - 1)
    changes = pd.DataFrame({"n": n, "mean": mean, "var": sd2 / n})
    frame = by_bin.copy()
    frame["treated"] = frame["treated"].astype(bool)
    k = frame["customers"].astype(float)
    frame["mean"] = frame["s1"] / k
    frame["var"] = ((frame["s2"] - k * frame["mean"] ** 2) / (k - 1)) / k
    frame["n"] = frame["customers"]
    # the four cells (for display): spend per panel customer in each window
    frame["_w"] = np.where(frame["bin"] < bins, "before", "after")
    frame["_g"] = np.where(frame["treated"], "target", "control")
    cells = (
        frame.groupby(["_g", "_w"])[["s1"]]
        .sum()
        .reindex(pd.MultiIndex.from_product([["target", "control"], ["before", "after"]]))
        .fillna(0.0)
    )
    cells["n"] = [n[g] for g, _ in cells.index]
    cells["mean"] = cells["s1"] / cells["n"]
    return frame, changes, cells


def _cells_frame(
    cells: pd.DataFrame, outcome: str, shown: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The four cells as a flat frame: group, window, n, mean, se (spend: and the changes)."""
    if outcome == "spend":
        assert shown is not None
        rows = [
            {
                "group": g,
                "window": w,
                "n": int(shown.loc[(g, w), "n"]),
                "mean": float(shown.loc[(g, w), "mean"]),
                "se": float("nan"),
            }
            for g in ("target", "control")
            for w in ("before", "after")
        ]
        rows.extend(
            {
                "group": g,
                "window": "after - before",
                "n": int(cells.loc[g, "n"]),
                "mean": float(cells.loc[g, "mean"]),
                "se": float(np.sqrt(cells.loc[g, "var"])),
            }
            for g in ("target", "control")
        )
        return pd.DataFrame(rows)
    rows = [
        {
            "group": g,
            "window": w,
            "n": int(cells.loc[(g, w), "n"]),
            "mean": float(cells.loc[(g, w), "mean"]),
            "se": float(np.sqrt(cells.loc[(g, w), "var"])),
        }
        for g in ("target", "control")
        for w in ("before", "after")
    ]
    return pd.DataFrame(rows)
