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
the number of customers.

Seed design (what an independent check must repeat): one ``numpy.random.default_rng(seed)``; for
each group in order, ``M = rng.poisson(n, size=(replicates, bins))`` over its bins in order of
increasing value, then, only if some ``var`` > 0, ``Z = rng.standard_normal(replicates)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["bin_statistics", "bootstrap_means", "value_bin"]


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
                mu=t.clv.mean(),
                var=t.clv.var(how="pop"),
                clv_sum=t.clv.sum(),
                **aggregates,
            )
            .execute()
            .rename(columns={"_group": "group", "_bin": "bin"})
        )
    for column in ("mu", "var", "clv_sum", *sums):
        stats[column] = pd.to_numeric(stats[column]).astype("float64").fillna(0.0)
    stats["n"] = stats["n"].astype("int64")
    if resolution is None:
        stats["var"] = np.nan
    return stats


def bootstrap_means(
    bins: pd.DataFrame,
    groups: Sequence[object],
    *,
    replicates: int,
    random_state: int | np.random.Generator | None = None,
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

    Returns
    -------
    dict
        Group -> array of ``replicates`` means (NaN where a replicate drew no customer).
    """
    rng = np.random.default_rng(random_state)
    out: dict[object, np.ndarray] = {}
    for group in groups:
        g = bins[bins["group"] == group].sort_values("bin")
        n = g["n"].to_numpy(dtype="float64")
        mu = g["mu"].to_numpy(dtype="float64")
        var = np.clip(g["var"].to_numpy(dtype="float64"), 0.0, None)
        m = rng.poisson(n, size=(replicates, len(n))).astype("float64")
        total = m @ mu
        if (var > 0).any():
            total += np.sqrt(m @ var) * rng.standard_normal(replicates)
        count = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[group] = np.where(count > 0, total / count, np.nan)
    return out
