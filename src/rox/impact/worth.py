"""What experience is worth: customer value by experience group, with intervals.

For each group of customers (by NPS group, CSAT or CES band, friction met, or any attribute of
the customers), from the experience profile (:func:`rox.impact.profile`), aggregated in the
engine:

``customers``
    Customers in the group.
``clv``, ``clv_low``, ``clv_high``
    Mean CLV per customer (in the brand's currency; see :attr:`Worth.value_basis`) with its
    percentile bootstrap interval over customers (:mod:`rox.impact.bootstrap`).
``clv_ratio``, ``clv_ratio_low``, ``clv_ratio_high``
    The group's mean CLV divided by the reference group's (detractors for NPS groups: for
    promoters, the promoter-to-detractor CLV multiple that Bain's Net Promoter System asks every
    firm to measure), with its interval from the same replicates.
``p_alive``
    Mean probability of being still active (among customers with a transaction).
``spend``
    Mean revenue to date per customer.
``retention``
    Share of the group's buying customers still active ``retention_days`` after their first
    purchase: the Kaplan-Meier estimate of :func:`rox.value.survival` (a customer is lost at the
    last purchase when none followed within a year before the end of the data).
``clv_total``
    The group's total CLV.

The figures are associations: they say how value differs between experience groups, not how much
of the difference experience causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rox.errors import MetricError
from rox.impact.bootstrap import MAX_BINS, bin_statistics, bootstrap_means
from rox.impact.profile import GROUPS, ExperienceProfile, profile
from rox.results import Result
from rox.value.retention import survival

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["REFERENCES", "Worth", "worth"]

#: The reference group of each experience grouping: the group the others are compared with.
REFERENCES: dict[str, str] = {
    "nps_group": "detractor",
    "csat_band": "not satisfied",
    "ces_band": "not easy",
    "friction": "met friction",
}
#: Label of customers whose ``by`` value is missing.
MISSING = "(none)"


@dataclass(frozen=True, eq=False)
class Worth(Result):
    """Customer value by experience group (see the module for the columns).

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per group, the ``by`` column first.
    by : str
        The grouping column.
    reference : str or None
        The group the ratios divide by.
    value_basis, value_note : str
        What ``clv`` is, and why it is not a fitted CLV ("" when it is).
    confidence : float
        Level of the intervals.
    replicates : int
        Bootstrap replicates.
    retention_days : int
        Days after the first purchase at which ``retention`` is read.
    """

    by: str = "nps_group"
    reference: str | None = None
    value_basis: str = ""
    value_note: str = ""
    confidence: float = 0.95
    replicates: int = 0
    retention_days: int = 365

    _plotter: ClassVar[str | None] = "rox.viz.impact:plot_worth"

    def multiple(self, group: str = "promoter") -> tuple[float, float, float]:
        """The ratio of ``group``'s mean CLV to the reference's, with its interval.

        Returns ``(ratio, low, high)``: for NPS groups and ``"promoter"``, the
        promoter-to-detractor CLV multiple.
        """
        rows = self.frame[self.frame[self.by] == group]
        if rows.empty:
            known = ", ".join(map(str, self.frame[self.by]))
            raise MetricError(f"no group {group!r}; the groups are: {known}")
        r = rows.iloc[0]
        return float(r["clv_ratio"]), float(r["clv_ratio_low"]), float(r["clv_ratio_high"])

    def __str__(self) -> str:
        lines = [f"Value by {self.by} ({self.value_basis})"]
        if self.value_note:
            lines.append(f"note: {self.value_note}")
        return "\n".join([*lines, self.frame.to_string(index=False)])


def worth(
    ws: Workspace | ExperienceProfile,
    by: str = "nps_group",
    *,
    reference: str | None = None,
    confidence: float = 0.95,
    replicates: int = 1000,
    resolution: float = 0.05,
    max_bins: int = MAX_BINS,
    retention_days: int = 365,
    random_state: int | None = 0,
    **options: Any,
) -> Worth:
    """Customer value by experience group, with bootstrap intervals and the ratio to a reference.

    Parameters
    ----------
    ws : Workspace or ExperienceProfile
        A workspace (profiled with ``options``) or a profile already built.
    by : str
        ``nps_group``, ``csat_band``, ``ces_band``, ``friction``, or a column of ``customers``
        (e.g. ``segment``).
    reference : str, optional
        The group the ratios divide by (default: detractors, not satisfied, not easy, met
        friction; none for a customers column).
    confidence : float
        Level of the intervals, in (0, 1).
    replicates : int
        Bootstrap replicates; 0 for the point estimates alone (no intervals: one plain
        ``GROUP BY`` in the engine, without the bootstrap's value bins).
    resolution : float
        Width of the bootstrap's value bins on the log scale (0.05: customers whose values
        differ by more than about 5% are resampled apart; see :mod:`rox.impact.bootstrap`).
    max_bins : int
        Most bins a group is resampled in: a group with more bins has them pooled into bins a
        whole multiple of ``resolution`` wide (:func:`rox.impact.bootstrap.pool_bins`; the
        draws cost ``replicates x bins``, and 32 bins keep the interval within Monte Carlo error
        of the fine bins' on skewed values).
    retention_days : int
        Days after the first purchase at which retention is read from the Kaplan-Meier curve.
    random_state : int or None
        Seed of the bootstrap.
    **options
        :func:`rox.impact.profile`'s options (``value=``, ``journey=``, ``goal=``, ...).

    Returns
    -------
    Worth

    Raises
    ------
    MetricError
        If ``by`` is not a grouping the profile has, or ``reference`` is not one of its groups.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> result = rox.impact.worth(ws, "nps_group", journey="purchase", goal="purchase")
    >>> result.frame["nps_group"].tolist()
    ['promoter', 'passive', 'detractor', 'no response']
    """
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if replicates < 0 or not resolution > 0:
        raise MetricError(
            f"replicates={replicates}, resolution={resolution}: expected replicates >= 0 "
            "and resolution > 0"
        )
    if max_bins < 1:
        raise MetricError(f"max_bins={max_bins}: expected at least one bin per group")
    p = ws if isinstance(ws, ExperienceProfile) else profile(ws, **options)
    if isinstance(ws, ExperienceProfile) and options:
        raise MetricError("pass the profile's options to profile(), not to worth(), with a profile")
    allowed = [*GROUPS, *(a for a in p.attributes if a != "first_seen")]
    if by not in allowed:
        raise MetricError(
            f"cannot group by {by!r}: expected one of {', '.join(allowed)} "
            "(the experience groups, or a column of customers)"
        )
    t = p.table
    # One aggregate in the engine: per group and narrow value bin, the sufficient statistics of
    # the bootstrap (count, mean, variance) and the sums the point estimates need.
    stats = bin_statistics(
        t,
        t[by].cast("string").fill_null(MISSING),
        resolution if replicates else None,
        alive_n=t.p_alive.count(),
        alive_sum=t.p_alive.sum(),
        spend_sum=t.spend.sum(),
    )
    sums = stats.groupby("group")[["n", "clv_sum", "alive_n", "alive_sum", "spend_sum"]].sum()
    order = _order(by, sums.index.tolist())
    sums = sums.loc[order]
    with np.errstate(invalid="ignore", divide="ignore"):
        points = pd.DataFrame(
            {
                "_group": order,
                "customers": sums["n"].to_numpy(),
                "clv": (sums["clv_sum"] / sums["n"]).to_numpy(),
                "p_alive": (sums["alive_sum"] / sums["alive_n"].replace(0, np.nan)).to_numpy(),
                "spend": (sums["spend_sum"] / sums["n"]).to_numpy(),
                "clv_total": sums["clv_sum"].to_numpy(),
            }
        )
    if reference is None:
        default = REFERENCES.get(by)  # (e.g. no detractors in the data: no ratio)
        reference = default if default in order else None
    elif reference not in order:
        raise MetricError(
            f"reference group {reference!r} is not among the {by} groups: {', '.join(order)}"
        )
    draws = (
        bootstrap_means(
            stats, order, replicates=replicates, random_state=random_state, max_bins=max_bins
        )
        if replicates
        else {}
    )
    alpha = (1 - confidence) / 2
    q = [100 * alpha, 100 * (1 - alpha)]
    points["clv_low"] = points["clv_high"] = np.nan
    if draws:
        low_high = np.array([np.nanpercentile(draws[g], q) for g in order])
        points["clv_low"], points["clv_high"] = low_high[:, 0], low_high[:, 1]
    points["clv_ratio"] = np.nan
    points["clv_ratio_low"] = np.nan
    points["clv_ratio_high"] = np.nan
    if reference is not None:
        ref = float(points.loc[points["_group"] == reference, "clv"].iloc[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            points["clv_ratio"] = points["clv"] / ref if ref else np.nan
            for i, g in enumerate(order if draws else ()):
                ratios = draws[g] / draws[reference]
                ratios = ratios[np.isfinite(ratios)]
                if len(ratios):
                    lo, hi = np.percentile(ratios, q)
                    points.loc[i, ["clv_ratio_low", "clv_ratio_high"]] = lo, hi
    points["retention"] = _retention(p, by, order, retention_days)
    points["customers"] = points["customers"].astype("int64")
    points = points.rename(columns={"_group": by})
    cols = [
        by,
        "customers",
        "clv",
        "clv_low",
        "clv_high",
        "clv_ratio",
        "clv_ratio_low",
        "clv_ratio_high",
        "p_alive",
        "spend",
        "retention",
        "clv_total",
    ]
    return Worth(
        frame=points[cols],
        by=by,
        reference=reference,
        value_basis=p.value_basis,
        value_note=p.value_note,
        confidence=confidence,
        replicates=replicates,
        retention_days=retention_days,
    )


def _order(by: str, groups: list[str]) -> list[str]:
    """Known experience groups in their natural order; other groups sorted, missing last."""
    known = GROUPS.get(by, ())
    first = [g for g in known if g in groups]
    rest = sorted(g for g in groups if g not in known and g != MISSING)
    return first + rest + ([MISSING] if MISSING in groups else [])


def _retention(p: ExperienceProfile, by: str, order: list[str], days: int) -> np.ndarray:
    """Kaplan-Meier share still active ``days`` after the first purchase, per group."""
    t = p.table
    groups = t.select("customer_id", _group=t[by].cast("string").fill_null(MISSING))
    ws = p.workspace
    if ws is None or not ws.count("transactions"):
        return np.full(len(order), np.nan)
    curves = survival(ws, by=groups).frame
    out = np.full(len(order), np.nan)
    for i, g in enumerate(order):
        c = curves[(curves["group"] == g) & (curves["days"] <= days)]
        if len(c):
            out[i] = float(c.sort_values("days")["survival"].iloc[-1])
    return out
