"""A bootstrap of group means from sufficient statistics: cheap at a million customers.

The engine groups each group's customers into narrow value bins (:func:`value_bin`: bins whose
edges grow geometrically, ``resolution`` wide on the log scale, about 1% apart by default) and
returns each bin's count ``n``, mean ``mu`` and population variance ``var``. Customers whose values
differ by more than the bin width are in different bins, each with ``var`` 0.

Each replicate gives every customer a Poisson(1) weight (the Poisson bootstrap: Hanley &
MacGibbon 2006, "Creating non-parametric bootstrap samples using Poisson frequencies", Computer
Methods and Programs in Biomedicine 83; Chamandy et al. 2012, "Estimating uncertainty for massive
data streams", Google). The weights of a bin's ``n`` customers sum to ``M ~ Poisson(n)``, and,
given ``M``, the bin's weighted sum has mean ``M mu`` and variance ``M var``. A replicate's total
is ``sum(M mu) + sqrt(sum(M var)) Z`` with one standard normal ``Z`` (the within-bin parts are
independent, so their sum is drawn at once); its mean is that total over ``sum(M)``. This is the
exact Poisson bootstrap when every ``var`` is 0 (one value per bin), and otherwise exact in the
first two moments of each bin's contribution. The cost is ``replicates x bins`` per group, whatever
the number of customers; so a group with more than ``max_bins`` bins (32 by default) has them
pooled into coarser bins first (:func:`pool_bins`: bins a whole multiple of the resolution wide,
each with the count, mean and variance of its customers), which keeps the first two moments exact
and the draws at ``replicates x 32`` per group. Against the textbook bootstrap (resampling the
customers, 20,000 replicates) of 300 to 20,000 lognormal values, the 95% bounds from 32 pooled bins
were within 3% of the interval's half-width, as close as those from the unpooled bins, where the
normal interval mean +- 1.96 sd / sqrt(n) missed by 10-37% on the skewed samples
(``tests/impact/test_bootstrap.py`` checks one such case).

Seed design (what an independent check must repeat): one ``numpy.random.default_rng(seed)``; for
each group in order, ``M = rng.poisson(n, size=(replicates, bins))`` over its bins (pooled, when
there are more than ``max_bins``) in order of increasing value, then, only if some ``var`` > 0,
``Z = rng.standard_normal(replicates)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from numpy.typing import NDArray

__all__ = ["MAX_BINS", "bin_statistics", "bootstrap_means", "pool_bins", "value_bin"]

#: Most bins a group is resampled in (:func:`pool_bins`): the draws cost ``replicates x bins``.
MAX_BINS = 32


def value_bin(value: ir.NumericValue, resolution: float) -> ir.IntegerValue:
    """The bin of each value: ``floor(sign(v) ln(1 + |v|) / resolution)``, as an Ibis expression.

    Bins are ordered as the values are; a bin spans a factor of about ``exp(resolution)`` for
    values well above 1 (and an absolute width of about ``resolution`` near 0).
    """
    scaled = (value.abs() + 1).ln() * value.sign() / resolution
    return scaled.floor().cast("int64")


def bin_statistics(
    t: ir.Table, group: ir.Value, resolution: float | None, **sums: ir.Scalar
) -> pd.DataFrame:
    """Per group and value bin of ``t.clv``: ``n``, ``mu``, ``var``, ``clv_sum`` and ``sums``.

    One aggregate run by the engine; ``group`` is an expression over ``t`` (its label), ``sums``
    further aggregates over ``t`` (their nulls come back as 0). Columns: ``group``, ``bin``, ``n``,
    ``mu``, ``var``, ``clv_sum`` and the names of ``sums``. With ``resolution=None``, one row per
    group (``bin`` 0, ``var`` NaN): the point estimates alone, a plain ``GROUP BY`` of the group
    (grouping by the bins too costs the engine about half as much again).
    """
    t = t.mutate(_group=group)
    aggregates = {name: expr.name(name) for name, expr in sums.items()}
    if resolution is None:
        stats = (
            t.group_by("_group")
            .aggregate(n=t.count(), clv_sum=t.clv.sum(), **aggregates)
            .execute()
            .rename(columns={"_group": "group"})
        )
        stats["bin"] = 0
        stats["clv_sum"] = pd.to_numeric(stats["clv_sum"]).astype("float64").fillna(0.0)
        stats["mu"] = stats["clv_sum"] / stats["n"]
        stats["var"] = 0.0  # (not computed: NaN once the columns are floats)
    else:
        t = t.mutate(_bin=value_bin(t.clv, resolution))
        stats = (
            t.group_by(["_group", "_bin"])
            .aggregate(
                n=t.count(),
                var=t.clv.var(how="pop"),
                clv_sum=t.clv.sum(),
                **aggregates,
            )
            .execute()
            .rename(columns={"_group": "group", "_bin": "bin"})
        )
        # (the mean from the sum: an ``avg`` beside the sum costs the engine more than it gives)
        stats["mu"] = pd.to_numeric(stats["clv_sum"]).astype("float64") / stats["n"]
    for column in ("mu", "var", "clv_sum", *sums):
        stats[column] = pd.to_numeric(stats[column]).astype("float64").fillna(0.0)
    stats["n"] = stats["n"].astype("int64")
    if resolution is None:
        stats["var"] = np.nan
    return stats


def pool_bins(
    bins: NDArray[np.int64],
    n: NDArray[np.float64],
    mu: NDArray[np.float64],
    var: NDArray[np.float64],
    max_bins: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """One group's bins (sorted by ``bins``), pooled ``f`` at a time if there are over ``max_bins``.

    With more than ``max_bins`` bins, bins ``b`` are pooled by ``(b - min(b)) // f``, ``f =
    ceil(span / max_bins)`` where ``span = max(b) - min(b) + 1``: the bins of ``f`` times the
    resolution, from the lowest bin up, at most ``max_bins``. A pooled bin's count, mean and
    population variance are those of its customers (the variance of the pooled bin is the mean of
    the within-bin variances plus the variance of the bin means, weighted by counts). Returns
    ``n``, ``mu`` and ``var`` of the pooled bins, in order of increasing value.
    """
    if len(bins) <= max_bins:
        return n, mu, var
    span = int(bins[-1] - bins[0]) + 1
    f = -(-span // max_bins)
    key = (bins - bins[0]) // f
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    pooled_n = np.add.reduceat(n, starts)
    pooled_mu = np.add.reduceat(n * mu, starts) / pooled_n
    spread = n * (var + (mu - np.repeat(pooled_mu, np.diff(np.r_[starts, len(n)]))) ** 2)
    return pooled_n, pooled_mu, np.add.reduceat(spread, starts) / pooled_n


def bootstrap_means(
    bins: pd.DataFrame,
    groups: Sequence[object],
    *,
    replicates: int,
    random_state: int | np.random.Generator | None = None,
    max_bins: int = MAX_BINS,
) -> dict[object, np.ndarray]:
    """Bootstrap replicates of each group's mean from its bins' sufficient statistics.

    Parameters
    ----------
    bins : pandas.DataFrame
        Columns ``group``, ``bin`` (ordered as the values), ``n`` (customers), ``mu`` (mean)
        and ``var`` (population variance, 0 for one customer).
    groups : sequence
        The groups to draw for, in the order the draws are made.
    replicates : int
        Number of bootstrap replicates.
    random_state : int, Generator or None
        Seed of the draws.
    max_bins : int
        Most bins a group is resampled in (:func:`pool_bins`).

    Returns
    -------
    dict
        Group -> array of ``replicates`` means (NaN where a replicate drew no customer).
    """
    rng = np.random.default_rng(random_state)
    ordered = bins.sort_values(["group", "bin"], kind="stable")
    labels = ordered["group"].to_numpy()
    ids = ordered["bin"].to_numpy(dtype=np.int64)
    counts = ordered["n"].to_numpy(dtype="float64")
    means = ordered["mu"].to_numpy(dtype="float64")
    variances = np.clip(ordered["var"].to_numpy(dtype="float64"), 0.0, None)
    out: dict[object, np.ndarray] = {}
    for group in groups:
        rows = labels == group
        n, mu, var = pool_bins(ids[rows], counts[rows], means[rows], variances[rows], max_bins)
        m = rng.poisson(n, size=(replicates, len(n))).astype("float64")
        total = m @ mu
        if (var > 0).any():
            total += np.sqrt(m @ var) * rng.standard_normal(replicates)
        count = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[group] = np.where(count > 0, total / count, np.nan)
    return out
